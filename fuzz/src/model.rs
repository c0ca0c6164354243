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
//! Input: operations, each a tag byte (taken modulo 14), a `ks` byte (even: the default
//! keyspace, odd: keyspace "a"; read by every operation, used by some), then its fields:
//!
//! ```text
//! 0 put key len:u16      1 delete key         2 get key        3 range lo hi flags
//! 4 commit               5 rollback           6 batch n, then n × (ks key 0 len:u16 | ks key 1)
//! 7 take a snapshot      8 verify the snapshots (ks odd: in reverse)   9 checkpoint
//! 10 compact             11 power cut, a transaction in flight   12 clean reopen
//! 13 put, get, range (and, if ks ≥ 128, delete) with a key of len:u16 bytes
//! ```
//!
//! `key` is one byte: 16 keys of 1 to 13 bytes sharing prefixes, so operations collide.
//! `len` is taken modulo 3,000 (up to six 512-byte pages: overflow chains). Range flags:
//! `flags % 3` and `flags / 3 % 3` choose each bound (none, included, excluded), bit 7 the
//! direction. In a batch, `ks % 4 == 0` takes the default keyspace by `put`/`delete`, the
//! other even values by `put_in`/`delete_in` with its handle: both routes must agree.

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
    // Keys of several lengths, sharing prefixes: "k", "kkkkk", ... up to 13 bytes.
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
    storage: &'db MemStorage,
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
    /// The disk was crashed; what the old process still holds dies without effect on it.
    Crashed,
    Reopen,
}

/// Runs operations on `db` until the input ends or asks for a reopen.
fn session<'db>(
    storage: &'db MemStorage,
    db: &'db Db,
    r: &mut Reader<'_>,
    committed: &mut Model,
    ops: &mut usize,
) -> End {
    let spaces = SPACES
        .iter()
        .map(|n| db.keyspace(n).expect("opens"))
        .collect();
    let mut s = Session {
        storage,
        db,
        spaces,
        tx: None,
        model: committed.clone(),
        snapshots: Vec::new(),
    };
    while !r.0.is_empty() && *ops < MAX_OPS {
        *ops += 1;
        let tag = r.u8() % 14;
        let route = r.u8();
        let n = usize::from(route % 2);
        match tag {
            0 => {
                let (k, v) = (key(r), value(r.u16(), *ops));
                let ks = s.spaces[n].clone();
                ks.put(s.tx(), &k, &v).expect("a put on a healthy disk");
                s.model[n].insert(k, v);
            }
            13 => long_key(&mut s, n, vec![b'K'; usize::from(r.u16())], route >= 128),
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
                    let (ks, k) = (r.u8(), key(r));
                    let (m, plain) = (usize::from(ks % 2), ks % 4 == 0);
                    if r.u8().is_multiple_of(2) {
                        let v = value(r.u16(), *ops);
                        match plain {
                            true => batch.put(&k, &v),
                            false => batch.put_in(&s.spaces[m], &k, &v),
                        };
                        s.model[m].insert(k, v);
                    } else {
                        match plain {
                            true => batch.delete(&k),
                            false => batch.delete_in(&s.spaces[m], &k),
                        };
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
            11 => {
                // The power fails with the transaction (and snapshots) open: recovery must
                // undo whatever of the transaction reached the disk.
                s.storage.crash(Crash::power_loss());
                return End::Crashed;
            }
            12 => {
                s.rollback(committed);
                return End::Reopen;
            }
            _ => unreachable!("tags are taken modulo 14"),
        }
    }
    s.commit(committed);
    End::Input
}

/// Every operation with a key that may be past the limit: each is refused with
/// `KeyTooLarge` — nothing changed, the transaction goes on — or done and modelled.
fn long_key(s: &mut Session<'_>, n: usize, k: Vec<u8>, delete: bool) {
    let ks = s.spaces[n].clone();
    let refused = |e: kv_db::Error| match e {
        kv_db::Error::KeyTooLarge { len, max } if len > max => {}
        e => panic!("an operation on a {}-byte key failed: {e}", k.len()),
    };
    match ks.put(s.tx(), &k, b"v") {
        Ok(()) => drop(s.model[n].insert(k.clone(), b"v".to_vec())),
        Err(e) => refused(e),
    }
    match ks.get(s.tx(), &k) {
        Ok(got) => assert_eq!(got.as_ref(), s.model[n].get(&k), "get of a long key"),
        Err(e) => refused(e),
    }
    let from = Bound::Included(&k[..]);
    match scan(&ks, s.tx(), from, Bound::Unbounded, false) {
        Ok(got) => {
            let want = expect(&s.model[n], from, Bound::Unbounded, false);
            assert!(got == want, "a range from a long key differs");
        }
        Err(e) => refused(e),
    }
    if delete {
        match ks.delete(s.tx(), &k) {
            Ok(found) => assert_eq!(found, s.model[n].remove(&k).is_some(), "delete's answer"),
            Err(e) => refused(e),
        }
    }
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
        let end = session(&storage, &db, &mut r, &mut committed, &mut ops);
        if !matches!(end, End::Crashed) {
            assert_equals(&db, &committed);
        }
        drop(db);
        if matches!(end, End::Input) {
            return;
        }
    }
}

/// One operation in the input language: its tag, its `ks` byte, its fields.
fn op(tag: u8, ks: u8, fields: &[u8]) -> Vec<u8> {
    [&[tag, ks][..], fields].concat()
}

/// The seed inputs: sessions that, between them, run every operation.
pub fn seeds() -> Vec<Vec<u8>> {
    let put = |ks, key, len: u16| op(0, ks, &[&[key][..], &len.to_be_bytes()].concat());
    let big = 2999u16; // six pages
    vec![
        // Puts, gets, deletes, ranges; commit; checkpoint; reopen.
        [
            put(0, 1, 10),
            put(1, 5, big),
            op(2, 0, &[1]),
            op(1, 1, &[5]),
            op(3, 0, &[0, 9, 1 + 3 * 2]),
            op(4, 0, &[]),
            op(9, 0, &[]),
            op(12, 0, &[]),
            op(2, 1, &[5]),
        ]
        .concat(),
        // A snapshot kept across commits, a rollback, a compaction; verified both ways.
        [
            put(0, 3, 100),
            op(4, 0, &[]),
            op(7, 0, &[]),
            put(0, 3, big),
            put(1, 7, 50),
            op(4, 0, &[]),
            put(0, 8, 5),
            op(5, 0, &[]),
            op(10, 0, &[]),
            op(8, 0, &[]),
            op(8, 1, &[]),
            op(3, 1, &[0, 0, 0x80]),
        ]
        .concat(),
        // A batch mixing both routes to the default keyspace, then a power cut mid-transaction.
        [
            op(6, 0, &[4, 0, 2, 0, 0, 40, 2, 2, 0, 0, 41, 1, 2, 1, 4, 2, 1]),
            put(0, 9, 700),
            put(1, 9, 700),
            op(11, 0, &[]),
            op(2, 0, &[2]),
        ]
        .concat(),
        // Keys past the limit, with and without a delete.
        [
            op(13, 0, &[0xff, 0xff]),
            op(13, 129, &[0x01, 0x00]),
            op(13, 128, &[0x00, 0x10]),
            op(4, 0, &[]),
            op(12, 0, &[]),
        ]
        .concat(),
    ]
}
