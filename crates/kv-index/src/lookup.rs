//! Finding the way down: the descent every operation shares (upper levels read without
//! locks and checked afterwards), `get`, `get_for_update`, and the tree-wide lock.

use byteorder::{ByteOrder, LittleEndian as LE};
use kv_file::BlockId;
use kv_tx::{LockMode, PageRead, Transaction, PAGE_LSN_SIZE};

use crate::btree::{BTree, MAX_DEPTH};
use crate::node::{child_in, leaf_value, search, Node, Step, Value};
use crate::page::{Kind, Meta, PageBuf, COUNT};
use crate::{Error, Result};

/// The lock every operation of a read-write transaction takes, shared, on the tree as a
/// whole (a lock-table key past any real block): compaction and dropping the tree take it
/// exclusively, to have the tree to themselves.
const TREE_LOCK: u64 = u64::MAX - 1;
/// Descents restarted because the tree changed under them, before giving up.
const MAX_RESTARTS: usize = 1000;

/// Where a descent goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'k> {
    /// To the leaf whose range holds this key.
    Key(&'k [u8]),
    /// To the first (leftmost) leaf.
    First,
    /// To the last (rightmost) leaf.
    Last,
}

/// The value (or overflow reference) under `key` in the leaf whose payload is `page`.
fn value_in_leaf(page: &[u8], key: &[u8]) -> std::result::Result<Option<Value>, String> {
    match search(page, key)? {
        Step::Leaf(Ok(i)) => leaf_value(page, i).map(Some),
        Step::Leaf(Err(_)) => Ok(None),
        Step::Child { .. } => Err("a descent ended on an internal node".to_owned()),
    }
}

/// The child of an internal node's page that `target` goes to; `None` if the page is a leaf.
fn route(page: &[u8], target: Target<'_>) -> std::result::Result<Option<u64>, String> {
    let internal = match page.get(crate::page::KIND) {
        Some(&k) if k == Kind::Internal as u8 => true,
        Some(&k) if k == Kind::Leaf as u8 => false,
        other => return Err(format!("expected a B+tree node, found page kind {other:?}")),
    };
    match target {
        _ if !internal => Ok(None),
        Target::Key(key) => match search(page, key)? {
            Step::Child { child, .. } => Ok(Some(child)),
            Step::Leaf(_) => Err("an internal node searched as a leaf".to_owned()),
        },
        Target::First => child_in(page, 0).map(Some),
        Target::Last => child_in(page, usize::from(LE::read_u16(&page[COUNT..]))).map(Some),
    }
}

impl BTree {
    // ANCHOR: descend
    /// The way down to the leaf `target` goes to — page numbers from the root to the leaf —
    /// with the leaf locked by `lock_leaf` (and, in a read-write transaction, the tree
    /// locked shared).
    ///
    /// The meta page and the internal nodes are read **without locks** (`peek_page`), and
    /// each one's page LSN noted; once the leaf is locked, they are read again: if no LSN
    /// changed, no split or merge moved the leaf's range while we looked, and none can now —
    /// that needs the leaf, which we hold. Otherwise: start over. Holding shared locks on
    /// the upper levels instead (strict two-phase locking, as chapter 6 would) made every
    /// writer that splits a leaf — and must change its parent — deadlock with every writer
    /// passing through that parent: under 50 clients inserting random keys, nearly every
    /// split. Inner nodes are the tree's structure, not anyone's data; B-tree
    /// implementations guard them with latches and version checks, not transaction locks.
    pub(crate) fn descend<R: PageRead>(
        &self,
        tx: &mut R,
        target: Target<'_>,
        lock_leaf: impl Fn(&mut R, &BlockId) -> kv_tx::Result<()>,
    ) -> Result<Vec<u64>> {
        self.descend_seeing_leaf(tx, target, lock_leaf, |_| {})
    }

