//! `LockTable`: shared and exclusive locks held to the end of a transaction (strict 2PL),
//! with waiting on per-lock condition variables, and deadlocks handled by a policy:
//! detection on a waits-for graph (the default), wait-die, or a timeout.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::hash::Hash;
// Counters only, never synchronisation: std atomics even under loom (nothing to explore).
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_log::sync::{Condvar, Mutex};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::record::TxnId;

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    /// Many transactions may hold it at once, to read.
    Shared,
    /// One transaction holds it, to write; no one else holds it in any mode.
    Exclusive,
}

// ANCHOR: policy
/// What a request does about deadlocks when it must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeadlockPolicy {
    /// Search the waits-for graph before waiting; if waiting would close a cycle, the
    /// requester is the victim. Only real deadlocks abort anything.
    #[default]
    Detect,
    /// Wait-die (Rosenkrantz, Stearns & Lewis 1978): an older transaction (smaller number)
    /// may wait for younger ones; a younger one that would wait for an older one "dies" at
    /// once. Waits only go from old to young, so no cycle can form — but some victims were
    /// never deadlocked. A retry gets a new, younger number, so a transaction can lose
    /// repeatedly; the original wait-die keeps the first number across retries.
    WaitDie,
    /// No prevention or detection: a request that waits longer than this gives up with
    /// `Timeout`. Deadlocked transactions sit blocked until then; innocent slow waits time out
    /// too. The baseline the other two are measured against.
    Timeout(Duration),
}
// ANCHOR_END: policy

impl std::str::FromStr for DeadlockPolicy {
    type Err = String;

    /// `detect`, `wait-die`, or `timeout=<milliseconds>` (for configuration files and flags).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "detect" => Ok(Self::Detect),
            "wait-die" => Ok(Self::WaitDie),
            _ => s
                .strip_prefix("timeout=")
                .and_then(|ms| ms.parse().ok())
                .map(|ms| Self::Timeout(Duration::from_millis(ms)))
                .ok_or_else(|| {
                    format!("unknown deadlock policy {s:?}: detect, wait-die or timeout=<ms>")
                }),
        }
    }
}

/// Why a lock was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// Waiting would close a cycle of transactions waiting for each other; the requester is
    /// the victim. Roll back and retry.
    Deadlock,
    /// The lock was not granted within the table's timeout.
    Timeout,
}

/// Counters of the lock table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Requests that had to wait.
    pub waits: u64,
    /// Requests refused because they would deadlock.
    pub deadlocks: u64,
    /// Requests that waited past the timeout.
    pub timeouts: u64,
    /// Requests refused by wait-die (counted in `deadlocks` too).
    pub died: u64,
}

/// One waiting request, in arrival order.
#[derive(Debug, Clone)]
struct Waiter {
    txn: TxnId,
    mode: LockMode,
}

/// The holders and the queue of one lock.
#[derive(Debug)]
struct Entry {
    holders: HashMap<TxnId, LockMode>,
    queue: VecDeque<Waiter>,
    /// Where this lock's waiters sleep: a change to one lock wakes only its own waiters.
    /// Made by the first waiter: most locks are never waited for.
    changed: Option<Arc<Condvar>>,
}

impl Entry {
    fn new() -> Self {
        Self {
            holders: HashMap::default(),
            queue: VecDeque::new(),
            changed: None,
        }
    }

    /// Wakes this lock's waiters, if it has any.
    fn notify(&self) {
        if let Some(changed) = &self.changed {
            changed.notify_all();
        }
    }

