//! loom models of the lock table: threads taking conflicting locks, run under every
//! interleaving loom can reach (see `kv_log::sync::check`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p kv-tx --test loom`; without
//! `--cfg loom` this file is empty. Under loom the table's mutex and per-lock condition
//! variables are loom's (`kv_log::sync`), so loom chooses who runs at every lock, wait and
//! notify. The tables have no timeout: loom cannot model time (a timed wait is an untimed
//! one under loom), so `DeadlockPolicy::Timeout` is left to the normal tests.
//!
//! The invariants, checked in every interleaving:
//! - mutual exclusion: an [`Occupancy`] (a loom atomic, so entering and leaving are
//!   themselves points where loom may switch threads) never sees a writer beside anyone;
//! - no lost wake-up: every request ends, granted or refused as the policy documents; a
//!   waiter no release wakes is blocked forever, which loom reports as a deadlock;
//! - the policy's promise: one victim per deadlock under `Detect`, only the younger dies
//!   under `WaitDie`; and every lock is gone from the table at the end.
#![cfg(loom)]

use std::sync::Arc;

use kv_log::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use kv_log::sync::check;
use kv_tx::{DeadlockPolicy, LockError, LockMode, LockTable};
use LockMode::{Exclusive, Shared};

type Table = LockTable<&'static str>;

/// A writer, in [`Occupancy`]'s count; readers count one each.
const WRITER: usize = 1 << 16;

/// Who is using one key now, by what the lock table granted: readers and writers.
#[derive(Default)]
struct Occupancy(AtomicUsize);

impl Occupancy {
    fn enter(&self, mode: LockMode) {
        match mode {
            Shared => {
                let before = self.0.fetch_add(1, SeqCst);
                assert_eq!(before & WRITER, 0, "a reader was granted beside a writer");
            }
            Exclusive => {
                let before = self.0.fetch_add(WRITER, SeqCst);
                assert_eq!(before, 0, "a writer was granted beside {before:#x}");
            }
        }
    }

    fn leave(&self, mode: LockMode) {
        self.0
            .fetch_sub(if mode == Exclusive { WRITER } else { 1 }, SeqCst);
    }

    /// Enters and leaves: a use of the key as brief as can be, still two points where
    /// loom may let another thread in.
    fn visit(&self, mode: LockMode) {
        self.enter(mode);
        self.leave(mode);
    }
}

/// Transaction `txn` locks `key` in `mode`, uses it, and releases (strict 2PL: at its end).
fn use_once(t: &Table, used: &Occupancy, txn: u64, key: &'static str, mode: LockMode) {
    t.acquire(txn, &key, mode).unwrap();
    used.visit(mode);
    t.release_all(txn, [&key]);
}

/// Writes "x" once, if the policy lets it; a refused request gives up (rolls back).
fn write_once(t: &Table, used: &Occupancy, txn: u64) -> Result<(), LockError> {
    let got = t.acquire(txn, &"x", Exclusive);
    if got.is_ok() {
        used.visit(Exclusive);
    }
    t.release_all(txn, [&"x"]);
    got
}

/// Two writers and a reader on one key, no timeout. With one key and no upgrades there is
/// no cycle, so every request must be granted. Explores: the grant on release
/// (`grant_waiters` run by the releaser), a reader queued behind a waiting writer (not
/// overtaking it), and wake-ups racing with a waiter going to sleep (the waiter sleeps on
/// its lock's condition variable with the table mutex released atomically).
#[test]
fn conflicting_locks_exclude_each_other_and_every_waiter_is_woken() {
    check("lock table: two writers and a reader", None, || {
        let t = Arc::new(Table::new(None));
        let used = Arc::new(Occupancy::default());
        let others: Vec<_> = [(2, Exclusive), (3, Shared)]
            .into_iter()
            .map(|(txn, mode)| {
                let (t, used) = (Arc::clone(&t), Arc::clone(&used));
                loom::thread::spawn(move || use_once(&t, &used, txn, "x", mode))
            })
            .collect();
        use_once(&t, &used, 1, "x", Exclusive);
        for other in others {
            other.join().unwrap();
        }
        assert!(t.is_empty(), "{}", t.describe());
    });
}

