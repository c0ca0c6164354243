//! Bugs a reviewer found in the first version of the transaction layer, each pinned by a test.

use std::time::Duration;

use kv_file::{BlockId, Crash, FaultOp, MemStorage};
use kv_tx::{Durability, Error, PageRead, TxManager, TxOptions};

fn options() -> TxOptions {
    let mut o = TxOptions::default();
    o.file = o.file.block_size(512);
    o.buffer.frames = 2;
    o.buffer.pin_timeout = Duration::from_millis(20);
    o
}

#[test]
fn a_rollback_that_cannot_finish_stops_the_database_until_recovery() {
    let storage = MemStorage::new();
    let blocks: Vec<BlockId> = {
        let db = TxManager::open_with(storage.clone(), options()).unwrap();
        let mut tx = db.begin().unwrap();
        let blocks: Vec<BlockId> = (0..3).map(|_| tx.append("t").unwrap()).collect();
        tx.set_u64(&blocks[0], 8, 1).unwrap();
        tx.commit().unwrap();

        let mut loser = db.begin().unwrap();
        loser.set_u64(&blocks[0], 8, 666).unwrap();
        let mut hog = db.begin().unwrap();
        hog.pin(&blocks[1]).unwrap();
        hog.pin(&blocks[2]).unwrap(); // every frame pinned; t:0 (dirty, 666) was evicted
        let err = loser.rollback().unwrap_err();
        assert!(matches!(err, Error::Buffer(_)), "{err}");
        let err = db.begin().map(|_| ()).unwrap_err();
        assert!(matches!(err, Error::NeedsRecovery { .. }), "{err}");
        assert!(matches!(db.checkpoint(), Err(Error::NeedsRecovery { .. })));
        // A transaction already running may neither read behind the failed one's locks nor
        // commit: it might have seen half-undone data.
        assert!(matches!(
            hog.get_u64(&blocks[0], 8),
            Err(Error::NeedsRecovery { .. })
        ));
        assert!(matches!(hog.commit(), Err(Error::NeedsRecovery { .. })));
        blocks
    };
    storage.crash(Crash::power_loss());
    let db = TxManager::open_with(storage, options()).unwrap();
    assert_eq!(db.begin().unwrap().get_u64(&blocks[0], 8).unwrap(), 1);
}

#[test]
fn a_commit_succeeds_even_if_the_checkpoint_after_it_fails() {
    let storage = MemStorage::new();
    let mut o = options();
    o.checkpoint_bytes = 1; // every commit is followed by a checkpoint
    let db = TxManager::open_with(storage.clone(), o).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 7).unwrap();
    // The commit's log sync succeeds; the checkpoint's data-file sync after it fails.
    storage.fail_at(FaultOp::Sync, storage.stats().syncs + 1);
    tx.commit().expect("the commit is durable: report success");
    assert_eq!(db.stats().checkpoint_failures, 1);
    std::mem::forget(db);
    storage.crash(Crash::power_loss());
    let db = TxManager::open_with(storage, o).unwrap();
    assert_eq!(db.begin().unwrap().get_u64(&block, 8).unwrap(), 7);
}

#[test]
fn nosync_commits_are_lost_whole_or_kept_whole_whatever_the_crash() {
    for crash in [Crash::process_kill(), Crash::power_loss()] {
        let storage = MemStorage::new();
        let mut o = options();
        o.durability = Durability::NoSync;
        let db = TxManager::open_with(storage.clone(), o).unwrap();
        let mut tx = db.begin().unwrap();
        let block = tx.append("t").unwrap();
        tx.commit().unwrap();
        db.checkpoint().unwrap();
        let mut tx = db.begin().unwrap();
        tx.set_u64(&block, 8, 2).unwrap();
        tx.set_u64(&block, 16, 2).unwrap();
        tx.commit().unwrap();
        std::mem::forget(db);
        storage.crash(crash);
        let db = TxManager::open_with(storage, o).unwrap();
        let mut tx = db.begin().unwrap();
        let both = (
            tx.get_u64(&block, 8).unwrap(),
            tx.get_u64(&block, 16).unwrap(),
        );
        assert!(both == (0, 0) || both == (2, 2), "{crash:?}: {both:?}");
    }
}

