//! The workloads, modelled on redb's published benchmark (`benches/lmdb_benchmark.rs`):
//! random 24-byte keys and 150-byte values; every write transaction durable. Two are this
//! project's own: many committers at once (group commit's workload), and the disk's floor —
//! a bare file appended to and `fdatasync`ed — that durable single writes are judged against.

use std::io::Write as _;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::store::{disk_usage, Store};

/// Bytes of a key.
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
    /// A smoke run for CI: the harness must not rot; the figures are rough.
    pub const QUICK: Size = Size {
        entries: 50_000,
        individual: 100,
        batches: 10,
        batch: 1_000,
        ranges: 10_000,
    };
}

/// Threads committing at once in "individual writes, 16 threads": more than the cores, so
/// that a store which commits each alone queues them, and one that groups them gains.
pub const COMMITTERS: usize = 16;

/// Name of the raw append+fsync workload: the disk's figure, not the store's.
pub const RAW: &str = "raw append+fsync";

/// Bytes of the raw workload's record header (a length and a sequence number), as a log
/// record would have.
pub const HEADER: usize = 8;

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

// ANCHOR: raw
/// The disk's floor for durable single writes: `size.individual` records of a key, a value
/// and a header appended to a plain file in `dir`, each made durable by `fdatasync` before
/// the next — what a log that appends pays per durable write. (A store that overwrites
/// space it preallocated can pay less: no new file length to commit with each write.)
pub fn raw_fsync(dir: &Path, size: Size) -> Figure {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw.log"))
        .expect("create the raw log");
    // The file's creation made durable before the clock starts, as the stores' are.
    file.sync_all().expect("fsync the raw log");
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .expect("fsync the directory");
    let records: Vec<Vec<u8>> = pairs(size.individual, 3)
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let mut record = Vec::with_capacity(HEADER + KEY + VALUE);
            record.extend_from_slice(&((KEY + VALUE) as u32).to_le_bytes());
            record.extend_from_slice(&(i as u32).to_le_bytes());
            record.extend_from_slice(k);
            record.extend_from_slice(v);
            record
        })
        .collect();
    timed(RAW, || {
        for record in &records {
            file.write_all(record).expect("append");
            file.sync_data().expect("fdatasync");
        }
    })
}
// ANCHOR_END: raw

// ANCHOR: run
/// Every workload on `store` (its files in `dir`), in redb's order, after the disk's floor.
pub fn run(store: &dyn Store, dir: &std::path::Path, size: Size) -> Vec<Figure> {
    let data = pairs(size.entries, 1);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(2));
    let mut figures = Vec::new();

    figures.push(timed("bulk load", || {
        store.write(&mut |w| data.iter().for_each(|(k, v)| w.put(k, v)))
    }));
    // The disk's floor, measured where and when the store's durable writes are: the same
    // file system, just after the same bulk load (a VM's disk drifts by ×10 within a run).
    // First in the table, as the figure the durable writes are read against.
    let raw_dir = dir.join("raw-fsync");
    std::fs::create_dir_all(&raw_dir).expect("a directory for the raw log");
    figures.insert(0, raw_fsync(&raw_dir, size));
    std::fs::remove_dir_all(&raw_dir).expect("remove the raw log");
    let more = pairs(size.individual + size.batches * size.batch, 3);
    let (single, batched) = more.split_at(size.individual);
    figures.push(timed("individual writes", || {
        for (k, v) in single {
            store.write(&mut |w| w.put(k, v));
        }
    }));
    let concurrent = pairs(size.individual * 4, 4);
    let start = Barrier::new(COMMITTERS);
    figures.push(timed("individual writes, 16 threads", || {
        std::thread::scope(|s| {
            for t in 0..COMMITTERS {
                let n = concurrent.len();
                let share = &concurrent[t * n / COMMITTERS..(t + 1) * n / COMMITTERS];
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    for (k, v) in share {
                        store.write(&mut |w| w.put(k, v));
                    }
                });
            }
        })
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
