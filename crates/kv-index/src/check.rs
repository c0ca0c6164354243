//! `check`: every invariant of a B+tree file, verified; `dump`: the tree as readable text.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use kv_tx::PageRead;

use crate::btree::{BTree, MAX_DEPTH};
use crate::node::{Node, Value};
use crate::overflow::chain_pages;
use crate::Result;

/// What [`BTree::check`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    /// Levels, counting the leaves (1: the root is a leaf).
    pub height: usize,
    /// Entries in the leaves.
    pub keys: u64,
    /// Leaf pages.
    pub leaves: u64,
    /// Internal pages.
    pub internal: u64,
    /// Overflow pages (in chains of large values).
    pub overflow: u64,
    /// Pages on the free list.
    pub free: u64,
    /// Blocks the index has allocated, the meta page included (spare blocks past them, left
    /// by rolled-back appends, are not counted).
    pub blocks: u64,
    /// The least-filled non-root node, as a fraction of its usable bytes.
    pub min_fill: f64,
    /// Every broken invariant, one line each; empty when the tree is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Where a node sits: the key range it must respect, and its depth.
struct Frame {
    /// The page.
    number: u64,
    /// Its depth (the root is 1).
    depth: usize,
    /// Its keys must be at least this (the separator left of it).
    lower: Option<Vec<u8>>,
    /// Its keys must be below this (the separator right of it).
    upper: Option<Vec<u8>>,
}

