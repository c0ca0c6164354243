//! `Transaction`: logged reads and writes of typed values at (block, offset).

use kv_buffer::PageGuard;
use kv_file::BlockId;
use kv_log::Lsn;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::lock::{LockError, LockMode};
use crate::manager::{Durability, TxManager};
use crate::read::PageRead;
use crate::record::{LogRecord, TxnId};
use crate::recovery::{undo, undo_in_memory, UndoStep};
use crate::{Error, Result};

/// Before-images a transaction keeps in memory for rollback. Past this, it forgets them and
/// rolls back from the log instead — which must be flushed to be read (an fsync).
pub const UNDO_IN_MEMORY: usize = 1 << 20;

/// A read-write transaction. Every change is logged before it is made; `commit` makes it
/// durable, `rollback` (or dropping the transaction unfinished) undoes it.
///
/// Reads take a shared lock on the block, writes an exclusive one, all held until the
/// transaction ends (strict two-phase locking): no other transaction can change bytes this
/// one changed before it ends, which is what physical undo needs. A deadlock victim gets
/// [`Error::Deadlock`](crate::Error::Deadlock) at once; roll back and retry.
pub struct Transaction<'a> {
    /// The manager: log, pool, checkpoints.
    mgr: &'a TxManager,
    /// This transaction's number.
    id: TxnId,
    /// Its latest log record, which the next one links back to.
    last: Lsn,
    /// Pages pinned by this transaction, unpinned when it ends.
    pins: HashMap<BlockId, PageGuard<'a>>,
    /// Locks held, released together when it ends (strict two-phase locking).
    locks: HashMap<BlockId, LockMode>,
    /// Pages whose last committed image this transaction kept for snapshots (on its first
    /// change of each): made versions at commit, dropped at rollback.
    changed: HashSet<BlockId>,
    /// Its changes' before-images, oldest first, so rollback need not read the log; `None`
    /// once they passed `UNDO_IN_MEMORY` bytes.
    undo: Option<Vec<UndoStep>>,
    /// Bytes of before-images in `undo`.
    undo_bytes: usize,
    /// Set once committed or rolled back.
    ended: bool,
    /// Files to cut (or remove) once this transaction has committed: `(file, blocks kept)`.
    cuts: Vec<(String, Option<u64>)>,
}

impl<'a> Transaction<'a> {
    pub(crate) fn new(mgr: &'a TxManager, id: TxnId, first: Lsn) -> Self {
        Self {
            mgr,
            id,
            last: first,
            pins: HashMap::default(),
            locks: HashMap::default(),
            changed: HashSet::default(),
            undo: Some(Vec::new()),
            undo_bytes: 0,
            ended: false,
            cuts: Vec::new(),
        }
    }

    /// This transaction's number.
    pub fn id(&self) -> TxnId {
        self.id
    }

    /// Keeps `block` in the buffer pool until [`unpin`](Self::unpin) or the end of the
    /// transaction. Reads and writes pin a block for their own duration when it is not
    /// pinned; pinning first saves those lookups for a page used many times.
    pub fn pin(&mut self, block: &BlockId) -> Result<()> {
        self.check_active()?;
        self.mgr.check_file(block.file())?;
        if !self.pins.contains_key(block) {
            let guard = self.mgr.pool.pin(block)?;
            self.pins.insert(block.clone(), guard);
        }
        Ok(())
    }

    /// Lets `block` leave the buffer pool (it stays locked until the transaction ends).
    pub fn unpin(&mut self, block: &BlockId) {
        self.pins.remove(block);
    }

    /// The pinned page: this transaction's pin if it has one, else a pin for the call.
    fn guard(&self, block: &BlockId) -> Result<Held<'_, 'a>> {
        self.check_active()?;
        held(self.mgr, &self.pins, block)
    }

    // ANCHOR: lock
    /// Takes (or upgrades to) `mode` on `block`, held until the transaction ends.
    pub fn lock(&mut self, block: &BlockId, mode: LockMode) -> Result<()> {
        self.check_active()?;
        // A failed rollback or commit may have left changes of unknown fate behind any lock,
        // even one already held: every read and write comes through here, and stops.
        self.mgr.check_usable()?;
        if self.locks.get(block).is_some_and(|&held| held >= mode) {
            return Ok(()); // already held: no trip to the lock table
        }
        match self.mgr.locks.acquire(self.id, block, mode) {
            Ok(()) => {
                self.locks.insert(block.clone(), mode);
                // The failure may have happened while we waited.
                self.mgr.check_usable()
            }
            Err(LockError::Deadlock) => Err(Error::Deadlock {
                txn: self.id,
                block: block.clone(),
            }),
            Err(LockError::Timeout) => Err(Error::LockTimeout {
                txn: self.id,
                block: block.clone(),
            }),
        }
    }
    // ANCHOR_END: lock

