//! The I/O-error loop (SQLite's "I/O error" tests): run one workload through `kv-db` on the
//! fault-injecting storage once per I/O operation it performs, failing that operation —
//! once, and persistently from then on — and check what the database promises:
//!
//! - an operation that fails reports an error (never a panic);
//! - after a failed fsync, the database refuses every further write until it is reopened
//!   (what reached the disk is unknown: PostgreSQL's "fsyncgate");
//! - after a crash and a reopen, `check()` is clean and the data is exactly the acknowledged
//!   commits, plus — all or nothing — the one transaction whose commit reported an error.
//!
//! The loop prints how many faults it injected. By default it fails, in turn, every mutation
//! (writes, syncs, length changes, creations) and every read; `KV_IO_ERROR_OPS=Sync` (or
//! `Write`, `Read`, `Any`) picks one kind, and `KV_IO_ERROR_TXNS=200` lengthens the workload
//! (16 transactions by default) for a long run.
//!
//! Run with `cargo test -p kv-db --test io_errors -- --nocapture`.

use std::collections::BTreeMap;

use kv_db::{Db, Options};
use kv_file::{Crash, FaultOp, MemStorage};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One transaction of the workload: puts (`Some`) and deletes (`None`).
type Step = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn options() -> Options {
    Options {
        block_size: Some(512), // small pages: splits, several levels, more I/O per commit
        ..Options::default()
    }
}

/// A fixed workload: 16 transactions (or `KV_IO_ERROR_TXNS`) over 40 keys, values of
/// varied sizes, some deletes, with a checkpoint before the ninth.
fn workload() -> Vec<Step> {
    let txns: u32 = std::env::var("KV_IO_ERROR_TXNS").map_or(16, |n| n.parse().unwrap());
    (0..txns.max(9))
        .map(|t| {
            (0..6u32)
                .map(|i| {
                    let k = (t * 7 + i * 13) % 40;
                    let key = format!("key{k:02}").into_bytes();
                    if (t + i) % 5 == 4 {
                        (key, None)
                    } else {
                        let len = 8 + ((t * 31 + i * 17) % 90) as usize;
                        (key, Some(vec![b'a' + (t % 26) as u8; len]))
                    }
                })
                .collect()
        })
        .collect()
}

