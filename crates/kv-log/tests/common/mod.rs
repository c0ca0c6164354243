//! Helpers shared by the chapter 3 tests.
#![allow(dead_code)] // each test file uses a different subset

use std::sync::Arc;

use kv_file::{FileManager, FileOptions, MemStorage};
use kv_log::{LogManager, LogOptions, Lsn};

/// Small segments, so a few records already span several files.
pub const SMALL: LogOptions = LogOptions {
    segment_size: 256,
    buffer_limit: 1 << 20,
    tail: kv_log::TailRecovery::Strict,
};

pub fn open(storage: &MemStorage, options: LogOptions) -> kv_log::Result<LogManager> {
    let fm = FileManager::open_with(storage.clone(), FileOptions::default().block_size(512))?;
    LogManager::open_with(Arc::new(fm), "wal", options)
}

pub fn all(log: &LogManager) -> Vec<(Lsn, Vec<u8>)> {
    log.iter_from(log.first_lsn())
        .unwrap()
        .collect::<kv_log::Result<_>>()
        .unwrap()
}

/// A payload that says which record it is, of a length that varies with `i`.
pub fn record(i: usize) -> Vec<u8> {
    let mut r = format!("record {i}:").into_bytes();
    r.resize(r.len() + (i * 37) % 150, b'a' + (i % 26) as u8);
    r
}