#[test]
fn log_segment_names_are_reserved() {
    let db = TxManager::open_with(MemStorage::new(), options()).unwrap();
    let mut tx = db.begin().unwrap();
    for name in ["wal", "wal.00000000000000000000", "wal.x"] {
        assert!(
            matches!(tx.append(name), Err(Error::ReservedName { .. })),
            "{name}"
        );
        let block = BlockId::new(name, 0);
        assert!(matches!(
            tx.get_u64(&block, 8),
            Err(Error::ReservedName { .. })
        ));
    }
    tx.append("walrus")
        .expect("only the log's own names are reserved");
}

#[test]
fn an_enormous_offset_is_an_error_not_an_overflow() {
    let db = TxManager::open_with(MemStorage::new(), options()).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    assert!(matches!(
        tx.set_u64(&block, usize::MAX - 3, 1),
        Err(Error::BadOffset { .. })
    ));
    assert!(matches!(
        tx.read_bytes(&block, usize::MAX - 3, 8),
        Err(Error::BadOffset { .. })
    ));
}

#[test]
fn a_rollback_costs_at_most_one_fsync() {
    let mut o = options();
    o.durability = Durability::NoSync;
    let db = TxManager::open_with(MemStorage::new(), o).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    for i in 0..20 {
        tx.set_u64(&block, 8 + i * 8, i as u64 + 1).unwrap();
    }
    let fsyncs = db.log().stats().fsyncs;
    tx.rollback().unwrap();
    assert!(db.log().stats().fsyncs <= fsyncs + 1);
    let mut tx = db.begin().unwrap();
    assert!((0..20).all(|i| tx.get_u64(&block, 8 + i * 8).unwrap() == 0));
}

/// T1 holds the only shared lock on x and a blind writer T2 waits for it; T1's upgrade then
/// goes to the front of the queue and is grantable at once. It used to go to sleep instead,
/// with T2 waiting on T1: a hang no deadlock detector could see.
#[test]
fn an_upgrade_ahead_of_a_waiting_writer_does_not_sleep() {
    let mut o = options();
    o.lock_timeout = Some(Duration::from_secs(10)); // only a bug would wait this long
    let db = TxManager::open_with(MemStorage::new(), o).unwrap();
    let mut tx = db.begin().unwrap();
    let x = tx.append("t").unwrap();
    tx.commit().unwrap();
    let (queued_tx, queued) = std::sync::mpsc::channel();
    db.locks().set_wait_observer(move |txn| {
        let _ = queued_tx.send(txn);
    });
    let mut t1 = db.begin().unwrap();
    t1.get_u64(&x, 8).unwrap();
    let mut t2 = db.begin().unwrap();
    let t2_id = t2.id();
    std::thread::scope(|s| {
        let x2 = x.clone();
        let writer = s.spawn(move || {
            t2.set_u64(&x2, 8, 2)?; // blind write: waits for t1's shared lock
            t2.commit()
        });
        while queued.recv().unwrap() != t2_id {}
        let start = std::time::Instant::now();
        t1.set_u64(&x, 8, 1).unwrap(); // the upgrade
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the upgrade slept"
        );
        t1.commit().unwrap();
        writer.join().unwrap().unwrap();
    });
    assert_eq!(db.begin().unwrap().get_u64(&x, 8).unwrap(), 2);
}

/// A commit whose log flush fails has an unknown fate: readers waiting for its locks must
/// not read its writes (they may vanish in recovery).
#[test]
fn a_failed_commit_does_not_let_waiters_read_its_writes() {
    let storage = MemStorage::new();
    let db = TxManager::open_with(storage.clone(), options()).unwrap();
    let mut tx = db.begin().unwrap();
    let x = tx.append("t").unwrap();
    tx.commit().unwrap();
    let mut t1 = db.begin().unwrap();
    t1.set_u64(&x, 8, 99).unwrap();
    let mut t2 = db.begin().unwrap();
    storage.fail_from(FaultOp::Sync, storage.stats().syncs);
    assert!(t1.commit().is_err());
    let err = t2.get_u64(&x, 8).unwrap_err();
    assert!(matches!(err, Error::NeedsRecovery { .. }), "{err}");
}

