//! Chapter 3 checkpoint: the log's promises, tested from the outside.
//!
//! Run with `cargo test -p kv-log --test chapter3`.

mod common;

use common::{all, open, record, SMALL};
use kv_file::{FaultOp, MemStorage, Storage};
use kv_log::{Error, LogOptions, Lsn, MAX_RECORD_SIZE};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Records of every size come back intact, forward and backward, across reopen.
    #[test]
    fn records_of_any_size_round_trip(
        sizes in proptest::collection::vec(
            prop_oneof![Just(0usize), Just(1), Just(4096), Just(3 * 4096 + 17), 0usize..9000],
            1..12,
        )
    ) {
        let storage = MemStorage::new();
        let payloads: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let mut lsns = Vec::new();
        {
            let log = open(&storage, SMALL).unwrap();
            for p in &payloads {
                lsns.push(log.append(p).unwrap());
            }
            log.flush_all().unwrap();
        }
        let log = open(&storage, SMALL).unwrap();
        let expected: Vec<(Lsn, Vec<u8>)> = lsns.iter().copied().zip(payloads).collect();
        prop_assert_eq!(&all(&log), &expected);
        let back: Vec<_> = log.iter_back().unwrap().collect::<kv_log::Result<_>>().unwrap();
        let mut reversed = expected.clone();
        reversed.reverse();
        prop_assert_eq!(back, reversed);
        for (lsn, payload) in &expected {
            prop_assert_eq!(&log.read(*lsn).unwrap(), payload);
        }
    }
}

#[test]
fn lsns_grow_and_appends_continue_after_reopen() {
    let storage = MemStorage::new();
    let first = {
        let log = open(&storage, LogOptions::default()).unwrap();
        let a = log.append(b"a").unwrap();
        let b = log.append(b"b").unwrap();
        assert!(a < b && a > Lsn::ZERO);
        log.flush(b).unwrap();
        a
    };
    let log = open(&storage, LogOptions::default()).unwrap();
    let c = log.append(b"c").unwrap();
    log.flush(c).unwrap();
    let got: Vec<Vec<u8>> = all(&log).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, [b"a", b"b", b"c"]);
    assert_eq!(log.first_lsn(), first);
}

#[test]
fn iteration_starts_at_any_record_and_rejects_bad_lsns() {
    let storage = MemStorage::new();
    let log = open(&storage, SMALL).unwrap();
    let lsns: Vec<Lsn> = (0..20).map(|i| log.append(&record(i)).unwrap()).collect();
    for (k, &lsn) in lsns.iter().enumerate() {
        let from: Vec<Lsn> = log.iter_from(lsn).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(from, lsns[k..]);
    }
    let inside = Lsn(lsns[3].0 + 2);
    let err = log.iter_from(inside).unwrap().next().unwrap().unwrap_err();
    assert!(matches!(err, Error::InvalidLsn { .. }), "{err}");
    let past = Lsn(log.end_lsn().0 + 1);
    assert!(matches!(log.iter_from(past), Err(Error::InvalidLsn { .. })));
    assert!(matches!(
        log.read(log.end_lsn()),
        Err(Error::InvalidLsn { .. })
    ));
}

#[test]
fn truncation_releases_whole_segments_and_keeps_the_rest_readable() {
    let storage = MemStorage::new();
    let log = open(&storage, SMALL).unwrap();
    let lsns: Vec<Lsn> = (0..60).map(|i| log.append(&record(i)).unwrap()).collect();
    log.flush_all().unwrap();
    let before = log.segment_count();
    assert!(before > 5, "{before} segments");
    let keep = lsns[40];
    let removed = log.truncate_before(keep).unwrap();
    assert!(removed > 0);
    assert_eq!(log.segment_count(), before - removed);
    assert!(log.first_lsn() <= keep);
    let tail: Vec<Lsn> = log.iter_from(keep).unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(tail, lsns[40..]);
    assert!(matches!(
        log.iter_from(lsns[0]),
        Err(Error::Truncated { .. })
    ));
    assert_eq!(log.stats().segments_removed, removed as u64);
    drop(log);

    let log = open(&storage, SMALL).unwrap();
    let c = log.append(b"after").unwrap();
    log.flush(c).unwrap();
    let records = all(&log);
    assert_eq!(records.last().unwrap(), &(c, b"after".to_vec()));
    assert!(records.iter().any(|(l, _)| *l == keep));
}

