//! Isolation of read-write transactions under strict two-phase locking: scripted anomalies
//! (each must be prevented) and a bank-transfer stress test.
//!
//! A step that must wait is shown waiting either by a short lock timeout (it gives up with
//! `LockTimeout`) or by the lock table's wait observer (it is queued), never by sleeping.

mod common;

use std::time::Duration;

use common::{bank, two_pages, waits};
use kv_file::BlockId;
use kv_tx::{Error, PageRead, TxManager, TxOptions};

fn db(lock_timeout: Option<Duration>) -> (TxManager, BlockId, BlockId) {
    let options = TxOptions {
        lock_timeout,
        ..TxOptions::default()
    };
    two_pages(options, 0)
}

const SHORT: Option<Duration> = Some(Duration::from_millis(30));

#[test]
fn g0_dirty_write_waits() {
    let (db, x, _) = db(SHORT);
    let mut t1 = db.begin().unwrap();
    t1.set_u64(&x, 8, 1).unwrap();
    let mut t2 = db.begin().unwrap();
    assert!(
        matches!(t2.set_u64(&x, 8, 2), Err(Error::LockTimeout { .. })),
        "t2 must wait for t1"
    );
    t1.commit().unwrap();
    t2.set_u64(&x, 8, 2).unwrap();
    t2.commit().unwrap();
    assert_eq!(db.begin().unwrap().get_u64(&x, 8).unwrap(), 2);
}

#[test]
fn g1a_dirty_read_waits_and_an_aborted_write_is_never_seen() {
    let (db, x, _) = db(SHORT);
    let mut t1 = db.begin().unwrap();
    t1.set_u64(&x, 8, 99).unwrap();
    let mut t2 = db.begin().unwrap();
    assert!(
        matches!(t2.get_u64(&x, 8), Err(Error::LockTimeout { .. })),
        "no dirty read"
    );
    t1.rollback().unwrap();
    assert_eq!(t2.get_u64(&x, 8).unwrap(), 0);
}

#[test]
fn g1b_an_intermediate_value_is_never_read() {
    let (db, x, _) = db(SHORT);
    let mut t1 = db.begin().unwrap();
    t1.set_u64(&x, 8, 1).unwrap(); // intermediate
    t1.set_u64(&x, 8, 2).unwrap(); // final
    let mut t2 = db.begin().unwrap();
    assert!(matches!(t2.get_u64(&x, 8), Err(Error::LockTimeout { .. })));
    t1.commit().unwrap();
    assert_eq!(t2.get_u64(&x, 8).unwrap(), 2);
}

/// G1c: t1 writes x, t2 writes y, then each reads what the other wrote. Each read waits for
/// the other's exclusive lock: a cycle, so one is refused at once and nothing circular is
/// ever committed.
#[test]
fn g1c_circular_information_flow_is_a_deadlock() {
    let (db, x, y) = db(None);
    let queued = waits(&db);
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    let t1_id = t1.id();
    t1.set_u64(&x, 8, 1).unwrap();
    t2.set_u64(&y, 8, 2).unwrap();
    std::thread::scope(|s| {
        let y1 = y.clone();
        let reader = s.spawn(move || {
            let seen = t1.get_u64(&y1, 8)?; // waits for t2
            t1.commit().map(|()| seen)
        });
        while queued.recv().unwrap() != t1_id {}
        assert!(matches!(t2.get_u64(&x, 8), Err(Error::Deadlock { .. })));
        drop(t2); // rolled back: y is 0 again
        assert_eq!(
            reader.join().unwrap().unwrap(),
            0,
            "t1 never saw t2's write"
        );
    });
}

/// G-single (read skew): t1 reads x, then y; t2 wants to change both in between. t2 cannot
/// write x while t1 holds its shared lock, so t1 never sees x and y from different states.
#[test]
fn g_single_read_skew_is_prevented() {
    let (db, x, y) = db(SHORT);
    let mut setup = db.begin().unwrap();
    setup.set_u64(&x, 8, 50).unwrap();
    setup.set_u64(&y, 8, 50).unwrap();
    setup.commit().unwrap();
    let mut t1 = db.begin().unwrap();
    let x_seen = t1.get_u64(&x, 8).unwrap();
    let mut t2 = db.begin().unwrap();
    assert!(matches!(
        t2.set_u64(&x, 8, 10),
        Err(Error::LockTimeout { .. })
    ));
    drop(t2);
    let y_seen = t1.get_u64(&y, 8).unwrap();
    assert_eq!(x_seen + y_seen, 100);
    t1.commit().unwrap();
}

/// t1 and t2 both read x, then both write it: the second writer closes a waits-for cycle and
/// is told at once; the first writes, and the victim retries on the new value.
#[test]
fn p4_lost_update_becomes_a_deadlock_and_a_retry() {
    let (db, x, _) = db(None);
    let queued = waits(&db);
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    let t1_id = t1.id();
    let a = t1.get_u64(&x, 8).unwrap();
    let b = t2.get_u64(&x, 8).unwrap();
    std::thread::scope(|s| {
        let x1 = x.clone();
        let writer = s.spawn(move || {
            t1.set_u64(&x1, 8, a + 10)?; // waits for t2's shared lock
            t1.commit()
        });
        while queued.recv().unwrap() != t1_id {}
        let err = t2.set_u64(&x, 8, b + 20).unwrap_err(); // closes the cycle
        assert!(matches!(err, Error::Deadlock { .. }), "{err}");
        t2.rollback().unwrap(); // frees t1
        writer.join().unwrap().unwrap();
    });
    let mut retry = db.begin().unwrap();
    let now = retry.get_u64(&x, 8).unwrap();
    retry.set_u64(&x, 8, now + 20).unwrap();
    retry.commit().unwrap();
    assert_eq!(
        db.begin().unwrap().get_u64(&x, 8).unwrap(),
        30,
        "both increments counted"
    );
    assert_eq!(db.locks().stats().deadlocks, 1);
}

