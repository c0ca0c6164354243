//! `BufferPool`: frames, the page table, pinning, eviction and write-back.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_file::{BlockId, FileManager, Page};
use kv_log::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use kv_log::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use kv_log::{LogManager, Lsn};
use rustc_hash::FxHashMap;

use crate::policy::{PolicyKind, ReplacementPolicy};
use crate::{Error, Result};

/// How big the pool is and how it behaves when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferOptions {
    /// Frames in the pool: how many blocks it caches at once.
    pub frames: usize,
    /// Which replacement policy chooses victims.
    pub policy: PolicyKind,
    /// How long `pin` waits for a frame to be unpinned before giving up with
    /// [`Error::BufferExhausted`].
    pub pin_timeout: Duration,
}

impl Default for BufferOptions {
    fn default() -> Self {
        Self {
            frames: 1024,
            policy: PolicyKind::Clock,
            pin_timeout: Duration::from_secs(5),
        }
    }
}

/// A snapshot of the pool's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// Pins served from a frame (including waits for a load another thread started).
    pub hits: u64,
    /// Pins that loaded their block from disk.
    pub misses: u64,
    /// Blocks dropped from a frame to make room for another.
    pub evictions: u64,
    /// Dirty pages written to disk (by eviction or flush).
    pub write_backs: u64,
    /// Pins that had to wait for a frame to be unpinned.
    pub waits: u64,
    /// Pins that gave up with `BufferExhausted`.
    pub timeouts: u64,
}

impl BufferStats {
    /// Hits over all pins, 0 when nothing was pinned.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

// ANCHOR: frame
/// One frame: a page-sized buffer and what the pool must know about its contents.
///
/// The page sits behind a reader-writer latch held only while bytes are copied in or out.
/// The rest are atomics so that unpinning and dirty-tracking need no pool-wide lock.
struct Frame {
    /// The page, behind its latch.
    page: RwLock<Page>,
    /// Guards pinning this frame; only 0 makes it a candidate for eviction.
    pins: AtomicU32,
    /// Changed since it was read or last written back.
    dirty: AtomicBool,
    /// Bumped by every write latch, so a write-back can tell whether the page changed while
    /// its copy was being written.
    version: AtomicU64,
    /// LSN of the newest log record describing a change to the page (0: none): the log must
    /// be durable up to here before the page may be written (the WAL rule).
    lsn: AtomicU64,
    /// The transaction that last changed the page (0: none), for `flush_for`.
    txn: AtomicU64,
    /// Held while the page is written back, so two write-backs of one frame (an eviction and
    /// a flush) cannot land in the wrong order and leave an older copy on disk.
    writing: Mutex<()>,
}
// ANCHOR_END: frame

/// What the page-table lock protects. It is never held across I/O.
struct Table {
    /// Which frame holds which block.
    map: FxHashMap<BlockId, usize>,
    /// Per frame: the block it holds (or is loading), and whether the load is still running.
    slots: Vec<Slot>,
    /// Frames holding no block; used before evicting anything.
    free: Vec<usize>,
    policy: Box<dyn ReplacementPolicy>,
    /// Counters updated under the lock anyway, kept here to avoid shared atomics on hits.
    hits: u64,
    misses: u64,
    evictions: u64,
    waits: u64,
    timeouts: u64,
}

#[derive(Default, Clone)]
struct Slot {
    block: Option<BlockId>,
    loading: bool,
}

/// A fixed set of frames caching blocks of one directory, between the file manager and the
/// layers that read and change pages.
pub struct BufferPool {
    /// Where blocks are read from and written to.
    fm: Arc<FileManager>,
    /// Flushed up to a page's LSN before the page is written (the WAL rule).
    log: Arc<LogManager>,
    /// The frames; their number never changes.
    frames: Box<[Frame]>,
    /// The page table, free list and policy.
    table: Mutex<Table>,
    /// Woken when a frame's pin count drops to zero, for pins waiting for a frame.
    unpinned: Condvar,
    /// Woken when a load finishes (or fails), for pins of a block another thread is loading.
    loaded: Condvar,
    /// Pins currently waiting on `unpinned`, so an unpin knows whether to wake anyone.
    waiting: AtomicUsize,
    /// How long a pin waits for a frame.
    pin_timeout: Duration,
    /// Dirty pages written back (counted outside the table lock).
    write_backs: AtomicU64,
    /// Files with write-backs not yet synced (evictions write without syncing); a flush
    /// syncs them all, so a checkpoint never relies on an unsynced eviction.
    unsynced: Mutex<BTreeSet<String>>,
}

impl BufferPool {
    /// A pool of `options.frames` frames (at least one) over `fm`, honouring the WAL rule
    /// against `log`.
    pub fn new(fm: Arc<FileManager>, log: Arc<LogManager>, options: BufferOptions) -> Self {
        let kind = options.policy;
        Self::with_policy(fm, log, options, |frames| kind.build(frames))
    }

