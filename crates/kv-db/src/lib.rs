//! # kv-db: the embedded key-value database
//!
//! Chapter 8 of the book: the layers below put together into the database an application
//! embeds. Keys and values are byte strings, kept in order in named **keyspaces** (each a
//! B+tree of chapter 7 in its own file); **transactions** are serializable (chapter 6) and
//! durable (chapter 5); read-only transactions read a snapshot and never wait.
//!
//! ```
//! use kv_db::{Db, WriteBatch};
//!
//! # fn main() -> kv_db::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path())?; // created if missing; recovered after a crash
//! db.put(b"greeting", b"hello")?; // one durable transaction
//! assert_eq!(db.get(b"greeting")?, Some(b"hello".to_vec()));
//!
//! // A transaction: all or nothing, retried if it loses a deadlock.
//! db.transaction(|tx| {
//!     let n = tx.get(b"visits")?.map_or(0, |v| v[0]);
//!     tx.put(b"visits", &[n + 1])
//! })?;
//!
//! // Keyspaces keep applications' data apart; batches load many keys at once.
//! let users = db.keyspace("users")?;
//! let mut batch = WriteBatch::new();
//! batch.put_in(&users, b"ada", b"lovelace").put_in(&users, b"alan", b"turing");
//! db.write(&batch)?;
//!
//! let mut snapshot = db.begin_read()?;
//! let names: Vec<Vec<u8>> = users
//!     .prefix(&mut snapshot, b"a")?
//!     .map(|entry| entry.map(|(key, _)| key))
//!     .collect::<kv_db::Result<_>>()?;
//! assert_eq!(names, [b"ada".to_vec(), b"alan".to_vec()]);
//! # Ok(())
//! # }
//! ```
//!
//! ## Invariants
//!
//! - The **catalog** (a B+tree in file `catalog`) maps each keyspace name to a number `n`;
//!   the keyspace lives in file `ks<n>`. Creating or dropping a keyspace is a transaction on
//!   the catalog like any other: it commits or vanishes whole.
//! - A `Db` is one open database: the transaction manager, its log, its buffer pool and its
//!   lock on the directory; clones share them.
//! - A data file holds nothing but its tree: every block below the tree's high-water mark is
//!   used or on its free list; blocks past it are spare. So the file can be cut after the
//!   high-water mark — once no snapshot may still read the blocks there.
//! - A file named like a keyspace's (`ks<n>`) that the catalog does not name is an orphan
//!   (its keyspace was dropped while a snapshot could still read it, or a crash came between
//!   a drop's commit and the removal): removed at the next open or `compact`.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Keyspaces are separate B+trees in separate files**, not one tree with prefixed keys:
//!   dropping one is cheap, scans of one never read another's pages, and locks on one never
//!   conflict with another's. The price is a file per keyspace.
//! - **Operations live on `Keyspace` and take the transaction**, so one transaction can
//!   change many keyspaces atomically; `Txn`'s own methods are shortcuts to the default one.
//! - **`Db::transaction` retries deadlock victims** a bounded number of times: under strict
//!   2PL, deadlocks are normal, and the caller should not have to write the loop.
//! - **Errors are sorted by what the caller can do**: `Deadlock` and `SnapshotTooOld` are
//!   retryable; limits are their own variants; everything else is `Storage`, with context.
//! - **Compaction moves pages within each file** (`BTree::compact`) and cuts the file at
//!   commit (`Transaction::cut_at_commit`), rather than rebuilding each keyspace into a new
//!   file: no second copy of the data on disk, and `Keyspace` handles stay valid. The file
//!   system cannot be rolled back, so cuts (and the removal of a dropped keyspace's file) wait
//!   until the commit is durable, and are skipped — left for the next compaction — while an
//!   older snapshot may read the blocks.
//!
//! ## CAVEATS
//!
//! - Compaction moves pages but does not merge half-empty nodes (exercise 8.1), and holds
//!   each keyspace exclusively while it runs: writers to it wait, and a compactor run in a
//!   loop starves writers that need to upgrade the meta page's lock (they lose deadlock after
//!   deadlock to it). Run it as maintenance, not continuously.
//! - A cut held back by an old snapshot waits for the next `compact` (exercise 8.3).
//! - `Db::stats` reads every keyspace's meta page and free list; `Keyspace::len` scans.
//! - A transaction borrows its `Db`; long-lived transactions across threads need scoped threads.

mod batch;
mod catalog;
mod db;
mod error;
mod keyspace;
mod maintenance;
mod txn;

pub use batch::WriteBatch;
pub use db::{Db, Options, DEFAULT_KEYSPACE, MAX_ATTEMPTS};
pub use error::{Error, Result};
pub use keyspace::{Access, Iter, Keyspace};
pub use kv_index::CheckReport;
pub use kv_tx::{DeadlockPolicy, Durability};
pub use maintenance::{CompactReport, DbCheck, DbStats};
pub use txn::{ReadTxn, Txn};
