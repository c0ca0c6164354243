//! Chapter 7 checkpoint: the B+tree — splits, merges, ranges, overflow values, limits.

mod common;

use std::ops::Bound;

use common::{assert_sound, db, key};
use kv_index::{BTree, Error, Index, MAX_VALUE};
use kv_tx::PageRead;

#[test]
fn an_empty_tree_has_nothing_in_it() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    assert_eq!(tree.get(&mut tx, b"x").unwrap(), None);
    assert_eq!(tree.delete(&mut tx, b"x").unwrap(), None);
    assert!(tree.is_empty(&mut tx).unwrap());
    assert_eq!(tree.len(&mut tx).unwrap(), 0);
    assert_eq!(tree.range(&mut tx, ..).unwrap().count(), 0);
    assert_eq!(tree.range_rev(&mut tx, ..).unwrap().count(), 0);
    let report = assert_sound(&tree, &mut tx);
    assert_eq!((report.height, report.keys, report.blocks), (1, 0, 2));
}

#[test]
fn insert_replaces_and_returns_the_old_value() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    assert_eq!(tree.insert(&mut tx, b"k", b"one").unwrap(), None);
    assert_eq!(
        tree.insert(&mut tx, b"k", b"two").unwrap(),
        Some(b"one".to_vec())
    );
    tree.put(&mut tx, b"k", b"three").unwrap();
    assert_eq!(tree.get(&mut tx, b"k").unwrap(), Some(b"three".to_vec()));
    assert!(tree.remove(&mut tx, b"k").unwrap());
    assert!(!tree.remove(&mut tx, b"k").unwrap());
    assert_eq!(tree.len(&mut tx).unwrap(), 0);
}

#[test]
fn the_root_splits_then_splits_cascade_then_merges_shrink_it_back() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    let mut height = 1;
    for i in 0..2_000 {
        tree.insert(&mut tx, &key(i), &[i as u8; 20]).unwrap();
        if i % 100 == 0 {
            let report = assert_sound(&tree, &mut tx);
            assert!(
                report.height >= height,
                "the tree never gets shorter on insert"
            );
            height = report.height;
        }
    }
    let report = assert_sound(&tree, &mut tx);
    assert!(report.height >= 4, "a cascade of splits: {report:?}");
    assert_eq!(report.keys, 2_000);
    for i in 0..2_000 {
        assert_eq!(tree.get(&mut tx, &key(i)).unwrap(), Some(vec![i as u8; 20]));
    }
    // Delete in a scattered order, checking as the tree merges down.
    for (n, i) in (0..2_000u32).map(|i| (i * 7919) % 2_000).enumerate() {
        assert_eq!(
            tree.delete(&mut tx, &key(i)).unwrap(),
            Some(vec![i as u8; 20])
        );
        if n % 97 == 0 {
            assert_sound(&tree, &mut tx);
        }
    }
    let report = assert_sound(&tree, &mut tx);
    assert_eq!((report.height, report.keys, report.leaves), (1, 0, 1));
    assert_eq!(
        report.free + 2,
        report.blocks,
        "every page but meta and root is free"
    );
    // Freed pages are reused before the file grows.
    let blocks = report.blocks;
    for i in 0..500 {
        tree.insert(&mut tx, &key(i), b"again").unwrap();
    }
    assert_eq!(assert_sound(&tree, &mut tx).blocks, blocks);
    tx.commit().unwrap();
}

#[test]
fn ranges_respect_every_kind_of_bound_both_ways() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    let keys: Vec<Vec<u8>> = (0..300u32).map(|i| key(i * 2)).collect(); // even numbers
    for k in &keys {
        tree.insert(&mut tx, k, k).unwrap();
    }
    let collect = |it: kv_index::Range<'_, kv_tx::Transaction<'_>>| -> Vec<Vec<u8>> {
        it.map(|e| e.unwrap().0).collect()
    };
    let model: std::collections::BTreeSet<Vec<u8>> = keys.iter().cloned().collect();
    let (k10, k11, k20, k21) = (key(10), key(11), key(20), key(21));
    type Bounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);
    let cases: Vec<Bounds<'_>> = vec![
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(&k10), Bound::Included(&k20)),
        (Bound::Excluded(&k10), Bound::Excluded(&k20)),
        (Bound::Included(&k11), Bound::Excluded(&k21)),
        (Bound::Excluded(&k11), Bound::Included(&k21)),
        (Bound::Unbounded, Bound::Excluded(&k10)),
        (Bound::Included(&k20), Bound::Unbounded),
        (Bound::Included(&k20), Bound::Excluded(&k10)), // empty: start after end
    ];
    for (lo, hi) in cases {
        let own = |b: Bound<&[u8]>| b.map(|k| k.to_vec());
        let want: Vec<Vec<u8>> = if matches!((lo, hi), (Bound::Included(a), Bound::Excluded(b)) if a > b)
        {
            vec![]
        } else {
            model.range((own(lo), own(hi))).cloned().collect()
        };
        assert_eq!(
            collect(tree.range(&mut tx, (lo, hi)).unwrap()),
            want,
            "{lo:?}..{hi:?}"
        );
        let mut reversed = want.clone();
        reversed.reverse();
        assert_eq!(
            collect(tree.range_rev(&mut tx, (lo, hi)).unwrap()),
            reversed,
            "rev {lo:?}..{hi:?}"
        );
    }
}

