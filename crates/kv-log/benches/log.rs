//! Chapter 3 benchmarks, each beside the raw file doing the same work in the same run:
//!
//! - `kv-log/append_1MiB`: 10,000 records of 100 bytes appended, then one flush; beside the
//!   same bytes written to a bare file with one `write` per record and one fsync.
//! - `kv-log/durable_commit`: append one 100-byte record and flush it, from 1, 4, 16 and 64
//!   threads at once; beside a bare file doing `write` + fsync per commit on one thread.
//!
//! Run with `cargo bench -p kv-log`, then `python3 benches/ratios.py`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kv_file::FileManager;
use kv_log::{LogManager, FRAME_OVERHEAD};

const RECORD: [u8; 100] = [0x5a; 100];
const BATCH: usize = 10_000;

fn open_log(dir: &std::path::Path) -> LogManager {
    let fm = FileManager::open(dir.join("db")).expect("open directory");
    LogManager::open(Arc::new(fm), "wal").expect("open log")
}

fn raw_file(dir: &std::path::Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(dir.join("raw.log"))
        .expect("raw file")
}

fn append_throughput(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = open_log(dir.path());
    let mut raw = raw_file(dir.path());
    let framed = [RECORD.as_slice(), &[0; FRAME_OVERHEAD]].concat();

    let mut g = c.benchmark_group("kv-log/append_1MiB");
    g.throughput(Throughput::Bytes((BATCH * framed.len()) as u64));
    g.bench_function("std_file", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                raw.write_all(&framed).expect("write");
            }
            raw.sync_data().expect("fsync");
        })
    });
    g.bench_function("log_manager", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                log.append(&RECORD).expect("append");
            }
            log.flush_all().expect("flush");
        })
    });
    g.finish();
}

/// Runs `total` commits split over `threads` threads; returns the wall time.
fn commits(log: &Arc<LogManager>, threads: u64, total: u64) -> Duration {
    let per_thread = total.div_ceil(threads).max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    let lsn = log.append(&RECORD).expect("append");
                    log.flush(lsn).expect("flush");
                }
            });
        }
    });
    // Report time per commit actually made (per_thread may round `total` up).
    start
        .elapsed()
        .mul_f64(total as f64 / (per_thread * threads) as f64)
}

fn durable_commits(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Arc::new(open_log(dir.path()));
    let mut raw = raw_file(dir.path());

    let mut g = c.benchmark_group("kv-log/durable_commit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("std_file", |b| {
        b.iter(|| {
            raw.write_all(&RECORD).expect("write");
            raw.sync_data().expect("fsync");
        })
    });
    for threads in [1u64, 4, 16, 64] {
        g.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| b.iter_custom(|iters| commits(&log, threads, iters)),
        );
    }
    g.finish();
    let s = log.stats();
    println!(
        "log stats: {} flushes, {} fsyncs ({:.1} flushes per fsync)",
        s.flush_requests,
        s.fsyncs,
        s.flush_requests as f64 / s.fsyncs.max(1) as f64
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = append_throughput, durable_commits
}
criterion_main!(benches);
