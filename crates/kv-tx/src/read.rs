//! Reading pages: the [`PageRead`] trait that both kinds of transaction implement, and
//! [`ReadTransaction`], which reads a snapshot and takes no locks.

use byteorder::{ByteOrder, LittleEndian};
use kv_file::BlockId;

use crate::manager::{TxManager, PAGE_LSN_SIZE};
use crate::versions::{Snapshot, TooOld};
use crate::{Error, Result};

/// Typed reads at (block, offset), the same for a read-write [`Transaction`](crate::Transaction)
/// (which locks) and a read-only [`ReadTransaction`] (which reads its snapshot), so code
/// above this layer can be written once for both.
pub trait PageRead {
    /// The length of a page's payload: offsets `PAGE_LSN_SIZE..page_capacity()` of every
    /// block are the caller's.
    fn page_capacity(&self) -> usize;

    /// The number of blocks in `file`. (A read-write transaction locks the file's end; a
    /// snapshot counts blocks appended since it began, see [`ReadTransaction::size`].)
    fn size(&mut self, file: &str) -> Result<u64>;

    /// Calls `f` once with the whole payload of `block`, in place — no copy — under the
    /// page's read latch: the one required read, for layers that parse their own pages.
    /// Bytes `0..PAGE_LSN_SIZE` are the page LSN. `f` must be quick: writers of the page
    /// wait for it.
    fn with_page(&mut self, block: &BlockId, f: &mut dyn FnMut(&[u8])) -> Result<()>;

    /// Like [`with_page`](Self::with_page), but a read-write transaction takes no lock: it
    /// reads the page as last committed (or as it changed it itself), which may change
    /// under it, so the caller must check what it read under a lock it takes next. (A B+tree
    /// descends so through its inner pages — shared locks on them to the end made every
    /// writer that must change one deadlock with every writer passing through — then locks
    /// the leaf and checks the inner pages' LSNs again.) A snapshot reads its snapshot.
    fn peek_page(&mut self, block: &BlockId, f: &mut dyn FnMut(&[u8])) -> Result<()> {
        self.with_page(block, f)
    }

    /// Whether pages can change under this reader (a read-write transaction's lock-free
    /// reads, `peek_page`); a snapshot's never do, so what it read needs no second look.
    /// No default: a reader that wrongly answered `false` would skip the checks that make
    /// lock-free descents safe.
    fn sees_changes(&self) -> bool;

    /// Takes a shared lock on `block`, held to the end: what a read-write transaction does
    /// before it reads. A snapshot takes no locks and does nothing.
    fn lock_shared(&mut self, _block: &BlockId) -> Result<()> {
        Ok(())
    }

    /// What `f` computes from the payload of `block`, read in place (see
    /// [`with_page`](Self::with_page)).
    fn read_page<R>(&mut self, block: &BlockId, f: impl FnOnce(&[u8]) -> R) -> Result<R>
    where
        Self: Sized,
    {
        let mut f = Some(f);
        let mut out = None;
        self.with_page(block, &mut |payload| {
            if let Some(f) = f.take() {
                out = Some(f(payload));
            }
        })?;
        Ok(out.expect("with_page calls its closure once"))
    }

    /// Fills `buf` with the bytes at `offset` of `block` (allocating nothing).
    fn read_into(&mut self, block: &BlockId, offset: usize, buf: &mut [u8]) -> Result<()> {
        let mut copied = Ok(());
        self.with_page(block, &mut |payload| {
            copied = copy_out(payload, block, offset, buf)
        })?;
        copied
    }

    /// `len` bytes at `offset` of `block`.
    fn read_bytes(&mut self, block: &BlockId, offset: usize, len: usize) -> Result<Vec<u8>> {
        let mut bytes = vec![0; len];
        self.read_into(block, offset, &mut bytes)?;
        Ok(bytes)
    }

