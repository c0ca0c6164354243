//! The databases the targets damage, and what every target does with a database it opened.
//!
//! Each base database is built once per process (a fuzzer runs millions of inputs) from a
//! fixed workload, so an input means the same thing on every run and every machine; each
//! input gets its own [`MemStorage::fork`] of it.

use std::sync::OnceLock;

use kv_db::{Db, Options, WriteBatch};
use kv_file::{Crash, MemStorage, Storage};

/// The simulated disk's size: a forged record or length that would grow a file past it
/// gets "disk full" instead of exhausting the fuzzing machine's memory.
pub const CAPACITY: u64 = 64 << 20;

/// The keyspaces of the base databases, the default one first.
pub const KEYSPACES: [&str; 3] = ["default", "a", "b"];

/// Small pages, so a page is a small input and the trees have several levels; a small
/// cache, so pages are evicted and read back (and verified) during the workload. The log
/// and snapshot limits are set here, well inside [`CAPACITY`], so that a change of their
/// defaults can never turn into "disk full" or "snapshot too old" on a healthy input.
pub fn options() -> Options {
    Options {
        block_size: Some(512),
        cache_pages: 24,
        checkpoint_bytes: 1 << 20,
        snapshot_memory: 8 << 20,
        ..Options::default()
    }
}

/// The value stored under key number `i`: sizes from empty to several pages (overflow
/// chains), so every kind of page is in the files.
fn value(i: u32) -> Vec<u8> {
    let len = match i % 17 {
        0 => 1500,
        5 => 0,
        n => (n * 7) as usize,
    };
    (0..len).map(|j| (i as usize + j) as u8).collect()
}

/// Writes the fixed workload: three keyspaces, 300 keys, deletions, a rollback, one
/// checkpoint in the middle.
fn workload(db: &Db) -> kv_db::Result<()> {
    for (n, name) in KEYSPACES.iter().enumerate() {
        let ks = db.keyspace(name)?;
        let mut batch = WriteBatch::new();
        for i in 0..100u32 {
            let key = format!("{name}-{:04}", i * 7 % 100 + n as u32);
            batch.put_in(&ks, key.as_bytes(), &value(i));
        }
        db.write(&batch)?;
    }
    db.checkpoint()?;
    let ks = db.keyspace("a")?;
    db.transaction(|tx| {
        for i in (0..100u32).step_by(3) {
            ks.delete(tx, format!("a-{i:04}").as_bytes())?;
        }
        ks.put(tx, b"a-late", &value(0))
    })?;
    let mut tx = db.begin()?;
    ks.put(&mut tx, b"a-rolled-back", b"never")?;
    tx.rollback()
}

/// A cleanly closed database: checkpointed, nothing to recover.
pub fn clean() -> MemStorage {
    static BASE: OnceLock<MemStorage> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let storage = MemStorage::new();
        let db = Db::open_on(storage.clone(), options()).expect("the base database opens");
        workload(&db).expect("the base workload runs");
        db.checkpoint().expect("the base database checkpoints");
        drop(db);
        storage
    });
    let disk = base.fork();
    disk.set_capacity(Some(CAPACITY));
    disk
}

/// A database whose process died after the workload: committed work after the last
/// checkpoint, and a transaction in flight, for recovery to redo and undo.
pub fn crashed() -> MemStorage {
    static BASE: OnceLock<MemStorage> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let storage = MemStorage::new();
        let db = Db::open_on(storage.clone(), options()).expect("the base database opens");
        workload(&db).expect("the base workload runs");
        let ks = db.keyspace("b").expect("keyspace b exists");
        let mut tx = db.begin().expect("a transaction begins");
        for i in 0..40u32 {
            ks.put(&mut tx, format!("b-{i:04}").as_bytes(), b"in flight")
                .expect("the in-flight transaction writes");
        }
        // Its changes reach the disk (the log forced first), as a page steal would do.
        db.tx_manager()
            .pool()
            .flush_all()
            .expect("the pool flushes");
        storage.crash(Crash::process_kill());
        drop(tx);
        drop(db);
        storage
    });
    let disk = base.fork();
    disk.set_capacity(Some(CAPACITY));
    disk
}

/// The files of `storage`, sorted, so an input's "file number 2" is always the same file.
pub fn files(storage: &MemStorage) -> Vec<String> {
    let mut names = storage.list().unwrap_or_default();
    names.sort();
    names
}

/// The files pages live in — data files and log segments, not the header — sorted: what a
/// log record may name. `with_log: false` leaves the log segments out too.
pub fn page_files(storage: &MemStorage, with_log: bool) -> Vec<String> {
    files(storage)
        .into_iter()
        .filter(|name| name != kv_file::HEADER_FILE && !name.starts_with('.'))
        .filter(|name| with_log || !name.starts_with(kv_tx::LOG_NAME))
        .collect()
}

/// Opens the database on `storage` and runs [`exercise`] on it; the first error. The
/// targets ignore it (the input may have damaged anything); the tests require `Ok` for an
/// undamaged input, so a bug that breaks healthy databases cannot hide behind the damage.
pub fn open_and_exercise(storage: MemStorage) -> kv_db::Result<()> {
    exercise(&Db::open_on(storage, options())?)
}

/// Everything a user might do with a database that opened: check it, read every keyspace
/// both ways, write and commit, checkpoint, compact. Any step may fail with an error (the
/// input may have damaged anything); none may panic. Returns the first error, for tests.
pub fn exercise(db: &Db) -> kv_db::Result<()> {
    let report = db.check()?;
    let names = db.keyspaces()?;
    let mut read = db.begin_read()?;
    for name in &names {
        let ks = db.keyspace(name)?;
        let mut forward = 0usize;
        for entry in ks.range(&mut read, ..)? {
            entry?;
            forward += 1;
        }
        let mut backward = 0usize;
        for entry in ks.range_rev(&mut read, ..)? {
            entry?;
            backward += 1;
        }
        // A sound tree reads the same entries both ways (a damaged one may differ, but
        // only if `check` said so).
        assert!(
            forward == backward || !report.is_ok(),
            "keyspace {name}: {forward} entries forward, {backward} backward, yet check() passed"
        );
        ks.get(&mut read, b"a-0007")?;
    }
    drop(read);
    let ks = db.keyspace("a")?;
    db.transaction(|tx| {
        for i in 0..30u32 {
            ks.put(tx, format!("a-{i:04}").as_bytes(), &value(i + 1))?;
        }
        ks.delete(tx, b"a-0010")?;
        Ok(())
    })?;
    db.checkpoint()?;
    db.compact()?;
    Ok(())
}
