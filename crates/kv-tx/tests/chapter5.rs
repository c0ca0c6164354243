//! Chapter 5 checkpoint: atomicity and durability, tested from the outside.
//!
//! Run with `cargo test -p kv-tx --test chapter5`.

use kv_file::{BlockId, Crash, FaultOp, MemStorage};
use kv_tx::{Error, PageRead, TxManager, TxOptions};

fn open(storage: &MemStorage) -> TxManager {
    TxManager::open_with(storage.clone(), small()).unwrap()
}

fn small() -> TxOptions {
    let mut options = TxOptions::default();
    options.file = options.file.block_size(512);
    options.buffer.frames = 8;
    options
}

#[test]
fn a_commit_survives_reopen_and_a_crash() {
    let storage = MemStorage::new();
    let block = {
        let db = open(&storage);
        let mut tx = db.begin().unwrap();
        let block = tx.append("t").unwrap();
        tx.set_u64(&block, 8, 42).unwrap();
        tx.set_string(&block, 16, "durable").unwrap();
        tx.commit().unwrap();
        block
    };
    let db = open(&storage);
    let mut tx = db.begin().unwrap();
    assert_eq!(tx.get_u64(&block, 8).unwrap(), 42);
    drop(tx);
    drop(db);
    let db = open(&storage);
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 43).unwrap();
    tx.commit().unwrap();
    drop(db);
    // The page itself was never written after the last commit (no-force): redo restores it.
    storage.crash(Crash::power_loss());
    let db = open(&storage);
    let mut tx = db.begin().unwrap();
    assert_eq!(tx.get_u64(&block, 8).unwrap(), 43);
    assert_eq!(tx.get_string(&block, 16).unwrap(), "durable");
}

#[test]
fn rollback_restores_the_before_images() {
    let storage = MemStorage::new();
    let db = open(&storage);
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.set_u64(&block, 8, 1).unwrap();
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 2).unwrap();
    tx.set_u64(&block, 8, 3).unwrap();
    tx.set_i32(&block, 100, -7).unwrap();
    tx.rollback().unwrap();
    let mut tx = db.begin().unwrap();
    assert_eq!(tx.get_u64(&block, 8).unwrap(), 1);
    assert_eq!(tx.get_i32(&block, 100).unwrap(), 0);
    // Dropping an unfinished transaction rolls it back too.
    tx.set_u64(&block, 8, 9).unwrap();
    drop(tx);
    assert_eq!(db.begin().unwrap().get_u64(&block, 8).unwrap(), 1);
    assert_eq!(
        db.stats().rollbacks,
        3,
        "explicit, on drop, and the reader just dropped"
    );
}

/// Rollback undoes from the before-images the transaction kept, so it reads no log and
/// needs no fsync; a transaction too big to keep them rolls back from the log instead.
#[test]
fn rollback_needs_no_fsync_unless_the_transaction_is_too_big_to_remember() {
    let mut options = small();
    options.durability = kv_tx::Durability::NoSync;
    let db = TxManager::open_with(MemStorage::new(), options).unwrap();
    let mut tx = db.begin().unwrap();
    let blocks: Vec<BlockId> = (0..4).map(|_| tx.append("t").unwrap()).collect();
    tx.set_u64(&blocks[0], 8, 5).unwrap();
    tx.commit().unwrap();
    let fsyncs = db.log().stats().fsyncs;
    let mut tx = db.begin().unwrap();
    tx.set_u64(&blocks[0], 8, 6).unwrap();
    tx.set_u64(&blocks[0], 8, 7).unwrap();
    tx.rollback().unwrap();
    assert_eq!(db.log().stats().fsyncs, fsyncs, "rolled back from memory");
    assert_eq!(db.begin().unwrap().get_u64(&blocks[0], 8).unwrap(), 5);

    let mut tx = db.begin().unwrap();
    let page = tx.page_capacity();
    let chunk = vec![9u8; page - 16];
    for i in 0..=(kv_tx::UNDO_IN_MEMORY / chunk.len()) {
        tx.write_bytes(&blocks[i % blocks.len()], 16, &chunk)
            .unwrap();
    }
    tx.rollback().unwrap();
    assert!(db.log().stats().fsyncs > fsyncs, "rolled back from the log");
    let mut check = db.begin().unwrap();
    assert_eq!(check.get_u64(&blocks[0], 8).unwrap(), 5);
    for b in &blocks {
        assert_eq!(
            check.read_bytes(b, 16, chunk.len()).unwrap(),
            vec![0; chunk.len()]
        );
    }
}

