//! The directory: `2^global_depth` bucket page numbers in entry pages, found through the
//! directory index — reaching one entry, repointing a splitting bucket's entries, loading
//! and storing the whole, doubling.

use std::collections::BTreeMap;

use kv_file::BlockId;
use kv_tx::{PageRead, Transaction};

use super::format::{
    decode_directory, directory_entry_in, directory_link_in, encode_directory, entries_in_page,
    entries_per_page, Role, ENTRY,
};
use super::{low_bits, HashIndex, MAX_DEPTH};
use crate::page::{write_diff, Meta, PageBuf, HEADER_END};
use crate::{Error, Result};

/// What a lookup needs from the meta page: where the directory index starts, the global
/// depth and the high-water mark (against which every link is checked). Read in place from
/// the page ([`HashIndex::head`]), or from a [`Meta`] being changed ([`HashIndex::head_of`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Head {
    /// The first directory index page.
    pub(super) root: u64,
    /// The global depth: the directory has `2^global` entries.
    pub(super) global: u32,
    /// Blocks the index has allocated: every link must be below this.
    pub(super) high_water: u64,
}

/// The directory in memory: its pages as read, and the `2^global_depth` entries they hold.
pub(super) struct Directory {
    /// The index chain's pages as read, in order.
    pub(super) index: Vec<PageBuf>,
    /// The entry pages as read, in order.
    pub(super) pages: Vec<PageBuf>,
    /// Entry `i`: the bucket page of the keys whose hashes end in the bits of `i`.
    pub(super) entries: Vec<u64>,
}

impl Directory {
    // ANCHOR: double
    /// Doubles the directory: entry `i + 2^global_depth` becomes a copy of entry `i` — they
    /// differ only in the new bit, which no bucket looks at yet. The new entries go after
    /// the old ones: they fill the last entry page, then new entry pages, whose numbers are
    /// appended to the index, when the directory is stored. No old entry moves.
    pub(super) fn double(&mut self) {
        self.entries.extend_from_within(..);
    }
    // ANCHOR_END: double
}

impl HashIndex {
    /// Entries in one directory page (and entry page numbers in one index page).
    pub(super) fn per_page(&self) -> u64 {
        entries_per_page(self.limits.capacity) as u64
    }

    /// The meta page's root, global depth and high-water mark, read in place (the page is
    /// checked to be an index meta page; the global depth to be at most `MAX_DEPTH`).
    pub(super) fn head(&self, tx: &mut impl PageRead) -> Result<Head> {
        let block = self.block(0);
        let read = tx.read_page(&block, Meta::fields_in)?;
        let (root, global, high_water) = read.map_err(|reason| Error::Corrupt {
            block: block.clone(),
            reason,
        })?;
        Ok(Head {
            root,
            global: self.check_depth(global)?,
            high_water,
        })
    }

    /// The same fields, from a meta page loaded (and perhaps changed) in memory.
    pub(super) fn head_of(&self, meta: &Meta) -> Result<Head> {
        Ok(Head {
            root: meta.root(),
            global: self.check_depth(meta.aux())?,
            high_water: meta.high_water(),
        })
    }

    /// A global depth, refused if over `MAX_DEPTH`.
    fn check_depth(&self, depth: u64) -> Result<u32> {
        match u32::try_from(depth) {
            Ok(depth) if depth <= MAX_DEPTH => Ok(depth),
            _ => Err(Error::Corrupt {
                block: self.block(0),
                reason: format!("global depth {depth} is over the maximum {MAX_DEPTH}"),
            }),
        }
    }

    /// How many entry pages a directory of global depth `global` has.
    fn entry_pages(&self, global: u32) -> u64 {
        (1u64 << global).div_ceil(self.per_page())
    }

    // ANCHOR: bucket_for
    /// The bucket page of the keys with hash `hash`: the directory entry picked by its low
    /// `global_depth` bits. Three reads in place, none of them a copy of a page: the index
    /// page naming the entry's page (the first, unless the directory has more than
    /// `per_page²` entries), the entry page, and the entry in it.
    pub(super) fn bucket_for(&self, tx: &mut impl PageRead, head: &Head, hash: u64) -> Result<u64> {
        let slot = hash & low_bits(head.global);
        let (block, at) = self.entry_page(tx, head, slot)?;
        let position = slot / self.per_page();
        let count = entries_in_page(1 << head.global, self.per_page(), position) as usize;
        let bucket = self.read_in(tx, &block, |page| {
            directory_entry_in(page, Role::Entries, (position, count), at)
        })?;
        self.check_link(head.high_water, &block, bucket)?;
        Ok(bucket)
    }

