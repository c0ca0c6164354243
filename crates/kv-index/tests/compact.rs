//! Compaction: live pages move down into the holes, the file is cut at commit, and nothing
//! is lost — whether the compaction commits, rolls back, races a snapshot or a power cut.

mod common;

use std::collections::BTreeMap;

use common::{assert_sound, db, key, options};
use kv_file::{Crash, MemStorage};
use kv_index::{BTree, Index};
use kv_tx::{PageRead, TxManager};

/// A tree of 600 keys (every seventh with a value long enough for an overflow chain) with
/// five in six then deleted, leaving free pages all over the file; and what it holds.
fn riddled(db: &TxManager) -> (BTree, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    let mut model = BTreeMap::new();
    for i in 0..600 {
        let value = match i % 7 {
            0 => vec![i as u8; 1500],
            _ => format!("value {i}").into_bytes(),
        };
        tree.put(&mut tx, &key(i), &value).unwrap();
        model.insert(key(i), value);
    }
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    for i in (0..600).filter(|i| i % 6 != 0) {
        tree.remove(&mut tx, &key(i)).unwrap();
        model.remove(&key(i));
    }
    tx.commit().unwrap();
    (tree, model)
}

fn assert_holds(tree: &BTree, tx: &mut impl PageRead, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let got: BTreeMap<Vec<u8>, Vec<u8>> = tree.range(tx, ..).unwrap().map(Result::unwrap).collect();
    assert!(&got == model, "the tree lost or changed entries");
}

#[test]
fn compaction_packs_the_tree_and_the_commit_cuts_the_file() {
    let (storage, db) = db(512);
    let (tree, model) = riddled(&db);
    let before = db.file_manager().length("t").unwrap();

    let mut tx = db.begin().unwrap();
    let done = tree.compact(&mut tx).unwrap();
    assert!(
        done.moved > 0 && done.used < before / 2,
        "{done:?} of {before}"
    );
    assert_eq!(done.file_blocks, before);
    let report = assert_sound(&tree, &mut tx);
    assert_eq!((report.free, report.blocks), (0, done.used));
    assert_holds(&tree, &mut tx, &model);
    tx.cut_at_commit("t", Some(done.used)).unwrap();
    tx.commit().unwrap();
    assert_eq!(db.file_manager().length("t").unwrap(), done.used);
    assert_eq!(db.stats().file_cuts, 1);

    // Packed already: a second compaction moves nothing.
    let mut tx = db.begin().unwrap();
    let again = tree.compact(&mut tx).unwrap();
    assert_eq!((again.used, again.moved), (done.used, 0));
    tx.commit().unwrap();

    // The cut file grows again from its new end, and survives a power cut.
    let mut tx = db.begin().unwrap();
    tree.put(&mut tx, b"after", &[9; 1500]).unwrap();
    tx.commit().unwrap();
    drop(db);
    storage.crash(Crash::power_loss());
    let db = TxManager::open_with(storage, options(512)).unwrap();
    let mut tx = db.begin().unwrap();
    let tree = BTree::open(&mut tx, "t").unwrap();
    assert_sound(&tree, &mut tx);
    let mut model = model;
    model.insert(b"after".to_vec(), vec![9; 1500]);
    assert_holds(&tree, &mut tx, &model);
}

#[test]
fn a_rolled_back_compaction_leaves_the_tree_and_file_as_they_were() {
    let (_, db) = db(512);
    let (tree, model) = riddled(&db);
    let before = db.file_manager().length("t").unwrap();
    let mut tx = db.begin().unwrap();
    let free_before = assert_sound(&tree, &mut tx).free;
    tx.commit().unwrap();

    let mut tx = db.begin().unwrap();
    let done = tree.compact(&mut tx).unwrap();
    tx.cut_at_commit("t", Some(done.used)).unwrap();
    tx.rollback().unwrap();

    assert_eq!(db.file_manager().length("t").unwrap(), before);
    let mut tx = db.begin().unwrap();
    assert_eq!(assert_sound(&tree, &mut tx).free, free_before);
    assert_holds(&tree, &mut tx, &model);
}

#[test]
fn a_crash_before_the_commit_is_durable_undoes_the_moves() {
    let storage = MemStorage::new();
    let db = TxManager::open_with(storage.clone(), options(512)).unwrap();
    let (tree, model) = riddled(&db);
    let mut tx = db.begin().unwrap();
    tree.compact(&mut tx).unwrap();
    db.checkpoint().unwrap(); // the moved pages reach the disk, uncommitted
    std::mem::forget(tx); // the process dies here
    drop(db);
    storage.crash(Crash::power_loss());
    let db = TxManager::open_with(storage, options(512)).unwrap();
    let mut tx = db.begin().unwrap();
    assert_sound(&tree, &mut tx);
    assert_holds(&tree, &mut tx, &model);
}

#[test]
fn an_older_snapshot_defers_the_cut_and_still_reads_everything() {
    let (_, db) = db(512);
    let (tree, model) = riddled(&db);
    let before = db.file_manager().length("t").unwrap();
    let mut snapshot = db.begin_read_only().unwrap();

    let mut tx = db.begin().unwrap();
    let done = tree.compact(&mut tx).unwrap();
    tx.cut_at_commit("t", Some(done.used)).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        db.file_manager().length("t").unwrap(),
        before,
        "the cut waits"
    );
    assert_eq!(db.stats().file_cuts_deferred, 1);
    assert_holds(&tree, &mut snapshot, &model); // reads pages past `used`
    drop(snapshot);

    // A snapshot taken after the compaction does not hold the cut back.
    let _newer = db.begin_read_only().unwrap();
    let mut tx = db.begin().unwrap();
    let again = tree.compact(&mut tx).unwrap();
    assert_eq!(again.moved, 0);
    tx.cut_at_commit("t", Some(again.used)).unwrap();
    tx.commit().unwrap();
    assert_eq!(db.file_manager().length("t").unwrap(), done.used);
    let mut tx = db.begin().unwrap();
    assert_sound(&tree, &mut tx);
    assert_holds(&tree, &mut tx, &model);
}