    /// The `u64` at `offset` of `block`.
    fn get_u64(&mut self, block: &BlockId, offset: usize) -> Result<u64> {
        let mut bytes = [0; 8];
        self.read_into(block, offset, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// The `i32` at `offset` of `block`.
    fn get_i32(&mut self, block: &BlockId, offset: usize) -> Result<i32> {
        let mut bytes = [0; 4];
        self.read_into(block, offset, &mut bytes)?;
        Ok(i32::from_le_bytes(bytes))
    }

    /// The length-prefixed string at `offset` of `block` (the layout `Page::set_string` uses).
    fn get_string(&mut self, block: &BlockId, offset: usize) -> Result<String> {
        // Length and bytes in one visit of the page.
        let mut read = Ok(Vec::new());
        self.with_page(block, &mut |payload| {
            let mut len = [0; 4];
            read = copy_out(payload, block, offset, &mut len).and_then(|()| {
                let len = LittleEndian::read_u32(&len) as usize;
                if len > payload.len() {
                    // A damaged length: refuse it before allocating for it.
                    return Err(Error::BadOffset {
                        block: block.clone(),
                        offset: offset + 4,
                        len,
                        min: PAGE_LSN_SIZE,
                        max: payload.len(),
                    });
                }
                let mut bytes = vec![0; len];
                copy_out(payload, block, offset + 4, &mut bytes).map(|()| bytes)
            });
        })?;
        String::from_utf8(read?).map_err(|_| kv_file::Error::InvalidUtf8 { offset }.into())
    }
}

/// Copies `buf.len()` bytes at `offset` of a page's `payload` into `buf`, refusing the page
/// LSN and anything past the payload.
pub(crate) fn copy_out(
    payload: &[u8],
    block: &BlockId,
    offset: usize,
    buf: &mut [u8],
) -> Result<()> {
    let end = offset
        .checked_add(buf.len())
        .filter(|&end| end <= payload.len() && offset >= PAGE_LSN_SIZE);
    match end {
        Some(end) => {
            buf.copy_from_slice(&payload[offset..end]);
            Ok(())
        }
        None => Err(Error::BadOffset {
            block: block.clone(),
            offset,
            len: buf.len(),
            min: PAGE_LSN_SIZE,
            max: payload.len(),
        }),
    }
}

// ANCHOR: read_transaction
/// A read-only transaction: it sees exactly the read-write transactions that committed
/// before it began — never an uncommitted change, never half of a transaction — and takes
/// no locks: it never waits for a writer's transaction to end and never makes one wait.
/// (It does wait, briefly, for a page latch — which a writer may hold across a log flush —
/// and for a buffer frame when the pool is full.)
///
/// Dropping it ends the snapshot, releasing the page images kept for it. A snapshot held
/// while writers change more than `TxOptions::snapshot_memory` bytes of pages is ended early:
/// its next read fails with [`Error::SnapshotTooOld`].
pub struct ReadTransaction<'a> {
    /// The manager: pool and version store.
    mgr: &'a TxManager,
    /// What this transaction sees.
    snapshot: Snapshot,
}
// ANCHOR_END: read_transaction

impl<'a> ReadTransaction<'a> {
    pub(crate) fn new(mgr: &'a TxManager, snapshot: Snapshot) -> Self {
        Self { mgr, snapshot }
    }

    /// The commit sequence number of the last commit this transaction sees.
    pub fn snapshot(&self) -> u64 {
        self.snapshot.csn
    }
}

impl PageRead for ReadTransaction<'_> {
    fn page_capacity(&self) -> usize {
        self.mgr.page_capacity()
    }

    fn sees_changes(&self) -> bool {
        false // a snapshot: its pages never change under it
    }

    /// The number of blocks in `file` now — **not** as of the snapshot: it counts blocks
    /// appended since, even by transactions that have not committed or rolled back (file
    /// lengths are not versioned). Such blocks read as they were at the snapshot: all zero.
    fn size(&mut self, file: &str) -> Result<u64> {
        self.mgr.check_file(file)?;
        Ok(self.mgr.fm.length(file)?)
    }

    // ANCHOR: snapshot_read
    fn with_page(&mut self, block: &BlockId, f: &mut dyn FnMut(&[u8])) -> Result<()> {
        self.mgr.check_file(block.file())?;
        let guard = self.mgr.pool.pin(block)?;
        // The read latch first: a writer keeps the page's committed image before it changes
        // the page, under the write latch, so what we find next matches the page we see.
        let page = guard.read();
        match self.mgr.versions.image_for(block, self.snapshot) {
            Ok(Some(image)) => {
                drop(page);
                f(&image);
                Ok(())
            }
            Ok(None) => {
                f(page.payload());
                Ok(())
            }
            Err(TooOld) => Err(Error::SnapshotTooOld {
                snapshot: self.snapshot.csn,
            }),
        }
    }
    // ANCHOR_END: snapshot_read
}

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        self.mgr.versions.end(self.snapshot);
    }
}

impl std::fmt::Debug for ReadTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTransaction")
            .field("snapshot", &self.snapshot.csn)
            .finish()
    }
}
