//! Chapter 7 checkpoint: the extendible hash index — splits, directory doubling, chains of
//! equal hashes, overflow values, limits, rollback, reopen, damage. (The model-based test is
//! in `hash_model.rs`.)

mod common;

use common::{assert_hash_sound as assert_sound, db, key, options};
use kv_file::BlockId;
use kv_index::{Error, HashIndex, Index, MAX_VALUE};
use kv_tx::{PageRead, Transaction, TxManager};

/// The largest key with 512-byte pages (the B+tree's limit).
const MAX_KEY: usize = 140;

#[test]
fn an_empty_index_has_one_bucket_and_nothing_in_it() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    assert_eq!(index.max_key(), MAX_KEY);
    assert_eq!(index.file(), "h");
    assert_eq!(index.get(&mut tx, b"x").unwrap(), None);
    assert_eq!(index.delete(&mut tx, b"x").unwrap(), None);
    assert!(index.is_empty(&mut tx).unwrap());
    let report = assert_sound(&index, &mut tx);
    let shape = (
        report.global_depth,
        report.directory_index_pages,
        report.directory_pages,
        report.buckets,
        report.blocks,
    );
    assert_eq!(
        shape,
        (0, 1, 1, 1, 4),
        "meta, one directory index page, one directory page, one bucket"
    );
    assert!(matches!(
        HashIndex::create(&mut tx, "h"),
        Err(Error::NotAnIndex { .. })
    ));
    assert!(matches!(
        kv_index::BTree::open(&mut tx, "h"),
        Err(Error::NotAnIndex { .. })
    ));
}

#[test]
fn insert_replaces_and_returns_the_old_value() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    assert_eq!(index.insert(&mut tx, b"k", b"one").unwrap(), None);
    assert_eq!(
        index.insert(&mut tx, b"k", b"two").unwrap(),
        Some(b"one".to_vec())
    );
    Index::put(&index, &mut tx, b"k", b"three").unwrap();
    assert_eq!(
        Index::get(&index, &mut tx, b"k").unwrap(),
        Some(b"three".to_vec())
    );
    index.insert(&mut tx, b"", b"the empty key").unwrap();
    assert_eq!(
        index.get(&mut tx, b"").unwrap(),
        Some(b"the empty key".to_vec())
    );
    assert!(Index::remove(&index, &mut tx, b"k").unwrap());
    assert!(!Index::remove(&index, &mut tx, b"k").unwrap());
    assert_eq!(index.len(&mut tx).unwrap(), 1);
    assert_sound(&index, &mut tx);
}

// ANCHOR: growth_test
#[test]
fn buckets_split_and_the_directory_doubles() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    let (mut doublings, mut splits_without_doubling) = (0, 0);
    let mut last = assert_sound(&index, &mut tx);
    for i in 0..1_500 {
        index.insert(&mut tx, &key(i), &[i as u8; 20]).unwrap();
        let report = if i % 50 == 0 || i < 100 {
            assert_sound(&index, &mut tx)
        } else {
            continue;
        };
        assert!(
            report.global_depth >= last.global_depth,
            "the directory never shrinks"
        );
        if report.global_depth > last.global_depth {
            doublings += 1;
        } else if report.buckets > last.buckets {
            splits_without_doubling += 1; // a bucket of local depth < global depth split
        }
        last = report;
    }
    let report = assert_sound(&index, &mut tx);
    assert!(report.global_depth >= 7, "{report:?}");
    assert!(
        doublings >= 3 && splits_without_doubling >= 3,
        "{doublings} {splits_without_doubling}"
    );
    assert!(
        report.directory_pages >= 3,
        "59 entries per 512-byte page: {report:?}"
    );
    assert_eq!(report.keys, 1_500);
    assert!(
        report.buckets > 1_500 / 20,
        "buckets are not mostly empty: {report:?}"
    );
    for i in 0..1_500 {
        assert_eq!(
            index.get(&mut tx, &key(i)).unwrap(),
            Some(vec![i as u8; 20])
        );
    }
    assert_eq!(index.get(&mut tx, &key(1_500)).unwrap(), None);
    // Deletes empty the buckets but never merge them (see CAVEATS).
    for i in 0..1_500 {
        assert_eq!(
            index.delete(&mut tx, &key(i)).unwrap(),
            Some(vec![i as u8; 20])
        );
    }
    let after = assert_sound(&index, &mut tx);
    assert_eq!(
        (after.keys, after.buckets, after.global_depth),
        (0, report.buckets, report.global_depth)
    );
    tx.commit().unwrap();
}
// ANCHOR_END: growth_test

