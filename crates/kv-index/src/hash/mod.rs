//! `HashIndex`: an extendible hash index of byte-string keys and values, every change made
//! through a [`Transaction`].
//!
//! # Extendible hashing
//!
//! A hash table on disk must grow without rehashing everything at once. Extendible hashing
//! (Fagin, Nievergelt, Pippenger and Strong, 1979) does it with one level of indirection:
//! a **directory** of `2^global_depth` entries, each naming a **bucket** page. A key's
//! entry is picked by the low `global_depth` bits of its hash. A bucket has its own **local
//! depth** `d ≤ global_depth`: it holds exactly the keys whose hashes end in some `d` bits,
//! so the `2^(global_depth − d)` entries ending in those bits all name it.
//!
//! ```text
//!  directory (global depth 2)            buckets (local depth d)
//!  entry  bucket page
//!   00 ── 2 ───────────────────────────▶ page 2, d=2: keys whose hash ends in 00
//!   01 ── 3 ───────────┐
//!   10 ── 4 ───────────┼───────────────▶ page 4, d=2: keys whose hash ends in 10
//!   11 ── 3 ───────────┴───────────────▶ page 3, d=1: keys whose hash ends in 1
//! ```
//!
//! A lookup hashes the key, reads one directory entry and one bucket page. When a bucket is
//! full it **splits** on its next hash bit, bit `d`: a new page takes the keys with that bit
//! set, both get local depth `d + 1`, and the half of its directory entries with bit `d` set
//! now name the new page. Only that bucket's keys move. If `d` already equals the global
//! depth, no entry distinguishes bit `d` yet: the directory first **doubles** — entry
//! `i + 2^global_depth` is a copy of entry `i` — and the global depth grows by one.
//!
//! ```text
//!  bucket 3 (d=1) is full and splits on bit 1      after: global depth 2 still
//!   01 ── 3 ─┐                                       01 ── 3 ──▶ page 3, d=2: …01
//!   11 ── 3 ─┴─▶ page 3, d=1: …1                    11 ── 5 ──▶ page 5, d=2: …11
//! ```
//!
//! # Pages
//!
//! Block 0 is the common meta page ([`Meta`]): its root field names the **first directory
//! index page** and its aux field holds the **global depth**. Every other page is a
//! directory page (an index page or an entry page), a bucket page, a page of a large
//! value's overflow chain, or a free page.
//!
//! The directory's entries are in **entry pages**, `per_page = (capacity − 32) / 8` to a
//! page (507 with 4 KiB pages, 59 with 512-byte pages): entry `i` is at position
//! `i mod per_page` of the `(i / per_page)`-th entry page, and every entry page but the last
//! is full. The entry pages are listed, in order, by the **directory index**: the numbers of
//! the entry pages, `per_page` to an index page, again every page but the last full. One
//! index page lists `per_page²` entries — 257,049 with 4 KiB pages, global depth 17 — so the
//! index is almost always one page; past that, index pages are chained by their link.
//!
//! ```text
//!  meta page (block 0)
//!  root ──▶ index page 1          entry pages                  buckets
//!           ┌───┬───┬───┐         ┌─────┬─────┬───┬─────┐
//!           │ 2 │ 7 │ 9 │──▶ 2:   │ e0  │ e1  │ … │e506 │      entry i: in entry page
//!           └───┴───┴───┘    7:   │e507 │e508 │ … │e1013│      i / 507, at i mod 507;
//!             link: 0        9:   │e1014│ …   │   │     │      its number: in index page
//!                                 └─────┴─────┴───┴─────┘      (i / 507) / 507
//! ```
//!
//! So reaching entry `i` reads, in place, the meta page (root, global depth, high-water
//! mark), the index page naming entry page `i / per_page`, and that entry page: three page
//! reads whatever the directory's size (until the index outgrows its first page), where a
//! plain chain of directory pages would read `i / per_page` page headers first.
//!
//! Both kinds of directory page are of kind 7, told apart by the aux field; each names its
//! own position in its sequence (the second link field), so a lookup led astray by a damaged
//! link notices.
//!
//! ```text
//! offset  size  field
//!  0       8    page LSN (kv-tx's)
//!  8       1    kind = 7 (directory)
//! 10       2    count: entries in this page
//! 12       2    aux: 1 for an index page, 0 for an entry page
//! 16       8    link: the next index page (0: the last); 0 in an entry page
//! 24       8    position: n in the n-th index page, or the n-th entry page (from 0)
//! 32       8·n  entries: entry page numbers (index page) or bucket page numbers (u64)
//! ```
//!
//! A **bucket page** (kind 6) holds cells one after another, with no slot array: a bucket
//! has no order to keep, so it is searched by scanning. A bucket that cannot split (see
//! below) continues in **bucket overflow pages**, more pages of kind 6 chained by the link;
//! every page of a chain carries the bucket's local depth.
//!
//! ```text
//! offset  size  field
//!  0       8    page LSN (kv-tx's)
//!  8       1    kind = 6 (bucket)
//! 10       2    count: cells in this page
//! 12       2    aux: the bucket's local depth
//! 16       8    link: the next page of this bucket's chain (0: the last)
//! 32            cells, packed from here; free space (stale bytes, never read) to the end
//!
//! cell: key_len u16 │ flag u8 (0 inline, 1 overflow) │ value_len u32 │ key │ value, or the
//!       first page (u64) of the overflow chain holding it
//! ```
//!
//! The cell is the B+tree leaf's, and so are the size limits ([`Limits`]): a key may be as
//! large as in a B+tree of the same page size, and a value stays in the cell only if the
//! cell is at most a third of the page — so every bucket page holds at least three cells.
//! Larger values go to [overflow chains](crate::overflow), up to [`MAX_VALUE`](crate::MAX_VALUE).
//!
//! # The hash function
//!
//! The bucket a key lives in is a function of its hash, written to disk: the hash must
//! never change, across Rust versions, platforms or builds. `std`'s `DefaultHasher` is
//! explicitly unspecified, so it is out. The index uses **XXH3-64 with seed 0** (xxHash
//! ≥ 0.8, whose output is frozen by its specification), of the key's bytes, through the
//! `xxhash-rust` crate; the low bits pick the directory entry. A test pins known outputs.
//! Changing the function would need a new format version of the meta page.
//!
//! # Inserting, splitting, overflowing
//!
//! An insert finds the key's bucket and loads its chain. If the key is there its value is
//! replaced in its cell, else a new cell goes at the end; the chain is re-packed. If the
//! cells fit in the pages the chain already has, that is all — and, unless a replaced value
//! had an overflow chain to free, the meta page was only read in place: nothing was
//! allocated. If not:
//!
//! 1. If bit `d` of the cells' hashes **separates** them (not all equal) and `d` is below
//!    [`MAX_DEPTH`], the bucket splits (doubling the directory first if `d` equals the
//!    global depth), and the insert starts again from the directory: the key's new bucket
//!    may be full still, and split again.
//! 2. Otherwise splitting would leave every key on one side — an empty page bought for
//!    nothing, and with it perhaps a doubled directory. Instead the chain grows by a bucket
//!    overflow page. This is what happens to many keys with equal hashes (or equal low
//!    bits): they can never be separated, so they share a chain.
//!
//! So every split creates two non-empty buckets, and the directory only doubles when that
//! separates keys.
//!
//! A delete moves the chain's last cell into the removed cell's place (a bucket has no order
//! to keep, and cells of one size then move nothing else) and re-packs the chain, freeing a
//! bucket overflow page it no longer needs. **Buckets never merge and the directory never
//! halves**: an emptied bucket keeps its page (see CAVEATS).
//!
//! # Invariants (what [`HashIndex::check`] verifies)
//!
//! - The directory is `⌈2^global_depth / per_page⌉` entry pages holding exactly
//!   `2^global_depth` entries, listed in order by a chain of index pages, every entry page
//!   and every index page full but the last, each naming its position; and
//!   `global_depth ≤ MAX_DEPTH`.
//! - Each bucket's local depth `d` is at most the global depth, and the entries naming it are
//!   exactly the `2^(global_depth − d)` entries that share its low `d` bits.
//! - Every key in a bucket hashes to it (its low `d` bits are the bucket's); no key twice.
//! - Every page of a bucket's chain has the bucket's local depth, and the chain has the
//!   pages its cells pack into — no more (no empty overflow page is left behind).
//! - Every overflow chain has the pages its value's length needs.
//! - Every block below the high-water mark is used exactly once: the meta page, a directory
//!   page, a bucket page, an overflow page or a free page. None is lost, none is shared.
//!
//! # Design choices, and the alternatives rejected
//!
//! - **Extendible, not static, hashing.** A static hash table of `N` buckets needs `N`
//!   chosen up front: too few and chains grow without bound, too many and space is wasted;
//!   growing means rehashing the whole file in one transaction. Extendible hashing grows one
//!   bucket at a time and never moves a key not in the splitting bucket.
//! - **Extendible, not linear, hashing.** Linear hashing (Litwin, 1980) needs no directory:
//!   buckets split in a fixed round-robin order, so the bucket that splits is usually not
//!   the full one, and full buckets live on overflow chains until their turn comes. It
//!   saves the directory read; extendible hashing splits exactly the bucket that is full, so
//!   a lookup reads one bucket page almost always. (Linear hashing is this chapter's third
//!   exercise.)
//! - **Split only when it separates keys**, else chain an overflow bucket page: the textbook
//!   algorithm splits again and again, doubling the directory each time, for keys whose
//!   hashes agree in many low bits — up to `2^MAX_DEPTH` entries for two equal hashes.
//! - **Buckets are decoded, changed in memory and re-encoded**, the whole chain re-packed,
//!   and only the bytes that differ are written (and logged), as the B+tree does. A page is
//!   encoded over its old bytes, so the free space past its last cell keeps whatever it
//!   held: zeroing it would log every byte a removed cell left. (A lookup does not decode:
//!   it scans the bucket's cells in place and copies only the value it finds.)
//! - **The directory is entry pages found through an index**, with the global depth in the
//!   meta page: a two-level table, the index almost always one page. A lookup reads four
//!   pages — meta, index, entry page, bucket — each in place, copying nothing but the value
//!   found. A plain chain of directory pages (this index's first design) made a lookup walk
//!   `i / per_page` page headers, up to 32 at global depth 14; a tree of directory pages
//!   would bound even the rare index chain, at the price of a third level to keep for
//!   directories of over 2^17 entries.
//! - **A split rewrites only the directory entries that change**: the entry pages holding
//!   the splitting bucket's entries are read, and the changed entries written (usually one
//!   8-byte entry). Only a doubling loads and stores the whole directory — and since the new
//!   entries go after the old, it writes only them (and new pages' numbers in the index).
//! - **No count of entries**: [`len`](HashIndex::len) is a scan, as for the B+tree: a count
//!   would make every insert and delete write — and lock — the meta page.
//!
//! # CAVEATS
//!
//! - **No merging**: deleting never merges buckets or halves the directory. A file that
//!   once held many keys keeps its buckets (empty or not) and its directory; freed value
//!   overflow pages and bucket overflow pages do return to the free list. Merging buddies
//!   (same local depth, differing only in bit `d − 1`) when both fit in one page would fix
//!   it.
//! - **Point operations only**: a hash has no order, so there are no range or prefix scans.
//! - Past `per_page²` entries (global depth 18 with 4 KiB pages, 12 with 512-byte pages)
//!   the directory index is a chain, and reaching entry `i` reads `i / per_page²` more index
//!   pages (in place, a link each): up to one more at global depth 18, two more at 19.
//! - A doubling loads the whole directory (with 4 KiB pages, one page per 507 entries) and
//!   writes its new half. It is rare — each one adds a bit to the global depth — but it,
//!   like every split, locks the meta page exclusively (both allocate pages), so it
//!   conflicts with every concurrent operation on the index (`Error::is_retryable`); a split
//!   also locks the entry pages it changes. Inserts and deletes that do not split or
//!   allocate write only their bucket (and overflow pages), so they conflict only with
//!   operations on the same bucket. (Every operation locks the meta, index and entry pages
//!   it reads in shared mode.)
//! - The directory's size depends on the worst bucket, not the average: with large cells
//!   (three per page) and many keys, a few unlucky buckets can make it much larger than the
//!   number of buckets. That is extendible hashing's known weakness.
//! - Keys with equal hashes share one bucket chain, searched linearly: the index is as good
//!   as its hash function, and XXH3 is not keyed, so an adversary choosing keys can force
//!   collisions.

