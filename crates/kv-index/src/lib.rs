//! # kv-index: the B+tree and the extendible hash index
//!
//! Chapter 7 of the book. An index maps byte-string keys to byte-string values inside one
//! file of the database, and every page it changes goes through a [`kv_tx::Transaction`]:
//! so an index inherits atomicity and durability (chapter 5), isolation by page locks
//! (chapter 6), and — read through a [`kv_tx::ReadTransaction`] — snapshot reads, without a
//! line of its own code for any of them.
//!
//! ```
//! use kv_file::MemStorage;
//! use kv_index::{BTree, Index};
//! use kv_tx::{TxManager, TxOptions};
//!
//! # fn main() -> Result<(), kv_index::Error> {
//! let db = TxManager::open_with(MemStorage::new(), TxOptions::default())?;
//! let mut tx = db.begin()?;
//! let tree = BTree::create(&mut tx, "users")?;
//! tree.insert(&mut tx, b"ada", b"lovelace")?;
//! tree.insert(&mut tx, b"alan", b"turing")?;
//! tx.commit()?;
//!
//! let mut snapshot = db.begin_read_only()?;
//! assert_eq!(tree.get(&mut snapshot, b"ada")?, Some(b"lovelace".to_vec()));
//! let names: Vec<_> = tree.prefix(&mut snapshot, b"a")?.map(|e| e.unwrap().0).collect();
//! assert_eq!(names, [b"ada".to_vec(), b"alan".to_vec()]);
//! # Ok(())
//! # }
//! ```
//!
//! Two structures, one [`Index`] trait for point operations:
//!
//! - [`BTree`]: a B+tree on slotted pages. Keys in byte order; values in the leaves (or, when
//!   large, in overflow page chains); leaves linked both ways for range scans in either
//!   direction; splits on insert, merges and redistribution on delete, a free-page list.
//! - [`HashIndex`]: extendible hashing. Point operations only; a lookup reads four pages
//!   (meta, directory index, directory entries, bucket) whatever the index's size.
//!
//! ## Invariants (what [`BTree::check`] verifies)
//!
//! - Keys are strictly increasing within a node, and within the bounds its parent's
//!   separators give it: child `i` of an internal node holds keys `≥ separator i-1` and
//!   `< separator i`.
//! - Every leaf is at the same depth; no node but the root is empty; an internal root has
//!   at least one separator (a root with one child gives way to it).
//! - The leaf links chain exactly the leaves, in key order, both ways.
//! - Every block below the high-water mark is used exactly once: the meta page, a node, a
//!   page of one overflow chain, or a free page. None is lost, none is shared.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Lookups search the page in place; leaf inserts and deletes edit it in place** (a cell
//!   into the free gap, a slot shifted), logging only those bytes. **Everything else** —
//!   splits, merges, redistribution, a leaf whose gap is too small — decodes the node,
//!   changes it in memory and re-encodes it (packing its cells), writing only the runs of
//!   bytes that differ. Editing every case in place would spread page-format code through
//!   every algorithm; decoding every case logged whole pages for one-key inserts.
//! - **Split by bytes, not by count**: keys and values vary in size, so a node splits where
//!   its bytes halve. Limits are chosen so that any three of the largest cells fit in a page:
//!   a split then always leaves both halves fitting.
//! - **Merge or redistribute below a quarter full**, not only when empty: a tree that only
//!   merges empty nodes keeps many nearly-empty pages after deletes.
//! - **Large values in overflow chains**, not in the leaves, so leaves keep a high fan-out
//!   and a scan of keys never reads the large values.
//! - **A free-page list in the file** (head in the meta page, links in the free pages):
//!   freed pages are reused before the file grows. [`BTree::compact`] moves live pages down
//!   into the holes so the file can be cut; the database (chapter 8) cuts it at commit.
//! - **No count of entries**: `len` is a scan. A count in the meta page would make every
//!   insert and delete write — and lock — that one page.
//! - **A high-water mark** in the meta page: appending a block is not undone by a rollback,
//!   so blocks past the mark are spare and reused, not lost.
//!
//! ## CAVEATS
//!
//! - Concurrency: leaves are locked by chapter 6's page locks, to the end of the
//!   transaction (a writer locks its leaf exclusively *before* reading it, so two writers
//!   of one leaf queue rather than deadlock upgrading; `get_for_update` does the same for a
//!   read-modify-write). The meta page and inner nodes are read without locks and checked
//!   by page LSN once the leaf is held (see `descend`); a split or merge locks the parent it
//!   changes, and finding its child moved away is a retryable `Error::Conflict`. Splitters
//!   serialize on the meta page (allocation), and a merge and a split meeting at one parent
//!   can deadlock (`Error::is_retryable`). B-link trees (right links and high keys) would
//!   let a descent that raced a split move right instead of starting over.
//! - Lookups read pages in place, but writes copy the page they change out of the buffer
//!   pool (4 KiB), and splits, merges and full leaves decode and re-encode it.
//! - Random inserts are dominated by the transaction layer, not the tree: the first change of
//!   a page after a checkpoint logs a full image of it, and a writer keeps a copy of each page
//!   it changes for snapshot readers (see the chapter's figures).
//! - Sequential inserts leave leaves half full (the split is even); bulk loading is an
//!   exercise.
//! - A value of up to 64 MiB is written through the log: twice its size in log volume
//!   (before-images of fresh pages are zeroes, but logged).

mod btree;
mod check;
mod compact;
mod cycle;
mod error;
mod hash;
mod iter;
mod lookup;
mod node;
mod overflow;
mod page;

pub use btree::BTree;
pub use check::CheckReport;
pub use compact::{Compaction, Space};
pub use error::{Error, Result};
pub use hash::{HashCheckReport, HashIndex};
pub use iter::Range;
pub use overflow::MAX_VALUE;

use kv_tx::{PageRead, Transaction};

// ANCHOR: index
/// Point operations every index offers, whatever its structure. Reads take any
/// [`PageRead`] — a read-write transaction (locking) or a read-only snapshot.
pub trait Index {
    /// The value stored under `key`, if any.
    fn get(&self, tx: &mut impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`, returning the value it replaced.
    fn insert(&self, tx: &mut Transaction<'_>, key: &[u8], value: &[u8])
        -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key` without reading the value it replaces (a large replaced
    /// value is freed unread).
    fn put(&self, tx: &mut Transaction<'_>, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`, returning its value.
    fn delete(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Removes `key` without reading its value; whether it was there.
    fn remove(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<bool>;
}
// ANCHOR_END: index