    fn release_locks(&mut self) {
        self.mgr.locks.release_all(self.id, self.locks.keys());
        self.locks.clear();
    }

    fn check_active(&self) -> Result<()> {
        if self.ended {
            Err(Error::Ended { txn: self.id })
        } else {
            Ok(())
        }
    }

    // ANCHOR: read_write
    /// Writes `bytes` at `offset` of `block` (under an exclusive lock on the block), logging
    /// before- and after-images first.
    pub fn write_bytes(&mut self, block: &BlockId, offset: usize, bytes: &[u8]) -> Result<()> {
        self.write_runs(block, &[(offset, bytes)])
    }

    /// Writes several runs of bytes — `(offset, bytes)` — to `block` as one change: each is
    /// logged as its own record, but all are applied under one hold of the page's write
    /// latch, so a reader that takes no lock (`PageRead::peek_page`) sees the page before
    /// them all or after them all, never half-changed.
    pub fn write_runs(&mut self, block: &BlockId, runs: &[(usize, &[u8])]) -> Result<()> {
        self.lock(block, LockMode::Exclusive)?;
        let (mgr, id) = (self.mgr, self.id);
        self.check_active()?;
        let guard = held(mgr, &self.pins, block)?;
        let mut page = guard.write();
        let mut undo = Vec::with_capacity(runs.len());
        let mut failed = None;
        for &(offset, bytes) in runs {
            let prev = self.last;
            let kept = Some(&mut self.changed);
            let change = |before| LogRecord::Update {
                txn: id,
                prev,
                block: block.clone(),
                offset: offset as u32,
                before,
                after: bytes.to_vec(),
            };
            let (lsn, record) =
                match mgr.change_page(&mut page, block, offset, bytes, id, kept, change) {
                    Ok(done) => done,
                    Err(e) => {
                        failed = Some(e); // the runs before it stay applied: keep their undo
                        break;
                    }
                };
            if let LogRecord::Update { before, .. } = record {
                undo.push((prev, offset as u32, before));
            }
            self.last = lsn;
        }
        drop(page);
        drop(guard);
        for (prev, offset, before) in undo {
            self.keep_undo(prev, block, offset, before);
        }
        failed.map_or(Ok(()), Err)
    }

    /// Remembers how to undo a change, while the transaction's before-images fit in memory.
    fn keep_undo(&mut self, prev: Lsn, block: &BlockId, offset: u32, before: Vec<u8>) {
        self.undo_bytes += before.len();
        if self.undo_bytes > UNDO_IN_MEMORY {
            self.undo = None; // roll back from the log
        }
        if let Some(steps) = &mut self.undo {
            steps.push(UndoStep {
                prev,
                block: block.clone(),
                offset,
                before,
            });
        }
    }
    // ANCHOR_END: read_write

    /// Sets the `u64` at `offset` of `block`.
    pub fn set_u64(&mut self, block: &BlockId, offset: usize, value: u64) -> Result<()> {
        self.write_bytes(block, offset, &value.to_le_bytes())
    }

    /// Sets the `i32` at `offset` of `block`.
    pub fn set_i32(&mut self, block: &BlockId, offset: usize, value: i32) -> Result<()> {
        self.write_bytes(block, offset, &value.to_le_bytes())
    }

