//! The hash index's two page formats — bucket pages and directory pages — decoded into
//! memory and encoded back. (The byte layouts are drawn in the module doc of
//! [`hash`](super).)
//!
//! Decoding checks every count, length and offset against the page, so a damaged page is an
//! [`Error::Corrupt`](crate::Error::Corrupt), never a panic or a read out of bounds.

use std::ops::Range;

use byteorder::{ByteOrder, LittleEndian as LE};

use crate::node::Value;
use crate::overflow::MAX_VALUE;
use crate::page::{Kind, PageBuf, AUX, COUNT, HEADER_END, LINK};
use crate::Result;

/// Bytes of a bucket cell before its key: key length (u16), value flag (u8), value length
/// (u32) — the B+tree leaf cell's head, so one cell format serves both indexes.
pub(crate) const CELL_HEAD: usize = 7;

/// Bytes of one directory entry (a bucket page number).
pub(crate) const ENTRY: usize = 8;

/// One entry of a bucket: a key and its value (inline, or in an overflow chain).
pub(crate) type Cell = (Vec<u8>, Value);

/// Bytes a bucket cell takes in its page (buckets have no slot array).
pub(crate) fn cell_size(key: &[u8], value: &Value) -> usize {
    let body = match value {
        Value::Inline(v) => v.len(),
        Value::Overflow { .. } => 8,
    };
    CELL_HEAD + key.len() + body
}

/// One page of a bucket's chain, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketPage {
    /// The bucket's local depth (every page of a chain carries the same).
    pub depth: u32,
    /// The next page of the chain (0: this is the last).
    pub next: u64,
    /// The cells of this page, in stored order.
    pub cells: Vec<Cell>,
}

// ANCHOR: decode_bucket
/// Reads one bucket page, checking each cell against the page's end: a count, key length or
/// value length that runs past it is `Corrupt`, as is a local depth over `max_depth`.
pub(crate) fn decode_bucket(page: &PageBuf, max_depth: u32) -> Result<BucketPage> {
    page.expect(Kind::Bucket)?;
    let count = usize::from(page.u16(COUNT));
    let depth = u32::from(page.u16(AUX));
    if depth > max_depth {
        return Err(page.corrupt(format!(
            "local depth {depth} is over the maximum {max_depth}"
        )));
    }
    let bytes = &page.bytes;
    let slice = |from: usize, len: usize| -> Result<&[u8]> {
        from.checked_add(len)
            .and_then(|end| bytes.get(from..end))
            .ok_or_else(|| {
                page.corrupt(format!("a cell runs past the page ({len} bytes at {from})"))
            })
    };
    // Every cell takes at least CELL_HEAD bytes: a count claiming more cannot be true, and
    // must not size an allocation.
    if count > (bytes.len() - HEADER_END) / CELL_HEAD {
        return Err(page.corrupt(format!("{count} cells cannot fit in the page")));
    }
    let mut cells = Vec::with_capacity(count);
    let mut at = HEADER_END;
    for i in 0..count {
        let head = slice(at, CELL_HEAD)?;
        let key_len = usize::from(LE::read_u16(&head[0..2]));
        let flag = head[2];
        let value_len = LE::read_u32(&head[3..7]) as usize;
        let key = slice(at + CELL_HEAD, key_len)?.to_vec();
        let body = at + CELL_HEAD + key_len;
        let (value, end) = match flag {
            0 => (
                Value::Inline(slice(body, value_len)?.to_vec()),
                body + value_len,
            ),
            1 => {
                let first = LE::read_u64(slice(body, 8)?);
                if first == 0 || value_len == 0 || value_len > MAX_VALUE {
                    return Err(page.corrupt(format!(
                        "cell {i} names overflow page {first} for a {value_len}-byte value"
                    )));
                }
                let len = value_len as u32;
                (Value::Overflow { first, len }, body + 8)
            }
            other => return Err(page.corrupt(format!("cell {i} has value flag {other}"))),
        };
        cells.push((key, value));
        at = end;
    }
    Ok(BucketPage {
        depth,
        next: page.u64(LINK),
        cells,
    })
}
// ANCHOR_END: decode_bucket

/// Writes a bucket page: `cells` (which the caller packed to fit), the local depth and the
/// link to the next page of the chain.
pub(crate) fn encode_bucket(page: &mut PageBuf, depth: u32, next: u64, cells: &[Cell]) {
    page.init(Kind::Bucket);
    page.set_u16(COUNT, cells.len() as u16);
    page.set_u16(AUX, depth as u16);
    page.set_u64(LINK, next);
    let mut at = HEADER_END;
    for (key, value) in cells {
        let cell = &mut page.bytes[at..at + cell_size(key, value)];
        let (flag, len) = match value {
            Value::Inline(v) => (0, v.len() as u32),
            Value::Overflow { len, .. } => (1, *len),
        };
        LE::write_u16(&mut cell[0..2], key.len() as u16);
        cell[2] = flag;
        LE::write_u32(&mut cell[3..7], len);
        let body = CELL_HEAD + key.len();
        cell[CELL_HEAD..body].copy_from_slice(key);
        match value {
            Value::Inline(v) => cell[body..].copy_from_slice(v),
            Value::Overflow { first, .. } => LE::write_u64(&mut cell[body..], *first),
        }
        at += cell.len();
    }
}

