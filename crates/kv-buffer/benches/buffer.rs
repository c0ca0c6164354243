//! Chapter 4 benchmark: the hit path — pin a cached page, read a value under the shared
//! latch, unpin — on one thread and on two, beside the bare cost of the latch itself (a
//! `parking_lot::RwLock<Page>` read). Target: under 100 ns single-threaded.
//!
//! Run with `cargo bench -p kv-buffer`, then `python3 benches/ratios.py`. Hit *ratios* of the
//! policies come from the `hit_ratio` example.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kv_buffer::{BufferOptions, BufferPool};
use kv_file::{BlockId, FileManager, FileOptions, MemStorage};
use kv_log::LogManager;
use parking_lot::RwLock;

const BLOCKS: u64 = 64;

fn pool() -> BufferPool {
    let fm =
        Arc::new(FileManager::open_with(MemStorage::new(), FileOptions::default()).expect("open"));
    for _ in 0..BLOCKS {
        fm.append("t").expect("append");
    }
    let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal").expect("log"));
    let options = BufferOptions {
        frames: BLOCKS as usize,
        ..BufferOptions::default()
    };
    let pool = BufferPool::new(fm, log, options);
    for n in 0..BLOCKS {
        drop(pool.pin(&BlockId::new("t", n)).expect("warm")); // every block cached
    }
    pool
}

/// Pins, reads and unpins `iters` times on each of `threads` threads (each on its own
/// blocks); returns the time per operation as if one thread had done them all.
fn hits(pool: &BufferPool, ids: &[BlockId], threads: usize, iters: u64) -> Duration {
    let per_thread = iters.div_ceil(threads as u64);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mine = &ids[t * 8..t * 8 + 8];
                for i in 0..per_thread {
                    let guard = pool.pin(&mine[i as usize % 8]).expect("hit");
                    black_box(guard.read().get_u64(0).expect("read"));
                }
            });
        }
    });
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
}

fn hit_path(c: &mut Criterion) {
    let pool = pool();
    let ids: Vec<BlockId> = (0..BLOCKS).map(|n| BlockId::new("t", n)).collect();
    let latch = RwLock::new(pool.file_manager().new_page());

    let mut g = c.benchmark_group("kv-buffer/hit_path");
    g.bench_function("baseline", |b| {
        b.iter(|| black_box(latch.read().get_u64(0).expect("read")))
    });
    let mut i = 0;
    g.bench_function("pin_read_unpin", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            let guard = pool.pin(&ids[i]).expect("hit");
            let value = guard.read().get_u64(0).expect("read");
            black_box(value)
        })
    });
    g.bench_function("pin_read_unpin_2_threads", |b| {
        b.iter_custom(|iters| hits(&pool, &ids, 2, iters))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = hit_path
}
criterion_main!(benches);