    /// The entry page holding directory entry `slot`, and the entry's position in it: the
    /// index chain is followed to the index page naming it — `(slot / per_page) / per_page`
    /// links, reading each link in place — and the page's number read from there.
    fn entry_page(
        &self,
        tx: &mut impl PageRead,
        head: &Head,
        slot: u64,
    ) -> Result<(BlockId, usize)> {
        let per_page = self.per_page();
        let (page, at) = (slot / per_page, (slot % per_page) as usize);
        let pages = self.entry_pages(head.global);
        let mut from = self.block(0);
        let mut number = head.root;
        for position in 0..page / per_page {
            self.check_link(head.high_water, &from, number)?;
            let count = entries_in_page(pages, per_page, position) as usize;
            let block = self.block(number);
            number = self.read_in(tx, &block, |p| directory_link_in(p, position, count))?;
            from = block;
        }
        self.check_link(head.high_water, &from, number)?;
        let index = self.block(number);
        let position = page / per_page;
        let count = entries_in_page(pages, per_page, position) as usize;
        let entry_page = self.read_in(tx, &index, |p| {
            directory_entry_in(
                p,
                Role::Index,
                (position, count),
                (page % per_page) as usize,
            )
        })?;
        self.check_link(head.high_water, &index, entry_page)?;
        Ok((self.block(entry_page), at))
    }
    // ANCHOR_END: bucket_for

    /// What `f` finds in `block`'s payload, read in place; its `Err` names `block` as
    /// `Corrupt`.
    pub(super) fn read_in<T>(
        &self,
        tx: &mut impl PageRead,
        block: &BlockId,
        f: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
    ) -> Result<T> {
        tx.read_page(block, f)?.map_err(|reason| Error::Corrupt {
            block: block.clone(),
            reason,
        })
    }

    /// Points the entries of the bucket at page `number` (local depth `depth`, holding the
    /// hashes ending in `own`) that have bit `depth` set at page `new`, after checking that
    /// all its `2^(global − depth)` entries name it. Only the entry pages holding those
    /// entries are read, and only the bytes that change are written: a split that does not
    /// double the directory leaves the rest alone (a bucket of depth `global − 1`, the usual
    /// case, has two entries: one page, 8 bytes written).
    pub(super) fn repoint(
        &self,
        tx: &mut Transaction<'_>,
        head: &Head,
        (number, depth, own): (u64, u32, u64),
        new: u64,
    ) -> Result<()> {
        let bit = 1u64 << depth;
        let per_page = self.per_page();
        // The bucket's entries, one in every 2^depth, by entry page.
        let mut by_page: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for slot in ((own & (bit - 1))..1u64 << head.global).step_by(bit as usize) {
            by_page.entry(slot / per_page).or_default().push(slot);
        }
        // Every entry is checked before any is written.
        let mut writes = Vec::new();
        for (page, slots) in by_page {
            let (block, _) = self.entry_page(tx, head, page * per_page)?;
            let old = PageBuf::read(tx, block, self.limits.capacity)?;
            let (_, entries) = decode_directory(&old, Role::Entries, page)?;
            let count = entries_in_page(1 << head.global, per_page, page);
            if entries.len() as u64 != count {
                return Err(old.corrupt(format!(
                    "{} directory entries where {count} were expected (global depth {})",
                    entries.len(),
                    head.global
                )));
            }
            let mut changed = old.clone();
            for slot in slots {
                let at = (slot % per_page) as usize;
                if entries[at] != number {
                    return Err(old.corrupt(format!(
                        "directory entry {slot} names page {}, not the bucket {number} of depth {depth}",
                        entries[at]
                    )));
                }
                if slot & bit != 0 {
                    changed.set_u64(HEADER_END + ENTRY * at, new);
                }
            }
            writes.push((old, changed));
        }
        for (old, changed) in writes {
            write_diff(tx, &old.bytes, &changed)?;
        }
        Ok(())
    }

