//! # kv-tx: transactions, crash recovery and locking
//!
//! Chapters 5 and 6 of the book. Read-write transactions are serializable by strict
//! two-phase locking with a [`LockTable`] (shared/exclusive, upgrades, deadlocks detected on
//! a waits-for graph, or prevented by wait-die); read-only transactions
//! ([`TxManager::begin_read_only`]) read a snapshot of committed page images and take no
//! locks. A [`Transaction`] reads and writes typed values at (block, offset) through the buffer pool;
//! every write is logged with its before- and after-images *before* it is made. Commit makes
//! the commit record durable; rollback undoes the changes (from before-images kept in memory,
//! or from the log for a big transaction). Opening a
//! [`TxManager`] runs **restart recovery**: redo history from the last checkpoint, then undo
//! every transaction that had not ended.
//!
//! ```
//! use kv_file::{BlockId, MemStorage};
//! use kv_tx::{PageRead, TxManager, TxOptions};
//!
//! # fn main() -> kv_tx::Result<()> {
//! let storage = MemStorage::new();
//! let db = TxManager::open_with(storage.clone(), TxOptions::default())?;
//! let mut tx = db.begin()?;
//! let block = tx.append("accounts")?;
//! tx.set_u64(&block, 8, 100)?;
//! tx.commit()?; // durable: the commit record is synced
//!
//! let mut tx = db.begin()?;
//! tx.set_u64(&block, 8, 0)?;
//! tx.rollback()?; // undone from the log
//! let mut tx = db.begin()?;
//! assert_eq!(tx.get_u64(&block, 8)?, 100);
//! # Ok(())
//! # }
//! ```
//!
//! ## Invariants
//!
//! - **WAL**: a change is logged before it is applied, under the page's write latch, and the
//!   page records the change's LSN in its first 8 bytes (the *page LSN*); the buffer pool
//!   writes a page only after the log is durable up to that LSN.
//! - **Commit** = the commit record is durable (with `Durability::Sync`).
//! - **Steal / no-force**: uncommitted changes may reach the disk (undo repairs them); commit
//!   writes no pages (redo repairs them).
//! - **Repeating history**: recovery redoes every change from the redo point whose page LSN
//!   is lower, including changes of losers and compensations, then undoes the losers.
//! - **Compensation**: every undone change is logged with where undo continues, so recovery
//!   and rollback are idempotent, however often they are interrupted.
//! - **Torn pages are repairable**: the first change of a page after a checkpoint begins is
//!   preceded by a full image of the page in the log (PostgreSQL's full-page writes), so a
//!   page torn by a crash is rebuilt from that image during redo.
//! - **Checkpoints do not stop the world** and bound recovery and the log.
//! - **Isolation**: a read-write transaction holds S on every page it read and X on every
//!   page it wrote until it ends, and S/X on a file's end when it read the file's size or
//!   appended to it; so every schedule is serializable, in commit order.
//! - **Snapshots**: commit sequence numbers are assigned before locks are released, so they
//!   follow the serial order; a read-only transaction sees exactly the commits up to its
//!   snapshot, from page images a writer keeps (under the page's write latch) before its
//!   first change of a page.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **ARIES-style redo/undo with physical byte images**, not logical operations: the log
//!   records bytes at (block, offset), so redo and undo need no knowledge of what the bytes
//!   mean. The cost is that undo is only correct under strict locking (chapter 6).
//! - **Undo follows a per-transaction chain** of `prev` LSNs rather than scanning the log
//!   backward: rollback costs the transaction's own records, not the log's length.
//! - **Full page images after each checkpoint** rather than a doublewrite buffer (InnoDB) or
//!   assuming sector-atomic pages: one extra log record per page per checkpoint interval.
//! - **A flushing checkpoint** (write every dirty page, then log where redo starts) rather
//!   than ARIES's dirty-page table: simpler recovery, and transactions keep running while
//!   it writes; the price is the I/O of writing every dirty page at each checkpoint.
//!
//! - **Strict 2PL**: a read takes a shared lock on its block, a write an exclusive one, and
//!   all are released only when the transaction ends — which is what physical undo needs: no
//!   other transaction can change a byte range before the transaction that changed it ends.
//!   A lock request that would close a cycle of waiting transactions fails at once with
//!   `Deadlock` (the requester is the victim); compatible waiters are granted in order by
//!   whoever releases, so upgrades cannot starve waiting readers. Rejected as the default:
//!   wait-die (kills transactions that were never deadlocked) and timeouts alone (a
//!   deadlock costs the whole timeout); both remain as `DeadlockPolicy` options, measured.
//! - **Multiversion reads for read-only transactions only**, with whole-page versions kept
//!   by commit sequence number: readers never block writers or wait for them, and writers
//!   stay under 2PL, so snapshot isolation's write skew cannot happen. Rejected: snapshot
//!   isolation for writers (not serializable), and rebuilding old versions from the log's
//!   before-images (every snapshot read would replay records).
//!
//! ## CAVEATS
//!
//! - Locks are per block: two transactions touching different bytes of one page conflict.
//!   Reading a file's size and appending to it lock the file's end, so two transactions
//!   that both read the size and then append deadlock (one retries), and appends to one
//!   file are serialized until the appender ends.
//!   Reading a block and then writing it (shared, then an upgrade) deadlocks easily under
//!   contention; the victims retry. An update lock mode is the usual remedy.
//! - A writer copies each page it changes (its last committed image) even when no snapshot
//!   is open, since a snapshot that begins before the writer ends needs it.
//! - Old versions are held in memory only, up to `TxOptions::snapshot_memory`; past it the
//!   oldest snapshot ends with `SnapshotTooOld`. Pending images of running writers are not
//!   capped (they are bounded by what the writers change).
//! - A deadlock victim retries with a new transaction number, so under wait-die it is
//!   younger each time and can lose repeatedly.
//! - Rollback undoes from before-images the transaction keeps in memory, up to
//!   [`UNDO_IN_MEMORY`] bytes; a bigger transaction rolls back from the log, which must be
//!   flushed to be read: one fsync (exercise 5.1).
//! - A rollback that cannot finish (no buffer frame, an I/O error) stops the manager: new
//!   transactions and checkpoints get `NeedsRecovery` until the database is reopened.
//! - Recovery holds the log since the last checkpoint in memory; a long-running transaction,
//!   which keeps the log from being truncated, makes that larger.
//! - Appending a block is not logged: a crash can leave an appended, never-written block at
//!   the end of a file (it reads as a fresh page), or lose a committed append that nothing
//!   was written to before the next checkpoint (which syncs every file). A block that was
//!   written to is recreated by redo.
//! - Beginning a transaction appends its start record under a short mutex that a checkpoint
//!   also takes; with a full log buffer that append flushes (I/O) under it.

mod error;
mod lock;
mod manager;
mod read;
mod record;
mod recovery;
mod transaction;
mod versions;

pub use error::{Error, Result};
pub use lock::{DeadlockPolicy, LockError, LockMode, LockStats, LockTable};
pub use manager::{Durability, TxManager, TxOptions, TxStats, LOG_NAME, PAGE_LSN_SIZE};
pub use read::{PageRead, ReadTransaction};
pub use record::{LogRecord, TxnId, MAX_TXN};
pub use recovery::RecoveryReport;
pub use transaction::{Transaction, UNDO_IN_MEMORY};
pub use versions::SnapshotStats;
