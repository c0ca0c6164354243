//! The hash index's two page formats — bucket pages and directory pages (index and entry
//! pages) — decoded into memory and encoded back, and the reads a lookup makes in place.
//! (The byte layouts are drawn in the module doc of [`hash`](super).)
//!
//! Decoding checks every count, length and offset against the page, so a damaged page is an
//! [`Error::Corrupt`](crate::Error::Corrupt), never a panic or a read out of bounds.

use std::ops::{ControlFlow, Range};

use byteorder::{ByteOrder, LittleEndian as LE};

use crate::node::{put_leaf_cell, Value};
use crate::overflow::MAX_VALUE;
use crate::page::{Kind, PageBuf, AUX, COUNT, HEADER_END, KIND, LINK, LINK2};
use crate::Result;

/// Bytes of a bucket cell before its key: key length (u16), value flag (u8), value length
/// (u32) — the B+tree leaf cell's head, so one cell format serves both indexes.
pub(crate) const CELL_HEAD: usize = 7;

/// Bytes of one directory entry (a bucket page number, or an entry page's number in an
/// index page).
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

/// A bucket cell's value as it lies in the page: the inline bytes borrowed, or the overflow
/// chain it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueIn<'a> {
    /// The value's bytes, in the cell.
    Inline(&'a [u8]),
    /// The value is `len` bytes in the overflow chain starting at page `first`.
    Overflow {
        /// The chain's first page.
        first: u64,
        /// The value's length.
        len: u32,
    },
}

impl ValueIn<'_> {
    /// The value owned, to keep once the page is let go.
    pub(crate) fn to_value(self) -> Value {
        match self {
            ValueIn::Inline(v) => Value::Inline(v.to_vec()),
            ValueIn::Overflow { first, len } => Value::Overflow { first, len },
        }
    }
}

/// A bucket page's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketHeader {
    /// The bucket's local depth (every page of a chain carries the same).
    pub depth: u32,
    /// The next page of the chain (0: this is the last).
    pub next: u64,
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

/// Walks the cells of a bucket page's payload `page` in place, in stored order, calling
/// `visit` with each cell's key and value until it breaks; returns the page's header. Every
/// count, length and flag is checked against the page's end: a cell that runs past it, or a
/// local depth over `max_depth`, is an error (the reason, for the caller to name the page).
pub(crate) fn scan_bucket<'a>(
    page: &'a [u8],
    max_depth: u32,
    mut visit: impl FnMut(&'a [u8], ValueIn<'a>) -> ControlFlow<()>,
) -> std::result::Result<BucketHeader, String> {
    let Some(header) = page.get(..HEADER_END) else {
        return Err(format!("a {}-byte page has no header", page.len()));
    };
    if header[KIND] != Kind::Bucket as u8 {
        return Err(format!(
            "expected a Bucket page, found kind {}",
            header[KIND]
        ));
    }
    let count = usize::from(LE::read_u16(&header[COUNT..]));
    let depth = u32::from(LE::read_u16(&header[AUX..]));
    if depth > max_depth {
        return Err(format!(
            "local depth {depth} is over the maximum {max_depth}"
        ));
    }
    let next = LE::read_u64(&header[LINK..]);
    let slice = |from: usize, len: usize| -> std::result::Result<&'a [u8], String> {
        from.checked_add(len)
            .and_then(|end| page.get(from..end))
            .ok_or_else(|| format!("a cell runs past the page ({len} bytes at {from})"))
    };
    // Every cell takes at least CELL_HEAD bytes: a count claiming more cannot be true (and
    // must not size an allocation).
    if count > (page.len() - HEADER_END) / CELL_HEAD {
        return Err(format!("{count} cells cannot fit in the page"));
    }
    let mut at = HEADER_END;
    for i in 0..count {
        let head = slice(at, CELL_HEAD)?;
        let key_len = usize::from(LE::read_u16(&head[0..2]));
        let flag = head[2];
        let value_len = LE::read_u32(&head[3..7]) as usize;
        let key = slice(at + CELL_HEAD, key_len)?;
        let body = at + CELL_HEAD + key_len;
        let (value, end) = match flag {
            0 => (ValueIn::Inline(slice(body, value_len)?), body + value_len),
            1 => {
                let first = LE::read_u64(slice(body, 8)?);
                if first == 0 || value_len == 0 || value_len > MAX_VALUE {
                    return Err(format!(
                        "cell {i} names overflow page {first} for a {value_len}-byte value"
                    ));
                }
                let len = value_len as u32;
                (ValueIn::Overflow { first, len }, body + 8)
            }
            other => return Err(format!("cell {i} has value flag {other}")),
        };
        if visit(key, value).is_break() {
            break;
        }
        at = end;
    }
    Ok(BucketHeader { depth, next })
}