#[test]
fn a_crash_undoes_uncommitted_changes_even_if_they_reached_the_disk() {
    let storage = MemStorage::new();
    let block = {
        let db = open(&storage);
        let mut tx = db.begin().unwrap();
        let block = tx.append("t").unwrap();
        tx.set_u64(&block, 8, 10).unwrap();
        tx.commit().unwrap();
        let mut loser = db.begin().unwrap();
        loser.set_u64(&block, 8, 666).unwrap();
        db.pool().flush_all().unwrap(); // steal: the uncommitted change is on disk
        std::mem::forget(loser); // the process dies: no rollback runs
        block
    };
    storage.crash(Crash::process_kill());
    let db = open(&storage);
    assert_eq!(db.recovery_report().losers.len(), 1);
    assert_eq!(db.begin().unwrap().get_u64(&block, 8).unwrap(), 10);
}

#[test]
fn a_failed_fsync_fails_the_commit_and_nothing_pretends_otherwise() {
    let storage = MemStorage::new();
    let db = open(&storage);
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.set_u64(&block, 8, 5).unwrap();
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 6).unwrap();
    storage.fail_from(FaultOp::Sync, storage.stats().syncs);
    let err = tx.commit().unwrap_err();
    assert!(matches!(err, Error::Log(_)), "{err}");
    let err = db.begin().map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::NeedsRecovery { .. }), "{err}");
    drop(db);
    storage.crash(Crash::power_loss());
    let db = open(&storage);
    assert_eq!(db.begin().unwrap().get_u64(&block, 8).unwrap(), 5);
}

#[test]
fn writes_outside_the_usable_bytes_are_refused() {
    let storage = MemStorage::new();
    let db = open(&storage);
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    assert!(
        matches!(tx.set_u64(&block, 0, 1), Err(Error::BadOffset { .. })),
        "page LSN"
    );
    let cap = tx.page_capacity();
    assert!(matches!(
        tx.set_u64(&block, cap - 4, 1),
        Err(Error::BadOffset { .. })
    ));
    assert!(matches!(
        tx.get_u64(&BlockId::new("t", 99), 8),
        Err(Error::Buffer(_))
    ));
}

#[test]
fn checkpoints_bound_the_log() {
    let storage = MemStorage::new();
    let mut options = small();
    options.log.segment_size = 4096;
    let db = TxManager::open_with(storage.clone(), options).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    for i in 0..300u64 {
        let mut tx = db.begin().unwrap();
        tx.set_u64(&block, 8 + (i as usize % 50) * 8, i).unwrap();
        tx.commit().unwrap();
    }
    let before = db.log().segment_count();
    db.checkpoint().unwrap();
    assert!(
        db.log().segment_count() < before,
        "{before} segments before"
    );
    drop(db);
    let db = TxManager::open_with(storage, options).unwrap();
    let report = db.recovery_report();
    // 300 transactions wrote ~900 records; the log now keeps only the segment holding the
    // checkpoint (whole segments are released).
    assert!(
        report.records < 200,
        "recovery read only the log since the checkpoint: {report:?}"
    );
    assert_eq!(
        db.begin().unwrap().get_u64(&block, 8 + 49 * 8).unwrap(),
        299
    );
}