    /// A pool with a replacement policy of your own (`options.policy` is ignored), made by
    /// `make(frames)`; it must pass [`conformance::check`](crate::conformance::check).
    pub fn with_policy(
        fm: Arc<FileManager>,
        log: Arc<LogManager>,
        options: BufferOptions,
        make: impl FnOnce(usize) -> Box<dyn ReplacementPolicy>,
    ) -> Self {
        let policy = make(options.frames.max(1));
        let frames: Box<[Frame]> = (0..options.frames.max(1))
            .map(|_| Frame {
                page: RwLock::new(fm.new_page()),
                pins: AtomicU32::new(0),
                dirty: AtomicBool::new(false),
                version: AtomicU64::new(0),
                lsn: AtomicU64::new(0),
                txn: AtomicU64::new(0),
                writing: Mutex::new(()),
            })
            .collect();
        let n = frames.len();
        let table = Table {
            map: FxHashMap::default(),
            slots: vec![Slot::default(); n],
            free: (0..n).rev().collect(),
            policy,
            hits: 0,
            misses: 0,
            evictions: 0,
            waits: 0,
            timeouts: 0,
        };
        Self {
            fm,
            log,
            frames,
            table: Mutex::new(table),
            unpinned: Condvar::new(),
            loaded: Condvar::new(),
            waiting: AtomicUsize::new(0),
            pin_timeout: options.pin_timeout,
            write_backs: AtomicU64::new(0),
            unsynced: Mutex::new(BTreeSet::new()),
        }
    }

    // ANCHOR: pin
    /// Pins `block` in a frame, loading it if needed, and returns a guard that unpins on drop.
    ///
    /// A hit takes the page-table lock once, briefly. A miss picks a victim (a free frame
    /// first), writes it back if dirty, and reads the block — all with the lock released, so
    /// hits on other pages go on meanwhile; a second pin of the same block waits for that one
    /// load instead of starting another. If every frame is pinned, `pin` waits up to the
    /// pool's timeout for an unpin, then fails with [`Error::BufferExhausted`].
    pub fn pin(&self, block: &BlockId) -> Result<PageGuard<'_>> {
        let mut t = self.table.lock();
        let mut checked = false; // whether the block is known to exist
        let mut deadline = None;
        let mut failed = Vec::new(); // frames whose write-back failed during this pin
        loop {
            if let Some(&f) = t.map.get(block) {
                if t.slots[f].loading {
                    self.loaded.wait(&mut t);
                    continue;
                }
                self.frames[f].pins.fetch_add(1, SeqCst);
                t.policy.on_access(f);
                t.hits += 1;
                return Ok(PageGuard::new(self, f));
            }
            if !checked {
                // Before evicting anything for it, make sure the block exists (this may open
                // the file: I/O, so the table lock is released; then look again).
                drop(t);
                let length = self.fm.length(block.file())?;
                if block.number() >= length {
                    return Err(kv_file::Error::BlockOutOfRange {
                        block: block.clone(),
                        length,
                    }
                    .into());
                }
                checked = true;
                t = self.table.lock();
                continue;
            }
            let Some(f) = self.choose_frame(&mut t, &failed) else {
                if let Some((_, e)) = failed.pop() {
                    return Err(e); // no other frame to use: report why the dirty one failed
                }
                let deadline = *deadline.get_or_insert_with(|| {
                    t.waits += 1;
                    Instant::now().checked_add(self.pin_timeout)
                });
                if self.wait_for_unpin(&mut t, deadline) {
                    continue;
                }
                t.timeouts += 1;
                return Err(Error::BufferExhausted {
                    frames: self.frames.len(),
                    waited: self.pin_timeout,
                });
            };
            // `f` is ours (pinned once, by us). A dirty page is written back first, with the
            // old block still mapped so that other threads can keep using it meanwhile.
            if self.frames[f].dirty.load(SeqCst) {
                let old = t.slots[f]
                    .block
                    .clone()
                    .expect("a dirty frame holds a block");
                drop(t);
                let written = self.write_back(f, &old);
                t = self.table.lock();
                if let Err(e) = written {
                    // Keep the page (still dirty, still cached) and try another frame.
                    self.unpin_locked(f);
                    failed.push((f, e));
                    continue;
                }
                // While the lock was released, someone may have used the frame again, or
                // begun loading `block` into another frame: then choose again.
                let reused =
                    self.frames[f].pins.load(SeqCst) != 1 || self.frames[f].dirty.load(SeqCst);
                if reused || t.map.contains_key(block) {
                    self.unpin_locked(f);
                    continue;
                }
            }
            return self.load(t, f, block);
        }
    }
    // ANCHOR_END: pin