#[test]
fn the_first_split_doubles_a_one_entry_directory() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    let mut i = 0;
    while assert_sound(&index, &mut tx).buckets == 1 {
        index.insert(&mut tx, &key(i), &[b'v'; 40]).unwrap();
        i += 1;
    }
    let report = assert_sound(&index, &mut tx);
    assert_eq!(
        (report.global_depth, report.buckets, report.max_local_depth),
        (1, 2, 1)
    );
    assert!(
        i >= 8,
        "about nine 56-byte cells fill a 512-byte bucket: split after {i}"
    );
    let dump = index.dump(&mut tx).unwrap();
    assert!(
        dump.starts_with(
            "directory: global depth 1, 2 entries in page [2], index page [1]\n  0 -> 3\n  1 -> 4\n"
        ),
        "{dump}"
    );
}

/// Every key hashes to the same value: no split can ever separate them.
fn constant(_: &[u8]) -> u64 {
    0x5eed
}

/// Hashes whose low 20 bits are all zero: the keys differ only in bits no bucket uses yet.
fn high_bits_only(key: &[u8]) -> u64 {
    u64::from(key.last().copied().unwrap_or(0)) << 20
}

#[test]
fn keys_with_equal_hashes_share_a_chain_and_never_double_the_directory() {
    for hash in [constant as fn(&[u8]) -> u64, high_bits_only] {
        let (_, db) = db(512);
        let mut tx = db.begin().unwrap();
        let index = HashIndex::create(&mut tx, "h").unwrap().with_hash_fn(hash);
        for i in 0..200 {
            index.insert(&mut tx, &key(i), &[i as u8; 30]).unwrap();
        }
        let report = assert_sound(&index, &mut tx);
        assert_eq!((report.global_depth, report.buckets), (0, 1), "{report:?}");
        assert!(report.bucket_overflow >= 200 * 44 / 472, "{report:?}");
        for i in 0..200 {
            assert_eq!(
                index.get(&mut tx, &key(i)).unwrap(),
                Some(vec![i as u8; 30])
            );
        }
        for i in 0..190 {
            assert!(index.remove(&mut tx, &key(i)).unwrap());
        }
        // The chain shrank back: ten cells need one page; the rest went to the free list.
        let after = assert_sound(&index, &mut tx);
        assert_eq!(after.bucket_overflow, 0, "{after:?}");
        assert_eq!(after.free, report.bucket_overflow);
        // Reused before the file grows.
        for i in 0..100 {
            index.insert(&mut tx, &key(i), b"again").unwrap();
        }
        assert_eq!(assert_sound(&index, &mut tx).blocks, report.blocks);
    }
}

/// Only four hash values (by the key's last byte): chains and splits together.
fn four_values(key: &[u8]) -> u64 {
    u64::from(key.last().copied().unwrap_or(0) % 4)
}

#[test]
fn a_few_distinct_hashes_split_as_far_as_they_separate_then_chain() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h")
        .unwrap()
        .with_hash_fn(four_values);
    for i in 0..400 {
        index.insert(&mut tx, &key(i), &[1; 10]).unwrap();
    }
    let report = assert_sound(&index, &mut tx);
    assert_eq!(
        (report.global_depth, report.buckets, report.keys),
        (2, 4, 400),
        "{report:?}"
    );
    assert!(report.bucket_overflow > 4, "{report:?}");
}

