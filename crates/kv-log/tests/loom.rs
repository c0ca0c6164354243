//! loom models of group commit: threads that append a record and flush it, run under every
//! interleaving loom can reach within a preemption bound (see `check`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p kv-log --test loom`; without
//! `--cfg loom` this file is empty. The log runs on a `MemStorage`, whose own (std) mutex is
//! never held across a loom operation, so loom sees only the log's mutex and condition
//! variables (`kv_log::sync`) and explores their interleavings.
//!
//! The invariants, checked in every interleaving:
//! - a `flush` that returned left its record in the *durable* image of the disk (what a
//!   power cut keeps), byte for byte, and a power cut at the end loses no flushed record;
//! - no thread waits forever: a lost wake-up leaves a thread blocked, which loom reports as
//!   a deadlock and fails the test;
//! - every fsync syncs new records (never more fsyncs than records), and the log's count of
//!   them is the disk's.
#![cfg(loom)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use kv_file::{Crash, FaultOp, MemStorage};
use kv_log::sync::check;
use kv_log::{segment_name, LogManager, LogOptions, Lsn};

/// A new log on a new simulated disk, and the disk's syncs so far (opening syncs).
fn fresh_log() -> (MemStorage, Arc<LogManager>, u64) {
    let storage = MemStorage::new();
    let log = Arc::new(common::open(&storage, LogOptions::default()).unwrap());
    let syncs = storage.stats().syncs;
    (storage, log, syncs)
}

/// What a power cut would leave of the log's first segment right now: a fork of the disk,
/// crashed, so the real one is untouched. Never touches a loom primitive, so to loom the
/// look is one indivisible step.
fn durable_image(storage: &MemStorage) -> Vec<u8> {
    let fork = storage.fork();
    fork.crash(Crash::power_loss());
    fork.file_bytes(&segment_name("wal", Lsn::ZERO))
        .expect("the first segment exists")
}

/// Appends `payload`, flushes it, and checks that it is durable the moment `flush` returns.
fn commit(log: &LogManager, storage: &MemStorage, payload: &[u8]) -> kv_log::Result<Lsn> {
    let lsn = log.append(payload)?;
    log.flush(lsn)?;
    // A frame is length (4), checksum (4), payload, length (4): the payload is at lsn + 8.
    let start = lsn.0 as usize + 8;
    let image = durable_image(storage);
    assert_eq!(
        image.get(start..start + payload.len()),
        Some(payload),
        "flush({lsn:?}) returned before its record was durable"
    );
    Ok(lsn)
}

