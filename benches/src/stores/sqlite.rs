//! SQLite (bundled, through rusqlite): a `WITHOUT ROWID` table keyed by the key, WAL mode,
//! `synchronous=FULL` (every commit durable). One connection behind a mutex: readers on
//! several threads take turns (a connection per thread would be fairer; noted in the book).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{Reader, Store, Writer};

/// An SQLite database file in the directory.
pub struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    /// Creates the database file in `dir`.
    pub fn open(dir: &Path) -> Sqlite {
        let conn = Connection::open(dir.join("sqlite.db")).expect("open sqlite");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        conn.pragma_update(None, "synchronous", "FULL")
            .expect("FULL");
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID",
            [],
        )
        .expect("create table");
        Sqlite {
            conn: Mutex::new(conn),
        }
    }
}

struct W<'a>(&'a rusqlite::Transaction<'a>);

impl Writer for W<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let mut insert = self
            .0
            .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            .expect("prepare");
        insert.execute(params![key, value]).expect("insert");
    }
    fn delete(&mut self, key: &[u8]) {
        let mut delete = self
            .0
            .prepare_cached("DELETE FROM kv WHERE k = ?1")
            .expect("prepare");
        delete.execute(params![key]).expect("delete");
    }
}

struct R<'a>(&'a Connection);

impl Reader for R<'_> {
    fn get(&mut self, key: &[u8]) -> Option<usize> {
        let mut get = self
            .0
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")
            .expect("prepare");
        get.query_row(params![key], |row| {
            row.get::<_, Vec<u8>>(0).map(|v| v.len())
        })
        .optional()
        .expect("select")
    }
    fn range(&mut self, start: &[u8], n: usize) -> usize {
        let mut range = self
            .0
            .prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")
            .expect("prepare");
        let rows = range
            .query_map(params![start, n as i64], |row| {
                Ok(row.get::<_, Vec<u8>>(0)?.len() + row.get::<_, Vec<u8>>(1)?.len())
            })
            .expect("query");
        rows.fold(0, |n, r| {
            r.expect("row");
            n + 1
        })
    }
}

impl Store for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        let mut conn = self.conn.lock().expect("not poisoned");
        let tx = conn.transaction().expect("begin");
        f(&mut W(&tx));
        tx.commit().expect("commit");
    }
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader)) {
        let mut conn = self.conn.lock().expect("not poisoned");
        let tx = conn.transaction().expect("begin");
        f(&mut R(&tx));
        drop(tx);
    }
    fn compact(&self) -> bool {
        let conn = self.conn.lock().expect("not poisoned");
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
            .expect("vacuum");
        true
    }
}
