//! Buckets in memory: a bucket's whole chain loaded, and stored back re-packed, writing
//! only the bytes that change.

use std::collections::HashSet;

use kv_tx::{PageRead, Transaction};

use super::directory::Head;
use super::format::{decode_bucket, encode_bucket, pack, Cell};
use super::{HashIndex, MAX_DEPTH};
use crate::page::{write_diff, Meta, PageBuf};
use crate::Result;

/// A bucket in memory: the cells of its whole chain, and its pages as read (for the diffs
/// written back).
pub(super) struct Bucket {
    /// The chain's pages as read, the bucket's own (primary) page first.
    pub(super) pages: Vec<PageBuf>,
    /// The local depth: the bucket holds the keys whose hashes end in its low `depth` bits.
    pub(super) depth: u32,
    /// Every cell of every page of the chain, in chain order.
    pub(super) cells: Vec<Cell>,
}

impl Bucket {
    /// Where `key` is among the cells.
    pub(super) fn position(&self, key: &[u8]) -> Option<usize> {
        self.cells.iter().position(|(k, _)| k.as_slice() == key)
    }
}

impl HashIndex {
    /// Loads the bucket whose first page is `number`, with its whole chain.
    pub(super) fn load_bucket(
        &self,
        tx: &mut impl PageRead,
        head: &Head,
        number: u64,
    ) -> Result<Bucket> {
        let mut bucket = Bucket {
            pages: Vec::new(),
            depth: 0,
            cells: Vec::new(),
        };
        // The pages seen, to catch a cycle (filled only if the chain has a second page).
        let mut seen = HashSet::new();
        let mut next = number;
        while next != 0 {
            if let Some(last) = bucket.pages.last() {
                self.check_link(head.high_water, &last.block, next)?;
                seen.insert(last.block.number());
                if !seen.insert(next) {
                    return Err(last.corrupt("the bucket's chain has a cycle"));
                }
            }
            let page = PageBuf::read(tx, self.block(next), self.limits.capacity)?;
            let decoded = decode_bucket(&page, MAX_DEPTH)?;
            if bucket.pages.is_empty() {
                bucket.depth = decoded.depth;
            } else if decoded.depth != bucket.depth {
                return Err(page.corrupt(format!(
                    "local depth {} in a chain of depth {}",
                    decoded.depth, bucket.depth
                )));
            }
            bucket.cells.extend(decoded.cells);
            next = decoded.next;
            bucket.pages.push(page);
        }
        Ok(bucket)
    }

    /// Whether the bucket's cells fit in the pages its chain already has.
    pub(super) fn fits(&self, bucket: &Bucket) -> bool {
        pack(&bucket.cells, self.limits.usable).len() <= bucket.pages.len()
    }

    // ANCHOR: store_bucket
    /// Writes a bucket's cells over its chain, re-packed: pages are added (allocated) if the
    /// cells need more, and freed if they need fewer. Only changed bytes are written.
    pub(super) fn store_bucket(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut Meta,
        bucket: &Bucket,
    ) -> Result<()> {
        let runs = pack(&bucket.cells, self.limits.usable);
        let keep = runs.len().min(bucket.pages.len());
        let mut added = Vec::new();
        while keep + added.len() < runs.len() {
            added.push(meta.allocate(tx)?);
        }
        let pages: Vec<&PageBuf> = bucket.pages[..keep].iter().chain(&added).collect();
        self.write_runs(tx, bucket, &runs, &pages)?;
        for surplus in &bucket.pages[keep..] {
            meta.free(tx, &surplus.block, &surplus.bytes)?;
        }
        Ok(())
    }

    /// Writes the bucket's cells, cut into `runs`, over `pages` (one per run, as read),
    /// writing only the bytes that change. Each page is encoded over its old bytes: past its
    /// last cell they stay as they were (free space, never read), so removing a cell or
    /// moving one does not also write zeros over the bytes it left.
    fn write_runs(
        &self,
        tx: &mut Transaction<'_>,
        bucket: &Bucket,
        runs: &[std::ops::Range<usize>],
        pages: &[&PageBuf],
    ) -> Result<()> {
        for (i, run) in runs.iter().enumerate() {
            let next = pages.get(i + 1).map_or(0, |p| p.block.number());
            let mut page = pages[i].clone();
            encode_bucket(&mut page, bucket.depth, next, &bucket.cells[run.clone()]);
            write_diff(tx, &pages[i].bytes, &page)?;
        }
        Ok(())
    }

    /// Stores the bucket if its cells pack into exactly the pages it has — nothing to
    /// allocate or free, so the meta page is not needed — and says whether it did.
    pub(super) fn store_in_place(&self, tx: &mut Transaction<'_>, bucket: &Bucket) -> Result<bool> {
        let runs = pack(&bucket.cells, self.limits.usable);
        if runs.len() != bucket.pages.len() {
            return Ok(false);
        }
        let pages: Vec<&PageBuf> = bucket.pages.iter().collect();
        self.write_runs(tx, bucket, &runs, &pages)?;
        Ok(true)
    }
    // ANCHOR_END: store_bucket
}
