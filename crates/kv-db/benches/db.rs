//! Chapter 8 benchmarks: the database-level workloads chapter 10 runs beside other stores,
//! here for KanthorKV alone, on a real directory:
//!
//! - `kv-db/bulk_load`: entries loaded in write batches of 1,000 (16-byte keys, 100-byte
//!   values, random order), per entry.
//! - `kv-db/get`: a random point read from a snapshot.
//! - `kv-db/range_100`: 100 consecutive entries from a random key.
//! - `kv-db/durable_put`: one put committed with an fsync (`Durability::Sync`).
//! - `kv-db/remove`: a delete of an existing key, 100 to a transaction.
//! - compaction (printed, not a criterion group: it is a one-off on a database that is then
//!   packed): half of the entries deleted, then `Db::compact`, timed per remaining entry,
//!   with the data size before and after.
//!
//! `KV_BENCH_KEYS` sets the number of entries loaded first (default 200,000).
//! Run with `cargo bench -p kv-db`, then `python3 benches/ratios.py`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kv_db::{Db, Options, WriteBatch};

const VALUE: [u8; 100] = [0x5a; 100];

fn entries() -> u64 {
    std::env::var("KV_BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000)
}

/// The `i`-th key: 16 bytes spread evenly, so loading in order of `i` is random key order.
fn key(i: u64) -> [u8; 16] {
    let mixed = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ i;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mixed.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Loads keys `from..to` in batches of 1,000; returns the time per entry.
fn load(db: &Db, from: u64, to: u64) -> Duration {
    let start = Instant::now();
    let mut i = from;
    while i < to {
        let mut batch = WriteBatch::new();
        for j in i..(i + 1000).min(to) {
            batch.put(&key(j), &VALUE);
        }
        db.write(&batch).expect("batch");
        i += 1000;
    }
    start.elapsed() / (to - from).max(1) as u32
}

fn workloads(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open_with(
        dir.path(),
        Options {
            cache_pages: 1 << 16,
            ..Options::default()
        },
    )
    .expect("open");
    let n = entries();
    let per_entry = load(&db, 0, n);
    println!(
        "kv-db: loaded {n} entries at {per_entry:?} each; {} bytes of data",
        db.stats().expect("stats").data_bytes
    );

    let mut fresh = n;
    c.benchmark_group("kv-db/bulk_load")
        .bench_function("batch_1000", |b| {
            b.iter_custom(|iters| {
                let from = fresh;
                fresh += iters.max(1000);
                load(&db, from, fresh) * iters as u32
            })
        });
    let mut next = 0u64;
    c.benchmark_group("kv-db/get")
        .bench_function("snapshot", |b| {
            b.iter_custom(|iters| {
                let mut r = db.begin_read().expect("snapshot");
                let start = Instant::now();
                for _ in 0..iters {
                    next = (next + 7919) % n;
                    assert!(r.get(&key(next)).expect("get").is_some());
                }
                start.elapsed()
            })
        });
    c.benchmark_group("kv-db/range_100")
        .bench_function("snapshot", |b| {
            b.iter_custom(|iters| {
                let mut r = db.begin_read().expect("snapshot");
                let start = Instant::now();
                for _ in 0..iters {
                    next = (next + 7919) % n;
                    let from = key(next);
                    assert!(r.range(&from[..]..).expect("range").take(100).count() > 0);
                }
                start.elapsed()
            })
        });
    let mut g = c.benchmark_group("kv-db/durable_put");
    g.sample_size(10);
    g.bench_function("one_put_per_commit", |b| {
        b.iter(|| {
            fresh += 1;
            db.put(&key(fresh), &VALUE).expect("put")
        })
    });
    g.finish();
    let mut cursor = 0u64;
    c.benchmark_group("kv-db/remove")
        .bench_function("100_per_txn", |b| {
            b.iter_custom(|iters| {
                let keys: Vec<u64> = (0..iters).map(|j| (cursor + j * 104_729) % n).collect();
                cursor += iters;
                let start = Instant::now();
                for chunk in keys.chunks(100) {
                    db.transaction(|tx| {
                        for &k in chunk {
                            tx.delete(&key(k))?;
                        }
                        Ok(())
                    })
                    .expect("remove");
                }
                let took = start.elapsed();
                let mut batch = WriteBatch::new();
                for &k in &keys {
                    batch.put(&key(k), &VALUE); // put back, untimed
                }
                db.write(&batch).expect("restore");
                took
            })
        });
    println!("kv-db stats: {:?}", db.stats().expect("stats"));

    // ANCHOR: compaction_bench
    // Compaction: delete every other entry (untimed), then compact once.
    let mut i = 0;
    while i < fresh {
        let mut batch = WriteBatch::new();
        for j in (i..(i + 2000).min(fresh)).step_by(2) {
            batch.delete(&key(j));
        }
        db.write(&batch).expect("delete half");
        i += 2000;
    }
    let before = db.stats().expect("stats");
    let start = Instant::now();
    let report = db.compact().expect("compact");
    let took = start.elapsed();
    let remaining = fresh / 2;
    println!(
        "kv-db compaction: {took:?} for {remaining} remaining entries ({:?} each; bulk load \
         {per_entry:?} each); {} live + {} free pages -> {} bytes to {} ({} pages moved)",
        took / remaining.max(1) as u32,
        before.live_pages,
        before.free_pages,
        report.bytes_before,
        report.bytes_after,
        report.pages_moved,
    );
    // ANCHOR_END: compaction_bench
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = workloads
}
criterion_main!(benches);