mod bucket;
mod check;
mod directory;
mod format;

use std::ops::ControlFlow;
use std::sync::Arc;

use kv_file::BlockId;
use kv_tx::{PageRead, Transaction};

use crate::cycle::CycleGuard;
use crate::node::{Limits, Value};
use crate::overflow::{free_chain, read_value, write_chain};
use crate::page::{IndexType, Meta};
use crate::{Error, Index, Result};

use bucket::Bucket;
pub use check::HashCheckReport;
use directory::{Directory, Head};
use format::{scan_bucket, Cell};

/// The most hash bits a bucket (and so the directory) ever uses. A bucket of this local
/// depth that is full grows an overflow chain instead of splitting.
pub const MAX_DEPTH: u32 = 32;

/// The hash every index uses: XXH3-64, seed 0 — specified and frozen, so the same on every
/// platform and in every build.
fn xxh3(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// An extendible hash index stored in one file: block 0 is the meta page, the rest are
/// directory pages, buckets, overflow pages and free pages. Like [`BTree`](crate::BTree),
/// the handle holds no pages and no locks: every call works through the transaction it is
/// given, so the index inherits atomicity, durability, locking — and, for reads through a
/// `ReadTransaction`, snapshots.
#[derive(Debug, Clone)]
pub struct HashIndex {
    /// The file holding the index.
    file: Arc<str>,
    /// Size limits for this page size: the B+tree's, so a key that fits one index fits both.
    limits: Limits,
    /// Keys to hashes: XXH3-64 for every real index; tests substitute weak ones to force
    /// collisions (see [`with_hash_fn`](HashIndex::with_hash_fn)).
    hash: fn(&[u8]) -> u64,
}

/// A mask of the low `depth` bits.
fn low_bits(depth: u32) -> u64 {
    if depth >= 64 {
        u64::MAX
    } else {
        (1u64 << depth) - 1
    }
}

impl HashIndex {
    // ANCHOR: create
    /// Makes the empty file `file` a hash index: a meta page, a directory of one entry
    /// (global depth 0) — an index page naming one entry page — and the one empty bucket it
    /// names (local depth 0).
    pub fn create(tx: &mut Transaction<'_>, file: &str) -> Result<HashIndex> {
        let mut meta = Meta::create(tx, file, IndexType::Hash)?;
        let index = HashIndex::handle(file, tx.page_capacity());
        let directory = meta.allocate(tx)?;
        let entries = meta.allocate(tx)?;
        let bucket = meta.allocate(tx)?;
        let bucket_number = bucket.block.number();
        let directory_number = directory.block.number();
        let pages = vec![bucket];
        index.store_bucket(
            tx,
            &mut meta,
            &Bucket {
                pages,
                depth: 0,
                cells: Vec::new(),
            },
        )?;
        let dir = Directory {
            index: vec![directory],
            pages: vec![entries],
            entries: vec![bucket_number],
        };
        index.store_directory(tx, &mut meta, dir)?;
        meta.set_root(directory_number);
        meta.set_aux(0);
        meta.save(tx)?;
        Ok(index)
    }
    // ANCHOR_END: create

    /// Opens the hash index in `file`, checking that it is one.
    pub fn open(tx: &mut impl PageRead, file: &str) -> Result<HashIndex> {
        let capacity = tx.page_capacity();
        let index = HashIndex::handle(file, capacity);
        let meta = Meta::load(tx, file, IndexType::Hash, capacity)?;
        index.head_of(&meta)?;
        Ok(index)
    }

    fn handle(file: &str, capacity: usize) -> HashIndex {
        HashIndex {
            file: Arc::from(file),
            limits: Limits::new(capacity),
            hash: xxh3,
        }
    }

    /// **For tests only**: this handle with another hash function, to force collisions
    /// deterministically (say, `|k| k.first().map_or(0, |b| u64::from(*b))`). Use it on a
    /// freshly created index, and on every handle to it: a file filled with one function and
    /// read with another finds nothing (and fails `check`).
    #[doc(hidden)]
    pub fn with_hash_fn(mut self, hash: fn(&[u8]) -> u64) -> HashIndex {
        self.hash = hash;
        self
    }

    /// The file holding the index.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The largest key this index accepts (1 KiB with 4 KiB pages; less with small pages).
    pub fn max_key(&self) -> usize {
        self.limits.max_key
    }

    /// The hash of `key` that places it: its low bits pick the directory entry. (XXH3-64,
    /// seed 0, unless a test substituted another.)
    pub fn hash(&self, key: &[u8]) -> u64 {
        (self.hash)(key)
    }

    fn block(&self, number: u64) -> BlockId {
        BlockId::new(Arc::clone(&self.file), number)
    }

    fn meta(&self, tx: &mut impl PageRead) -> Result<Meta> {
        Meta::load(tx, &self.file, IndexType::Hash, self.limits.capacity)
    }

    /// Fails with `Corrupt`, naming the page `from` that holds the link, unless `number`
    /// is a page of the index (not the meta page, below the high-water mark `high_water`).
    fn check_link(&self, high_water: u64, from: &BlockId, number: u64) -> Result<()> {
        if number == 0 || number >= high_water {
            return Err(Error::Corrupt {
                block: from.clone(),
                reason: format!("links to page {number}, outside the index (1..{high_water})"),
            });
        }
        Ok(())
    }

    /// A value's bytes, from the cell or its overflow chain.
    fn value(&self, tx: &mut impl PageRead, value: Value) -> Result<Vec<u8>> {
        read_value(tx, &self.file, value)
    }

    // ANCHOR: get
    /// The value stored under `key`, if any: the meta page, the directory index and entry
    /// pages, the bucket (and its overflow pages, if it has some) — all read in place; only
    /// the value found is copied.
    pub fn get(&self, tx: &mut impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if key.len() > self.limits.max_key {
            return Ok(None); // never stored
        }
        let head = self.head(tx)?;
        let number = self.bucket_for(tx, &head, (self.hash)(key))?;
        match self.find(tx, &head, number, key)? {
            Some(value) => Ok(Some(self.value(tx, value)?)),
            None => Ok(None),
        }
    }

    /// `key`'s value in the bucket whose first page is `number`, searched in place page by
    /// page along its chain (checking each link, and that every page has the first's depth).
    fn find(
        &self,
        tx: &mut impl PageRead,
        head: &Head,
        number: u64,
        key: &[u8],
    ) -> Result<Option<Value>> {
        let mut depth = None;
        let mut next = number;
        // A chain has fewer pages than the index has blocks: any more is a cycle. (The
        // count comes from the meta page; should a damaged one claim 2^40 blocks, the guard
        // still finds the cycle.)
        let mut cycle = CycleGuard::new();
        for _ in 0..head.high_water {
            if cycle.repeats(next) {
                break;
            }
            let block = self.block(next);
            let (header, found) = self.read_in(tx, &block, |page| {
                let mut found = None;
                let header = scan_bucket(page, MAX_DEPTH, |k, v| {
                    if k == key {
                        found = Some(v.to_value());
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                })?;
                Ok((header, found))
            })?;
            let first = *depth.get_or_insert(header.depth);
            if header.depth != first {
                return Err(Error::Corrupt {
                    block,
                    reason: format!("local depth {} in a chain of depth {first}", header.depth),
                });
            }
            if found.is_some() || header.next == 0 {
                return Ok(found);
            }
            self.check_link(head.high_water, &block, header.next)?;
            next = header.next;
        }
        Err(Error::Corrupt {
            block: self.block(number),
            reason: "the bucket's chain has a cycle".into(),
        })
    }
    // ANCHOR_END: get

    /// Stores `value` under `key`, replacing any value there; returns the value replaced.
    /// A key or value over the limits is refused before anything changes.
    pub fn insert(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.upsert(tx, key, value, true)?.flatten())
    }

    // ANCHOR: insert
    /// The upsert behind `insert` and `put`: `None` if the key was new, else `Some` of the
    /// old value's bytes if `want_old` (an overflow value is freed without being read if not).
    fn upsert(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        value: &[u8],
        want_old: bool,
    ) -> Result<Option<Option<Vec<u8>>>> {
        self.limits.check_entry(key, value)?;
        let hash = (self.hash)(key);
        if self.limits.inline(key.len(), value.len()) {
            // The common case: an inline value, a bucket with room, no overflow value
            // replaced. Nothing is allocated or freed, so the meta page is only read (in
            // place), and only the bucket is written.
            let head = self.head(tx)?;
            let number = self.bucket_for(tx, &head, hash)?;
            let mut bucket = self.load_bucket(tx, &head, number)?;
            let stored = Value::Inline(value.to_vec());
            let old = match bucket.position(key) {
                Some(i) => Some(std::mem::replace(&mut bucket.cells[i].1, stored)),
                None => {
                    bucket.cells.push((key.to_vec(), stored));
                    None
                }
            };
            match old {
                Some(Value::Overflow { .. }) => {} // its chain must be freed: the general case
                old if self.store_in_place(tx, &bucket)? => {
                    return Ok(old.map(|old| match old {
                        Value::Inline(bytes) if want_old => Some(bytes),
                        _ => None,
                    }));
                }
                _ => {} // the bucket needs another page, or a split
            }
        }
        let mut meta = self.meta(tx)?;
        let stored = if self.limits.inline(key.len(), value.len()) {
            Value::Inline(value.to_vec())
        } else {
            Value::Overflow {
                first: write_chain(tx, &mut meta, value)?,
                len: value.len() as u32,
            }
        };
        let mut old = None;
        // Each pass stores the cell, or splits the key's bucket — one bit deeper each time,
        // and a bucket at MAX_DEPTH never splits: at most MAX_DEPTH + 1 passes.
        for _ in 0..=MAX_DEPTH {
            let head = self.head_of(&meta)?;
            let number = self.bucket_for(tx, &head, hash)?;
            let mut bucket = self.load_bucket(tx, &head, number)?;
            // A replaced value keeps its cell's place (a small diff); a new key goes last.
            let at = match bucket.position(key) {
                Some(i) => {
                    old = Some(std::mem::replace(&mut bucket.cells[i].1, stored.clone()));
                    i
                }
                None => {
                    bucket.cells.push((key.to_vec(), stored.clone()));
                    bucket.cells.len() - 1
                }
            };
            if self.fits(&bucket) || !self.separates(&bucket) {
                // It fits — or no split would help, and the chain grows a page.
                self.store_bucket(tx, &mut meta, &bucket)?;
                let old = match old {
                    Some(value) => Some(self.release(tx, &mut meta, value, want_old)?),
                    None => None,
                };
                meta.save(tx)?;
                return Ok(old);
            }
            // Split without the key (its old cell, if any, is gone: `old` holds its value),
            // then look again: the key's bucket is now one bit deeper.
            bucket.cells.remove(at);
            self.split(tx, &mut meta, bucket, hash)?;
        }
        Err(Error::Corrupt {
            block: self.block(0),
            reason: format!("a bucket split more than {MAX_DEPTH} times for one key"),
        })
    }
    // ANCHOR_END: insert

    /// Whether splitting the bucket would separate its cells: its depth leaves a bit to
    /// split on, and that bit is not the same in every cell's hash.
    fn separates(&self, bucket: &Bucket) -> bool {
        if bucket.depth >= MAX_DEPTH {
            return false;
        }
        let bit = 1u64 << bucket.depth;
        let mut sides = bucket.cells.iter().map(|(key, _)| (self.hash)(key) & bit);
        match sides.next() {
            Some(first) => sides.any(|side| side != first),
            None => false,
        }
    }

    // ANCHOR: split
    /// Splits `bucket` (the bucket of keys with hash `hash`, of local depth `d`) on hash bit
    /// `d`: its keys with the bit set move to a new page, both become depth `d + 1`, and the
    /// directory entries ending in the bucket's bits plus a set bit `d` name the new page —
    /// only those entries are rewritten. The directory doubles first if `d` is the global
    /// depth.
    fn split(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut Meta,
        bucket: Bucket,
        hash: u64,
    ) -> Result<()> {
        let global = self.head_of(meta)?.global;
        let depth = bucket.depth;
        let number = bucket.pages[0].block.number();
        if depth > global {
            return Err(bucket.pages[0].corrupt(format!(
                "local depth {depth} over the global depth {global}"
            )));
        }
        if depth == global {
            self.double(tx, meta)?;
        }
        let bit = 1u64 << depth;
        let new_page = meta.allocate(tx)?;
        let new = new_page.block.clone();
        // The entries naming this bucket: those ending in its `depth` bits, one in every
        // 2^depth. Those with bit `depth` set now name the new page.
        let head = self.head_of(meta)?;
        self.repoint(tx, &head, (number, depth, hash & (bit - 1)), new.number())?;
        let (stay, go): (Vec<Cell>, Vec<Cell>) = bucket
            .cells
            .into_iter()
            .partition(|(key, _)| (self.hash)(key) & bit == 0);
        let depth = depth + 1;
        self.store_bucket(
            tx,
            meta,
            &Bucket {
                pages: bucket.pages,
                depth,
                cells: stay,
            },
        )?;
        self.store_bucket(
            tx,
            meta,
            &Bucket {
                pages: vec![new_page],
                depth,
                cells: go,
            },
        )
    }
    // ANCHOR_END: split

    /// Doubles the directory (see [`Directory::double`]) and the global depth in `meta`:
    /// the whole directory is loaded, and stored with its new entries and pages.
    fn double(&self, tx: &mut Transaction<'_>, meta: &mut Meta) -> Result<()> {
        let head = self.head_of(meta)?;
        let mut dir = self.load_directory(tx, &head)?;
        dir.double();
        self.store_directory(tx, meta, dir)?;
        meta.set_aux(u64::from(head.global + 1));
        Ok(())
    }

    /// Frees what a replaced or deleted value held, returning its bytes if `want` them.
    fn release(
        &self,
        tx: &mut Transaction<'_>,
        meta: &mut Meta,
        value: Value,
        want: bool,
    ) -> Result<Option<Vec<u8>>> {
        let chain = match value {
            Value::Overflow { first, .. } => Some(first),
            Value::Inline(_) => None,
        };
        let bytes = if want {
            Some(self.value(tx, value)?)
        } else {
            None
        };
        if let Some(first) = chain {
            free_chain(tx, meta, &self.file, first)?;
        }
        Ok(bytes)
    }

    // ANCHOR: delete
    /// Removes `key`; returns the value it had. The bucket's chain is re-packed (an
    /// overflow page it no longer needs is freed); buckets never merge.
    pub fn delete(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.remove_key(tx, key, true)?.flatten())
    }

    /// The removal behind `delete` and `remove`: `None` if the key was not there, else
    /// `Some` of its value's bytes if `want_old`.
    fn remove_key(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        want_old: bool,
    ) -> Result<Option<Option<Vec<u8>>>> {
        if key.len() > self.limits.max_key {
            return Ok(None); // never stored
        }
        let head = self.head(tx)?;
        let number = self.bucket_for(tx, &head, (self.hash)(key))?;
        let mut bucket = self.load_bucket(tx, &head, number)?;
        let Some(i) = bucket.position(key) else {
            return Ok(None);
        };
        // The chain's last cell takes the removed cell's place: cells of one size (the usual
        // case) then move nothing else. A bucket has no order to keep.
        let (_, value) = bucket.cells.swap_remove(i);
        if let Value::Inline(bytes) = value {
            // Nothing to free, unless the chain now needs a page fewer.
            if self.store_in_place(tx, &bucket)? {
                return Ok(Some(want_old.then_some(bytes)));
            }
            let mut meta = self.meta(tx)?;
            self.store_bucket(tx, &mut meta, &bucket)?;
            meta.save(tx)?;
            return Ok(Some(want_old.then_some(bytes)));
        }
        let mut meta = self.meta(tx)?;
        self.store_bucket(tx, &mut meta, &bucket)?;
        let old = self.release(tx, &mut meta, value, want_old)?;
        meta.save(tx)?;
        Ok(Some(old))
    }
    // ANCHOR_END: delete
}

