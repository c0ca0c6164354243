//! KanthorKV: the default keyspace of a `kv_db::Db` (NoSync for non-durable workloads).

use std::path::Path;

use kv_db::{Db, Durability, Options, Txn};

use crate::store::{Reader, Store, Writer};

/// KanthorKV with a 256 MiB cache (the others' order of magnitude), every commit durable.
pub struct Kanthor {
    db: Db,
}

impl Kanthor {
    /// Opens (creates) the database in `dir`.
    pub fn open(dir: &Path) -> Kanthor {
        let options = Options {
            cache_pages: 1 << 16,
            durability: Durability::Sync,
            ..Options::default()
        };
        Kanthor {
            db: Db::open_with(dir, options).expect("open kanthorkv"),
        }
    }
}

struct W<'a, 'db>(&'a mut Txn<'db>);

impl Writer for W<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).expect("put");
    }
    fn delete(&mut self, key: &[u8]) {
        self.0.delete(key).expect("delete");
    }
}

struct R<'a, 'db>(&'a mut kv_db::ReadTxn<'db>);

impl Reader for R<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("get").map(|v| v.len())
    }
    fn range(&mut self, start: &[u8], n: usize) -> usize {
        self.0
            .range(start..)
            .expect("range")
            .take(n)
            .fold(0, |n, e| {
                e.expect("entry");
                n + 1
            })
    }
}

impl Store for Kanthor {
    fn name(&self) -> &'static str {
        "kanthorkv"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        let mut tx = self.db.begin().expect("begin");
        f(&mut W(&mut tx));
        tx.commit().expect("commit");
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
