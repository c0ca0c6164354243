//! Durable commits per second from N threads: `cargo run --release -p kv-log --example
//! commit_rate -- [THREADS] [SECONDS] [DIR]`. Each commit appends a 100-byte record and
//! flushes it; the output shows how many flushes each fsync served (group commit).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_file::FileManager;
use kv_log::LogManager;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map_or(Ok(16), |a| a.parse())?;
    let seconds: f64 = args.next().map_or(Ok(2.0), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);

    let log = Arc::new(LogManager::open(Arc::new(FileManager::open(&dir)?), "wal")?);
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let before = log.stats();
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (log, stop, commits) = (Arc::clone(&log), Arc::clone(&stop), Arc::clone(&commits));
            std::thread::spawn(move || -> kv_log::Result<()> {
                while !stop.load(Relaxed) {
                    let lsn = log.append(&[0x5a; 100])?;
                    log.flush(lsn)?;
                    commits.fetch_add(1, Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds)); // the measurement window
    stop.store(true, Relaxed);
    for w in workers {
        w.join().expect("worker panicked")?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = log.stats();
    let n = commits.load(Relaxed);
    let fsyncs = after.fsyncs - before.fsyncs;
    println!(
        "{threads} threads: {:.0} durable commits/s, {:.1} commits per fsync ({fsyncs} fsyncs in {elapsed:.2} s)",
        n as f64 / elapsed,
        n as f64 / fsyncs.max(1) as f64,
    );
    Ok(())
}
