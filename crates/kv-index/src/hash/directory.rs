//! The directory: `2^global_depth` bucket page numbers in a chain of directory pages —
//! reaching one entry, loading and storing the whole, doubling.

use kv_file::BlockId;
use kv_tx::{PageRead, Transaction};

use super::format::{decode_directory, encode_directory, entries_per_page, ENTRY};
use super::{low_bits, HashIndex};
use crate::page::{write_diff, Kind, Meta, PageBuf, COUNT, HEADER_END, LINK};
use crate::{Error, Result};

/// The directory in memory: its pages as read, and the `2^global_depth` entries they hold.
pub(super) struct Directory {
    /// The chain's pages as read, in order.
    pub(super) pages: Vec<PageBuf>,
    /// Entry `i`: the bucket page of the keys whose hashes end in the bits of `i`.
    pub(super) entries: Vec<u64>,
}

impl Directory {
    // ANCHOR: double
    /// Doubles the directory: entry `i + 2^global_depth` becomes a copy of entry `i` — they
    /// differ only in the new bit, which no bucket looks at yet. The new entries go to the
    /// end of the chain (new pages are added when it is stored).
    pub(super) fn double(&mut self) {
        self.entries.extend_from_within(..);
    }
    // ANCHOR_END: double
}

impl HashIndex {
    /// Entries in one directory page.
    pub(super) fn per_page(&self) -> u64 {
        entries_per_page(self.limits.capacity) as u64
    }

    // ANCHOR: bucket_for
    /// The bucket page of the keys with hash `hash`: the directory entry picked by its low
    /// `global_depth` bits. Only the headers of the directory pages before the entry's page
    /// are read, and then the entry's 8 bytes.
    pub(super) fn bucket_for(&self, tx: &mut impl PageRead, meta: &Meta, hash: u64) -> Result<u64> {
        let slot = hash & low_bits(self.global_depth(meta)?);
        let mut from = self.block(0);
        let mut number = meta.root();
        for _ in 0..slot / self.per_page() {
            let header = self.directory_header(tx, meta, &from, number)?;
            (from, number) = (header.block.clone(), header.u64(LINK));
        }
        let header = self.directory_header(tx, meta, &from, number)?;
        let at = (slot % self.per_page()) as usize;
        if at >= usize::from(header.u16(COUNT)) {
            return Err(header.corrupt(format!("the directory ends before entry {slot}")));
        }
        let bucket = tx.get_u64(&header.block, HEADER_END + ENTRY * at)?;
        self.check_link(meta, &header.block, bucket)?;
        Ok(bucket)
    }

    /// The header (bytes 8..32) of directory page `number`, which `from` links to.
    fn directory_header(
        &self,
        tx: &mut impl PageRead,
        meta: &Meta,
        from: &BlockId,
        number: u64,
    ) -> Result<PageBuf> {
        self.check_link(meta, from, number)?;
        let header = PageBuf::read(tx, self.block(number), HEADER_END)?;
        header.expect(Kind::Directory)?;
        Ok(header)
    }
    // ANCHOR_END: bucket_for

    /// Loads the whole directory, checking that it is a chain holding `2^global_depth`
    /// entries, every page full but the last.
    pub(super) fn load_directory(&self, tx: &mut impl PageRead, meta: &Meta) -> Result<Directory> {
        let want = 1u64 << self.global_depth(meta)?;
        let mut dir = Directory {
            pages: Vec::new(),
            entries: Vec::new(),
        };
        let mut from = self.block(0);
        let mut next = meta.root();
        loop {
            self.check_link(meta, &from, next)?;
            let page = PageBuf::read(tx, self.block(next), self.limits.capacity)?;
            let (link, entries) = decode_directory(&page)?;
            let expected = (want - dir.entries.len() as u64).min(self.per_page());
            if entries.len() as u64 != expected {
                return Err(page.corrupt(format!(
                    "{} directory entries where {expected} were expected (global depth {})",
                    entries.len(),
                    meta.aux()
                )));
            }
            dir.entries.extend(entries);
            from = page.block.clone();
            dir.pages.push(page);
            if dir.entries.len() as u64 == want {
                if link != 0 {
                    return Err(Error::Corrupt {
                        block: from,
                        reason: "the directory continues past its last entry".into(),
                    });
                }
                return Ok(dir);
            }
            next = link;
        }
    }

    /// Writes the directory's entries over its chain, adding pages at the end if it grew.
    pub(super) fn store_directory(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut Meta,
        dir: Directory,
    ) -> Result<()> {
        let per_page = self.per_page() as usize;
        let runs: Vec<&[u64]> = dir.entries.chunks(per_page).collect();
        let mut pages = dir.pages;
        while pages.len() < runs.len() {
            let block = meta.allocate(tx)?;
            pages.push(PageBuf::read(tx, block, self.limits.capacity)?);
        }
        for (i, run) in runs.iter().enumerate() {
            let next = if i + 1 < runs.len() {
                pages[i + 1].block.number()
            } else {
                0
            };
            let mut page = PageBuf::zeroed(pages[i].block.clone(), self.limits.capacity);
            encode_directory(&mut page, next, run);
            write_diff(tx, &pages[i].bytes, &page)?;
        }
        Ok(())
    }
}
