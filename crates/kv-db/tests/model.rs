//! The whole API against a model — a `BTreeMap` per keyspace — with commits, rollbacks,
//! compactions, dropped keyspaces, reopens and power failures interleaved at random. After every reopen, the database must
//! equal the model of committed transactions, and pass `check()`.

use std::collections::BTreeMap;

use kv_db::{Db, Options};
use kv_file::{Crash, MemStorage};
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
    Reopen,
    Crash,
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
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
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

fn run(ops: Vec<Op>) {
    let storage = MemStorage::new();
    let mut committed: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    let mut ops = ops.into_iter();
    loop {
        let db = Db::open_on(storage.clone(), options()).unwrap();
        let mut keyspaces: Vec<_> = KEYSPACES.iter().map(|n| db.keyspace(n).unwrap()).collect();
        assert_matches(&db, &committed);
        let mut model = committed.clone();
        let mut tx = db.begin().unwrap();
        let mut ending = None;
        for op in ops.by_ref() {
            match op {
                Op::Put(s, k, n) => {
                    let v = vec![k.len() as u8; n];
                    keyspaces[s].put(&mut tx, &k, &v).unwrap();
                    model[s].insert(k, v);
                }
                Op::Delete(s, k) => {
                    assert_eq!(
                        keyspaces[s].delete(&mut tx, &k).unwrap(),
                        model[s].remove(&k).is_some()
                    );
                }
                Op::Get(s, k) => assert_eq!(
                    keyspaces[s].get(&mut tx, &k).unwrap().as_ref(),
                    model[s].get(&k)
                ),
                Op::Scan(s, p) => {
                    let got: Vec<Vec<u8>> = keyspaces[s]
                        .prefix(&mut tx, &p)
                        .unwrap()
                        .map(|e| e.unwrap().0)
                        .collect();
                    let want: Vec<Vec<u8>> = model[s]
                        .keys()
                        .filter(|k| k.starts_with(&p))
                        .cloned()
                        .collect();
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
                }
                Op::Compact | Op::Drop(_) => {
                    tx.commit().unwrap();
                    if let Op::Drop(n) = op {
                        assert!(db.drop_keyspace(KEYSPACES[1 + n]).unwrap());
                        model[1 + n].clear();
                        keyspaces[1 + n] = db.keyspace(KEYSPACES[1 + n]).unwrap();
                    } else {
                        db.compact().unwrap();
                    }
                    committed = model.clone();
                    tx = db.begin().unwrap();
                }
                Op::Reopen | Op::Crash => {
                    ending = Some(op);
                    break;
                }
            }
        }
        match ending {
            None => {
                tx.commit().unwrap();
                assert_matches(&db, &model);
                return;
            }
            Some(Op::Reopen) => drop(tx), // rolled back, then closed cleanly
            Some(_) => std::mem::forget(tx), // the process dies mid-transaction
        }
        let crash = matches!(ending, Some(Op::Crash));
        drop(keyspaces);
        drop(db);
        if crash {
            storage.crash(Crash::power_loss());
        }
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
    #![proptest_config(ProptestConfig { cases: cases(32), ..ProptestConfig::default() })]

    #[test]
    fn the_database_equals_its_model_across_reopens_and_crashes(ops in prop::collection::vec(op(), 1..120)) {
        run(ops);
    }
}
