//! Read-only snapshot transactions: they see exactly what committed before they began, take
//! no locks, and never wait for writers.
//!
//! Every scripted test runs with a short lock timeout: a read that had to wait for a lock
//! would fail with `LockTimeout`, so a read that returns a value did not wait.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::time::Duration;

mod common;

use common::{bank, two_pages};
use kv_file::BlockId;
use kv_tx::{Error, PageRead, SnapshotStats, TxManager, TxOptions};

/// Two pages `x` and `y` holding 50 each.
fn db_with(snapshot_memory: usize) -> (TxManager, BlockId, BlockId) {
    let options = TxOptions {
        lock_timeout: Some(Duration::from_millis(30)),
        snapshot_memory,
        ..TxOptions::default()
    };
    two_pages(options, 50)
}

fn db() -> (TxManager, BlockId, BlockId) {
    db_with(64 << 20)
}

#[test]
fn g1a_an_uncommitted_write_is_never_seen_and_never_waited_for() {
    let (db, x, _) = db();
    let mut w = db.begin().unwrap(); //          w: begin
    w.set_u64(&x, 8, 99).unwrap(); //            w: write x = 99 (holds x exclusive)
    let mut r = db.begin_read_only().unwrap(); // r: begin read-only
    assert_eq!(r.get_u64(&x, 8).unwrap(), 50); // r: read x → 50, at once
    w.rollback().unwrap(); //                    w: rollback
    assert_eq!(r.get_u64(&x, 8).unwrap(), 50); // r: read x → 50
    let mut later = db.begin_read_only().unwrap();
    assert_eq!(later.get_u64(&x, 8).unwrap(), 50);
}

#[test]
fn g1b_an_intermediate_value_is_never_seen() {
    let (db, x, _) = db();
    let mut w = db.begin().unwrap();
    w.set_u64(&x, 8, 1).unwrap(); //             w: write x = 1 (intermediate)
    let mut r1 = db.begin_read_only().unwrap();
    w.set_u64(&x, 8, 2).unwrap(); //             w: write x = 2 (final)
    assert_eq!(r1.get_u64(&x, 8).unwrap(), 50);
    w.commit().unwrap(); //                      w: commit
    let mut r2 = db.begin_read_only().unwrap();
    assert_eq!(r1.get_u64(&x, 8).unwrap(), 50, "r1 began before the commit");
    assert_eq!(r2.get_u64(&x, 8).unwrap(), 2, "r2 began after it");
}

/// Read skew (G-single), and "never half a transaction": w moves 30 from x to y between r's
/// two reads; r's sum is still 100, as is that of a reader that began after the commit.
#[test]
fn g_single_a_snapshot_never_sees_half_a_transaction() {
    let (db, x, y) = db();
    let mut r = db.begin_read_only().unwrap();
    let x_seen = r.get_u64(&x, 8).unwrap(); //   r: read x → 50
    let mut w = db.begin().unwrap();
    w.set_u64(&x, 8, 20).unwrap(); //            w: x = 20 (no wait: r holds no lock)
    w.set_u64(&y, 8, 80).unwrap(); //            w: y = 80
    let mut mid = db.begin_read_only().unwrap();
    w.commit().unwrap(); //                      w: commit
    let y_seen = r.get_u64(&y, 8).unwrap(); //   r: read y → 50, not 80
    assert_eq!(x_seen + y_seen, 100);
    assert_eq!(
        mid.get_u64(&x, 8).unwrap() + mid.get_u64(&y, 8).unwrap(),
        100
    );
    let mut after = db.begin_read_only().unwrap();
    let sum = after.get_u64(&x, 8).unwrap() + after.get_u64(&y, 8).unwrap();
    assert_eq!((after.get_u64(&x, 8).unwrap(), sum), (20, 100));
}

/// G1c, lost update, write skew: writers are kept apart by locks; a snapshot taken at any
/// moment sees the state after some prefix of the commits, in commit order — what a serial
/// run would show at that point.
#[test]
fn snapshots_see_prefixes_of_the_commit_order() {
    let (db, x, y) = db();
    let mut seen = vec![];
    let mut snap = |db: &TxManager| {
        let mut r = db.begin_read_only().unwrap();
        let state = (r.get_u64(&x, 8).unwrap(), r.get_u64(&y, 8).unwrap());
        seen.push((r.snapshot(), state));
    };
    snap(&db);
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    t1.set_u64(&x, 8, 1).unwrap(); //            t1: write x
    t2.set_u64(&y, 8, 2).unwrap(); //            t2: write y
    snap(&db);
    t2.commit().unwrap(); //                     t2 commits first
    snap(&db);
    t1.commit().unwrap();
    snap(&db);
    let states: Vec<_> = seen.iter().map(|(_, s)| *s).collect();
    assert_eq!(states, [(50, 50), (50, 50), (50, 2), (1, 2)]);
    let csns: Vec<_> = seen.iter().map(|(c, _)| *c).collect();
    assert_eq!(csns, [1, 1, 2, 3]);
}

