//! Chapter 8 checkpoint: compaction gives space back, dropped keyspaces lose their files,
//! and neither loses a committed byte — with snapshots open, writers waiting, or the power
//! failing at any write.

use std::collections::BTreeMap;

use kv_db::{Db, Error, Options, WriteBatch};
use kv_file::{Crash, MemStorage};

fn small() -> Options {
    Options {
        block_size: Some(512),
        cache_pages: 64,
        ..Options::default()
    }
}

type Contents = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Keyspaces "a" and "b" (and the default one) filled, then mostly emptied, and "b"
/// dropped (its file removed at once: no snapshot was open): lots of free pages. Returns
/// what is left.
fn riddled(db: &Db) -> Contents {
    let mut contents = Contents::new();
    for name in ["a", "b", "default"] {
        let ks = db.keyspace(name).unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..400u32 {
            let value = match i % 9 {
                0 => vec![i as u8; 700], // an overflow chain
                _ => format!("{name} {i}").into_bytes(),
            };
            batch.put_in(&ks, format!("key{i:05}").as_bytes(), &value);
        }
        db.write(&batch).unwrap();
        let mut batch = WriteBatch::new();
        for i in (0..400u32).filter(|i| i % 10 != 3) {
            batch.delete_in(&ks, format!("key{i:05}").as_bytes());
        }
        db.write(&batch).unwrap();
    }
    assert!(db.drop_keyspace("b").unwrap());
    for name in ["a", "default"] {
        contents.insert(name.to_owned(), dump(db, name));
    }
    contents
}

fn dump(db: &Db, name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let ks = db.keyspace(name).unwrap();
    let mut r = db.begin_read().unwrap();
    let all = ks.range(&mut r, ..).unwrap().map(Result::unwrap).collect();
    all
}

fn assert_holds(db: &Db, contents: &Contents) {
    for (name, want) in contents {
        assert!(&dump(db, name) == want, "keyspace {name} changed");
    }
    assert_eq!(db.keyspaces().unwrap(), ["a", "default"]);
    let check = db.check().unwrap();
    assert!(check.is_ok(), "{check:#?}");
}

// ANCHOR: compaction_test
#[test]
fn compaction_gives_space_back_and_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small()).unwrap();
    let contents = riddled(&db);
    let before = db.stats().unwrap();
    assert!(before.free_pages > before.live_pages, "{before:?}");

    let report = db.compact().unwrap();
    assert_eq!(report.bytes_before, before.data_bytes);
    assert!(
        report.pages_moved > 0 && report.files_removed == 0,
        "{report:?}"
    );
    assert!(report.reclaimed() > before.data_bytes / 2, "{report:?}");
    assert_eq!(report.deferred, 0);
    let after = db.stats().unwrap();
    assert_eq!((after.free_pages, after.live_pages), (0, before.live_pages));
    assert_eq!(after.data_bytes, report.bytes_after);
    assert_holds(&db, &contents);

    // Packed already: nothing more to give back.
    let again = db.compact().unwrap();
    assert_eq!((again.reclaimed(), again.pages_moved), (0, 0));
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    assert_holds(&db, &contents);
}
// ANCHOR_END: compaction_test

#[test]
fn a_snapshot_older_than_a_keyspace_does_not_see_it() {
    // Found by the `model` fuzz target: the snapshot read the new keyspace's meta page as
    // it was at the snapshot's moment (not yet written) and reported it corrupt.
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let mut snapshot = db.begin_read().unwrap();
    let young = db.keyspace("young").unwrap();
    db.transaction(|tx| young.put(tx, b"k", b"v")).unwrap();
    let err = young.get(&mut snapshot, b"k").unwrap_err();
    assert!(
        matches!(&err, Error::NoSuchKeyspace(name) if name == "young"),
        "{err}"
    );
    assert!(young.range(&mut snapshot, ..).is_err());
    drop(snapshot);
    // Snapshots from after its creation see it, as do handles looked up again.
    let mut later = db.begin_read().unwrap();
    assert_eq!(young.get(&mut later, b"k").unwrap(), Some(b"v".to_vec()));
    let again = db.keyspace("young").unwrap();
    assert_eq!(again.get(&mut later, b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_snapshot_keeps_a_dropped_keyspace_readable_until_it_ends() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let gone = db.keyspace("gone").unwrap();
    let mut tx = db.begin().unwrap();
    gone.put(&mut tx, b"k", &[5; 2000]).unwrap();
    tx.commit().unwrap();
    let mut snapshot = db.begin_read().unwrap();

    assert!(db.drop_keyspace("gone").unwrap());
    assert_eq!(gone.get(&mut snapshot, b"k").unwrap(), Some(vec![5; 2000]));
    let report = db.compact().unwrap();
    assert_eq!(
        (report.files_removed, report.deferred),
        (0, 1),
        "{report:?}"
    );
    assert_eq!(gone.get(&mut snapshot, b"k").unwrap(), Some(vec![5; 2000]));
    drop(snapshot);

    // The handle outlived its keyspace: a clear error, not a missing file.
    let mut tx = db.begin().unwrap();
    let err = gone.put(&mut tx, b"k", b"v").unwrap_err();
    assert!(
        matches!(&err, Error::NoSuchKeyspace(name) if name == "gone"),
        "{err}"
    );
    drop(tx);
    assert_eq!(db.compact().unwrap().files_removed, 1);
    // The name can be used again, for a new, empty keyspace.
    let reborn = db.keyspace("gone").unwrap();
    assert!(reborn.is_empty(&mut db.begin_read().unwrap()).unwrap());
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn dropping_a_keyspace_waits_for_the_transactions_using_it() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let ks = db.keyspace("busy").unwrap();
    let (queued_tx, queued) = std::sync::mpsc::channel();
    db.tx_manager().locks().set_wait_observer(move |txn| {
        let _ = queued_tx.send(txn);
    });
    let mut writer = db.begin().unwrap();
    ks.put(&mut writer, b"k", b"v").unwrap();
    std::thread::scope(|s| {
        let dropper = s.spawn(|| db.drop_keyspace("busy"));
        queued.recv().unwrap(); // the drop waits for the writer's locks
        assert!(!dropper.is_finished());
        writer.commit().unwrap();
        assert!(dropper.join().unwrap().unwrap());
    });
    assert_eq!(db.keyspaces().unwrap(), ["default"]);
}

#[test]
fn a_power_cut_at_any_write_of_a_compaction_loses_nothing() {
    // How many writes one compaction makes, on a fresh copy of the same database.
    let probe = MemStorage::new();
    let db = Db::open_on(probe.clone(), small()).unwrap();
    let contents = riddled(&db);
    let start = probe.stats().mutations;
    db.compact().unwrap();
    let writes = probe.stats().mutations - start;
    assert!(writes > 10, "{writes}");

    let step = (writes / 6).max(1); // a spread of cut points: each needs a fresh database
    for cut in (0..writes).step_by(step as usize) {
        let storage = MemStorage::new();
        let db = Db::open_on(storage.clone(), small()).unwrap();
        riddled(&db);
        storage.power_cut_at(storage.stats().mutations + cut);
        assert!(db.compact().is_err(), "cut {cut} of {writes}");
        drop(db);
        storage.crash(Crash::power_loss());
        let db = Db::open_on(storage, small()).unwrap();
        assert_holds(&db, &contents);
        db.compact().unwrap(); // and it can finish the job
        assert_holds(&db, &contents);
        assert_eq!(db.stats().unwrap().free_pages, 0);
    }
}
