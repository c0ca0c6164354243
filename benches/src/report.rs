//! What a run prints and writes: a markdown table with each store's figure and its ratio to
//! KanthorKV's, then each store's durable writes against the disk's floor measured beside
//! them; and a CSV of every figure.

use std::io::Write as _;
use std::path::Path;

use crate::workloads::{Figure, Size, COMMITTERS, HEADER, KEY, RAW, VALUE};

/// One store's name and figures, in the workloads' order.
pub type Results = [(&'static str, Vec<Figure>)];

/// A figure as the table shows it: a time in ms, a size in MiB, or "n/a".
pub fn cell(f: &Figure) -> String {
    match (f.skipped, f.bytes) {
        (true, _) => "n/a".into(),
        (false, Some(bytes)) => format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64),
        (false, None) => format!("{:.0} ms", f.time.as_secs_f64() * 1000.0),
    }
}

/// `f` over `base` (times, or bytes), if both were measured: below 1, `f` is better.
pub fn ratio(f: &Figure, base: &Figure) -> Option<f64> {
    let value = |f: &Figure| f.bytes.map_or(f.time.as_secs_f64(), |b| b as f64);
    match (f.skipped || base.skipped, value(base)) {
        (true, _) => None,
        (false, 0.0) => None,
        (false, b) => Some(value(f) / b),
    }
}

/// The figure of `workload` among `figures`.
fn find<'a>(figures: &'a [Figure], workload: &str) -> Option<&'a Figure> {
    figures.iter().find(|f| f.workload == workload)
}

/// Prints the table, then each store's durable writes against the disk's floor measured
/// beside them.
pub fn print(size: Size, results: &Results) {
    let Some((_, base)) = results.first() else {
        return;
    };
    println!(
        "{RAW}: {} appends of {} bytes, each fdatasync'd, in each store's directory just \
         before its individual writes\n",
        size.individual,
        HEADER + KEY + VALUE,
    );
    let names: Vec<&str> = results.iter().map(|(n, _)| *n).collect();
    println!("| workload | {} |", names.join(" | "));
    println!("|---{}|", "|---".repeat(names.len()));
    for (i, b) in base.iter().enumerate() {
        let cells: Vec<String> = results
            .iter()
            .map(|(_, figures)| match ratio(&figures[i], b) {
                Some(r) => format!("{} ({r:.2}×)", cell(&figures[i])),
                None => cell(&figures[i]),
            })
            .collect();
        println!("| {} | {} |", b.workload, cells.join(" | "));
    }
    // Durable writes against the disk's floor: one committer's time over the raw appends'
    // (KanthorKV's target: at most 1.2), and many committers' rate over theirs (at least 5;
    // they commit 4× as many transactions as there were appends).
    let against_disk = |workload: &str, rate: bool| -> String {
        let cells: Vec<String> = results
            .iter()
            .map(
                |(_, figures)| match (find(figures, workload), find(figures, RAW)) {
                    (Some(f), Some(raw)) if !f.time.is_zero() && !raw.time.is_zero() => {
                        let r = f.time.as_secs_f64() / raw.time.as_secs_f64();
                        format!("{:.2}×", if rate { 4.0 / r } else { r })
                    }
                    _ => "n/a".into(),
                },
            )
            .collect();
        cells.join(" | ")
    };
    println!(
        "| individual writes: time ÷ {RAW}'s | {} |",
        against_disk("individual writes", false)
    );
    println!(
        "| {COMMITTERS} threads: commits/s ÷ {RAW}'s | {} |",
        against_disk("individual writes, 16 threads", true)
    );
    println!(
        "\n(each store's time or size over {0}'s: above 1, {0} is faster or smaller. The last \
         two rows compare each store's durable writes with its own {RAW} row: {0}'s targets are \
         ≤ 1.2 and ≥ 5.)",
        names[0]
    );
}

/// Writes every figure to `path` as CSV (workloads quoted: some have a comma in their name).
pub fn write_csv(path: &Path, results: &Results) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(path)?;
    writeln!(out, "store,workload,seconds,bytes,skipped")?;
    for (store, figures) in results {
        for f in figures {
            writeln!(
                out,
                "{store},\"{}\",{},{},{}",
                f.workload,
                f.time.as_secs_f64(),
                f.bytes.map_or(String::new(), |b| b.to_string()),
                f.skipped
            )?;
        }
    }
    Ok(())
}