#[test]
fn large_values_live_in_overflow_chains_freed_on_replace_and_delete() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    let per_page = 512 - 8 - 32; // payload less the header
    let big = vec![7u8; 5_000];
    index.insert(&mut tx, b"big", &big).unwrap();
    let report = assert_sound(&index, &mut tx);
    assert_eq!(report.overflow as usize, 5_000usize.div_ceil(per_page));
    assert_eq!(index.get(&mut tx, b"big").unwrap(), Some(big.clone()));
    let bigger = vec![8u8; 9_000];
    assert_eq!(index.insert(&mut tx, b"big", &bigger).unwrap(), Some(big));
    let report = assert_sound(&index, &mut tx);
    assert_eq!(report.overflow as usize, 9_000usize.div_ceil(per_page));
    assert_eq!(
        report.free as usize,
        5_000usize.div_ceil(per_page),
        "the old chain was freed"
    );
    index.put(&mut tx, b"big", b"tiny now").unwrap();
    assert_eq!(assert_sound(&index, &mut tx).overflow, 0);
    index.put(&mut tx, b"big", &bigger).unwrap();
    assert_eq!(index.delete(&mut tx, b"big").unwrap(), Some(bigger));
    let report = assert_sound(&index, &mut tx);
    assert_eq!(report.overflow, 0);
    assert_eq!(
        report.free + 4,
        report.blocks,
        "everything but meta, directory (index and entry page), bucket is free"
    );
    // With the largest key, 8 bytes stay in the cell (a third of the page); 9 overflow.
    index.insert(&mut tx, &[b'k'; MAX_KEY], &[1; 8]).unwrap();
    index.insert(&mut tx, &[b'K'; MAX_KEY], &[2; 9]).unwrap();
    let report = assert_sound(&index, &mut tx);
    assert_eq!(report.overflow, 1, "{report:?}");
}

#[test]
fn keys_and_values_over_the_limits_are_refused_and_nothing_changes() {
    let (_, db) = db(4096);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    assert_eq!(index.max_key(), 1024, "1 KiB keys with 4 KiB pages");
    index.insert(&mut tx, &[b'k'; 1024], b"fits").unwrap();
    let end = db.log().end_lsn();
    let before = index.dump(&mut tx).unwrap();
    let err = index.insert(&mut tx, &[b'k'; 1025], b"v").unwrap_err();
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
    let err = index.insert(&mut tx, b"k", &huge).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    let err = index.put(&mut tx, &[b'k'; 1024], &huge).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    assert_eq!(db.log().end_lsn(), end, "nothing was logged");
    assert_eq!(index.get(&mut tx, &[b'k'; 1025]).unwrap(), None);
    assert_eq!(index.delete(&mut tx, &[b'k'; 1025]).unwrap(), None);
    assert_eq!(index.dump(&mut tx).unwrap(), before);
    assert_eq!(
        index.get(&mut tx, &[b'k'; 1024]).unwrap(),
        Some(b"fits".to_vec())
    );
    assert_eq!(assert_sound(&index, &mut tx).keys, 1);
}

