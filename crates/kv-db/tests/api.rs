//! Chapter 8 checkpoint: the database API — open and reopen, transactions, keyspaces,
//! batches, the retry helper, limits and errors.

use std::sync::Barrier;

use kv_db::{Db, Error, Options, WriteBatch, DEFAULT_KEYSPACE};
use kv_file::{Crash, MemStorage};

fn small() -> Options {
    Options {
        block_size: Some(512),
        ..Options::default()
    }
}

#[test]
fn a_db_is_shared_between_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Db>();
}

#[test]
fn committed_data_survives_reopen_and_a_power_failure() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        db.put(b"k", b"v").unwrap();
        let users = db.keyspace("users").unwrap();
        let mut tx = db.begin().unwrap();
        users.put(&mut tx, b"ada", b"1815").unwrap();
        tx.put(b"k2", b"v2").unwrap();
        tx.commit().unwrap();
    }
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    let users = db.keyspace("users").unwrap();
    let mut r = db.begin_read().unwrap();
    assert_eq!(users.get(&mut r, b"ada").unwrap(), Some(b"1815".to_vec()));
    drop(r);

    let storage = MemStorage::new();
    {
        let db = Db::open_on(storage.clone(), small()).unwrap();
        db.put(b"durable", b"yes").unwrap();
        let mut tx = db.begin().unwrap();
        tx.put(b"in flight", b"no").unwrap();
        std::mem::forget(tx); // the process dies mid-transaction
    }
    storage.crash(Crash::power_loss());
    let db = Db::open_on(storage, small()).unwrap();
    assert_eq!(db.get(b"durable").unwrap(), Some(b"yes".to_vec()));
    assert_eq!(db.get(b"in flight").unwrap(), None);
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn a_dropped_transaction_rolls_back_and_a_snapshot_keeps_its_view() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    db.put(b"x", b"1").unwrap();
    let mut snapshot = db.begin_read().unwrap();
    {
        let mut tx = db.begin().unwrap();
        tx.put(b"x", b"2").unwrap();
    } // dropped: rolled back
    db.put(b"x", b"3").unwrap();
    assert_eq!(snapshot.get(b"x").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(b"x").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn keyspaces_are_created_listed_kept_apart_and_dropped() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let (a, b) = (db.keyspace("a").unwrap(), db.keyspace("b").unwrap());
    db.transaction(|tx| {
        a.put(tx, b"k", b"in a")?;
        b.put(tx, b"k", b"in b")?;
        tx.put(b"k", b"in default")
    })
    .unwrap();
    assert_eq!(db.keyspaces().unwrap(), ["a", "b", DEFAULT_KEYSPACE]);
    let mut r = db.begin_read().unwrap();
    assert_eq!(a.get(&mut r, b"k").unwrap(), Some(b"in a".to_vec()));
    assert_eq!(b.get(&mut r, b"k").unwrap(), Some(b"in b".to_vec()));
    assert_eq!(r.get(b"k").unwrap(), Some(b"in default".to_vec()));
    drop(r);
    assert!(db.drop_keyspace("a").unwrap());
    assert!(!db.drop_keyspace("a").unwrap());
    assert_eq!(db.keyspaces().unwrap(), ["b", DEFAULT_KEYSPACE]);
    let a = db.keyspace("a").unwrap(); // a new, empty one
    assert!(a.is_empty(&mut db.begin_read().unwrap()).unwrap());
    assert!(matches!(
        db.drop_keyspace(DEFAULT_KEYSPACE),
        Err(Error::InvalidKeyspace { .. })
    ));
    assert!(matches!(
        db.keyspace(""),
        Err(Error::InvalidKeyspace { .. })
    ));
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn ranges_and_prefixes_on_both_kinds_of_transaction() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let mut batch = WriteBatch::new();
    for k in ["a1", "a2", "b1", "b2", "c1"] {
        batch.put(k.as_bytes(), b"");
    }
    db.write(&batch).unwrap();
    fn keys(it: kv_db::Iter<'_, impl kv_tx::PageRead>) -> Vec<String> {
        it.map(|e| String::from_utf8(e.unwrap().0).unwrap())
            .collect()
    }
    let mut r = db.begin_read().unwrap();
    assert_eq!(keys(r.prefix(b"b").unwrap()), ["b1", "b2"]);
    assert_eq!(
        keys(r.range(&b"a2"[..]..&b"c1"[..]).unwrap()),
        ["a2", "b1", "b2"]
    );
    let mut tx = db.begin().unwrap();
    assert_eq!(
        keys(tx.range_rev(..&b"b2"[..]).unwrap()),
        ["b1", "a2", "a1"]
    );
}