/// Commits `records[0]` on this thread and every other record on a thread of its own, all
/// at once, and returns each commit's outcome, in order.
fn commit_concurrently(
    log: &Arc<LogManager>,
    storage: &MemStorage,
    records: &[&'static [u8]],
) -> Vec<kv_log::Result<Lsn>> {
    let others: Vec<_> = records[1..]
        .iter()
        .map(|&payload| {
            let (log, storage) = (Arc::clone(log), storage.clone());
            loom::thread::spawn(move || commit(&log, &storage, payload))
        })
        .collect();
    let mut results = vec![commit(log, storage, records[0])];
    results.extend(others.into_iter().map(|t| t.join().unwrap()));
    results
}

/// After every thread is done: nothing is left unsynced, fsyncs were all useful and are
/// the disk's, and a power cut keeps every record.
fn check_end(log: &LogManager, storage: &MemStorage, syncs_at_open: u64, records: &[&[u8]]) {
    let stats = log.stats();
    assert_eq!(log.durable_lsn(), log.end_lsn());
    assert!(
        stats.fsyncs >= 1 && stats.fsyncs <= records.len() as u64,
        "{stats:?}"
    );
    assert_eq!(storage.stats().syncs - syncs_at_open, stats.fsyncs);
    assert_eq!(storage.stats().unsynced, 0);
    let crashed = storage.fork();
    crashed.crash(Crash::power_loss());
    let reopened = common::open(&crashed, LogOptions::default()).unwrap();
    let mut found: Vec<Vec<u8>> = common::all(&reopened).into_iter().map(|(_, p)| p).collect();
    found.sort();
    let mut want: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
    want.sort();
    assert_eq!(found, want);
}

/// Two threads each append one record and flush it. Interleavings include: one flushes
/// alone and the other leads the next batch; both append before either flushes, so the
/// first leader's one fsync serves both (the follower waits on `batch_done` of the current
/// batch); a follower that arrives mid-flush with a record not in the batch waits for the
/// next batch and then leads it itself.
#[test]
fn two_committers_share_or_hand_off_the_flush() {
    static GROUPED: AtomicUsize = AtomicUsize::new(0);
    static SEPARATE: AtomicUsize = AtomicUsize::new(0);
    let runs = check("log: two committers", None, || {
        let (storage, log, syncs_at_open) = fresh_log();
        let records: [&'static [u8]; 2] = [b"from thread a", b"from thread b"];
        for result in commit_concurrently(&log, &storage, &records) {
            result.unwrap();
        }
        check_end(&log, &storage, syncs_at_open, &records);
        let counter = if log.stats().fsyncs == 1 {
            &GROUPED
        } else {
            &SEPARATE
        };
        counter.fetch_add(1, Relaxed);
    });
    let (grouped, separate) = (GROUPED.load(Relaxed), SEPARATE.load(Relaxed));
    println!("  one fsync for both: {grouped}; one each: {separate}");
    // Both outcomes are reachable, so the model really explored group commit.
    assert!(grouped > 0 && separate > 0 && grouped + separate == runs);
}

/// Three committers: the hand-off proper. While a leader syncs batch n, two followers with
/// records outside it wait for batch n + 1 on the same condition variable; the finishing
/// leader wakes only one of them (`notify_one`) to lead n + 1, and the other must then be
/// woken by that batch's own `notify_all` — or by a newcomer's batch. A wake-up lost on
/// either path leaves a follower blocked forever, which loom reports.
#[test]
fn three_committers_hand_the_lead_to_one_follower() {
    check("log: three committers", None, || {
        let (storage, log, syncs_at_open) = fresh_log();
        let records: [&'static [u8]; 3] = [b"record 0", b"record 1", b"record 2"];
        for result in commit_concurrently(&log, &storage, &records) {
            result.unwrap();
        }
        check_end(&log, &storage, syncs_at_open, &records);
    });
}

/// Three committers, and the log's first fsync fails. Whoever leads that batch gets the
/// error and poisons the log; every follower, asleep on either condition variable, must be
/// woken to see it (`notify_all` on both) rather than wait for a batch no one will lead.
/// Invariant: each `flush` returns — `Ok` only with its record durable (a record synced by
/// an earlier batch is committed even if a later one fails), else `Poisoned` or the I/O
/// error — and at least the failing leader got an error.
#[test]
fn a_failed_fsync_wakes_every_follower_with_the_error() {
    check("log: three committers, failed fsync", None, || {
        let (storage, log, syncs_at_open) = fresh_log();
        storage.fail_at(FaultOp::Sync, syncs_at_open);
        let records: [&'static [u8]; 3] = [b"record 0", b"record 1", b"record 2"];
        let results = commit_concurrently(&log, &storage, &records);
        assert!(results.iter().any(|r| r.is_err()), "{results:?}");
        assert!(log.flush_all().is_err(), "the log stays poisoned");
    });
}

/// One committer and two threads flushing everything (`flush_all`, as a checkpoint does),
/// which have no record of their own: while a leader syncs, both wait for the *next* batch.
/// A leader that finds nothing buffered after its batch must wake all waiters of the next
/// batch, not one: they are all satisfied already, and the one woken would return without
/// waking the other. (Changing that `notify_all` to `notify_one` makes loom report the
/// stranded flusher.) Invariant: `flush_all` returns with everything appended before it
/// began durable, and no one waits forever.
#[test]
fn flush_all_callers_are_never_stranded() {
    check("log: one committer and two flush_all", None, || {
        let (storage, log, syncs_at_open) = fresh_log();
        let flushers: Vec<_> = (0..2)
            .map(|_| {
                let (log, storage) = (Arc::clone(&log), storage.clone());
                loom::thread::spawn(move || {
                    let end = log.end_lsn();
                    log.flush_all().unwrap();
                    let durable = durable_image(&storage).len() as u64;
                    assert!(durable >= end.0, "flush_all left {end:?} unsynced");
                })
            })
            .collect();
        commit(&log, &storage, b"record").unwrap();
        for flusher in flushers {
            flusher.join().unwrap();
        }
        check_end(&log, &storage, syncs_at_open, &[b"record"]);
    });
}
