//! SQLite (bundled, through rusqlite): a `WITHOUT ROWID` table keyed by the key, WAL mode,
//! `synchronous=FULL` (every commit durable).
//!
//! A connection per thread, as SQLite is meant to be used from several threads: a
//! transaction takes an idle connection from a pool (or opens one) and gives it back after,
//! so readers on two threads read side by side. SQLite has one writer at a time: a write
//! transaction begins `IMMEDIATE` (takes the write lock first, so it never has to give up
//! half-way) and waits up to a minute for the lock (`busy_timeout`), so concurrent
//! committers queue instead of failing with `SQLITE_BUSY`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::store::{Reader, Store, Writer};

/// An SQLite database file in the directory, and its idle connections.
pub struct Sqlite {
    /// The database file, for the connections opened later.
    path: PathBuf,
    /// Connections no transaction is using; a transaction takes one and puts it back.
    idle: Mutex<Vec<Connection>>,
}

/// How long a writer waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

impl Sqlite {
    /// Creates the database file in `dir`.
    pub fn open(dir: &Path) -> Sqlite {
        let path = dir.join("sqlite.db");
        let conn = connect(&path);
        // WAL is a property of the file: set once, every later connection is in WAL too.
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID",
            [],
        )
        .expect("create table");
        Sqlite {
            path,
            idle: Mutex::new(vec![conn]),
        }
    }

    /// Runs `f` on an idle connection (a new one if every other is busy), then gives it back.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let taken = self.idle.lock().expect("not poisoned").pop();
        let mut conn = taken.unwrap_or_else(|| connect(&self.path));
        let out = f(&mut conn);
        self.idle.lock().expect("not poisoned").push(conn);
        out
    }
}

/// A connection with the per-connection settings: durable commits, waiting for the lock.
fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    conn.busy_timeout(BUSY_TIMEOUT).expect("busy_timeout");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("FULL");
    // Its page cache, in KiB when negative: the same size as every store's.
    conn.pragma_update(
        None,
        "cache_size",
        -((crate::store::CACHE_BYTES / 1024) as i64),
    )
    .expect("cache_size");
    conn
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
        crate::store::count_entries(rows)
    }
}

impl Store for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer)) {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin immediate");
            f(&mut W(&tx));
            tx.commit().expect("commit");
        })
    }
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader)) {
        self.with_conn(|conn| {
            let tx = conn.transaction().expect("begin");
            f(&mut R(&tx));
        })
    }
    fn compact(&self) -> bool {
        self.with_conn(|conn| {
            conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
                .expect("vacuum")
        });
        true
    }
}