#[test]
fn nosync_commits_return_before_the_fsync_and_a_crash_loses_them_whole() {
    let storage = MemStorage::new();
    let mut options = small();
    options.durability = kv_tx::Durability::NoSync;
    let db = TxManager::open_with(storage.clone(), options).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.set_u64(&block, 8, 1).unwrap();
    tx.commit().unwrap();
    db.checkpoint().unwrap(); // makes the first transaction durable
    let fsyncs = db.log().stats().fsyncs;
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 2).unwrap();
    tx.set_u64(&block, 16, 2).unwrap();
    tx.commit().unwrap();
    assert_eq!(db.log().stats().fsyncs, fsyncs, "no fsync at commit");
    std::mem::forget(db);
    storage.crash(Crash::power_loss());
    let db = TxManager::open_with(storage, options).unwrap();
    let mut tx = db.begin().unwrap();
    let both = (
        tx.get_u64(&block, 8).unwrap(),
        tx.get_u64(&block, 16).unwrap(),
    );
    assert!(
        both == (1, 0) || both == (2, 2),
        "lost whole or kept whole, never half: {both:?}"
    );
}

#[test]
fn checkpoints_run_automatically_by_log_volume() {
    let storage = MemStorage::new();
    let mut options = small();
    options.checkpoint_bytes = 4096;
    let db = TxManager::open_with(storage, options).unwrap();
    let before = db.stats().checkpoints;
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    for i in 0..200u64 {
        let mut tx = db.begin().unwrap();
        tx.set_u64(&block, 8, i).unwrap();
        tx.commit().unwrap();
    }
    assert!(db.stats().checkpoints > before + 3, "{:?}", db.stats());
}

/// A page image leaves out the page's longest run of zeroes (its free gap): the first
/// change of a nearly empty page after a checkpoint logs a few dozen bytes, not the page.
#[test]
fn a_page_image_leaves_out_the_zeroes() {
    let mut options = TxOptions::default();
    options.file = options.file.block_size(4096);
    let db = TxManager::open_with(MemStorage::new(), options).unwrap();
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let end = db.log().end_lsn();
    let images = db.stats().page_images;
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 1).unwrap();
    tx.commit().unwrap();
    assert_eq!(db.stats().page_images, images + 1, "an image was logged");
    let logged = db.log().end_lsn().0 - end.0;
    assert!(logged < 512, "{logged} bytes logged for an 8-byte change");
}

#[test]
fn a_torn_page_is_rebuilt_from_its_logged_image() {
    let storage = MemStorage::new();
    let block = {
        let db = open(&storage);
        let mut tx = db.begin().unwrap();
        let block = tx.append("t").unwrap();
        tx.set_u64(&block, 8, 1).unwrap();
        tx.commit().unwrap();
        db.checkpoint().unwrap();
        let mut tx = db.begin().unwrap();
        tx.set_u64(&block, 300, 2).unwrap(); // first change since the checkpoint: image logged
        tx.commit().unwrap();
        assert!(db.stats().page_images >= 1);
        db.pool().flush_all().unwrap(); // the page write will be torn below
        let mut tx = db.begin().unwrap();
        tx.set_u64(&block, 300, 3).unwrap();
        tx.commit().unwrap();
        // Write the page again, and fail the sync that would make that write durable.
        storage.fail_at(FaultOp::Sync, storage.stats().syncs);
        assert!(db.pool().flush_all().is_err());
        std::mem::forget(db);
        block
    };
    // Power fails after the first 100 bytes of the page's last write landed.
    storage.crash(Crash::torn(100));
    let db = open(&storage);
    assert_eq!(
        db.recovery_report().repaired,
        1,
        "{:?}",
        db.recovery_report()
    );
    let mut tx = db.begin().unwrap();
    assert_eq!(
        (
            tx.get_u64(&block, 8).unwrap(),
            tx.get_u64(&block, 300).unwrap()
        ),
        (1, 3)
    );
}
