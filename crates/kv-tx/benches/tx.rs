//! Chapter 5 benchmarks, each beside the bare disk doing the least the same guarantee needs:
//!
//! - `kv-tx/durable_txn`: a transaction that writes 100 bytes and commits with
//!   `Durability::Sync`, from 1, 4 and 16 threads (each on its own page); beside a bare file
//!   doing one 100-byte `write` + fsync per commit on one thread (`std_file`).
//! - `kv-tx/nosync_txn`: the same transaction with `Durability::NoSync` on one thread, beside
//!   the same with `Sync`.
//!
//! - `kv-tx/lock`: an uncontended shared lock acquired and released, beside a bare
//!   `parking_lot::Mutex` lock/unlock (`baseline`).
//! - `kv-tx/bank_<policy>`: transfer transactions (read two accounts, write both) on 8
//!   accounts in 4 pages, `NoSync`, from 1, 2, 4 and 8 threads, deadlock victims retrying;
//!   reading then writing (shared locks upgraded) and locking for update first; under each
//!   deadlock policy: detection, wait-die, and a 1 ms timeout.
//! - `kv-tx/audit`: a transaction reading all 8 accounts — read-only on a snapshot, or
//!   read-write under shared locks — alone, and while another thread runs transfers.
//!
//! Run with `cargo bench -p kv-tx`, then `python3 benches/ratios.py`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kv_file::{BlockId, FsStorage};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use kv_tx::{
    DeadlockPolicy, Durability, Error, LockMode, LockTable, PageRead, TxManager, TxOptions,
};

const VALUE: [u8; 100] = [0x5a; 100];

fn open(dir: &std::path::Path, durability: Durability) -> TxManager {
    open_with(dir, durability, DeadlockPolicy::Detect)
}

fn open_with(dir: &std::path::Path, durability: Durability, deadlock: DeadlockPolicy) -> TxManager {
    let options = TxOptions {
        durability,
        deadlock,
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
/// Splits `total` operations over `threads` threads running `work(thread, count)`; returns
/// the wall time per operation.
fn on_threads(threads: usize, total: u64, work: impl Fn(usize, u64) + Sync) -> Duration {
    let per_thread = total.div_ceil(threads as u64).max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let work = &work;
            s.spawn(move || work(t, per_thread));
        }
    });
    start
        .elapsed()
        .mul_f64(total as f64 / (per_thread * threads as u64) as f64)
}

fn run(db: &TxManager, blocks: &[BlockId], threads: usize, total: u64) -> Duration {
    on_threads(threads, total, |t, n| {
        (0..n).for_each(|_| one_txn(db, &blocks[t]))
    })
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

fn locks(c: &mut Criterion) {
    let table: LockTable<u64> = LockTable::new(None);
    let mutex = parking_lot::Mutex::new(0u64);
    let mut g = c.benchmark_group("kv-tx/lock");
    g.bench_function("baseline", |b| b.iter(|| *mutex.lock() += 1));
    let mut txn = 0;
    g.bench_function("acquire_release", |b| {
        b.iter(|| {
            txn += 1;
            table.acquire(txn, &7, LockMode::Shared).expect("free");
            table.release_all(txn, [&7]);
        })
    });
    g.finish();
}

/// `total` transfers over `threads` threads on `accounts`; returns the time per transfer.
fn bank(
    db: &TxManager,
    accounts: &[(BlockId, usize)],
    threads: usize,
    total: u64,
    for_update: bool,
) -> Duration {
    on_threads(threads, total, |t, n| {
        for i in 0..n as usize {
            let from = &accounts[(t * 3 + i) % accounts.len()];
            let to = &accounts[(t * 5 + i * 7 + 1) % accounts.len()];
            if from == to {
                continue;
            }
            loop {
                let mut tx = db.begin().expect("begin");
                let moved = (|| {
                    if for_update {
                        // Read with intent to write: no shared lock to upgrade later.
                        tx.lock(&from.0, LockMode::Exclusive)?;
                        tx.lock(&to.0, LockMode::Exclusive)?;
                    }
                    let a = tx.get_u64(&from.0, from.1)?;
                    let b = tx.get_u64(&to.0, to.1)?;
                    tx.set_u64(&from.0, from.1, a.wrapping_sub(1))?;
                    tx.set_u64(&to.0, to.1, b.wrapping_add(1))
                })();
                match moved {
                    Ok(()) => break tx.commit().expect("commit"),
                    Err(Error::Deadlock { .. } | Error::LockTimeout { .. }) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    })
}

/// A NoSync database with 8 accounts, two per page.
fn bank_db(dir: &std::path::Path, deadlock: DeadlockPolicy) -> (TxManager, Vec<(BlockId, usize)>) {
    let db = open_with(dir, Durability::NoSync, deadlock);
    let blocks = pages(&db, 4);
    let accounts = (0..8)
        .map(|i| (blocks[i / 2].clone(), 8 + (i % 2) * 8))
        .collect();
    (db, accounts)
}

fn bank_nosync(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = [
        ("detect", DeadlockPolicy::Detect),
        ("wait_die", DeadlockPolicy::WaitDie),
        (
            "timeout_1ms",
            DeadlockPolicy::Timeout(Duration::from_millis(1)),
        ),
    ];
    for (name, policy) in policies {
        let (db, accounts) = bank_db(&dir.path().join(name), policy);
        let mut g = c.benchmark_group(format!("kv-tx/bank_{name}"));
        bank_group(&mut g, &db, &accounts);
        g.finish();
        println!("bank {name} lock stats: {:?}", db.locks().stats());
    }
}

fn bank_group(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    db: &TxManager,
    accounts: &[(BlockId, usize)],
) {
    for threads in [1usize, 2, 4, 8] {
        g.bench_with_input(
            BenchmarkId::new("read_then_write", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| bank(db, accounts, t, iters, false)),
        );
        g.bench_with_input(
            BenchmarkId::new("for_update", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| bank(db, accounts, t, iters, true)),
        );
    }
}

/// Sums the 8 accounts in one transaction of either kind.
fn audit(db: &TxManager, accounts: &[(BlockId, usize)], snapshot: bool) -> u64 {
    let sum = |tx: &mut dyn PageRead| -> kv_tx::Result<u64> {
        accounts.iter().map(|(b, off)| tx.get_u64(b, *off)).sum()
    };
    if snapshot {
        return sum(&mut db.begin_read_only().expect("begin")).expect("read");
    }
    loop {
        let mut tx = db.begin().expect("begin");
        match sum(&mut tx) {
            Ok(total) => {
                tx.commit().expect("commit");
                return total;
            }
            Err(Error::Deadlock { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

fn audits(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, accounts) = bank_db(&dir.path().join("audit"), DeadlockPolicy::Detect);
    let mut g = c.benchmark_group("kv-tx/audit");
    for (name, snapshot) in [("snapshot", true), ("locking", false)] {
        g.bench_function(format!("{name}_alone"), |b| {
            b.iter(|| audit(&db, &accounts, snapshot))
        });
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    bank(&db, &accounts, 1, 100, true);
                }
            });
            g.bench_function(format!("{name}_with_writer"), |b| {
                b.iter(|| audit(&db, &accounts, snapshot))
            });
            stop.store(true, Relaxed);
        });
    }
    g.finish();
    println!("audit snapshot stats: {:?}", db.snapshot_stats());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = durable, nosync, locks, bank_nosync, audits
}
criterion_main!(benches);
