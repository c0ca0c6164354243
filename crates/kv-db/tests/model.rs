//! The whole API against a model — a `BTreeMap` per keyspace — with commits, rollbacks,
//! checkpoints, compactions, dropped keyspaces, reopens, power failures and injected I/O
//! errors interleaved at random. After every reopen, the database must equal the model of
//! committed transactions (a commit that reported an I/O error: in or out, wholly), and
//! pass `check()`. proptest shrinks a failure to a minimal sequence of operations.

use std::collections::BTreeMap;

use kv_db::{Db, Options};
use kv_file::{Crash, FaultOp, MemStorage};
use proptest::prelude::*;

const KEYSPACES: [&str; 3] = ["default", "a", "b"];

#[derive(Debug, Clone)]
enum Op {
    Put(usize, Vec<u8>, usize),
    Delete(usize, Vec<u8>),
    Get(usize, Vec<u8>),
    Scan(usize, Vec<u8>),
    Commit,
    Rollback,
    /// Commit, then compact the database.
    Compact,
    /// Commit, then drop keyspace `1 + n` (not the default one) and use it anew.
    Drop(usize),
    /// Commit, then checkpoint.
    Checkpoint,
    Reopen,
    Crash,
    /// The `n`-th next change to the disk fails (once): the operation that meets it
    /// reports an error, and the process then dies as in `Crash`.
    IoError(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let ks = 0..KEYSPACES.len();
    let key = prop::collection::vec(0u8..5, 0..4);
    prop_oneof![
        10 => (ks.clone(), key.clone(), prop_oneof![0usize..40, Just(900usize)]).prop_map(|(s, k, n)| Op::Put(s, k, n)),
        4 => (ks.clone(), key.clone()).prop_map(|(s, k)| Op::Delete(s, k)),
        2 => (ks.clone(), key.clone()).prop_map(|(s, k)| Op::Get(s, k)),
        2 => (ks, key).prop_map(|(s, k)| Op::Scan(s, k)),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Compact),
        1 => (0..KEYSPACES.len() - 1).prop_map(Op::Drop),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => (0u64..12).prop_map(Op::IoError),
    ]
}

type Model = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

fn options() -> Options {
    Options {
        block_size: Some(512),
        cache_pages: 32, // small: pages are evicted (stolen) mid-transaction
        ..Options::default()
    }
}

/// Everything in every keyspace equals the model, and every structure is sound.
fn assert_matches(db: &Db, model: &Model) {
    let mut r = db.begin_read().unwrap();
    for (i, name) in KEYSPACES.iter().enumerate() {
        let ks = db.keyspace(name).unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            ks.range(&mut r, ..).unwrap().map(Result::unwrap).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = model[i]
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(got == want, "keyspace {name} differs from the model");
    }
    drop(r);
    let check = db.check().unwrap();
    assert!(check.is_ok(), "{check:#?}");
}

/// What the model knows after an operation failed on an injected I/O error: the committed
/// state, or — for a commit that reported the error — either it or `maybe`.
struct Failed {
    maybe: Option<Model>,
}

