//! Helpers shared by the chapter 4 tests, benchmark and examples.
#![allow(dead_code)] // each user needs a different subset

pub mod traces;

use std::sync::Arc;
use std::time::Duration;

use kv_buffer::{BufferOptions, BufferPool, PolicyKind};
use kv_file::{FileManager, FileOptions, MemStorage};
use kv_log::LogManager;

/// A pool of `frames` frames over a fresh simulated disk holding `blocks` blocks of "t".
pub fn pool(storage: &MemStorage, frames: usize, blocks: u64, policy: PolicyKind) -> BufferPool {
    let options = BufferOptions {
        frames,
        policy,
        pin_timeout: Duration::from_secs(10),
    };
    pool_with(storage, blocks, options)
}

pub fn pool_with(storage: &MemStorage, blocks: u64, options: BufferOptions) -> BufferPool {
    let fm = Arc::new(
        FileManager::open_with(storage.clone(), FileOptions::default().block_size(512)).unwrap(),
    );
    while fm.length("t").unwrap() < blocks {
        fm.append("t").unwrap();
    }
    let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal").unwrap());
    BufferPool::new(fm, log, options)
}