// ANCHOR: pack
/// Cuts `cells` into runs that each fit in one bucket page of `usable` bytes, in order,
/// filling each page before starting the next. Always at least one run (an empty bucket
/// still has its page). Every cell fits in an empty page: the limits make sure of that.
pub(crate) fn pack(cells: &[Cell], usable: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, (key, value)) in cells.iter().enumerate() {
        let size = cell_size(key, value);
        if used + size > usable && i > start {
            runs.push(start..i);
            (start, used) = (i, 0);
        }
        used += size;
    }
    runs.push(start..cells.len());
    runs
}
// ANCHOR_END: pack

/// Entries one directory page holds.
pub(crate) fn entries_per_page(capacity: usize) -> usize {
    (capacity - HEADER_END) / ENTRY
}

/// Reads one directory page: the link to the next page and its entries (bucket page
/// numbers). A count over what the page can hold is `Corrupt`.
pub(crate) fn decode_directory(page: &PageBuf) -> Result<(u64, Vec<u64>)> {
    page.expect(Kind::Directory)?;
    let count = usize::from(page.u16(COUNT));
    let per_page = entries_per_page(page.bytes.len());
    if count > per_page {
        return Err(page.corrupt(format!(
            "{count} directory entries in a page that holds {per_page}"
        )));
    }
    let entries = (0..count)
        .map(|i| page.u64(HEADER_END + ENTRY * i))
        .collect();
    Ok((page.u64(LINK), entries))
}

/// Writes a directory page holding `entries` (at most a page's worth), linked to `next`.
pub(crate) fn encode_directory(page: &mut PageBuf, next: u64, entries: &[u64]) {
    page.init(Kind::Directory);
    page.set_u16(COUNT, entries.len() as u16);
    page.set_u64(LINK, next);
    for (i, entry) in entries.iter().enumerate() {
        page.set_u64(HEADER_END + ENTRY * i, *entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_file::BlockId;

    fn page() -> PageBuf {
        PageBuf::zeroed(BlockId::new("h", 1), 504)
    }

    fn cells() -> Vec<Cell> {
        vec![
            (b"a".to_vec(), Value::Inline(b"one".to_vec())),
            (
                b"b".to_vec(),
                Value::Overflow {
                    first: 7,
                    len: 70_000,
                },
            ),
            (vec![], Value::Inline(vec![])),
        ]
    }

    #[test]
    fn pages_round_trip() {
        let mut p = page();
        encode_bucket(&mut p, 5, 9, &cells());
        let want = BucketPage {
            depth: 5,
            next: 9,
            cells: cells(),
        };
        assert_eq!(decode_bucket(&p, 32).unwrap(), want);
        let mut d = page();
        encode_directory(&mut d, 4, &[2, 3, 2, 3]);
        assert_eq!(decode_directory(&d).unwrap(), (4, vec![2, 3, 2, 3]));
    }

    #[test]
    fn packing_fills_pages_in_order() {
        let cell = |n: usize| (vec![b'k'], Value::Inline(vec![0; n - CELL_HEAD - 1]));
        let cs = vec![cell(40), cell(40), cell(30), cell(50), cell(30)];
        assert_eq!(pack(&cs, 100), vec![0..2, 2..4, 4..5]);
        assert_eq!(pack(&[], 100), vec![0..0]);
    }

    #[test]
    fn a_damaged_page_is_an_error_not_a_panic() {
        let mut good = page();
        encode_bucket(&mut good, 3, 0, &cells());
        for (at, byte) in [
            (COUNT, 0xff),
            (AUX, 0x40),
            (HEADER_END + 1, 0xff),
            (HEADER_END + 2, 7),
            (8, 99),
        ] {
            let mut bad = good.clone();
            bad.bytes[at] = byte;
            assert!(decode_bucket(&bad, 32).is_err(), "byte {at} = {byte}");
        }
        for at in 8..good.bytes.len() {
            let mut bad = good.clone();
            bad.bytes[at] ^= 0xa5;
            let _ = decode_bucket(&bad, 32);
        }
        let mut dir = page();
        encode_directory(&mut dir, 0, &[1]);
        dir.set_u16(COUNT, 60);
        assert!(decode_directory(&dir).is_err());
    }
}
