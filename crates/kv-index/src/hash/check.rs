//! `check`: every invariant of a hash index file, verified; `len`: a count by scanning;
//! `dump`: the directory and buckets as readable text.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use kv_tx::PageRead;

use super::format::{decode_bucket, decode_directory, entries_in_page, pack, Cell, Role};
use super::{low_bits, HashIndex, MAX_DEPTH};
use crate::node::Value;
use crate::overflow::chain_pages;
use crate::page::{PageBuf, HEADER_END};
use crate::{Error, Result};

/// What [`HashIndex::check`] found: sizes, to see the structure, and every broken invariant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashCheckReport {
    /// The directory's global depth: it has `2^global_depth` entries.
    pub global_depth: u32,
    /// The directory's entry pages.
    pub directory_pages: u64,
    /// Pages in the directory index's chain (1 unless the directory has more than
    /// `per_page²` entries).
    pub directory_index_pages: u64,
    /// Buckets: distinct bucket chains the directory names.
    pub buckets: u64,
    /// The deepest bucket's local depth (at most `global_depth`).
    pub max_local_depth: u32,
    /// Bucket overflow pages: the pages of bucket chains after each bucket's first.
    pub bucket_overflow: u64,
    /// Entries in all buckets.
    pub keys: u64,
    /// Overflow pages in the chains of large values.
    pub overflow: u64,
    /// Pages on the free list.
    pub free: u64,
    /// Blocks the index has allocated, the meta page included (spare blocks past them, left
    /// by rolled-back appends, are not counted).
    pub blocks: u64,
    /// Every broken invariant, one line each; empty when the index is sound.
    pub problems: Vec<String>,
}

