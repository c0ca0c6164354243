//! Index pages: the common header, whole-page reads and diff writes through a transaction,
//! the meta page (block 0) and the free-page list.
//!
//! Every index page starts with the same header after the transaction layer's page LSN:
//!
//! ```text
//! offset  size  field
//!  0       8    page LSN (kv-tx's; never touched here)
//!  8       1    kind: 1 leaf, 2 internal, 3 overflow, 4 free, 5 meta, 6 bucket, 7 directory
//!  9       1    reserved (0)
//! 10       2    count: cells (leaf, internal, bucket), bytes (overflow), entries (directory)
//! 12       2    aux: local depth (bucket); 1 index page, 0 entry page (directory)
//! 14       2    reserved (0)
//! 16       8    link: next leaf / first child / next page of an overflow chain, of the free
//!               list, of a bucket's chain, or of the directory index
//! 24       8    link2: previous leaf; position in its sequence (directory)
//! 32            slot array (u16 cell offsets) and cells (B+tree nodes), cells (buckets),
//!               entries (directory), data (overflow)
//! ```

use byteorder::{ByteOrder, LittleEndian as LE};
use kv_file::BlockId;
use kv_tx::{PageRead, Transaction, PAGE_LSN_SIZE};

use crate::{Error, Result};

/// What a page holds (byte 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A B+tree leaf: keys and values (or overflow references), linked both ways.
    Leaf = 1,
    /// A B+tree internal node: keys and child pointers.
    Internal = 2,
    /// Part of an overflow chain holding one large value.
    Overflow = 3,
    /// On the free list, waiting to be reused.
    Free = 4,
    /// Block 0: what the file is, its root, its free list.
    Meta = 5,
    /// A hash bucket (or one of its overflow pages).
    Bucket = 6,
    /// Part of a hash index's directory.
    Directory = 7,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Leaf,
            2 => Kind::Internal,
            3 => Kind::Overflow,
            4 => Kind::Free,
            5 => Kind::Meta,
            6 => Kind::Bucket,
            7 => Kind::Directory,
            _ => return None,
        })
    }
}

/// Where the header fields are.
pub const KIND: usize = 8;
/// Cells, bytes or entries in the page.
pub const COUNT: usize = 10;
/// A bucket's local depth.
pub const AUX: usize = 12;
/// The first link (next leaf, first child, next page of a chain).
pub const LINK: usize = 16;
/// The second link (previous leaf).
pub const LINK2: usize = 24;
/// Where the slot array (or an overflow page's data) begins.
pub const HEADER_END: usize = 32;

/// A whole page's payload in memory. Offsets are the page's own, so bytes `0..8` (the page
/// LSN) are left zero and never written back.
#[derive(Clone, PartialEq, Eq)]
pub struct PageBuf {
    /// The block it was read from (or will be written to).
    pub block: BlockId,
    /// `page_capacity` bytes.
    pub bytes: Vec<u8>,
}

impl PageBuf {
    /// Reads `block` whole.
    /// `capacity` may be less than the page's (to read just a header): only that much is
    /// copied.
    pub fn read(tx: &mut impl PageRead, block: BlockId, capacity: usize) -> Result<PageBuf> {
        let read = block.clone();
        tx.read_page(&read, |page| PageBuf::copy_of(block, page, capacity))
            .map_err(Into::into)
    }

    /// A copy of the first `capacity` bytes of `page` (a payload seen in place), the page
    /// LSN left zero.
    pub fn copy_of(block: BlockId, page: &[u8], capacity: usize) -> PageBuf {
        let mut bytes = page[..capacity.min(page.len())].to_vec();
        bytes.resize(capacity, 0);
        bytes[..PAGE_LSN_SIZE.min(capacity)].fill(0);
        PageBuf { block, bytes }
    }

    /// A zeroed page for `block`, to be filled and written.
    pub fn zeroed(block: BlockId, capacity: usize) -> PageBuf {
        PageBuf {
            block,
            bytes: vec![0; capacity],
        }
    }

