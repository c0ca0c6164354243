//! Chapter 6 exercises. Each test describes behaviour the reference code does not have yet;
//! it fails until you build it. Turn one on with
//! `cargo test -p kv-tx --test exercises_6 -- --ignored exercise_6_1`.
//!
//! Every test has a lock timeout, so a mistake makes it fail rather than hang.

mod common;

use std::time::Duration;

use common::{small, two_pages, waits};
use kv_file::{BlockId, MemStorage};
use kv_tx::{DeadlockPolicy, Error, LockMode, PageRead, TxManager, TxOptions};

fn open(deadlock: DeadlockPolicy) -> (TxManager, BlockId, BlockId) {
    let options = TxOptions {
        lock_timeout: Some(Duration::from_secs(2)),
        deadlock,
        ..TxOptions::default()
    };
    two_pages(options, 0)
}

/// Exercise 6.1: wound-wait, the other half of Rosenkrantz et al.'s pair. An older
/// requester never waits for a younger holder: it "wounds" it — the younger one's next lock
/// request (or its current wait) fails with `Deadlock` — and waits for it to roll back. A
/// younger requester waits for an older holder. Add `DeadlockPolicy::WoundWait`, parsed from
/// "wound-wait". Then add it to the bank benchmark and compare it with wait-die.
#[test]
#[ignore = "exercise 6.1: wound-wait"]
fn exercise_6_1_wound_wait() {
    let policy: DeadlockPolicy = "wound-wait".parse().expect("exercise 6.1: add WoundWait");
    let (db, x, y) = open(policy);
    let queued = waits(&db);
    let mut old = db.begin().unwrap();
    let mut young = db.begin().unwrap();
    let old_id = old.id();
    young.set_u64(&x, 8, 1).unwrap(); // young holds x
    std::thread::scope(|s| {
        let x1 = x.clone();
        let waiter = s.spawn(move || {
            old.set_u64(&x1, 8, 2)?; // wounds young, waits for it to go
            old.commit()
        });
        while queued.recv().unwrap() != old_id {}
        let err = young.lock(&y, LockMode::Shared).unwrap_err();
        assert!(
            matches!(err, Error::Deadlock { .. }),
            "young was wounded: {err}"
        );
        drop(young); // rolls back, freeing x
        waiter.join().unwrap().unwrap();
    });
    assert_eq!(db.begin().unwrap().get_u64(&x, 8).unwrap(), 2);
}

/// Exercise 6.2: multigranularity locking with escalation. A transaction that reads every
/// block of a big file takes one lock per block. Add intention modes (IS, IX, SIX) and lock
/// the file before its blocks (IS before S, IX before X); once a transaction holds more than
/// 32 block locks in a file, escalate to one file lock. Other files stay unaffected, and a
/// writer of a block in the escalated file must still wait.
#[test]
#[ignore = "exercise 6.2: multigranularity locks with escalation"]
fn exercise_6_2_reading_a_whole_file_takes_few_locks() {
    let options = TxOptions {
        lock_timeout: Some(Duration::from_millis(30)),
        ..TxOptions::default()
    };
    let db = TxManager::open_with(MemStorage::new(), small(options)).unwrap();
    let mut setup = db.begin().unwrap();
    let blocks: Vec<BlockId> = (0..100).map(|_| setup.append("big").unwrap()).collect();
    let other = setup.append("small").unwrap();
    setup.commit().unwrap();

    let mut reader = db.begin().unwrap();
    for b in &blocks {
        reader.get_u64(b, 8).unwrap();
    }
    assert!(
        db.locks().len() <= 4,
        "{} locks for one scan",
        db.locks().len()
    );
    let mut writer = db.begin().unwrap();
    writer.set_u64(&other, 8, 1).unwrap(); // another file: no conflict
    assert!(matches!(
        writer.set_u64(&blocks[7], 8, 1),
        Err(Error::LockTimeout { .. })
    ));
}

/// Exercise 6.3: choose the youngest victim. Detection makes the requester that closes the
/// cycle the victim — possibly an old transaction that has done much work, while a young one
/// in the cycle has done little. Abort the youngest transaction in the cycle instead: if it
/// is waiting, its wait ends with `Deadlock`; the requester then waits normally.
#[test]
#[ignore = "exercise 6.3: the youngest in the cycle is the victim"]
fn exercise_6_3_the_youngest_in_the_cycle_is_the_victim() {
    let (db, x, y) = open(DeadlockPolicy::Detect);
    let queued = waits(&db);
    let mut old = db.begin().unwrap();
    let mut young = db.begin().unwrap();
    let young_id = young.id();
    old.set_u64(&x, 8, 1).unwrap();
    young.set_u64(&y, 8, 1).unwrap();
    std::thread::scope(|s| {
        let x1 = x.clone();
        let waiting = s.spawn(move || {
            let got = young.set_u64(&x1, 8, 2); // waits for old
            drop(young); // a victim rolls back
            got
        });
        while queued.recv().unwrap() != young_id {}
        let closing = old.set_u64(&y, 8, 3); // closes the cycle: young must be the victim
        let old_survived = closing.is_ok();
        if old_survived {
            old.commit().unwrap();
        } else {
            drop(old); // frees young at once, so the test fails fast
        }
        let young_got = waiting.join().unwrap();
        assert!(old_survived, "the old transaction must wait and then get y");
        assert!(
            matches!(young_got, Err(Error::Deadlock { .. })),
            "{young_got:?}"
        );
    });
    let mut check = db.begin().unwrap();
    assert_eq!(
        (check.get_u64(&x, 8).unwrap(), check.get_u64(&y, 8).unwrap()),
        (1, 3)
    );
}