    /// Sets a length-prefixed string at `offset` of `block`.
    pub fn set_string(&mut self, block: &BlockId, offset: usize, value: &str) -> Result<()> {
        let mut bytes = (value.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(value.as_bytes());
        self.write_bytes(block, offset, &bytes)
    }

    /// The page LSN of `block`: the LSN of the last change applied to it.
    pub fn page_lsn(&mut self, block: &BlockId) -> Result<Lsn> {
        let guard = self.guard(block)?;
        let lsn = guard.read().get_u64(0)?;
        Ok(Lsn(lsn))
    }

    // ANCHOR: end_of_file
    /// Adds a fresh block to `file` and returns it, under an exclusive lock on the file's
    /// end (see [`PageRead::size`]). (Not logged: recovery recreates a block that a later
    /// change needs if a crash lost the append.)
    pub fn append(&mut self, file: &str) -> Result<BlockId> {
        self.check_active()?;
        self.mgr.check_file(file)?;
        self.lock(&end_of_file(file), LockMode::Exclusive)?;
        Ok(self.mgr.fm.append(file)?)
    }
    // ANCHOR_END: end_of_file

    // ANCHOR: cut_at_commit
    /// Asks that `file` be cut to its first `keep` blocks (or, with `None`, removed) once this
    /// transaction has committed — the way compaction gives space back, and a dropped index
    /// its file. Takes the file's end lock exclusively, so no one sizes or appends to the file
    /// until then.
    ///
    /// A cut changes the file system, which the log cannot undo, so it runs only after the
    /// commit is durable, and before the locks are released: the caller must hold the locks
    /// that lead to those blocks (an index's meta page), so that no transaction can reach them
    /// in between. It is skipped — the blocks just stay, unused — if a snapshot that may still
    /// read them is open or someone has one of them pinned, or if the file system refuses;
    /// [`TxStats::file_cuts_deferred`](crate::TxStats) counts those.
    pub fn cut_at_commit(&mut self, file: &str, keep: Option<u64>) -> Result<()> {
        self.check_active()?;
        self.mgr.check_file(file)?;
        self.lock(&end_of_file(file), LockMode::Exclusive)?;
        self.cuts.push((file.to_owned(), keep));
        Ok(())
    }
    // ANCHOR_END: cut_at_commit

    // ANCHOR: commit
    /// Commits: logs the commit record and, with `Durability::Sync`, returns only once it is
    /// durable. Pages are not written (no-force): the log is enough to redo them.
    ///
    /// If the log cannot be made durable, the error is returned and the transaction counts
    /// as failed: it may or may not survive a crash, and the log refuses further work until
    /// the database is reopened, when recovery decides from what is really on disk.
    pub fn commit(self) -> Result<()> {
        self.commit_seq().map(drop)
    }

    /// Commits like [`commit`](Self::commit), and returns the commit's sequence number: a
    /// snapshot whose [`snapshot`](crate::ReadTransaction::snapshot) number is at least this
    /// sees the commit.
    pub fn commit_seq(mut self) -> Result<u64> {
        self.check_active()?;
        self.mgr.check_usable()?; // after a failed rollback, nothing may commit: roll back
        self.ended = true;
        self.pins.clear();
        let lsn = self.mgr.log.append(
            &LogRecord::Commit {
                txn: self.id,
                prev: self.last,
            }
            .encode(),
        );
        let durable = lsn.and_then(|lsn| match self.mgr.options.durability {
            Durability::Sync => self.mgr.log.flush(lsn),
            // A cut cannot be undone: it must follow a durable commit whatever the setting.
            Durability::NoSync if self.cuts.is_empty() => Ok(()),
            Durability::NoSync => self.mgr.log.flush(lsn),
        });
        // Strict 2PL: locks go only once the commit is decided. If it could not be made
        // durable its fate is unknown (recovery decides): like a failed rollback, stay
        // "active" (the log keeps its records) and stop the manager before releasing, so
        // waiters get NeedsRecovery instead of reading what may never have committed.
        let mut seq = 0;
        match &durable {
            Ok(()) => {
                self.mgr.active.lock().remove(&self.id);
                // Visible to snapshots from here on.
                seq = self.mgr.versions.commit(self.id, &self.changed);
                for (file, keep) in std::mem::take(&mut self.cuts) {
                    self.mgr.cut_file(&file, keep, seq);
                }
            }
            Err(e) => self
                .mgr
                .fail(format!("commit of transaction {} failed: {e}", self.id)),
        }
        self.release_locks();
        durable?;
        self.mgr.count_commit();
        self.mgr.maybe_checkpoint();
        Ok(seq)
    }
    // ANCHOR_END: commit

    /// Rolls back: undoes every change, newest first, logging a compensation record for each
    /// so that a crash in the middle never undoes twice.
    pub fn rollback(mut self) -> Result<()> {
        self.check_active()?;
        self.finish_rollback()
    }

    fn finish_rollback(&mut self) -> Result<()> {
        self.ended = true;
        self.pins.clear();
        let result = match self.undo.take() {
            Some(steps) => undo_in_memory(self.mgr, self.id, self.last, steps),
            None => undo(self.mgr, self.id, self.last),
        };
        match &result {
            Ok(()) => {
                self.mgr.active.lock().remove(&self.id);
                self.mgr.versions.abandon(self.id, &self.changed);
                self.release_locks();
            }
            // The undo stopped half way: its changes may sit in pages in memory, where another
            // transaction or a checkpoint would make them permanent. Stay "active" (so the
            // log keeps this transaction's records) and make the manager refuse all further
            // work — new transactions, locks, commits, checkpoints — until recovery. The locks
            // are released so that waiters do not hang; they get `NeedsRecovery` instead.
            Err(e) => {
                self.mgr
                    .fail(format!("rollback of transaction {} failed: {e}", self.id));
                self.release_locks();
            }
        }
        self.mgr.count_rollback();
        result
    }
}

impl PageRead for Transaction<'_> {
    fn page_capacity(&self) -> usize {
        self.mgr.page_capacity()
    }

