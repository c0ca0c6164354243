//! Chapter 7 benchmarks: the B+tree and the extendible hash index on the same 1 million
//! entries (16-byte keys, 100-byte values), loaded in random order, in one run:
//!
//! - `kv-index/get`: a point read of an existing key, from a read-only snapshot.
//! - `kv-index/insert`: an insert of a new key, 100 per `NoSync` transaction.
//! - `kv-index/delete`: a delete of an existing key, 100 per `NoSync` transaction.
//! - `kv-index/scan_100`: 100 consecutive entries from a random key (B+tree only: a hash
//!   index has no order).
//!
//! The database has a 256 MiB buffer pool, so every index fits: these are in-memory figures,
//! not disk ones. The space used per entry is printed after loading.
//!
//! Run with `cargo bench -p kv-index`, then `python3 benches/ratios.py`. `KV_BENCH_KEYS`
//! changes the number of entries (100000 for a quick run).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kv_buffer::BufferOptions;
use kv_file::FsStorage;
use kv_index::{BTree, HashIndex, Index};
use kv_tx::{Durability, PageRead, Transaction, TxManager, TxOptions};

const VALUE: [u8; 100] = [0x5a; 100];
const PER_TXN: usize = 100;

fn entries() -> u64 {
    std::env::var("KV_BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// The `i`-th key: 16 bytes, spread evenly (a multiplicative hash of `i`), so loading in
/// order of `i` inserts in random key order.
fn key(i: u64) -> [u8; 16] {
    let mixed = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ i;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mixed.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn open(dir: &std::path::Path) -> TxManager {
    let options = TxOptions {
        durability: Durability::NoSync,
        buffer: BufferOptions {
            frames: 1 << 16,
            ..BufferOptions::default()
        },
        ..TxOptions::default()
    };
    TxManager::open_with(FsStorage::open(dir).expect("dir"), options).expect("open")
}

/// Runs `op` on keys `keys`, `PER_TXN` to a transaction; returns the time per key.
fn batched(
    db: &TxManager,
    keys: impl Iterator<Item = u64>,
    mut op: impl FnMut(&mut Transaction<'_>, u64),
) -> Duration {
    let keys: Vec<u64> = keys.collect();
    let start = Instant::now();
    for chunk in keys.chunks(PER_TXN) {
        let mut tx = db.begin().expect("begin");
        for &i in chunk {
            op(&mut tx, i);
        }
        tx.commit().expect("commit");
    }
    start.elapsed() / keys.len().max(1) as u32
}

/// One index under test.
struct Subject<I> {
    name: &'static str,
    index: I,
    db: TxManager,
    _dir: tempfile::TempDir,
}

fn load<I: Index>(
    name: &'static str,
    create: impl FnOnce(&mut Transaction<'_>) -> I,
) -> Subject<I> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open(dir.path());
    let mut tx = db.begin().expect("begin");
    let index = create(&mut tx);
    tx.commit().expect("commit");
    let n = entries();
    let per_key = batched(&db, 0..n, |tx, i| {
        index.put(tx, &key(i), &VALUE).expect("put")
    });
    db.checkpoint().expect("checkpoint");
    let bytes =
        db.file_manager().length(name).expect("length") * db.file_manager().block_size() as u64;
    println!(
        "{name}: loaded {n} entries at {per_key:?} each; {:.1} bytes per entry ({:.2}x the 116 bytes of key and value)",
        bytes as f64 / n as f64,
        bytes as f64 / n as f64 / 116.0
    );
    Subject {
        name,
        index,
        db,
        _dir: dir,
    }
}

fn point_ops<I: Index>(c: &mut Criterion, s: &Subject<I>) {
    let n = entries();
    let mut next = 0u64;
    c.benchmark_group("kv-index/get")
        .bench_function(s.name, |b| {
            b.iter_custom(|iters| {
                let mut tx = s.db.begin_read_only().expect("snapshot");
                let start = Instant::now();
                for _ in 0..iters {
                    next = (next + 7919) % n;
                    assert!(s.index.get(&mut tx, &key(next)).expect("get").is_some());
                }
                start.elapsed()
            })
        });
    let mut fresh = n;
    c.benchmark_group("kv-index/insert")
        .bench_function(s.name, |b| {
            b.iter_custom(|iters| {
                let from = fresh;
                fresh += iters;
                batched(&s.db, from..fresh, |tx, i| {
                    s.index.put(tx, &key(i), &VALUE).expect("put")
                }) * iters as u32
            })
        });
    let mut cursor = 0u64;
    c.benchmark_group("kv-index/delete")
        .bench_function(s.name, |b| {
            b.iter_custom(|iters| {
                let keys: Vec<u64> = (0..iters).map(|j| (cursor + j * 104_729) % n).collect();
                cursor += iters;
                let mut unique = keys.clone();
                unique.sort_unstable();
                unique.dedup();
                let took = batched(&s.db, unique.iter().copied(), |tx, i| {
                    s.index.remove(tx, &key(i)).expect("remove");
                });
                // Put them back (not timed), so every run deletes existing keys.
                batched(&s.db, unique.iter().copied(), |tx, i| {
                    s.index.put(tx, &key(i), &VALUE).expect("put")
                });
                took * iters as u32
            })
        });
}

fn scans(c: &mut Criterion, s: &Subject<BTree>) {
    let n = entries();
    let mut next = 0u64;
    c.benchmark_group("kv-index/scan_100")
        .bench_function(s.name, |b| {
            b.iter_custom(|iters| {
                let mut tx = s.db.begin_read_only().expect("snapshot");
                let start = Instant::now();
                for _ in 0..iters {
                    next = (next + 7919) % n;
                    let from = key(next);
                    let got = s
                        .index
                        .range(&mut tx, &from[..]..)
                        .expect("range")
                        .take(100)
                        .count();
                    assert!(got > 0);
                }
                start.elapsed()
            })
        });
}

fn indexes(c: &mut Criterion) {
    let btree = load("btree", |tx| BTree::create(tx, "btree").expect("create"));
    let hash = load("hash", |tx| HashIndex::create(tx, "hash").expect("create"));
    point_ops(c, &btree);
    point_ops(c, &hash);
    scans(c, &btree);
    for (name, db) in [("btree", &btree.db), ("hash", &hash.db)] {
        let mut tx = db.begin_read_only().expect("snapshot");
        println!(
            "{name}: {} blocks of {} bytes",
            tx.size(name).expect("size"),
            tx.page_capacity()
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = indexes
}
criterion_main!(benches);