    /// Everyone `txn`'s request for `mode` waits for: conflicting holders and earlier
    /// conflicting waiters.
    fn blockers(&self, txn: TxnId, mode: LockMode) -> impl Iterator<Item = TxnId> + '_ {
        self.conflicting_holders(txn, mode)
            .chain(self.conflicting_ahead(txn, mode))
    }

    /// Whether `txn` already holds the lock strongly enough.
    fn held(&self, txn: TxnId, mode: LockMode) -> bool {
        self.holders.get(&txn).is_some_and(|&held| held >= mode)
    }

    /// The other holders a request of `txn` for `mode` conflicts with.
    fn conflicting_holders(&self, txn: TxnId, mode: LockMode) -> impl Iterator<Item = TxnId> + '_ {
        self.holders
            .iter()
            .filter(move |(&h, &held)| h != txn && conflicts(mode, held))
            .map(|(&h, _)| h)
    }

    /// Earlier waiters a request of `txn` for `mode` must not overtake.
    fn conflicting_ahead(&self, txn: TxnId, mode: LockMode) -> impl Iterator<Item = TxnId> + '_ {
        self.queue
            .iter()
            .take_while(move |w| w.txn != txn)
            .filter(move |w| w.txn != txn && conflicts(mode, w.mode))
            .map(|w| w.txn)
    }

    fn grantable(&self, txn: TxnId, mode: LockMode) -> bool {
        self.conflicting_holders(txn, mode).next().is_none()
            && self.conflicting_ahead(txn, mode).next().is_none()
    }

    /// Grants queued requests from the front, in order, while they are compatible with the
    /// holders: done by whoever changes the lock (a release, a dequeue), so a request that
    /// has become grantable holds the lock before anyone else can act — in particular before
    /// an upgrade can jump in front of it, which would starve waiting readers.
    fn grant_waiters(&mut self) {
        while let Some(w) = self.queue.front() {
            if self.conflicting_holders(w.txn, w.mode).next().is_some() {
                break;
            }
            let w = self.queue.pop_front().expect("front exists");
            let held = self.holders.entry(w.txn).or_insert(w.mode);
            *held = (*held).max(w.mode);
        }
    }
}

fn conflicts(a: LockMode, b: LockMode) -> bool {
    a == LockMode::Exclusive || b == LockMode::Exclusive
}

// ANCHOR: lock_table
/// Locks on keys of any type `K` (block ids for pages; a higher layer may lock its own
/// resources). One mutex guards the table for the few instructions of a request; a waiting
/// thread sleeps on its lock's own condition variable, with the mutex released, and is woken
/// only when that lock's holders or queue change.
pub struct LockTable<K> {
    /// Every lock with a holder or a waiter.
    entries: Mutex<HashMap<K, Entry>>,
    /// How long a request may wait; `None` waits until granted or refused by the policy.
    timeout: Option<Duration>,
    /// Detection, wait-die, or timeouts alone.
    policy: DeadlockPolicy,
    /// Requests that waited (for `LockStats`).
    waits: AtomicU64,
    /// Requests refused as deadlocks (wait-die deaths included).
    deadlocks: AtomicU64,
    /// Requests that timed out.
    timeouts: AtomicU64,
    /// Requests refused by wait-die.
    died: AtomicU64,
    /// Called (with the table locked) each time a request goes to sleep: lets tests know a
    /// thread is waiting without sleeping or polling themselves.
    observer: Mutex<Option<WaitObserver>>,
}
// ANCHOR_END: lock_table

/// A callback told which transaction is about to wait.
type WaitObserver = Box<dyn Fn(TxnId) + Send + Sync>;

impl<K: Eq + Hash + Clone + Debug> LockTable<K> {
    /// An empty table that detects deadlocks and whose requests wait at most `timeout`
    /// (`None`: only a deadlock stops a wait).
    pub fn new(timeout: Option<Duration>) -> Self {
        Self::with_policy(timeout, DeadlockPolicy::Detect)
    }

    /// An empty table that handles deadlocks by `policy`.
    pub fn with_policy(timeout: Option<Duration>, policy: DeadlockPolicy) -> Self {
        let timeout = match policy {
            DeadlockPolicy::Timeout(t) => Some(timeout.map_or(t, |mine| mine.min(t))),
            _ => timeout,
        };
        Self {
            entries: Mutex::new(HashMap::default()),
            timeout,
            policy,
            waits: AtomicU64::new(0),
            deadlocks: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            died: AtomicU64::new(0),
            observer: Mutex::new(None),
        }
    }