    /// [`descend`](Self::descend), showing `at_leaf` the leaf's page as the descent found
    /// it — before the leaf was locked: only a reader whose pages never change
    /// (`!sees_changes()`, a snapshot) may keep what it saw there instead of reading the
    /// leaf a second time.
    pub(crate) fn descend_seeing_leaf<R: PageRead>(
        &self,
        tx: &mut R,
        target: Target<'_>,
        lock_leaf: impl Fn(&mut R, &BlockId) -> kv_tx::Result<()>,
        mut at_leaf: impl FnMut(&[u8]),
    ) -> Result<Vec<u64>> {
        tx.lock_shared(&self.block(TREE_LOCK))?;
        for _ in 0..MAX_RESTARTS {
            // The root pointer, and the LSN of each inner node passed, `lsns[i]` that of
            // `path[i]` (on the stack: a descent allocates nothing but the path it returns).
            // Not the meta page's LSN: every allocation changes it, and would restart every
            // descent.
            let mut lsns = [0u64; MAX_DEPTH + 1];
            let root = self.peek_root(tx)?;
            let mut path = Vec::with_capacity(8);
            path.push(root);
            let mut number = root;
            let mut broken = None;
            loop {
                if path.len() > MAX_DEPTH {
                    broken = Some(self.too_deep()); // a cycle through pages freed meanwhile?
                    break;
                }
                let at_leaf = &mut at_leaf;
                let routed = self.peek(tx, number, |page| {
                    let child = route(page, target);
                    if let Ok(None) = child {
                        at_leaf(page);
                    }
                    child
                });
                match routed {
                    Ok((lsn, Some(child))) => {
                        lsns[path.len() - 1] = lsn;
                        path.push(child);
                        number = child;
                    }
                    Ok((_, None)) => break,
                    // A page freed or rewritten while we looked reads as garbage: only an
                    // error if nothing on the way changed.
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                }
            }
            if broken.is_none() {
                lock_leaf(tx, &self.block(number))?;
            }
            let inner = path.len() - 1;
            if tx.sees_changes()
                && (self.peek_root(tx)? != root || !self.still(tx, &path[..inner], &lsns)?)
            {
                continue;
            }
            if let Some(e) = broken {
                return Err(e);
            }
            return Ok(path);
        }
        Err(self.conflict(0))
    }
    // ANCHOR_END: descend

    /// The root pointer, read without a lock.
    fn peek_root(&self, tx: &mut impl PageRead) -> Result<u64> {
        Ok(self
            .peek(tx, 0, |page| Meta::fields_in(page).map(|f| f.0))?
            .1)
    }

