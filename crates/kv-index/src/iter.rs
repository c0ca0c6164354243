//! Range and prefix scans over a [`BTree`]: walk down to the first leaf, then along the
//! leaf links, forward or backward.

use std::ops::{Bound, RangeBounds};

use kv_tx::PageRead;

use crate::btree::BTree;
use crate::cycle::CycleGuard;
use crate::lookup::Target;
use crate::node::{leaf_key, leaf_value, search, Step, Value};
use crate::page::{Kind, PageBuf, COUNT, HEADER_END, LINK, LINK2};
use crate::Result;

// ANCHOR: leaf_copy
/// One leaf, copied out of its page once; its entries are decoded only as the scan reaches
/// them. (Decoding the whole leaf, as a change does, cost a scan of 10 entries some 40
/// allocations for the 20 it did not return; a range read took 2.1× redb's time.)
struct Leaf {
    /// The page's bytes, a copy: the scan holds no latch between entries.
    page: PageBuf,
    /// Its entries, checked against the page's size.
    count: usize,
}
// ANCHOR_END: leaf_copy

impl Leaf {
    /// Leaf `number` with its `(prev, next)` links; `None` if the page is an internal node.
    fn read(tree: &BTree, tx: &mut impl PageRead, number: u64) -> Result<Option<(Leaf, u64, u64)>> {
        let page = PageBuf::read(tx, tree.block(number), tree.limits.capacity)?;
        if page.kind()? != Kind::Leaf {
            page.expect(Kind::Internal)?;
            return Ok(None);
        }
        let count = usize::from(page.u16(COUNT));
        if HEADER_END + 2 * count > page.bytes.len() {
            return Err(page.corrupt(format!("{count} slots do not fit in the page")));
        }
        let (prev, next) = (page.u64(LINK2), page.u64(LINK));
        Ok(Some((Leaf { page, count }, prev, next)))
    }

    /// The key of entry `i`.
    fn key(&self, i: usize) -> Result<&[u8]> {
        leaf_key(&self.page.bytes, self.count, i).map_err(|reason| self.page.corrupt(reason))
    }

    /// The value (or overflow reference) of entry `i`.
    fn value(&self, i: usize) -> Result<Value> {
        leaf_value(&self.page.bytes, i).map_err(|reason| self.page.corrupt(reason))
    }

    /// How many entries sort before `key` (`after`: also those equal to it).
    fn position(&self, key: &[u8], after: bool) -> Result<usize> {
        match search(&self.page.bytes, key).map_err(|reason| self.page.corrupt(reason))? {
            Step::Leaf(Ok(i)) if after => Ok(i + 1),
            Step::Leaf(Ok(i) | Err(i)) => Ok(i),
            Step::Child { .. } => Err(self.page.corrupt("a leaf reads as an internal node")),
        }
    }
}

/// A walk along the leaf links that cannot loop: each leaf must link back to the one the
/// walk came from, and the walk visits at most as many leaves as the index has pages. A
/// damaged link is `Corrupt`, never an endless scan.
struct LeafWalk {
    /// The leaf the walk is on (0 before the first).
    current: u64,
    /// Leaves the walk may still visit (before the high-water mark is read again).
    budget: u64,
    /// The budget last granted.
    allowed: u64,
    /// Leaves visited under earlier budgets.
    visited_before: u64,
    /// Following `prev` links instead of `next`.
    reverse: bool,
    /// For when the high-water mark is damaged too, making the budget useless.
    cycle: CycleGuard,
}

impl LeafWalk {
    /// A walk bounded by the tree's size: a walk visiting more leaves than the tree has
    /// blocks is going round a cycle (a damaged link). The size is read at the first step to
    /// another leaf — most short ranges never take one, and the meta page was one page in
    /// four of a range read of 10 — which is after the descent locked the tree (shared): no
    /// compaction can then be lowering the high-water mark.
    fn new(reverse: bool) -> LeafWalk {
        LeafWalk {
            current: 0,
            budget: 0,
            allowed: 0,
            visited_before: 0,
            reverse,
            cycle: CycleGuard::new(),
        }
    }

