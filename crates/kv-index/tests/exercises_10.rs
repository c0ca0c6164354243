//! Chapter 10 exercises: the read path, as the benchmarks found it. Each test describes
//! behaviour the reference code does not have yet; it fails until you build it. Turn one on
//! with `cargo test -p kv-index --test exercises_10 -- --ignored exercise_10_1`.

mod common;

use common::db;
use kv_index::BTree;

/// A tree of `n` keys, committed, and the manager it lives in.
fn tree_of(n: u32) -> (kv_tx::TxManager, BTree) {
    let (_, db) = db(4096);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    for i in 0..n {
        tree.insert(&mut tx, format!("key{i:06}").as_bytes(), &[7; 100])
            .unwrap();
    }
    tx.commit().unwrap();
    (db, tree)
}

/// Exercise 10.1: a point read allocates the value it returns and nothing else. Today a
/// descent also allocates the path it walked (a `Vec` of page numbers), which only writers
/// need. Chapter 10's profile of random reads put `malloc` and `free` at a few percent.
#[test]
#[ignore = "exercise 10.1: a get allocates only its value"]
fn exercise_10_1_a_snapshot_get_allocates_only_its_value() {
    let (db, tree) = tree_of(2_000);
    let mut tx = db.begin_read_only().unwrap();
    tree.get(&mut tx, b"key000500").unwrap(); // warm: pages cached
    let mut value = None;
    let counted = allocation_counter::measure(|| {
        value = tree.get(&mut tx, b"key001234").unwrap();
    });
    assert_eq!(value.as_deref(), Some(&[7u8; 100][..]));
    assert_eq!(counted.count_total, 1, "allocations for one get");
}

/// Exercise 10.2: a get starts at the root, not at the meta page that points to it. Every
/// descent reads the meta page first — one page in four of a get on a million keys. Keep
/// the root's page number in memory (a snapshot needs the root as of its snapshot: think
/// about when the root moves — a root split, compaction — and how a reader knows).
#[test]
#[ignore = "exercise 10.2: a get reads only the tree's own levels"]
fn exercise_10_2_a_get_reads_no_meta_page() {
    let (db, tree) = tree_of(10); // one level: the root is the leaf
    let mut tx = db.begin_read_only().unwrap();
    tree.get(&mut tx, b"key000001").unwrap();
    let stats = db.pool().stats();
    let before = stats.hits + stats.misses;
    tree.get(&mut tx, b"key000002").unwrap();
    let stats = db.pool().stats();
    assert_eq!(
        stats.hits + stats.misses - before,
        1,
        "pages pinned by one get"
    );
}
