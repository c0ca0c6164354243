//! `TxManager`: owns the stack below transactions, numbers them, checkpoints, recovers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use kv_buffer::{BufferOptions, BufferPool, PageWrite};
use kv_file::{BlockId, FileManager, FileOptions, FsStorage, Storage};
use kv_log::{LogManager, LogOptions, Lsn};
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashSet;

use crate::lock::{DeadlockPolicy, LockTable};
use crate::read::ReadTransaction;
use crate::record::{LogRecord, TxnId};
use crate::recovery::{self, RecoveryReport};
use crate::versions::{SnapshotStats, Versions};
use crate::{Error, Result, Transaction};

/// The name of the write-ahead log in the database directory.
pub const LOG_NAME: &str = "wal";
/// Bytes at the start of every page that hold its page LSN; transactions use the rest.
pub const PAGE_LSN_SIZE: usize = 8;

/// When `commit` returns, relative to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// After the commit record is durable: a crash cannot lose the transaction.
    #[default]
    Sync,
    /// Before the log is written at all: the commit record waits in the log's in-memory
    /// buffer until something flushes it (a `Sync` commit, a checkpoint, a full buffer, a
    /// page write-back). Much faster, but any crash — even of the process alone — can lose
    /// the last transactions that committed. They are lost whole, never half.
    NoSync,
}

/// Everything that can be tuned, with defaults that just work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOptions {
    /// When commits are acknowledged.
    pub durability: Durability,
    /// A checkpoint runs automatically once the log has grown this much since the last.
    pub checkpoint_bytes: u64,
    /// Block size at creation (checked on reopen).
    pub file: FileOptions,
    /// Log segment size and buffering.
    pub log: LogOptions,
    /// Buffer pool size and policy.
    pub buffer: BufferOptions,
    /// How long a transaction waits for a lock before `LockTimeout`; `None` (the default)
    /// waits until granted or refused by the deadlock policy (with `Timeout(t)`, the
    /// shorter of the two applies).
    pub lock_timeout: Option<std::time::Duration>,
    /// How deadlocks are handled: detected (the default), prevented by wait-die, or left to
    /// a timeout.
    pub deadlock: DeadlockPolicy,
    /// Bytes of committed page images kept for read-only snapshots; past it, the oldest
    /// snapshot ends with `SnapshotTooOld` rather than memory growing without bound.
    pub snapshot_memory: usize,
}

impl Default for TxOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            checkpoint_bytes: 64 << 20,
            file: FileOptions::default(),
            log: LogOptions::default(),
            buffer: BufferOptions::default(),
            lock_timeout: None,
            deadlock: DeadlockPolicy::Detect,
            snapshot_memory: 64 << 20,
        }
    }
}

/// Counters of the transaction layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Transactions committed since open.
    pub commits: u64,
    /// Transactions rolled back since open (explicitly or on drop).
    pub rollbacks: u64,
    /// Checkpoints taken since open.
    pub checkpoints: u64,
    /// Automatic checkpoints that failed (the log they would have released is kept).
    pub checkpoint_failures: u64,
    /// Full page images logged (first change of a page after a checkpoint).
    pub page_images: u64,
    /// Files cut or removed at commit (`Transaction::cut_at_commit`).
    pub file_cuts: u64,
    /// Cuts skipped because an older snapshot was open, a block was pinned, or the file
    /// system refused: the blocks stay, unused, for a later compaction.
    pub file_cuts_deferred: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    rollbacks: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_failures: AtomicU64,
    page_images: AtomicU64,
    file_cuts: AtomicU64,
    file_cuts_deferred: AtomicU64,
}

/// Owns the file manager, the log and the buffer pool of one database directory, and runs
/// transactions over them. Opening it runs restart recovery.
pub struct TxManager {
    /// The directory's files.
    pub(crate) fm: Arc<FileManager>,
    /// The write-ahead log.
    pub(crate) log: Arc<LogManager>,
    /// The page cache; honours the WAL rule.
    pub(crate) pool: BufferPool,
    /// Commit durability and checkpoint interval.
    pub(crate) options: TxOptions,
    /// The next transaction number.
    next_txn: AtomicU64,
    /// Active transactions and the LSN of their first record: the log must keep them.
    pub(crate) active: Mutex<BTreeMap<TxnId, Lsn>>,
    /// Where the current checkpoint's redo starts: a page last changed before it gets a full
    /// image logged before its next change.
    pub(crate) horizon: AtomicU64,
    /// Held shared by every page change across its "page image needed?" decision and its
    /// log appends, and exclusively by a checkpoint while it fixes the redo point and the new
    /// horizon: so no change can decide against the old horizon and log after the new point.
    horizon_gate: RwLock<()>,
    /// Shared and exclusive locks on pages, held to the end of each transaction.
    pub(crate) locks: LockTable<BlockId>,
    /// Committed page images for read-only snapshots.
    pub(crate) versions: Versions,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// Set when a rollback could not finish: its changes may be in pages in memory, so no
    /// transaction may start and no checkpoint may run until recovery (a reopen) undoes it.
    failed: Mutex<Option<String>>,
    /// Whether `failed` is set: checked on every read and write, so kept lock-free.
    is_failed: std::sync::atomic::AtomicBool,
    /// Log end at the last checkpoint, for automatic checkpoints.
    last_checkpoint: AtomicU64,
    counters: Counters,
    /// What recovery did when this manager was opened.
    recovery: RecoveryReport,
}