    /// How this table handles deadlocks.
    pub fn policy(&self) -> DeadlockPolicy {
        self.policy
    }

    /// Calls `f` with the transaction each time a request is about to sleep (the table is
    /// locked meanwhile, so once `f` has run, the waiter is queued). For tests. `f` must not
    /// call back into the table (its mutex is held), and runs again each time a woken waiter
    /// goes back to sleep.
    pub fn set_wait_observer(&self, f: impl Fn(TxnId) + Send + Sync + 'static) {
        *self.observer.lock() = Some(Box::new(f));
    }

    // ANCHOR: acquire
    /// Grants `txn` the lock on `key` in `mode`, waiting while others hold it in a
    /// conflicting mode (or asked for it first). Asking for `Exclusive` while holding
    /// `Shared` is an upgrade; upgrades go to the front of the queue.
    ///
    /// Before waiting, the policy decides. `Detect` searches the waits-for graph for a cycle
    /// through `txn` — once, when the request first waits: a cycle can only be closed by a
    /// request that starts waiting, and that request finds it. If there is one, `txn` is
    /// the victim and gets [`LockError::Deadlock`] at once. `WaitDie` refuses the request
    /// (also `Deadlock`) whenever it would wait for an older transaction.
    pub fn acquire(&self, txn: TxnId, key: &K, mode: LockMode) -> Result<(), LockError> {
        let mut entries = self.entries.lock();
        let deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        let mut queued = false;
        let mut checked = false;
        loop {
            let entry = entries.entry(key.clone()).or_insert_with(Entry::new);
            if entry.held(txn, mode) {
                return Ok(());
            }
            if entry.grantable(txn, mode) {
                entry.queue.retain(|w| w.txn != txn);
                entry.holders.insert(txn, mode);
                entry.grant_waiters(); // compatible requests behind us go too
                entry.notify();
                return Ok(());
            }
            if !queued {
                let waiter = Waiter { txn, mode };
                if entry.holders.contains_key(&txn) {
                    entry.queue.push_front(waiter); // an upgrade
                    entry.notify(); // those behind now wait for us too
                } else {
                    entry.queue.push_back(waiter);
                }
                queued = true;
                self.waits.fetch_add(1, Relaxed);
                // Our place in the queue may have made us grantable (an upgrade pushed to the
                // front, ahead of the waiter that blocked us): look again before sleeping.
                continue;
            }
            // Wait-die looks at every wake-up: an upgrade may have queued ahead of us.
            let dies = self.policy == DeadlockPolicy::WaitDie
                && entry.blockers(txn, mode).any(|older| older < txn);
            let changed = Arc::clone(entry.changed.get_or_insert_with(Default::default));
            if dies {
                self.died.fetch_add(1, Relaxed);
            }
            let refused = dies
                || (self.policy == DeadlockPolicy::Detect
                    && !checked
                    && waits_for_cycle(&entries, txn));
            checked = true;
            if refused {
                self.deadlocks.fetch_add(1, Relaxed);
                self.dequeue(&mut entries, txn, key);
                return Err(LockError::Deadlock);
            }
            if let Some(observe) = &*self.observer.lock() {
                observe(txn);
            }
            let timed_out = match deadline {
                Some(deadline) => changed.wait_until(&mut entries, deadline).timed_out(),
                None => {
                    changed.wait(&mut entries);
                    false
                }
            };
            let still_waiting = entries
                .get(key)
                .is_some_and(|e| !e.held(txn, mode) && !e.grantable(txn, mode));
            if timed_out && still_waiting {
                self.timeouts.fetch_add(1, Relaxed);
                self.dequeue(&mut entries, txn, key);
                return Err(LockError::Timeout);
            }
        }
    }
    // ANCHOR_END: acquire

