//! `Versions`: the committed page images that snapshot readers may still need.
//!
//! Every read-write transaction that commits changes gets a *commit sequence number* (CSN):
//! 1, 2, 3, … in commit order. A read-only transaction's snapshot is the CSN of the last
//! commit when it began; it must see exactly the transactions with a CSN up to it.
//!
//! When a writer first changes a page, the page holds its last committed image (strict 2PL:
//! no one else has uncommitted changes there). That image is kept as the page's *pending*
//! version. At commit it becomes a *committed* version tagged `until = CSN` — it is the
//! page as every snapshot older than that CSN must see it — or is dropped at once if no
//! snapshot is open. At rollback it is dropped (undo has restored the page to it). When the
//! oldest snapshot ends, the versions no remaining snapshot needs are dropped.
//!
//! A snapshot reading a page takes the first committed version with `until` past its
//! snapshot; failing that the pending version; failing that the page itself. Both sides look
//! while holding the page's latch (the writer its write latch as it keeps the pending image,
//! the reader its read latch), so a reader never sees a change whose image is not yet kept.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use kv_file::BlockId;
use parking_lot::{Mutex, RwLock};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::record::TxnId;

/// Memory and lifetime counters of snapshot reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Read-only transactions open now (including those the cap ended, until dropped).
    pub active: usize,
    /// Committed page images kept for them.
    pub versions: usize,
    /// Bytes held by those images (bounded by `TxOptions::snapshot_memory`).
    pub version_bytes: usize,
    /// Bytes held by the last committed images of pages that uncommitted writers have
    /// changed (bounded by what the writers change; not subject to the cap).
    pub pending_bytes: usize,
    /// Snapshots ended with `SnapshotTooOld` because the cap was reached.
    pub too_old: u64,
    /// The CSN of the last commit that changed pages.
    pub last_commit: u64,
}

/// A page image, shared between the store and the readers using it. (A `Vec` inside, not a
/// slice, so that an image nobody shares any more can be reused for the next one.)
pub(crate) type Image = Arc<Vec<u8>>;

/// Page-sized buffers kept for reuse: a commit that no snapshot watched frees its images, and
/// the next writer takes one back instead of allocating.
const SPARE_IMAGES: usize = 32;

/// The images of one page.
#[derive(Default)]
struct Chain {
    /// Committed versions, oldest first: `(until, image)`.
    committed: VecDeque<(u64, Image)>,
    /// The last committed image while an uncommitted writer changes the page.
    pending: Option<(TxnId, Image)>,
}

impl Chain {
    /// The pending image, if `txn` is the writer that kept it.
    fn take_pending(&mut self, txn: TxnId) -> Option<Image> {
        match &self.pending {
            Some((writer, _)) if *writer == txn => self.pending.take().map(|(_, image)| image),
            _ => None,
        }
    }
}

/// A reader's handle: its number and its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Unique among readers, to end this one and no other.
    pub id: u64,
    /// The CSN of the last commit it sees.
    pub csn: u64,
}

/// Why a snapshot read found nothing to read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooOld;

#[derive(Default)]
struct State {
    /// The CSN of the last commit that changed pages.
    last_csn: u64,
    /// The last reader number handed out.
    next_reader: u64,
    /// Open snapshots, oldest first: `(csn, reader id)`.
    snapshots: BTreeSet<(u64, u64)>,
    /// Readers ended by the cap, told at their next read.
    expired: HashSet<u64>,
    /// The images of every page that has any.
    chains: HashMap<BlockId, Chain>,
    /// Committed versions in `until` order, which is also each chain's order: the front is
    /// always the oldest version of its page, so garbage collection pops from here.
    retired: VecDeque<(u64, BlockId)>,
    /// Bytes of committed versions (what the cap bounds).
    version_bytes: usize,
    /// Bytes of pending images of running writers.
    pending_bytes: usize,
    /// Snapshots ended by the cap since open.
    too_old: u64,
}

