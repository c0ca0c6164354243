//! Bugs a reviewer found in the first B+tree, each pinned by a test (all fixed), and the
//! edge cases the review checked.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use common::{assert_sound, db, key, options};
use kv_file::{BlockId, MemStorage};
use kv_index::{BTree, Error};
use kv_tx::{DeadlockPolicy, PageRead, TxManager};

/// Runs `f` on its own thread; fails the test if it does not finish in `secs`.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, recv) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    match recv.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not return within {secs} s (hang)"),
    }
}

fn root_of(tx: &mut impl PageRead) -> u64 {
    tx.get_u64(&BlockId::new("t", 0), 40).unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. A replace on a leaf with one wild slot panicked in `leaf_insert_in_place`.
// ---------------------------------------------------------------------------------------
#[test]
fn replace_on_a_leaf_with_a_wild_slot_is_an_error_not_a_panic() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    tree.insert(&mut tx, b"a", b"1").unwrap();
    tree.insert(&mut tx, b"b", b"2").unwrap();
    // Slot 0 ("a") now points far past the page; slot 1 ("b") is intact. `search` for "b"
    // probes only slot 1, so the page passes; removing slot 1 leaves only the wild slot, and
    // `gap()` takes 0xffff as the start of the cell area.
    tx.write_bytes(&BlockId::new("t", 1), 32, &[0xff, 0xff])
        .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| tree.insert(&mut tx, b"b", b"x")));
    match r {
        Ok(Err(Error::Corrupt { .. })) => {}
        Ok(other) => panic!("expected Corrupt, got {other:?}"),
        Err(_) => panic!("insert panicked on a corrupt page"),
    }
}

// ---------------------------------------------------------------------------------------
// 2. `len` (and a range scan) never ended on a leaf-link cycle.
// ---------------------------------------------------------------------------------------
#[test]
fn len_on_a_leaf_link_cycle_is_an_error_not_a_hang() {
    let r = within(5, "len", || {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..40 {
            tree.insert(&mut tx, &key(i), &[7; 20]).unwrap();
        }
        // Leaf 1 stays the leftmost leaf; make it its own successor.
        tx.set_u64(&BlockId::new("t", 1), 16, 1).unwrap();
        tree.len(&mut tx).is_err()
    });
    assert!(r);
}

#[test]
fn a_range_on_a_leaf_link_cycle_does_not_repeat_keys_forever() {
    let n = within(5, "range", || {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..40 {
            tree.insert(&mut tx, &key(i), &[7; 20]).unwrap();
        }
        tx.set_u64(&BlockId::new("t", 1), 16, 1).unwrap();
        tree.range(&mut tx, ..)
            .unwrap()
            .take(10_000)
            .filter(|e| e.is_ok())
            .count()
    });
    assert!(n <= 40, "{n} entries from a 40-key tree");
}

// ---------------------------------------------------------------------------------------
// 3. `check` was exponential on an internal node whose children point back (`dump` was not).
// ---------------------------------------------------------------------------------------
fn self_referencing_root() -> (MemStorage, TxManager) {
    let (storage, db) = db(512);
    {
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..60 {
            tree.insert(&mut tx, &key(i), &[7; 20]).unwrap();
        }
        let root = root_of(&mut tx);
        let b = BlockId::new("t", root);
        let count = tx.read_bytes(&b, 10, 2).unwrap();
        let count = u16::from_le_bytes([count[0], count[1]]) as usize;
        assert!(count >= 2, "want a root with several children");
        tx.set_u64(&b, 16, root).unwrap(); // first child = itself
        for i in 0..count {
            let s = tx.read_bytes(&b, 32 + 2 * i, 2).unwrap();
            let at = u16::from_le_bytes([s[0], s[1]]) as usize;
            tx.set_u64(&b, at + 2, root).unwrap(); // every child = itself
        }
        tx.commit().unwrap();
    }
    (storage, db)
}

#[test]
fn check_on_a_self_referencing_node_returns() {
    let ok = within(5, "check", || {
        let (_s, db) = self_referencing_root();
        let mut tx = db.begin_read_only().unwrap();
        let tree = BTree::open(&mut tx, "t").unwrap();
        !tree.check(&mut tx).unwrap().is_ok()
    });
    assert!(ok);
}

