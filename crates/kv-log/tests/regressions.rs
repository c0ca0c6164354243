//! Bugs a reviewer found in the first version of the log, each pinned by a test.

mod common;

use std::sync::{mpsc, Arc, Condvar, Mutex};

use common::{all, open};
use kv_file::{Crash, FaultOp, MemStorage, Storage};
use kv_log::{Error, LogOptions, Lsn};

/// A gate that fsyncs wait at while it is closed.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn set_open(&self, open: bool) {
        *self.0.lock().unwrap() = open;
        self.1.notify_all();
    }

    fn wait(&self) {
        let mut open = self.0.lock().unwrap();
        while !*open {
            open = self.1.wait(open).unwrap();
        }
    }
}

#[test]
fn flushers_waiting_for_an_empty_next_batch_all_return() {
    let gate = Arc::new(Gate::default());
    gate.set_open(true);
    let hook_gate = Arc::clone(&gate);
    let log = common::open_hooked(move || hook_gate.wait());
    gate.set_open(false);
    let lsn = log.append(b"commit").unwrap();
    let leader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || log.flush(lsn))
    };
    let (tx, rx) = mpsc::channel();
    let followers: Vec<_> = (0..3)
        .map(|_| {
            let (log, tx) = (Arc::clone(&log), tx.clone());
            std::thread::spawn(move || {
                tx.send(()).unwrap();
                log.flush_all() // nothing of their own to flush: wait for the leader's batch
            })
        })
        .collect();
    for _ in 0..3 {
        rx.recv().unwrap();
    }
    gate.set_open(true);
    leader.join().unwrap().unwrap();
    for f in followers {
        f.join().unwrap().unwrap(); // before the fix, all but one could sleep forever
    }
}

#[test]
fn reopening_makes_what_it_finds_durable_before_calling_it_durable() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let a = log.append(b"written, never synced").unwrap();
    storage.fail_at(FaultOp::Sync, storage.stats().syncs);
    assert!(log.flush(a).is_err());
    drop(log);
    // Reopen without a crash: the record is in the (simulated) page cache.
    let log = open(&storage, LogOptions::default()).unwrap();
    assert!(log.durable_lsn() > a);
    log.flush(a).unwrap();
    drop(log);
    storage.crash(Crash::power_loss());
    let log = open(&storage, LogOptions::default()).unwrap();
    assert_eq!(all(&log), vec![(a, b"written, never synced".to_vec())]);
}

#[test]
fn a_read_error_is_an_io_error_not_corruption() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let a = log.append(b"a").unwrap();
    log.flush_all().unwrap();
    storage.fail_at(FaultOp::Read, storage.stats().reads);
    let err = log.read(a).unwrap_err();
    assert!(
        matches!(err, Error::File(kv_file::Error::Io { .. })),
        "{err}"
    );
    storage.fail_at(FaultOp::Read, storage.stats().reads);
    let err = log.iter_back().unwrap().next().unwrap().unwrap_err();
    assert!(
        matches!(err, Error::File(kv_file::Error::Io { .. })),
        "{err}"
    );
}

#[test]
fn a_damaged_record_at_the_asked_lsn_is_corruption_not_a_bad_lsn() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let a = log.append(b"payload").unwrap();
    log.append(b"after").unwrap();
    log.flush_all().unwrap();
    storage.corrupt("wal.00000000000000000000", a.0 + 9, 0x02);
    let err = log.read(a).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn read_is_exact_about_its_lsn() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let a = log.append(b"a").unwrap();
    for lsn in [Lsn::ZERO, Lsn(7), Lsn(a.0 + 1)] {
        assert!(
            matches!(log.read(lsn), Err(Error::InvalidLsn { .. })),
            "{lsn}"
        );
    }
    assert_eq!(log.read(a).unwrap(), b"a");
}

#[test]
fn a_stray_file_with_an_enormous_segment_number_is_ignored() {
    let storage = MemStorage::new();
    drop(open(&storage, LogOptions::default()).unwrap());
    storage.open_file("wal.18446744073709551610").unwrap();
    let log = open(&storage, LogOptions::default()).unwrap();
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn a_failed_removal_during_truncation_leaks_nothing() {
    let storage = MemStorage::new();
    let log = open(&storage, common::SMALL).unwrap();
    let lsns: Vec<Lsn> = (0..40)
        .map(|i| log.append(&common::record(i)).unwrap())
        .collect();
    log.flush_all().unwrap();
    let before = log.segment_count();
    storage.fail_at(FaultOp::Any, storage.stats().mutations + 1); // the second removal
    assert!(log.truncate_before(lsns[39]).is_err());
    assert_eq!(
        log.segment_count(),
        before - 1,
        "the first removal counted, the failed one did not"
    );
    let first = log.first_lsn();
    assert!(log.iter_from(first).unwrap().all(|r| r.is_ok()));
    assert_eq!(
        log.truncate_before(lsns[39]).unwrap() + 1,
        before - log.segment_count()
    );
}

#[test]
fn a_last_write_persisted_out_of_order_is_refused_strictly_and_cut_tolerantly() {
    let tolerant = LogOptions {
        tail: kv_log::TailRecovery::TolerateLastWrite,
        ..LogOptions::default()
    };
    let mut refused = 0;
    for seed in 0..16 {
        let storage = MemStorage::new();
        let (acked, appended) = {
            let log = open(&storage, LogOptions::default()).unwrap();
            let first = log.append(b"acknowledged").unwrap();
            log.flush(first).unwrap();
            // One write of several sectors whose fsync never happens.
            let more: Vec<Lsn> = (0..20)
                .map(|i| log.append(&[i as u8 + 1; 100]).unwrap())
                .collect();
            storage.power_cut_at(storage.stats().mutations + 1); // the write lands, the sync fails
            assert!(log.flush_all().is_err());
            (first, more)
        };
        storage.crash(Crash::scrambled(seed));
        match open(&storage, LogOptions::default()) {
            Err(Error::Corrupt { reason, .. }) => {
                assert!(reason.contains("yet a record follows"), "{reason}");
                refused += 1;
            }
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(log) => {
                let got = all(&log);
                assert_eq!(got[0].0, acked);
                assert!(got.iter().skip(1).zip(&appended).all(|(g, a)| g.0 == *a));
                continue;
            }
        }
        let log = open(&storage, tolerant).unwrap();
        let got = all(&log);
        assert_eq!(got[0], (acked, b"acknowledged".to_vec()), "seed {seed}");
        assert!(got.iter().skip(1).zip(&appended).all(|(g, a)| g.0 == *a));
    }
    assert!(
        refused > 0,
        "some seed scrambles the write so that later records survive"
    );
}
