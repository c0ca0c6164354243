//! B+tree nodes: the slotted page format, and nodes decoded into memory to be changed and
//! encoded back.
//!
//! ```text
//!  ┌────────┬────────────────────┬───────────────────────┬──────────────────────────┐
//!  │ header │ slots: u16 offsets │       free space      │ cells, packed at the end │
//!  └────────┴────────────────────┴───────────────────────┴──────────────────────────┘
//!   0      32                     ▲ grows →        ← grows ▲                  capacity
//! leaf cell:     key_len u16 │ overflow u8 │ value_len u32 │ key │ value, or first page u64
//! internal cell: key_len u16 │ child u64 │ key        (child holds keys ≥ key)
//! ```
//!
//! Slot `i` points at cell `i`; slots are in key order, cells anywhere after the slots. A
//! leaf insert or delete edits the page in place: a new cell goes into the free gap and the
//! slots after it shift; a removed cell's slot goes, and its bytes stay behind as garbage.
//! Only when the gap is too small is the node decoded and re-encoded, which packs the cells
//! again. Decoding follows the slots and never looks at the bytes between cells.

use byteorder::{ByteOrder, LittleEndian as LE};

use crate::page::{Kind, PageBuf, COUNT, HEADER_END, LINK, LINK2};
use crate::Result;

/// A leaf's value: in the cell, or in an overflow chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The bytes themselves.
    Inline(Vec<u8>),
    /// Stored in the chain starting at page `first`; `len` bytes.
    Overflow {
        /// The chain's first page.
        first: u64,
        /// The value's length.
        len: u32,
    },
}

/// A node in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Keys in order with their values; linked to its neighbours (0: none).
    Leaf {
        /// The leaf before (smaller keys).
        prev: u64,
        /// The leaf after (larger keys).
        next: u64,
        /// The entries, in key order.
        cells: Vec<(Vec<u8>, Value)>,
    },
    /// Separators in order; `first` holds keys below the first separator, and the child of
    /// separator `i` holds keys from it up to the next separator.
    Internal {
        /// The leftmost child.
        first: u64,
        /// `(separator, child)` pairs, in key order.
        cells: Vec<(Vec<u8>, u64)>,
    },
}

/// Bytes of a leaf cell before its key.
const LEAF_CELL_HEAD: usize = 7;
/// Bytes of an internal cell before its key.
const INTERNAL_CELL_HEAD: usize = 10;

// ANCHOR: limits
/// Size limits derived from the page size, chosen so that any three largest cells fit in a
/// page: then a node that overflows by one cell always splits into two that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a page payload.
    pub capacity: usize,
    /// Bytes for slots and cells (capacity less the header).
    pub usable: usize,
    /// The largest cell, with its slot.
    pub max_cell: usize,
    /// The largest key: 1 KiB, or less when a page is small.
    pub max_key: usize,
    /// A node using fewer bytes than this after a delete is merged or refilled.
    pub min_fill: usize,
}

impl Limits {
    /// The limits for pages of `capacity` payload bytes.
    pub fn new(capacity: usize) -> Limits {
        let usable = capacity - HEADER_END;
        let max_cell = usable / 3;
        Limits {
            capacity,
            usable,
            max_cell,
            max_key: 1024.min(max_cell - 2 - LEAF_CELL_HEAD - 8),
            min_fill: usable / 4,
        }
    }

    /// Refuses a key over the limit (before anything changes).
    pub fn check_key(&self, key: &[u8]) -> crate::Result<()> {
        if key.len() > self.max_key {
            return Err(crate::Error::KeyTooLarge {
                len: key.len(),
                max: self.max_key,
            });
        }
        Ok(())
    }

    /// Refuses a key or a value over the limits (before anything changes).
    pub fn check_entry(&self, key: &[u8], value: &[u8]) -> crate::Result<()> {
        self.check_key(key)?;
        if value.len() > crate::MAX_VALUE {
            return Err(crate::Error::ValueTooLarge {
                len: value.len(),
                max: crate::MAX_VALUE,
            });
        }
        Ok(())
    }

    /// Whether a value of `len` bytes stays in the leaf with a key of `key_len` bytes.
    pub fn inline(&self, key_len: usize, len: usize) -> bool {
        2 + LEAF_CELL_HEAD + key_len + len <= self.max_cell
    }
}
// ANCHOR_END: limits

/// Bytes a leaf cell takes, with its slot.
pub fn leaf_cell_size(key: &[u8], value: &Value) -> usize {
    let body = match value {
        Value::Inline(v) => v.len(),
        Value::Overflow { .. } => 8,
    };
    2 + LEAF_CELL_HEAD + key.len() + body
}

