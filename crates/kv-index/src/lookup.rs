//! Lookups: `get` (shared locks, or a snapshot), `get_for_update` (the leaf locked
//! exclusively first), and the descent step that inserts and deletes share.

use std::sync::atomic::Ordering::Relaxed;

use kv_file::BlockId;
use kv_tx::{LockMode, PageRead, Transaction};

use crate::btree::{BTree, MAX_DEPTH};
use crate::node::{leaf_value, search, Step};
use crate::page::{Meta, PageBuf};
use crate::{Error, Result};

impl BTree {
    // ANCHOR: get
    /// The value stored under `key`, if any.
    pub fn get(&self, tx: &mut impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_at(tx, key, |_, _| Ok(()))
    }

    /// The value under `key`, the leaf holding it locked exclusively first (see
    /// [`BTree::height`](Self) — a read-modify-write that locked it shared would deadlock
    /// with another one when both upgrade).
    pub fn get_for_update(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_at(tx, key, |tx, (block, depth)| {
            self.lock_if_leaf(tx, &block, depth)
        })
    }

    /// Locks `block`, at `depth`, exclusively if it should be a leaf.
    fn lock_if_leaf(&self, tx: &mut Transaction<'_>, block: &BlockId, depth: usize) -> Result<()> {
        if depth + 1 >= self.height.load(Relaxed) {
            tx.lock(block, LockMode::Exclusive)?;
        }
        Ok(())
    }

    /// A lookup that calls `before` with each page (and its depth) before reading it.
    fn get_at<R: PageRead>(
        &self,
        tx: &mut R,
        key: &[u8],
        before: impl Fn(&mut R, (BlockId, usize)) -> Result<()>,
    ) -> Result<Option<Vec<u8>>> {
        let mut number = self.root(tx)?;
        for depth in 0..MAX_DEPTH {
            before(tx, (self.block(number), depth))?;
            let block = self.block(number);
            let found = tx.read_page(&block, |page| match search(page, key)? {
                Step::Child { child, .. } => Ok(Err(child)),
                Step::Leaf(Ok(i)) => leaf_value(page, i).map(|v| Ok(Some(v))),
                Step::Leaf(Err(_)) => Ok(Ok(None)),
            })?;
            let found = found.map_err(|reason| Error::Corrupt { block, reason })?;
            if found.is_ok() {
                self.height.store(depth + 1, Relaxed);
            }
            match found {
                Err(child) => number = child,
                Ok(Some(value)) => return Ok(Some(self.value(tx, &value)?)),
                Ok(None) => return Ok(None),
            }
        }
        Err(self.too_deep())
    }

    /// Which way `key` goes from page `number`, at `depth` — and, if the page is a leaf, a
    /// copy of it to change: one visit of the page where a search and then a read would take
    /// two. The page is locked exclusively first if it should be a leaf.
    pub(crate) fn step_to_change(
        &self,
        tx: &mut Transaction<'_>,
        number: u64,
        key: &[u8],
        depth: usize,
    ) -> Result<(Step, Option<PageBuf>)> {
        let block = self.block(number);
        self.lock_if_leaf(tx, &block, depth)?;
        let capacity = self.limits.capacity;
        let found = tx.read_page(&block, |page| {
            search(page, key).map(|step| match step {
                Step::Leaf(_) => (step, Some(PageBuf::copy_of(block.clone(), page, capacity))),
                Step::Child { .. } => (step, None),
            })
        })?;
        let found = found.map_err(|reason| Error::Corrupt { block, reason })?;
        if matches!(found.0, Step::Leaf(_)) {
            self.height.store(depth + 1, Relaxed);
        }
        Ok(found)
    }

    /// The root's page number, read from the meta page in place.
    pub(crate) fn root(&self, tx: &mut impl PageRead) -> Result<u64> {
        let block = self.block(0);
        tx.read_page(&block, Meta::root_in)?
            .map_err(|reason| Error::Corrupt { block, reason })
    }
    // ANCHOR_END: get
}