/// The read-only anomaly of snapshot isolation (Fekete, O'Neil & O'Neil 2004) needs a
/// writer that read a stale snapshot; here writers lock, so t2 (deposit to y) waits for t1
/// (which read x and y to decide a withdrawal from x), and every snapshot agrees with the
/// serial order t1, t2.
#[test]
fn the_read_only_anomaly_of_snapshot_isolation_cannot_happen() {
    let (db, x, y) = db();
    let mut t1 = db.begin().unwrap();
    let balance = t1.get_u64(&x, 8).unwrap() + t1.get_u64(&y, 8).unwrap();
    let mut t2 = db.begin().unwrap();
    assert!(
        matches!(t2.set_u64(&y, 8, 70), Err(Error::LockTimeout { .. })),
        "t2 waits for t1's read of y"
    );
    drop(t2);
    let mut r = db.begin_read_only().unwrap();
    t1.set_u64(&x, 8, balance - 60).unwrap(); // no overdraft fee: 100 covered it
    t1.commit().unwrap();
    let mut t2 = db.begin().unwrap();
    t2.set_u64(&y, 8, 70).unwrap();
    t2.commit().unwrap();
    assert_eq!(
        (r.get_u64(&x, 8).unwrap(), r.get_u64(&y, 8).unwrap()),
        (50, 50)
    );
    let mut r = db.begin_read_only().unwrap();
    assert_eq!(
        (r.get_u64(&x, 8).unwrap(), r.get_u64(&y, 8).unwrap()),
        (40, 70)
    );
}

#[test]
fn blocks_appended_after_the_snapshot_read_as_fresh() {
    let (db, _, _) = db();
    let mut r = db.begin_read_only().unwrap();
    let mut w = db.begin().unwrap();
    let z = w.append("t").unwrap();
    w.set_u64(&z, 8, 7).unwrap();
    w.commit().unwrap();
    assert_eq!(r.size("t").unwrap(), 3);
    assert_eq!(r.get_u64(&z, 8).unwrap(), 0);
    assert_eq!(db.begin_read_only().unwrap().get_u64(&z, 8).unwrap(), 7);
}

#[test]
fn versions_are_kept_only_while_a_snapshot_needs_them() {
    let (db, x, y) = db();
    let mut w = db.begin().unwrap();
    w.set_u64(&x, 8, 1).unwrap();
    w.commit().unwrap();
    let idle = db.snapshot_stats();
    assert_eq!(
        (idle.versions, idle.version_bytes, idle.pending_bytes),
        (0, 0, 0)
    );

    let r = db.begin_read_only().unwrap();
    let mut w = db.begin().unwrap();
    w.set_u64(&x, 8, 2).unwrap();
    w.set_u64(&x, 16, 2).unwrap(); // a second change of a page keeps nothing more
    w.set_u64(&y, 8, 2).unwrap();
    let page = db.file_manager().block_size() - kv_file::TRAILER_SIZE;
    assert_eq!(db.snapshot_stats().pending_bytes, 2 * page);
    w.commit().unwrap();
    let held = db.snapshot_stats();
    assert_eq!((held.active, held.versions), (1, 2));
    assert_eq!((held.version_bytes, held.pending_bytes), (2 * page, 0));
    drop(r);
    assert_eq!(
        db.snapshot_stats(),
        SnapshotStats {
            last_commit: held.last_commit,
            ..SnapshotStats::default()
        }
    );
}

#[test]
fn past_the_memory_cap_the_oldest_snapshot_is_too_old() {
    let page = 512 - kv_file::TRAILER_SIZE;
    let (db, x, y) = db_with(page); // room for one page image
    let mut old = db.begin_read_only().unwrap();
    let mut w = db.begin().unwrap();
    w.set_u64(&x, 8, 1).unwrap();
    w.commit().unwrap(); // one image kept for `old`: at the cap
    assert_eq!(old.get_u64(&x, 8).unwrap(), 50);
    let mut young = db.begin_read_only().unwrap();
    let mut w = db.begin().unwrap();
    w.set_u64(&y, 8, 1).unwrap();
    w.commit().unwrap(); // a second image: `old` must go
    let err = old.get_u64(&x, 8).unwrap_err();
    assert!(matches!(err, Error::SnapshotTooOld { .. }), "{err}");
    assert!(err.to_string().contains("too old"), "{err}");
    assert_eq!(young.get_u64(&y, 8).unwrap(), 50, "the younger one lives");
    let stats = db.snapshot_stats();
    assert_eq!(
        (stats.too_old, stats.active, stats.version_bytes),
        (1, 2, page)
    );
    drop(old);
    drop(young);
    assert_eq!(db.snapshot_stats().version_bytes, 0);
}

