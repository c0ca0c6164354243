//! `BTree`: a B+tree of byte-string keys and values on slotted pages, every change made
//! through a [`Transaction`].

use std::sync::Arc;

use kv_file::BlockId;
use kv_tx::{PageRead, Transaction};

use crate::node::{
    internal_cell_size, leaf_cell_size, leaf_insert_in_place, leaf_live_bytes,
    leaf_remove_in_place, leaf_value, Changed, Limits, Node, Value,
};
use crate::overflow::{free_chain, read_value, write_chain};
use crate::page::{write_diff, IndexType, Meta, PageBuf};
use crate::{Error, Index, Result};

/// The deepest tree a walk accepts before calling the file corrupt (a cycle of pages). A
/// tree of 4 KiB pages with 1 KiB keys holds more than 3^40 keys at depth 40.
pub(crate) const MAX_DEPTH: usize = 40;

/// A B+tree stored in one file: block 0 is the meta page, the rest are nodes, overflow pages
/// and free pages. The handle holds no pages and no locks: every call works through the
/// transaction it is given, so the tree inherits atomicity, durability, locking — and, for
/// reads through a `ReadTransaction`, snapshots.
#[derive(Debug, Clone)]
pub struct BTree {
    /// The file holding the tree.
    pub(crate) file: Arc<str>,
    /// Size limits for this page size.
    pub(crate) limits: Limits,
}

/// What a change below did to a node, for its parent to deal with.
enum Outcome {
    /// Nothing the parent must do.
    Fine,
    /// The node is under its minimum fill: merge it with a sibling, or refill it from one.
    Underflow,
    /// The node split: insert this separator and new right sibling.
    Split(Vec<u8>, u64),
}

/// The meta page, read only when an operation needs more than the root from it (to
/// allocate or free a page, or to change the root): most inserts and deletes never do.
#[derive(Default)]
struct LazyMeta(Option<Meta>);

impl LazyMeta {
    fn get(&mut self, tree: &BTree, tx: &mut Transaction<'_>) -> Result<&mut Meta> {
        if self.0.is_none() {
            // Locked exclusively before it is read: it is read only to be changed, and
            // two writers that read it shared would deadlock upgrading.
            tx.lock(&tree.block(0), kv_tx::LockMode::Exclusive)?;
            self.0 = Some(tree.meta(tx)?);
        }
        Ok(self.0.as_mut().expect("just loaded"))
    }

    /// Writes the meta page back if it was read (and changed).
    fn save(&mut self, tx: &mut Transaction<'_>) -> Result<()> {
        match &mut self.0 {
            Some(meta) => meta.save(tx),
            None => Ok(()),
        }
    }
}

/// A node with the bytes of its page as read (for the diff written back).
struct Loaded {
    /// The page's bytes as read.
    page: PageBuf,
    /// The node decoded from them.
    node: Node,
}

impl BTree {
    // ANCHOR: create
    /// Makes the empty file `file` a B+tree: a meta page and an empty root leaf.
    pub fn create(tx: &mut Transaction<'_>, file: &str) -> Result<BTree> {
        let mut meta = Meta::create(tx, file, IndexType::BTree)?;
        let tree = BTree::handle(file, tx.page_capacity());
        let root = meta.allocate(tx)?;
        tree.store(tx, &root, &Node::empty_leaf())?;
        meta.set_root(root.block.number());
        meta.save(tx)?;
        Ok(tree)
    }
    // ANCHOR_END: create

    /// Opens the B+tree in `file`, checking that it is one.
    pub fn open(tx: &mut impl PageRead, file: &str) -> Result<BTree> {
        let capacity = tx.page_capacity();
        Meta::load(tx, file, IndexType::BTree, capacity)?;
        Ok(BTree::handle(file, capacity))
    }

    fn handle(file: &str, capacity: usize) -> BTree {
        BTree {
            file: Arc::from(file),
            limits: Limits::new(capacity),
        }
    }

    /// The file holding the tree.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The largest key this tree accepts (1 KiB with 4 KiB pages; less with small pages).
    pub fn max_key(&self) -> usize {
        self.limits.max_key
    }

