//! Loading many entries fast: write batches (one transaction, one fsync per batch), then
//! a range scan, a deletion of half the data, and a compaction that gives the space back.
//!
//! `cargo run --release -p kv-db --example bulk_load [entries]` (default 100,000).

use std::time::Instant;

use kv_db::{Db, Durability, Options, WriteBatch};

fn key(i: u64) -> [u8; 8] {
    // Spread out so that the load is in random key order, the hard case for a B+tree.
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()
}

fn main() -> kv_db::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");

    // ANCHOR: bulk_load
    let db = Db::open_with(
        dir.path(),
        Options {
            cache_pages: 1 << 15, // 128 MiB of 4 KiB pages
            durability: Durability::Sync,
            ..Options::default()
        },
    )?;
    let value = [7u8; 100];
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut batch = WriteBatch::new();
        for &i in chunk {
            batch.put(&key(i), &value);
        }
        db.write(&batch)?; // sorted, applied in one transaction: one fsync
    }
    let took = start.elapsed();
    // ANCHOR_END: bulk_load
    println!(
        "loaded {n} entries in {took:?} ({:?} each)",
        took / n.max(1) as u32
    );

    let mut snapshot = db.begin_read()?;
    let first: Vec<_> = snapshot.range(..)?.take(3).collect::<kv_db::Result<_>>()?;
    println!(
        "the three smallest keys: {:?}",
        first.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    drop(snapshot);

    // ANCHOR: compact
    let mut batch = WriteBatch::new();
    for i in (0..n).filter(|i| i % 4 != 0) {
        batch.delete(&key(i));
    }
    db.write(&batch)?;
    let stats = db.stats()?;
    println!(
        "after deleting 3 in 4: {} live pages, {} free",
        stats.live_pages, stats.free_pages
    );
    let report = db.compact()?;
    println!(
        "compaction moved {} pages and gave back {} of {} bytes",
        report.pages_moved,
        report.reclaimed(),
        report.bytes_before
    );
    // ANCHOR_END: compact
    let check = db.check()?;
    println!("check: {}", if check.is_ok() { "ok" } else { "PROBLEMS" });
    Ok(())
}