#[test]
fn rolled_back_changes_vanish_and_committed_ones_survive_a_reopen() {
    let (storage, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    for i in 0..100 {
        index.insert(&mut tx, &key(i), b"committed").unwrap();
    }
    tx.commit().unwrap();
    let committed = {
        let mut snapshot = db.begin_read_only().unwrap();
        (
            assert_sound(&index, &mut snapshot),
            index.dump(&mut snapshot).unwrap(),
        )
    };
    // Splits, doublings, overflow chains, deletes — all rolled back.
    let mut tx = db.begin().unwrap();
    for i in 100..600 {
        index
            .insert(&mut tx, &key(i), &vec![1; (i as usize * 13) % 700])
            .unwrap();
    }
    for i in 0..50 {
        index.delete(&mut tx, &key(i)).unwrap();
    }
    assert!(assert_sound(&index, &mut tx).global_depth > committed.0.global_depth);
    tx.rollback().unwrap();
    let mut tx = db.begin().unwrap();
    let report = assert_sound(&index, &mut tx);
    assert_eq!(index.dump(&mut tx).unwrap(), committed.1);
    assert_eq!(
        (report.keys, report.global_depth),
        (100, committed.0.global_depth)
    );
    // Blocks appended by the rolled-back transaction are spare, not lost, and reused.
    for i in 100..300 {
        index.insert(&mut tx, &key(i), b"second").unwrap();
    }
    tx.commit().unwrap();
    drop(index);
    drop(db);
    let db = TxManager::open_with(storage, options(512)).unwrap();
    let mut tx = db.begin().unwrap();
    let index = HashIndex::open(&mut tx, "h").unwrap();
    assert_eq!(assert_sound(&index, &mut tx).keys, 300);
    for i in 0..300 {
        let want: &[u8] = if i < 100 { b"committed" } else { b"second" };
        assert_eq!(index.get(&mut tx, &key(i)).unwrap().as_deref(), Some(want));
    }
    assert!(matches!(
        HashIndex::open(&mut tx, "nothing"),
        Err(Error::NotAnIndex { .. })
    ));
}

#[test]
fn a_snapshot_reads_the_index_as_it_was_while_a_writer_splits_it() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    for i in 0..20 {
        index.insert(&mut tx, &key(i), b"old").unwrap();
    }
    tx.commit().unwrap();
    let mut snapshot = db.begin_read_only().unwrap();
    let mut tx = db.begin().unwrap();
    for i in 0..500 {
        index.insert(&mut tx, &key(i), b"new").unwrap();
    }
    for i in 0..20 {
        assert_eq!(
            index.get(&mut snapshot, &key(i)).unwrap().as_deref(),
            Some(&b"old"[..])
        );
    }
    assert_eq!(index.get(&mut snapshot, &key(100)).unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(assert_sound(&index, &mut snapshot).keys, 20);
    let mut later = db.begin_read_only().unwrap();
    assert_eq!(assert_sound(&index, &mut later).keys, 500);
}

/// Runs every operation against the damaged index: each may fail, none may panic.
fn exercise(index: &HashIndex, tx: &mut Transaction<'_>) {
    for i in (0..40).step_by(3) {
        let _ = index.get(tx, &key(i));
    }
    let _ = index.check(tx);
    let _ = index.dump(tx);
    let _ = index.len(tx);
    let _ = index.insert(tx, &key(7), &[3; 300]);
    let _ = index.insert(tx, &key(1000), b"new");
    let _ = index.delete(tx, &key(8));
}

#[test]
fn damaged_pages_are_errors_or_problems_never_panics() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    for i in 0..40 {
        index
            .insert(
                &mut tx,
                &key(i),
                &vec![i as u8; if i % 10 == 0 { 600 } else { 20 }],
            )
            .unwrap();
    }
    let pages = tx.size("h").unwrap();
    tx.commit().unwrap();

    // Scribble over the cells of every bucket: the first cell's key length runs off the page.
    let mut tx = db.begin().unwrap();
    let report = assert_sound(&index, &mut tx);
    for n in 1..pages {
        let block = BlockId::new("h", n);
        if tx.read_bytes(&block, 8, 1).unwrap() == [6] {
            tx.write_bytes(&block, 32, &[0xff, 0xff]).unwrap();
        }
    }
    assert!(matches!(
        index.get(&mut tx, &key(3)),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        index.insert(&mut tx, &key(3), b"v"),
        Err(Error::Corrupt { .. })
    ));
    let damaged = index.check(&mut tx).unwrap();
    assert!(
        damaged
            .problems
            .iter()
            .any(|p| p.contains("runs past the page")),
        "{damaged:?}"
    );
    tx.rollback().unwrap();

    // A directory entry naming the wrong bucket: every page decodes, invariants break.
    // (Block 1 is the directory index page; it names the one entry page, block 2.)
    let mut tx = db.begin().unwrap();
    assert_eq!(tx.get_u64(&BlockId::new("h", 1), 32).unwrap(), 2);
    let directory = BlockId::new("h", 2);
    let second = tx.get_u64(&directory, 32 + 8).unwrap();
    tx.set_u64(&directory, 32, second).unwrap();
    let damaged = index.check(&mut tx).unwrap();
    assert!(
        damaged
            .problems
            .iter()
            .any(|p| p.contains("is named by entries")),
        "{damaged:?}"
    );
    assert!(
        damaged.problems.iter().any(|p| p.contains("lost")),
        "{damaged:?}"
    );
    tx.rollback().unwrap();

    // A global depth no directory could have (the meta page's aux field is at offset 56).
    let mut tx = db.begin().unwrap();
    tx.set_u64(&BlockId::new("h", 0), 56, 99).unwrap();
    assert!(matches!(
        index.get(&mut tx, &key(3)),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        HashIndex::open(&mut tx, "h"),
        Err(Error::Corrupt { .. })
    ));
    assert!(!index.check(&mut tx).unwrap().is_ok());
    tx.set_u64(
        &BlockId::new("h", 0),
        56,
        u64::from(report.global_depth) + 1,
    )
    .unwrap();
    assert!(matches!(
        index.get(&mut tx, &key(3)),
        Err(Error::Corrupt { .. })
    ));
    assert!(!index.check(&mut tx).unwrap().is_ok());
    tx.rollback().unwrap();

    // Every page, many single-byte changes: no operation panics.
    for n in 0..pages {
        for at in (8..504)
            .step_by(11)
            .chain([9, 10, 11, 12, 13, 16, 17, 23, 33, 34, 35, 36])
        {
            let mut tx = db.begin().unwrap();
            let block = BlockId::new("h", n);
            let byte = tx.read_bytes(&block, at, 1).unwrap()[0];
            tx.write_bytes(&block, at, &[byte ^ 0xa5]).unwrap();
            exercise(&index, &mut tx);
            tx.rollback().unwrap();
        }
    }
    let mut tx = db.begin().unwrap();
    assert_eq!(assert_sound(&index, &mut tx), report);
}