    /// The page's kind, or `Corrupt` if byte 8 is not one.
    pub fn kind(&self) -> Result<Kind> {
        Kind::from_byte(self.bytes[KIND])
            .ok_or_else(|| self.corrupt(format!("unknown page kind {}", self.bytes[KIND])))
    }

    /// Fails with `Corrupt` unless the page is of kind `want`.
    pub fn expect(&self, want: Kind) -> Result<()> {
        let kind = self.kind()?;
        if kind == want {
            Ok(())
        } else {
            Err(self.corrupt(format!("expected a {want:?} page, found {kind:?}")))
        }
    }

    /// Sets the kind and clears the rest of the header.
    pub fn init(&mut self, kind: Kind) {
        self.bytes[PAGE_LSN_SIZE..].fill(0);
        self.bytes[KIND] = kind as u8;
    }

    /// A `u16` at `at`.
    pub fn u16(&self, at: usize) -> u16 {
        LE::read_u16(&self.bytes[at..at + 2])
    }

    /// Sets the `u16` at `at`.
    pub fn set_u16(&mut self, at: usize, v: u16) {
        LE::write_u16(&mut self.bytes[at..at + 2], v)
    }

    /// A `u64` at `at`.
    pub fn u64(&self, at: usize) -> u64 {
        LE::read_u64(&self.bytes[at..at + 8])
    }

    /// Sets the `u64` at `at`.
    pub fn set_u64(&mut self, at: usize, v: u64) {
        LE::write_u64(&mut self.bytes[at..at + 8], v)
    }

    /// An error naming this page.
    pub fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            block: self.block.clone(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Debug for PageBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageBuf({}, kind {})", self.block, self.bytes[KIND])
    }
}

// ANCHOR: write_diff
/// Writes `new` over the page whose current bytes are `old`, logging only the runs of bytes
/// that differ: a change to one cell of a 4 KiB node logs that cell (and the header field
/// that counts cells), not the page. Runs closer than `GAP` bytes are written as one: a log
/// record costs more than a few unchanged bytes. The runs are applied as one change, under
/// one hold of the page's latch: a descent reading the page without a lock never sees it
/// half-written.
pub fn write_diff(tx: &mut Transaction<'_>, old: &[u8], new: &PageBuf) -> Result<()> {
    let runs: Vec<(usize, &[u8])> =
        differing_runs(&old[PAGE_LSN_SIZE..], &new.bytes[PAGE_LSN_SIZE..])
            .into_iter()
            .map(|(start, end)| {
                (
                    PAGE_LSN_SIZE + start,
                    &new.bytes[PAGE_LSN_SIZE + start..PAGE_LSN_SIZE + end],
                )
            })
            .collect();
    if runs.is_empty() {
        return Ok(());
    }
    Ok(tx.write_runs(&new.block, &runs)?)
}
// ANCHOR_END: write_diff

/// Compared a word at a time: a page is thousands of bytes, a change usually a few dozen.
const WORD: usize = 32;
/// Runs of changed bytes closer than this are written as one.
const GAP: usize = 64;

/// The byte ranges `[start, end)` where `a` and `b` (of equal length) differ, merged when
/// closer than `GAP`.
fn differing_runs(a: &[u8], b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, (x, y)) in a.chunks(WORD).zip(b.chunks(WORD)).enumerate() {
        if x == y {
            continue;
        }
        let first = x
            .iter()
            .zip(y)
            .position(|(p, q)| p != q)
            .expect("they differ");
        let last = x
            .iter()
            .zip(y)
            .rposition(|(p, q)| p != q)
            .expect("they differ");
        let (start, end) = (i * WORD + first, i * WORD + last + 1);
        match runs.last_mut() {
            Some(run) if start <= run.1 + GAP => run.1 = end,
            _ => runs.push((start, end)),
        }
    }
    runs
}

/// The meta page's fields, after the header.
const MAGIC: usize = 32;
const INDEX_TYPE: usize = 36;
const VERSION: usize = 37;
const ROOT: usize = 40;
const FREE_HEAD: usize = 48;
const AUX64: usize = 56;
const HIGH_WATER: usize = 64;
/// "KVIX": every index file's block 0 begins its fields with this.
const MAGIC_BYTES: &[u8; 4] = b"KVIX";
/// The layout version of this code.
const FORMAT_VERSION: u8 = 1;

