//! Keyspaces: named, independent sets of keys — each its own B+tree in its own file — and
//! the operations on them, which take the transaction to work in.

use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use kv_index::{BTree, Index};
use kv_tx::{PageRead, ReadTransaction, Transaction};

use crate::{Error, Result};

/// A transaction of either kind, as the keyspace's read operations need it. (Sealed: the
/// database's [`Txn`](crate::Txn) and [`ReadTxn`](crate::ReadTxn) are the two kinds.)
pub trait Access: sealed::Sealed {
    /// The transaction layer's reader underneath.
    type Reader: PageRead;
    /// The reader, for the index to read pages through.
    fn reader(&mut self) -> &mut Self::Reader;
    /// The commit sequence number a snapshot reads at (`None`: a read-write transaction,
    /// which reads the latest): whether it still sees a keyspace dropped at some number.
    fn snapshot_seq(&self) -> Option<u64>;
}

mod sealed {
    /// Keeps `Access` to this crate's two transaction types.
    pub trait Sealed {}
}

impl sealed::Sealed for crate::Txn<'_> {}
impl sealed::Sealed for crate::ReadTxn<'_> {}

impl<'db> Access for crate::Txn<'db> {
    type Reader = Transaction<'db>;
    fn reader(&mut self) -> &mut Transaction<'db> {
        &mut self.tx
    }
    fn snapshot_seq(&self) -> Option<u64> {
        None
    }
}

impl<'db> Access for crate::ReadTxn<'db> {
    type Reader = ReadTransaction<'db>;
    fn reader(&mut self) -> &mut ReadTransaction<'db> {
        &mut self.tx
    }
    fn snapshot_seq(&self) -> Option<u64> {
        Some(self.tx.snapshot())
    }
}

/// A named keyspace. Cheap to clone; valid until the keyspace is dropped.
#[derive(Debug, Clone)]
pub struct Keyspace {
    /// Its name, as the application knows it.
    pub(crate) name: Arc<str>,
    /// Its B+tree.
    pub(crate) tree: BTree,
    /// The commit sequence number of the transaction that dropped the keyspace
    /// ([`LIVE`] until then), so a handle kept past the drop answers `NoSuchKeyspace` —
    /// except to snapshots older than the drop, which still see it. Shared by every handle
    /// `Db::keyspace` gave out for it.
    pub(crate) dropped: Arc<AtomicU64>,
    /// The commit sequence number of the transaction that created the keyspace (0 if it
    /// existed when this process found it), so a snapshot older than the creation answers
    /// `NoSuchKeyspace` — the keyspace did not exist at its moment — instead of reading the
    /// new file's blocks as they were then (zeroes) and reporting them corrupt. Shared by
    /// every handle, like `dropped`, so the creator can correct a handle another thread
    /// found first (see `Db::keyspace`).
    pub(crate) created: Arc<AtomicU64>,
}

/// `Keyspace::dropped` of a keyspace not dropped.
pub(crate) const LIVE: u64 = u64::MAX;
/// `Keyspace::dropped` while the drop commits: gone to read-write transactions; snapshots
/// (all older than the drop) still see it.
pub(crate) const DROPPING: u64 = u64::MAX - 1;
/// `Keyspace::created` until the creating transaction commits and its number is known.
pub(crate) const CREATING: u64 = u64::MAX;

// ANCHOR: keyspace_ops
impl Keyspace {
    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs an operation on the tree in `tx`, unless the keyspace was dropped as `tx` sees
    /// it (before the operation, or while it ran: it then failed on the removed file).
    fn run<T>(&self, snapshot: Option<u64>, op: impl FnOnce() -> kv_index::Result<T>) -> Result<T> {
        let gone = || match (self.dropped.load(SeqCst), snapshot) {
            (LIVE, _) => false,
            (_, None) => true,
            (dropped, Some(seen)) => seen >= dropped,
        };
        let unborn = snapshot.is_some_and(|seen| seen < self.created.load(SeqCst));
        if gone() || unborn {
            return Err(Error::NoSuchKeyspace(self.name.to_string()));
        }
        // Checked again after: a read-write operation that waited for the drop's locks got
        // them only once the drop had committed (and set `dropped`).
        match op() {
            _ if gone() => Err(Error::NoSuchKeyspace(self.name.to_string())),
            result => result.map_err(Into::into),
        }
    }