    /// Whether every page in `pages` still has the LSN noted in `lsns`.
    fn still(&self, tx: &mut impl PageRead, pages: &[u64], lsns: &[u64]) -> Result<bool> {
        for (&number, &lsn) in pages.iter().zip(lsns) {
            let (now, ()) = self.peek(tx, number, |_| Ok(()))?;
            if now != lsn {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Page `number`'s LSN and what `f` makes of it, read without a lock.
    fn peek<T>(
        &self,
        tx: &mut impl PageRead,
        number: u64,
        f: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
    ) -> Result<(u64, T)> {
        let block = self.block(number);
        let mut f = Some(f);
        let mut out = None;
        tx.peek_page(&block, &mut |page| {
            if let Some(f) = f.take() {
                let lsn = LE::read_u64(&page[..PAGE_LSN_SIZE]);
                out = Some(f(page).map(|v| (lsn, v)));
            }
        })?;
        out.expect("peek_page calls its closure once")
            .map_err(|reason| Error::Corrupt { block, reason })
    }

    // ANCHOR: get
    /// The value stored under `key`, if any.
    pub fn get(&self, tx: &mut impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // A snapshot's leaf cannot change after the descent saw it: search it there and
        // then, instead of pinning it a second time (the same page, another pin, latch and
        // version lookup). A read-write transaction reads it again under its lock.
        if tx.sees_changes() {
            let path = self.descend(tx, Target::Key(key), |tx, b| tx.lock_shared(b))?;
            return self.leaf_get(tx, path[path.len() - 1], key);
        }
        let mut seen = None;
        let path = self.descend_seeing_leaf(
            tx,
            Target::Key(key),
            |tx, b| tx.lock_shared(b),
            |page| seen = Some(value_in_leaf(page, key)),
        )?;
        let leaf = path[path.len() - 1];
        match seen {
            Some(found) => self.fetch(tx, leaf, found),
            None => self.leaf_get(tx, leaf, key),
        }
    }
    // ANCHOR_END: get

    /// The value under `key`, the leaf holding it locked exclusively first: a
    /// read-modify-write that locked it shared would deadlock with another one when both
    /// upgrade to write.
    pub fn get_for_update(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let path = self.descend(tx, Target::Key(key), |tx, b| {
            tx.lock(b, LockMode::Exclusive)
        })?;
        self.leaf_get(tx, path[path.len() - 1], key)
    }

    /// The value under `key` in leaf `number` (locked already).
    fn leaf_get(&self, tx: &mut impl PageRead, number: u64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let found = tx.read_page(&self.block(number), |page| value_in_leaf(page, key))?;
        self.fetch(tx, number, found)
    }

    /// The bytes of what `value_in_leaf` found in leaf `number`.
    fn fetch(
        &self,
        tx: &mut impl PageRead,
        number: u64,
        found: std::result::Result<Option<Value>, String>,
    ) -> Result<Option<Vec<u8>>> {
        match found {
            Ok(Some(value)) => Ok(Some(self.value(tx, value)?)),
            Ok(None) => Ok(None),
            Err(reason) => Err(Error::Corrupt {
                block: self.block(number),
                reason,
            }),
        }
    }

    /// What `f` makes of leaf `number` (locked already, read in place) and where `key` is
    /// or would go in it.
    fn in_leaf<T>(
        &self,
        tx: &mut impl PageRead,
        number: u64,
        key: &[u8],
        f: impl FnOnce(&[u8], std::result::Result<usize, usize>) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let block = self.block(number);
        let found = tx.read_page(&block, |page| match search(page, key)? {
            Step::Leaf(found) => f(page, found),
            Step::Child { .. } => Err("a descent ended on an internal node".to_owned()),
        })?;
        found.map_err(|reason| Error::Corrupt { block, reason })
    }

    /// Leaf `number` for a change (locked exclusively already): where `key` is or would go,
    /// and a copy of the page.
    pub(crate) fn leaf_to_change(
        &self,
        tx: &mut Transaction<'_>,
        number: u64,
        key: &[u8],
    ) -> Result<(std::result::Result<usize, usize>, PageBuf)> {
        let (block, capacity) = (self.block(number), self.limits.capacity);
        self.in_leaf(tx, number, key, |page, found| {
            Ok((found, PageBuf::copy_of(block, page, capacity)))
        })
    }

    /// The leaf-level lock for a change: the way down, the leaf locked exclusively.
    pub(crate) fn descend_for_change(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
    ) -> Result<Vec<u64>> {
        self.descend(tx, Target::Key(key), |tx, b| {
            tx.lock(b, LockMode::Exclusive)
        })
    }

    /// The error for a page that is no longer where this operation found it.
    pub(crate) fn conflict(&self, number: u64) -> Error {
        Error::Conflict {
            block: self.block(number),
        }
    }

    /// Locks the whole tree for this transaction alone: the tree lock every operation
    /// takes shared, and the meta page, exclusively. Waits for the transactions using the
    /// tree and keeps new ones out (compaction; dropping the tree's keyspace).
    pub fn lock_exclusive(&self, tx: &mut Transaction<'_>) -> Result<()> {
        tx.lock(&self.block(TREE_LOCK), LockMode::Exclusive)?;
        tx.lock(&self.block(0), LockMode::Exclusive)?;
        Ok(())
    }

    /// The meta page's high-water mark, read without a lock (see [`PageRead::peek_page`]).
    pub(crate) fn peek_high_water(&self, tx: &mut impl PageRead) -> Result<u64> {
        Ok(self
            .peek(tx, 0, |page| Meta::fields_in(page).map(|f| f.2))?
            .1)
    }

    /// Page `number` read for a change the caller is about to make to it: locked
    /// exclusively first (reading under a shared lock and upgrading is how two writers
    /// deadlock), and expected to be an inner node still — a parent or sibling that was
    /// not locked on the way down may have been merged away and freed meanwhile, which is a
    /// retryable conflict, not corruption.
    pub(crate) fn load_inner_for_change(
        &self,
        tx: &mut Transaction<'_>,
        number: u64,
    ) -> Result<(PageBuf, Node)> {
        tx.lock(&self.block(number), LockMode::Exclusive)?;
        let page = PageBuf::read(tx, self.block(number), self.limits.capacity)?;
        match Node::decode(&page) {
            Ok(node @ Node::Internal { .. }) => Ok((page, node)),
            _ => Err(self.conflict(number)),
        }
    }
}