/// Which index a file holds (meta byte 36).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IndexType {
    /// A B+tree.
    BTree = 1,
    /// An extendible hash index.
    Hash = 2,
}

impl IndexType {
    fn describe(self) -> &'static str {
        match self {
            IndexType::BTree => "a B+tree",
            IndexType::Hash => "a hash index",
        }
    }
}

// ANCHOR: meta
/// Block 0 of an index file, in memory: the root (B+tree) or directory (hash), the head of
/// the free-page list, and one more number the index type may use (the hash's global depth).
#[derive(Debug, Clone)]
pub struct Meta {
    page: PageBuf,
    /// The bytes as read, for the diff written back.
    old: Vec<u8>,
}
// ANCHOR_END: meta

impl Meta {
    /// Block 0 of `file`.
    pub fn block(file: &str) -> BlockId {
        BlockId::new(file, 0)
    }

    /// Makes `file` (which must be empty) an index of type `ty` (root not yet set). Returns
    /// the meta page, which the caller may change further before `save`.
    ///
    /// A file whose block 0 is still all zeroes counts as empty: the blocks a rolled-back
    /// creation appended stay in the file (appends are not undone) but hold nothing. They are
    /// reused: block 0 as the meta page, the rest as spare blocks past the high-water mark.
    pub fn create(tx: &mut Transaction<'_>, file: &str, ty: IndexType) -> Result<Meta> {
        let size = tx.size(file)?;
        let capacity = tx.page_capacity();
        let block = if size == 0 {
            tx.append(file)?
        } else {
            let block = Meta::block(file);
            let fresh =
                tx.read_page(&block, |page| page[PAGE_LSN_SIZE..].iter().all(|&b| b == 0))?;
            if !fresh {
                return Err(Error::NotAnIndex {
                    file: file.to_owned(),
                    expected: ty.describe(),
                    reason: format!("the file already has {size} blocks"),
                });
            }
            block
        };
        let old = vec![0; capacity];
        let mut page = PageBuf::zeroed(block, capacity);
        page.init(Kind::Meta);
        page.bytes[MAGIC..MAGIC + 4].copy_from_slice(MAGIC_BYTES);
        page.bytes[INDEX_TYPE] = ty as u8;
        page.bytes[VERSION] = FORMAT_VERSION;
        page.set_u64(HIGH_WATER, 1);
        Ok(Meta { page, old })
    }

    /// Reads and validates block 0 of `file` as an index of type `ty`.
    pub fn load(
        tx: &mut impl PageRead,
        file: &str,
        ty: IndexType,
        capacity: usize,
    ) -> Result<Meta> {
        let not = |reason: String| Error::NotAnIndex {
            file: file.to_owned(),
            expected: ty.describe(),
            reason,
        };
        let page = PageBuf::read(tx, Meta::block(file), capacity).map_err(|e| match e {
            Error::Tx(kv_tx::Error::Buffer(_)) => not("it has no block 0".into()),
            other => other,
        })?;
        if page.bytes[KIND] != Kind::Meta as u8 || &page.bytes[MAGIC..MAGIC + 4] != MAGIC_BYTES {
            return Err(not("block 0 is not an index meta page".into()));
        }
        if page.bytes[INDEX_TYPE] != ty as u8 {
            return Err(not(format!(
                "it holds index type {}",
                page.bytes[INDEX_TYPE]
            )));
        }
        if page.bytes[VERSION] != FORMAT_VERSION {
            return Err(not(format!(
                "format version {} (this code reads {FORMAT_VERSION})",
                page.bytes[VERSION]
            )));
        }
        let old = page.bytes.clone();
        Ok(Meta { page, old })
    }

    /// The root, the index type's own number (`aux`) and the high-water mark, read from a
    /// meta page's payload in place, checking that it is one.
    pub fn fields_in(page: &[u8]) -> std::result::Result<(u64, u64, u64), String> {
        if page.len() < HIGH_WATER + 8
            || page[KIND] != Kind::Meta as u8
            || &page[MAGIC..MAGIC + 4] != MAGIC_BYTES
        {
            return Err("block 0 is not an index meta page".into());
        }
        let field = |at: usize| LE::read_u64(&page[at..at + 8]);
        Ok((field(ROOT), field(AUX64), field(HIGH_WATER)))
    }