    /// Removes `txn`'s waiting request for `key`, waking the others (the queue changed).
    fn dequeue(&self, entries: &mut HashMap<K, Entry>, txn: TxnId, key: &K) {
        if let Some(entry) = entries.get_mut(key) {
            entry.queue.retain(|w| w.txn != txn);
            entry.grant_waiters();
            entry.notify();
            if entry.holders.is_empty() && entry.queue.is_empty() {
                entries.remove(key);
            }
        }
    }

    /// Releases every lock `txn` holds on `keys` (strict 2PL: at commit or rollback).
    pub fn release_all<'k>(&self, txn: TxnId, keys: impl IntoIterator<Item = &'k K>)
    where
        K: 'k,
    {
        let mut entries = self.entries.lock();
        for key in keys {
            if let Some(entry) = entries.get_mut(key) {
                entry.holders.remove(&txn);
                entry.grant_waiters();
                entry.notify();
                if entry.holders.is_empty() && entry.queue.is_empty() {
                    entries.remove(key);
                }
            }
        }
    }

    /// The mode `txn` holds `key` in, if any.
    pub fn held(&self, txn: TxnId, key: &K) -> Option<LockMode> {
        self.entries.lock().get(key)?.holders.get(&txn).copied()
    }

    /// The counters so far.
    pub fn stats(&self) -> LockStats {
        LockStats {
            waits: self.waits.load(Relaxed),
            deadlocks: self.deadlocks.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            died: self.died.load(Relaxed),
        }
    }

    /// The holders and queue of every lock, for diagnosing a stuck wait.
    pub fn describe(&self) -> String {
        let entries = self.entries.lock();
        let mut out: Vec<String> = entries
            .iter()
            .map(|(k, e)| format!("{k:?}: holders {:?}, queue {:?}", e.holders, e.queue))
            .collect();
        out.sort();
        out.join("\n")
    }

    /// Locks with a holder or a waiter (for tests and stats).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether no lock is held or awaited.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ANCHOR: deadlock
/// Whether the waits-for graph has a cycle through `start`. A waiter waits for every holder
/// it conflicts with and every earlier waiter it may not overtake.
fn waits_for_cycle<K>(entries: &HashMap<K, Entry>, start: TxnId) -> bool {
    let mut edges: HashMap<TxnId, Vec<TxnId>> = HashMap::default();
    for entry in entries.values() {
        for w in &entry.queue {
            let targets = edges.entry(w.txn).or_default();
            targets.extend(entry.conflicting_holders(w.txn, w.mode));
            targets.extend(entry.conflicting_ahead(w.txn, w.mode));
        }
    }
    let mut seen = HashSet::default();
    let mut stack = edges.get(&start).cloned().unwrap_or_default();
    while let Some(t) = stack.pop() {
        if t == start {
            return true;
        }
        if seen.insert(t) {
            stack.extend(edges.get(&t).into_iter().flatten().copied());
        }
    }
    false
}
// ANCHOR_END: deadlock