    /// A frame for a new block: a free one, else the policy's victim (pinned once for us).
    /// Frames in `skip` (their write-back just failed) are not chosen.
    fn choose_frame(&self, t: &mut Table, skip: &[(usize, Error)]) -> Option<usize> {
        let f = match t.free.pop() {
            Some(f) => f,
            None => {
                let (slots, frames) = (&t.slots, &self.frames);
                let evictable = |f: usize| {
                    slots
                        .get(f)
                        .is_some_and(|s| !s.loading && s.block.is_some())
                        && frames[f].pins.load(SeqCst) == 0
                        && !skip.iter().any(|(g, _)| *g == f)
                };
                // A policy that names a frame the pool does not have is ignored, not trusted.
                t.policy.victim(&evictable).filter(|&f| evictable(f))?
            }
        };
        self.frames[f].pins.store(1, SeqCst);
        Some(f)
    }

    /// Waits until a frame may have been unpinned (true) or the deadline passed (false).
    /// `deadline: None` (a timeout too large to represent) waits without one.
    fn wait_for_unpin(&self, t: &mut MutexGuard<'_, Table>, deadline: Option<Instant>) -> bool {
        // Announce the wait *before* looking once more: an unpin that happens after the
        // look then sees `waiting > 0` and wakes us, so no wake-up can fall between the two.
        self.waiting.fetch_add(1, SeqCst);
        kv_log::sync::seq_cst_total_order(); // against `unpin`'s mirror image
        let frame_free = !t.free.is_empty() || self.frames.iter().any(|f| f.pins.load(SeqCst) == 0);
        if !frame_free {
            match deadline {
                Some(deadline) => {
                    self.unpinned.wait_until(t, deadline);
                }
                None => self.unpinned.wait(t),
            }
        }
        self.waiting.fetch_sub(1, SeqCst);
        deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Maps `block` to frame `f` and reads it, with the table lock released during the read.
    fn load(
        &self,
        mut t: MutexGuard<'_, Table>,
        f: usize,
        block: &BlockId,
    ) -> Result<PageGuard<'_>> {
        if let Some(old) = t.slots[f].block.take() {
            t.map.remove(&old);
            t.evictions += 1;
        }
        t.slots[f] = Slot {
            block: Some(block.clone()),
            loading: true,
        };
        t.map.insert(block.clone(), f);
        drop(t);

        let frame = &self.frames[f];
        let read = self.fm.read(block, &mut frame.page.write());
        frame.dirty.store(false, SeqCst);
        frame.lsn.store(0, SeqCst);
        frame.txn.store(0, SeqCst);

        let mut t = self.table.lock();
        t.slots[f].loading = false;
        self.loaded.notify_all();
        match read {
            Ok(()) => {
                t.policy.on_load(f);
                t.misses += 1;
                Ok(PageGuard::new(self, f))
            }
            Err(e) => {
                t.map.remove(block);
                t.slots[f].block = None;
                t.policy.on_free(f);
                t.free.push(f);
                self.unpin_locked(f);
                Err(e.into())
            }
        }
    }

    // ANCHOR: write_back
    /// Writes frame `f`'s page to `block`, after making the log durable up to the page's LSN.
    ///
    /// The page is copied under a read latch and written from the copy, so no latch is held
    /// during I/O. The frame is marked clean only if no writer latched it meanwhile. Two
    /// write-backs of one frame take turns (a per-frame mutex, never the page-table lock).
    fn write_back(&self, f: usize, block: &BlockId) -> Result<()> {
        let frame = &self.frames[f];
        let _one_at_a_time = frame.writing.lock();
        if !frame.dirty.load(SeqCst) {
            return Ok(()); // another write-back did it while we waited
        }
        let (mut copy, version, lsn) = {
            let page = frame.page.read();
            (
                page.clone(),
                frame.version.load(SeqCst),
                frame.lsn.load(SeqCst),
            )
        };
        if lsn > 0 {
            self.log.flush(Lsn(lsn))?; // the WAL rule
        }
        self.fm.write(block, &mut copy)?;
        let mut unsynced = self.unsynced.lock();
        if !unsynced.contains(block.file()) {
            unsynced.insert(block.file().to_owned());
        }
        drop(unsynced);
        let _still = frame.page.read(); // no writer may bump the version while we decide
        if frame.version.load(SeqCst) == version {
            frame.dirty.store(false, SeqCst);
        }
        self.write_backs.fetch_add(1, Relaxed);
        Ok(())
    }
    // ANCHOR_END: write_back