    // ANCHOR: size
    /// The number of blocks in `file`, under a shared lock on the file's end: a transaction
    /// that reads "every block of the file" (a predicate) cannot have another transaction
    /// append a block it would have read (a phantom) before it ends.
    fn size(&mut self, file: &str) -> Result<u64> {
        self.check_active()?;
        self.mgr.check_file(file)?;
        self.lock(&end_of_file(file), LockMode::Shared)?;
        Ok(self.mgr.fm.length(file)?)
    }
    // ANCHOR_END: size

    /// Reads under a shared lock on the block, held to the end of the transaction.
    fn with_page(&mut self, block: &BlockId, f: &mut dyn FnMut(&[u8])) -> Result<()> {
        self.lock(block, LockMode::Shared)?;
        let guard = self.guard(block)?;
        let page = guard.read();
        f(page.payload());
        Ok(())
    }

    fn sees_changes(&self) -> bool {
        true
    }

    /// A shared lock on `block`, held to the end of the transaction.
    fn lock_shared(&mut self, block: &BlockId) -> Result<()> {
        self.lock(block, LockMode::Shared)
    }

    /// Reads without a lock (see [`PageRead::peek_page`]): the page as last committed —
    /// another transaction's change in progress, or being rolled back, is not seen (the
    /// image its writer kept for snapshots is read instead) — or as this transaction changed
    /// it.
    fn peek_page(&mut self, block: &BlockId, f: &mut dyn FnMut(&[u8])) -> Result<()> {
        self.mgr.check_usable()?;
        let guard = self.guard(block)?;
        let page = guard.read();
        match self.mgr.versions.committed_under(block, self.id) {
            Some(image) => f(&image),
            None => f(page.payload()),
        }
        Ok(())
    }
}

/// `block` pinned: by the transaction if it pinned it (`pins`), else just for the call.
fn held<'g, 'a>(
    mgr: &'a TxManager,
    pins: &'g HashMap<BlockId, PageGuard<'a>>,
    block: &BlockId,
) -> Result<Held<'g, 'a>> {
    mgr.check_file(block.file())?;
    Ok(match pins.get(block) {
        Some(guard) => Held::Pinned(guard),
        None => Held::ForCall(mgr.pool.pin(block)?),
    })
}

/// A page pinned either by the transaction or just for one call.
enum Held<'g, 'a> {
    Pinned(&'g PageGuard<'a>),
    ForCall(PageGuard<'a>),
}

impl<'a> std::ops::Deref for Held<'_, 'a> {
    type Target = PageGuard<'a>;
    fn deref(&self) -> &PageGuard<'a> {
        match self {
            Held::Pinned(g) => g,
            Held::ForCall(g) => g,
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // Nothing to report to: a failure here (a poisoned log) is found again by
            // recovery, which undoes this transaction on the next open.
            let _ = self.finish_rollback();
        }
    }
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("id", &self.id)
            .field("last", &self.last)
            .field("pinned", &self.pins.len())
            .field("ended", &self.ended)
            .finish()
    }
}

/// The lock key that stands for the end of `file` (no real block has this number): shared
/// by `size`, exclusive by `append`.
pub(crate) fn end_of_file(file: &str) -> BlockId {
    BlockId::new(file, u64::MAX)
}
