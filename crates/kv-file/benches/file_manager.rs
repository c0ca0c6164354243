//! Chapter 2 benchmark: random 4 KiB block reads and writes through `FileManager`, side by
//! side with the same positional I/O on a bare `std::fs::File`, in one run.
//!
//! The difference between the two is what the file layer costs: the handle lookup, the
//! checksum, the counters. A third contender, the bare file plus a CRC-32 of each block,
//! separates the price of checksumming from the price of the layer's own bookkeeping. Run with `cargo bench -p kv-file`; `benches/ratios.py` turns the
//! results into the ratios the book reports.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kv_file::{BlockId, FileManager};

const BLOCK: usize = 4096;
/// 8 MiB: larger than the CPU caches, well inside the page cache, so both sides measure the
/// system call and the layer's own work rather than the disk.
const BLOCKS: u64 = 2048;

/// A fixed pseudo-random sequence of block numbers, the same for both contenders.
fn block_numbers() -> Vec<u64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % BLOCKS
        })
        .collect()
}

fn setup() -> (tempfile::TempDir, FileManager, File) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fm = FileManager::open(dir.path().join("db")).expect("open");
    let mut page = fm.new_page();
    for n in 0..BLOCKS {
        let block = fm.append("bench.db").expect("append");
        page.set_u64(0, n).expect("fits");
        fm.write(&block, &mut page).expect("write");
    }
    let raw = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("raw.db"))
        .expect("raw file");
    let buf = vec![7u8; BLOCK];
    for n in 0..BLOCKS {
        raw.write_all_at(&buf, n * BLOCK as u64).expect("write");
    }
    (dir, fm, raw)
}

fn bench(c: &mut Criterion) {
    let (_dir, fm, raw) = setup();
    let numbers = block_numbers();
    let ids: Vec<BlockId> = numbers
        .iter()
        .map(|&n| BlockId::new("bench.db", n))
        .collect();

    let mut g = c.benchmark_group("kv-file/read_4k");
    g.throughput(Throughput::Bytes(BLOCK as u64));
    let mut buf = vec![0u8; BLOCK];
    let mut i = 0;
    g.bench_function("std_file", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            raw.read_exact_at(&mut buf, numbers[i] * BLOCK as u64)
                .expect("read");
            black_box(&buf);
        })
    });
    // The same read plus a CRC-32 of the block: what any checksummed store must pay.
    g.bench_function("std_file_crc32", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            raw.read_exact_at(&mut buf, numbers[i] * BLOCK as u64)
                .expect("read");
            black_box(crc32fast::hash(&buf));
        })
    });
    let mut page = fm.new_page();
    g.bench_function("file_manager", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            fm.read(&ids[i], &mut page).expect("read");
            black_box(&page);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("kv-file/write_4k");
    g.throughput(Throughput::Bytes(BLOCK as u64));
    g.bench_function("std_file", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            buf[0] = i as u8;
            raw.write_all_at(&buf, numbers[i] * BLOCK as u64)
                .expect("write");
        })
    });
    g.bench_function("std_file_crc32", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            buf[0] = i as u8;
            black_box(crc32fast::hash(&buf));
            raw.write_all_at(&buf, numbers[i] * BLOCK as u64)
                .expect("write");
        })
    });
    g.bench_function("file_manager", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            page.set_u8(0, i as u8).expect("fits");
            fm.write(&ids[i], &mut page).expect("write");
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