#[test]
fn a_prefix_scan_stops_at_the_first_key_without_the_prefix() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for k in ["app", "apple", "applied", "apply", "apt", "b", "ap"] {
        tree.insert(&mut tx, k.as_bytes(), b"").unwrap();
    }
    let got: Vec<String> = tree
        .prefix(&mut tx, b"appl")
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().0).unwrap())
        .collect();
    assert_eq!(got, ["apple", "applied", "apply"]);
    assert_eq!(tree.prefix(&mut tx, b"").unwrap().count(), 7);
    assert_eq!(tree.prefix(&mut tx, b"zz").unwrap().count(), 0);
}

#[test]
fn large_values_go_to_overflow_chains_that_are_freed_when_replaced_or_deleted() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    tree.insert(&mut tx, b"big", &big).unwrap();
    tree.insert(&mut tx, b"small", b"s").unwrap();
    let report = assert_sound(&tree, &mut tx);
    assert!(report.overflow >= 10_000 / 480, "{report:?}");
    assert_eq!(tree.get(&mut tx, b"big").unwrap(), Some(big.clone()));
    let entries: Vec<_> = tree
        .range(&mut tx, ..)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(entries[0], (b"big".to_vec(), big.clone()));

    let bigger = vec![7u8; 20_000];
    assert_eq!(tree.insert(&mut tx, b"big", &bigger).unwrap(), Some(big));
    let report = assert_sound(&tree, &mut tx);
    assert!(
        report.free > 0,
        "the old chain went to the free list: {report:?}"
    );
    tree.put(&mut tx, b"big", b"tiny now").unwrap();
    assert_eq!(
        tree.delete(&mut tx, b"big").unwrap(),
        Some(b"tiny now".to_vec())
    );
    let report = assert_sound(&tree, &mut tx);
    assert_eq!(report.overflow, 0);
    assert_eq!(report.free + 2, report.blocks);
}

#[test]
fn keys_and_values_over_the_limits_are_refused_and_nothing_changes() {
    let (_, db) = db(4096);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    assert_eq!(tree.max_key(), 1024, "1 KiB keys with 4 KiB pages");
    tree.insert(&mut tx, &vec![b'k'; 1024], b"fits").unwrap();
    let end = db.log().end_lsn();
    let err = tree.insert(&mut tx, &vec![b'k'; 1025], b"v").unwrap_err();
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
    let huge = vec![0u8; MAX_VALUE + 1];
    let err = tree.insert(&mut tx, b"k", &huge).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    assert_eq!(db.log().end_lsn(), end, "nothing was logged");
    assert_eq!(tree.get(&mut tx, &vec![b'k'; 1025]).unwrap(), None);
    assert_eq!(tree.delete(&mut tx, &vec![b'k'; 1025]).unwrap(), None);
    assert_eq!(assert_sound(&tree, &mut tx).keys, 1);
}

#[test]
fn largest_keys_and_values_side_by_side() {
    let (_, db) = db(4096);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for i in 0..40u8 {
        let mut k = vec![i; 1024];
        k[0] = i;
        tree.insert(&mut tx, &k, &vec![i; 3000]).unwrap();
    }
    let report = assert_sound(&tree, &mut tx);
    assert!(report.height >= 2);
    for i in (0..40u8).step_by(3) {
        tree.delete(&mut tx, &vec![i; 1024]).unwrap();
    }
    assert_sound(&tree, &mut tx);
}