fn apply(model: &mut Model, step: &Step) {
    for (k, v) in step {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

fn run_step(db: &Db, step: &Step) -> kv_db::Result<()> {
    let mut tx = db.begin()?;
    for (k, v) in step {
        match v {
            Some(v) => tx.put(k, v)?,
            None => {
                tx.delete(k)?;
            }
        }
    }
    tx.commit()
}

/// What a run left behind.
struct Outcome {
    /// Acknowledged commits applied.
    acked: Model,
    /// The transaction whose commit reported an error, if any: it may or may not be durable.
    uncertain: Option<Step>,
}

/// Runs the workload until the first error; then checks a failed fsync poisoned the
/// database.
fn run(storage: &MemStorage, steps: &[Step]) -> Outcome {
    let mut acked = Model::new();
    let db = match Db::open_on(storage.clone(), options()) {
        Ok(db) => db,
        Err(_) => {
            return Outcome {
                acked,
                uncertain: None,
            }
        }
    };
    for (t, step) in steps.iter().enumerate() {
        let fired_before = storage.stats().faults_fired;
        let result = if t == 8 {
            db.checkpoint().and_then(|()| run_step(&db, step))
        } else {
            run_step(&db, step)
        };
        match result {
            Ok(()) => apply(&mut acked, step),
            Err(_) => {
                let failed_now = storage.stats().faults_fired > fired_before;
                assert!(failed_now, "an error with no injected fault");
                // Whether or not the fault hit an fsync, nothing more is asked of this
                // process if a later write succeeds — but it must never succeed after a
                // failed fsync: the loop's `Sync` mode checks that below.
                if std::env::var("KV_IO_ERROR_OPS").as_deref() == Ok("Sync") {
                    assert!(
                        run_step(&db, &vec![(b"after".to_vec(), Some(b"x".to_vec()))]).is_err(),
                        "a write was accepted after a failed fsync"
                    );
                }
                return Outcome {
                    acked,
                    uncertain: Some(step.clone()),
                };
            }
        }
    }
    Outcome {
        acked,
        uncertain: None,
    }
}

/// Everything in the default keyspace, read through a snapshot.
fn contents(db: &Db) -> Model {
    let mut r = db.begin_read().unwrap();
    r.range(..)
        .unwrap()
        .map(|e| e.unwrap())
        .collect::<BTreeMap<_, _>>()
}

fn fault_ops() -> Vec<FaultOp> {
    match std::env::var("KV_IO_ERROR_OPS").as_deref() {
        Ok("Sync") => vec![FaultOp::Sync],
        Ok("Write") => vec![FaultOp::Write],
        Ok("Read") => vec![FaultOp::Read],
        Ok("Any") => vec![FaultOp::Any],
        _ => vec![FaultOp::Any, FaultOp::Read],
    }
}

fn count(stats: kv_file::MemStorageStats, op: FaultOp) -> u64 {
    match op {
        FaultOp::Sync => stats.syncs,
        FaultOp::Write => stats.writes,
        FaultOp::Read => stats.reads,
        FaultOp::Any => stats.mutations,
    }
}

#[test]
fn every_io_operation_failing_once_or_for_good_keeps_the_acknowledged_commits() {
    let steps = workload();
    // A clean run first: how many operations the workload performs.
    let clean = MemStorage::new();
    let outcome = run(&clean, &steps);
    assert!(outcome.uncertain.is_none());
    for op in fault_ops() {
        check_every_fault(&steps, op, count(clean.stats(), op));
    }
}

fn check_every_fault(steps: &[Step], op: FaultOp, total: u64) {
    let mut injected = 0;
    for persistent in [false, true] {
        for k in 0..total {
            let storage = MemStorage::new();
            if persistent {
                storage.fail_from(op, k);
            } else {
                storage.fail_at(op, k);
            }
            let outcome = run(&storage, steps);
            injected += 1;
            storage.clear_faults();
            storage.crash(Crash::power_loss());
            let db = Db::open_on(storage.clone(), options()).unwrap_or_else(|e| {
                panic!("reopen after fault {k} (persistent {persistent}) failed: {e}")
            });
            let report = db.check().unwrap();
            assert!(
                report.is_ok(),
                "fault {k} (persistent {persistent}): {report:?}"
            );
            let found = contents(&db);
            let mut with = outcome.acked.clone();
            if let Some(step) = &outcome.uncertain {
                apply(&mut with, step);
            }
            assert!(
                found == outcome.acked || found == with,
                "fault {k} (persistent {persistent}): the data is neither the acknowledged \
                 commits nor those plus the failed one\nfound {found:?}\nacked {:?}",
                outcome.acked
            );
        }
    }
    println!("{op:?}: {total} operations, {injected} faults injected, every outcome checked");
    assert!(injected >= 2 * total);
}

/// The poisoning rule on its own, every fsync of the workload: after one fails, every
/// write is refused until the database is reopened.
#[test]
fn a_failed_fsync_poisons_the_database_until_reopened() {
    let steps = workload();
    let clean = MemStorage::new();
    run(&clean, &steps);
    let syncs = clean.stats().syncs;
    let mut checked = 0;
    for k in 0..syncs {
        let storage = MemStorage::new();
        storage.fail_at(FaultOp::Sync, k);
        let Ok(db) = Db::open_on(storage.clone(), options()) else {
            continue; // the fsync failed while opening: nothing was open to poison
        };
        let mut failed = false;
        for (t, step) in steps.iter().enumerate() {
            let result = if t == 8 {
                db.checkpoint().and_then(|()| run_step(&db, step))
            } else {
                run_step(&db, step)
            };
            if result.is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            continue; // that fsync belonged to opening, or came after the workload
        }
        // The fault was once only: the disk works again, yet the database must refuse.
        let after = run_step(&db, &vec![(b"after".to_vec(), Some(b"x".to_vec()))]);
        assert!(
            after.is_err(),
            "sync {k}: a write was accepted after a failed fsync"
        );
        checked += 1;
        drop(db);
        let db = Db::open_on(storage.clone(), options()).unwrap();
        assert!(
            run_step(&db, &vec![(b"after".to_vec(), Some(b"x".to_vec()))]).is_ok(),
            "sync {k}: reopening clears the poison"
        );
    }
    println!("{checked} failed fsyncs each poisoned the database until reopened");
    assert!(checked > 10);
}