#[test]
fn dump_on_a_self_referencing_node_returns() {
    within(5, "dump", || {
        let (_s, db) = self_referencing_root();
        let mut tx = db.begin_read_only().unwrap();
        let tree = BTree::open(&mut tx, "t").unwrap();
        let _ = tree.dump(&mut tx);
    });
}

// ---------------------------------------------------------------------------------------
// 4. A corrupt overflow length (u32::MAX, > MAX_VALUE) on a chain that cycles: `get` read
//    up to 4 GiB instead of failing.
// ---------------------------------------------------------------------------------------
#[test]
fn a_corrupt_overflow_length_is_refused_at_once() {
    let r = within(5, "get of a corrupt overflow value", || {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        tree.insert(&mut tx, b"k", &[1; 1000]).unwrap(); // 3 overflow pages: 2, 3, 4
                                                         // Leaf 1, one cell: find its offset, set value_len = u32::MAX.
        let leaf = BlockId::new("t", 1);
        let s = tx.read_bytes(&leaf, 32, 2).unwrap();
        let at = u16::from_le_bytes([s[0], s[1]]) as usize;
        assert_eq!(tx.read_bytes(&leaf, at + 2, 1).unwrap(), [1]); // overflow flag
        tx.write_bytes(&leaf, at + 3, &u32::MAX.to_le_bytes())
            .unwrap();
        let first = tx.get_u64(&leaf, at + 7 + 1).unwrap();
        tx.set_u64(&BlockId::new("t", first), 16, first).unwrap(); // chain: first -> first
        tree.get(&mut tx, b"k").map(|v| v.map(|v| v.len()))
    });
    assert!(matches!(r, Err(Error::Corrupt { .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 5. `delete` documented that after a deadlock the transaction may go on; but a deadlock in
//    the middle of a merge leaves the tree broken in that transaction: roll back, retry.
// ---------------------------------------------------------------------------------------
#[test]
fn a_deadlock_in_the_middle_of_a_delete_is_retryable_after_a_rollback() {
    let mut o = options(512);
    o.deadlock = DeadlockPolicy::WaitDie;
    let db = TxManager::open_with(MemStorage::new(), o).unwrap();
    let tree = {
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..60 {
            tree.insert(&mut tx, &key(i), &[7; 20]).unwrap();
        }
        assert_sound(&tree, &mut tx);
        tx.commit().unwrap();
        tree
    };
    let mut older = db.begin().unwrap();
    let mut younger = db.begin().unwrap();
    // The older transaction reads every key but the first few: shared locks on every leaf
    // but the first. (It locks no inner node: descents check them by LSN instead.)
    for i in 15..60 {
        assert!(tree.get(&mut older, &key(i)).unwrap().is_some());
    }
    // The younger one deletes from the left until a merge needs the second leaf
    // exclusively, half-way through.
    let mut err = None;
    for i in 0..30 {
        match tree.delete(&mut younger, &key(i)) {
            Ok(v) => assert!(v.is_some()),
            Err(e) => {
                err = Some((i, e));
                break;
            }
        }
    }
    let (i, err) = err.expect("a wait-die victim");
    assert!(err.is_retryable(), "{err}");
    // If the deadlock struck half-way through a merge, the tree inside `younger` is broken
    // (which is why `delete` says to roll back after *any* error).
    younger.rollback().unwrap();
    older.commit().unwrap();
    // Rolled back, the tree is whole; run again, the deletes succeed.
    let mut retry = db.begin().unwrap();
    assert_eq!(assert_sound(&tree, &mut retry).keys, 60);
    for i in 0..=i {
        assert!(tree.delete(&mut retry, &key(i)).unwrap().is_some());
    }
    assert_sound(&tree, &mut retry);
    retry.commit().unwrap();
}

// ---------------------------------------------------------------------------------------
// 6. Two real writers on threads: deadlocks are reported (retryable), never a hang.
// ---------------------------------------------------------------------------------------
#[test]
fn two_writers_never_hang_and_lose_nothing() {
    within(60, "two writers", || {
        let (_, db) = db(512);
        let tree = {
            let mut tx = db.begin().unwrap();
            let t = BTree::create(&mut tx, "t").unwrap();
            tx.commit().unwrap();
            t
        };
        let retries = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for w in 0..2u32 {
                let (db, tree, retries) = (&db, &tree, &retries);
                s.spawn(move || {
                    for batch in 0..30u32 {
                        loop {
                            let mut tx = db.begin().unwrap();
                            let r = (|| {
                                for j in 0..10u32 {
                                    let k = key(w * 100_000 + batch * 10 + j);
                                    tree.insert(&mut tx, &k, &[w as u8; 30])?;
                                    if j % 3 == 0 {
                                        tree.delete(
                                            &mut tx,
                                            &key(w * 100_000 + batch * 10 + j / 2),
                                        )?;
                                    }
                                }
                                Ok::<_, Error>(())
                            })();
                            match r {
                                Ok(()) => {
                                    tx.commit().unwrap();
                                    break;
                                }
                                Err(e) if e.is_retryable() => {
                                    retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    tx.rollback().unwrap();
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                });
            }
        });
        let mut tx = db.begin_read_only().unwrap();
        assert_sound(&tree, &mut tx);
        eprintln!("retries: {}", retries.into_inner());
        tree.len(&mut tx).unwrap()
    });
}

// ---------------------------------------------------------------------------------------
// 7. A snapshot taken before pages are freed and reused still reads its tree.
// ---------------------------------------------------------------------------------------
#[test]
fn a_snapshot_survives_pages_freed_and_reused() {
    let (_, db) = db(512);
    let tree = {
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..300 {
            tree.insert(&mut tx, &key(i), &[1; 20]).unwrap();
        }
        tree.insert(&mut tx, b"big", &[9; 3000]).unwrap();
        tx.commit().unwrap();
        tree
    };
    let mut snap = db.begin_read_only().unwrap();
    let mut tx = db.begin().unwrap();
    for i in 0..300 {
        tree.delete(&mut tx, &key(i)).unwrap();
    }
    tree.delete(&mut tx, b"big").unwrap();
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    for i in 0..300 {
        tree.insert(&mut tx, &key(1000 + i), &[2; 20]).unwrap();
    }
    tree.insert(&mut tx, b"big", &[3; 3000]).unwrap();
    tx.commit().unwrap();
    assert_eq!(tree.len(&mut snap).unwrap(), 301);
    assert_eq!(tree.get(&mut snap, b"big").unwrap(), Some(vec![9; 3000]));
    assert_eq!(tree.range_rev(&mut snap, ..).unwrap().count(), 301);
    assert_sound(&tree, &mut snap);
}

// ---------------------------------------------------------------------------------------
// 8. Random damage to committed pages: every operation must fail cleanly, never panic.
// ---------------------------------------------------------------------------------------
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_damage_never_panics() {
    let (_, db) = db(512);
    let tree = {
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..400 {
            let len = if i % 37 == 0 { 900 } else { (i % 50) as usize };
            tree.insert(&mut tx, &key(i), &vec![i as u8; len]).unwrap();
        }
        for i in (0..400).step_by(3) {
            tree.delete(&mut tx, &key(i)).unwrap();
        }
        tx.commit().unwrap();
        tree
    };
    let cap = db.page_capacity();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut panics = Vec::new();
    for iter in 0..3000 {
        let mut tx = db.begin().unwrap();
        let blocks = tx.size("t").unwrap();
        let n = 1 + rng.below(4);
        let mut what = Vec::new();
        for _ in 0..n {
            let b = 1 + rng.below(blocks - 1);
            // Mostly the header and slots, sometimes anywhere.
            let at = if rng.below(2) == 0 {
                8 + rng.below(40)
            } else {
                8 + rng.below(cap as u64 - 8)
            } as usize;
            let byte = rng.next() as u8;
            tx.write_bytes(&BlockId::new("t", b), at, &[byte]).unwrap();
            what.push((b, at, byte));
        }
        let k = key(rng.below(420) as u32);
        let op = rng.below(8);
        let vlen = [0usize, 10, 100, 900][rng.below(4) as usize];
        let r = catch_unwind(AssertUnwindSafe(|| match op {
            0 => drop(tree.get(&mut tx, &k)),
            1 => drop(tree.insert(&mut tx, &k, &vec![5; vlen])),
            2 => drop(tree.delete(&mut tx, &k)),
            3 => drop(tree.range(&mut tx, &k[..]..).map(|r| r.take(300).count())),
            4 => drop(
                tree.range_rev(&mut tx, ..=&k[..])
                    .map(|r| r.take(300).count()),
            ),
            5 => drop(
                tree.prefix(&mut tx, b"key0001")
                    .map(|r| r.take(300).count()),
            ),
            6 => drop(tree.check(&mut tx)),
            _ => {
                drop(tree.insert(&mut tx, &k, b"v"));
                drop(tree.delete(&mut tx, &key(rng.below(420) as u32)));
            }
        }));
        if r.is_err() {
            panics.push((iter, op, what));
        }
        drop(tx); // rolls back
    }
    assert!(
        panics.is_empty(),
        "{} panics, first few: {:?}",
        panics.len(),
        &panics[..panics.len().min(5)]
    );
}

// ---------------------------------------------------------------------------------------
// 9. Ranges with every bound equal to a separator (and its neighbours), both directions.
// ---------------------------------------------------------------------------------------
fn conv(b: &std::ops::Bound<Vec<u8>>) -> std::ops::Bound<&[u8]> {
    use std::ops::Bound::*;
    match b {
        Included(k) => Included(k.as_slice()),
        Excluded(k) => Excluded(k.as_slice()),
        Unbounded => Unbounded,
    }
}

#[test]
fn ranges_at_separators_match_a_model() {
    use std::collections::BTreeMap;
    use std::ops::Bound::*;
    use std::ops::RangeBounds;
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    let mut model = BTreeMap::new();
    for i in (0..600).step_by(2) {
        tree.insert(&mut tx, &key(i), &[1; 30]).unwrap();
        model.insert(key(i), vec![1; 30]);
    }
    for i in (0..600).step_by(6) {
        tree.delete(&mut tx, &key(i)).unwrap(); // separators that no longer exist as keys
        model.remove(&key(i));
    }
    assert_sound(&tree, &mut tx);
    let mut probes: Vec<Vec<u8>> = (0..601).map(key).collect();
    probes.push(vec![]);
    probes.push(vec![0xff; 10]);
    for p in &probes {
        for q in [p.clone(), key(300), key(599)] {
            let bs = |k: &Vec<u8>| [Included(k.clone()), Excluded(k.clone()), Unbounded];
            for lo in bs(p) {
                for hi in bs(&q) {
                    let want: Vec<_> = model
                        .iter()
                        .filter(|(k, _)| (lo.as_ref(), hi.as_ref()).contains(*k))
                        .map(|(k, _)| k.clone())
                        .collect();
                    let got: Vec<_> = tree
                        .range(&mut tx, (conv(&lo), conv(&hi)))
                        .unwrap()
                        .map(|e| e.unwrap().0)
                        .collect();
                    assert_eq!(got, want, "{lo:?}..{hi:?}");
                    let mut rev: Vec<_> = tree
                        .range_rev(&mut tx, (conv(&lo), conv(&hi)))
                        .unwrap()
                        .map(|e| e.unwrap().0)
                        .collect();
                    rev.reverse();
                    assert_eq!(rev, want, "rev {lo:?}..{hi:?}");
                }
            }
        }
        let pre = &p[..p.len().min(8)];
        let got: Vec<_> = tree
            .prefix(&mut tx, pre)
            .unwrap()
            .map(|e| e.unwrap().0)
            .collect();
        let want: Vec<_> = model
            .keys()
            .filter(|k| k.starts_with(pre))
            .cloned()
            .collect();
        assert_eq!(got, want);
    }
}

// ---------------------------------------------------------------------------------------
// 10. `check` missed an internal root without separators (a documented invariant).
// ---------------------------------------------------------------------------------------
#[test]
fn check_reports_an_internal_root_without_separators() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for i in 0..40 {
        tree.insert(&mut tx, &key(i), &[1; 20]).unwrap();
    }
    for i in 0..40 {
        tree.delete(&mut tx, &key(i)).unwrap();
    }
    tree.insert(&mut tx, b"k", b"v").unwrap();
    let meta = BlockId::new("t", 0);
    let root = tx.get_u64(&meta, 40).unwrap();
    let free = tx.get_u64(&meta, 48).unwrap();
    assert_ne!(free, 0);
    let f = BlockId::new("t", free);
    let after = tx.get_u64(&f, 16).unwrap();
    // The free page becomes an internal root with no separators above the old root leaf.
    tx.write_bytes(&f, 8, &[2]).unwrap();
    tx.set_u64(&f, 16, root).unwrap();
    tx.set_u64(&meta, 40, free).unwrap();
    tx.set_u64(&meta, 48, after).unwrap();
    assert_eq!(tree.get(&mut tx, b"k").unwrap(), Some(b"v".to_vec()));
    let report = tree.check(&mut tx).unwrap();
    assert!(
        !report.is_ok(),
        "internal root with one child passes check: {report:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 11. Limits: keys of exactly max_key, values at the inline threshold, huge cells.
// ---------------------------------------------------------------------------------------
#[test]
fn limits_boundaries() {
    for bs in [512usize, 4096] {
        let (_, db) = db(bs);
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        let mk = tree.max_key();
        let usable = db.page_capacity() - 32;
        let max_cell = usable / 3;
        let inline_max = max_cell - 9 - mk;
        let mut model = std::collections::BTreeMap::new();
        for i in 0..60u32 {
            let mut k = vec![(i % 7) as u8; mk];
            k[mk - 4..].copy_from_slice(&i.to_be_bytes());
            let len = [inline_max, inline_max + 1, 0, inline_max - 1][i as usize % 4];
            let v = vec![i as u8; len];
            tree.insert(&mut tx, &k, &v).unwrap();
            model.insert(k, v);
            assert_sound(&tree, &mut tx);
        }
        assert!(matches!(
            tree.insert(&mut tx, &vec![0; mk + 1], b""),
            Err(Error::KeyTooLarge { .. })
        ));
        for (k, v) in &model {
            assert_eq!(tree.get(&mut tx, k).unwrap().as_ref(), Some(v));
        }
        let keys: Vec<_> = model.keys().cloned().collect();
        for k in keys.iter().step_by(2) {
            tree.delete(&mut tx, k).unwrap();
            model.remove(k);
            assert_sound(&tree, &mut tx);
        }
        let got: Vec<_> = tree
            .range(&mut tx, ..)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        let want: Vec<_> = model.into_iter().collect();
        assert_eq!(got, want);
    }
}

// ---------------------------------------------------------------------------------------
// 12. Spare blocks past the high-water mark are reused; none lost, none shared.
// ---------------------------------------------------------------------------------------
#[test]
fn spare_blocks_after_rollback_are_reused() {
    let (_, db) = db(512);
    let tree = {
        let mut tx = db.begin().unwrap();
        let t = BTree::create(&mut tx, "t").unwrap();
        tx.commit().unwrap();
        t
    };
    let mut tx = db.begin().unwrap();
    for i in 0..200 {
        tree.insert(&mut tx, &key(i), &[1; 40]).unwrap();
    }
    tree.insert(&mut tx, b"big", &[2; 4000]).unwrap();
    let grown = tx.size("t").unwrap();
    tx.rollback().unwrap();
    let mut tx = db.begin().unwrap();
    assert_eq!(tx.size("t").unwrap(), grown);
    let r = assert_sound(&tree, &mut tx);
    assert_eq!(r.blocks, 2);
    for i in 0..200 {
        tree.insert(&mut tx, &key(i), &[1; 40]).unwrap();
    }
    tree.insert(&mut tx, b"big", &[2; 4000]).unwrap();
    assert_eq!(
        tx.size("t").unwrap(),
        grown,
        "spare blocks reused before the file grows"
    );
    assert_sound(&tree, &mut tx);
    tx.commit().unwrap();
}

// ---------------------------------------------------------------------------------------
// Found by the `page` fuzz target: a meta page whose high-water mark claims 2^40 blocks
// made `check` walk (and list as lost) 2^40 pages — a hang. The mark is now checked against
// the file's length: a problem to report, and the walk covers the file only.
// ---------------------------------------------------------------------------------------
#[test]
fn a_high_water_mark_past_the_end_of_the_file_is_a_problem_not_a_hang() {
    let (problems, hash_problems) = within(10, "check of a huge high-water mark", || {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        let hash = kv_index::HashIndex::create(&mut tx, "h").unwrap();
        for i in 0..50 {
            tree.insert(&mut tx, &key(i), &[3; 30]).unwrap();
            hash.insert(&mut tx, &key(i), &[3; 30]).unwrap();
        }
        for file in ["t", "h"] {
            tx.set_u64(&BlockId::new(file, 0), 64, 1 << 40).unwrap(); // HIGH_WATER
        }
        let tree_report = tree.check(&mut tx).unwrap();
        let hash_report = hash.check(&mut tx).unwrap();
        (tree_report.problems, hash_report.problems)
    });
    for problems in [problems, hash_problems] {
        assert!(
            problems[0].starts_with("the high-water mark is 1099511627776, past the end"),
            "{problems:?}"
        );
        assert!(problems.iter().all(|p| p.len() < 300), "{problems:?}");
    }
}

// ---------------------------------------------------------------------------------------
// From the review of the fuzz work: a leaf linked to itself both ways passes the back-link
// check, and with the meta page's high-water mark also damaged (2^40) the walk's budget
// allowed 2^40 steps round it. Brent's cycle detection now finds any such cycle.
// ---------------------------------------------------------------------------------------
#[test]
fn a_leaf_cycle_is_found_even_when_the_high_water_mark_is_damaged_too() {
    let err = within(10, "a scan round a leaf cycle", || {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let tree = BTree::create(&mut tx, "t").unwrap();
        for i in 0..3 {
            tree.insert(&mut tx, &key(i), b"v").unwrap();
        }
        let root = root_of(&mut tx); // a leaf: the tree is small
        let leaf = BlockId::new("t", root);
        tx.set_u64(&leaf, 16, root).unwrap(); // next
        tx.set_u64(&leaf, 24, root).unwrap(); // prev
        tx.set_u64(&BlockId::new("t", 0), 64, 1 << 40).unwrap(); // HIGH_WATER
        let mut scan = tree.range(&mut tx, ..).unwrap();
        scan.find_map(|entry| entry.err())
    });
    assert!(
        matches!(&err, Some(Error::Corrupt { reason, .. }) if reason.contains("cycle")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The hash index's bucket chains have the same guard: every page linked to itself and a
// high-water mark of 2^40 make each lookup an error (or an answer), never 2^40 steps.
// ---------------------------------------------------------------------------------------
#[test]
fn a_hash_chain_cycle_is_found_even_when_the_high_water_mark_is_damaged_too() {
    let answers = within(10, "hash lookups round a chain cycle", || {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let hash = kv_index::HashIndex::create(&mut tx, "h").unwrap();
        for i in 0..5 {
            hash.insert(&mut tx, &key(i), b"v").unwrap();
        }
        for n in 1..tx.size("h").unwrap() {
            tx.set_u64(&BlockId::new("h", n), 16, n).unwrap(); // each page's link: itself
        }
        tx.set_u64(&BlockId::new("h", 0), 64, 1 << 40).unwrap(); // HIGH_WATER
        (0..10)
            .map(|i| hash.get(&mut tx, &key(i)))
            .collect::<Vec<_>>()
    });
    let cycles = answers
        .iter()
        .filter(|a| matches!(a, Err(Error::Corrupt { reason, .. }) if reason.contains("cycle")));
    assert!(cycles.count() > 0, "{answers:?}");
}
