//! The locks, condition variables and atomics of the log, the buffer pool and the lock table,
//! named in one place so that `--cfg loom` can swap them for the model checker's.
//!
//! In every normal build this module is nothing but re-exports: parking_lot's `Mutex`,
//! `Condvar` and `RwLock` (see the workspace `Cargo.toml` for why parking_lot) and std's
//! atomics, exactly the types the code used before — no wrapper, no cost.
//!
//! Built with `RUSTFLAGS="--cfg loom"` (only for the models in `tests/loom.rs` of kv-log,
//! kv-buffer and kv-tx), the same names are loom's primitives behind parking_lot's API, so
//! loom can run a model under every interleaving of its threads. One departure: loom has no
//! clock, so under loom [`Condvar::wait_until`] waits like `wait` and never reports a
//! timeout. The models therefore use no deadline; timeouts stay the job of the normal tests.
//!
//! It lives in kv-log, the lowest crate with such code; kv-buffer and kv-tx use it from here
//! rather than each keeping a copy.

#[cfg(not(loom))]
pub use parking_lot::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
/// Atomic integers and flags: std's, or loom's under `cfg(loom)`.
#[cfg(not(loom))]
pub use std::sync::atomic;

#[cfg(loom)]
pub use self::model::*;

/// Marks a place that relies on `SeqCst` atomics forming one total order: a thread writes
/// one atomic then reads another while a second thread does the mirror image (the
/// store-buffering pattern), and at least one of the two must see the other's write. SeqCst
/// accesses guarantee that by themselves, so normally this is nothing at all. loom models
/// SeqCst accesses as only AcqRel (its documented limitation), which lets both reads see
/// old values and reports a lost wake-up that cannot happen; under loom this is therefore
/// the `SeqCst` fence that makes loom honour the total order the real accesses have.
#[inline(always)]
pub fn seq_cst_total_order() {
    #[cfg(loom)]
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

#[cfg(loom)]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    pub use loom::sync::atomic;
    pub use loom::sync::{RwLockReadGuard, RwLockWriteGuard};

    /// Runs `model` under loom — every interleaving of its threads, or those with at most
    /// `bound` preemptions — prints and returns how many interleavings that was: the one
    /// entry point of the models of kv-log, kv-buffer and kv-tx, so they report alike.
    pub fn check(
        name: &str,
        bound: Option<usize>,
        model: impl Fn() + Sync + Send + 'static,
    ) -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        use std::sync::Arc;
        let runs = Arc::new(AtomicUsize::new(0)); // not a static: models run side by side
        let counted = Arc::clone(&runs);
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = bound;
        let started = std::time::Instant::now();
        builder.check(move || {
            counted.fetch_add(1, Relaxed);
            model();
        });
        let runs = runs.load(Relaxed);
        let bound = bound.map_or("none".to_owned(), |b| b.to_string());
        println!(
            "{name}: {runs} interleavings (preemption bound {bound}) in {:.2?}",
            started.elapsed()
        );
        runs
    }

    const POISONED: &str = "a model thread panicked while holding a lock";

    /// loom's mutex with parking_lot's `lock` (no poisoning `Result`).
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        /// A mutex holding `value`.
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        /// Locks the mutex, waiting (in the model) while another thread holds it.
        #[track_caller]
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect(POISONED)))
        }
    }

    /// A held [`Mutex`]. The loom guard is an `Option` because loom's condition variable
    /// takes the guard by value, and parking_lot's (whose API the code uses) by `&mut`:
    /// [`Condvar::wait`] takes it out and puts it back.
    pub struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0
                .as_deref()
                .expect("a guard is only empty inside Condvar::wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_deref_mut()
                .expect("a guard is only empty inside Condvar::wait")
        }
    }

    /// loom's condition variable with parking_lot's API.
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    impl Condvar {
        /// A condition variable no one waits on.
        pub fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        /// Releases `guard`'s mutex, sleeps until notified, and locks it again.
        #[track_caller] // so that loom reports where the code waits, not this shim
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let held = guard.0.take().expect("a guard waits once at a time");
            guard.0 = Some(self.0.wait(held).expect(POISONED));
        }

        /// [`wait`](Self::wait), ignoring `deadline`: loom cannot model time, so a timed wait
        /// is an untimed one and never times out.
        #[track_caller]
        pub fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }

        /// Wakes one waiter, if any.
        #[track_caller]
        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        /// Wakes every waiter.
        #[track_caller]
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// Whether a [`Condvar::wait_until`] timed out: under loom, never.
    #[derive(Debug, Clone, Copy)]
    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        /// Whether the wait ended by its deadline rather than a notification.
        pub fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// loom's reader-writer lock with parking_lot's `read` and `write`.
    #[derive(Debug, Default)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        /// A lock holding `value`.
        pub fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }

        /// A shared latch: other readers may hold one too; writers wait.
        #[track_caller]
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().expect(POISONED)
        }

        /// An exclusive latch.
        #[track_caller]
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().expect(POISONED)
        }
    }
}