#[test]
fn rolled_back_changes_vanish_and_committed_ones_survive_a_reopen() {
    let (storage, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for i in 0..200 {
        tree.insert(&mut tx, &key(i), b"committed").unwrap();
    }
    tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    for i in 0..200 {
        tree.delete(&mut tx, &key(i)).unwrap();
    }
    for i in 1000..1400 {
        tree.insert(&mut tx, &key(i), b"rolled back").unwrap();
    }
    tx.rollback().unwrap();
    drop(db);
    let db = kv_tx::TxManager::open_with(storage, common::options(512)).unwrap();
    let mut tx = db.begin().unwrap();
    let tree = BTree::open(&mut tx, "t").unwrap();
    let report = assert_sound(&tree, &mut tx);
    assert_eq!(report.keys, 200);
    assert_eq!(
        tree.get(&mut tx, &key(7)).unwrap(),
        Some(b"committed".to_vec())
    );
    assert_eq!(tree.get(&mut tx, &key(1001)).unwrap(), None);
}

#[test]
fn a_snapshot_reads_the_tree_as_it_was() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for i in 0..100 {
        tree.insert(&mut tx, &key(i), b"old").unwrap();
    }
    tx.commit().unwrap();
    let mut snapshot = db.begin_read_only().unwrap();
    let mut tx = db.begin().unwrap();
    for i in 0..300 {
        tree.insert(&mut tx, &key(i), b"new").unwrap(); // splits pages the snapshot reads
    }
    tx.commit().unwrap();
    assert_eq!(tree.len(&mut snapshot).unwrap(), 100);
    assert_eq!(
        tree.get(&mut snapshot, &key(50)).unwrap(),
        Some(b"old".to_vec())
    );
    assert!(tree
        .range(&mut snapshot, ..)
        .unwrap()
        .all(|e| e.unwrap().1 == b"old"));
    assert_sound(&tree, &mut snapshot);
}

#[test]
fn opening_something_else_is_refused() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    assert!(matches!(
        BTree::open(&mut tx, "missing"),
        Err(Error::NotAnIndex { .. })
    ));
    BTree::create(&mut tx, "t").unwrap();
    assert!(matches!(
        BTree::create(&mut tx, "t"),
        Err(Error::NotAnIndex { .. })
    ));
}

#[test]
fn a_damaged_node_is_reported_not_a_panic() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for i in 0..100 {
        tree.insert(&mut tx, &key(i), b"v").unwrap();
    }
    // Scribble over the first slot of every node: it now points past the page.
    let pages = tx.size("t").unwrap();
    for n in 1..pages {
        let b = kv_file::BlockId::new("t", n);
        tx.write_bytes(&b, 32, &[0xff, 0xff]).unwrap();
    }
    assert!(matches!(
        tree.get(&mut tx, &key(3)),
        Err(Error::Corrupt { .. })
    ));
    // A scan decodes a leaf's cells as it reaches them: the damage shows at the first entry.
    assert!(matches!(
        tree.range(&mut tx, ..)
            .and_then(|mut r| r.next().transpose()),
        Err(Error::Corrupt { .. })
    ));
    let report = tree.check(&mut tx).unwrap();
    assert!(!report.is_ok());
    assert!(
        report.problems[0].contains("outside the cell area"),
        "{report:?}"
    );
}

#[test]
fn a_deadlock_is_retryable() {
    let err = Error::Tx(kv_tx::Error::Deadlock {
        txn: 1,
        block: kv_file::BlockId::new("t", 1),
    });
    assert!(err.is_retryable());
    assert!(!Error::KeyTooLarge { len: 2, max: 1 }.is_retryable());
}

#[test]
fn writers_of_one_leaf_queue_instead_of_deadlocking() {
    // A read-modify-write of one hot key from many threads: each locks the leaf for
    // update before reading it, so they wait in turn — none is a deadlock victim.
    let (_, db) = db(4096);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    tree.insert(&mut tx, b"counter", &0u64.to_le_bytes())
        .unwrap();
    tx.commit().unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..25 {
                    let mut tx = db.begin().unwrap();
                    let old = tree.get_for_update(&mut tx, b"counter").unwrap().unwrap();
                    let n = u64::from_le_bytes(old.try_into().unwrap()) + 1;
                    tree.insert(&mut tx, b"counter", &n.to_le_bytes()).unwrap();
                    tree.insert(&mut tx, format!("log{n:04}").as_bytes(), b"")
                        .unwrap();
                    tx.commit().unwrap();
                }
            });
        }
    });
    let mut r = db.begin_read_only().unwrap();
    let n = tree.get(&mut r, b"counter").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(n.try_into().unwrap()), 200);
    assert_eq!(db.locks().stats().deadlocks, 0);
    assert!(db.locks().stats().waits > 0, "they did contend");
    assert_sound(&tree, &mut r);
}
