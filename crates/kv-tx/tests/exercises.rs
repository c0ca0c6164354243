//! Chapter 5 exercises. Each test describes behaviour the reference code does not have yet;
//! it fails until you build it. Turn one on with
//! `cargo test -p kv-tx --test exercises -- --ignored exercise_5_1`.

use kv_file::MemStorage;
use kv_tx::{Durability, PageRead, TxManager, TxOptions};

fn open(durability: Durability) -> TxManager {
    let mut options = TxOptions {
        durability,
        ..TxOptions::default()
    };
    options.file = options.file.block_size(4096);
    TxManager::open_with(MemStorage::new(), options).unwrap()
}

/// Exercise 5.1: rollback rereads the transaction's records from the log, and reading the
/// log flushes it — an fsync per rollback. Keep a transaction's undo information in memory
/// (falling back to the log only for transactions too large to keep) so rollback never syncs.
#[test]
#[ignore = "exercise 5.1: roll back from memory, without an fsync"]
fn exercise_5_1_rollback_does_not_fsync() {
    let db = open(Durability::NoSync);
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    let fsyncs = db.log().stats().fsyncs;
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 1).unwrap();
    tx.rollback().unwrap();
    assert_eq!(db.log().stats().fsyncs, fsyncs);
    assert_eq!(db.begin().unwrap().get_u64(&block, 8).unwrap(), 0);
}

/// Exercise 5.2: writing the bytes a page already holds still logs an update. Log nothing
/// (and do not dirty the page) when the before- and after-images are equal.
#[test]
#[ignore = "exercise 5.2: do not log writes that change nothing"]
fn exercise_5_2_a_write_that_changes_nothing_is_not_logged() {
    let db = open(Durability::Sync);
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.set_u64(&block, 8, 7).unwrap();
    let end = db.log().end_lsn();
    tx.set_u64(&block, 8, 7).unwrap();
    assert_eq!(db.log().end_lsn(), end);
    tx.commit().unwrap();
}

/// Exercise 5.3: the first change of a page after a checkpoint logs the whole page (4 KiB
/// here) even when most of it is zeroes. Log the image without its zero "hole" (as
/// PostgreSQL does), and keep torn-page repair working (the crash test must still pass).
#[test]
#[ignore = "exercise 5.3: compact full-page images"]
fn exercise_5_3_page_images_leave_out_the_zeroes() {
    let db = open(Durability::Sync);
    let mut tx = db.begin().unwrap();
    let block = tx.append("t").unwrap();
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let end = db.log().end_lsn();
    let mut tx = db.begin().unwrap();
    tx.set_u64(&block, 8, 1).unwrap();
    tx.commit().unwrap();
    let logged = db.log().end_lsn().0 - end.0;
    assert!(logged < 512, "{logged} bytes logged for an 8-byte change");
}
