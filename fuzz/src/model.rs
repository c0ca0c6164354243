//! The embedded API driven by the fuzzer, against a `BTreeMap` model of what was
//! acknowledged: transactions, batches, bounded and reverse ranges, snapshots held across
//! later commits, values of many pages, keys past the limit, checkpoints, compactions,
//! power cuts and reopens.
//!
//! `kv-db`'s proptest model (`crates/kv-db/tests/model.rs`) covers the same promises with
//! shrinking; this target adds what proptest does not steer towards — snapshots that must
//! keep seeing their moment while commits and compactions go on, range bounds, and keys
//! and values at and past their limits — and lets coverage pick the sequences.
//!
//! Input: operations, one tag byte each (taken modulo 14) and its fields:
//!
//! ```text
//! 0 put ks key len:u16   1 delete ks key      2 get ks key     3 range ks lo hi rev
//! 4 commit               5 rollback           6 batch n, then n × (put ks key len | delete ks key)
//! 7 take a snapshot      8 verify the snapshots   9 checkpoint   10 compact
//! 11 power cut, reopen   12 clean reopen      13 put ks key:u16 length (a huge key)
//! ```
//!
//! `ks` is 0 or 1 (two keyspaces), `key` one byte (16 keys, so operations collide).

use std::collections::BTreeMap;
use std::ops::Bound;

use kv_db::{Db, Keyspace, ReadTxn, Txn, WriteBatch};
use kv_file::{Crash, MemStorage};

use crate::{fixture, input::Reader};

/// The most operations one input runs.
const MAX_OPS: usize = 200;

/// The keyspaces used, the default one first.
const SPACES: [&str; 2] = ["default", "a"];

/// One `BTreeMap` per keyspace.
type Model = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

fn key(r: &mut Reader<'_>) -> Vec<u8> {
    let k = r.u8() % 16;
    // Keys of several lengths, sharing prefixes: "k", "kk", ... up to 16 bytes.
    vec![b'k' + (k % 4); usize::from(k / 4) * 4 + 1]
}

fn value(len: u16, salt: usize) -> Vec<u8> {
    let len = usize::from(len) % 3000; // up to six 512-byte pages: overflow chains
    (0..len).map(|i| (i + salt) as u8).collect()
}

/// The entries of `ks` in `range` from the database, or `None` on an error.
fn scan(
    ks: &Keyspace,
    tx: &mut impl kv_db::Access,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    rev: bool,
) -> kv_db::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let iter = match rev {
        false => ks.range(tx, (lo, hi))?,
        true => ks.range_rev(tx, (lo, hi))?,
    };
    iter.collect()
}

/// The same entries from the model.
fn expect(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    rev: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let valid = match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a < b || a == b && matches!((lo, hi), (Bound::Included(_), Bound::Included(_)))
        }
        _ => true,
    };
    if !valid {
        return Vec::new();
    }
    let owned = (lo.map(<[u8]>::to_vec), hi.map(<[u8]>::to_vec));
    let mut entries: Vec<_> = model
        .range(owned)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if rev {
        entries.reverse();
    }
    entries
}

/// The database equals `model` in every keyspace, and is sound.
fn assert_equals(db: &Db, model: &Model) {
    let spaces: Vec<_> = SPACES
        .iter()
        .map(|n| db.keyspace(n).expect("opens"))
        .collect();
    let mut read = db.begin_read().expect("a snapshot begins");
    for ((ks, name), want) in spaces.iter().zip(SPACES).zip(model) {
        let got = scan(ks, &mut read, Bound::Unbounded, Bound::Unbounded, false)
            .expect("a scan of a sound database");
        let all = expect(want, Bound::Unbounded, Bound::Unbounded, false);
        assert!(
            got == all,
            "keyspace {name} differs from the acknowledged commits"
        );
    }
    drop(read);
    let report = db.check().expect("check runs");
    assert!(report.is_ok(), "{report:#?}");
}

/// The state of one open database: its transaction, if one is open, and snapshots.
struct Session<'db> {
    db: &'db Db,
    spaces: Vec<Keyspace>,
    tx: Option<Txn<'db>>,
    /// What the open transaction sees: the committed model plus its own writes.
    model: Model,
    snapshots: Vec<(ReadTxn<'db>, Model)>,
}

impl<'db> Session<'db> {
    fn tx(&mut self) -> &mut Txn<'db> {
        if self.tx.is_none() {
            self.tx = Some(self.db.begin().expect("a transaction begins"));
        }
        self.tx.as_mut().expect("just begun")
    }

    /// Commits the open transaction; the model is then what is acknowledged.
    fn commit(&mut self, committed: &mut Model) {
        if let Some(tx) = self.tx.take() {
            tx.commit().expect("a commit on a healthy disk");
            *committed = self.model.clone();
        }
    }

    /// Rolls the open transaction back after an error or on request.
    fn rollback(&mut self, committed: &Model) {
        if let Some(tx) = self.tx.take() {
            tx.rollback().expect("a rollback on a healthy disk");
        }
        self.model = committed.clone();
    }
}

/// How a session ended.
enum End {
    Input,
    PowerCut,
    Reopen,
}

