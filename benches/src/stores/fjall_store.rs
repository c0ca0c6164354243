//! fjall: a pure-Rust LSM tree (journal, memtables, sorted tables merged in the background),
//! the log-structured store a Rust user would otherwise pick.
//!
//! A write transaction is one atomic write batch, committed with `PersistMode::SyncData`:
//! the journal is `fdatasync`ed before `commit` returns — the same system call KanthorKV's
//! log and the raw baseline use (fjall's default only hands the journal to the OS). Reads go
//! through a snapshot, so a read transaction sees one point in time, as the others' do.
//! Compaction is `Keyspace::major_compact`, after flushing the memtable so that it too is
//! merged; fjall marks it `#[doc(hidden)]` (it compacts by itself, in the background), but it
//! is public and is the one way to ask for a full merge.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, Snapshot};

use crate::store::{Reader, Store, Writer};

/// A fjall database in the directory, and the one keyspace (an LSM tree) the pairs go in.
pub struct Fjall {
    /// The database: the journal, and the writer of atomic batches across keyspaces.
    db: Database,
    /// The keyspace every workload uses.
    keyspace: Keyspace,
}

impl Fjall {
    /// Opens (creates) the database in `dir`, with the block cache every store gets.
    pub fn open(dir: &Path) -> Fjall {
        let db = Database::builder(dir.join("fjall"))
            .cache_size(crate::store::CACHE_BYTES as u64)
            .open()
            .expect("open fjall");
        let keyspace = db
            .keyspace("bench", KeyspaceCreateOptions::default)
            .expect("open keyspace");
        Fjall { db, keyspace }
    }
}

/// A write transaction: the batch being filled, committed durably at the end.
struct W<'a> {
    /// The puts and removes so far, applied atomically by `commit`.
    batch: fjall::OwnedWriteBatch,
    /// Where they go.
    keyspace: &'a Keyspace,
}

impl Writer for W<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.insert(self.keyspace, key, value);
    }
    fn delete(&mut self, key: &[u8]) {
        self.batch.remove(self.keyspace, key);
    }
}

/// A read transaction: every read at one point in time.
struct R<'a> {
    /// The point in time, held until the transaction ends.
    snapshot: Snapshot,
    /// Where the reads look.
    keyspace: &'a Keyspace,
}

impl Reader for R<'_> {
    fn get(&mut self, key: &[u8]) -> Option<usize> {
        self.snapshot
            .get(self.keyspace, key)
            .expect("get")
            .map(|v| v.len())
    }
    fn range(&mut self, start: &[u8], n: usize) -> usize {
        crate::store::count_entries(
            self.snapshot
                .range(self.keyspace, start..)
                .take(n)
                .map(|e| e.into_inner()),
        )
    }
}

impl Store for Fjall {
    fn name(&self) -> &'static str {
        "fjall"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        let mut w = W {
            batch: self.db.batch().durability(Some(PersistMode::SyncData)),
            keyspace: &self.keyspace,
        };
        f(&mut w);
        w.batch.commit().expect("commit");
    }
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader)) {
        f(&mut R {
            snapshot: self.db.snapshot(),
            keyspace: &self.keyspace,
        });
    }
    fn compact(&self) -> bool {
        self.keyspace.rotate_memtable_and_wait().expect("flush");
        self.keyspace.major_compact().expect("major_compact");
        true
    }
}