/// Keys `k00`, `k01`, … with 40-byte values: about nine fit in a 512-byte bucket.
fn fill(index: &HashIndex, tx: &mut Transaction<'_>, keys: std::ops::Range<u32>) {
    for i in keys {
        index
            .insert(tx, format!("k{i:02}").as_bytes(), &[b'v'; 40])
            .unwrap();
    }
}

#[test]
fn dumps_of_a_growing_index() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h").unwrap();
    fill(&index, &mut tx, 0..8);
    insta::assert_snapshot!("1_one_bucket", index.dump(&mut tx).unwrap());
    fill(&index, &mut tx, 8..12);
    insta::assert_snapshot!("2_split_and_doubled", index.dump(&mut tx).unwrap());
    fill(&index, &mut tx, 12..40);
    insta::assert_snapshot!("3_more_buckets", index.dump(&mut tx).unwrap());
    index.insert(&mut tx, b"big", &[b'v'; 2000]).unwrap();
    for i in 0..30 {
        index
            .delete(&mut tx, format!("k{i:02}").as_bytes())
            .unwrap();
    }
    insta::assert_snapshot!("4_emptied_not_merged", index.dump(&mut tx).unwrap());
    assert_sound(&index, &mut tx);
    let equal = HashIndex::create(&mut tx, "c")
        .unwrap()
        .with_hash_fn(constant);
    fill(&equal, &mut tx, 0..20);
    insta::assert_snapshot!("5_equal_hashes_chain", equal.dump(&mut tx).unwrap());
    assert_sound(&equal, &mut tx);
}

/// The key's own bytes as its hash (8 bytes, little-endian), so a test chooses hashes.
fn the_key_is_the_hash(key: &[u8]) -> u64 {
    key.try_into().map_or(0, u64::from_le_bytes)
}

/// Keys (hashes, under `the_key_is_the_hash`) that drive one bucket deep: one key ending in
/// each of `2^0 … 2^(bits − 1)` and `many` keys ending in `bits` zero bits, so the bucket
/// of hash 0 splits on every bit below `bits` (each separates one key) and on some above.
fn deep_keys(bits: u32, many: u64) -> Vec<[u8; 8]> {
    (0..bits)
        .map(|b| 1u64 << b)
        .chain((1..=many).map(|k| k << bits))
        .map(u64::to_le_bytes)
        .collect()
}

/// Blocks of kind 7 (directory index and entry pages) in the file.
fn directory_blocks(tx: &mut impl PageRead, file: &str) -> Vec<u64> {
    (1..tx.size(file).unwrap())
        .filter(|&n| tx.read_bytes(&BlockId::new(file, n), 8, 1).unwrap() == [7])
        .collect()
}

/// Buffer pins (hits and misses) that `get` of `key` makes through a snapshot.
fn pins_per_get(db: &TxManager, index: &HashIndex, key: &[u8]) -> u64 {
    let mut snapshot = db.begin_read_only().unwrap();
    let before = db.pool().stats();
    assert!(index.get(&mut snapshot, key).unwrap().is_some());
    let after = db.pool().stats();
    (after.hits + after.misses) - (before.hits + before.misses)
}