    /// Reads leaf `number`, checks it links back, and returns it and the next link.
    fn visit(&mut self, tree: &BTree, tx: &mut impl PageRead, number: u64) -> Result<(Leaf, u64)> {
        let corrupt = |reason: &str| crate::Error::Corrupt {
            block: tree.block(number),
            reason: reason.into(),
        };
        if self.budget == 0 {
            // The first step to another leaf, or longer than the tree was when the mark was
            // last read: it may have grown meanwhile (the mark is read without a lock), so
            // read it (again) before calling the walk a cycle.
            self.visited_before += self.allowed;
            let now = tree.peek_high_water(tx)?;
            if now <= self.visited_before {
                return Err(corrupt("the leaf links run in a cycle"));
            }
            self.allowed = now - self.visited_before;
            self.budget = self.allowed;
        }
        self.budget -= 1;
        if self.cycle.repeats(number) {
            return Err(corrupt("the leaf links run in a cycle"));
        }
        match Leaf::read(tree, tx, number)? {
            Some((leaf, prev, next)) => {
                let (back, onward) = if self.reverse {
                    (next, prev)
                } else {
                    (prev, next)
                };
                if self.current != 0 && back != self.current {
                    return Err(corrupt("a leaf does not link back to its neighbour"));
                }
                self.current = number;
                Ok((leaf, onward))
            }
            None => Err(corrupt("a leaf link points at an internal node")),
        }
    }
}

/// Entries of a [`BTree`] in key order (or reverse order), read through a transaction.
/// Each item is a `(key, value)` pair or the error that ended the scan.
pub struct Range<'t, T: PageRead> {
    /// The tree scanned.
    tree: BTree,
    /// The transaction it reads through.
    tx: &'t mut T,
    /// The current leaf.
    leaf: Leaf,
    /// Forward: the next entry to yield. Backward: one past it.
    pos: usize,
    /// The leaf after (forward) or before (backward) the current one; 0 at the end.
    neighbour: u64,
    /// Where forward iteration stops (backward: where it starts).
    upper: Bound<Vec<u8>>,
    /// Where backward iteration stops (forward: where it starts).
    lower: Bound<Vec<u8>>,
    /// Keys must start with this (a prefix scan).
    prefix: Option<Vec<u8>>,
    /// Backward, in reverse key order.
    reverse: bool,
    /// Set once exhausted or failed.
    done: bool,
    /// The walk along the leaf links.
    walk: LeafWalk,
}

impl BTree {
    // ANCHOR: range
    /// The entries with keys in `range`, in key order.
    ///
    /// ```
    /// # use kv_index::BTree;
    /// # use kv_file::MemStorage;
    /// # use kv_tx::{TxManager, TxOptions};
    /// # let db = TxManager::open_with(MemStorage::new(), TxOptions::default()).unwrap();
    /// # let mut tx = db.begin().unwrap();
    /// let tree = BTree::create(&mut tx, "t")?;
    /// for key in [b"a", b"b", b"c"] {
    ///     tree.insert(&mut tx, key, b"v")?;
    /// }
    /// let keys: Vec<Vec<u8>> = tree
    ///     .range(&mut tx, &b"b"[..]..)?
    ///     .map(|entry| entry.map(|(key, _)| key))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(keys, [b"b".to_vec(), b"c".to_vec()]);
    /// # Ok::<(), kv_index::Error>(())
    /// ```
    pub fn range<'t, 'k, T: PageRead>(
        &self,
        tx: &'t mut T,
        range: impl RangeBounds<&'k [u8]>,
    ) -> Result<Range<'t, T>> {
        Range::new(self, tx, bounds(&range), None, false)
    }

    /// The entries with keys in `range`, in reverse key order.
    pub fn range_rev<'t, 'k, T: PageRead>(
        &self,
        tx: &'t mut T,
        range: impl RangeBounds<&'k [u8]>,
    ) -> Result<Range<'t, T>> {
        Range::new(self, tx, bounds(&range), None, true)
    }
    // ANCHOR_END: range

    /// The entries whose keys start with `prefix`, in key order.
    pub fn prefix<'t, T: PageRead>(&self, tx: &'t mut T, prefix: &[u8]) -> Result<Range<'t, T>> {
        let lower = Bound::Included(prefix.to_vec());
        Range::new(
            self,
            tx,
            (lower, Bound::Unbounded),
            Some(prefix.to_vec()),
            false,
        )
    }

    /// The number of entries. **A scan** of every leaf (values are not read): the tree keeps
    /// no count, because a count in the meta page would make every insert and delete write
    /// that one page — and lock it — serializing all writers.
    pub fn len(&self, tx: &mut impl PageRead) -> Result<u64> {
        let mut number = self.leftmost_leaf(tx)?;
        let mut walk = LeafWalk::new(false);
        let mut count = 0;
        while number != 0 {
            let (leaf, next) = walk.visit(self, tx, number)?;
            count += leaf.count as u64;
            number = next;
        }
        Ok(count)
    }

    /// Whether the tree is empty (reads the root, and its leftmost leaf if the root is not one).
    pub fn is_empty(&self, tx: &mut impl PageRead) -> Result<bool> {
        let leaf = self.leftmost_leaf(tx)?;
        Ok(self.read_node(tx, leaf)?.is_empty())
    }

    fn leftmost_leaf(&self, tx: &mut impl PageRead) -> Result<u64> {
        let path = self.descend(tx, Target::First, |tx, b| tx.lock_shared(b))?;
        Ok(path[path.len() - 1])
    }
}

