//! `kv-bench`: KanthorKV, redb, sled, SQLite and fjall on the same workloads, in one run — a
//! table of times, each with its ratio to KanthorKV, a CSV of the same, and an SVG chart.
//! Beside each store's durable writes, the disk's own floor: a bare file appended to and
//! `fdatasync`ed as often.
//!
//! ```sh
//! cargo run --release -p kv-bench               # redb's sizes: 1,000,000 entries (minutes)
//! cargo run --release -p kv-bench -- --quick    # 50,000 entries, a smoke run (CI runs it)
//! ```
//!
//! RocksDB is not among the stores: its C++ library takes many minutes to build on CI's two
//! cores, longer than every other store together; fjall stands in as the LSM tree.

mod chart;
mod report;
mod store;
mod stores;
mod workloads;

use std::path::{Path, PathBuf};

use clap::Parser;

use crate::store::Store;
use crate::workloads::{Figure, Size};

/// Runs every store on every workload and prints the ratios.
#[derive(Parser)]
#[command(name = "kv-bench", about)]
struct Args {
    /// A small run (50,000 entries), for CI.
    #[arg(long)]
    quick: bool,
    /// Where the CSV goes.
    #[arg(long, default_value = "target/kv-bench.csv")]
    csv: PathBuf,
    /// Where the SVG chart goes (the book's is book/src/img/kv-bench.svg, from a full run).
    #[arg(long, default_value = "target/kv-bench.svg")]
    chart: PathBuf,
    /// Only these stores (kanthorkv, redb, sled, sqlite, fjall); all by default. Ratios are
    /// to the first one run.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// Opens a store in a directory.
type Open = fn(&Path) -> Box<dyn Store>;

/// Every store, KanthorKV first: the others' figures are ratios to its.
const STORES: [(&str, Open); 5] = [
    ("kanthorkv", |d| Box::new(stores::kanthor::Kanthor::open(d))),
    ("redb", |d| Box::new(stores::redb_store::Redb::open(d))),
    ("sled", |d| Box::new(stores::sled_store::Sled::open(d))),
    ("sqlite", |d| Box::new(stores::sqlite::Sqlite::open(d))),
    ("fjall", |d| Box::new(stores::fjall_store::Fjall::open(d))),
];

fn main() {
    let args = Args::parse();
    let size = if args.quick { Size::QUICK } else { Size::FULL };
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);

    let mut results: Vec<(&'static str, Vec<Figure>)> = Vec::new();
    for (name, open) in STORES {
        if !wanted(name) {
            continue;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = open(dir.path());
        eprintln!("{name}: running {size:?}");
        let figures = workloads::run(store.as_ref(), dir.path(), size);
        for f in &figures {
            eprintln!("  {:<30} {}", f.workload, report::cell(f));
        }
        results.push((store.name(), figures));
    }
    report::print(size, &results);
    report::write_csv(&args.csv, &results).expect("write the CSV");
    eprintln!("CSV: {}", args.csv.display());
    chart::draw(&args.chart, &results).expect("draw the chart");
    eprintln!("chart: {}", args.chart.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_runs_every_workload() {
        let size = Size {
            entries: 2_000,
            individual: 5,
            batches: 2,
            batch: 100,
            ranges: 500,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut results = Vec::new();
        for (i, (name, open)) in STORES.into_iter().enumerate() {
            let path = dir.path().join(i.to_string());
            std::fs::create_dir_all(&path).unwrap();
            let store = open(&path);
            assert_eq!(store.name(), name);
            let figures = workloads::run(store.as_ref(), &path, size);
            assert_eq!(figures.len(), 11, "{name}");
            assert_eq!(figures[0].workload, workloads::RAW);
            assert!(!figures[0].time.is_zero(), "{name}");
            let on_disk = figures.last().unwrap();
            assert!(on_disk.bytes.is_some_and(|b| b > 0), "{name}");
            results.push((store.name(), figures));
        }

        let csv = dir.path().join("out/bench.csv");
        report::write_csv(&csv, &results).unwrap();
        let csv = std::fs::read_to_string(csv).unwrap();
        assert_eq!(csv.lines().count(), 1 + 5 * 11, "{csv}");
        assert!(
            csv.contains("kanthorkv,\"random reads, 2 threads\","),
            "{csv}"
        );

        let svg = dir.path().join("out/bench.svg");
        chart::draw(&svg, &results).unwrap();
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.contains("<rect") && svg.contains("fjall"), "{svg}");
        assert!(
            svg.contains("individual writes,"),
            "workload names under the bars"
        );
    }
}
