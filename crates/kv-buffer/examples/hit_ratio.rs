//! Hit ratio of every replacement policy on three traces, through the real buffer pool:
//! `cargo run --release -p kv-buffer --example hit_ratio [-- --svg PATH]`.
//!
//! 1,000 blocks are accessed 200,000 times through a pool of 100 frames (10 %): uniformly,
//! Zipfian (θ = 0.99), and Zipfian with a sequential scan of 200 cold blocks every 2,000
//! accesses. With `--svg PATH` it also draws the table as a bar chart.

#[path = "../tests/common/traces.rs"]
mod traces;

use std::sync::Arc;

use kv_buffer::{BufferOptions, BufferPool, PolicyKind};
use kv_file::{BlockId, FileManager, FileOptions, MemStorage};
use kv_log::LogManager;
use traces::Trace;

const FRAMES: usize = 100;
const BLOCKS: u64 = 1_000;
const LEN: usize = 200_000;

fn hit_ratio(policy: PolicyKind, trace: &Trace) -> Result<f64, Box<dyn std::error::Error>> {
    let fm = Arc::new(FileManager::open_with(
        MemStorage::new(),
        FileOptions::default().block_size(512),
    )?);
    fm.truncate("t", trace.blocks)?;
    let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal")?);
    let options = BufferOptions {
        frames: FRAMES,
        policy,
        ..BufferOptions::default()
    };
    let pool = BufferPool::new(fm, log, options);
    let ids: Vec<BlockId> = (0..trace.blocks).map(|n| BlockId::new("t", n)).collect();
    for &b in &trace.accesses {
        drop(pool.pin(&ids[b as usize])?);
    }
    Ok(pool.stats().hit_ratio())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let traces = [
        traces::uniform(BLOCKS, LEN, 1),
        traces::zipf(BLOCKS, LEN, 0.99, 2),
        traces::scan_polluted(BLOCKS, LEN, 200, 2_000, 3),
    ];
    let mut table = Vec::new();
    let names: Vec<&str> = traces.iter().map(|t| t.name).collect();
    println!("| policy | {} |", names.join(" | "));
    println!("|--------|{}", "------:|".repeat(traces.len()));
    for policy in PolicyKind::ALL {
        let ratios: Vec<f64> = traces
            .iter()
            .map(|t| hit_ratio(policy, t))
            .collect::<Result<_, _>>()?;
        let cells: Vec<String> = ratios
            .iter()
            .map(|r| format!("{:.1} %", r * 100.0))
            .collect();
        println!("| {policy:?} | {} |", cells.join(" | "));
        table.push((policy, ratios));
    }
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(path)) = (args.next(), args.next()) {
        if flag == "--svg" {
            std::fs::write(&path, svg(&traces, &table))?;
            println!("\nwrote {path}");
        }
    }
    Ok(())
}

/// A grouped bar chart: one group per trace, one bar per policy.
fn svg(traces: &[Trace], table: &[(PolicyKind, Vec<f64>)]) -> String {
    const COLORS: [&str; 4] = ["#9e9e9e", "#64b5f6", "#1565c0", "#ef6c00"];
    let (w, h, top, bottom, left) = (640.0, 300.0, 20.0, 250.0, 50.0);
    let group_w = (w - left - 20.0) / traces.len() as f64;
    let bar_w = group_w / (table.len() as f64 + 1.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    for pct in [0, 25, 50, 75, 100] {
        let y = bottom - (bottom - top) * pct as f64 / 100.0;
        out += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{pct}%</text>\n",
            w - 20.0,
            left - 5.0,
            y + 4.0
        );
    }
    for (g, trace) in traces.iter().enumerate() {
        let x0 = left + g as f64 * group_w + bar_w / 2.0;
        for (p, (_, ratios)) in table.iter().enumerate() {
            let bar_h = (bottom - top) * ratios[g];
            out += &format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\" fill=\"{}\"/>\n",
                x0 + p as f64 * bar_w,
                bottom - bar_h,
                bar_w - 2.0,
                COLORS[p % COLORS.len()]
            );
        }
        out += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            x0 + bar_w * table.len() as f64 / 2.0,
            bottom + 18.0,
            trace.name
        );
    }
    for (p, (policy, _)) in table.iter().enumerate() {
        let x = left + p as f64 * 120.0;
        out += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{policy:?}</text>\n",
            h - 22.0,
            COLORS[p % COLORS.len()],
            x + 16.0,
            h - 12.0
        );
    }
    out + "</svg>\n"
}