#[test]
fn a_failed_fsync_poisons_the_log_until_reopen() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let kept = log.append(b"durable").unwrap();
    log.flush(kept).unwrap();
    let lost = log.append(b"not acknowledged").unwrap();
    storage.fail_at(FaultOp::Sync, storage.stats().syncs);
    let err = log.flush(lost).unwrap_err();
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert!(matches!(log.append(b"more"), Err(Error::Poisoned { .. })));
    assert!(matches!(log.flush_all(), Err(Error::Poisoned { .. })));
    drop(log);
    let log = open(&storage, LogOptions::default()).unwrap();
    assert_eq!(all(&log)[0], (kept, b"durable".to_vec()));
}

#[test]
fn a_full_disk_is_reported_and_loses_nothing_acknowledged() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let kept = log.append(&[7; 100]).unwrap();
    log.flush(kept).unwrap();
    storage.set_capacity(Some(
        storage
            .file_bytes("wal.00000000000000000000")
            .unwrap()
            .len() as u64
            + 100,
    ));
    log.append(&[8; 4000]).unwrap();
    let err = log.flush_all().unwrap_err();
    assert!(
        matches!(err, Error::File(kv_file::Error::DiskFull { .. })),
        "{err}"
    );
    drop(log);
    storage.set_capacity(None);
    let log = open(&storage, LogOptions::default()).unwrap();
    assert_eq!(all(&log), vec![(kept, vec![7; 100])]);
}

#[test]
fn oversized_records_are_refused_and_change_nothing() {
    let storage = MemStorage::new();
    let log = open(&storage, LogOptions::default()).unwrap();
    let end = log.end_lsn();
    let huge = vec![0u8; MAX_RECORD_SIZE + 1]; // zeroed pages: allocated lazily, cheap
    let err = log.append(&huge).unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err}");
    assert_eq!(log.end_lsn(), end);
}

#[test]
fn damage_before_the_tail_is_an_error_not_a_truncation() {
    let storage = MemStorage::new();
    {
        let log = open(&storage, LogOptions::default()).unwrap();
        for i in 0..10 {
            log.append(&record(i)).unwrap();
        }
        log.flush_all().unwrap();
    }
    storage.corrupt("wal.00000000000000000000", 100, 0x01);
    let err = open(&storage, LogOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("yet a record follows"), "{err}");
}

#[test]
fn a_damaged_older_segment_is_reported_when_read() {
    let storage = MemStorage::new();
    {
        let log = open(&storage, SMALL).unwrap();
        for i in 0..30 {
            log.append(&record(i)).unwrap();
        }
        log.flush_all().unwrap();
    }
    storage.corrupt("wal.00000000000000000000", 60, 0x80);
    let log = open(&storage, SMALL).expect("only the last segment is scanned at open");
    let err = log
        .iter_from(log.first_lsn())
        .unwrap()
        .find_map(Result::err)
        .expect("the damage is found when read");
    assert!(
        matches!(err, Error::Corrupt { ref path, .. } if path == "mem:wal.00000000000000000000"),
        "{err}"
    );

    drop(log);
    storage.corrupt("wal.00000000000000000000", 3, 0x01);
    let err = open(&storage, SMALL).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
}

#[test]
fn cutting_the_log_at_every_byte_yields_a_prefix() {
    let storage = MemStorage::new();
    let (expected, segments) = {
        let log = open(&storage, SMALL).unwrap();
        for i in 0..12 {
            log.append(&record(i)).unwrap();
        }
        log.flush_all().unwrap();
        (all(&log), storage.list_names("wal."))
    };
    assert!(
        segments.len() >= 2,
        "the log spans {} segments",
        segments.len()
    );
    let last = segments.last().unwrap();
    let bytes = storage.file_bytes(last).unwrap();
    let mut opened = 0;
    for cut in 0..=bytes.len() {
        let copy = MemStorage::new();
        drop(open(&copy, SMALL).unwrap());
        for name in &segments {
            let data = storage.file_bytes(name).unwrap();
            let data = if name == last {
                &data[..cut]
            } else {
                &data[..]
            };
            copy.open_file(name).unwrap().write_at(data, 0).unwrap();
        }
        let log = open(&copy, SMALL).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let got = all(&log);
        assert!(expected.starts_with(&got), "cut at {cut}: not a prefix");
        assert!(got.len() < expected.len() || cut == bytes.len());
        // The cut log accepts new records right where it ends.
        let lsn = log.append(b"after the cut").unwrap();
        log.flush(lsn).unwrap();
        assert_eq!(all(&log).last().unwrap().1, b"after the cut");
        opened += 1;
    }
    assert_eq!(opened, bytes.len() + 1);
}

trait ListNames {
    fn list_names(&self, prefix: &str) -> Vec<String>;
}

impl ListNames for MemStorage {
    fn list_names(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .list()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }
}