    /// Loads the whole directory: the index chain, which must list `⌈2^global / per_page⌉`
    /// entry pages, every index page full but the last; and the entry pages, which must hold
    /// `2^global` entries, every page full but the last.
    pub(super) fn load_directory(&self, tx: &mut impl PageRead, head: &Head) -> Result<Directory> {
        let per_page = self.per_page();
        let want = 1u64 << head.global;
        let pages = self.entry_pages(head.global);
        let mut dir = Directory {
            index: Vec::new(),
            pages: Vec::new(),
            entries: Vec::new(),
        };
        let mut numbers = Vec::new();
        let mut from = self.block(0);
        let mut next = head.root;
        loop {
            self.check_link(head.high_water, &from, next)?;
            let page = PageBuf::read(tx, self.block(next), self.limits.capacity)?;
            let (link, listed) = decode_directory(&page, Role::Index, dir.index.len() as u64)?;
            let expected = entries_in_page(pages, per_page, dir.index.len() as u64);
            if listed.len() as u64 != expected || expected == 0 {
                return Err(page.corrupt(format!(
                    "an index page listing {} entry pages where {expected} were expected (global depth {})",
                    listed.len(),
                    head.global
                )));
            }
            numbers.extend(listed);
            from = page.block.clone();
            dir.index.push(page);
            if numbers.len() as u64 == pages {
                if link != 0 {
                    return Err(Error::Corrupt {
                        block: from,
                        reason: "the directory index continues past its last entry page".into(),
                    });
                }
                break;
            }
            next = link;
        }
        for (position, number) in numbers.into_iter().enumerate() {
            let listed_in = &dir.index[position / per_page as usize].block;
            self.check_link(head.high_water, listed_in, number)?;
            let page = PageBuf::read(tx, self.block(number), self.limits.capacity)?;
            let (_, entries) = decode_directory(&page, Role::Entries, position as u64)?;
            let expected = entries_in_page(want, per_page, position as u64);
            if entries.len() as u64 != expected {
                return Err(page.corrupt(format!(
                    "{} directory entries where {expected} were expected (global depth {})",
                    entries.len(),
                    head.global
                )));
            }
            dir.entries.extend(entries);
            dir.pages.push(page);
        }
        Ok(dir)
    }

    /// Writes the directory's entries over its entry pages, and their numbers over the
    /// index chain, adding pages at the end of each if it grew. Only changed bytes are
    /// written: after a doubling, the new entries and the new pages' numbers.
    pub(super) fn store_directory(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut Meta,
        dir: Directory,
    ) -> Result<()> {
        let per_page = self.per_page() as usize;
        let runs: Vec<&[u64]> = dir.entries.chunks(per_page).collect();
        let pages = self.grow(tx, meta, dir.pages, runs.len())?;
        for (position, (old, run)) in pages.iter().zip(&runs).enumerate() {
            let mut page = PageBuf::zeroed(old.block.clone(), self.limits.capacity);
            encode_directory(&mut page, Role::Entries, position as u64, 0, run);
            write_diff(tx, &old.bytes, &page)?;
        }
        let numbers: Vec<u64> = pages.iter().map(|p| p.block.number()).collect();
        let runs: Vec<&[u64]> = numbers.chunks(per_page).collect();
        let index = self.grow(tx, meta, dir.index, runs.len())?;
        for (i, run) in runs.iter().enumerate() {
            let next = index.get(i + 1).map_or(0, |p| p.block.number());
            let mut page = PageBuf::zeroed(index[i].block.clone(), self.limits.capacity);
            encode_directory(&mut page, Role::Index, i as u64, next, run);
            write_diff(tx, &index[i].bytes, &page)?;
        }
        Ok(())
    }

    /// `pages`, with newly allocated pages (as read, to diff against) added up to `len`.
    fn grow(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut Meta,
        mut pages: Vec<PageBuf>,
        len: usize,
    ) -> Result<Vec<PageBuf>> {
        while pages.len() < len {
            pages.push(meta.allocate(tx)?);
        }
        Ok(pages)
    }
}