// Found by the review of snapshot transactions (chapter 6).

/// A committed database with x = y = 50, for the snapshot regressions.
fn two_accounts(storage: &MemStorage, o: TxOptions) -> (TxManager, BlockId, BlockId) {
    let db = TxManager::open_with(storage.clone(), o).unwrap();
    let mut tx = db.begin().unwrap();
    let (x, y) = (tx.append("t").unwrap(), tx.append("t").unwrap());
    tx.set_u64(&x, 8, 50).unwrap();
    tx.set_u64(&y, 8, 50).unwrap();
    tx.commit().unwrap();
    (db, x, y)
}

/// After a failed commit, a transaction that began earlier was refused once — and then let
/// through on the same call, because the lock it was granted had been recorded before the
/// check; its write then replaced the pending image a snapshot still needed.
#[test]
fn after_a_failed_commit_a_retry_neither_reads_its_writes_nor_shows_them_to_snapshots() {
    let storage = MemStorage::new();
    let (db, x, _) = two_accounts(&storage, TxOptions::default());
    let mut r = db.begin_read_only().unwrap();
    let mut t1 = db.begin().unwrap();
    t1.set_u64(&x, 8, 99).unwrap();
    let mut t2 = db.begin().unwrap();
    let mut t3 = db.begin().unwrap();
    storage.fail_from(FaultOp::Sync, storage.stats().syncs);
    assert!(t1.commit().is_err());
    for _ in 0..2 {
        assert!(matches!(
            t2.get_u64(&x, 8),
            Err(Error::NeedsRecovery { .. })
        ));
        assert!(matches!(
            t3.set_u64(&x, 16, 1),
            Err(Error::NeedsRecovery { .. })
        ));
    }
    assert_eq!(
        r.get_u64(&x, 8).unwrap(),
        50,
        "the failed commit's fate is unknown"
    );
}

/// The same after a failed rollback: the rolled-back value must never reach a snapshot.
#[test]
fn after_a_failed_rollback_snapshots_still_read_the_committed_image() {
    let storage = MemStorage::new();
    let db = TxManager::open_with(storage.clone(), options()).unwrap();
    let mut tx = db.begin().unwrap();
    let blocks: Vec<BlockId> = (0..3).map(|_| tx.append("t").unwrap()).collect();
    tx.set_u64(&blocks[0], 8, 50).unwrap();
    tx.commit().unwrap();
    let x = &blocks[0];
    let mut r = db.begin_read_only().unwrap();
    let mut loser = db.begin().unwrap();
    loser.set_u64(x, 8, 666).unwrap();
    let mut t2 = db.begin().unwrap();
    let mut hog = db.begin().unwrap();
    hog.pin(&blocks[1]).unwrap();
    hog.pin(&blocks[2]).unwrap();
    assert!(matches!(loser.rollback(), Err(Error::Buffer(_))));
    drop(hog);
    for _ in 0..2 {
        assert!(matches!(
            t2.set_u64(x, 16, 1),
            Err(Error::NeedsRecovery { .. })
        ));
    }
    drop(t2);
    assert_eq!(r.get_u64(x, 8).unwrap(), 50);
}

/// Two transactions that read a file's size and then append deadlock on the file's end;
/// the victim's error said "t:18446744073709551615" instead of naming the file's end.
#[test]
fn a_deadlock_on_a_files_end_says_so() {
    let storage = MemStorage::new();
    let (db, _, _) = two_accounts(&storage, TxOptions::default());
    let (queued_tx, queued) = std::sync::mpsc::channel();
    db.locks().set_wait_observer(move |txn| {
        let _ = queued_tx.send(txn);
    });
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    t1.size("t").unwrap();
    t2.size("t").unwrap();
    std::thread::scope(|s| {
        let first = s.spawn(move || {
            t1.append("t")?; // waits for t2's shared lock on the end of t
            t1.commit()
        });
        queued.recv().unwrap();
        let message = t2.append("t").unwrap_err().to_string();
        drop(t2);
        first.join().unwrap().unwrap();
        assert!(
            message.ends_with("waiting for the end of file t"),
            "{message}"
        );
    });
}

