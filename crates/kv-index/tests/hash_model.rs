//! The extendible hash index against a model (`BTreeMap`): random inserts, puts, deletes,
//! removes and gets, with commits, rollbacks, reopens and power failures in between — with
//! the real hash, and with a weak one that makes many keys collide.

mod common;

use std::collections::BTreeMap;

use common::{assert_hash_sound as assert_sound, options};
use kv_file::{Crash, MemStorage};
use kv_index::{HashIndex, Index};
use kv_tx::{Transaction, TxManager};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// The largest key with 512-byte pages (the B+tree's limit).
const MAX_KEY: usize = 140;

// ---------------------------------------------------------------------------------------
// The model: random operations against a BTreeMap of what must be there.

#[derive(Debug, Clone)]
enum Op {
    /// Insert `key` with a value of `len` copies of `fill` (`insert`, or `put` if `quiet`).
    Put(Vec<u8>, usize, u8, bool),
    /// Delete `key` (`delete`, or `remove` if `quiet`).
    Delete(Vec<u8>, bool),
    Get(Vec<u8>),
    Commit,
    Rollback,
    /// Roll back, close the database and open it again.
    Reopen,
    /// A power failure: the transaction in flight is lost, committed ones survive.
    Crash,
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(0u8..6, 0..5), // few distinct keys: many replaces and deletes
        1 => prop::collection::vec(any::<u8>(), MAX_KEY..=MAX_KEY),
        1 => prop::collection::vec(any::<u8>(), 1..MAX_KEY),
    ]
}

fn value_len() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..60, 3 => 60usize..300, 1 => Just(5_000usize)]
}

/// Operations; commits, rollbacks, reopens and crashes are each `1 / (20 * scale + 4)` of them.
fn op(scale: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        12 * scale => (key_strategy(), value_len(), any::<u8>(), any::<bool>()).prop_map(|(k, n, f, q)| Op::Put(k, n, f, q)),
        5 * scale => (key_strategy(), any::<bool>()).prop_map(|(k, q)| Op::Delete(k, q)),
        3 * scale => key_strategy().prop_map(Op::Get),
        1 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every key of the model is in the index with its value, and the index holds no others.
fn assert_equal(index: &HashIndex, tx: &mut Transaction<'_>, model: &Model) {
    for (k, v) in model {
        assert_eq!(index.get(tx, k).unwrap().as_ref(), Some(v), "key {k:?}");
    }
    assert_eq!(index.len(tx).unwrap(), model.len() as u64);
}

/// Runs `ops` against a fresh index hashing with `hash` (None: the real one).
fn run(ops: Vec<Op>, check_every_step: bool, hash: Option<fn(&[u8]) -> u64>) {
    let storage = MemStorage::new();
    let mut committed = Model::new();
    let mut ops = ops.into_iter();
    let mut created = false;
    loop {
        let db = TxManager::open_with(storage.clone(), options(512)).unwrap();
        let index = {
            let mut tx = db.begin().unwrap();
            let index = if created {
                HashIndex::open(&mut tx, "h").unwrap()
            } else {
                HashIndex::create(&mut tx, "h").unwrap()
            };
            let index = match hash {
                Some(f) => index.with_hash_fn(f),
                None => index,
            };
            assert_equal(&index, &mut tx, &committed);
            assert_sound(&index, &mut tx);
            tx.commit().unwrap();
            created = true;
            index
        };
        let mut model = committed.clone();
        let mut tx = db.begin().unwrap();
        let mut ended = None;
        for op in ops.by_ref() {
            match op {
                Op::Put(k, len, fill, quiet) => {
                    let v = vec![fill; len];
                    if quiet {
                        index.put(&mut tx, &k, &v).unwrap();
                        model.insert(k, v);
                    } else {
                        assert_eq!(index.insert(&mut tx, &k, &v).unwrap(), model.insert(k, v));
                    }
                }
                Op::Delete(k, quiet) => {
                    if quiet {
                        assert_eq!(
                            index.remove(&mut tx, &k).unwrap(),
                            model.remove(&k).is_some()
                        );
                    } else {
                        assert_eq!(index.delete(&mut tx, &k).unwrap(), model.remove(&k));
                    }
                }
                Op::Get(k) => assert_eq!(index.get(&mut tx, &k).unwrap().as_ref(), model.get(&k)),
                Op::Commit => {
                    tx.commit().unwrap();
                    committed = model.clone();
                    tx = db.begin().unwrap();
                }
                Op::Rollback => {
                    tx.rollback().unwrap();
                    model = committed.clone();
                    tx = db.begin().unwrap();
                    assert_equal(&index, &mut tx, &model);
                }
                op @ (Op::Reopen | Op::Crash) => {
                    ended = Some(op);
                    break;
                }
            }
            if check_every_step {
                assert_sound(&index, &mut tx);
            }
        }
        match ended {
            None => {
                assert_equal(&index, &mut tx, &model);
                assert_sound(&index, &mut tx);
                tx.commit().unwrap();
                return;
            }
            Some(Op::Reopen) => {
                tx.rollback().unwrap();
                drop(db);
            }
            Some(_) => {
                // The process dies with `tx` in flight: no rollback runs, recovery undoes it.
                std::mem::forget(tx);
                drop(db);
                storage.crash(Crash::power_loss());
            }
        }
    }
}

/// A weak hash of eight values: long chains, and splits that stop at depth 3.
fn eight_values(key: &[u8]) -> u64 {
    key.iter()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
        % 8
}

/// `PROPTEST_CASES` if set (for long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fixed seed, so that every run tries the same cases.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x004b_616e_7468_6f72),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(cases(40)))]

    #[test]
    fn small_runs_checked_after_every_step(ops in prop::collection::vec(op(2), 1..100)) {
        run(ops, true, None);
    }

    #[test]
    fn small_runs_with_a_weak_hash_checked_after_every_step(ops in prop::collection::vec(op(2), 1..100)) {
        run(ops, true, Some(eight_values));
    }
}

proptest! {
    #![proptest_config(config(cases(3)))]

    #[test]
    fn large_runs_checked_at_the_end(ops in prop::collection::vec(op(5), 600..900)) {
        run(ops, false, None);
    }
}

/// Many keys of every size in one transaction, then most deleted: deep directories, chains.
#[test]
fn a_big_deterministic_run() {
    let ops: Vec<Op> = (0..3_000u32)
        .map(|i| {
            let k = format!("{:05}", (i * 7919) % 1_500).into_bytes();
            match i % 5 {
                0..=2 => Op::Put(k, (i as usize * 37) % 400, i as u8, i % 2 == 0),
                3 => Op::Delete(k, i % 3 == 0),
                _ if i % 250 == 4 => Op::Commit,
                _ => Op::Get(k),
            }
        })
        .collect();
    run(ops, false, None);
}