/// Reads "x", then upgrades to a write; a refused request gives up (rolls back).
fn read_then_write(t: &Table, used: &Occupancy, txn: u64) -> Result<(), LockError> {
    if let Err(e) = t.acquire(txn, &"x", Shared) {
        t.release_all(txn, [&"x"]);
        return Err(e);
    }
    used.enter(Shared);
    let upgraded = t.acquire(txn, &"x", Exclusive);
    used.leave(Shared);
    if upgraded.is_ok() {
        used.visit(Exclusive);
    }
    t.release_all(txn, [&"x"]);
    upgraded
}

/// Two readers that both upgrade: the classic conversion deadlock, when both hold `Shared`
/// before either upgrades. Under `Detect`, whoever closes the cycle is refused at once and
/// rolls back, which must wake the other; in interleavings where one finishes before the
/// other reads, both succeed. Never two victims, never a writer beside a reader.
#[test]
fn an_upgrade_deadlock_is_broken_by_one_victim() {
    check("lock table: two upgrading readers", None, || {
        let t = Arc::new(Table::new(None));
        let used = Arc::new(Occupancy::default());
        let other = {
            let (t, used) = (Arc::clone(&t), Arc::clone(&used));
            loom::thread::spawn(move || read_then_write(&t, &used, 2))
        };
        let results = [read_then_write(&t, &used, 1), other.join().unwrap()];
        let victims = results.iter().filter(|r| r.is_err()).count();
        assert!(victims <= 1, "{results:?}");
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(LockError::Deadlock))));
        assert_eq!(t.stats().deadlocks, victims as u64);
        assert!(t.is_empty(), "{}", t.describe());
    });
}

/// Three transactions locking two keys each in a ring — 1: a then b, 2: b then c, 3: c then
/// a — so a three-way cycle forms when all three hold their first key. The waits-for
/// search runs once per request, when it first waits: the request that closes the cycle
/// must find it (or someone would wait forever, which loom reports). At most one victim.
#[test]
fn a_three_way_cycle_is_broken_by_one_victim() {
    check("lock table: three-way cycle", None, || {
        let t = Arc::new(Table::new(None));
        let ring = [(1u64, "a", "b"), (2, "b", "c"), (3, "c", "a")];
        let run = |t: &Table, (txn, first, second): (u64, &'static str, &'static str)| {
            t.acquire(txn, &first, Exclusive).unwrap();
            let got = t.acquire(txn, &second, Exclusive);
            t.release_all(txn, [&first, &second]);
            got
        };
        let others: Vec<_> = ring[1..]
            .iter()
            .map(|&step| {
                let t = Arc::clone(&t);
                loom::thread::spawn(move || run(&t, step))
            })
            .collect();
        let mut results = vec![run(&t, ring[0])];
        results.extend(others.into_iter().map(|o| o.join().unwrap()));
        let victims = results.iter().filter(|r| r.is_err()).count();
        assert!(victims <= 1, "{results:?}");
        assert!(t.is_empty(), "{}", t.describe());
    });
}

/// Wait-die on one key: transactions 1 (oldest) and 2 read then upgrade, 3 (youngest)
/// writes. An older one may wait for younger ones and must then be woken by their release
/// or death; a younger one dies whenever it would wait for an older one — also on a later
/// wake-up, if an upgrade queued ahead of it meanwhile. So 1 is never refused, and every
/// request ends, granted or dead. At most 4 preemptions: three threads with upgrades are
/// about half a million interleavings unbounded (all pass, in about a minute: too slow for
/// every CI run).
#[test]
fn under_wait_die_the_oldest_is_never_refused() {
    check("lock table: wait-die", Some(4), || {
        let t = Arc::new(Table::with_policy(None, DeadlockPolicy::WaitDie));
        let used = Arc::new(Occupancy::default());
        let younger: Vec<_> = [2, 3]
            .into_iter()
            .map(|txn| {
                let (t, used) = (Arc::clone(&t), Arc::clone(&used));
                loom::thread::spawn(move || match txn {
                    2 => read_then_write(&t, &used, txn),
                    _ => write_once(&t, &used, txn),
                })
            })
            .collect();
        assert_eq!(read_then_write(&t, &used, 1), Ok(()));
        let died = younger
            .into_iter()
            .map(|y| y.join().unwrap())
            .inspect(|got| assert!(matches!(got, Ok(()) | Err(LockError::Deadlock)), "{got:?}"))
            .filter(Result::is_err)
            .count();
        assert_eq!(t.stats().died, died as u64);
        assert!(t.is_empty(), "{}", t.describe());
    });
}