// ANCHOR: decode_bucket
/// Reads one bucket page, checking each cell against the page's end: a count, key length or
/// value length that runs past it is `Corrupt`, as is a local depth over `max_depth`.
pub(crate) fn decode_bucket(page: &PageBuf, max_depth: u32) -> Result<BucketPage> {
    let mut cells = Vec::new();
    let header = scan_bucket(&page.bytes, max_depth, |key, value| {
        cells.push((key.to_vec(), value.to_value()));
        ControlFlow::Continue(())
    })
    .map_err(|reason| page.corrupt(reason))?;
    Ok(BucketPage {
        depth: header.depth,
        next: header.next,
        cells,
    })
}
// ANCHOR_END: decode_bucket

/// Writes a bucket page: `cells` (which the caller packed to fit), the local depth and the
/// link to the next page of the chain. The header is rewritten whole; the bytes past the
/// last cell are left as they are (free space: nothing reads them).
pub(crate) fn encode_bucket(page: &mut PageBuf, depth: u32, next: u64, cells: &[Cell]) {
    page.bytes[KIND..HEADER_END].fill(0);
    page.bytes[KIND] = Kind::Bucket as u8;
    page.set_u16(COUNT, cells.len() as u16);
    page.set_u16(AUX, depth as u16);
    page.set_u64(LINK, next);
    let mut at = HEADER_END;
    for (key, value) in cells {
        let size = cell_size(key, value);
        put_leaf_cell(&mut page.bytes[at..at + size], key, value);
        at += size;
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

/// The two kinds of directory page (both of kind 7), told apart by the header's aux field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub(crate) enum Role {
    /// An entry page (aux 0): a run of the directory's entries, bucket page numbers.
    Entries = 0,
    /// An index page (aux 1): a run of the entry pages' numbers, in order; index pages are
    /// chained by their link.
    Index = 1,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Entries => "directory entry page",
            Role::Index => "directory index page",
        }
    }
}

/// Entries (or entry page numbers) one directory page holds.
pub(crate) fn entries_per_page(capacity: usize) -> usize {
    (capacity - HEADER_END) / ENTRY
}

/// How many of `total` entries the `position`-th page of a run of full pages holds:
/// `per_page`, but fewer (or none) at the end.
pub(crate) fn entries_in_page(total: u64, per_page: u64, position: u64) -> u64 {
    total
        .saturating_sub(position.saturating_mul(per_page))
        .min(per_page)
}

/// Where a directory page names its position in its sequence (the second link field): the
/// `n`-th index page, or the `n`-th entry page, holds `n` — so a lookup led to the wrong
/// page by a damaged link or entry notices.
const POSITION: usize = LINK2;

/// Checks, in place, that `page` is the `position`-th directory page of `role`, holding
/// `count` entries; returns its link. (The reason of a failure, for the caller to name the
/// page.)
fn directory_header_in(
    page: &[u8],
    role: Role,
    position: u64,
    count: usize,
) -> std::result::Result<u64, String> {
    let Some(header) = page.get(..HEADER_END) else {
        return Err(format!("a {}-byte page has no header", page.len()));
    };
    let (kind, aux) = (header[KIND], LE::read_u16(&header[AUX..]));
    if kind != Kind::Directory as u8 || aux != role as u16 {
        return Err(format!(
            "expected a {}, found kind {kind} with aux {aux}",
            role.name()
        ));
    }
    let found = LE::read_u64(&header[POSITION..]);
    if found != position {
        return Err(format!(
            "{} {found} where {} {position} was expected",
            role.name(),
            role.name()
        ));
    }
    let found = usize::from(LE::read_u16(&header[COUNT..]));
    if found != count || count > entries_per_page(page.len()) {
        return Err(format!(
            "{found} entries in a {} that should hold {count}",
            role.name()
        ));
    }
    Ok(LE::read_u64(&header[LINK..]))
}

/// Entry `at` of the `position`-th directory page of `role`, which should hold `count`
/// entries, read in place (no copy of the page).
pub(crate) fn directory_entry_in(
    page: &[u8],
    role: Role,
    (position, count): (u64, usize),
    at: usize,
) -> std::result::Result<u64, String> {
    directory_header_in(page, role, position, count)?;
    if at >= count {
        return Err(format!("no entry {at} in a {} of {count}", role.name()));
    }
    Ok(LE::read_u64(&page[HEADER_END + ENTRY * at..]))
}

/// The link of the `position`-th directory index page, which should hold `count` entries,
/// read in place.
pub(crate) fn directory_link_in(
    page: &[u8],
    position: u64,
    count: usize,
) -> std::result::Result<u64, String> {
    directory_header_in(page, Role::Index, position, count)
}