/// A snapshot ended by the memory cap is still open until dropped, and counted as such.
#[test]
fn a_snapshot_ended_by_the_cap_counts_as_open_until_dropped() {
    let storage = MemStorage::new();
    let o = TxOptions {
        snapshot_memory: 0,
        ..TxOptions::default()
    };
    let (db, x, _) = two_accounts(&storage, o);
    let mut r = db.begin_read_only().unwrap();
    let mut w = db.begin().unwrap();
    w.set_u64(&x, 8, 1).unwrap();
    w.commit().unwrap();
    assert!(matches!(
        r.get_u64(&x, 8),
        Err(Error::SnapshotTooOld { .. })
    ));
    assert_eq!(db.snapshot_stats().active, 1);
    drop(r);
    assert_eq!(db.snapshot_stats().active, 0);
}

/// Appends `records` to the log of the database in `storage` (closed), as damage that kept
/// valid frames would: each gets the LSN the log gives it, passed to `make`.
fn forge(storage: &MemStorage, make: impl Fn(kv_log::Lsn) -> Vec<kv_tx::LogRecord>) {
    let fm = std::sync::Arc::new(
        kv_file::FileManager::open_with(storage.clone(), options().file).unwrap(),
    );
    let log = kv_log::LogManager::open_with(fm, kv_tx::LOG_NAME, options().log).unwrap();
    for record in make(log.end_lsn()) {
        log.append(&record.encode()).unwrap();
    }
    log.flush_all().unwrap();
}

/// Opens the database on its own thread; the open's error, or a failure if it hangs.
fn open_error(storage: &MemStorage) -> Error {
    let (send, recv) = std::sync::mpsc::channel();
    let storage = storage.clone();
    std::thread::spawn(move || {
        let _ = send.send(TxManager::open_with(storage, options()).map(|_| ()));
    });
    let opened = recv
        .recv_timeout(Duration::from_secs(20))
        .expect("recovery hung");
    opened.expect_err("recovery accepted a forged log")
}

#[test]
fn a_forged_undo_chain_that_points_forward_is_refused_not_followed_forever() {
    // Found by the fuzzing review: undo followed `undo_next` without checking it goes back.
    let storage = MemStorage::new();
    let db = TxManager::open_with(storage.clone(), options()).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    drop(db);
    forge(&storage, |at| {
        use kv_tx::LogRecord::*;
        let start = Start { txn: 90 };
        let next = kv_log::Lsn(at.0 + (start.encode().len() + kv_log::FRAME_OVERHEAD) as u64);
        vec![
            start,
            // A compensation whose undo_next is itself.
            Compensation {
                txn: 90,
                prev: at,
                undo_next: next,
                block: block.clone(),
                offset: 8,
                image: vec![7; 8],
            },
        ]
    });
    let err = open_error(&storage);
    assert!(err.to_string().contains("goes forward"), "{err}");
}

#[test]
fn a_forged_record_naming_the_log_is_refused_not_redone_into_it() {
    // Found by the fuzzing review: redo and undo did not check file names, so a record
    // naming a log segment would have had recovery write a data page into the live log.
    let storage = MemStorage::new();
    drop(TxManager::open_with(storage.clone(), options()).unwrap());
    let segment = kv_log::segment_name(kv_tx::LOG_NAME, kv_log::Lsn(0));
    forge(&storage, |at| {
        vec![
            kv_tx::LogRecord::Start { txn: 91 },
            kv_tx::LogRecord::Update {
                txn: 91,
                prev: at,
                block: BlockId::new(segment.as_str(), 0),
                offset: 8,
                before: vec![0; 8],
                after: vec![9; 8],
            },
        ]
    });
    let err = open_error(&storage);
    assert!(
        matches!(&err, Error::BadRecord { reason, .. } if reason.contains("reserved")),
        "{err}"
    );
}
