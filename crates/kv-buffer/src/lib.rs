//! # kv-buffer: the buffer pool
//!
//! Chapter 4 of the book. Reading a block from disk costs microseconds to milliseconds;
//! reading it from memory, nanoseconds. The buffer pool keeps a fixed number of **frames**,
//! each holding one block, so that the blocks in use are read from disk once and then shared
//! by every thread that needs them.
//!
//! - [`BufferPool::pin`] returns a [`PageGuard`]: the block stays in its frame while the guard
//!   lives, and is unpinned when it drops.
//! - The page's bytes are reached through short latches: [`PageGuard::read`] (shared) and
//!   [`PageGuard::write`] (exclusive, marks the page dirty).
//! - [`PageWrite::set_modified`] records the LSN of the log record describing a change. A
//!   dirty page is written back — on eviction or [`BufferPool::flush_all`] — only after the
//!   log is durable up to that LSN: **the WAL rule**.
//! - A [`ReplacementPolicy`] chooses victims: [`Naive`], [`Fifo`], [`Lru`] and [`Clock`] (the
//!   default) ship; [`conformance`] checks any policy, including yours.
//!
//! ```
//! use std::sync::Arc;
//! use kv_buffer::{BufferOptions, BufferPool};
//! use kv_file::{FileManager, FileOptions, MemStorage};
//! use kv_log::LogManager;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fm = Arc::new(FileManager::open_with(MemStorage::new(), FileOptions::default())?);
//! let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal")?);
//! let pool = BufferPool::new(Arc::clone(&fm), Arc::clone(&log), BufferOptions::default());
//!
//! let block = fm.append("data.db")?;
//! let page = pool.pin(&block)?;
//! let lsn = log.append(b"set data.db:0 offset 0 to 42")?; // describe the change first
//! {
//!     let mut w = page.write();
//!     w.set_u64(0, 42)?;
//!     w.set_modified(1, lsn);
//! }
//! assert_eq!(page.read().get_u64(0)?, 42);
//! drop(page);
//! pool.flush_all()?; // flushes the log to `lsn`, then writes the page
//! assert!(log.durable_lsn() > lsn);
//! # Ok(())
//! # }
//! ```
//!
//! ## Invariants
//!
//! - A pinned frame is never evicted; its block does not change while any guard lives.
//! - A block is in at most one frame, and is loaded once even if many threads pin it at once.
//! - No dirty page reaches the disk before the log is durable up to its LSN.
//! - The page-table lock is never held across I/O, and neither is a page latch anyone could
//!   be waiting for: write-back copies the page under a read latch and writes the copy (only
//!   a load holds a latch during its read — of a frame no other thread can reach yet).
//! - A flush syncs every file the pool wrote since the last flush, evictions' writes included,
//!   so a checkpoint never relies on an unsynced eviction.
//! - A pin that must fail (a block past the end of its file, a bad name) evicts nothing; a
//!   dirty page that cannot be written stays cached and another frame is used if there is one.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Not `mmap`.** Letting the OS page cache be the buffer pool is simpler, but the OS may
//!   write a dirty page back at any moment — before its log record is durable — which breaks
//!   the WAL rule, and I/O errors arrive as signals. LMDB makes mmap work by never updating in
//!   place (copy-on-write B-tree); an update-in-place engine with a WAL cannot.
//! - **Guards, not manual unpin.** The SimpleDB interface asks callers to `unpin`; forgetting
//!   one leaks a frame forever. A guard cannot be forgotten.
//! - **Latches separate from locks.** A latch protects the bytes of a page for the few
//!   nanoseconds of a copy; a transaction's *locks* (chapter 6) protect data for the length of
//!   a transaction. Holding a latch while waiting for anything would turn one into the other.
//! - **Pins and dirty bits are atomics per frame**, so unpinning needs no pool-wide lock
//!   (except to wake a waiter), and the page table's lock is taken once per pin.
//! - **Waiting for a frame uses a condition variable with a deadline**, woken by unpins; no
//!   polling. A pool that stays exhausted for `pin_timeout` returns `BufferExhausted`, which
//!   usually means a caller holds guards it should have dropped.
//! - **Clock is the default policy**: LRU's hit ratio on most workloads, with no list to update
//!   on a hit — only a bit to set.
//!
//! ## CAVEATS
//!
//! - Latches are not re-entrant: do not take a second latch on a page you hold a latch on,
//!   and do not call `flush_all` while holding any latch of the pool (a waiting writer blocks
//!   new readers, so even a read latch can deadlock).
//! - A frame remembers only the last transaction that changed it, so `flush_for(txn)` misses
//!   a page changed by `txn` and then by another (exercise 4.2).
//! - `PageWrite::set_modified` must be called for every logged change: a change written
//!   without it carries an older LSN and could reach the disk before its log record. The
//!   frame's LSN is not kept in the page; a layer that needs it after a reload (recovery)
//!   stores it in the page itself, as kv-tx does.
//! - A write-back copies the page (one page-sized allocation per write-back) so that no latch
//!   is held during the write.
//! - The pool does not prefetch and does not write back in the background: a miss that evicts
//!   a dirty page pays for its write, and for flushing the log up to its LSN.
//! - Every policy's `on_access` runs under the page-table lock; a policy must be O(1) per hit.

pub mod conformance;
mod error;
mod policy;
mod pool;

pub use error::{Error, Result};
pub use policy::{Clock, Fifo, Lru, Naive, PolicyKind, ReplacementPolicy};
pub use pool::{BufferOptions, BufferPool, BufferStats, PageGuard, PageWrite};