impl<K> Debug for LockTable<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockTable")
            .field("locks", &self.entries.lock().len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};
    use LockMode::*;

    fn table() -> Arc<LockTable<&'static str>> {
        Arc::new(LockTable::new(Some(Duration::from_millis(30))))
    }

    #[test]
    fn compatibility_matrix() {
        for (first, second, compatible) in [
            (Shared, Shared, true),
            (Shared, Exclusive, false),
            (Exclusive, Shared, false),
            (Exclusive, Exclusive, false),
        ] {
            let t = table();
            t.acquire(1, &"x", first).unwrap();
            let got = t.acquire(2, &"x", second);
            assert_eq!(got.is_ok(), compatible, "{first:?} then {second:?}");
            if !compatible {
                assert_eq!(got, Err(LockError::Timeout));
            }
        }
    }

    #[test]
    fn a_holder_upgrades_and_reacquiring_is_free() {
        let t = table();
        t.acquire(1, &"x", Shared).unwrap();
        t.acquire(1, &"x", Shared).unwrap();
        t.acquire(1, &"x", Exclusive).unwrap();
        assert_eq!(t.held(1, &"x"), Some(Exclusive));
        t.acquire(1, &"x", Shared).unwrap(); // X covers S
        assert_eq!(t.acquire(2, &"x", Shared), Err(LockError::Timeout));
        t.release_all(1, [&"x"]);
        t.acquire(2, &"x", Shared).unwrap();
        assert_eq!(t.stats().timeouts, 1);
    }

    #[test]
    fn an_upgrade_waits_for_other_readers_then_wins() {
        let t = Arc::new(LockTable::new(None));
        t.acquire(1, &"x", Shared).unwrap();
        t.acquire(2, &"x", Shared).unwrap();
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                tx.send(()).unwrap();
                t.acquire(1, &"x", Exclusive)
            })
        };
        rx.recv().unwrap();
        t.release_all(2, [&"x"]);
        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_eq!(t.held(1, &"x"), Some(Exclusive));
    }

    #[test]
    fn two_readers_upgrading_deadlock_and_one_is_told_at_once() {
        let t = Arc::new(LockTable::new(None));
        t.acquire(1, &"x", Shared).unwrap();
        t.acquire(2, &"x", Shared).unwrap();
        let (tx, rx) = mpsc::channel();
        let first = {
            let (t, tx) = (Arc::clone(&t), tx.clone());
            std::thread::spawn(move || {
                let r = t.acquire(1, &"x", Exclusive);
                tx.send(1).unwrap();
                r
            })
        };
        let second = {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let r = t.acquire(2, &"x", Exclusive);
                tx.send(2).unwrap();
                r
            })
        };
        // Whoever closes the cycle is refused; then it releases, and the other proceeds.
        let victim = rx.recv().unwrap();
        t.release_all(victim, [&"x"]);
        let results = [first.join().unwrap(), second.join().unwrap()];
        assert!(results.contains(&Err(LockError::Deadlock)), "{results:?}");
        assert!(results.contains(&Ok(())), "{results:?}");
        assert_eq!(t.stats().deadlocks, 1);
    }

    #[test]
    fn a_three_way_cycle_is_found_and_only_its_closer_is_the_victim() {
        let t = Arc::new(LockTable::new(None));
        let start = std::sync::Barrier::new(3);
        let outcomes: Vec<Result<(), LockError>> = std::thread::scope(|s| {
            let handles: Vec<_> = [(1u64, "a", "b"), (2, "b", "c"), (3, "c", "a")]
                .into_iter()
                .map(|(txn, mine, next)| {
                    let (t, start) = (&t, &start);
                    s.spawn(move || {
                        t.acquire(txn, &mine, Exclusive).unwrap();
                        start.wait();
                        let got = t.acquire(txn, &next, Exclusive);
                        t.release_all(txn, [&mine, &next]);
                        got
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let victims = outcomes
            .iter()
            .filter(|r| **r == Err(LockError::Deadlock))
            .count();
        assert_eq!(victims, 1, "{outcomes:?}");
        assert!(t.is_empty());
    }

    #[test]
    fn wait_die_lets_the_old_wait_and_the_young_die() {
        let t = Arc::new(LockTable::with_policy(None, DeadlockPolicy::WaitDie));
        t.acquire(5, &"x", Exclusive).unwrap();
        // 9 is younger than the holder 5: it dies at once, though nothing is deadlocked.
        assert_eq!(t.acquire(9, &"x", Shared), Err(LockError::Deadlock));
        assert_eq!(t.stats().died, 1);
        // 2 is older: it waits, and gets the lock when 5 releases.
        let (tx, rx) = mpsc::channel();
        t.set_wait_observer(move |txn| tx.send(txn).unwrap());
        std::thread::scope(|s| {
            let old = s.spawn(|| t.acquire(2, &"x", Shared));
            assert_eq!(rx.recv().unwrap(), 2);
            t.release_all(5, [&"x"]);
            assert_eq!(old.join().unwrap(), Ok(()));
        });
    }

    #[test]
    fn under_the_timeout_policy_a_deadlock_waits_out_the_timeout() {
        let policy = DeadlockPolicy::Timeout(Duration::from_millis(20));
        let t = LockTable::with_policy(None, policy);
        t.acquire(1, &"x", Shared).unwrap();
        t.acquire(2, &"x", Shared).unwrap();
        std::thread::scope(|s| {
            let first = s.spawn(|| t.acquire(1, &"x", Exclusive));
            let second = t.acquire(2, &"x", Exclusive);
            t.release_all(2, [&"x"]);
            let first = first.join().unwrap();
            // At least one gave up by timing out; nobody was told "deadlock".
            assert!(second == Err(LockError::Timeout) || first == Err(LockError::Timeout));
        });
        assert_eq!(t.stats().deadlocks, 0);
        assert!(t.stats().timeouts >= 1);
    }

    #[test]
    fn policies_parse_from_configuration_strings() {
        assert_eq!("detect".parse(), Ok(DeadlockPolicy::Detect));
        assert_eq!("wait-die".parse(), Ok(DeadlockPolicy::WaitDie));
        assert_eq!(
            "timeout=250".parse(),
            Ok(DeadlockPolicy::Timeout(Duration::from_millis(250)))
        );
        let err = "wound-wait".parse::<DeadlockPolicy>().unwrap_err();
        assert!(err.contains("unknown deadlock policy"), "{err}");
    }

    #[test]
    fn a_waiting_writer_is_not_overtaken_by_later_readers() {
        let t = Arc::new(LockTable::new(None));
        let (queued_tx, queued) = mpsc::channel();
        t.set_wait_observer(move |txn| queued_tx.send(txn).unwrap());
        t.acquire(1, &"x", Shared).unwrap();
        let (order_tx, order) = mpsc::channel();
        std::thread::scope(|s| {
            for (txn, mode) in [(2u64, Exclusive), (3, Shared)] {
                let (t, order_tx) = (&t, order_tx.clone());
                s.spawn(move || {
                    t.acquire(txn, &"x", mode).unwrap();
                    order_tx.send(txn).unwrap();
                    t.release_all(txn, [&"x"]);
                });
                // (A waiter woken by a change in the queue reports again as it sleeps again.)
                while queued.recv().unwrap() != txn {}
            }
            // 3 only asks for Shared, compatible with 1's lock, yet waits behind 2.
            t.release_all(1, [&"x"]);
        });
        let got: Vec<u64> = order.try_iter().collect();
        assert_eq!(got, [2, 3]);
    }
}

#[cfg(test)]
mod stress {
    use super::*;
    use LockMode::*;

    /// The bank pattern on the bare table: read two keys, upgrade both (or write one blind),
    /// release all; victims of deadlocks release and retry.
    #[test]
    fn many_threads_upgrading_never_hang() {
        let t: LockTable<u64> = LockTable::new(Some(Duration::from_secs(5)));
        let next_txn = AtomicU64::new(1);
        std::thread::scope(|s| {
            for seed in 0..4u64 {
                let (t, next_txn) = (&t, &next_txn);
                s.spawn(move || {
                    for i in 0..80u64 {
                        let (a, b) = ((seed * 7 + i * 3) % 4, (seed * 5 + i * 11 + 1) % 4);
                        loop {
                            let txn = next_txn.fetch_add(1, Relaxed);
                            // Readers that upgrade, and blind writers among them.
                            let steps: Vec<(u64, LockMode)> = if seed % 2 == 0 {
                                vec![(a, Shared), (b, Shared), (a, Exclusive), (b, Exclusive)]
                            } else {
                                vec![(a, Exclusive), (b, Shared), (b, Exclusive)]
                            };
                            let got = steps.iter().try_for_each(|(k, m)| t.acquire(txn, k, *m));
                            if got == Err(LockError::Timeout) {
                                panic!("hang of {txn} ({a}, {b}):\n{}", t.describe());
                            }
                            t.release_all(txn, [&a, &b]);
                            if got.is_ok() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        assert!(t.is_empty());
    }
}
