//! Chapter 5 benchmarks, each beside the bare disk doing the least the same guarantee needs:
//!
//! - `kv-tx/durable_txn`: a transaction that writes 100 bytes and commits with
//!   `Durability::Sync`, from 1, 4 and 16 threads (each on its own page); beside a bare file
//!   doing one 100-byte `write` + fsync per commit on one thread (`std_file`).
//! - `kv-tx/nosync_txn`: the same transaction with `Durability::NoSync` on one thread, beside
//!   the same with `Sync`.
//!
//! Run with `cargo bench -p kv-tx`, then `python3 benches/ratios.py`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kv_file::{BlockId, FsStorage};
use kv_tx::{Durability, TxManager, TxOptions};

const VALUE: [u8; 100] = [0x5a; 100];

fn open(dir: &std::path::Path, durability: Durability) -> TxManager {
    let options = TxOptions {
        durability,
        ..TxOptions::default()
    };
    TxManager::open_with(FsStorage::open(dir).expect("dir"), options).expect("open")
}

fn pages(db: &TxManager, n: usize) -> Vec<BlockId> {
    let mut tx = db.begin().expect("begin");
    let blocks = (0..n).map(|_| tx.append("t").expect("append")).collect();
    tx.commit().expect("commit");
    blocks
}

fn one_txn(db: &TxManager, block: &BlockId) {
    let mut tx = db.begin().expect("begin");
    tx.write_bytes(block, 8, &VALUE).expect("write");
    tx.commit().expect("commit");
}

/// `total` transactions split over `threads` threads; returns the time per transaction.
fn run(db: &TxManager, blocks: &[BlockId], threads: usize, total: u64) -> Duration {
    let per_thread = total.div_ceil(threads as u64).max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for block in &blocks[..threads] {
            s.spawn(move || (0..per_thread).for_each(|_| one_txn(db, block)));
        }
    });
    start
        .elapsed()
        .mul_f64(total as f64 / (per_thread * threads as u64) as f64)
}

fn durable(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open(&dir.path().join("db"), Durability::Sync);
    let blocks = pages(&db, 16);
    let mut raw = File::options()
        .create(true)
        .append(true)
        .open(dir.path().join("raw.log"))
        .expect("raw");
    let mut g = c.benchmark_group("kv-tx/durable_txn");
    g.bench_function("std_file", |b| {
        b.iter(|| {
            raw.write_all(&VALUE).expect("write");
            raw.sync_data().expect("fsync");
        })
    });
    for threads in [1usize, 4, 16] {
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run(&db, &blocks, t, iters))
        });
    }
    g.finish();
}

fn nosync(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("kv-tx/nosync_txn");
    for (name, durability) in [("sync", Durability::Sync), ("nosync", Durability::NoSync)] {
        let db = open(&dir.path().join(name), durability);
        let block = pages(&db, 1).remove(0);
        g.bench_function(name, |b| b.iter(|| one_txn(&db, &block)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = durable, nosync
}
criterion_main!(benches);