    /// The root page (B+tree) or first directory page (hash).
    pub fn root(&self) -> u64 {
        self.page.u64(ROOT)
    }

    /// Sets the root.
    pub fn set_root(&mut self, root: u64) {
        self.page.set_u64(ROOT, root)
    }

    /// The index type's own number (the hash's global depth).
    pub fn aux(&self) -> u64 {
        self.page.u64(AUX64)
    }

    /// Sets the index type's own number.
    pub fn set_aux(&mut self, v: u64) {
        self.page.set_u64(AUX64, v)
    }

    /// Blocks the index has allocated (block 0 included): blocks at or past this are spare —
    /// appended by a transaction that rolled back (appends are not undone), or after a
    /// snapshot began — and are reused before the file grows.
    pub fn high_water(&self) -> u64 {
        self.page.u64(HIGH_WATER)
    }

    /// The blocks a check accounts for: the high-water mark, but never past the end of the
    /// file, so a damaged meta page claiming 2^40 blocks cannot make a check walk (or list)
    /// 2^40 of them. Also returns the problem to report when the mark is past the end (a
    /// sound index never is: every block it allocated was appended or already there).
    pub fn blocks_to_check(&self, tx: &mut impl PageRead) -> Result<(u64, Option<String>)> {
        let high_water = self.high_water();
        let file_blocks = tx.size(self.page.block.file())?;
        let problem = (high_water > file_blocks).then(|| {
            format!("the high-water mark is {high_water}, past the end of the file ({file_blocks} blocks)")
        });
        Ok((high_water.min(file_blocks), problem))
    }

    /// Makes the index exactly `blocks` blocks long with no free pages: compaction's last
    /// step, once every live page sits below `blocks`.
    pub fn set_packed(&mut self, blocks: u64) {
        self.page.set_u64(FREE_HEAD, 0);
        self.page.set_u64(HIGH_WATER, blocks);
    }

    /// The first page of the free list (0: empty).
    pub fn free_head(&self) -> u64 {
        self.page.u64(FREE_HEAD)
    }

    /// Writes the changes made since it was read (nothing if none).
    pub fn save(&mut self, tx: &mut Transaction<'_>) -> Result<()> {
        write_diff(tx, &self.old, &self.page)?;
        self.old.copy_from_slice(&self.page.bytes);
        Ok(())
    }

    // ANCHOR: allocate
    /// A page for new use, as it is now (the bytes a write of it is diffed against): the
    /// head of the free list if there is one, else the block at the high-water mark — a
    /// spare block already in the file (left by a rolled-back transaction), or one appended.
    /// The caller initializes and writes it. (The meta page changes: `save`.)
    pub fn allocate(&mut self, tx: &mut Transaction<'_>) -> Result<PageBuf> {
        let file = self.page.block.file().to_owned();
        let capacity = self.page.bytes.len();
        let head = self.free_head();
        if head == 0 {
            let next = self.high_water();
            let page = if next < tx.size(&file)? {
                PageBuf::read(tx, BlockId::new(file.as_str(), next), capacity)?
            } else {
                PageBuf::zeroed(tx.append(&file)?, capacity) // a fresh block is all zeroes
            };
            if page.block.number() != next {
                return Err(self.page.corrupt(format!(
                    "the high-water mark is {next} but the file ends at block {}",
                    page.block.number()
                )));
            }
            self.page.set_u64(HIGH_WATER, next + 1);
            return Ok(page);
        }
        if head >= self.high_water() {
            return Err(self.page.corrupt(format!(
                "the free list starts at block {head}, past the high-water mark {}",
                self.high_water()
            )));
        }
        let page = PageBuf::read(tx, BlockId::new(file.as_str(), head), capacity)?;
        page.expect(Kind::Free)?;
        self.page.set_u64(FREE_HEAD, page.u64(LINK));
        Ok(page)
    }