// ANCHOR: versions
/// The version store: one lock over small, bounded critical sections (images are shared
/// `Arc`s, copied outside it) — shared by readers looking up images, exclusive for changes.
pub(crate) struct Versions {
    state: RwLock<State>,
    /// Buffers of dropped images, for the next writer (their own mutex: taken outside `state`).
    spare: Mutex<Vec<Vec<u8>>>,
    /// Committed images may hold at most this many bytes before the oldest snapshot ends.
    cap: usize,
}
// ANCHOR_END: versions

impl Versions {
    /// An empty store whose committed versions may hold `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            state: RwLock::new(State::default()),
            spare: Mutex::new(Vec::new()),
            cap,
        }
    }

    /// A copy of `page` to keep as an image, in a reused buffer when there is one.
    pub fn image_of(&self, page: &[u8]) -> Image {
        let mut buffer = self.spare.lock().pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(page);
        Arc::new(buffer)
    }

    /// Takes back the buffers of `images` nobody else holds.
    fn recycle(&self, images: Vec<Image>) {
        if images.is_empty() {
            return;
        }
        let mut spare = self.spare.lock();
        for image in images {
            if spare.len() >= SPARE_IMAGES {
                break;
            }
            if let Ok(buffer) = Arc::try_unwrap(image) {
                spare.push(buffer);
            }
        }
    }

    /// Opens a snapshot of everything committed so far.
    pub fn begin(&self) -> Snapshot {
        let mut s = self.state.write();
        s.next_reader += 1;
        let snap = Snapshot {
            id: s.next_reader,
            csn: s.last_csn,
        };
        s.snapshots.insert((snap.csn, snap.id));
        snap
    }

    /// Closes a snapshot, dropping the versions only it needed.
    pub fn end(&self, snap: Snapshot) {
        let mut dropped = Vec::new();
        {
            let mut s = self.state.write();
            s.snapshots.remove(&(snap.csn, snap.id));
            s.expired.remove(&snap.id);
            s.collect(&mut dropped);
        }
        self.recycle(dropped);
    }

    /// Keeps `image`, the last committed content of `block`, before `txn` first changes it.
    /// Called with the page's write latch held. A second call by the same writer is a no-op.
    pub fn keep_pending(&self, block: &BlockId, txn: TxnId, image: Image) {
        let mut s = self.state.write();
        let chain = s.chains.entry(block.clone()).or_default();
        // An image here is this writer's own (a no-op), or that of a writer that never
        // ended: its commit or rollback failed, and the manager refuses all work until
        // recovery. That image is still the last committed one — the page holds changes of
        // unknown fate — so it stays.
        if chain.pending.is_some() {
            return;
        }
        let len = image.len();
        chain.pending = Some((txn, image));
        s.pending_bytes += len;
    }

    /// `txn` committed: its pending images become versions for the snapshots open now, and
    /// its changes become visible to snapshots opened from now on. Returns its CSN (the last
    /// CSN, unchanged, if it kept no image). Called before its locks are released, so CSN
    /// order agrees with the order in which conflicting transactions committed.
    pub fn commit<'b>(&self, txn: TxnId, blocks: impl IntoIterator<Item = &'b BlockId>) -> u64 {
        let mut dropped = Vec::new();
        let csn = self
            .state
            .write()
            .commit(txn, blocks, self.cap, &mut dropped);
        self.recycle(dropped);
        csn
    }

    /// `txn` rolled back: its pages (`blocks`) hold their pending images again, which are
    /// dropped.
    pub fn abandon<'b>(&self, txn: TxnId, blocks: impl IntoIterator<Item = &'b BlockId>) {
        let mut dropped = Vec::new();
        {
            let mut s = self.state.write();
            for block in blocks {
                let Some(chain) = s.chains.get_mut(block) else {
                    continue;
                };
                let Some(image) = chain.take_pending(txn) else {
                    continue;
                };
                let empty = chain.committed.is_empty();
                s.pending_bytes -= image.len();
                dropped.push(image);
                if empty {
                    s.chains.remove(block);
                }
            }
        }
        self.recycle(dropped);
    }

    // ANCHOR: image_for
    /// The image of `block` that `snap` must read, or `None` if the page itself is that image.
    /// Called with the page's read latch held.
    pub fn image_for(&self, block: &BlockId, snap: Snapshot) -> Result<Option<Image>, TooOld> {
        let s = self.state.read();
        if s.expired.contains(&snap.id) {
            return Err(TooOld);
        }
        let Some(chain) = s.chains.get(block) else {
            return Ok(None);
        };
        let committed = chain.committed.iter().find(|(until, _)| *until > snap.csn);
        Ok(committed
            .map(|(_, image)| image)
            .or(chain.pending.as_ref().map(|(_, image)| image))
            .cloned())
    }
    // ANCHOR_END: image_for

    /// Whether every open snapshot was taken at `csn` or later (so sees that commit). A
    /// snapshot ended by the cap but not yet told counts as older.
    pub fn none_older_than(&self, csn: u64) -> bool {
        let s = self.state.read();
        s.expired.is_empty() && s.snapshots.first().is_none_or(|&(oldest, _)| oldest >= csn)
    }

    /// The last committed image of `block` while a transaction other than `txn` has changed
    /// it and not yet ended; `None` if the page itself is committed (or `txn`'s own). Called
    /// with the page's read latch held, so no writer is half-way through a change.
    pub fn committed_under(&self, block: &BlockId, txn: TxnId) -> Option<Image> {
        let s = self.state.read();
        match &s.chains.get(block)?.pending {
            Some((writer, image)) if *writer != txn => Some(Arc::clone(image)),
            _ => None,
        }
    }

    /// Memory and lifetime counters, for `TxManager::snapshot_stats`.
    pub fn stats(&self) -> SnapshotStats {
        let s = self.state.read();
        SnapshotStats {
            active: s.snapshots.len() + s.expired.len(),
            versions: s.retired.len(),
            version_bytes: s.version_bytes,
            pending_bytes: s.pending_bytes,
            too_old: s.too_old,
            last_commit: s.last_csn,
        }
    }
}