impl BTree {
    // ANCHOR: check
    /// Verifies every invariant and reports what it found: keys in order within each node
    /// and within the bounds its parent's separators set; every leaf at the same depth; no
    /// non-root node empty; the leaf chain linking exactly the leaves, in order, both ways;
    /// every overflow chain whole; and every block of the file used exactly once — by the
    /// tree, an overflow chain, the free list or the meta page — none lost.
    ///
    /// Damage found in a page is reported, not returned as an error; an I/O or lock error
    /// still is.
    pub fn check(&self, tx: &mut impl PageRead) -> Result<CheckReport> {
        let mut report = CheckReport {
            min_fill: 1.0,
            ..CheckReport::default()
        };
        let meta = self.meta(tx)?;
        // Blocks past the high-water mark are spare (see `Meta::high_water`), not lost.
        let (blocks, past_end) = meta.blocks_to_check(tx)?;
        report.blocks = blocks;
        report.problems.extend(past_end);
        let mut used: BTreeSet<u64> = BTreeSet::from([0]);
        // Claims a page for one use; `false` (and a problem) if it is out of range or already
        // claimed — then it is not read again, so a cycle of pages cannot make the walk endless.
        let mut claim = |report: &mut CheckReport, number: u64, what: &str| -> bool {
            if number == 0 || number >= blocks {
                let problem = format!("{what} {number} is outside the file (0..{blocks})");
                report.problems.push(problem);
                false
            } else if !used.insert(number) {
                let problem = format!("page {number} is used twice (again as {what})");
                report.problems.push(problem);
                false
            } else {
                true
            }
        };
        let mut leaves_in_order = Vec::new();
        let mut leaf_depth = None;
        let mut stack = vec![Frame {
            number: meta.root(),
            depth: 1,
            lower: None,
            upper: None,
        }];
        while let Some(frame) = stack.pop() {
            if !claim(&mut report, frame.number, "tree page") {
                continue;
            }
            if frame.depth > MAX_DEPTH {
                report
                    .problems
                    .push(format!("page {} is deeper than {MAX_DEPTH}", frame.number));
                continue;
            }
            let node = match self.read_node(tx, frame.number) {
                Ok(node) => node,
                Err(crate::Error::Corrupt { reason, .. }) => {
                    report
                        .problems
                        .push(format!("page {}: {reason}", frame.number));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let is_root = frame.depth == 1;
            if is_root && matches!(&node, Node::Internal { cells, .. } if cells.is_empty()) {
                report.problems.push(format!(
                    "the root {} is an internal node without separators",
                    frame.number
                ));
            }
            if !is_root {
                let fill = node.used() as f64 / self.limits.usable as f64;
                report.min_fill = report.min_fill.min(fill);
                if node.is_empty() {
                    report
                        .problems
                        .push(format!("page {} is an empty non-root node", frame.number));
                }
            }
            let keys: Vec<&[u8]> = match &node {
                Node::Leaf { cells, .. } => cells.iter().map(|(k, _)| k.as_slice()).collect(),
                Node::Internal { cells, .. } => cells.iter().map(|(k, _)| k.as_slice()).collect(),
            };
            if keys.windows(2).any(|w| w[0] >= w[1]) {
                report
                    .problems
                    .push(format!("page {}: keys out of order", frame.number));
            }
            let out_of_bounds = keys.iter().any(|k| {
                frame.lower.as_deref().is_some_and(|lo| *k < lo)
                    || frame.upper.as_deref().is_some_and(|hi| *k >= hi)
            });
            if out_of_bounds {
                report.problems.push(format!(
                    "page {}: a key outside its parent's separators",
                    frame.number
                ));
            }
            match node {
                Node::Leaf { cells, .. } => {
                    report.leaves += 1;
                    report.keys += cells.len() as u64;
                    if *leaf_depth.get_or_insert(frame.depth) != frame.depth {
                        report.problems.push(format!(
                            "leaf {} is at depth {}, others at {leaf_depth:?}",
                            frame.number, frame.depth
                        ));
                    }
                    report.height = report.height.max(frame.depth);
                    for (key, value) in &cells {
                        if let Value::Overflow { first, len } = value {
                            match chain_pages(tx, &self.file, *first) {
                                Ok(pages) => {
                                    let per_page = self.limits.capacity - crate::page::HEADER_END;
                                    if pages.len() != (*len as usize).div_ceil(per_page) {
                                        report.problems.push(format!("the value of {key:?} has {} overflow pages for {len} bytes", pages.len()));
                                    }
                                    for page in pages {
                                        report.overflow += 1;
                                        claim(&mut report, page, "overflow page");
                                    }
                                }
                                Err(e) => {
                                    report.problems.push(format!("the value of {key:?}: {e}"))
                                }
                            }
                        }
                    }
                    leaves_in_order.push(frame.number);
                }
                Node::Internal { first, cells } => {
                    report.internal += 1;
                    // Pushed in reverse so that leaves are visited (popped) left to right.
                    let mut children = vec![(
                        first,
                        frame.lower.clone(),
                        cells.first().map(|c| c.0.clone()),
                    )];
                    for (i, (key, child)) in cells.iter().enumerate() {
                        let upper = cells
                            .get(i + 1)
                            .map(|c| c.0.clone())
                            .or(frame.upper.clone());
                        children.push((*child, Some(key.clone()), upper));
                    }
                    for (number, lower, upper) in children.into_iter().rev() {
                        stack.push(Frame {
                            number,
                            depth: frame.depth + 1,
                            lower,
                            upper,
                        });
                    }
                }
            }
        }
        self.check_leaf_chain(tx, &leaves_in_order, &mut report)?;
        match meta.free_pages(tx) {
            Ok(free) => {
                for page in free {
                    report.free += 1;
                    claim(&mut report, page, "free page");
                }
            }
            Err(e) => report.problems.push(format!("free list: {e}")),
        }
        let lost: Vec<u64> = (1..blocks).filter(|b| !used.contains(b)).collect();
        report.problems.extend(lost_pages(&lost));
        Ok(report)
    }
    // ANCHOR_END: check

    /// The leaf links must chain exactly the leaves the tree walk found, in order, both ways.
    fn check_leaf_chain(
        &self,
        tx: &mut impl PageRead,
        leaves: &[u64],
        report: &mut CheckReport,
    ) -> Result<()> {
        for (i, &number) in leaves.iter().enumerate() {
            let want_prev = if i == 0 { 0 } else { leaves[i - 1] };
            let want_next = leaves.get(i + 1).copied().unwrap_or(0);
            if let Ok(Node::Leaf { prev, next, .. }) = self.read_node(tx, number) {
                if (prev, next) != (want_prev, want_next) {
                    report.problems.push(format!(
                        "leaf {number} links ({prev}, {next}), expected ({want_prev}, {want_next})"
                    ));
                }
            }
        }
        Ok(())
    }

    // ANCHOR: dump
    /// The tree as text, one node per line, indented by depth: internal nodes show their
    /// children around the separators, leaves their keys (values elided). For tests and the
    /// book; keys print as escaped ASCII.
    pub fn dump(&self, tx: &mut impl PageRead) -> Result<String> {
        let mut out = String::new();
        let root = self.meta(tx)?.root();
        let mut stack = vec![(root, 0usize)];
        while let Some((number, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                return Err(self.too_deep());
            }
            let indent = "  ".repeat(depth);
            match self.read_node(tx, number)? {
                Node::Internal { first, cells } => {
                    let mut line = format!("{indent}internal {number}: [{first}");
                    for (key, child) in &cells {
                        let _ = write!(line, " | {} | {child}", show(key));
                    }
                    out.push_str(&line);
                    out.push_str("]\n");
                    for child in cells.iter().rev().map(|c| c.1).chain([first]) {
                        stack.push((child, depth + 1));
                    }
                }
                Node::Leaf { cells, .. } => {
                    let keys: Vec<String> = cells
                        .iter()
                        .map(|(k, v)| match v {
                            Value::Inline(_) => show(k),
                            Value::Overflow { len, .. } => {
                                format!("{}(+{len} B overflow)", show(k))
                            }
                        })
                        .collect();
                    let _ = writeln!(out, "{indent}leaf {number}: {}", keys.join(" "));
                }
            }
        }
        Ok(out)
    }
    // ANCHOR_END: dump
}

/// The problem line for pages neither used nor free, if any: the first few by number and
/// how many in all, so a badly damaged file gets a readable report, not a megabyte list.
pub(crate) fn lost_pages(lost: &[u64]) -> Option<String> {
    const SHOWN: usize = 16;
    match lost.len() {
        0 => None,
        n if n <= SHOWN => Some(format!("pages neither used nor free (lost): {lost:?}")),
        n => Some(format!(
            "{n} pages neither used nor free (lost), the first {SHOWN}: {:?}",
            &lost[..SHOWN]
        )),
    }
}

fn show(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}