/// Reads the `position`-th directory page of `role`: its link (always 0 for an entry page:
/// they are not chained) and its entries. A wrong kind, role or position, or a count over
/// what the page can hold, is `Corrupt`.
pub(crate) fn decode_directory(
    page: &PageBuf,
    role: Role,
    position: u64,
) -> Result<(u64, Vec<u64>)> {
    page.expect(Kind::Directory)?;
    let aux = page.u16(AUX);
    if aux != role as u16 {
        return Err(page.corrupt(format!("expected a {}, found aux {aux}", role.name())));
    }
    let found = page.u64(POSITION);
    if found != position {
        return Err(page.corrupt(format!(
            "{} {found} where {} {position} was expected",
            role.name(),
            role.name()
        )));
    }
    let count = usize::from(page.u16(COUNT));
    let per_page = entries_per_page(page.bytes.len());
    if count > per_page {
        return Err(page.corrupt(format!(
            "{count} entries in a {} that holds {per_page}",
            role.name()
        )));
    }
    let link = page.u64(LINK);
    if role == Role::Entries && link != 0 {
        return Err(page.corrupt(format!("a directory entry page links to page {link}")));
    }
    let entries = (0..count)
        .map(|i| page.u64(HEADER_END + ENTRY * i))
        .collect();
    Ok((link, entries))
}

/// Writes the `position`-th directory page of `role`, holding `entries` (at most a page's
/// worth), linked to `next` (0 for an entry page).
pub(crate) fn encode_directory(
    page: &mut PageBuf,
    role: Role,
    position: u64,
    next: u64,
    entries: &[u64],
) {
    page.init(Kind::Directory);
    page.set_u16(AUX, role as u16);
    page.set_u64(POSITION, position);
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
        encode_directory(&mut d, Role::Entries, 3, 0, &[2, 3, 2, 3]);
        assert_eq!(
            decode_directory(&d, Role::Entries, 3).unwrap(),
            (0, vec![2, 3, 2, 3])
        );
        assert_eq!(
            directory_entry_in(&d.bytes, Role::Entries, (3, 4), 1),
            Ok(3)
        );
        let mut i = page();
        encode_directory(&mut i, Role::Index, 0, 8, &[5, 6]);
        assert_eq!(
            decode_directory(&i, Role::Index, 0).unwrap(),
            (8, vec![5, 6])
        );
        assert_eq!(directory_link_in(&i.bytes, 0, 2), Ok(8));
    }

    #[test]
    fn a_bucket_is_searched_in_place_until_the_visitor_stops() {
        let mut p = page();
        encode_bucket(&mut p, 2, 4, &cells());
        let mut seen = Vec::new();
        let header = scan_bucket(&p.bytes, 32, |key, value| {
            seen.push(key.to_vec());
            match value {
                ValueIn::Overflow { first: 7, .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        });
        assert_eq!(header, Ok(BucketHeader { depth: 2, next: 4 }));
        assert_eq!(seen, [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn packing_fills_pages_in_order() {
        let cell = |n: usize| (vec![b'k'], Value::Inline(vec![0; n - CELL_HEAD - 1]));
        let cs = vec![cell(40), cell(40), cell(30), cell(50), cell(30)];
        assert_eq!(pack(&cs, 100), vec![0..2, 2..4, 4..5]);
        assert_eq!(pack(&[], 100), vec![0..0]);
        assert_eq!(entries_in_page(130, 59, 0), 59);
        assert_eq!(entries_in_page(130, 59, 2), 12);
        assert_eq!(entries_in_page(130, 59, 3), 0);
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
        encode_directory(&mut dir, Role::Entries, 0, 0, &[1]);
        assert!(
            decode_directory(&dir, Role::Index, 0).is_err(),
            "wrong role"
        );
        assert!(
            decode_directory(&dir, Role::Entries, 1).is_err(),
            "wrong position"
        );
        assert!(directory_entry_in(&dir.bytes, Role::Index, (0, 1), 0).is_err());
        assert!(directory_entry_in(&dir.bytes, Role::Entries, (1, 1), 0).is_err());
        assert!(directory_entry_in(&dir.bytes, Role::Entries, (0, 2), 0).is_err());
        dir.set_u64(LINK, 9);
        assert!(
            decode_directory(&dir, Role::Entries, 0).is_err(),
            "entry pages are not chained"
        );
        dir.set_u64(LINK, 0);
        dir.set_u16(COUNT, 60);
        assert!(decode_directory(&dir, Role::Entries, 0).is_err());
        assert!(directory_entry_in(&dir.bytes, Role::Entries, (0, 60), 59).is_err());
        assert!(directory_entry_in(&dir.bytes[..20], Role::Entries, (0, 1), 0).is_err());
    }
}