    /// The value of `key`, if any.
    pub fn get(&self, tx: &mut impl Access, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.run(tx.snapshot_seq(), || self.tree.get(tx.reader(), key))
    }

    /// The value of `key`, its page locked for writing first: for a read-modify-write (an
    /// increment), which would otherwise read under a shared lock and deadlock with another
    /// one when both upgrade to write.
    pub fn get_for_update(&self, tx: &mut crate::Txn<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.run(None, || self.tree.get_for_update(&mut tx.tx, key))
    }

    /// Stores `value` under `key`, replacing any value there.
    pub fn put(&self, tx: &mut crate::Txn<'_>, key: &[u8], value: &[u8]) -> Result<()> {
        self.run(None, || Index::put(&self.tree, &mut tx.tx, key, value))
    }

    /// Stores `value` under `key`; returns the value it replaced.
    pub fn insert(
        &self,
        tx: &mut crate::Txn<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        self.run(None, || self.tree.insert(&mut tx.tx, key, value))
    }

    /// Removes `key`; returns the value it had.
    pub fn take(&self, tx: &mut crate::Txn<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.run(None, || self.tree.delete(&mut tx.tx, key))
    }

    /// Removes `key`; whether it was there.
    pub fn delete(&self, tx: &mut crate::Txn<'_>, key: &[u8]) -> Result<bool> {
        self.run(None, || Index::remove(&self.tree, &mut tx.tx, key))
    }

    /// The entries with keys in `range`, in key order.
    pub fn range<'t, 'k, A: Access>(
        &self,
        tx: &'t mut A,
        range: impl RangeBounds<&'k [u8]>,
    ) -> Result<Iter<'t, A::Reader>> {
        self.run(tx.snapshot_seq(), || self.tree.range(tx.reader(), range))
            .map(Iter)
    }

    /// The entries with keys in `range`, in reverse key order.
    pub fn range_rev<'t, 'k, A: Access>(
        &self,
        tx: &'t mut A,
        range: impl RangeBounds<&'k [u8]>,
    ) -> Result<Iter<'t, A::Reader>> {
        self.run(tx.snapshot_seq(), || {
            self.tree.range_rev(tx.reader(), range)
        })
        .map(Iter)
    }

    /// The entries whose keys start with `prefix`, in key order.
    pub fn prefix<'t, A: Access>(
        &self,
        tx: &'t mut A,
        prefix: &[u8],
    ) -> Result<Iter<'t, A::Reader>> {
        self.run(tx.snapshot_seq(), || self.tree.prefix(tx.reader(), prefix))
            .map(Iter)
    }

    /// The number of entries: a scan of every leaf (no count is kept; see `BTree::len`).
    pub fn len(&self, tx: &mut impl Access) -> Result<u64> {
        self.run(tx.snapshot_seq(), || self.tree.len(tx.reader()))
    }

    /// Whether the keyspace has no entries.
    pub fn is_empty(&self, tx: &mut impl Access) -> Result<bool> {
        self.run(tx.snapshot_seq(), || self.tree.is_empty(tx.reader()))
    }
}
// ANCHOR_END: keyspace_ops

/// Entries of a range or prefix scan, `(key, value)`, or the error that ended it.
pub struct Iter<'t, R: PageRead>(kv_index::Range<'t, R>);

impl<R: PageRead> Iterator for Iter<'_, R> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|entry| entry.map_err(Error::from))
    }
}

impl<R: PageRead> std::fmt::Debug for Iter<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
