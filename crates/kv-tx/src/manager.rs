//! `TxManager`: owns the stack below transactions, numbers them, checkpoints, recovers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use kv_buffer::{BufferOptions, BufferPool, PageGuard};
use kv_file::{BlockId, FileManager, FileOptions, FsStorage, Storage};
use kv_log::{LogManager, LogOptions, Lsn};
use parking_lot::Mutex;

use crate::record::{LogRecord, TxnId};
use crate::recovery::{self, RecoveryReport};
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
    /// Before the fsync: much faster, but a crash (of the machine, not just the process) can
    /// lose the last transactions that committed. They are lost whole, never half.
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
}

impl Default for TxOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            checkpoint_bytes: 64 << 20,
            file: FileOptions::default(),
            log: LogOptions::default(),
            buffer: BufferOptions::default(),
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
    /// Full page images logged (first change of a page after a checkpoint).
    pub page_images: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    rollbacks: AtomicU64,
    checkpoints: AtomicU64,
    page_images: AtomicU64,
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
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
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
            checkpointing: Mutex::new(()),
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
        let (redo_from, oldest) = {
            let active = self.active.lock();
            (self.log.end_lsn(), active.values().min().copied())
        };
        self.horizon.store(redo_from.0, SeqCst);
        self.pool.flush_all()?;
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

    /// Checkpoints if the log has grown past the interval since the last one.
    pub(crate) fn maybe_checkpoint(&self) -> Result<()> {
        let end = self.log.end_lsn().0;
        let grown = end.saturating_sub(self.last_checkpoint.load(SeqCst));
        if grown >= self.options.checkpoint_bytes {
            self.checkpoint()?;
        }
        Ok(())
    }

    // ANCHOR: change_page
    /// Changes `bytes` at `offset` of the pinned page `guard`, logging the record `make`
    /// builds from the bytes there before. All under the page's write latch, so the log
    /// order of changes to one page is the order they were applied in.
    ///
    /// The first change of a page since the current checkpoint began is preceded by a full
    /// image of the page: if the page's next write to disk is torn by a crash, recovery
    /// rebuilds it from that image.
    pub(crate) fn change_page(
        &self,
        guard: &PageGuard<'_>,
        block: &BlockId,
        offset: usize,
        bytes: &[u8],
        txn: TxnId,
        make: impl FnOnce(Vec<u8>) -> LogRecord,
    ) -> Result<Lsn> {
        let mut page = guard.write();
        let payload_len = page.payload().len();
        if offset < PAGE_LSN_SIZE || offset + bytes.len() > payload_len {
            return Err(Error::BadOffset {
                block: block.clone(),
                offset,
                len: bytes.len(),
                min: PAGE_LSN_SIZE,
                max: payload_len,
            });
        }
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
        let lsn = self.log.append(&make(before).encode())?;
        page.payload_mut()[offset..offset + bytes.len()].copy_from_slice(bytes);
        page.set_u64(0, lsn.0)?;
        page.set_modified(txn, lsn);
        Ok(lsn)
    }
    // ANCHOR_END: change_page

    /// Appends a block to `file`; a block past the end of its file (a crash lost the append)
    /// is recreated the same way during redo.
    pub(crate) fn ensure_block(&self, block: &BlockId) -> Result<()> {
        if self.fm.length(block.file())? <= block.number() {
            self.fm.truncate(block.file(), block.number() + 1)?;
        }
        Ok(())
    }

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
            page_images: c.page_images.load(Relaxed),
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

    /// The number of transactions running now.
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
