//! sled: a log-structured B-tree; a write transaction is an atomic batch, made durable by
//! `flush` (its commits are not durable by themselves).

use std::path::Path;

use crate::store::{Reader, Store, Writer};

/// A sled database in the directory.
pub struct Sled {
    db: sled::Db,
}

impl Sled {
    /// Opens (creates) the database in `dir`.
    pub fn open(dir: &Path) -> Sled {
        Sled {
            db: sled::Config::new()
                .path(dir.join("sled"))
                .cache_capacity(crate::store::CACHE_BYTES as u64)
                .open()
                .expect("open sled"),
        }
    }
}

struct W(sled::Batch);

impl Writer for W {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.insert(key, value);
    }
    fn delete(&mut self, key: &[u8]) {
        self.0.remove(key);
    }
}

struct R<'a>(&'a sled::Db);

impl Reader for R<'_> {
    fn get(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("get").map(|v| v.len())
    }
    fn range(&mut self, start: &[u8], n: usize) -> usize {
        crate::store::count_entries(self.0.range(start..).take(n))
    }
}

impl Store for Sled {
    fn name(&self) -> &'static str {
        "sled"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        let mut batch = W(sled::Batch::default());
        f(&mut batch);
        self.db.apply_batch(batch.0).expect("apply_batch");
        self.db.flush().expect("flush");
    }
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader)) {
        f(&mut R(&self.db));
    }
    fn compact(&self) -> bool {
        false // sled compacts its log by itself, in the background
    }
}
