//! Regressions found by the chapter 8 review: a write queued behind a drop, a keyspace
//! lookup racing a drop, and cuts of a `NoSync` commit that outlived it.
use std::sync::mpsc;

use kv_db::{Db, Options};
use kv_file::MemStorage;

fn small() -> Options {
    Options {
        block_size: Some(512),
        cache_pages: 64,
        ..Options::default()
    }
}

/// A writer that queued behind a drop's lock on the meta page, with a snapshot open (so the
/// file's removal is deferred), commits its put into the dropped keyspace: acknowledged,
/// then gone.
#[test]
fn a_put_queued_behind_a_drop_commits_into_the_dropped_keyspace() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let ks = db.keyspace("x").unwrap();
    db.transaction(|tx| ks.put(tx, b"old", b"1")).unwrap();
    let snapshot = db.begin_read().unwrap(); // defers the file's removal
    let (waits_tx, waits) = mpsc::channel();
    db.tx_manager().locks().set_wait_observer(move |txn| {
        let _ = waits_tx.send(txn);
    });
    let mut reader = db.begin().unwrap();
    ks.get(&mut reader, b"old").unwrap(); // S on the meta page
    std::thread::scope(|s| {
        let dropper = s.spawn(|| db.drop_keyspace("x"));
        waits.recv().unwrap(); // the drop waits (upgrade to X on the meta page)
        let writer = s.spawn(|| {
            let mut tx = db.begin().unwrap();
            let put = ks.put(&mut tx, b"new", b"2");
            let commit = tx.commit();
            (put, commit)
        });
        waits.recv().unwrap(); // the writer queues behind the drop
        reader.commit().unwrap();
        assert!(dropper.join().unwrap().unwrap());
        let (put, commit) = writer.join().unwrap();
        println!("put: {put:?}, commit: {commit:?}");
        assert!(
            put.is_err(),
            "the put into the dropped keyspace was acknowledged"
        );
    });
    drop(snapshot);
}

/// A storage that stops the data-file writes and syncs of the thread named "finder" until
/// the gate opens (log writes go through): a pause of that thread after its commit.
#[derive(Debug, Clone)]
struct Gated {
    inner: MemStorage,
    gate: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

#[derive(Debug)]
struct GatedFile {
    name: String,
    inner: std::sync::Arc<dyn kv_file::StorageFile>,
    gate: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl GatedFile {
    fn pass(&self) {
        let finder = std::thread::current().name() == Some("finder");
        if finder && !self.name.starts_with("wal") {
            let (closed, opened) = &*self.gate;
            let mut closed = closed.lock().unwrap();
            while *closed {
                closed = opened.wait(closed).unwrap();
            }
        }
    }
}

impl kv_file::StorageFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.pass();
        self.inner.write_at(buf, offset)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.pass();
        self.inner.set_len(len)
    }
    fn sync(&self) -> std::io::Result<()> {
        self.pass();
        self.inner.sync()
    }
}

impl kv_file::Storage for Gated {
    fn open_file(&self, name: &str) -> std::io::Result<std::sync::Arc<dyn kv_file::StorageFile>> {
        Ok(std::sync::Arc::new(GatedFile {
            name: name.to_owned(),
            inner: self.inner.open_file(name)?,
            gate: self.gate.clone(),
        }))
    }
    fn exists(&self, name: &str) -> std::io::Result<bool> {
        self.inner.exists(name)
    }
    fn remove_file(&self, name: &str) -> std::io::Result<()> {
        self.inner.remove_file(name)
    }
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.inner.list()
    }
    fn lock(&self) -> std::io::Result<Box<dyn kv_file::StorageLock>> {
        self.inner.lock()
    }
    fn describe(&self, name: &str) -> String {
        self.inner.describe(name)
    }
}

/// `Db::keyspace` racing `Db::drop_keyspace`: the handle `keyspace` found before the drop is
/// put in the open-handle map after the drop emptied it. From then on `db.keyspace("x")`
/// hands out that stale, "live" handle: puts through it commit, into a file the catalog no
/// longer names, which the next open removes as an orphan.
#[test]
fn keyspace_racing_drop_leaves_a_stale_live_handle() {
    use kv_file::BlockId;
    use kv_tx::LockMode;
    let storage = MemStorage::new();
    let options = Options {
        checkpoint_bytes: 1, // every commit checkpoints: the finder's pauses in it
        ..small()
    };
    let db = Db::open_on(storage.clone(), options).unwrap();
    let x = db.keyspace("x").unwrap();
    db.transaction(|tx| x.put(tx, b"k", b"v")).unwrap();
    let files = db.tx_manager().file_manager().storage().list().unwrap();
    assert!(files.contains(&"ks2".to_owned()), "{files:?}");
    drop(x);
    drop(db);
    let gated = Gated {
        inner: storage.clone(),
        gate: Default::default(),
    };
    // Reopened: no handle of "x" given out yet.
    let db = Db::open_on(gated.clone(), options).unwrap();
    let snapshot = db.begin_read().unwrap(); // keeps the dropped file, deterministically

    let (waits_tx, waits) = mpsc::channel();
    db.tx_manager().locks().set_wait_observer(move |txn| {
        let _ = waits_tx.send(txn);
    });
    let mgr = db.tx_manager();
    let mut blocker = mgr.begin().unwrap();
    blocker
        .lock(&BlockId::new("ks2", 0), LockMode::Exclusive)
        .unwrap();
    *gated.gate.0.lock().unwrap() = true;
    std::thread::scope(|s| {
        let finder = std::thread::Builder::new()
            .name("finder".into())
            .spawn_scoped(s, || db.keyspace("x"))
            .unwrap();
        waits.recv().unwrap(); // the finder read the catalog, waits for x's meta page
        let dropper = s.spawn(|| db.drop_keyspace("x"));
        waits.recv().unwrap(); // so does the drop
        blocker.rollback().unwrap();
        assert!(dropper.join().unwrap().unwrap()); // dropped, handle map emptied
        *gated.gate.0.lock().unwrap() = false;
        gated.gate.1.notify_all();
        finder.join().unwrap().unwrap(); // ... and the finder's handle goes in the map now
    });
    drop(snapshot);
    let stale = db.keyspace("x").unwrap();
    db.transaction(|tx| stale.put(tx, b"acknowledged", b"yes"))
        .unwrap();
    let mut r = db.begin_read().unwrap();
    assert_eq!(
        stale.get(&mut r, b"acknowledged").unwrap(),
        Some(b"yes".to_vec())
    );
    drop(r);
    drop(stale);
    drop(db);
    let db = Db::open_on(storage, options).unwrap();
    let x = db.keyspace("x").unwrap();
    let got = x
        .get(&mut db.begin_read().unwrap(), b"acknowledged")
        .unwrap();
    assert_eq!(got, Some(b"yes".to_vec()), "a committed put vanished");
}