fn bounds<'k>(range: &impl RangeBounds<&'k [u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let own = |b: Bound<&&[u8]>| match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

impl<'t, T: PageRead> Range<'t, T> {
    fn new(
        tree: &BTree,
        tx: &'t mut T,
        (lower, upper): (Bound<Vec<u8>>, Bound<Vec<u8>>),
        prefix: Option<Vec<u8>>,
        reverse: bool,
    ) -> Result<Self> {
        // Walk down towards the end we start from.
        let target = if reverse { &upper } else { &lower };
        let to = match target {
            Bound::Included(k) | Bound::Excluded(k) => Target::Key(k),
            Bound::Unbounded if reverse => Target::Last,
            Bound::Unbounded => Target::First,
        };
        let path = tree.descend(tx, to, |tx, b| tx.lock_shared(b))?;
        let number = path[path.len() - 1];
        let mut walk = LeafWalk::new(reverse);
        let (leaf, link) = match Leaf::read(tree, tx, number)? {
            Some((leaf, prev, next)) => {
                walk.current = number;
                (leaf, if reverse { prev } else { next })
            }
            None => return Err(tree.conflict(number)),
        };
        let pos = match (target, reverse) {
            (Bound::Unbounded, false) => 0,
            (Bound::Unbounded, true) => leaf.count,
            (Bound::Included(k), false) | (Bound::Excluded(k), true) => leaf.position(k, false)?,
            (Bound::Excluded(k), false) | (Bound::Included(k), true) => leaf.position(k, true)?,
        };
        Ok(Range {
            tree: tree.clone(),
            tx,
            leaf,
            pos,
            neighbour: link,
            upper,
            lower,
            prefix,
            reverse,
            done: false,
            walk,
        })
    }

    /// The next entry's position in the current leaf, moving to the neighbouring leaf as
    /// needed.
    fn step(&mut self) -> Result<Option<usize>> {
        loop {
            let available = if self.reverse {
                self.pos > 0
            } else {
                self.pos < self.leaf.count
            };
            if available {
                return Ok(Some(if self.reverse {
                    self.pos -= 1;
                    self.pos
                } else {
                    self.pos += 1;
                    self.pos - 1
                }));
            }
            if self.neighbour == 0 {
                return Ok(None);
            }
            let (leaf, onward) = self.walk.visit(&self.tree, self.tx, self.neighbour)?;
            self.neighbour = onward;
            self.pos = if self.reverse { leaf.count } else { 0 };
            self.leaf = leaf;
        }
    }

    /// The next entry within the bounds, its value read.
    fn entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(i) = self.step()? else {
            return Ok(None);
        };
        let key = self.leaf.key(i)?;
        if self.past_end(key) {
            return Ok(None);
        }
        let key = key.to_vec();
        let value = self.leaf.value(i)?;
        Ok(Some((key, self.tree.value(self.tx, value)?)))
    }

    /// Whether `key` is past the end the scan is heading for.
    fn past_end(&self, key: &[u8]) -> bool {
        if let Some(prefix) = &self.prefix {
            if !key.starts_with(prefix) {
                return true;
            }
        }
        if self.reverse {
            match &self.lower {
                Bound::Included(k) => key < k.as_slice(),
                Bound::Excluded(k) => key <= k.as_slice(),
                Bound::Unbounded => false,
            }
        } else {
            match &self.upper {
                Bound::Included(k) => key > k.as_slice(),
                Bound::Excluded(k) => key >= k.as_slice(),
                Bound::Unbounded => false,
            }
        }
    }
}

impl<T: PageRead> Iterator for Range<'_, T> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let entry = self.entry().transpose();
        if !matches!(entry, Some(Ok(_))) {
            self.done = true;
        }
        entry
    }
}

impl<T: PageRead> std::fmt::Debug for Range<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Range")
            .field("file", &self.tree.file())
            .field("reverse", &self.reverse)
            .field("done", &self.done)
            .finish()
    }
}
