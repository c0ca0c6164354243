//! Compaction against a model: random puts and deletes (overflow values too), then
//! compaction and a cut, with snapshots opened before it, power failures and checkpoints
//! between rounds (written by the chapter 8 review).
mod common;

use std::collections::BTreeMap;

use common::{assert_sound, options};
use kv_file::{Crash, MemStorage};
use kv_index::{BTree, Index};
use kv_tx::{PageRead, TxManager};

fn rng(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn contents(tree: &BTree, tx: &mut impl PageRead) -> BTreeMap<Vec<u8>, Vec<u8>> {
    tree.range(tx, ..).unwrap().map(Result::unwrap).collect()
}

#[test]
fn random_compactions_keep_everything() {
    // `KV_COMPACT_SEEDS=200` for a long run; the suite runs a smoke version.
    let seeds: u64 = std::env::var("KV_COMPACT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    for seed in 1..=seeds {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15);
        let storage = MemStorage::new();
        let mut db = TxManager::open_with(storage.clone(), options(512)).unwrap();
        let mut tx = db.begin().unwrap();
        let mut tree = BTree::create(&mut tx, "t").unwrap();
        tx.commit().unwrap();
        let mut model = BTreeMap::new();
        for round in 0..12 {
            let mut tx = db.begin().unwrap();
            let n = rng(&mut s) % 300;
            for _ in 0..n {
                let k = format!("k{:05}", rng(&mut s) % 500).into_bytes();
                if rng(&mut s).is_multiple_of(3) {
                    tree.remove(&mut tx, &k).unwrap();
                    model.remove(&k);
                } else {
                    let len = match rng(&mut s) % 6 {
                        0 => 1200,
                        1 => 400,
                        _ => 20,
                    } as usize;
                    let v = vec![(rng(&mut s) % 251) as u8; len];
                    tree.put(&mut tx, &k, &v).unwrap();
                    model.insert(k, v);
                }
            }
            tx.commit().unwrap();
            let mut snap = rng(&mut s)
                .is_multiple_of(2)
                .then(|| db.begin_read_only().unwrap());
            let mut tx = db.begin().unwrap();
            let done = tree.compact(&mut tx).unwrap();
            assert_sound(&tree, &mut tx);
            tx.cut_at_commit("t", Some(done.used)).unwrap();
            tx.commit().unwrap();
            if let Some(snap) = snap.as_mut() {
                assert!(
                    contents(&tree, snap) == model,
                    "seed {seed} round {round}: old snapshot"
                );
            }
            drop(snap);
            let mut r = db.begin_read_only().unwrap();
            assert!(
                contents(&tree, &mut r) == model,
                "seed {seed} round {round}"
            );
            drop(r);
            match rng(&mut s) % 4 {
                0 => {
                    drop(db);
                    storage.crash(Crash::power_loss());
                    db = TxManager::open_with(storage.clone(), options(512)).unwrap();
                    let mut tx = db.begin().unwrap();
                    tree = BTree::open(&mut tx, "t").unwrap();
                    assert_sound(&tree, &mut tx);
                    assert!(
                        contents(&tree, &mut tx) == model,
                        "seed {seed} round {round}: after crash"
                    );
                    tx.commit().unwrap();
                }
                1 => db.checkpoint().unwrap(),
                _ => {}
            }
        }
        // Empty it, compact to meta + root leaf.
        let mut tx = db.begin().unwrap();
        for k in model.keys() {
            tree.remove(&mut tx, k).unwrap();
        }
        let done = tree.compact(&mut tx).unwrap();
        assert_eq!(done.used, 2, "seed {seed}");
        tx.cut_at_commit("t", Some(done.used)).unwrap();
        tx.commit().unwrap();
        drop(db);
        storage.crash(Crash::power_loss());
        let db = TxManager::open_with(storage.clone(), options(512)).unwrap();
        let mut tx = db.begin().unwrap();
        let tree = BTree::open(&mut tx, "t").unwrap();
        assert_sound(&tree, &mut tx);
        assert!(contents(&tree, &mut tx).is_empty());
    }
}