    /// Drops one pin of frame `f`, waking waiters if it became unpinned.
    fn unpin(&self, f: usize) {
        let before = self.frames[f].pins.fetch_sub(1, SeqCst);
        debug_assert!(before > 0, "unpin of an unpinned frame");
        kv_log::sync::seq_cst_total_order(); // against `wait_for_unpin`'s mirror image
        if before == 1 && self.waiting.load(SeqCst) > 0 {
            let _t = self.table.lock(); // so the waiter is inside its wait, not before it
            self.unpinned.notify_all();
        }
    }

    /// [`unpin`](Self::unpin) for callers that hold the table lock already.
    fn unpin_locked(&self, f: usize) {
        if self.frames[f].pins.fetch_sub(1, SeqCst) == 1 && self.waiting.load(SeqCst) > 0 {
            self.unpinned.notify_all();
        }
    }

    /// Writes every dirty page to disk and syncs every file the pool has written to since the
    /// last flush (evictions write without syncing); returns how many pages it wrote.
    ///
    /// Do not call it while holding a latch on a page of this pool: the write-back of that
    /// page needs a read latch, latches are not re-entrant, and a waiting writer blocks new
    /// readers.
    pub fn flush_all(&self) -> Result<usize> {
        self.flush_where(|_| true)
    }

    /// Writes the pages whose *latest* change was made by transaction `txn`, and syncs.
    ///
    /// A page changed by `txn` and then by another transaction is not written: the frame
    /// remembers only its last writer (exercise 4.2 tracks them all).
    pub fn flush_for(&self, txn: u64) -> Result<usize> {
        self.flush_where(|frame| frame.txn.load(SeqCst) == txn)
    }

    fn flush_where(&self, wanted: impl Fn(&Frame) -> bool) -> Result<usize> {
        let dirty: Vec<BlockId> = {
            let t = self.table.lock();
            (0..self.frames.len())
                .filter(|&f| self.frames[f].dirty.load(SeqCst) && wanted(&self.frames[f]))
                .filter_map(|f| t.slots[f].block.clone())
                .collect()
        };
        let mut written = 0;
        for block in &dirty {
            // Pin it if it is still cached, so it cannot be evicted while being written.
            let Some(guard) = self.pin_cached(block) else {
                continue; // evicted meanwhile: the eviction wrote it (synced just below)
            };
            if self.frames[guard.frame].dirty.load(SeqCst) {
                self.write_back(guard.frame, block)?;
                written += 1;
            }
        }
        // Sync every file with write-backs not yet synced: ours, and earlier evictions'.
        let files = std::mem::take(&mut *self.unsynced.lock());
        for (i, file) in files.iter().enumerate() {
            if let Err(e) = self.fm.sync(file) {
                self.unsynced.lock().extend(files.iter().skip(i).cloned());
                return Err(e.into());
            }
        }
        Ok(written)
    }

