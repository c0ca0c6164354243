//! Helpers shared by the B+tree tests: a database of small pages, and a check that fails
//! loudly.

#![allow(dead_code)] // each test file uses its own subset

use kv_file::{FileOptions, MemStorage};
use kv_index::{BTree, HashCheckReport, HashIndex};
use kv_tx::{PageRead, TxManager, TxOptions};

/// Options with `block_size`-byte pages (512 makes trees deep with few keys).
pub fn options(block_size: usize) -> TxOptions {
    TxOptions {
        file: FileOptions::default().block_size(block_size),
        ..TxOptions::default()
    }
}

/// A fresh database on simulated storage with pages of `block_size` bytes.
pub fn db(block_size: usize) -> (MemStorage, TxManager) {
    let storage = MemStorage::new();
    let db = TxManager::open_with(storage.clone(), options(block_size)).unwrap();
    (storage, db)
}

/// Panics with the report and a dump unless the tree is sound.
pub fn assert_sound(tree: &BTree, tx: &mut impl PageRead) -> kv_index::CheckReport {
    let report = tree.check(tx).unwrap();
    assert!(
        report.is_ok(),
        "{:#?}\n{}",
        report,
        tree.dump(tx).unwrap_or_default()
    );
    report
}

/// A key of `n` bytes that sorts by `n` first, then `i`.
pub fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

/// Panics with the report and a dump unless the hash index is sound.
pub fn assert_hash_sound(index: &HashIndex, tx: &mut impl PageRead) -> HashCheckReport {
    let report = index.check(tx).unwrap();
    assert!(
        report.is_ok(),
        "{report:#?}\n{}",
        index.dump(tx).unwrap_or_default()
    );
    report
}
