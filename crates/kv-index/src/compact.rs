//! Compaction: moving a B+tree's live pages down into its holes (free pages, spare blocks)
//! so that everything past the first `used` blocks is unused and the file can be cut there.
//!
//! A page's number is stored wherever the page is referred to — its parent's child pointer
//! (or the meta page's root), its neighbours' leaf links, a leaf cell's overflow pointer, the
//! previous overflow page's link. So compaction first walks the tree to learn every live
//! page and what each one points at; then it pairs the live pages at or past `used` (the
//! movers, in block order) with the holes below `used` (in block order: there are exactly as
//! many), and rewrites each page that moves or points at one that moves, once, at its final
//! place. Everything is an ordinary logged page write in the caller's transaction, so a
//! crash or a rollback leaves the tree as it was.

use std::collections::{HashMap, HashSet};

use kv_file::BlockId;
use kv_tx::{PageRead, Transaction};

use crate::node::{Node, Value};
use crate::overflow::chain_pages;
use crate::page::{write_diff, Kind, PageBuf, LINK};
use crate::{BTree, Error, Result};

/// What [`BTree::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Blocks the tree uses now, the meta page included: once the transaction commits, the
    /// file can be cut to this length.
    pub used: u64,
    /// Pages moved down.
    pub moved: u64,
    /// The file's length in blocks (what a cut to `used` gives back the rest of).
    pub file_blocks: u64,
}

/// How a B+tree's file is used, for space reports ([`BTree::space`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Space {
    /// Blocks the tree has allocated, the meta page included (its high-water mark).
    pub allocated: u64,
    /// Of those, the pages on the free list.
    pub free: u64,
}

/// A live page and the page numbers stored in it.
struct Live {
    /// The page's block number.
    number: u64,
    /// Whether it is an overflow page (raw bytes with a link) rather than a node.
    overflow: bool,
    /// Every page number it holds: children, leaf links, overflow pointers.
    points_at: Vec<u64>,
}

impl BTree {
    // ANCHOR: compact
    /// Moves every live page below the tree's first `used` blocks (see [`Compaction`]),
    /// empties the free list and sets the high-water mark to `used`; the blocks after it hold
    /// nothing the tree needs. The meta page is locked exclusively first, so the tree is the
    /// caller's alone until its transaction ends; cutting the file is the caller's job, after
    /// the commit (`Transaction::cut_at_commit`).
    pub fn compact(&self, tx: &mut Transaction<'_>) -> Result<Compaction> {
        self.lock_exclusive(tx)?;
        let mut meta = self.meta(tx)?;
        let live = self.live_pages(tx, meta.root())?;
        let used = live.len() as u64 + 1;
        let numbers: HashSet<u64> = live.iter().map(|page| page.number).collect();
        let mut movers: Vec<u64> = numbers.iter().copied().filter(|&n| n >= used).collect();
        movers.sort_unstable();
        let holes = (1..used).filter(|n| !numbers.contains(n));
        let to: HashMap<u64, u64> = movers.iter().copied().zip(holes).collect();
        let new = |n: u64| to.get(&n).copied().unwrap_or(n);

        for page in &live {
            let moves = to.contains_key(&page.number);
            if moves || page.points_at.iter().any(|n| to.contains_key(n)) {
                self.rewrite(tx, page, new(page.number), &new)?;
            }
        }
        meta.set_root(new(meta.root()));
        meta.set_packed(used);
        meta.save(tx)?;
        Ok(Compaction {
            used,
            moved: to.len() as u64,
            file_blocks: tx.size(&self.file)?,
        })
    }
    // ANCHOR_END: compact

    /// How many blocks the tree has allocated and how many of them are free: reads the meta
    /// page and walks the free list (not the tree).
    pub fn space(&self, tx: &mut impl PageRead) -> Result<Space> {
        let meta = self.meta(tx)?;
        Ok(Space {
            allocated: meta.high_water(),
            free: meta.free_pages(tx)?.len() as u64,
        })
    }

    /// Every page the tree uses but the meta page, each once, with the numbers it holds.
    fn live_pages(&self, tx: &mut Transaction<'_>, root: u64) -> Result<Vec<Live>> {
        let mut live = Vec::new();
        let mut seen = HashSet::new();
        let mut claim = |number: u64| match number != 0 && seen.insert(number) {
            true => Ok(()),
            false => Err(Error::Corrupt {
                block: self.block(number),
                reason: "reached twice (or as block 0) while walking the tree".into(),
            }),
        };
        let mut stack = vec![root];
        while let Some(number) = stack.pop() {
            claim(number)?;
            let mut points_at = Vec::new();
            match self.read_node(tx, number)? {
                Node::Internal { first, cells } => {
                    points_at.push(first);
                    points_at.extend(cells.iter().map(|(_, child)| *child));
                    stack.extend(&points_at);
                }
                Node::Leaf { prev, next, cells } => {
                    points_at.extend([prev, next]);
                    for (_, value) in &cells {
                        let Value::Overflow { first, .. } = value else {
                            continue;
                        };
                        points_at.push(*first);
                        let chain = chain_pages(tx, &self.file, *first)?;
                        for (i, &page) in chain.iter().enumerate() {
                            claim(page)?;
                            let next = chain.get(i + 1).copied().unwrap_or(0);
                            live.push(Live {
                                number: page,
                                overflow: true,
                                points_at: vec![next],
                            });
                        }
                    }
                }
            }
            live.push(Live {
                number,
                overflow: false,
                points_at,
            });
        }
        Ok(live)
    }

    /// Writes `page` at block `to` with every page number in it renumbered by `new`.
    fn rewrite(
        &self,
        tx: &mut Transaction<'_>,
        page: &Live,
        to: u64,
        new: &impl Fn(u64) -> u64,
    ) -> Result<()> {
        let capacity = self.limits.capacity;
        let renumber = |n: u64| if n == 0 { 0 } else { new(n) };
        let from = PageBuf::read(tx, self.block(page.number), capacity)?;
        let mut out = PageBuf::copy_of(BlockId::new(self.file.as_ref(), to), &from.bytes, capacity);
        if page.overflow {
            from.expect(Kind::Overflow)?;
            out.set_u64(LINK, renumber(from.u64(LINK)));
        } else {
            let node = match Node::decode(&from)? {
                Node::Internal { first, cells } => Node::Internal {
                    first: renumber(first),
                    cells: cells.into_iter().map(|(k, c)| (k, renumber(c))).collect(),
                },
                Node::Leaf { prev, next, cells } => Node::Leaf {
                    prev: renumber(prev),
                    next: renumber(next),
                    cells: cells
                        .into_iter()
                        .map(|(k, v)| match v {
                            Value::Overflow { first, len } => (
                                k,
                                Value::Overflow {
                                    first: renumber(first),
                                    len,
                                },
                            ),
                            inline => (k, inline),
                        })
                        .collect(),
                },
            };
            node.encode(&mut out);
        }
        let old = match to == page.number {
            true => from.bytes,
            false => PageBuf::read(tx, out.block.clone(), capacity)?.bytes,
        };
        write_diff(tx, &old, &out)
    }
}
