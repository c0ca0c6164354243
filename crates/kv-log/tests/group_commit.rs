//! Group commit and concurrency: many threads appending and flushing one log.
//!
//! Run with `cargo test -p kv-log --test group_commit -- --nocapture` to see the figures.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Condvar, Mutex};

use common::{all, record, SMALL};
use kv_file::MemStorage;
use kv_log::{LogOptions, Lsn};

/// Holds each fsync until a given number of records were appended: as a slow disk would,
/// so the next leader finds all of a round's threads waiting, deterministically.
#[derive(Debug, Default)]
struct Gate {
    appended: Mutex<u64>,
    changed: Condvar,
    /// `sync` waits until `appended` reaches this.
    open_at: AtomicU64,
}

impl Gate {
    fn appended(&self) {
        *self.appended.lock().unwrap() += 1;
        self.changed.notify_all();
    }

    fn wait(&self) {
        let mut n = self.appended.lock().unwrap();
        while *n < self.open_at.load(SeqCst) {
            n = self.changed.wait(n).unwrap();
        }
    }
}

#[test]
fn one_fsync_serves_many_flushes() {
    const THREADS: u64 = 16;
    const ROUNDS: u64 = 25;
    let gate = Arc::new(Gate::default());
    let hook_gate = Arc::clone(&gate);
    let log = common::open_hooked(move || hook_gate.wait());
    let before = log.stats();
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (log, gate, barrier) = (Arc::clone(&log), Arc::clone(&gate), Arc::clone(&barrier));
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    if t == 0 {
                        gate.open_at.store(THREADS * (round + 1), SeqCst);
                    }
                    barrier.wait();
                    let lsn = log.append(format!("{t}/{round}").as_bytes()).unwrap();
                    gate.appended();
                    log.flush(lsn).unwrap();
                    assert!(log.durable_lsn() > lsn);
                    barrier.wait();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = log.stats();
    let fsyncs = stats.fsyncs - before.fsyncs;
    let flushes = stats.flush_requests - before.flush_requests;
    println!(
        "{THREADS} threads x {ROUNDS} rounds: {flushes} flushes served by {fsyncs} fsyncs ({:.1} flushes per fsync)",
        flushes as f64 / fsyncs as f64
    );
    assert_eq!(flushes, THREADS * ROUNDS);
    assert!(
        fsyncs <= 2 * ROUNDS,
        "group commit: at most two fsyncs per round of {THREADS} flushes, got {fsyncs}"
    );
    assert_eq!(all(&log).len() as u64, THREADS * ROUNDS);
}

#[test]
fn many_threads_append_and_flush_without_losing_or_reordering() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 300;
    let storage = MemStorage::new();
    let log = Arc::new(common::open(&storage, SMALL).unwrap());
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (log, start) = (Arc::clone(&log), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let mut mine = Vec::new();
                for i in 0..PER_THREAD {
                    let payload = [t.to_le_bytes().as_slice(), &record(i)].concat();
                    let lsn = log.append(&payload).unwrap();
                    if i % 7 == t % 7 {
                        log.flush(lsn).unwrap();
                        assert!(log.durable_lsn() > lsn);
                    }
                    mine.push((lsn, payload));
                }
                mine
            })
        })
        .collect();
    let mut expected: Vec<(Lsn, Vec<u8>)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    expected.sort();
    log.flush_all().unwrap();
    let got = all(&log);
    assert_eq!(got, expected, "every record, in LSN order");

    // Each thread's records appear in the order it appended them.
    let mut last: HashMap<Vec<u8>, Lsn> = HashMap::new();
    for (lsn, payload) in &got {
        let prev = last.insert(payload[..8].to_vec(), *lsn);
        assert!(prev.is_none_or(|p| p < *lsn));
    }
    drop(log);
    let log = common::open(&storage, LogOptions::default()).unwrap();
    assert_eq!(all(&log), expected, "and all of it after reopen");
}
