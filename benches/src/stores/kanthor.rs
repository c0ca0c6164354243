//! KanthorKV: the default keyspace of a `kv_db::Db`, every commit durable. Writes go through
//! `Db::transaction`, which runs a transaction again when it loses a deadlock — what a user
//! with many committers writes, and what the 16-thread workload needs.

use std::path::Path;

use kv_db::{Db, Durability, Options, Txn};

use crate::store::{Reader, Store, Writer};

/// KanthorKV with the same cache as every store (`CACHE_BYTES`), every commit durable.
pub struct Kanthor {
    db: Db,
}

impl Kanthor {
    /// Opens (creates) the database in `dir`.
    pub fn open(dir: &Path) -> Kanthor {
        let options = Options {
            cache_pages: crate::store::CACHE_BYTES / 4096,
            durability: Durability::Sync,
            ..Options::default()
        };
        Kanthor {
            db: Db::open_with(dir, options).expect("open kanthorkv"),
        }
    }
}

/// A write transaction and its first error: the rest of the work is skipped, and the error
/// handed to `Db::transaction`, which retries the transaction if it can.
struct W<'a, 'db> {
    /// The transaction the puts and deletes go to.
    tx: &'a mut Txn<'db>,
    /// The first error, after which the rest of the work is skipped.
    failed: Option<kv_db::Error>,
}

impl Writer for W<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        if self.failed.is_none() {
            self.failed = self.tx.put(key, value).err();
        }
    }
    fn delete(&mut self, key: &[u8]) {
        if self.failed.is_none() {
            self.failed = self.tx.delete(key).err();
        }
    }
}

struct R<'a, 'db>(&'a mut kv_db::ReadTxn<'db>);

impl Reader for R<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("get").map(|v| v.len())
    }
    fn range(&mut self, start: &[u8], n: usize) -> usize {
        crate::store::count_entries(self.0.range(start..).expect("range").take(n))
    }
}

impl Store for Kanthor {
    fn name(&self) -> &'static str {
        "kanthorkv"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        self.db
            .transaction(|tx| {
                let mut w = W { tx, failed: None };
                f(&mut w);
                w.failed.map_or(Ok(()), Err)
            })
            .expect("commit");
    }
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader)) {
        let mut tx = self.db.begin_read().expect("begin_read");
        f(&mut R(&mut tx));
    }
    fn compact(&self) -> bool {
        self.db.compact().expect("compact");
        true
    }
}