fn no_sync() -> Options {
    Options {
        durability: kv_db::Durability::NoSync,
        ..small()
    }
}

/// With `Durability::NoSync` the compaction's commit record may still be in memory when the
/// file is cut (and the cut is synced): a power cut then loses the compaction but keeps the
/// cut, and the tree's old layout points past the end of its file.
#[test]
fn no_sync_compaction_cut_outlives_its_commit() {
    use kv_file::Crash;
    let storage = MemStorage::new();
    let db = Db::open_on(storage.clone(), no_sync()).unwrap();
    let ks = db.default_keyspace();
    db.transaction(|tx| {
        for i in 0..300u32 {
            ks.put(tx, format!("key{i:05}").as_bytes(), &[i as u8; 100])?;
        }
        Ok(())
    })
    .unwrap();
    db.transaction(|tx| {
        for i in (0..300u32).filter(|i| i % 10 != 0) {
            ks.delete(tx, format!("key{i:05}").as_bytes())?;
        }
        Ok(())
    })
    .unwrap();
    db.checkpoint().unwrap(); // everything durable, in the old layout
    let report = db.compact().unwrap();
    assert!(
        report.reclaimed() > 0 && report.pages_moved > 0,
        "{report:?}"
    );
    drop(db);
    storage.crash(Crash::power_loss());
    let db = Db::open_on(storage, no_sync()).unwrap();
    let ks = db.default_keyspace();
    let mut r = db.begin_read().unwrap();
    let got: Result<Vec<_>, _> = ks.range(&mut r, ..).unwrap().collect();
    println!("after the crash: {:?}", got.as_ref().map(Vec::len));
    assert_eq!(got.unwrap().len(), 30);
}

/// The same for a drop: the drop is lost, the file removal is not — the catalog names a
/// keyspace whose file is gone.
#[test]
fn no_sync_drop_removes_the_file_of_a_keyspace_that_survives() {
    use kv_file::Crash;
    let storage = MemStorage::new();
    let db = Db::open_on(storage.clone(), no_sync()).unwrap();
    let x = db.keyspace("x").unwrap();
    db.transaction(|tx| x.put(tx, b"k", b"v")).unwrap();
    db.checkpoint().unwrap();
    assert!(db.drop_keyspace("x").unwrap());
    drop(x);
    drop(db);
    storage.crash(Crash::power_loss());
    let db = Db::open_on(storage, no_sync()).unwrap();
    // Either the drop survived, or the keyspace did, whole.
    let names = db.keyspaces().unwrap();
    println!("keyspaces: {names:?}");
    if names.contains(&"x".to_owned()) {
        let x = db.keyspace("x");
        println!("keyspace(\"x\"): {:?}", x.as_ref().err());
        let got = x.unwrap().get(&mut db.begin_read().unwrap(), b"k").unwrap();
        assert_eq!(got, Some(b"v".to_vec()));
    }
    assert!(db.check().unwrap().is_ok());
}

/// Found by the review of the fuzz targets: `put` and `put_in(&db.default_keyspace())` were
/// sorted as two keyspaces, the first always before the second, so a later `put_in` lost to
/// an earlier `put` of the same key.
#[test]
fn in_a_batch_the_last_change_to_a_default_key_wins_however_it_was_named() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let default = db.default_keyspace();
    let mut batch = kv_db::WriteBatch::new();
    batch.put_in(&default, b"k", b"first").put(b"k", b"second");
    batch.put(b"j", b"first").put_in(&default, b"j", b"second");
    batch.put(b"gone", b"x").delete_in(&default, b"gone");
    db.write(&batch).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"second".to_vec()));
    assert_eq!(db.get(b"j").unwrap(), Some(b"second".to_vec()));
    assert_eq!(db.get(b"gone").unwrap(), None);
}