    pub(crate) fn block(&self, number: u64) -> BlockId {
        BlockId::new(Arc::clone(&self.file), number)
    }

    pub(crate) fn meta(&self, tx: &mut impl PageRead) -> Result<Meta> {
        Meta::load(tx, &self.file, IndexType::BTree, self.limits.capacity)
    }

    fn load(&self, tx: &mut impl PageRead, number: u64) -> Result<Loaded> {
        let page = PageBuf::read(tx, self.block(number), self.limits.capacity)?;
        let node = Node::decode(&page)?;
        Ok(Loaded { page, node })
    }

    pub(crate) fn read_node(&self, tx: &mut impl PageRead, number: u64) -> Result<Node> {
        Ok(self.load(tx, number)?.node)
    }

    /// Writes `node` over the page whose current bytes are `old`, logging only the bytes
    /// that changed.
    fn store(&self, tx: &mut Transaction<'_>, old: &PageBuf, node: &Node) -> Result<()> {
        let mut page = PageBuf::zeroed(old.block.clone(), self.limits.capacity);
        node.encode(&mut page);
        write_diff(tx, &old.bytes, &page)
    }

    /// A value's bytes, from the cell or its overflow chain.
    pub(crate) fn value(&self, tx: &mut impl PageRead, value: Value) -> Result<Vec<u8>> {
        read_value(tx, &self.file, value)
    }

    pub(crate) fn too_deep(&self) -> Error {
        Error::Corrupt {
            block: self.block(0),
            reason: format!("the tree is deeper than {MAX_DEPTH} levels (a cycle of pages?)"),
        }
    }

