//! # kv-log: the write-ahead log, with group commit
//!
//! Chapter 3 of the book. The log is where a change is written *first*: before a page
//! changed by a transaction may reach the disk, a record describing the change must be
//! durable in the log (the WAL rule, enforced by the buffer pool in chapter 4), and a
//! transaction is committed exactly when its commit record is durable (chapter 5). After a
//! crash, the log is the truth from which every page is repaired.
//!
//! - [`LogManager::append`] adds a record and returns its [`Lsn`] without waiting for disk.
//! - [`LogManager::flush`] returns once a record and all before it are durable; threads that
//!   flush at the same time share one fsync (group commit).
//! - [`LogManager::iter_from`] reads forward from any LSN (redo, replication);
//!   [`LogManager::iter_back`] reads backward from the end (undo).
//! - [`LogManager::truncate_before`] deletes whole segment files below an LSN.
//!
//! ```
//! use std::sync::Arc;
//! use kv_file::{FileManager, FileOptions, MemStorage};
//! use kv_log::LogManager;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fm = Arc::new(FileManager::open_with(MemStorage::new(), FileOptions::default())?);
//! let log = LogManager::open(fm, "wal")?;
//! let first = log.append(b"begin 1")?;
//! let commit = log.append(b"commit 1")?;
//! log.flush(commit)?; // both records are durable now
//! let records: Vec<_> = log.iter_from(first)?.collect::<Result<_, _>>()?;
//! assert_eq!(records[1], (commit, b"commit 1".to_vec()));
//! # Ok(())
//! # }
//! ```
//!
//! ## Invariants
//!
//! - LSNs are byte positions in the log stream: they only grow, and a record's LSN is where
//!   its frame starts. `Lsn::ZERO` is never a record.
//! - Every record is framed with its length (in front and behind) and a CRC-32 over its
//!   length, payload and LSN; a frame never spans two segment files.
//! - At most one write to the log is unsynced at any time: a flush writes its batch, syncs,
//!   and only then lets the next batch be written (a batch that crosses into a new segment
//!   syncs the old one first). So after any crash, damage can only be at the very end.
//! - At open, the end of the log is the last record that verifies. A failed record with no
//!   valid record after it is a torn tail and is cut off durably; one followed by a valid
//!   record that starts a later write is damage a crash cannot explain, and is
//!   [`Error::Corrupt`]. Valid records of the same write after the damage are decided by
//!   [`TailRecovery`] (strict by default: refuse rather than guess).
//! - Opening syncs the last segment before declaring what it found durable, so records a
//!   killed process left in the OS page cache are not acknowledged until they are on disk.
//! - `flush(lsn)` returns only after an fsync that covered `lsn`. After a failed write or
//!   fsync, the log refuses all further work ([`Error::Poisoned`]) until it is reopened,
//!   because the state of the file is then unknown.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Raw segment files, not checksummed blocks.** The log writes through the `Storage`
//!   trait directly instead of `FileManager` blocks. A block log must rewrite its last,
//!   partial block on every flush, and a torn rewrite would fail the *whole block's*
//!   checksum — losing records that were already durable. With per-record CRCs, a torn
//!   write can only damage the bytes it was writing.
//! - **Byte-position LSNs** rather than counters: reading the record at an LSN is
//!   arithmetic, no index needed. The cost is that LSNs are sparse.
//! - **Frames rather than block spanning** for large records: a record is one contiguous
//!   frame of any size up to [`MAX_RECORD_SIZE`]. The length is repeated behind the payload
//!   so the log can be read backward without an index.
//! - **Group commit by leader/follower**: the first flusher takes the whole buffer, writes
//!   and syncs it without holding the lock; flushers arriving meanwhile wait on a condition
//!   variable and the first to wake leads the next batch. No timers, no sleeps: the batching
//!   comes from the fsync's own duration.
//! - **The CRC is computed outside the lock**: only the 8 bytes of the LSN are hashed under
//!   it, so appenders contend for a memcpy, not a checksum.
//!
//! ## CAVEATS
//!
//! - Iterators flush first, so they cost an fsync if anything was appended since the last
//!   flush; [`LogManager::read`] flushes only when the record asked for is not durable yet,
//!   so walking a chain of older records (undo) costs at most one.
//! - A device that persists the sectors of one large write out of order can leave a valid
//!   record after an invalid one in the unsynced last write. By default the log then refuses
//!   to open (`Corrupt`) rather than risk dropping an acknowledged write silently; reopen with
//!   [`TailRecovery::TolerateLastWrite`] to cut it. Damage inside the last, synced write with
//!   nothing valid after it is indistinguishable from a torn write and is cut.
//! - After a failed fsync, Linux may have marked the unwritten pages clean: reopening reads
//!   them back from the page cache and syncs them again, which cannot bring back what the
//!   kernel dropped. Only a restart of the machine (or reading with `O_DIRECT`) would tell.
//! - Segments other than the last are not scanned at open (only their headers are checked);
//!   damage inside them is found when they are read, as [`Error::Corrupt`].
//! - `truncate_before` must not race with a reader still reading below the truncation point.
//! - Appends wait for the disk only when more than `buffer_limit` bytes await a flush.

mod error;
mod iter;
mod manager;
mod record;
mod segment;
pub mod sync;

pub use error::{Error, Result};
pub use iter::{BackwardIter, ForwardIter};
pub use manager::{LogManager, LogOptions, LogStats, TailRecovery};
pub use record::{
    Lsn, FRAME_OVERHEAD, MAX_RECORD_SIZE, SEGMENT_HEADER_SIZE, SEGMENT_MAGIC, SEGMENT_VERSION,
};
pub use segment::segment_name;