impl HashCheckReport {
    /// Whether no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Blocks found in use, each claimed once.
struct Claims {
    /// The high-water mark: blocks at or past it are not the index's.
    blocks: u64,
    /// Blocks claimed so far.
    used: BTreeSet<u64>,
}

impl Claims {
    /// Claims `number` for `what`; false (and a problem reported) if it is outside the file
    /// or already used.
    fn claim(&mut self, report: &mut HashCheckReport, number: u64, what: &str) -> bool {
        if number == 0 || number >= self.blocks {
            report.problems.push(format!(
                "{what} {number} is outside the index (1..{})",
                self.blocks
            ));
            false
        } else if !self.used.insert(number) {
            report
                .problems
                .push(format!("page {number} is used twice (again as {what})"));
            false
        } else {
            true
        }
    }
}

/// Reports a `Corrupt` error as a problem and goes on (`None`); returns any other error.
fn problem<T>(report: &mut HashCheckReport, result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Error::Corrupt { block, reason }) => {
            report
                .problems
                .push(format!("page {}: {reason}", block.number()));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A directory entry's number as `depth` binary digits (`*` for depth 0: every hash).
fn bits(slot: u64, depth: u32) -> String {
    if depth == 0 {
        "*".to_string()
    } else {
        format!("{slot:0width$b}", width = depth as usize)
    }
}

/// Keys as escaped ASCII, a value in an overflow chain marked with its length.
fn show(cells: &[Cell]) -> String {
    let keys: Vec<String> = cells
        .iter()
        .map(|(key, value)| match value {
            Value::Inline(_) => key.escape_ascii().to_string(),
            Value::Overflow { len, .. } => format!("{}(+{len} B overflow)", key.escape_ascii()),
        })
        .collect();
    keys.join(" ")
}

impl HashIndex {
    // ANCHOR: check
    /// Verifies every invariant and reports what it found: a directory of `2^global_depth`
    /// entries, in entry pages listed in order by the directory index; each bucket named by exactly the entries sharing its low `local_depth` bits,
    /// with a local depth at most the global depth; every key in the bucket its hash picks,
    /// none twice; bucket chains of one depth and no more pages than their cells need;
    /// overflow chains whole; and every block of the file used exactly once — by the
    /// directory, a bucket chain, an overflow chain, the free list or the meta page — none
    /// lost.
    ///
    /// Damage found in a page is reported, not returned as an error; an I/O or lock error
    /// still is.
    pub fn check(&self, tx: &mut impl PageRead) -> Result<HashCheckReport> {
        let mut report = HashCheckReport::default();
        let meta = self.meta(tx)?;
        let (blocks, past_end) = meta.blocks_to_check(tx)?;
        report.blocks = blocks;
        report.problems.extend(past_end);
        let mut claims = Claims {
            blocks,
            used: BTreeSet::from([0]),
        };
        let Some(head) = problem(&mut report, self.head_of(&meta))? else {
            return Ok(report); // nothing else can be trusted
        };
        let global = head.global;
        report.global_depth = global;
        let entries = self.check_directory(tx, meta.root(), global, &mut claims, &mut report)?;
        // Each bucket, with the entries naming it, in order of its first entry.
        let mut slots_of: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut order = Vec::new();
        for (slot, &number) in entries.iter().enumerate() {
            let slots = slots_of.entry(number).or_default();
            if slots.is_empty() {
                order.push(number);
            }
            slots.push(slot as u64);
        }
        for number in order {
            self.check_bucket(
                tx,
                number,
                &slots_of[&number],
                global,
                &mut claims,
                &mut report,
            )?;
        }
        match meta.free_pages(tx) {
            Ok(free) => {
                for page in free {
                    report.free += 1;
                    claims.claim(&mut report, page, "free page");
                }
            }
            Err(e) => report.problems.push(format!("free list: {e}")),
        }
        let lost: Vec<u64> = (1..claims.blocks)
            .filter(|b| !claims.used.contains(b))
            .collect();
        report.problems.extend(crate::check::lost_pages(&lost));
        Ok(report)
    }
    // ANCHOR_END: check

    /// Walks the directory index chain from `first`, then the entry pages it lists, claiming
    /// every page; returns the entries. The index must list `⌈2^global / per_page⌉` entry
    /// pages, every index page full but the last and the last linking nowhere; the entry
    /// pages must hold `2^global` entries, every page full but the last.
    fn check_directory(
        &self,
        tx: &mut impl PageRead,
        first: u64,
        global: u32,
        claims: &mut Claims,
        report: &mut HashCheckReport,
    ) -> Result<Vec<u64>> {
        let want = 1u64 << global;
        let per_page = self.per_page();
        let want_pages = want.div_ceil(per_page);
        // The index chain: the entry pages' numbers.
        let mut listed = Vec::new();
        let mut next = first;
        while (listed.len() as u64) < want_pages {
            if !claims.claim(report, next, "directory index page") {
                break;
            }
            let position = report.directory_index_pages;
            report.directory_index_pages += 1;
            let page = PageBuf::read(tx, self.block(next), self.limits.capacity)?;
            let Some((link, numbers)) =
                problem(report, decode_directory(&page, Role::Index, position))?
            else {
                break;
            };
            let expected = entries_in_page(want_pages, per_page, position);
            if numbers.len() as u64 != expected {
                report.problems.push(format!(
                    "directory index page {next} lists {} entry pages, expected {expected}",
                    numbers.len()
                ));
            }
            if numbers.is_empty() {
                break; // it would never end
            }
            listed.extend(numbers);
            next = link;
            if listed.len() as u64 >= want_pages && next != 0 {
                report.problems.push(format!(
                    "the directory index continues past its last entry page, to page {next}"
                ));
            }
        }
        if listed.len() as u64 != want_pages {
            report.problems.push(format!(
                "the directory index lists {} entry pages, expected {want_pages} for 2^{global} entries",
                listed.len()
            ));
        }
        // The entry pages, in the index's order.
        let mut entries = Vec::new();
        for (position, number) in listed.into_iter().enumerate() {
            if !claims.claim(report, number, "directory page") {
                continue;
            }
            report.directory_pages += 1;
            let page = PageBuf::read(tx, self.block(number), self.limits.capacity)?;
            let Some((_, page_entries)) = problem(
                report,
                decode_directory(&page, Role::Entries, position as u64),
            )?
            else {
                continue;
            };
            let expected = entries_in_page(want, per_page, position as u64);
            if page_entries.len() as u64 != expected {
                report.problems.push(format!(
                    "directory page {number} holds {} entries, expected {expected}",
                    page_entries.len()
                ));
            }
            entries.extend(page_entries);
        }
        if entries.len() as u64 != want {
            report.problems.push(format!(
                "the directory has {} entries, expected 2^{global} = {want}",
                entries.len()
            ));
        }
        Ok(entries)
    }

    /// Checks the bucket whose first page is `number`, named by directory entries `slots`.
    fn check_bucket(
        &self,
        tx: &mut impl PageRead,
        number: u64,
        slots: &[u64],
        global: u32,
        claims: &mut Claims,
        report: &mut HashCheckReport,
    ) -> Result<()> {
        if !claims.claim(report, number, "bucket page") {
            return Ok(());
        }
        report.buckets += 1;
        // The chain: each page claimed, decoded, of one depth.
        let mut cells = Vec::new();
        let mut pages = 0;
        let mut depth = None;
        let mut next = number;
        while next != 0 {
            if pages > 0 {
                if !claims.claim(report, next, "bucket overflow page") {
                    break;
                }
                report.bucket_overflow += 1;
            }
            pages += 1;
            let page = PageBuf::read(tx, self.block(next), self.limits.capacity)?;
            let Some(decoded) = problem(report, decode_bucket(&page, MAX_DEPTH))? else {
                break;
            };
            if *depth.get_or_insert(decoded.depth) != decoded.depth {
                report.problems.push(format!(
                    "bucket page {next} has local depth {} in a chain of {depth:?}",
                    decoded.depth
                ));
            }
            if pages > 1 && decoded.cells.is_empty() {
                report
                    .problems
                    .push(format!("bucket overflow page {next} is empty"));
            }
            cells.extend(decoded.cells);
            next = decoded.next;
        }
        let depth = depth.unwrap_or(0);
        report.max_local_depth = report.max_local_depth.max(depth);
        report.keys += cells.len() as u64;
        let needed = pack(&cells, self.limits.usable).len();
        if pages > needed {
            report.problems.push(format!(
                "bucket {number} has {pages} pages; its cells need {needed}"
            ));
        }
        // The directory entries naming it: exactly those sharing its low `depth` bits.
        let mask = low_bits(depth);
        let own = slots[0] & mask;
        if depth > global {
            report.problems.push(format!(
                "bucket {number} has local depth {depth} over the global depth {global}"
            ));
        } else if slots.len() as u64 != 1 << (global - depth)
            || slots.iter().any(|s| s & mask != own)
        {
            report.problems.push(format!(
                "bucket {number} (local depth {depth}) is named by entries {slots:?}, not the 2^{} ending in {}",
                global - depth,
                bits(own, depth)
            ));
        }
        // Its keys: each hashes to it, none twice, none too large.
        let mut seen = HashSet::new();
        for (key, value) in &cells {
            let shown = key.escape_ascii();
            if self.hash(key) & mask != own {
                report.problems.push(format!(
                    "key \"{shown}\" is in bucket {number} but hashes elsewhere"
                ));
            }
            if !seen.insert(key.as_slice()) {
                report
                    .problems
                    .push(format!("key \"{shown}\" is twice in bucket {number}"));
            }
            if key.len() > self.limits.max_key {
                report.problems.push(format!(
                    "key \"{shown}\" is over the limit of {} bytes",
                    self.limits.max_key
                ));
            }
            match value {
                Value::Inline(v) if !self.limits.inline(key.len(), v.len()) => {
                    report.problems.push(format!(
                        "the {}-byte value of \"{shown}\" should be in an overflow chain",
                        v.len()
                    ));
                }
                Value::Inline(_) => {}
                Value::Overflow { first, len } => match chain_pages(tx, &self.file, *first) {
                    Ok(chain) => {
                        let per_page = self.limits.capacity - HEADER_END;
                        if chain.len() != (*len as usize).div_ceil(per_page) {
                            report.problems.push(format!(
                                "the value of \"{shown}\" has {} overflow pages for {len} bytes",
                                chain.len()
                            ));
                        }
                        for page in chain {
                            report.overflow += 1;
                            claims.claim(report, page, "overflow page");
                        }
                    }
                    Err(e) => report
                        .problems
                        .push(format!("the value of \"{shown}\": {e}")),
                },
            }
        }
        Ok(())
    }

    /// The number of entries: a scan of every bucket (there is no stored count, so that
    /// inserts and deletes need not all write one page).
    pub fn len(&self, tx: &mut impl PageRead) -> Result<u64> {
        let head = self.head(tx)?;
        let dir = self.load_directory(tx, &head)?;
        let buckets: BTreeSet<u64> = dir.entries.iter().copied().collect();
        let mut len = 0;
        for number in buckets {
            len += self.load_bucket(tx, &head, number)?.cells.len() as u64;
        }
        Ok(len)
    }

    /// Whether the index holds no entries (a scan, like [`len`](Self::len)).
    pub fn is_empty(&self, tx: &mut impl PageRead) -> Result<bool> {
        Ok(self.len(tx)? == 0)
    }

    // ANCHOR: dump
    /// The index as text: the directory — its entry pages and index pages, then one line per
    /// entry (its bits → bucket page) — then
    /// each bucket in order of its first entry, with its local depth, the hash bits it holds
    /// and its keys (values elided), and any overflow pages of its chain. For tests and the
    /// book; keys print as escaped ASCII, in stored order.
    pub fn dump(&self, tx: &mut impl PageRead) -> Result<String> {
        let head = self.head(tx)?;
        let global = head.global;
        let dir = self.load_directory(tx, &head)?;
        let numbers =
            |pages: &[PageBuf]| -> Vec<u64> { pages.iter().map(|p| p.block.number()).collect() };
        let entries = dir.entries.len();
        let mut out = format!(
            "directory: global depth {global}, {entries} {} in {} {:?}, index {} {:?}\n",
            if entries == 1 { "entry" } else { "entries" },
            if dir.pages.len() == 1 {
                "page"
            } else {
                "pages"
            },
            numbers(&dir.pages),
            if dir.index.len() == 1 {
                "page"
            } else {
                "pages"
            },
            numbers(&dir.index),
        );
        let mut order = Vec::new();
        for (slot, &number) in dir.entries.iter().enumerate() {
            let _ = writeln!(out, "  {} -> {number}", bits(slot as u64, global));
            if !order.contains(&number) {
                order.push(number);
            }
        }
        for number in order {
            let bucket = self.load_bucket(tx, &head, number)?;
            let own = dir.entries.iter().position(|&n| n == number).unwrap_or(0) as u64;
            let _ = match bucket.depth {
                0 => write!(out, "bucket {number}: local depth 0 (every hash):"),
                d => write!(
                    out,
                    "bucket {number}: local depth {d} (hash ends {}):",
                    bits(own & low_bits(d), d)
                ),
            };
            for (i, page) in bucket.pages.iter().enumerate() {
                if i > 0 {
                    let _ = write!(out, "\n  + overflow page {}:", page.block.number());
                }
                let keys = show(&decode_bucket(page, MAX_DEPTH)?.cells);
                if !keys.is_empty() {
                    let _ = write!(out, " {keys}");
                }
            }
            out.push('\n');
        }
        Ok(out)
    }
    // ANCHOR_END: dump
}