#[test]
fn snapshot_reads_check_their_bounds_and_the_log_is_not_theirs() {
    let (db, x, _) = db();
    let mut r = db.begin_read_only().unwrap();
    for offset in [0, 7, 512] {
        assert!(matches!(
            r.get_u64(&x, offset),
            Err(Error::BadOffset { .. })
        ));
    }
    let wal = BlockId::new(kv_tx::LOG_NAME, 0);
    assert!(matches!(
        r.get_u64(&wal, 8),
        Err(Error::ReservedName { .. })
    ));
}

/// Bank transfers on four threads — some rolled back half way — with snapshot auditors and
/// locking auditors. Every audit sees the total; no snapshot audit ever waits (each runs
/// while transfers hold locks) or sees a value a rolled-back transfer wrote.
#[test]
fn snapshot_audits_always_see_the_total_while_writers_commit_and_roll_back() {
    const ACCOUNTS: usize = 8;
    const START: u64 = 1_000;
    const TRANSFERS: usize = 150;
    let (db, accounts) = bank(ACCOUNTS, START);
    let total = START * ACCOUNTS as u64;
    let done = AtomicBool::new(false);
    let snapshot_audits = AtomicUsize::new(0);
    let start = Barrier::new(6);
    let sum_of = |tx: &mut dyn PageRead| -> Result<u64, Error> {
        accounts.iter().map(|(b, off)| tx.get_u64(b, *off)).sum()
    };
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|seed: usize| {
                let (db, accounts, start) = (&db, &accounts, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..TRANSFERS {
                        let from = &accounts[(seed * 7 + i * 3) % ACCOUNTS];
                        let to = &accounts[(seed * 5 + i * 11 + 1) % ACCOUNTS];
                        if from == to {
                            continue;
                        }
                        let mut tx = db.begin().unwrap();
                        let moved = (|| {
                            tx.lock(&from.0, kv_tx::LockMode::Exclusive)?;
                            tx.lock(&to.0, kv_tx::LockMode::Exclusive)?;
                            let a = tx.get_u64(&from.0, from.1)?;
                            tx.set_u64(&from.0, from.1, a - 1)?;
                            if i % 5 == 0 {
                                // Half a transfer, a poison value, then a rollback.
                                tx.set_u64(&to.0, to.1, u64::MAX / 2)?;
                                return Ok(false);
                            }
                            let b = tx.get_u64(&to.0, to.1)?;
                            tx.set_u64(&to.0, to.1, b + 1)?;
                            Ok::<_, Error>(true)
                        })();
                        match moved {
                            Ok(true) => tx.commit().unwrap(),
                            Ok(false) => tx.rollback().unwrap(),
                            Err(Error::Deadlock { .. }) => drop(tx),
                            Err(e) => panic!("transfer: {e}\n{}", db.locks().describe()),
                        }
                    }
                })
            })
            .collect();
        // A snapshot auditor: runs until the writers finish, never waits, never retries.
        s.spawn(|| {
            start.wait();
            while !done.load(SeqCst) {
                let mut r = db.begin_read_only().unwrap();
                assert_eq!(sum_of(&mut r).unwrap(), total, "snapshot {}", r.snapshot());
                snapshot_audits.fetch_add(1, SeqCst);
            }
        });
        // A locking auditor, retrying when it is a deadlock victim.
        s.spawn(|| {
            start.wait();
            for _ in 0..30 {
                loop {
                    let mut tx = db.begin().unwrap();
                    match sum_of(&mut tx) {
                        Ok(sum) => break assert_eq!(sum, total),
                        Err(Error::Deadlock { .. }) => continue,
                        Err(e) => panic!("audit: {e}"),
                    }
                }
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, SeqCst);
    });
    assert!(snapshot_audits.load(SeqCst) > 0);
    let mut r = db.begin_read_only().unwrap();
    assert_eq!(sum_of(&mut r).unwrap(), total);
    drop(r);
    let stats = db.snapshot_stats();
    assert_eq!(
        (stats.active, stats.version_bytes, stats.pending_bytes),
        (0, 0, 0)
    );
    assert_eq!(db.locks().stats().timeouts, 0, "nothing hung");
}

/// A snapshot auditor needs no lock even on pages a writer holds exclusively right now.
#[test]
fn a_snapshot_reads_pages_a_writer_holds_exclusively() {
    let (db, x, y) = db();
    let mut w = db.begin().unwrap();
    w.lock(&x, kv_tx::LockMode::Exclusive).unwrap();
    w.set_u64(&y, 8, 0).unwrap();
    let mut r = db.begin_read_only().unwrap();
    assert_eq!(r.get_u64(&x, 8).unwrap() + r.get_u64(&y, 8).unwrap(), 100);
    assert_eq!(db.locks().stats().waits, 0);
    assert_eq!(
        db.locks().held(w.id(), &x),
        Some(kv_tx::LockMode::Exclusive)
    );
}