/// Bytes an internal cell takes, with its slot.
pub fn internal_cell_size(key: &[u8]) -> usize {
    2 + INTERNAL_CELL_HEAD + key.len()
}

impl Node {
    /// An empty leaf.
    pub fn empty_leaf() -> Node {
        Node::Leaf {
            prev: 0,
            next: 0,
            cells: Vec::new(),
        }
    }

    /// Bytes of slots and cells.
    pub fn used(&self) -> usize {
        match self {
            Node::Leaf { cells, .. } => cells.iter().map(|(k, v)| leaf_cell_size(k, v)).sum(),
            Node::Internal { cells, .. } => cells.iter().map(|(k, _)| internal_cell_size(k)).sum(),
        }
    }

    /// Cells in the node.
    pub fn len(&self) -> usize {
        match self {
            Node::Leaf { cells, .. } => cells.len(),
            Node::Internal { cells, .. } => cells.len(),
        }
    }

    /// Whether it has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ANCHOR: decode
    /// Reads a node from its page, checking every offset and length against the page: a
    /// damaged page is an error, never a panic or a read out of bounds.
    pub fn decode(page: &PageBuf) -> Result<Node> {
        let kind = page.kind()?;
        let count = usize::from(page.u16(COUNT));
        let bytes = &page.bytes;
        if HEADER_END + 2 * count > bytes.len() {
            return Err(page.corrupt(format!("{count} slots do not fit in the page")));
        }
        let cell = |i: usize, head: usize| -> Result<(usize, usize)> {
            let at = usize::from(LE::read_u16(&bytes[HEADER_END + 2 * i..]));
            if at < HEADER_END + 2 * count || at + head > bytes.len() {
                return Err(page.corrupt(format!("slot {i} points at {at}, outside the cell area")));
            }
            let key_len = usize::from(LE::read_u16(&bytes[at..]));
            Ok((at, key_len))
        };
        let slice = |from: usize, len: usize| -> Result<Vec<u8>> {
            bytes
                .get(from..from + len)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    page.corrupt(format!("a cell runs past the page ({len} bytes at {from})"))
                })
        };
        match kind {
            Kind::Leaf => {
                let mut cells = Vec::with_capacity(count);
                for i in 0..count {
                    let (at, key_len) = cell(i, LEAF_CELL_HEAD)?;
                    let overflow = bytes[at + 2];
                    let value_len = LE::read_u32(&bytes[at + 3..]) as usize;
                    let key = slice(at + LEAF_CELL_HEAD, key_len)?;
                    let body = at + LEAF_CELL_HEAD + key_len;
                    let value = match overflow {
                        0 => Value::Inline(slice(body, value_len)?),
                        1 => Value::Overflow {
                            first: LE::read_u64(&slice(body, 8)?),
                            len: value_len as u32,
                        },
                        other => {
                            return Err(page.corrupt(format!("cell {i} has value flag {other}")))
                        }
                    };
                    cells.push((key, value));
                }
                Ok(Node::Leaf {
                    prev: page.u64(LINK2),
                    next: page.u64(LINK),
                    cells,
                })
            }
            Kind::Internal => {
                let mut cells = Vec::with_capacity(count);
                for i in 0..count {
                    let (at, key_len) = cell(i, INTERNAL_CELL_HEAD)?;
                    let child = LE::read_u64(&bytes[at + 2..]);
                    cells.push((slice(at + INTERNAL_CELL_HEAD, key_len)?, child));
                }
                Ok(Node::Internal {
                    first: page.u64(LINK),
                    cells,
                })
            }
            other => Err(page.corrupt(format!("expected a B+tree node, found {other:?}"))),
        }
    }
    // ANCHOR_END: decode

    /// Writes the node into `page` (which must be large enough: the caller split it first).
    pub fn encode(&self, page: &mut PageBuf) {
        let mut end = page.bytes.len();
        match self {
            Node::Leaf { prev, next, cells } => {
                page.init(Kind::Leaf);
                page.set_u64(LINK, *next);
                page.set_u64(LINK2, *prev);
                page.set_u16(COUNT, cells.len() as u16);
                for (i, (key, value)) in cells.iter().enumerate() {
                    let size = leaf_cell_size(key, value) - 2;
                    end -= size;
                    put_leaf_cell(&mut page.bytes[end..end + size], key, value);
                    page.set_u16(HEADER_END + 2 * i, end as u16);
                }
            }
            Node::Internal { first, cells } => {
                page.init(Kind::Internal);
                page.set_u64(LINK, *first);
                page.set_u16(COUNT, cells.len() as u16);
                for (i, (key, child)) in cells.iter().enumerate() {
                    let size = internal_cell_size(key) - 2;
                    end -= size;
                    let cell = &mut page.bytes[end..end + size];
                    LE::write_u16(cell, key.len() as u16);
                    LE::write_u64(&mut cell[2..], *child);
                    cell[INTERNAL_CELL_HEAD..].copy_from_slice(key);
                    page.set_u16(HEADER_END + 2 * i, end as u16);
                }
            }
        }
    }

    /// The child at position `pos`: 0 is `first`, `i + 1` the child of separator `i`.
    pub fn child_at(&self, pos: usize) -> u64 {
        match self {
            Node::Internal { first, cells } => {
                if pos == 0 {
                    *first
                } else {
                    cells[pos - 1].1
                }
            }
            Node::Leaf { .. } => 0,
        }
    }

    /// The position (as [`child_at`](Self::child_at) numbers them) of child page `child`
    /// in an internal node, if it is one of its children.
    pub fn position_of(&self, child: u64) -> Option<usize> {
        match self {
            Node::Internal { first, .. } if *first == child => Some(0),
            Node::Internal { cells, .. } => {
                cells.iter().position(|(_, c)| *c == child).map(|j| j + 1)
            }
            Node::Leaf { .. } => None,
        }
    }

    /// The number of children of an internal node.
    pub fn children(&self) -> usize {
        match self {
            Node::Internal { cells, .. } => cells.len() + 1,
            Node::Leaf { .. } => 0,
        }
    }
}

