//! The workloads, modelled on redb's published benchmark (`benches/lmdb_benchmark.rs`):
//! random 24-byte keys and 150-byte values; every write transaction durable.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::store::{disk_usage, Store};

/// Bytes of a key and of a value.
pub const KEY: usize = 24;
/// Bytes of a value.
pub const VALUE: usize = 150;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Pairs loaded in one transaction first.
    pub entries: usize,
    /// Single-put durable transactions.
    pub individual: usize,
    /// Transactions of `batch` puts.
    pub batches: usize,
    /// Puts per batch.
    pub batch: usize,
    /// Range reads of 10 entries.
    pub ranges: usize,
}

impl Size {
    /// redb's sizes: a million entries.
    pub const FULL: Size = Size {
        entries: 1_000_000,
        individual: 1_000,
        batches: 100,
        batch: 1_000,
        ranges: 500_000,
    };
    /// A smoke run for CI: the harness must not rot, the figures do not matter.
    pub const QUICK: Size = Size {
        entries: 20_000,
        individual: 50,
        batches: 10,
        batch: 1_000,
        ranges: 10_000,
    };
}

/// One workload's result for one store.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The workload's name.
    pub workload: &'static str,
    /// How long it took.
    pub time: Duration,
    /// A number to show instead of a time (bytes on disk), if any.
    pub bytes: Option<u64>,
    /// The store cannot do this (sled has no compaction to ask for).
    pub skipped: bool,
}

/// Random pairs from a fixed seed, so every store gets the same ones.
pub fn pairs(n: usize, seed: u64) -> Vec<([u8; KEY], [u8; VALUE])> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut key = [0u8; KEY];
            let mut value = [0u8; VALUE];
            rng.fill(&mut key[..]);
            rng.fill(&mut value[..]);
            (key, value)
        })
        .collect()
}

fn timed(workload: &'static str, f: impl FnOnce()) -> Figure {
    let start = Instant::now();
    f();
    Figure {
        workload,
        time: start.elapsed(),
        bytes: None,
        skipped: false,
    }
}

// ANCHOR: run
/// Every workload on `store` (its files in `dir`), in redb's order.
pub fn run(store: &dyn Store, dir: &std::path::Path, size: Size) -> Vec<Figure> {
    let data = pairs(size.entries, 1);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(2));
    let mut figures = Vec::new();

    figures.push(timed("bulk load", || {
        store.write(&mut |w| data.iter().for_each(|(k, v)| w.put(k, v)))
    }));
    let more = pairs(size.individual + size.batches * size.batch, 3);
    let (single, batched) = more.split_at(size.individual);
    figures.push(timed("individual writes", || {
        for (k, v) in single {
            store.write(&mut |w| w.put(k, v));
        }
    }));
    figures.push(timed("batch writes", || {
        for chunk in batched.chunks(size.batch) {
            store.write(&mut |w| chunk.iter().for_each(|(k, v)| w.put(k, v)));
        }
    }));
    figures.push(timed("random reads", || {
        store.read(&mut |r| {
            let found = order
                .iter()
                .filter(|&&i| r.get(&data[i].0).is_some())
                .count();
            assert_eq!(found, data.len(), "{}: every key is there", store.name());
        })
    }));
    figures.push(timed("random reads, 2 threads", || {
        std::thread::scope(|s| {
            for half in order.chunks(order.len().div_ceil(2)) {
                s.spawn(|| {
                    store.read(&mut |r| {
                        let found = half
                            .iter()
                            .filter(|&&i| r.get(&data[i].0).is_some())
                            .count();
                        assert_eq!(found, half.len());
                    })
                });
            }
        })
    }));
    figures.push(timed("random range reads", || {
        store.read(&mut |r| {
            for &i in order.iter().cycle().take(size.ranges) {
                r.range(&data[i].0, 10);
            }
        })
    }));
    figures.push(timed("removals", || {
        store.write(&mut |w| {
            order[..order.len() / 2]
                .iter()
                .for_each(|&i| w.delete(&data[i].0))
        })
    }));
    let mut did = true;
    let mut compacted = timed("compaction", || did = store.compact());
    compacted.skipped = !did;
    figures.push(compacted);
    figures.push(Figure {
        workload: "size on disk",
        time: Duration::ZERO,
        bytes: Some(disk_usage(dir)),
        skipped: false,
    });
    figures
}
// ANCHOR_END: run
