//! The B+tree against a model (`BTreeMap`): random inserts, deletes, gets and ranges, with
//! commits, rollbacks and power failures in between. After every step (small runs) or at
//! the end (large runs) the tree must equal the model and pass `check()`.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use common::{assert_sound, options};
use kv_file::{Crash, MemStorage};
use kv_index::BTree;
use kv_tx::TxManager;
use proptest::prelude::*;

/// The largest key with 512-byte pages.
const MAX_KEY: usize = 140;

#[derive(Debug, Clone)]
enum Op {
    /// Insert `key` with a value of `len` copies of `fill`.
    Put(Vec<u8>, usize, u8),
    Delete(Vec<u8>),
    Get(Vec<u8>),
    /// A range from one key to another, forward or backward, bounds included or not.
    Range(Vec<u8>, Vec<u8>, bool, bool),
    Commit,
    Rollback,
    /// A power failure: the transaction in flight is lost, committed ones survive.
    Crash,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        9 => prop::collection::vec(0u8..4, 0..6), // few distinct keys: many replaces and deletes
        1 => prop::collection::vec(any::<u8>(), MAX_KEY..=MAX_KEY),
    ]
}

fn value_len() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..60, 3 => 60usize..700, 1 => Just(5_000usize)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (key(), value_len(), any::<u8>()).prop_map(|(k, n, f)| Op::Put(k, n, f)),
        5 => key().prop_map(Op::Delete),
        2 => key().prop_map(Op::Get),
        2 => (key(), key(), any::<bool>(), any::<bool>()).prop_map(|(a, b, r, i)| Op::Range(a, b, r, i)),
        1 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Crash),
    ]
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Everything in the tree, in order, compared with the model.
fn assert_equal(tree: &BTree, tx: &mut kv_tx::Transaction<'_>, model: &Model) {
    let got: Vec<(Vec<u8>, Vec<u8>)> = tree.range(tx, ..).unwrap().map(Result::unwrap).collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "tree and model differ");
}

fn run(ops: Vec<Op>, check_every_step: bool) {
    let storage = MemStorage::new();
    let mut committed = Model::new();
    let mut ops = ops.into_iter();
    let mut created = false;
    loop {
        let db = TxManager::open_with(storage.clone(), options(512)).unwrap();
        let tree = {
            let mut tx = db.begin().unwrap();
            let tree = if created {
                BTree::open(&mut tx, "t").unwrap()
            } else {
                BTree::create(&mut tx, "t").unwrap()
            };
            assert_eq!(tree.max_key(), MAX_KEY);
            assert_equal(&tree, &mut tx, &committed);
            assert_sound(&tree, &mut tx);
            tx.commit().unwrap();
            created = true;
            tree
        };
        let mut model = committed.clone();
        let mut tx = db.begin().unwrap();
        let mut crashed = false;
        for op in ops.by_ref() {
            match op {
                Op::Put(k, len, fill) => {
                    let v = vec![fill; len];
                    let old = tree.insert(&mut tx, &k, &v).unwrap();
                    assert_eq!(old, model.insert(k, v));
                }
                Op::Delete(k) => assert_eq!(tree.delete(&mut tx, &k).unwrap(), model.remove(&k)),
                Op::Get(k) => assert_eq!(tree.get(&mut tx, &k).unwrap().as_ref(), model.get(&k)),
                Op::Range(a, b, reverse, inclusive) => {
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    let hi_bound = if inclusive {
                        Bound::Included(hi.as_slice())
                    } else {
                        Bound::Excluded(hi.as_slice())
                    };
                    let bounds = (Bound::Included(lo.as_slice()), hi_bound);
                    let it = if reverse {
                        tree.range_rev(&mut tx, bounds)
                    } else {
                        tree.range(&mut tx, bounds)
                    };
                    let got: Vec<Vec<u8>> = it.unwrap().map(|e| e.unwrap().0).collect();
                    let model_bounds = (Bound::Included(lo.clone()), hi_bound.map(<[u8]>::to_vec));
                    let mut want: Vec<Vec<u8>> =
                        model.range(model_bounds).map(|(k, _)| k.clone()).collect();
                    if reverse {
                        want.reverse();
                    }
                    assert_eq!(got, want);
                }
                Op::Commit => {
                    tx.commit().unwrap();
                    committed = model.clone();
                    tx = db.begin().unwrap();
                }
                Op::Rollback => {
                    tx.rollback().unwrap();
                    model = committed.clone();
                    tx = db.begin().unwrap();
                    assert_equal(&tree, &mut tx, &model);
                }
                Op::Crash => {
                    crashed = true;
                    break;
                }
            }
            if check_every_step {
                assert_sound(&tree, &mut tx);
            }
        }
        if !crashed {
            assert_equal(&tree, &mut tx, &model);
            assert_sound(&tree, &mut tx);
            tx.commit().unwrap();
            return;
        }
        // The process dies with `tx` in flight: no rollback runs, recovery must undo it.
        std::mem::forget(tx);
        drop(db);
        storage.crash(Crash::power_loss());
    }
}

/// `PROPTEST_CASES` if set (for long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn small_runs_checked_after_every_step(ops in prop::collection::vec(op(), 1..60)) {
        run(ops, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn large_runs_checked_at_the_end(ops in prop::collection::vec(op(), 1500..2000)) {
        run(ops, false);
    }
}

/// Many keys of every size in one transaction, then most deleted: deep trees, long chains.
#[test]
fn a_big_deterministic_run() {
    let ops: Vec<Op> = (0..3_000u32)
        .map(|i| {
            let k = format!("{:05}", (i * 7919) % 1_500).into_bytes();
            match i % 5 {
                0..=2 => Op::Put(k, (i as usize * 37) % 900, i as u8),
                3 => Op::Delete(k),
                _ if i % 250 == 4 => Op::Commit,
                _ => Op::Get(k),
            }
        })
        .collect();
    run(ops, false);
}