    // ANCHOR: insert
    /// Stores `value` under `key`, replacing any value there; returns the value replaced.
    /// A key or value over the limits is refused before anything changes; after any other
    /// error — a deadlock included — the transaction must be rolled back (and may be retried).
    pub fn insert(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.upsert(tx, key, value, true)?.flatten())
    }

    /// The upsert behind `insert` and `put`: `None` if the key was new, else `Some` of the
    /// old value's bytes if `want_old` (an overflow value is freed without being read if not).
    fn upsert(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        value: &[u8],
        want_old: bool,
    ) -> Result<Option<Option<Vec<u8>>>> {
        self.limits.check_entry(key, value)?;
        let mut meta = LazyMeta::default();
        // The leaf, then the meta page (an overflow chain allocates from it), then parents:
        // every writer locks in that order.
        let path = self.descend_for_change(tx, key)?;
        let stored = if self.limits.inline(key.len(), value.len()) {
            Value::Inline(value.to_vec())
        } else {
            let meta = meta.get(self, tx)?;
            Value::Overflow {
                first: write_chain(tx, meta, value)?,
                len: value.len() as u32,
            }
        };
        let mut old = None;
        let outcome = self.insert_at(tx, &mut meta, &path, 0, key, stored, &mut old)?;
        if let Outcome::Split(separator, right) = outcome {
            self.grow(tx, &mut meta, path[0], separator, right)?;
        }
        let old = match old {
            Some(value) => Some(self.release(tx, &mut meta, value, want_old)?),
            None => None,
        };
        meta.save(tx)?;
        Ok(old)
    }
    // ANCHOR_END: insert

    /// The root split: a new root above the two halves; the tree grows by one level.
    fn grow(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut LazyMeta,
        root: u64,
        separator: Vec<u8>,
        right: u64,
    ) -> Result<()> {
        let meta = meta.get(self, tx)?;
        if meta.root() != root {
            return Err(self.conflict(root)); // another transaction grew the tree meanwhile
        }
        let new_root = meta.allocate(tx)?;
        let node = Node::Internal {
            first: root,
            cells: vec![(separator, right)],
        };
        self.store(tx, &new_root, &node)?;
        meta.set_root(new_root.block.number());
        Ok(())
    }

    /// Frees what a replaced or deleted value held, returning its bytes if `want` them.
    fn release(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut LazyMeta,
        value: Value,
        want: bool,
    ) -> Result<Option<Vec<u8>>> {
        let chain = match value {
            Value::Overflow { first, .. } => Some(first),
            Value::Inline(_) => None,
        };
        let bytes = if want {
            Some(self.value(tx, value)?)
        } else {
            None
        };
        if let Some(first) = chain {
            let meta = meta.get(self, tx)?;
            free_chain(tx, meta, &self.file, first)?;
        }
        Ok(bytes)
    }

    /// Inserts below `path[depth]` (the way down `descend` found; the leaf locked). A node is
    /// decoded only to be changed — the leaf, and a parent whose child split.
    #[allow(clippy::too_many_arguments)] // the recursion's state
    fn insert_at(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut LazyMeta,
        path: &[u64],
        depth: usize,
        key: &[u8],
        value: Value,
        old: &mut Option<Value>,
    ) -> Result<Outcome> {
        let number = path[depth];
        match path.get(depth + 1) {
            Some(&child) => {
                match self.insert_at(tx, meta, path, depth + 1, key, value, old)? {
                    Outcome::Split(separator, right) => {
                        // The parent was not locked on the way down: find the child in it
                        // again (a sibling's split may have shifted it, or moved it away).
                        let (page, mut node) = self.load_inner_for_change(tx, number)?;
                        let pos = node
                            .position_of(child)
                            .ok_or_else(|| self.conflict(number))?;
                        if let Node::Internal { cells, .. } = &mut node {
                            cells.insert(pos, (separator, right));
                        }
                        self.finish(tx, meta, &page, node)
                    }
                    Outcome::Fine | Outcome::Underflow => Ok(Outcome::Fine),
                }
            }
            None => {
                // Usually the cell fits in the leaf's free gap: write it there, shift the
                // slots after it, and log just those bytes.
                let (found, mut page) = self.leaf_to_change(tx, number, key)?;
                let mut changed = Vec::new();
                let index = match found {
                    Ok(i) => {
                        let value =
                            leaf_value(&page.bytes, i).map_err(|reason| page.corrupt(reason))?;
                        let removed = leaf_remove_in_place(&mut page, i);
                        changed
                            .extend(removed.ok_or_else(|| page.corrupt("slots outside the page"))?);
                        *old = Some(value);
                        i
                    }
                    Err(i) => i,
                };
                if let Some(more) = leaf_insert_in_place(&mut page, index, key, &value) {
                    changed.extend(more);
                    write_ranges(tx, &page, changed)?;
                    return Ok(Outcome::Fine);
                }
                // No room in the gap: decode, change, and re-encode (packing), or split.
                let Loaded { page, mut node } = self.load(tx, number)?;
                if let Node::Leaf { cells, .. } = &mut node {
                    match cells.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
                        Ok(i) => *old = Some(std::mem::replace(&mut cells[i].1, value)),
                        Err(i) => cells.insert(i, (key.to_vec(), value)),
                    }
                }
                self.finish(tx, meta, &page, node)
            }
        }
    }

    // ANCHOR: split
    /// Writes a changed node, splitting it first if it no longer fits: the upper half moves
    /// to a new page (for a leaf, linked in after it; for an internal node, the middle
    /// separator moves up instead of being copied). Reports an underfull node too.
    fn finish(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut LazyMeta,
        page: &PageBuf,
        node: Node,
    ) -> Result<Outcome> {
        if node.used() <= self.limits.usable {
            let underflow = node.used() < self.limits.min_fill;
            self.store(tx, page, &node)?;
            return Ok(if underflow {
                Outcome::Underflow
            } else {
                Outcome::Fine
            });
        }
        let right_block = meta.get(self, tx)?.allocate(tx)?;
        let right_number = right_block.block.number();
        let (left, right, separator) = match node {
            Node::Leaf {
                prev,
                next,
                mut cells,
            } => {
                let sizes: Vec<usize> = cells.iter().map(|(k, v)| leaf_cell_size(k, v)).collect();
                let at = split_point(&sizes, false);
                let upper = cells.split_off(at);
                let separator = upper[0].0.clone();
                if next != 0 {
                    self.relink(tx, next, |n| {
                        if let Node::Leaf { prev, .. } = n {
                            *prev = right_number
                        }
                    })?;
                }
                let left = Node::Leaf {
                    prev,
                    next: right_number,
                    cells,
                };
                let right = Node::Leaf {
                    prev: page.block.number(),
                    next,
                    cells: upper,
                };
                (left, right, separator)
            }
            Node::Internal { first, mut cells } => {
                let sizes: Vec<usize> = cells.iter().map(|(k, _)| internal_cell_size(k)).collect();
                let at = split_point(&sizes, true);
                let mut upper = cells.split_off(at);
                let (separator, right_first) = upper.remove(0);
                let left = Node::Internal { first, cells };
                let right = Node::Internal {
                    first: right_first,
                    cells: upper,
                };
                (left, right, separator)
            }
        };
        self.store(tx, page, &left)?;
        self.store(tx, &right_block, &right)?;
        Ok(Outcome::Split(separator, right_number))
    }
    // ANCHOR_END: split

    /// Changes the leaf `number` with `change` (its neighbour links after a split or merge).
    fn relink(
        &self,
        tx: &mut Transaction<'_>,
        number: u64,
        change: impl FnOnce(&mut Node),
    ) -> Result<()> {
        let Loaded { page, mut node } = self.load(tx, number)?;
        change(&mut node);
        self.store(tx, &page, &node)
    }

    // ANCHOR: delete
    /// Removes `key`; returns the value it had. After any error — a deadlock included: it can
    /// strike half-way through a merge — the transaction must be rolled back; a deadlock is
    /// retryable (roll back and run the transaction again).
    pub fn delete(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.remove_key(tx, key, true)?.flatten())
    }

    /// The removal behind `delete` and `remove`: `None` if the key was not there, else
    /// `Some` of its value's bytes if `want_old`.
    fn remove_key(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        want_old: bool,
    ) -> Result<Option<Option<Vec<u8>>>> {
        if key.len() > self.limits.max_key {
            return Ok(None); // never stored
        }
        let mut meta = LazyMeta::default();
        let path = self.descend_for_change(tx, key)?;
        let root = path[0];
        let mut old = None;
        match self.delete_at(tx, &mut meta, &path, 0, key, &mut old)? {
            // Refilling a node can lengthen a separator and split its parent, up to the root.
            Outcome::Split(separator, right) => self.grow(tx, &mut meta, root, separator, right)?,
            // A root that is a leaf may be as empty as it likes: nothing to do (and no reason
            // to lock the meta page, which would hold up every allocator to our end).
            Outcome::Underflow if path.len() == 1 => {}
            // An internal root left with one child gives way to it: the tree shrinks a level.
            Outcome::Underflow => loop {
                let root = meta.get(self, tx)?.root();
                let loaded = self.load(tx, root)?;
                match &loaded.node {
                    Node::Internal { first, cells } if cells.is_empty() => {
                        let meta = meta.get(self, tx)?;
                        meta.set_root(*first);
                        meta.free(tx, &loaded.page.block, &loaded.page.bytes)?;
                    }
                    _ => break,
                }
            },
            Outcome::Fine => {}
        }
        let old = match old {
            Some(value) => Some(self.release(tx, &mut meta, value, want_old)?),
            None => None,
        };
        meta.save(tx)?;
        Ok(old)
    }
    // ANCHOR_END: delete

    fn delete_at(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut LazyMeta,
        path: &[u64],
        depth: usize,
        key: &[u8],
        old: &mut Option<Value>,
    ) -> Result<Outcome> {
        let number = path[depth];
        let Some(&child) = path.get(depth + 1) else {
            let (found, mut page) = self.leaf_to_change(tx, number, key)?;
            let Ok(i) = found else {
                return Ok(Outcome::Fine); // not there: nothing changes
            };
            // Drop the slot in place (the cell's bytes stay as garbage until the leaf is
            // next re-encoded); the parent rebalances if the leaf is now underfull.
            *old = Some(leaf_value(&page.bytes, i).map_err(|reason| page.corrupt(reason))?);
            let changed = leaf_remove_in_place(&mut page, i)
                .ok_or_else(|| page.corrupt("slots outside the page"))?;
            let live = leaf_live_bytes(&page).map_err(|reason| page.corrupt(reason))?;
            write_ranges(tx, &page, changed)?;
            return Ok(if live < self.limits.min_fill {
                Outcome::Underflow
            } else {
                Outcome::Fine
            });
        };
        let outcome = self.delete_at(tx, meta, path, depth + 1, key, old)?;
        if let Outcome::Fine = outcome {
            return Ok(Outcome::Fine);
        }
        // Not locked on the way down: find the child in it again.
        let (page, mut node) = self.load_inner_for_change(tx, number)?;
        let pos = node
            .position_of(child)
            .ok_or_else(|| self.conflict(number))?;
        match outcome {
            Outcome::Underflow => self.rebalance(tx, meta, &mut node, pos)?,
            Outcome::Split(separator, right) => {
                if let Node::Internal { cells, .. } = &mut node {
                    cells.insert(pos, (separator, right));
                }
            }
            Outcome::Fine => {}
        }
        self.finish(tx, meta, &page, node)
    }

    // ANCHOR: rebalance
    /// Child `pos` of `parent` is underfull: merge it with a neighbour if the two fit in one
    /// page (freeing the right one), else share the neighbours' cells out evenly and change
    /// the separator between them.
    fn rebalance(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut LazyMeta,
        parent: &mut Node,
        pos: usize,
    ) -> Result<()> {
        if parent.children() < 2 {
            return Ok(()); // no neighbour: the root collapses instead
        }
        let (left_pos, right_pos) = if pos > 0 { (pos - 1, pos) } else { (0, 1) };
        let left = self.load(tx, parent.child_at(left_pos))?;
        let right = self.load(tx, parent.child_at(right_pos))?;
        let Node::Internal {
            cells: parent_cells,
            ..
        } = parent
        else {
            return Ok(());
        };
        let separator = parent_cells[right_pos - 1].0.clone();
        match (left.node.clone(), right.node.clone()) {
            (
                Node::Leaf {
                    prev,
                    next: _,
                    cells: mut lc,
                },
                Node::Leaf {
                    next, cells: rc, ..
                },
            ) => {
                lc.extend(rc);
                let total: usize = lc.iter().map(|(k, v)| leaf_cell_size(k, v)).sum();
                if total <= self.limits.usable {
                    if next != 0 {
                        let left_number = left.page.block.number();
                        self.relink(tx, next, |n| {
                            if let Node::Leaf { prev, .. } = n {
                                *prev = left_number
                            }
                        })?;
                    }
                    self.store(
                        tx,
                        &left.page,
                        &Node::Leaf {
                            prev,
                            next,
                            cells: lc,
                        },
                    )?;
                    meta.get(self, tx)?
                        .free(tx, &right.page.block, &right.page.bytes)?;
                    parent_cells.remove(right_pos - 1);
                } else {
                    let sizes: Vec<usize> = lc.iter().map(|(k, v)| leaf_cell_size(k, v)).collect();
                    let at = split_point(&sizes, false);
                    let upper = lc.split_off(at);
                    if sum(&sizes[..at]) > self.limits.usable
                        || sum(&sizes[at..]) > self.limits.usable
                    {
                        return Ok(()); // no even share fits: leave it underfull (never empty)
                    }
                    parent_cells[right_pos - 1].0 = upper[0].0.clone();
                    let right_number = right.page.block.number();
                    let (left_prev, right_next) = (prev, next);
                    self.store(
                        tx,
                        &left.page,
                        &Node::Leaf {
                            prev: left_prev,
                            next: right_number,
                            cells: lc,
                        },
                    )?;
                    let new_right = Node::Leaf {
                        prev: left.page.block.number(),
                        next: right_next,
                        cells: upper,
                    };
                    self.store(tx, &right.page, &new_right)?;
                }
            }
            (
                Node::Internal {
                    first,
                    cells: mut lc,
                },
                Node::Internal {
                    first: right_first,
                    cells: rc,
                },
            ) => {
                lc.push((separator, right_first));
                lc.extend(rc);
                let sizes: Vec<usize> = lc.iter().map(|(k, _)| internal_cell_size(k)).collect();
                if sum(&sizes) <= self.limits.usable {
                    self.store(tx, &left.page, &Node::Internal { first, cells: lc })?;
                    meta.get(self, tx)?
                        .free(tx, &right.page.block, &right.page.bytes)?;
                    parent_cells.remove(right_pos - 1);
                } else {
                    let at = split_point(&sizes, true);
                    if sum(&sizes[..at]) > self.limits.usable
                        || sum(&sizes[at + 1..]) > self.limits.usable
                    {
                        return Ok(());
                    }
                    let mut upper = lc.split_off(at);
                    let (new_separator, new_first) = upper.remove(0);
                    parent_cells[right_pos - 1].0 = new_separator;
                    self.store(tx, &left.page, &Node::Internal { first, cells: lc })?;
                    self.store(
                        tx,
                        &right.page,
                        &Node::Internal {
                            first: new_first,
                            cells: upper,
                        },
                    )?;
                }
            }
            _ => {
                return Err(Error::Corrupt {
                    block: left.page.block.clone(),
                    reason: "siblings at one level are a leaf and an internal node".into(),
                })
            }
        }
        Ok(())
    }
    // ANCHOR_END: rebalance
}

