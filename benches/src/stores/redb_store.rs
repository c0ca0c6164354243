//! redb: a copy-on-write B-tree in one file; every commit durable (its default).

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::store::{Reader, Store, Writer};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// A redb database file in the directory.
pub struct Redb {
    db: std::sync::Mutex<Database>,
}

impl Redb {
    /// Creates the database file in `dir`.
    pub fn open(dir: &Path) -> Redb {
        let db = redb::Builder::new()
            .set_cache_size(crate::store::CACHE_BYTES)
            .create(dir.join("redb.db"))
            .expect("create redb");
        Redb {
            db: std::sync::Mutex::new(db),
        }
    }
}

struct W<'a, 'txn>(&'a mut redb::Table<'txn, &'static [u8], &'static [u8]>);

impl Writer for W<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.insert(key, value).expect("insert");
    }
    fn delete(&mut self, key: &[u8]) {
        self.0.remove(key).expect("remove");
    }
}

struct R<'a>(&'a redb::ReadOnlyTable<&'static [u8], &'static [u8]>);

impl Reader for R<'_> {
    fn get(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("get").map(|v| v.value().len())
    }
    fn range(&mut self, start: &[u8], n: usize) -> usize {
        self.0
            .range(start..)
            .expect("range")
            .take(n)
            .map(|e| {
                let (k, v) = e.expect("entry");
                k.value().len() + v.value().len()
            })
            .count()
    }
}

impl Store for Redb {
    fn name(&self) -> &'static str {
        "redb"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        let db = self.db.lock().expect("not poisoned");
        let txn = db.begin_write().expect("begin_write");
        {
            let mut table = txn.open_table(TABLE).expect("open_table");
            f(&mut W(&mut table));
        }
        txn.commit().expect("commit");
    }
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader)) {
        let txn = self
            .db
            .lock()
            .expect("not poisoned")
            .begin_read()
            .expect("begin_read");
        let table = txn.open_table(TABLE).expect("open_table");
        f(&mut R(&table));
    }
    fn compact(&self) -> bool {
        self.db
            .lock()
            .expect("not poisoned")
            .compact()
            .expect("compact")
    }
}