impl Index for HashIndex {
    fn get(&self, tx: &mut impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>> {
        HashIndex::get(self, tx, key)
    }

    fn insert(
        &self,
        tx: &mut Transaction<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        HashIndex::insert(self, tx, key, value)
    }

    fn put(&self, tx: &mut Transaction<'_>, key: &[u8], value: &[u8]) -> Result<()> {
        self.upsert(tx, key, value, false).map(drop)
    }

    fn delete(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        HashIndex::delete(self, tx, key)
    }

    fn remove(&self, tx: &mut Transaction<'_>, key: &[u8]) -> Result<bool> {
        Ok(self.remove_key(tx, key, false)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::xxh3;

    /// The hash is part of the file format: these values must never change.
    #[test]
    fn the_hash_is_xxh3_64_and_never_changes() {
        // The reference value of XXH3_64bits("") from the xxHash project.
        assert_eq!(xxh3(b""), 0x2D06_8005_38D3_94C2);
        let pinned: Vec<u64> = [&b"a"[..], b"kanthorkv", &[0u8; 300]]
            .iter()
            .map(|k| xxh3(k))
            .collect();
        assert_eq!(pinned, PINNED);
    }

    /// XXH3-64 (seed 0) of `a`, `kanthorkv` and 300 zero bytes, as computed by the xxHash
    /// project's own C library (libxxhash 0.8) — and by `xxhash-rust`.
    const PINNED: [u64; 3] = [
        0xE6C6_32B6_1E96_4E1F,
        0xB94B_C888_1456_5C68,
        0x56D0_762B_2008_5F91,
    ];
}