    /// Puts `block` (no longer used: `old` are its current bytes) on the free list.
    pub fn free(&mut self, tx: &mut Transaction<'_>, block: &BlockId, old: &[u8]) -> Result<()> {
        let mut page = PageBuf::zeroed(block.clone(), old.len());
        page.init(Kind::Free);
        page.set_u64(LINK, self.free_head());
        write_diff(tx, old, &page)?;
        self.page.set_u64(FREE_HEAD, block.number());
        Ok(())
    }
    // ANCHOR_END: allocate

    /// The free list, in order (for checks).
    pub fn free_pages(&self, tx: &mut impl PageRead) -> Result<Vec<u64>> {
        let file = self.page.block.file();
        let capacity = self.page.bytes.len();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut next = self.free_head();
        while next != 0 {
            if !seen.insert(next) {
                return Err(self.page.corrupt("the free list has a cycle"));
            }
            let page = PageBuf::read(tx, BlockId::new(file, next), capacity)?;
            page.expect(Kind::Free)?;
            out.push(next);
            next = page.u64(LINK);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_file::MemStorage;

    #[test]
    fn only_the_bytes_that_changed_are_found_and_near_runs_merge() {
        let a = vec![0u8; 1000];
        let mut b = a.clone();
        assert!(differing_runs(&a, &b).is_empty());
        b[3] = 1;
        b[40] = 1; // within GAP of byte 3: one run
        b[500] = 2;
        b[999] = 3;
        assert_eq!(differing_runs(&a, &b), [(3, 41), (500, 501), (999, 1000)]);
    }
    use kv_tx::{TxManager, TxOptions};

    fn db() -> TxManager {
        let mut o = TxOptions::default();
        o.file = o.file.block_size(512);
        TxManager::open_with(MemStorage::new(), o).unwrap()
    }

    #[test]
    fn freed_pages_are_reused_before_the_file_grows() {
        let db = db();
        let mut tx = db.begin().unwrap();
        let mut meta = Meta::create(&mut tx, "ix", IndexType::BTree).unwrap();
        let a = meta.allocate(&mut tx).unwrap().block;
        let b = meta.allocate(&mut tx).unwrap().block;
        assert_eq!((a.number(), b.number()), (1, 2));
        let cap = tx.page_capacity();
        meta.free(&mut tx, &a, &vec![0; cap]).unwrap();
        meta.free(&mut tx, &b, &vec![0; cap]).unwrap();
        assert_eq!(meta.free_pages(&mut tx).unwrap(), [2, 1]);
        meta.save(&mut tx).unwrap();
        assert_eq!(meta.allocate(&mut tx).unwrap().block.number(), 2);
        assert_eq!(meta.allocate(&mut tx).unwrap().block.number(), 1);
        assert_eq!(meta.allocate(&mut tx).unwrap().block.number(), 3);
        meta.save(&mut tx).unwrap();
        tx.commit().unwrap();
        let mut tx = db.begin().unwrap();
        let meta = Meta::load(&mut tx, "ix", IndexType::BTree, cap).unwrap();
        assert_eq!(meta.free_head(), 0);
    }

    #[test]
    fn only_an_index_of_the_right_type_opens() {
        let db = db();
        let mut tx = db.begin().unwrap();
        let cap = tx.page_capacity();
        let mut meta = Meta::create(&mut tx, "ix", IndexType::Hash).unwrap();
        meta.save(&mut tx).unwrap();
        let err = Meta::load(&mut tx, "ix", IndexType::BTree, cap).unwrap_err();
        assert!(err.to_string().contains("is not a B+tree"), "{err}");
        let err = Meta::load(&mut tx, "nothing", IndexType::BTree, cap).unwrap_err();
        assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
        let plain = tx.append("plain").unwrap();
        tx.set_u64(&plain, 8, 7).unwrap();
        let err = Meta::load(&mut tx, "plain", IndexType::BTree, cap).unwrap_err();
        assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
        assert!(matches!(
            Meta::create(&mut tx, "ix", IndexType::BTree),
            Err(Error::NotAnIndex { .. })
        ));
    }
}