/// Writes the `changed` ranges of `page` (merging those that overlap or nearly touch: one
/// log record is cheaper than two for a few bytes between them).
fn write_ranges(tx: &mut Transaction<'_>, page: &PageBuf, mut changed: Vec<Changed>) -> Result<()> {
    changed.retain(|&(_, len)| len > 0);
    changed.sort_unstable();
    let mut merged: Vec<Changed> = Vec::with_capacity(changed.len());
    for (at, len) in changed {
        match merged.last_mut() {
            Some((start, span)) if at <= *start + *span + 16 => {
                *span = (*span).max(at + len - *start)
            }
            _ => merged.push((at, len)),
        }
    }
    let runs: Vec<(usize, &[u8])> = merged
        .into_iter()
        .map(|(at, len)| (at, &page.bytes[at..at + len]))
        .collect();
    Ok(tx.write_runs(&page.block, &runs)?)
}

fn sum(sizes: &[usize]) -> usize {
    sizes.iter().sum()
}

/// Where to cut cells of these sizes into two halves of nearly equal bytes. Both halves keep
/// at least one cell when there are at least two cells (three with `middle_moves_up`: an
/// internal node's cell at the cut goes to the parent); the size limits guarantee that much
/// whenever a node overflows.
fn split_point(sizes: &[usize], middle_moves_up: bool) -> usize {
    let total = sum(sizes);
    let (lo, hi) = if middle_moves_up {
        (1, sizes.len().saturating_sub(2).max(1))
    } else {
        (1, sizes.len().saturating_sub(1).max(1))
    };
    let mut best = lo;
    let mut best_gap = usize::MAX;
    let mut left = 0;
    for (at, size) in sizes.iter().enumerate() {
        if at >= lo && at <= hi {
            let right = total - left - if middle_moves_up { *size } else { 0 };
            let gap = left.abs_diff(right);
            if gap < best_gap {
                (best, best_gap) = (at, gap);
            }
        }
        left += size;
    }
    best
}

impl Index for BTree {
    fn get(&self, tx: &mut impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>> {
        BTree::get(self, tx, key)
    }

    fn insert(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        BTree::insert(self, tx, key, value)
    }

    fn put(&self, tx: &mut Transaction<'_>, key: &[u8], value: &[u8]) -> Result<()> {
        self.upsert(tx, key, value, false).map(drop)
    }

    fn remove(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<bool> {
        Ok(self.remove_key(tx, key, false)?.is_some())
    }

    fn delete(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        BTree::delete(self, tx, key)
    }
}

#[cfg(test)]
mod tests {
    use super::split_point;

    #[test]
    fn split_points_balance_bytes_and_leave_both_sides_something() {
        assert_eq!(split_point(&[10, 10, 10, 10], false), 2);
        assert_eq!(split_point(&[100, 1, 1, 1], false), 1);
        assert_eq!(split_point(&[1, 1, 1, 100], false), 3);
        assert_eq!(split_point(&[5, 5], false), 1);
        assert_eq!(split_point(&[10, 10, 10], true), 1);
        assert_eq!(split_point(&[1, 1, 50, 1, 1], true), 2);
    }
}