    /// Pins `block` only if it is cached and loaded; never reads the disk.
    fn pin_cached(&self, block: &BlockId) -> Option<PageGuard<'_>> {
        let t = self.table.lock();
        let f = *t.map.get(block)?;
        if t.slots[f].loading {
            return None;
        }
        self.frames[f].pins.fetch_add(1, SeqCst);
        Some(PageGuard::new(self, f))
    }

    // ANCHOR: discard
    /// Forgets every cached block of `file` numbered `from` or above — dirty or not, never
    /// writing it — so that the file can be cut there (or removed, with `from = 0`). Returns
    /// `false`, and forgets nothing, if any of those blocks is pinned or being loaded or
    /// written: someone is still using it, so the cut must wait.
    ///
    /// The caller promises that no one will pin those blocks again before the cut: they hold
    /// nothing anyone needs (compaction moved their pages down; the file was dropped).
    pub fn discard(&self, file: &str, from: u64) -> bool {
        let mut t = self.table.lock();
        let doomed: Vec<usize> = (0..self.frames.len())
            .filter(|&f| {
                t.slots[f]
                    .block
                    .as_ref()
                    .is_some_and(|b| b.file() == file && b.number() >= from)
            })
            .collect();
        let busy = |f: usize| t.slots[f].loading || self.frames[f].pins.load(SeqCst) > 0;
        if doomed.iter().any(|&f| busy(f)) {
            return false;
        }
        for f in doomed {
            if let Some(block) = t.slots[f].block.take() {
                t.map.remove(&block);
            }
            let frame = &self.frames[f];
            frame.dirty.store(false, SeqCst);
            frame.lsn.store(0, SeqCst);
            frame.txn.store(0, SeqCst);
            t.policy.on_free(f);
            t.free.push(f);
        }
        true
    }
    // ANCHOR_END: discard

    /// Frames not pinned by anyone (free or evictable).
    pub fn available(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.pins.load(SeqCst) == 0)
            .count()
    }

    /// The number of frames.
    pub fn capacity(&self) -> usize {
        self.frames.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> BufferStats {
        let t = self.table.lock();
        BufferStats {
            hits: t.hits,
            misses: t.misses,
            evictions: t.evictions,
            write_backs: self.write_backs.load(Relaxed),
            waits: t.waits,
            timeouts: t.timeouts,
        }
    }

    /// The name of the replacement policy in use.
    pub fn policy_name(&self) -> &'static str {
        self.table.lock().policy.name()
    }

    /// The file manager underneath.
    pub fn file_manager(&self) -> &Arc<FileManager> {
        &self.fm
    }

    /// The log the pool honours the WAL rule against.
    pub fn log(&self) -> &Arc<LogManager> {
        &self.log
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool")
            .field("frames", &self.frames.len())
            .field("available", &self.available())
            .field("stats", &self.stats())
            .finish()
    }
}

// ANCHOR: guard
/// A pinned page. While it lives, the block stays in its frame; dropping it unpins.
///
/// Reach the bytes through short latches: [`read`](Self::read) (shared, many at once) or
/// [`write`](Self::write) (exclusive; marks the page dirty).
pub struct PageGuard<'a> {
    /// The pool, to unpin on drop.
    pool: &'a BufferPool,
    /// Which frame is pinned.
    frame: usize,
}

impl<'a> PageGuard<'a> {
    fn new(pool: &'a BufferPool, frame: usize) -> Self {
        Self { pool, frame }
    }

    /// A shared latch on the page: other readers may hold one too; writers wait.
    pub fn read(&self) -> RwLockReadGuard<'_, Page> {
        self.pool.frames[self.frame].page.read()
    }

    /// An exclusive latch on the page. The page counts as changed from here on; record the
    /// log record that describes the change with [`PageWrite::set_modified`].
    pub fn write(&self) -> PageWrite<'_> {
        let frame = &self.pool.frames[self.frame];
        let page = frame.page.write();
        frame.version.fetch_add(1, SeqCst);
        frame.dirty.store(true, SeqCst);
        PageWrite { page, frame }
    }

    /// The block this guard pins.
    pub fn block(&self) -> BlockId {
        let t = self.pool.table.lock();
        t.slots[self.frame]
            .block
            .clone()
            .expect("a pinned frame holds a block")
    }

    /// The LSN of the newest change recorded with `set_modified` (`Lsn::ZERO` if none).
    pub fn lsn(&self) -> Lsn {
        Lsn(self.pool.frames[self.frame].lsn.load(SeqCst))
    }
}

impl std::fmt::Debug for PageGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageGuard(frame {})", self.frame)
    }
}

impl Drop for PageGuard<'_> {
    fn drop(&mut self) {
        self.pool.unpin(self.frame);
    }
}

/// An exclusive latch on a pinned page; dereferences to the [`Page`].
pub struct PageWrite<'a> {
    /// The latch.
    page: RwLockWriteGuard<'a, Page>,
    /// The frame, for recording the change.
    frame: &'a Frame,
}

impl PageWrite<'_> {
    /// Records that transaction `txn` changed the page and that log record `lsn` describes
    /// the change: the page will not be written to disk before the log is durable up to it.
    pub fn set_modified(&mut self, txn: u64, lsn: Lsn) {
        self.frame.txn.store(txn, SeqCst);
        self.frame.lsn.fetch_max(lsn.0, SeqCst);
    }
}
// ANCHOR_END: guard

impl std::ops::Deref for PageWrite<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.page
    }
}

impl std::ops::DerefMut for PageWrite<'_> {
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.page
    }
}
