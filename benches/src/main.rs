//! `kv-bench`: KanthorKV, redb, sled, SQLite and fjall on the same workloads, in one run — a table
//! of times, each with its ratio to KanthorKV, and a CSV of the same.
//!
//! ```sh
//! cargo run --release -p kv-bench               # redb's sizes: 1,000,000 entries (minutes)
//! cargo run --release -p kv-bench -- --quick    # a smoke run (CI runs it)
//! ```
//!
//! RocksDB is not among the stores: its C++ library takes many minutes to build on CI's two
//! cores, longer than every other store together; fjall stands in as the LSM tree.

mod store;
mod stores;
mod workloads;

use std::io::Write as _;
use std::path::PathBuf;

use clap::Parser;

use crate::store::Store;
use crate::workloads::{Figure, Size};

/// Runs every store on every workload and prints the ratios.
#[derive(Parser)]
#[command(name = "kv-bench", about)]
struct Args {
    /// A small run (20,000 entries), for CI.
    #[arg(long)]
    quick: bool,
    /// Where the CSV goes.
    #[arg(long, default_value = "target/kv-bench.csv")]
    csv: PathBuf,
    /// Only these stores (kanthorkv, redb, sled, sqlite, fjall); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let size = if args.quick { Size::QUICK } else { Size::FULL };
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut results: Vec<(&'static str, Vec<Figure>)> = Vec::new();
    type Open = fn(&std::path::Path) -> Box<dyn Store>;
    let stores: [(&str, Open); 5] = [
        ("kanthorkv", |d| Box::new(stores::kanthor::Kanthor::open(d))),
        ("redb", |d| Box::new(stores::redb_store::Redb::open(d))),
        ("sled", |d| Box::new(stores::sled_store::Sled::open(d))),
        ("sqlite", |d| Box::new(stores::sqlite::Sqlite::open(d))),
        ("fjall", |d| Box::new(stores::fjall_store::Fjall::open(d))),
    ];
    for (name, open) in stores {
        if !wanted(name) {
            continue;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = open(dir.path());
        eprintln!("{name}: running {size:?}");
        let figures = workloads::run(store.as_ref(), dir.path(), size);
        for f in &figures {
            eprintln!("  {:<26} {}", f.workload, cell(f));
        }
        results.push((store.name(), figures));
    }
    print_table(&results);
    write_csv(&args.csv, &results).expect("write the CSV");
    eprintln!("CSV: {}", args.csv.display());
}

fn cell(f: &Figure) -> String {
    match (f.skipped, f.bytes) {
        (true, _) => "n/a".into(),
        (false, Some(bytes)) => format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64),
        (false, None) => format!("{:.0} ms", f.time.as_secs_f64() * 1000.0),
    }
}

/// Each figure as a ratio to KanthorKV's (time, or bytes): below 1, the other is better.
fn ratio(f: &Figure, base: &Figure) -> String {
    let value = |f: &Figure| f.bytes.map_or(f.time.as_secs_f64(), |b| b as f64);
    match (f.skipped || base.skipped, value(base)) {
        (true, _) => "".into(),
        (false, 0.0) => "".into(),
        (false, b) => format!(" ({:.2}×)", value(f) / b),
    }
}

fn print_table(results: &[(&'static str, Vec<Figure>)]) {
    let Some((_, base)) = results.first() else {
        return;
    };
    let names: Vec<&str> = results.iter().map(|(n, _)| *n).collect();
    println!("| workload | {} |", names.join(" | "));
    println!("|---{}|", "|---".repeat(names.len()));
    for (i, b) in base.iter().enumerate() {
        let cells: Vec<String> = results
            .iter()
            .map(|(_, figures)| format!("{}{}", cell(&figures[i]), ratio(&figures[i], b)))
            .collect();
        println!("| {} | {} |", b.workload, cells.join(" | "));
    }
    println!(
        "\n(each store's time or size over {}'s: above 1, {} is faster or smaller)",
        names[0], names[0]
    );
}

fn write_csv(path: &PathBuf, results: &[(&'static str, Vec<Figure>)]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(path)?;
    writeln!(out, "store,workload,seconds,bytes,skipped")?;
    for (store, figures) in results {
        for f in figures {
            writeln!(
                out,
                "{store},{},{},{},{}",
                f.workload,
                f.time.as_secs_f64(),
                f.bytes.map_or(String::new(), |b| b.to_string()),
                f.skipped
            )?;
        }
    }
    Ok(())
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
        for (i, store) in [
            Box::new(stores::kanthor::Kanthor::open(&dir.path().join("0"))) as Box<dyn Store>,
            Box::new(stores::redb_store::Redb::open(&mkdir(&dir, "1"))),
            Box::new(stores::sled_store::Sled::open(&mkdir(&dir, "2"))),
            Box::new(stores::sqlite::Sqlite::open(&mkdir(&dir, "3"))),
            Box::new(stores::fjall_store::Fjall::open(&mkdir(&dir, "4"))),
        ]
        .into_iter()
        .enumerate()
        {
            let figures = workloads::run(store.as_ref(), &dir.path().join(i.to_string()), size);
            assert_eq!(figures.len(), 9, "{}", store.name());
            assert!(figures[8].bytes.is_some_and(|b| b > 0), "{}", store.name());
        }
    }

    fn mkdir(dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}
