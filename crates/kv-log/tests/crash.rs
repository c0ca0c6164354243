//! Crash every possible way at every possible point of a small workload, and check that the
//! reopened log holds every acknowledged record, intact, and nothing that was never appended.
//!
//! Run with `cargo test -p kv-log --test crash -- --nocapture` to see how many crash states
//! were checked.

mod common;

use common::{all, open, record, SMALL};
use kv_file::{Crash, MemStorage};
use kv_log::{Error, LogOptions, Lsn, TailRecovery};

#[derive(Clone, Copy)]
enum Step {
    Append(usize),
    Flush,
}

fn workload() -> Vec<Step> {
    use Step::*;
    vec![
        Append(10),
        Append(11),
        Append(12),
        Append(13),
        Append(14),
        Append(15),
        Append(16),
        Append(17),
        Flush, // one write of several sectors, to be scrambled
        Append(0),
        Append(1),
        Flush,
        Append(2),
        Append(3),
        Append(4),
        Flush,
        Append(600), // long enough to start a new segment on its own
        Flush,
        Append(5),
        Flush,
        Append(6),
        Append(7),
        Append(8),
        Flush,
        Append(9),
    ]
}

fn payload(i: usize) -> Vec<u8> {
    if i == 600 {
        vec![0x66; 600]
    } else {
        record(i)
    }
}

/// Runs the workload until the first failure; returns what was appended (in order) and how
/// many of those records a returned `flush` acknowledged as durable.
fn run(storage: &MemStorage) -> (Vec<(Lsn, Vec<u8>)>, usize) {
    let mut appended = Vec::new();
    let mut acked = 0;
    let Ok(log) = open(storage, SMALL) else {
        return (appended, acked);
    };
    for step in workload() {
        match step {
            Step::Append(i) => match log.append(&payload(i)) {
                Ok(lsn) => appended.push((lsn, payload(i))),
                Err(_) => break,
            },
            Step::Flush => match log.flush_all() {
                Ok(()) => acked = appended.len(),
                Err(_) => break,
            },
        }
    }
    (appended, acked)
}

const CRASHES: [Crash; 14] = [
    Crash::power_loss(),
    Crash::process_kill(),
    Crash::torn(0),
    Crash::torn(5),
    Crash::torn(20),
    Crash::torn(100),
    Crash::torn(512),
    Crash::random(42),
    Crash::scrambled(1),
    Crash::scrambled(2),
    Crash::scrambled(3),
    Crash::scrambled(4),
    Crash::scrambled(5),
    Crash::scrambled(6),
];

#[test]
fn every_crash_point_keeps_acknowledged_records_and_invents_nothing() {
    let probe = MemStorage::new();
    let (appended, acked) = run(&probe);
    assert_eq!(acked, appended.len() - 1, "the workload runs to its end");
    let points = probe.stats().mutations;
    assert!(points > 10, "{points} mutations");

    let mut states = 0;
    let mut refusals = 0;
    for cut in 0..=points {
        for crash in CRASHES {
            let storage = MemStorage::new();
            storage.power_cut_at(cut);
            let (appended, acked) = run(&storage);
            storage.crash(crash);
            // Strict recovery may refuse a log whose last write landed out of order (and
            // only then); it must never open it wrongly. Tolerant recovery must open it.
            let log = match open(&storage, SMALL) {
                Ok(log) => log,
                Err(Error::Corrupt { .. }) if crash.scramble_last.is_some() => {
                    refusals += 1;
                    let tolerant = LogOptions {
                        tail: TailRecovery::TolerateLastWrite,
                        ..SMALL
                    };
                    open(&storage, tolerant).unwrap_or_else(|e| {
                        panic!("tolerant reopen after cut {cut}, {crash:?}: {e}")
                    })
                }
                Err(e) => panic!("reopen after cut {cut}, {crash:?}: {e}"),
            };
            let recovered = all(&log);
            assert!(
                appended.starts_with(&recovered),
                "cut {cut}, {crash:?}: recovered records that were never appended: {recovered:?}"
            );
            assert!(
                recovered.len() >= acked,
                "cut {cut}, {crash:?}: lost acknowledged records ({} < {acked})",
                recovered.len()
            );
            // And the recovered log is a working log.
            let lsn = log.append(b"next").unwrap();
            log.flush(lsn).unwrap();
            states += 1;
        }
    }
    println!("crash states checked: {states} ({refusals} strict refusals after scrambled writes)");
    assert_eq!(states, (points + 1) * CRASHES.len() as u64);
}

#[test]
fn a_crash_during_recovery_is_harmless() {
    // Crash, then crash again while the torn tail is being cut, at every point of that cut.
    let storage = MemStorage::new();
    let (appended, acked) = run(&storage);
    storage.crash(Crash::torn(9));
    for cut in 0..4 {
        // `storage` is the restarted machine; recovery runs on it and is cut short.
        storage.power_cut_at(storage.stats().mutations + cut);
        let _ = open(&storage, SMALL);
        storage.crash(Crash::power_loss());
        let log = open(&storage, SMALL).unwrap();
        let recovered = all(&log);
        assert!(appended.starts_with(&recovered));
        assert!(recovered.len() >= acked);
    }
}