#[test]
fn a_batch_applies_all_or_nothing_and_the_last_change_to_a_key_wins() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let mut batch = WriteBatch::new();
    batch
        .put(b"k", b"first")
        .put(b"j", b"x")
        .delete(b"j")
        .put(b"k", b"second");
    db.write(&batch).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"second".to_vec()));
    assert_eq!(db.get(b"j").unwrap(), None);

    let mut bad = WriteBatch::new();
    bad.put(b"new", b"1").put(&[b'z'; 4096], b"key too large");
    let err = db.write(&bad).unwrap_err();
    assert!(matches!(err, Error::KeyTooLarge { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(
        db.get(b"new").unwrap(),
        None,
        "nothing of a failed batch is applied"
    );
}

#[test]
fn the_transaction_helper_retries_deadlock_victims() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    db.put(b"x", &0u64.to_le_bytes()).unwrap();
    db.put(b"y", &0u64.to_le_bytes()).unwrap();
    const THREADS: usize = 4;
    const INCREMENTS: u64 = 40;
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (db, start) = (&db, &start);
            s.spawn(move || {
                start.wait();
                for _ in 0..INCREMENTS {
                    // Read both, then write both: upgrades of shared locks deadlock often.
                    let (first, second): (&[u8], &[u8]) = if t % 2 == 0 {
                        (b"x", b"y")
                    } else {
                        (b"y", b"x")
                    };
                    db.transaction(|tx| {
                        let a = u64::from_le_bytes(tx.get(first)?.unwrap().try_into().unwrap());
                        let b = u64::from_le_bytes(tx.get(second)?.unwrap().try_into().unwrap());
                        tx.put(first, &(a + 1).to_le_bytes())?;
                        tx.put(second, &(b + 1).to_le_bytes())
                    })
                    .unwrap();
                }
            });
        }
    });
    let value = |k: &[u8]| u64::from_le_bytes(db.get(k).unwrap().unwrap().try_into().unwrap());
    assert_eq!(value(b"x"), THREADS as u64 * INCREMENTS);
    assert_eq!(value(b"y"), THREADS as u64 * INCREMENTS);
    let stats = db.stats().unwrap();
    assert!(stats.commits >= THREADS as u64 * INCREMENTS);
    println!("{stats:?}");
}

#[test]
fn limits_are_their_own_errors_and_change_nothing() {
    let db = Db::open(tempfile::tempdir().unwrap().path()).unwrap();
    let err = db.put(&[0; 1025], b"v").unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyTooLarge {
                len: 1025,
                max: 1024
            }
        ),
        "{err}"
    );
    let err = db.put(b"k", &vec![0; kv_index::MAX_VALUE + 1]).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    db.put(&[0; 1024], &vec![7; 100_000]).unwrap(); // the largest key, an overflow value
    assert_eq!(db.get(&[0; 1024]).unwrap().map(|v| v.len()), Some(100_000));
}

#[test]
fn stats_count_what_happened() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let before = db.stats().unwrap();
    db.put(b"a", b"1").unwrap();
    db.checkpoint().unwrap();
    let after = db.stats().unwrap();
    assert_eq!(after.commits, before.commits + 1);
    assert_eq!(after.checkpoints, before.checkpoints + 1);
    assert!(after.fsyncs > before.fsyncs);
    assert!(after.data_bytes > 0);
    assert_eq!(after.snapshots, 0);
}

#[test]
fn read_for_update_take_and_an_application_abort() {
    let db = Db::open_on(MemStorage::new(), small()).unwrap();
    let ks = db.default_keyspace();
    db.put(b"n", b"1").unwrap();
    // An application's own error rolls the transaction back and comes back as `Abort`.
    #[derive(Debug, thiserror::Error)]
    #[error("the balance would go negative")]
    struct Negative;
    let err = db
        .transaction(|tx| {
            let n = ks.get_for_update(tx, b"n")?.unwrap();
            ks.put(tx, b"n", b"0")?;
            match n.as_slice() {
                b"1" => Err::<(), _>(Error::Abort(Box::new(Negative))),
                _ => Ok(()),
            }
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::Abort(_)) && !err.is_retryable(),
        "{err}"
    );
    assert_eq!(err.to_string(), "the balance would go negative");
    assert_eq!(db.get(b"n").unwrap(), Some(b"1".to_vec()), "rolled back");
    let taken = db.transaction(|tx| ks.take(tx, b"n")).unwrap();
    assert_eq!(taken, Some(b"1".to_vec()));
    assert_eq!(db.transaction(|tx| ks.take(tx, b"n")).unwrap(), None);
}