fn run(ops: Vec<Op>) {
    let storage = MemStorage::new();
    let mut committed: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    let mut uncertain: Option<Model> = None;
    let mut ops = ops.into_iter();
    loop {
        let db = Db::open_on(storage.clone(), options()).unwrap();
        let mut keyspaces: Vec<_> = KEYSPACES.iter().map(|n| db.keyspace(n).unwrap()).collect();
        if let Some(maybe) = uncertain.take() {
            // A commit reported an I/O error before the crash: it is in or out, wholly.
            if equals(&db, &maybe) {
                committed = maybe;
            }
        }
        assert_matches(&db, &committed);
        let mut model = committed.clone();
        let mut tx = db.begin().unwrap();
        let mut ending = None;
        for op in ops.by_ref() {
            if let Op::IoError(n) = op {
                storage.fail_at(FaultOp::Any, storage.stats().mutations + n);
                continue;
            }
            // Every operation may now meet the injected fault: an error ends the process.
            let mut step = || -> Result<(), (kv_db::Error, Failed)> {
                let fail = |maybe: Option<Model>| move |e| (e, Failed { maybe });
                match op.clone() {
                    Op::Put(s, k, n) => {
                        let v = vec![k.len() as u8; n];
                        keyspaces[s].put(&mut tx, &k, &v).map_err(fail(None))?;
                        model[s].insert(k, v);
                    }
                    Op::Delete(s, k) => {
                        let deleted = keyspaces[s].delete(&mut tx, &k).map_err(fail(None))?;
                        assert_eq!(deleted, model[s].remove(&k).is_some());
                    }
                    Op::Get(s, k) => assert_eq!(
                        keyspaces[s].get(&mut tx, &k).map_err(fail(None))?.as_ref(),
                        model[s].get(&k)
                    ),
                    Op::Scan(s, p) => {
                        let got = keyspaces[s]
                            .prefix(&mut tx, &p)
                            .map_err(fail(None))?
                            .map(|e| e.map(|(k, _)| k))
                            .collect::<kv_db::Result<Vec<Vec<u8>>>>()
                            .map_err(fail(None))?;
                        let want: Vec<Vec<u8>> = model[s]
                            .keys()
                            .filter(|k| k.starts_with(&p))
                            .cloned()
                            .collect();
                        assert_eq!(got, want);
                    }
                    Op::Commit | Op::Compact | Op::Drop(_) | Op::Checkpoint => {
                        let done = std::mem::replace(&mut tx, db.begin().map_err(fail(None))?);
                        done.commit().map_err(fail(Some(model.clone())))?;
                        committed = model.clone();
                        match op {
                            Op::Drop(n) => {
                                let mut without = model.clone();
                                without[1 + n].clear();
                                assert!(db
                                    .drop_keyspace(KEYSPACES[1 + n])
                                    .map_err(fail(Some(without.clone())))?);
                                model = without;
                                committed = model.clone();
                                keyspaces[1 + n] =
                                    db.keyspace(KEYSPACES[1 + n]).map_err(fail(None))?;
                            }
                            Op::Compact => {
                                db.compact().map_err(fail(None))?;
                            }
                            Op::Checkpoint => db.checkpoint().map_err(fail(None))?,
                            _ => {}
                        }
                    }
                    Op::Rollback => {
                        let done = std::mem::replace(&mut tx, db.begin().map_err(fail(None))?);
                        done.rollback().map_err(fail(None))?;
                        model = committed.clone();
                    }
                    Op::Reopen | Op::Crash | Op::IoError(_) => unreachable!("handled above"),
                }
                Ok(())
            };
            if let Op::Reopen | Op::Crash = op {
                storage.clear_faults(); // an armed fault not yet met expires here
                ending = Some(op);
                break;
            }
            if let Err((e, failed)) = step() {
                assert!(
                    storage.stats().faults_fired > 0,
                    "{op:?} failed with no fault injected: {e}"
                );
                uncertain = failed.maybe;
                ending = Some(Op::Crash);
                break;
            }
        }
        match ending {
            None => {
                storage.clear_faults();
                tx.commit().unwrap();
                assert_matches(&db, &model);
                return;
            }
            Some(Op::Reopen) => drop(tx), // rolled back, then closed cleanly
            Some(_) => std::mem::forget(tx), // the process dies mid-transaction
        }
        let crash = matches!(ending, Some(Op::Crash));
        drop(keyspaces);
        if crash {
            std::mem::forget(db);
            storage.clear_faults();
            storage.crash(Crash::power_loss());
        } else {
            drop(db);
        }
    }
}

/// Whether every keyspace equals `model` (without asserting).
fn equals(db: &Db, model: &Model) -> bool {
    let mut r = db.begin_read().unwrap();
    KEYSPACES.iter().enumerate().all(|(i, name)| {
        let ks = db.keyspace(name).unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            ks.range(&mut r, ..).unwrap().map(Result::unwrap).collect();
        got.len() == model[i].len() && got.iter().all(|(k, v)| model[i].get(k) == Some(v))
    })
}

/// `PROPTEST_CASES` if set (for long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // 2,000 sequences of up to 120 operations in CI (about a minute in debug).
    #![proptest_config(ProptestConfig { cases: cases(2000), ..ProptestConfig::default() })]

    #[test]
    fn the_database_equals_its_model_across_reopens_and_crashes(ops in prop::collection::vec(op(), 1..120)) {
        run(ops);
    }
}