/// Write skew: each reads x and y, then each writes a different one. Under 2PL the reads'
/// shared locks make the writes wait for each other: a deadlock, never both committed.
#[test]
fn g2_item_write_skew_is_prevented() {
    let (db, x, y) = db(None);
    let queued = waits(&db);
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    let t1_id = t1.id();
    for t in [&mut t1, &mut t2] {
        t.get_u64(&x, 8).unwrap();
        t.get_u64(&y, 8).unwrap();
    }
    std::thread::scope(|s| {
        let x1 = x.clone();
        let first = s.spawn(move || {
            t1.set_u64(&x1, 8, 1)?;
            t1.commit()
        });
        while queued.recv().unwrap() != t1_id {}
        assert!(matches!(t2.set_u64(&y, 8, 1), Err(Error::Deadlock { .. })));
        drop(t2); // rolls back
        first.join().unwrap().unwrap();
    });
    let mut check = db.begin().unwrap();
    assert_eq!(
        (check.get_u64(&x, 8).unwrap(), check.get_u64(&y, 8).unwrap()),
        (1, 0)
    );
}

/// G2 over a predicate (phantoms): each transaction reads every record of file `t` — the
/// predicate "all records" — finds too few, and inserts one by appending a block. Neither
/// reads a block the other appends, so item locks alone would let both commit, each blind to
/// the other's insert. Reading the file's size locks its end shared and appending locks it
/// exclusive: the appends wait for each other's reads, a cycle, and one is refused.
#[test]
fn g2_predicate_phantom_insert_is_prevented() {
    let (db, _, _) = db(None);
    let queued = waits(&db);
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    let t1_id = t1.id();
    for t in [&mut t1, &mut t2] {
        let n = t.size("t").unwrap(); // t1: read every record; t2: the same
        let records: u64 = (0..n)
            .map(|i| t.get_u64(&BlockId::new("t", i), 8).unwrap())
            .sum();
        assert_eq!((n, records), (2, 0));
    }
    std::thread::scope(|s| {
        let first = s.spawn(move || {
            let b = t1.append("t")?; // waits for t2's read of the file's end
            t1.set_u64(&b, 8, 1)?;
            t1.commit()
        });
        while queued.recv().unwrap() != t1_id {}
        assert!(matches!(t2.append("t"), Err(Error::Deadlock { .. })));
        drop(t2);
        first.join().unwrap().unwrap();
    });
    let mut check = db.begin().unwrap();
    assert_eq!(check.size("t").unwrap(), 3, "one insert, not two");
}

#[test]
fn bank_transfers_keep_the_total_under_contention() {
    const ACCOUNTS: usize = 8;
    const START: u64 = 1_000;
    const TRANSFERS: usize = 120;
    const AUDITS: usize = 40;
    let (db, accounts) = bank(ACCOUNTS, START);
    let total = START * ACCOUNTS as u64;

    let transfer = |seed: usize| {
        let mut retries = 0;
        for i in 0..TRANSFERS {
            let from = &accounts[(seed * 7 + i * 3) % ACCOUNTS];
            let to = &accounts[(seed * 5 + i * 11 + 1) % ACCOUNTS];
            if from == to {
                continue;
            }
            loop {
                let mut tx = db.begin().unwrap();
                let moved = (|| {
                    let a = tx.get_u64(&from.0, from.1)?;
                    let b = tx.get_u64(&to.0, to.1)?;
                    let amount = (a / 10).max(1).min(a);
                    tx.set_u64(&from.0, from.1, a - amount)?;
                    tx.set_u64(&to.0, to.1, b + amount)
                })();
                match moved {
                    Ok(()) => break tx.commit().unwrap(),
                    Err(Error::Deadlock { .. }) => retries += 1, // dropped: rolled back
                    Err(e) => panic!("transfer: {e}\n{}", db.locks().describe()),
                }
            }
        }
        retries
    };
    let audit = || {
        let mut retries = 0;
        for _ in 0..AUDITS {
            loop {
                let mut tx = db.begin().unwrap();
                let sum: Result<u64, Error> =
                    accounts.iter().map(|(b, off)| tx.get_u64(b, *off)).sum();
                match sum {
                    Ok(sum) => {
                        assert_eq!(sum, total, "an audit saw money appear or vanish");
                        break tx.commit().unwrap();
                    }
                    Err(Error::Deadlock { .. }) => retries += 1,
                    Err(e) => panic!("audit: {e}\n{}", db.locks().describe()),
                }
            }
        }
        retries
    };
    let retries: usize = std::thread::scope(|s| {
        let mut handles: Vec<_> = (0..4).map(|t| s.spawn(move || transfer(t))).collect();
        handles.extend((0..2).map(|_| s.spawn(audit)));
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let mut tx = db.begin().unwrap();
    let sum: u64 = accounts
        .iter()
        .map(|(b, off)| tx.get_u64(b, *off).unwrap())
        .sum();
    assert_eq!(sum, total);
    let stats = db.locks().stats();
    println!("bank: {retries} deadlock retries, lock stats {stats:?}");
    assert_eq!(stats.timeouts, 0, "nothing hung");
}
