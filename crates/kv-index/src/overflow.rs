//! Overflow chains: a value too large to sit in a leaf (or bucket) is stored in a chain of
//! pages, and the cell keeps only the first page's number and the value's length.
//!
//! An overflow page's `count` says how many of its bytes after the header are data, and its
//! `link` names the next page (0 ends the chain).

use kv_file::BlockId;
use kv_tx::{PageRead, Transaction};

use crate::page::{write_diff, Kind, Meta, PageBuf, COUNT, HEADER_END, LINK};
use crate::Result;

/// The largest value any index stores: 64 MiB.
pub const MAX_VALUE: usize = 64 << 20;

// ANCHOR: write_chain
/// Stores `value` in a new chain of pages taken from `meta`'s allocator; returns the first
/// page's number.
pub fn write_chain(tx: &mut Transaction<'_>, meta: &mut Meta, value: &[u8]) -> Result<u64> {
    let capacity = tx.page_capacity();
    let per_page = capacity - HEADER_END;
    let chunks: Vec<&[u8]> = value.chunks(per_page).collect();
    let olds = chunks
        .iter()
        .map(|_| meta.allocate(tx))
        .collect::<Result<Vec<PageBuf>>>()?;
    for (i, chunk) in chunks.iter().enumerate() {
        let mut page = PageBuf::zeroed(olds[i].block.clone(), capacity);
        page.init(Kind::Overflow);
        page.set_u16(COUNT, chunk.len() as u16);
        page.set_u64(LINK, olds.get(i + 1).map_or(0, |p| p.block.number()));
        page.bytes[HEADER_END..HEADER_END + chunk.len()].copy_from_slice(chunk);
        write_diff(tx, &olds[i].bytes, &page)?;
    }
    Ok(olds.first().map_or(0, |p| p.block.number()))
}
// ANCHOR_END: write_chain

/// Reads the `len`-byte value stored in the chain starting at page `first` of `file`.
pub fn read_chain(tx: &mut impl PageRead, file: &str, first: u64, len: usize) -> Result<Vec<u8>> {
    let capacity = tx.page_capacity();
    let per_page = capacity - HEADER_END;
    if len > MAX_VALUE {
        return Err(crate::Error::Corrupt {
            block: BlockId::new(file, first),
            reason: format!("a value of {len} bytes is over the limit of {MAX_VALUE}"),
        });
    }
    let mut value = Vec::with_capacity(len);
    let mut next = first;
    while value.len() < len {
        let page = PageBuf::read(tx, BlockId::new(file, next), capacity)?;
        page.expect(Kind::Overflow)?;
        let count = usize::from(page.u16(COUNT));
        // Every page but the last is full: so a chain is read in exactly ⌈len / per_page⌉
        // pages, and a cycle of pages or a wrong length is found, never followed forever.
        let last = value.len() + count == len;
        if count == 0
            || count > per_page
            || value.len() + count > len
            || (!last && count != per_page)
        {
            return Err(page.corrupt(format!(
                "overflow page holds {count} bytes of a {len}-byte value"
            )));
        }
        value.extend_from_slice(&page.bytes[HEADER_END..HEADER_END + count]);
        next = page.u64(LINK);
        if value.len() < len && next == 0 {
            return Err(page.corrupt(format!(
                "overflow chain ends after {} of {len} bytes",
                value.len()
            )));
        }
    }
    Ok(value)
}

/// A stored value's bytes: from the cell (taken, not copied again), or read from its
/// overflow chain in `file`.
pub fn read_value(
    tx: &mut impl PageRead,
    file: &str,
    value: crate::node::Value,
) -> Result<Vec<u8>> {
    match value {
        crate::node::Value::Inline(v) => Ok(v),
        crate::node::Value::Overflow { first, len } => read_chain(tx, file, first, len as usize),
    }
}

/// The pages of the chain starting at `first` (for freeing and for checks).
pub fn chain_pages(tx: &mut impl PageRead, file: &str, first: u64) -> Result<Vec<u64>> {
    let capacity = tx.page_capacity();
    let mut pages = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut next = first;
    while next != 0 {
        let page = PageBuf::read(tx, BlockId::new(file, next), capacity)?;
        page.expect(Kind::Overflow)?;
        if !seen.insert(next) {
            return Err(page.corrupt("the overflow chain has a cycle"));
        }
        pages.push(next);
        next = page.u64(LINK);
    }
    Ok(pages)
}

/// Puts every page of the chain starting at `first` on the free list.
pub fn free_chain(tx: &mut Transaction<'_>, meta: &mut Meta, file: &str, first: u64) -> Result<()> {
    let capacity = tx.page_capacity();
    for number in chain_pages(tx, file, first)? {
        let block = BlockId::new(file, number);
        let old = PageBuf::read(tx, block.clone(), capacity)?;
        meta.free(tx, &block, &old.bytes)?;
    }
    Ok(())
}