// ANCHOR: search
/// Where `key` leads in a node, found on the page in place (a binary search over the slots,
/// nothing decoded or allocated): for lookups and for the way down of inserts and deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An internal node: go down to `child`, its `pos`-th child (see [`Node::child_for`]).
    Child {
        /// The child's position.
        pos: usize,
        /// Its page.
        child: u64,
    },
    /// A leaf: the key is at cell `Ok(i)`, or would be inserted at `Err(i)`.
    Leaf(std::result::Result<usize, usize>),
}

/// Finds `key` in the node whose payload is `page`, checking every offset it reads; a
/// damaged page gives the reason as an error.
pub fn search(page: &[u8], key: &[u8]) -> std::result::Result<Step, String> {
    let kind = page[crate::page::KIND];
    let count = usize::from(LE::read_u16(&page[COUNT..]));
    if HEADER_END + 2 * count > page.len() {
        return Err(format!("{count} slots do not fit in the page"));
    }
    let head = match kind {
        k if k == Kind::Leaf as u8 => LEAF_CELL_HEAD,
        k if k == Kind::Internal as u8 => INTERNAL_CELL_HEAD,
        other => return Err(format!("expected a B+tree node, found page kind {other}")),
    };
    let key_at = |i: usize| -> std::result::Result<&[u8], String> {
        let at = usize::from(LE::read_u16(&page[HEADER_END + 2 * i..]));
        if at < HEADER_END + 2 * count || at + head > page.len() {
            return Err(format!("slot {i} points at {at}, outside the cell area"));
        }
        let len = usize::from(LE::read_u16(&page[at..]));
        page.get(at + head..at + head + len)
            .ok_or_else(|| format!("cell {i} runs past the page"))
    };
    // Binary search: the first cell whose key is greater than `key` (internal) or not less.
    let (mut lo, mut hi) = (0, count);
    let mut exact = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        match key_at(mid)?.cmp(key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Equal => {
                exact = Some(mid);
                break;
            }
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    if head == LEAF_CELL_HEAD {
        return Ok(Step::Leaf(exact.ok_or(lo)));
    }
    // Internal: child `pos` covers keys from separator `pos - 1` (included) on.
    let pos = exact.map_or(lo, |i| i + 1);
    Ok(Step::Child {
        pos,
        child: child_in(page, pos)?,
    })
}
// ANCHOR_END: search

/// Child `pos` of an internal node's page, read in place (0: `first`, `i + 1`: the child of
/// separator `i`), its slot and cell checked against the page.
pub fn child_in(page: &[u8], pos: usize) -> std::result::Result<u64, String> {
    if pos == 0 {
        return Ok(LE::read_u64(&page[LINK..]));
    }
    let slot = HEADER_END + 2 * (pos - 1);
    let at = page
        .get(slot..slot + 2)
        .map(|s| usize::from(LE::read_u16(s)))
        .ok_or_else(|| format!("slot {} runs past the page", pos - 1))?;
    page.get(at + 2..at + 10)
        .map(LE::read_u64)
        .ok_or_else(|| format!("cell {} runs past the page", pos - 1))
}

/// Writes a leaf cell (without its slot) into `cell`, which is exactly its size. (Hash
/// buckets use the same cell.)
pub fn put_leaf_cell(cell: &mut [u8], key: &[u8], value: &Value) {
    let (flag, len) = match value {
        Value::Inline(v) => (0, v.len() as u32),
        Value::Overflow { len, .. } => (1, *len),
    };
    LE::write_u16(&mut cell[0..2], key.len() as u16);
    cell[2] = flag;
    LE::write_u32(&mut cell[3..7], len);
    let body = LEAF_CELL_HEAD + key.len();
    cell[LEAF_CELL_HEAD..body].copy_from_slice(key);
    match value {
        Value::Inline(v) => cell[body..].copy_from_slice(v),
        Value::Overflow { first, .. } => LE::write_u64(&mut cell[body..], *first),
    }
}

// ANCHOR: in_place
/// A byte range of a page changed by an in-place edit: `(offset, len)`.
pub type Changed = (usize, usize);

/// The end of the slot array and the start of the cell area of a node page (the gap between
/// them is free). Cells may leave garbage behind them after in-place removals; only a full
/// re-encode packs them again.
/// `None` if the page is not a sane node: the caller then decodes it, which names the damage.
fn gap(page: &PageBuf) -> Option<(usize, usize)> {
    let count = usize::from(page.u16(COUNT));
    let slots_end = HEADER_END + 2 * count;
    if slots_end > page.bytes.len() {
        return None;
    }
    let mut cells_start = page.bytes.len();
    for i in 0..count {
        let at = usize::from(page.u16(HEADER_END + 2 * i));
        if at < slots_end || at >= page.bytes.len() {
            return None; // every slot checked, not only those a search touched
        }
        cells_start = cells_start.min(at);
    }
    Some((slots_end, cells_start))
}

/// Inserts a leaf cell at slot `index` without moving other cells: the cell goes into the
/// free gap, and only the slots after `index` shift. Returns the ranges changed, or `None`
/// if the gap is too small (the caller re-encodes the node, packing it).
pub fn leaf_insert_in_place(
    page: &mut PageBuf,
    index: usize,
    key: &[u8],
    value: &Value,
) -> Option<Vec<Changed>> {
    let (slots_end, cells_start) = gap(page)?;
    let size = leaf_cell_size(key, value);
    if slots_end + size > cells_start {
        return None;
    }
    let count = usize::from(page.u16(COUNT));
    let at = cells_start - (size - 2);
    put_leaf_cell(&mut page.bytes[at..cells_start], key, value);
    let slots = HEADER_END + 2 * index..slots_end;
    page.bytes.copy_within(slots.clone(), slots.start + 2);
    page.set_u16(HEADER_END + 2 * index, at as u16);
    page.set_u16(COUNT, (count + 1) as u16);
    Some(vec![
        (COUNT, 2),
        (slots.start, slots_end + 2 - slots.start),
        (at, size - 2),
    ])
}

/// Removes the slot of leaf cell `index`; its bytes stay behind as garbage until the next
/// re-encode. Returns the ranges changed, or `None` for a damaged page.
pub fn leaf_remove_in_place(page: &mut PageBuf, index: usize) -> Option<Vec<Changed>> {
    let (slots_end, _) = gap(page)?;
    let count = usize::from(page.u16(COUNT));
    if index >= count {
        return None;
    }
    let from = HEADER_END + 2 * index;
    page.bytes.copy_within(from + 2..slots_end, from);
    page.bytes[slots_end - 2..slots_end].fill(0);
    page.set_u16(COUNT, (count - 1) as u16);
    Some(vec![(COUNT, 2), (from, slots_end - from)])
}
// ANCHOR_END: in_place

/// Bytes the live cells of a leaf take, with their slots (garbage left by in-place removals
/// not counted): how full the leaf really is.
pub fn leaf_live_bytes(page: &PageBuf) -> std::result::Result<usize, String> {
    let count = usize::from(page.u16(COUNT));
    if HEADER_END + 2 * count > page.bytes.len() {
        return Err(format!("{count} slots do not fit in the page"));
    }
    let mut total = 0;
    for i in 0..count {
        let at = usize::from(page.u16(HEADER_END + 2 * i));
        let head = page
            .bytes
            .get(at..at + LEAF_CELL_HEAD)
            .ok_or("a cell outside the page")?;
        let body = match head[2] {
            0 => LE::read_u32(&head[3..]) as usize,
            _ => 8,
        };
        total += 2 + LEAF_CELL_HEAD + usize::from(LE::read_u16(head)) + body;
    }
    Ok(total)
}

/// The key of cell `i` of the leaf whose payload is `page` (holding `count` cells), every
/// offset checked: a scan decodes only the cells it reaches, one at a time.
pub fn leaf_key(page: &[u8], count: usize, i: usize) -> std::result::Result<&[u8], String> {
    let slot = page
        .get(HEADER_END + 2 * i..HEADER_END + 2 * i + 2)
        .ok_or_else(|| format!("slot {i} is outside the page"))?;
    let at = usize::from(LE::read_u16(slot));
    if at < HEADER_END + 2 * count || at + LEAF_CELL_HEAD > page.len() {
        return Err(format!("slot {i} points at {at}, outside the cell area"));
    }
    let len = usize::from(LE::read_u16(&page[at..]));
    page.get(at + LEAF_CELL_HEAD..at + LEAF_CELL_HEAD + len)
        .ok_or_else(|| format!("cell {i} runs past the page"))
}

/// The value of cell `i` of the leaf whose payload is `page` (after [`search`] found it).
pub fn leaf_value(page: &[u8], i: usize) -> std::result::Result<Value, String> {
    let slot = page
        .get(HEADER_END + 2 * i..HEADER_END + 2 * i + 2)
        .ok_or_else(|| format!("slot {i} is outside the page"))?;
    let at = usize::from(LE::read_u16(slot));
    let cell = page
        .get(at..at + LEAF_CELL_HEAD)
        .ok_or("cell outside the page")?;
    let key_len = usize::from(LE::read_u16(cell));
    let len = LE::read_u32(&cell[3..]) as usize;
    let body = at + LEAF_CELL_HEAD + key_len;
    match cell[2] {
        0 => page
            .get(body..body + len)
            .map(|v| Value::Inline(v.to_vec()))
            .ok_or_else(|| format!("the value of cell {i} runs past the page")),
        1 => page
            .get(body..body + 8)
            .map(|v| Value::Overflow {
                first: LE::read_u64(v),
                len: len as u32,
            })
            .ok_or_else(|| format!("the overflow reference of cell {i} runs past the page")),
        flag => Err(format!("cell {i} has value flag {flag}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_file::BlockId;

    fn page() -> PageBuf {
        PageBuf::zeroed(BlockId::new("t", 1), 504)
    }

    #[test]
    fn nodes_round_trip_through_pages() {
        let leaf = Node::Leaf {
            prev: 3,
            next: 9,
            cells: vec![
                (b"a".to_vec(), Value::Inline(b"one".to_vec())),
                (
                    b"b".to_vec(),
                    Value::Overflow {
                        first: 7,
                        len: 70_000,
                    },
                ),
                (vec![], Value::Inline(vec![])),
            ],
        };
        let internal = Node::Internal {
            first: 4,
            cells: vec![(b"m".to_vec(), 5), (b"t".to_vec(), 6)],
        };
        for node in [leaf, internal] {
            let mut p = page();
            node.encode(&mut p);
            assert_eq!(Node::decode(&p).unwrap(), node);
        }
    }

    #[test]
    fn a_damaged_page_is_an_error_not_a_panic() {
        let mut p = page();
        Node::Leaf {
            prev: 0,
            next: 0,
            cells: vec![(b"key".to_vec(), Value::Inline(b"value".to_vec()))],
        }
        .encode(&mut p);
        let good = p.clone();
        for (at, byte) in [
            (COUNT, 0xff),
            (HEADER_END, 0xff),
            (HEADER_END + 1, 0x02),
            (8, 99),
        ] {
            let mut bad = good.clone();
            bad.bytes[at] = byte;
            assert!(Node::decode(&bad).is_err(), "byte {at} = {byte}");
        }
        // Every single-byte change decodes or fails cleanly.
        for at in 8..good.bytes.len() {
            let mut bad = good.clone();
            bad.bytes[at] ^= 0xa5;
            let _ = Node::decode(&bad);
        }
    }

    #[test]
    fn three_largest_cells_fit_in_a_page() {
        for capacity in [504, 1016, 4088, 16376] {
            let l = Limits::new(capacity);
            assert!(3 * l.max_cell <= l.usable, "{l:?}");
            let key = vec![0; l.max_key];
            assert!(leaf_cell_size(&key, &Value::Overflow { first: 1, len: 1 }) <= l.max_cell);
            assert!(internal_cell_size(&key) <= l.max_cell);
        }
        assert_eq!(Limits::new(4088).max_key, 1024);
    }
}