#[test]
fn a_lookup_in_a_directory_of_many_pages_reads_four() {
    let (_, db) = db(4096);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h")
        .unwrap()
        .with_hash_fn(the_key_is_the_hash);
    // 1000-byte values: four cells to a bucket page.
    let keys = deep_keys(10, 40);
    for k in &keys {
        index.insert(&mut tx, k, &[k[0]; 1000]).unwrap();
    }
    let report = assert_sound(&index, &mut tx);
    assert!(report.global_depth >= 12, "{report:?}");
    assert_eq!(
        report.directory_pages,
        (1u64 << report.global_depth).div_ceil(507)
    );
    assert_eq!(report.directory_index_pages, 1);
    tx.commit().unwrap();
    // The meta page, the index page, the entry page, the bucket: whichever the entry.
    for k in &keys {
        assert_eq!(pins_per_get(&db, &index, k), 4, "key {k:?}");
    }
}

#[test]
fn a_directory_index_of_several_pages() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let index = HashIndex::create(&mut tx, "h")
        .unwrap()
        .with_hash_fn(the_key_is_the_hash);
    let keys = deep_keys(11, 60);
    for k in &keys {
        index.insert(&mut tx, k, &[k[1]; 40]).unwrap();
    }
    let report = assert_sound(&index, &mut tx);
    // 59 entries to a 512-byte directory page: 59² = 3481 entries fill the first index page.
    let entry_pages = (1u64 << report.global_depth).div_ceil(59);
    assert!(report.global_depth >= 13, "{report:?}");
    assert_eq!(report.directory_pages, entry_pages);
    assert_eq!(report.directory_index_pages, entry_pages.div_ceil(59));
    assert_eq!(
        directory_blocks(&mut tx, "h").len() as u64,
        entry_pages + entry_pages.div_ceil(59)
    );
    for k in &keys {
        assert_eq!(index.get(&mut tx, k).unwrap(), Some(vec![k[1]; 40]));
    }
    assert_eq!(index.len(&mut tx).unwrap(), keys.len() as u64);
    tx.commit().unwrap();
    // An entry named by the n-th index page costs n − 1 more reads: at most one per 3481.
    for k in &keys {
        let slot = the_key_is_the_hash(k) & ((1 << report.global_depth) - 1);
        assert_eq!(
            pins_per_get(&db, &index, k),
            4 + slot / (59 * 59),
            "key {k:?}"
        );
    }

    // Damage to the index and entry pages: errors or problems, never panics.
    let dir = directory_blocks(&mut db.begin().unwrap(), "h");
    let some: Vec<u64> = dir
        .iter()
        .take(8)
        .chain(dir.iter().rev().take(3))
        .copied()
        .collect();
    for n in some {
        for at in [8, 10, 11, 12, 16, 17, 32, 33, 38, 39, 200, 503] {
            let mut tx = db.begin().unwrap();
            let block = BlockId::new("h", n);
            let byte = tx.read_bytes(&block, at, 1).unwrap()[0];
            tx.write_bytes(&block, at, &[byte ^ 0xa5]).unwrap();
            for k in keys.iter().step_by(7) {
                let _ = index.get(&mut tx, k);
            }
            let _ = index.insert(&mut tx, &keys[3], &[3; 300]);
            let _ = index.insert(&mut tx, &(77u64 << 11).to_le_bytes(), b"new");
            let _ = index.delete(&mut tx, &keys[20]);
            let _ = index.check(&mut tx);
            let _ = index.dump(&mut tx);
            tx.rollback().unwrap();
        }
    }
    // An index page linking back to itself, and to a page past the high-water mark.
    let mut tx = db.begin().unwrap();
    let first = BlockId::new("h", dir[0]);
    let far = keys
        .iter()
        .find(|k| the_key_is_the_hash(&k[..]) & ((1 << report.global_depth) - 1) >= 59 * 59)
        .expect("a key whose entry page the second index page names");
    for link in [dir[0], 1 << 40] {
        tx.set_u64(&first, 16, link).unwrap();
        assert!(matches!(
            index.get(&mut tx, far),
            Err(Error::Corrupt { .. })
        ));
        assert!(!index.check(&mut tx).unwrap().is_ok());
    }
    tx.rollback().unwrap();
    let mut tx = db.begin().unwrap();
    assert_eq!(assert_sound(&index, &mut tx), report);
}