impl TxManager {
    /// Opens (creating if needed) the database in `dir` with default options, recovering.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let storage = FsStorage::open(dir)
            .map_err(|e| kv_file::Error::io("opening directory", dir.display(), e))?;
        Self::open_with(storage, TxOptions::default())
    }

    /// Opens a database on any storage (the crash simulator in tests), recovering.
    pub fn open_with(storage: impl Storage, options: TxOptions) -> Result<Self> {
        let fm = Arc::new(FileManager::open_with(storage, options.file)?);
        let log = Arc::new(LogManager::open_with(
            Arc::clone(&fm),
            LOG_NAME,
            options.log,
        )?);
        let pool = BufferPool::new(Arc::clone(&fm), Arc::clone(&log), options.buffer);
        let mut mgr = Self {
            fm,
            log,
            pool,
            options,
            next_txn: AtomicU64::new(1),
            active: Mutex::new(BTreeMap::new()),
            horizon: AtomicU64::new(0),
            horizon_gate: RwLock::new(()),
            locks: LockTable::with_policy(options.lock_timeout, options.deadlock),
            versions: Versions::new(options.snapshot_memory),
            checkpointing: Mutex::new(()),
            failed: Mutex::new(None),
            is_failed: std::sync::atomic::AtomicBool::new(false),
            last_checkpoint: AtomicU64::new(0),
            counters: Counters::default(),
            recovery: RecoveryReport::default(),
        };
        let report = recovery::recover(&mgr)?;
        mgr.next_txn.store(report.max_txn + 1, SeqCst);
        mgr.recovery = report;
        mgr.checkpoint()?;
        Ok(mgr)
    }

    /// Begins a read-write transaction.
    pub fn begin(&self) -> Result<Transaction<'_>> {
        self.check_usable()?;
        let txn = self.next_txn.fetch_add(1, SeqCst);
        // Appending under the `active` lock: a checkpoint that reads the log's end then sees
        // this transaction, so it never truncates the log past the transaction's first record.
        let first = {
            let mut active = self.active.lock();
            let lsn = self.log.append(&LogRecord::Start { txn }.encode())?;
            active.insert(txn, lsn);
            lsn
        };
        Ok(Transaction::new(self, txn, first))
    }

    // ANCHOR: begin_read_only
    /// Begins a read-only transaction on a snapshot of everything committed so far. It takes
    /// no locks and writes nothing to the log.
    pub fn begin_read_only(&self) -> Result<ReadTransaction<'_>> {
        self.check_usable()?;
        Ok(ReadTransaction::new(self, self.versions.begin()))
    }
    // ANCHOR_END: begin_read_only

    // ANCHOR: checkpoint
    /// Takes a checkpoint without stopping transactions: note where the log ends (R), write
    /// every dirty page, log `Checkpoint { redo_from: R }`, and release the log before R (or
    /// before the first record of the oldest active transaction, if earlier).
    ///
    /// Why every change before R is on disk afterwards: a page is marked dirty when its write
    /// latch is taken, before its change is logged, so any change logged before R belongs to
    /// a page that is already dirty when the flush looks — and the flush waits for the latch.
    pub fn checkpoint(&self) -> Result<()> {
        let _one_at_a_time = self.checkpointing.lock();
        self.check_usable()?;
        let (redo_from, oldest) = {
            let _no_change_in_between = self.horizon_gate.write();
            let active = self.active.lock();
            let redo_from = self.log.end_lsn();
            self.horizon.store(redo_from.0, SeqCst);
            (redo_from, active.values().min().copied())
        };
        // A failed fsync leaves unknown what reached the disk, while the pool has already
        // marked the pages written clean (and the kernel may have dropped its dirty copies:
        // PostgreSQL's "fsyncgate"). A later checkpoint would then release log records whose
        // pages never arrived. So, like a failed commit, it stops the manager until reopened:
        // recovery then redoes from the last complete checkpoint. (A failed *write* leaves
        // its page dirty, to be written again: no need to stop.)
        if let Err(e) = self.pool.flush_all() {
            if matches!(&e, kv_buffer::Error::File(f) if f.is_failed_sync()) {
                self.fail(format!("a checkpoint's fsync failed: {e}"));
            }
            return Err(e.into());
        }
        if let Err(e) = self.fm.sync_all() {
            // appended blocks too (appends are not logged)
            self.fail(format!("a checkpoint's fsync failed: {e}"));
            return Err(e.into());
        }
        let lsn = self
            .log
            .append(&LogRecord::Checkpoint { redo_from }.encode())?;
        self.log.flush(lsn)?;
        let keep = oldest.map_or(redo_from, |first| first.min(redo_from));
        self.log.truncate_before(keep)?;
        self.last_checkpoint.store(self.log.end_lsn().0, SeqCst);
        self.counters.checkpoints.fetch_add(1, Relaxed);
        Ok(())
    }
    // ANCHOR_END: checkpoint

    /// Checkpoints if the log has grown past the interval since the last one and no other
    /// checkpoint is running. Best effort: a failed checkpoint keeps the log it would have
    /// released, so nothing is lost, and the caller's commit has succeeded regardless.
    pub(crate) fn maybe_checkpoint(&self) {
        let end = self.log.end_lsn().0;
        let due =
            end.saturating_sub(self.last_checkpoint.load(SeqCst)) >= self.options.checkpoint_bytes;
        if !due || self.checkpointing.is_locked() {
            return;
        }
        if self.checkpoint().is_err() {
            self.counters.checkpoint_failures.fetch_add(1, Relaxed);
        }
    }

    /// Refuses new work after a rollback that could not finish.
    pub(crate) fn check_usable(&self) -> Result<()> {
        if !self.is_failed.load(SeqCst) {
            return Ok(());
        }
        match &*self.failed.lock() {
            Some(cause) => Err(Error::NeedsRecovery {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Marks the manager unusable until reopened, after a rollback that could not finish.
    pub(crate) fn fail(&self, cause: String) {
        self.failed.lock().get_or_insert(cause);
        self.is_failed.store(true, SeqCst);
    }

    // ANCHOR: change_page
    /// Changes `bytes` at `offset` of `page` (write-latched by the caller), logging the
    /// record `make` builds from the bytes there before. All under the page's write latch,
    /// so the log order of changes to one page is the order they were applied in — and a
    /// caller that makes several changes under one latch makes them atomic to readers that
    /// take no lock (`PageRead::peek_page`).
    ///
    /// The first change of a page since the current checkpoint began is preceded by a full
    /// image of the page: if the page's next write to disk is torn by a crash, recovery
    /// rebuilds it from that image.
    ///
    /// `kept` is the set of pages whose last committed image the writer has kept for
    /// snapshot readers (`None` when undoing): on the writer's first change of a page, the
    /// page as it is — that image — is kept before it changes, and the page joins the set.
    /// Returns the change's LSN and its record (whose before-image the caller may keep for
    /// undo).
    #[allow(clippy::too_many_arguments)] // each is one fact about the change
    pub(crate) fn change_page(
        &self,
        page: &mut PageWrite<'_>,
        block: &BlockId,
        offset: usize,
        bytes: &[u8],
        txn: TxnId,
        kept: Option<&mut FxHashSet<BlockId>>,
        make: impl FnOnce(Vec<u8>) -> LogRecord,
    ) -> Result<(Lsn, LogRecord)> {
        let payload_len = self.page_capacity();
        let end = offset.checked_add(bytes.len());
        if offset < PAGE_LSN_SIZE || end.is_none_or(|end| end > payload_len) {
            return Err(Error::BadOffset {
                block: block.clone(),
                offset,
                len: bytes.len(),
                min: PAGE_LSN_SIZE,
                max: payload_len,
            });
        }
        if let Some(kept) = kept.filter(|kept| !kept.contains(block)) {
            let image = self.versions.image_of(page.payload());
            self.versions.keep_pending(block, txn, image);
            kept.insert(block.clone());
        }
        let _horizon_fixed = self.horizon_gate.read();
        if page.get_u64(0)? < self.horizon.load(SeqCst) {
            let image = page.payload().to_vec();
            let record = LogRecord::PageImage {
                block: block.clone(),
                image,
            };
            self.log.append(&record.encode())?;
            self.counters.page_images.fetch_add(1, Relaxed);
        }
        let before = page.payload()[offset..offset + bytes.len()].to_vec();
        let record = make(before);
        let lsn = self.log.append(&record.encode())?;
        page.payload_mut()[offset..offset + bytes.len()].copy_from_slice(bytes);
        page.set_u64(0, lsn.0)?;
        page.set_modified(txn, lsn);
        Ok((lsn, record))
    }
    // ANCHOR_END: change_page

    /// Refuses names of files the transaction layer does not own (log segments).
    pub(crate) fn check_file(&self, file: &str) -> Result<()> {
        // On every read and write: no allocation.
        let after = file.strip_prefix(LOG_NAME);
        if after.is_some_and(|rest| rest.is_empty() || rest.starts_with('.')) {
            return Err(Error::ReservedName {
                name: file.to_owned(),
            });
        }
        Ok(())
    }

    /// Recreates a block that a crash lost the append of, before redo changes it.
    pub(crate) fn ensure_block(&self, block: &BlockId) -> Result<()> {
        if self.fm.length(block.file())? <= block.number() {
            // (Decoding refuses block numbers near u64::MAX, so this cannot overflow.)
            self.fm
                .truncate(block.file(), block.number().saturating_add(1))?;
        }
        Ok(())
    }

    // ANCHOR: cut_file
    /// Cuts `file` to `keep` blocks (`None`: removes it) for a transaction that committed
    /// with sequence number `csn` and still holds its locks; whether it did. Not if a snapshot
    /// older than `csn` is open (it may read those blocks), nor if one of them is pinned (a
    /// write-back or a reader is at it); then, or on an I/O error, the blocks just stay.
    pub(crate) fn cut_file(&self, file: &str, keep: Option<u64>, csn: u64) -> bool {
        let done = self.versions.none_older_than(csn)
            && self.pool.discard(file, keep.unwrap_or(0))
            && match keep {
                Some(blocks) => self
                    .fm
                    .length(file)
                    .and_then(|len| match len > blocks {
                        true => self
                            .fm
                            .truncate(file, blocks)
                            .and_then(|()| self.fm.sync(file)),
                        false => Ok(()),
                    })
                    .is_ok(),
                None => self.fm.remove(file).is_ok(),
            };
        let counter = match done {
            true => &self.counters.file_cuts,
            false => &self.counters.file_cuts_deferred,
        };
        counter.fetch_add(1, Relaxed);
        done
    }
    // ANCHOR_END: cut_file

    pub(crate) fn count_commit(&self) {
        self.counters.commits.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_rollback(&self) {
        self.counters.rollbacks.fetch_add(1, Relaxed);
    }

    /// The counters so far.
    pub fn stats(&self) -> TxStats {
        let c = &self.counters;
        TxStats {
            commits: c.commits.load(Relaxed),
            rollbacks: c.rollbacks.load(Relaxed),
            checkpoints: c.checkpoints.load(Relaxed),
            checkpoint_failures: c.checkpoint_failures.load(Relaxed),
            page_images: c.page_images.load(Relaxed),
            file_cuts: c.file_cuts.load(Relaxed),
            file_cuts_deferred: c.file_cuts_deferred.load(Relaxed),
        }
    }

    /// What restart recovery did when this manager was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The buffer pool, for layers and tests that look at pages directly.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// The write-ahead log.
    pub fn log(&self) -> &Arc<LogManager> {
        &self.log
    }

    /// The file manager.
    pub fn file_manager(&self) -> &Arc<FileManager> {
        &self.fm
    }

    /// The lock table (for stats, and for layers that lock pages themselves).
    pub fn locks(&self) -> &LockTable<BlockId> {
        &self.locks
    }

    /// The length of a page's payload: offsets `PAGE_LSN_SIZE..page_capacity()` of every
    /// block are the caller's.
    pub fn page_capacity(&self) -> usize {
        self.fm.block_size() - kv_file::TRAILER_SIZE
    }

    /// Snapshot counters: open read-only transactions and the memory their page images hold.
    pub fn snapshot_stats(&self) -> SnapshotStats {
        self.versions.stats()
    }

    /// The number of read-write transactions running now.
    pub fn active_count(&self) -> usize {
        self.active.lock().len()
    }
}

impl std::fmt::Debug for TxManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxManager")
            .field("stats", &self.stats())
            .field("recovery", &self.recovery)
            .finish()
    }
}
