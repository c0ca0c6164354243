//! Helpers shared by the concurrency tests: a database with two pages to fight over, and a
//! channel that reports waits (so tests never sleep to see that a thread is blocked).

#![allow(dead_code)] // each test file uses its own subset

use std::sync::mpsc;

use kv_file::{BlockId, MemStorage};
use kv_tx::{TxManager, TxOptions};

/// `options` with 512-byte pages.
pub fn small(mut options: TxOptions) -> TxOptions {
    options.file = options.file.block_size(512);
    options
}

/// A database on simulated storage with 512-byte pages and two committed pages `x` and `y`
/// of file `t`, each holding `value` at offset 8 (0: left fresh).
pub fn two_pages(options: TxOptions, value: u64) -> (TxManager, BlockId, BlockId) {
    let db = TxManager::open_with(MemStorage::new(), small(options)).unwrap();
    let mut tx = db.begin().unwrap();
    let (x, y) = (tx.append("t").unwrap(), tx.append("t").unwrap());
    if value != 0 {
        tx.set_u64(&x, 8, value).unwrap();
        tx.set_u64(&y, 8, value).unwrap();
    }
    tx.commit().unwrap();
    (db, x, y)
}

/// A channel that hears the number of every transaction about to wait for a lock.
pub fn waits(db: &TxManager) -> mpsc::Receiver<u64> {
    let (queued_tx, queued) = mpsc::channel();
    db.locks().set_wait_observer(move |txn| {
        let _ = queued_tx.send(txn);
    });
    queued
}

/// A bank: `accounts` accounts of `start` each, two to a page of file `bank`, on a database
/// whose lock waits time out after 20 s (so a hang fails the test instead of stalling it).
pub fn bank(accounts: usize, start: u64) -> (TxManager, Vec<(BlockId, usize)>) {
    let options = TxOptions {
        lock_timeout: Some(std::time::Duration::from_secs(20)),
        ..TxOptions::default()
    };
    let db = TxManager::open_with(MemStorage::new(), small(options)).unwrap();
    let mut tx = db.begin().unwrap();
    let blocks: Vec<BlockId> = (0..accounts.div_ceil(2))
        .map(|_| tx.append("bank").unwrap())
        .collect();
    let accounts: Vec<(BlockId, usize)> = (0..accounts)
        .map(|i| (blocks[i / 2].clone(), 8 + (i % 2) * 8))
        .collect();
    for (b, off) in &accounts {
        tx.set_u64(b, *off, start).unwrap();
    }
    tx.commit().unwrap();
    (db, accounts)
}