impl State {
    // ANCHOR: commit
    /// A commit, under the store's mutex: one CSN, and every pending image of `txn` becomes a
    /// version (or, with no snapshot open, is dropped into `dropped` for reuse).
    fn commit<'b>(
        &mut self,
        txn: TxnId,
        blocks: impl IntoIterator<Item = &'b BlockId>,
        cap: usize,
        dropped: &mut Vec<Image>,
    ) -> u64 {
        let s = self;
        let csn = s.last_csn + 1;
        let keep = !s.snapshots.is_empty();
        let mut changed_any = false;
        for block in blocks {
            let Some(chain) = s.chains.get_mut(block) else {
                continue;
            };
            let Some(image) = chain.take_pending(txn) else {
                continue;
            };
            changed_any = true;
            let len = image.len();
            if keep {
                chain.committed.push_back((csn, image));
                s.retired.push_back((csn, block.clone()));
                s.version_bytes += len;
            } else {
                if chain.committed.is_empty() {
                    s.chains.remove(block);
                }
                dropped.push(image);
            }
            s.pending_bytes -= len;
        }
        if !changed_any {
            return s.last_csn; // a transaction that changed nothing takes no CSN
        }
        s.last_csn = csn;
        s.enforce_cap(cap, dropped);
        csn
    }
    // ANCHOR_END: commit

    /// Drops every committed version that no open snapshot needs: a version with `until = c`
    /// is needed only by snapshots older than `c`.
    fn collect(&mut self, dropped: &mut Vec<Image>) {
        let oldest = self.snapshots.first().map(|&(csn, _)| csn);
        while let Some(&(until, _)) = self.retired.front() {
            if oldest.is_some_and(|oldest| until > oldest) {
                break;
            }
            let (_, block) = self.retired.pop_front().expect("front exists");
            let Some(chain) = self.chains.get_mut(&block) else {
                continue; // cannot happen: a retired version's chain stays until it goes
            };
            if let Some((_, image)) = chain.committed.pop_front() {
                self.version_bytes -= image.len();
                dropped.push(image);
            }
            if chain.committed.is_empty() && chain.pending.is_none() {
                self.chains.remove(&block);
            }
        }
    }

    /// Ends the oldest snapshots until the committed versions fit in `cap` bytes.
    fn enforce_cap(&mut self, cap: usize, dropped: &mut Vec<Image>) {
        while self.version_bytes > cap {
            let Some((_, id)) = self.snapshots.pop_first() else {
                break;
            };
            self.expired.insert(id);
            self.too_old += 1;
            self.collect(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(byte: u8) -> Image {
        Arc::new(vec![byte; 16])
    }

    fn read(v: &Versions, b: &BlockId, snap: Snapshot) -> Option<u8> {
        v.image_for(b, snap).unwrap().map(|i| i[0])
    }

    #[test]
    fn each_snapshot_reads_the_image_of_its_time() {
        let v = Versions::new(usize::MAX);
        let b = BlockId::new("t", 0);
        let s0 = v.begin();
        v.keep_pending(&b, 1, image(0)); // page held 0; t1 writes 1
        assert_eq!(read(&v, &b, s0), Some(0), "uncommitted change hidden");
        assert_eq!(v.commit(1, [&b]), 1);
        let s1 = v.begin();
        assert_eq!(read(&v, &b, s1), None, "sees the page (1)");
        v.keep_pending(&b, 2, image(1)); // t2 writes 2
        assert_eq!(v.commit(2, [&b]), 2);
        assert_eq!(read(&v, &b, s0), Some(0));
        assert_eq!(read(&v, &b, s1), Some(1));
        assert_eq!(v.stats().versions, 2);
        v.end(s0);
        assert_eq!(v.stats().versions, 1, "version 0 only served s0");
        v.end(s1);
        assert_eq!(
            v.stats(),
            SnapshotStats {
                last_commit: 2,
                ..SnapshotStats::default()
            }
        );
        assert!(v.state.read().chains.is_empty());
    }

    #[test]
    fn without_snapshots_commits_keep_nothing_and_rollbacks_drop_their_image() {
        let v = Versions::new(usize::MAX);
        let b = BlockId::new("t", 0);
        v.keep_pending(&b, 1, image(0));
        v.keep_pending(&b, 1, image(9)); // second change by the same writer: no-op
        assert_eq!(v.stats().pending_bytes, 16);
        let s = v.begin();
        assert_eq!(read(&v, &b, s), Some(0));
        v.abandon(1, [&b]);
        assert_eq!(read(&v, &b, s), None);
        v.end(s);
        v.keep_pending(&b, 2, image(0));
        v.commit(2, [&b]);
        assert_eq!(v.stats().version_bytes + v.stats().pending_bytes, 0);
        assert_eq!(
            v.commit(3, [&b]),
            1,
            "a commit that changed nothing takes no CSN"
        );
    }

    #[test]
    fn the_cap_ends_the_oldest_snapshot() {
        let v = Versions::new(20);
        let (a, b) = (BlockId::new("t", 0), BlockId::new("t", 1));
        let old = v.begin();
        v.keep_pending(&a, 1, image(0));
        v.commit(1, [&a]);
        let young = v.begin();
        v.keep_pending(&b, 2, image(0));
        v.commit(2, [&b]); // 32 bytes > 20: `old` goes, and version 1 with it
        assert_eq!(v.image_for(&a, old), Err(TooOld));
        assert_eq!(read(&v, &b, young), Some(0));
        let stats = v.stats();
        assert_eq!(
            (stats.too_old, stats.active, stats.version_bytes),
            (1, 2, 16)
        );
        v.end(old);
        v.end(young);
        assert_eq!(v.stats().version_bytes, 0);
    }
}