/// Runs operations on `db` until the input ends or asks for a reopen.
fn session(db: &Db, r: &mut Reader<'_>, committed: &mut Model, ops: &mut usize) -> End {
    let spaces = SPACES
        .iter()
        .map(|n| db.keyspace(n).expect("opens"))
        .collect();
    let mut s = Session {
        db,
        spaces,
        tx: None,
        model: committed.clone(),
        snapshots: Vec::new(),
    };
    while !r.0.is_empty() && *ops < MAX_OPS {
        *ops += 1;
        let tag = r.u8() % 14;
        let n = usize::from(r.u8() % 2);
        match tag {
            0 | 13 => {
                let (k, v) = match tag {
                    0 => (key(r), value(r.u16(), *ops)),
                    _ => (vec![b'K'; usize::from(r.u16())], b"v".to_vec()),
                };
                let ks = s.spaces[n].clone();
                match ks.put(s.tx(), &k, &v) {
                    Ok(()) => {
                        s.model[n].insert(k, v);
                    }
                    Err(_) if tag == 13 => s.rollback(committed), // too large: refused
                    Err(e) => panic!("a put failed on a healthy disk: {e}"),
                }
            }
            1 => {
                let k = key(r);
                let ks = s.spaces[n].clone();
                let found = ks.delete(s.tx(), &k).expect("a delete");
                assert_eq!(found, s.model[n].remove(&k).is_some(), "delete's answer");
            }
            2 => {
                let k = key(r);
                let ks = s.spaces[n].clone();
                let got = ks.get(s.tx(), &k).expect("a get");
                assert_eq!(got.as_ref(), s.model[n].get(&k), "get in a transaction");
            }
            3 => {
                let (a, b, flags) = (key(r), key(r), r.u8());
                let bound = |k: &[u8], f: u8| match f % 3 {
                    0 => Bound::Unbounded,
                    1 => Bound::Included(k.to_vec()),
                    _ => Bound::Excluded(k.to_vec()),
                };
                let (lo, hi, rev) = (bound(&a, flags), bound(&b, flags / 3), flags & 0x80 != 0);
                let ks = s.spaces[n].clone();
                let got = scan(
                    &ks,
                    s.tx(),
                    lo.as_ref().map(Vec::as_slice),
                    hi.as_ref().map(Vec::as_slice),
                    rev,
                )
                .expect("a range");
                let want = expect(
                    &s.model[n],
                    lo.as_ref().map(Vec::as_slice),
                    hi.as_ref().map(Vec::as_slice),
                    rev,
                );
                assert!(got == want, "range {lo:?}..{hi:?} rev={rev} differs");
            }
            4 => s.commit(committed),
            5 => s.rollback(committed),
            6 => {
                s.commit(committed);
                let mut batch = WriteBatch::new();
                for _ in 0..r.u8() % 8 {
                    let (m, k) = (usize::from(r.u8() % 2), key(r));
                    if r.u8().is_multiple_of(2) {
                        let v = value(r.u16(), *ops);
                        batch.put_in(&s.spaces[m], &k, &v);
                        s.model[m].insert(k, v);
                    } else {
                        batch.delete_in(&s.spaces[m], &k);
                        s.model[m].remove(&k);
                    }
                }
                db.write(&batch).expect("a batch on a healthy disk");
                *committed = s.model.clone();
            }
            7 => {
                if s.snapshots.len() == 2 {
                    s.snapshots.remove(0);
                }
                let snapshot = db.begin_read().expect("a snapshot begins");
                s.snapshots.push((snapshot, committed.clone()));
            }
            8 => {
                for (snapshot, model) in &mut s.snapshots {
                    for (ks, want) in s.spaces.iter().zip(model.iter()) {
                        let got = scan(ks, snapshot, Bound::Unbounded, Bound::Unbounded, n == 1)
                            .expect("a snapshot's scan");
                        let want = expect(want, Bound::Unbounded, Bound::Unbounded, n == 1);
                        assert!(got == want, "a snapshot no longer sees its moment");
                    }
                }
            }
            9 | 10 => {
                s.commit(committed);
                match tag {
                    9 => db.checkpoint().expect("a checkpoint"),
                    _ => drop(db.compact().expect("a compaction")),
                }
            }
            11 | 12 => {
                s.rollback(committed);
                return if tag == 11 {
                    End::PowerCut
                } else {
                    End::Reopen
                };
            }
            _ => unreachable!("tags are taken modulo 14"),
        }
    }
    s.commit(committed);
    End::Input
}

/// Runs one input; panics only if the engine panicked or broke a promise.
pub fn check(data: &[u8]) {
    let storage = MemStorage::new();
    storage.set_capacity(Some(fixture::CAPACITY));
    let mut committed: Model = vec![BTreeMap::new(); SPACES.len()];
    let mut r = Reader(data);
    let mut ops = 0;
    loop {
        let db = Db::open_on(storage.clone(), fixture::options()).expect("the database opens");
        assert_equals(&db, &committed);
        let end = session(&db, &mut r, &mut committed, &mut ops);
        assert_equals(&db, &committed);
        drop(db);
        match end {
            End::Input => return,
            End::PowerCut => storage.crash(Crash::power_loss()),
            End::Reopen => {}
        }
    }
}

/// The seed inputs: a few sessions that touch every operation.
pub fn seeds() -> Vec<Vec<u8>> {
    vec![
        vec![0, 0, 1, 1, 0, 4, 0, 0, 2, 0, 1, 3, 0, 0, 9, 0, 4, 0],
        vec![
            0, 1, 5, 0x0b, 0xb8, 7, 0, 1, 0, 5, 4, 0, 8, 0, 8, 1, 10, 0, 8, 0,
        ],
        vec![
            6, 0, 5, 0, 3, 0, 0, 40, 1, 1, 4, 1, 2, 0, 7, 0, 0, 11, 0, 2, 1, 4,
        ],
        vec![
            13, 0, 0xff, 0xff, 0, 0, 2, 0, 1, 4, 0, 12, 0, 3, 0, 0, 15, 0x85,
        ],
        vec![
            0, 0, 9, 0, 9, 0, 0, 14, 0, 14, 3, 1, 4, 12, 4, 7, 0, 1, 0, 4, 4, 0, 8, 1, 5, 0, 11, 0,
        ],
    ]
}
