//! `FileManager`: whole-block reads and writes on a locked database directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use crate::checksum::{self, Verdict};
use crate::header::{self, HEADER_FILE};
use crate::page::validate_block_size;
use crate::storage::{read_full, FsStorage, Storage, StorageFile, StorageLock, LOCK_FILE};
use crate::{BlockId, Error, Page, Result};

/// How to open a directory; the default creates 4 KiB blocks or uses whatever is recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// The block size required; `None` accepts the recorded one (or the default, when new).
    pub block_size: Option<usize>,
}

impl FileOptions {
    /// Requires `size`: used at creation, and checked against the header on reopen.
    pub fn block_size(mut self, size: usize) -> Self {
        self.block_size = Some(size);
        self
    }
}

/// A snapshot of the file manager's counters, for stats and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Blocks read from storage (fresh ones included).
    pub blocks_read: u64,
    /// Blocks written by `write`.
    pub blocks_written: u64,
    /// Blocks added by `append`.
    pub blocks_appended: u64,
    /// Files synced.
    pub syncs: u64,
    /// Reads that failed verification: each is a damaged block somewhere.
    pub corrupt_reads: u64,
}

#[derive(Default)]
struct Counters {
    blocks_read: AtomicU64,
    blocks_written: AtomicU64,
    blocks_appended: AtomicU64,
    syncs: AtomicU64,
    corrupt_reads: AtomicU64,
}

/// One open file: its handle and its length in blocks, shared by every thread using it.
struct OpenFile {
    /// The file's name, shared by every `BlockId` that `append` hands out.
    name: Arc<str>,
    handle: Arc<dyn StorageFile>,
    /// Length in blocks; appends claim a number by incrementing it, without a lock.
    blocks: AtomicU64,
    /// Where the file lives, for error messages.
    path: String,
}

// ANCHOR: file_manager
/// Reads and writes whole blocks of the files in one database directory.
///
/// It owns the directory (an owner lock is held until it drops), checks every block it reads
/// against the checksum it wrote, and counts what it does. It is `Sync`: threads share one
/// `FileManager`, and no lock is held while a thread waits for the disk.
pub struct FileManager {
    /// Where the bytes go: the real file system, or the fault-injecting simulation.
    storage: Arc<dyn Storage>,
    /// Every block of every file in this directory has this size.
    block_size: usize,
    /// Open files by name; the lock is taken only to look up or insert, never across I/O.
    files: RwLock<HashMap<Arc<str>, Arc<OpenFile>>>,
    /// Bumped by every `remove`, so a concurrent first open of the same file notices.
    removals: AtomicU64,
    /// One block of zeroes, written by `append` without allocating.
    zero_block: Box<[u8]>,
    /// Operation counts, for stats.
    counters: Counters,
    /// Held for the file manager's lifetime so no one else opens the directory.
    _owner: Box<dyn StorageLock>,
}
// ANCHOR_END: file_manager

impl FileManager {
    /// Opens (creating if needed) the database directory `dir` on the file system, with 4 KiB
    /// blocks when new.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(Self::fs(dir.as_ref())?, FileOptions::default())
    }

    /// Opens a directory on any [`Storage`], e.g. a [`MemStorage`](crate::MemStorage) in tests.
    pub fn open_with(storage: impl Storage, options: FileOptions) -> Result<Self> {
        if let Some(size) = options.block_size {
            validate_block_size(size)?;
        }
        let owner = storage.lock().map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::Locked {
                path: storage.describe("").trim_end_matches('/').to_owned(),
            },
            _ => Error::io("locking", storage.describe(LOCK_FILE), e),
        })?;
        let block_size = header::load_or_create(&storage, options.block_size)?;
        validate_block_size(block_size).map_err(|e| Error::BadHeader {
            path: storage.describe(HEADER_FILE),
            reason: e.to_string(),
        })?;
        Ok(Self {
            storage: Arc::new(storage),
            block_size,
            files: RwLock::default(),
            removals: AtomicU64::new(0),
            zero_block: vec![0; block_size].into_boxed_slice(),
            counters: Counters::default(),
            _owner: owner,
        })
    }

    /// The file-system storage for `dir`, with errors naming the directory.
    fn fs(dir: &Path) -> Result<FsStorage> {
        FsStorage::open(dir).map_err(|e| Error::io("opening directory", dir.display(), e))
    }

    /// The size of every block, fixed when the directory was created.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// A zeroed page of this directory's block size.
    pub fn new_page(&self) -> Page {
        Page::new(self.block_size).expect("block size validated at open")
    }

    /// The storage underneath, for layers that manage whole files (log segments).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    // ANCHOR: read
    /// Reads `block` into `page` and verifies its checksum.
    ///
    /// A block that was appended but never written reads as zeroes. A block whose checksum
    /// does not match (a torn write, bit rot, a misplaced write) is [`Error::Corrupt`].
    pub fn read(&self, block: &BlockId, page: &mut Page) -> Result<()> {
        self.check_page(page)?;
        let file = self.file(block.file())?;
        let offset = self.offset_in(block, &file)?;
        let buf = page.raw_mut();
        let n = read_full(&*file.handle, buf, offset)
            .map_err(|e| Error::io("reading block", block_in(block, &file), e))?;
        // A short read is a block the file does not fully hold yet (an append in flight,
        // or a torn one): the missing bytes are zeroes, and verification judges the rest.
        buf[n..].fill(0);
        self.counters.blocks_read.fetch_add(1, Relaxed);
        match checksum::verify(page, block.number()) {
            Verdict::Valid | Verdict::Fresh => Ok(()),
            Verdict::Corrupt(reason) => {
                self.counters.corrupt_reads.fetch_add(1, Relaxed);
                Err(Error::Corrupt {
                    block: block.clone(),
                    path: file.path.clone(),
                    reason,
                })
            }
        }
    }
    // ANCHOR_END: read

    // ANCHOR: write
    /// Writes `page` to `block`, sealing it with a checksum first (hence `&mut`).
    ///
    /// The block must exist: files grow only by [`append`](Self::append) (or
    /// [`truncate`](Self::truncate) to a larger length), so two threads can never both
    /// believe they created the same block. The write is durable only after
    /// [`sync`](Self::sync).
    pub fn write(&self, block: &BlockId, page: &mut Page) -> Result<()> {
        self.check_page(page)?;
        let file = self.file(block.file())?;
        let offset = self.offset_in(block, &file)?;
        checksum::seal(page, block.number());
        file.handle
            .write_at(page.raw(), offset)
            .map_err(|e| Error::io("writing block", block_in(block, &file), e))?;
        self.counters.blocks_written.fetch_add(1, Relaxed);
        Ok(())
    }
    // ANCHOR_END: write

    // ANCHOR: append
    /// Adds a fresh (zeroed) block at the end of `file` and returns its id.
    ///
    /// Concurrent appends each get their own block: the number is claimed with one atomic
    /// increment, then the zeroes are written outside any lock.
    pub fn append(&self, file: &str) -> Result<BlockId> {
        let open = self.file(file)?;
        let number = open.blocks.fetch_add(1, Relaxed);
        let block = BlockId::new(Arc::clone(&open.name), number);
        let written = match number.checked_mul(self.block_size as u64) {
            Some(offset) => open.handle.write_at(&self.zero_block, offset),
            None => Err(std::io::ErrorKind::FileTooLarge.into()),
        };
        if let Err(e) = written {
            // Give the number back if no one appended since; otherwise it stays a fresh
            // block inside the file, which reads as zeroes and harms nothing.
            let _ = open
                .blocks
                .compare_exchange(number + 1, number, Relaxed, Relaxed);
            return Err(Error::io("appending block", block_in(&block, &open), e));
        }
        self.counters.blocks_appended.fetch_add(1, Relaxed);
        Ok(block)
    }
    // ANCHOR_END: append

    /// The number of blocks in `file` (0 for a file not yet created, which this creates).
    pub fn length(&self, file: &str) -> Result<u64> {
        Ok(self.file(file)?.blocks.load(Relaxed))
    }

    /// Makes every write to `file` so far durable.
    pub fn sync(&self, file: &str) -> Result<()> {
        let open = self.file(file)?;
        open.handle
            .sync()
            .map_err(|e| Error::io("syncing", &open.path, e))?;
        self.counters.syncs.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Syncs every file opened so far, for checkpoints and shutdown.
    pub fn sync_all(&self) -> Result<()> {
        let names: Vec<Arc<str>> = self.read_files().keys().cloned().collect();
        names.iter().try_for_each(|name| self.sync(name))
    }

    /// Cuts `file` to its first `blocks` blocks (or extends it with fresh ones).
    ///
    /// The caller must ensure no one uses the blocks removed; durable after `sync`.
    pub fn truncate(&self, file: &str, blocks: u64) -> Result<()> {
        let open = self.file(file)?;
        let bytes =
            blocks
                .checked_mul(self.block_size as u64)
                .ok_or_else(|| Error::BlockOutOfRange {
                    block: BlockId::new(Arc::clone(&open.name), blocks),
                    length: open.blocks.load(Relaxed),
                })?;
        open.handle
            .set_len(bytes)
            .map_err(|e| Error::io("truncating", &open.path, e))?;
        open.blocks.store(blocks, Relaxed);
        Ok(())
    }

    /// Deletes `file` from the directory, durably; block ids naming it become invalid.
    pub fn remove(&self, file: &str) -> Result<()> {
        validate_name(file)?;
        {
            let mut files = self.files.write().unwrap_or_else(PoisonError::into_inner);
            files.remove(file);
            // A `file()` that opened the file before this removal must not cache its handle.
            self.removals.fetch_add(1, Relaxed);
        }
        self.storage
            .remove_file(file)
            .map_err(|e| Error::io("removing", self.storage.describe(file), e))
    }

    /// Whether `file` exists in the directory.
    pub fn exists(&self, file: &str) -> Result<bool> {
        validate_name(file)?;
        self.storage
            .exists(file)
            .map_err(|e| Error::io("looking up", self.storage.describe(file), e))
    }

    /// The counters so far.
    pub fn stats(&self) -> FileStats {
        let c = &self.counters;
        FileStats {
            blocks_read: c.blocks_read.load(Relaxed),
            blocks_written: c.blocks_written.load(Relaxed),
            blocks_appended: c.blocks_appended.load(Relaxed),
            syncs: c.syncs.load(Relaxed),
            corrupt_reads: c.corrupt_reads.load(Relaxed),
        }
    }

    /// The byte offset of `block`, which must be inside `file`.
    fn offset_in(&self, block: &BlockId, file: &OpenFile) -> Result<u64> {
        let length = file.blocks.load(Relaxed);
        if block.number() >= length {
            return Err(Error::BlockOutOfRange {
                block: block.clone(),
                length,
            });
        }
        // Cannot overflow: the file holds `length` blocks, so this offset exists in it.
        Ok(block.number() * self.block_size as u64)
    }

    fn check_page(&self, page: &Page) -> Result<()> {
        if page.block_size() == self.block_size {
            Ok(())
        } else {
            Err(Error::PageSizeMismatch {
                expected: self.block_size,
                found: page.block_size(),
            })
        }
    }

    fn read_files(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<OpenFile>>> {
        // The map is only ever changed by complete inserts and removes, so it is consistent
        // even if a thread panicked while holding the lock.
        self.files.read().unwrap_or_else(PoisonError::into_inner)
    }

    // ANCHOR: file_cache
    /// The open file `name`, opening (and creating) it on first use.
    ///
    /// The common case is a shared-lock lookup. On a miss the file is opened with no lock
    /// held; if another thread raced us, its handle wins and ours is dropped, and if the file
    /// was removed meanwhile, we open it again rather than cache a handle to a deleted file.
    fn file(&self, name: &str) -> Result<Arc<OpenFile>> {
        if let Some(open) = self.read_files().get(name) {
            return Ok(Arc::clone(open));
        }
        validate_name(name)?;
        let path = self.storage.describe(name);
        loop {
            let removals = self.removals.load(Relaxed);
            let handle = self
                .storage
                .open_file(name)
                .map_err(|e| Error::io("opening", &path, e))?;
            let len = handle.size().map_err(|e| Error::io("sizing", &path, e))?;
            let name: Arc<str> = Arc::from(name);
            let opened = Arc::new(OpenFile {
                name: Arc::clone(&name),
                handle,
                blocks: AtomicU64::new(len.div_ceil(self.block_size as u64)),
                path: path.clone(),
            });
            let mut files = self.files.write().unwrap_or_else(PoisonError::into_inner);
            if self.removals.load(Relaxed) == removals {
                return Ok(Arc::clone(files.entry(name).or_insert(opened)));
            }
        }
    }
    // ANCHOR_END: file_cache
}

impl std::fmt::Debug for FileManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileManager")
            .field("storage", &self.storage)
            .field("block_size", &self.block_size)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Whether `name` (before any extension) is a reserved Windows device name such as `NUL`.
fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit())
}

/// `block` and the path of its file, for error messages.
fn block_in(block: &BlockId, file: &OpenFile) -> String {
    format!("{block} ({})", file.path)
}

/// Refuses names that would leave the directory or clash with the files this layer owns.
///
/// Public so layers that name their own files (log segments) apply the same rules.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > 255 {
        "longer than 255 bytes"
    } else if name == "." || name == ".." || name.contains(['/', '\\', '\0', ':']) {
        "must be a plain file name inside the directory"
    } else if name.eq_ignore_ascii_case(HEADER_FILE) || name.eq_ignore_ascii_case(LOCK_FILE) {
        // Compared without case: on macOS and Windows, "header" *is* the HEADER file.
        "reserved for the directory's own use"
    } else if is_windows_device(name) {
        "a device name on Windows"
    } else {
        return Ok(());
    };
    Err(Error::InvalidFileName {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FaultOp, MemStorage};

    fn mem(block_size: usize) -> (MemStorage, FileManager) {
        let storage = MemStorage::new();
        let fm = FileManager::open_with(
            storage.clone(),
            FileOptions::default().block_size(block_size),
        )
        .unwrap();
        (storage, fm)
    }

    #[test]
    fn block_size_is_recorded_and_checked_on_reopen() {
        let (storage, fm) = mem(1024);
        drop(fm);
        let fm = FileManager::open_with(storage.clone(), FileOptions::default()).unwrap();
        assert_eq!(
            fm.block_size(),
            1024,
            "the recorded size wins when none is asked for"
        );
        drop(fm);
        let err =
            FileManager::open_with(storage, FileOptions::default().block_size(4096)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BlockSizeMismatch {
                    on_disk: 1024,
                    requested: 4096,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_block_sizes_are_refused_before_touching_the_disk() {
        let storage = MemStorage::new();
        let err = FileManager::open_with(storage.clone(), FileOptions::default().block_size(1000))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidBlockSize { size: 1000, .. }));
        assert!(storage.list().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_header_is_a_clear_error() {
        let (storage, fm) = mem(512);
        fm.append("t").unwrap();
        drop(fm);
        storage.corrupt(HEADER_FILE, 13, 0xff);
        let err = FileManager::open_with(storage, FileOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::BadHeader { ref reason, .. } if reason == "checksum mismatch")
        );
    }

    #[test]
    fn a_second_owner_is_refused() {
        let (storage, _fm) = mem(512);
        let err = FileManager::open_with(storage, FileOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
    }

    #[test]
    fn appended_blocks_are_fresh_and_numbered_in_order() {
        let (_, fm) = mem(512);
        assert_eq!(fm.length("t").unwrap(), 0);
        let a = fm.append("t").unwrap();
        let b = fm.append("t").unwrap();
        assert_eq!((a.number(), b.number()), (0, 1));
        assert_eq!(fm.length("t").unwrap(), 2);
        let mut page = fm.new_page();
        page.set_u32(0, 99).unwrap();
        fm.read(&b, &mut page).unwrap();
        assert_eq!(page, fm.new_page(), "a fresh block reads as zeroes");
    }

    #[test]
    fn writes_need_an_existing_block_and_read_back() {
        let (_, fm) = mem(512);
        let mut page = fm.new_page();
        page.set_string(0, "hello").unwrap();
        let err = fm.write(&BlockId::new("t", 3), &mut page).unwrap_err();
        assert!(
            matches!(err, Error::BlockOutOfRange { length: 0, .. }),
            "{err}"
        );
        fm.truncate("t", 4).unwrap();
        fm.write(&BlockId::new("t", 3), &mut page).unwrap();
        let mut back = fm.new_page();
        fm.read(&BlockId::new("t", 3), &mut back).unwrap();
        assert_eq!(back.get_string(0).unwrap(), "hello");
        fm.read(&BlockId::new("t", 1), &mut back).unwrap();
        assert_eq!(
            back,
            fm.new_page(),
            "blocks added by growing the file are fresh"
        );
        let err = fm.read(&BlockId::new("t", 4), &mut back).unwrap_err();
        assert!(
            matches!(err, Error::BlockOutOfRange { length: 4, .. }),
            "{err}"
        );
        let huge = BlockId::new("t", u64::MAX / 2);
        assert!(matches!(
            fm.write(&huge, &mut page),
            Err(Error::BlockOutOfRange { .. })
        ));
        assert!(matches!(
            fm.read(&huge, &mut back),
            Err(Error::BlockOutOfRange { .. })
        ));
        assert!(matches!(
            fm.truncate("t", u64::MAX),
            Err(Error::BlockOutOfRange { .. })
        ));
        assert_eq!(fm.length("t").unwrap(), 4, "refused calls changed nothing");
    }

    #[test]
    fn damaged_blocks_are_reported_with_file_and_block() {
        let (storage, fm) = mem(512);
        fm.truncate("t", 2).unwrap();
        let mut page = fm.new_page();
        page.set_u64(8, 7).unwrap();
        fm.write(&BlockId::new("t", 0), &mut page).unwrap();
        fm.write(&BlockId::new("t", 1), &mut page).unwrap();
        storage.corrupt("t", 512 + 9, 0x01);
        let err = fm.read(&BlockId::new("t", 1), &mut page).unwrap_err();
        assert!(matches!(err, Error::Corrupt { ref block, .. } if block.number() == 1));
        assert_eq!(
            err.to_string(),
            "corrupt block t:1 in mem:t: checksum mismatch: stored 0x47ab8943, computed 0xe9f7b88e"
        );
        assert_eq!(fm.stats().corrupt_reads, 1);
        fm.read(&BlockId::new("t", 0), &mut page)
            .expect("the neighbour is intact");
    }

    #[test]
    fn a_block_at_the_wrong_position_is_corrupt() {
        let (storage, fm) = mem(512);
        fm.truncate("t", 2).unwrap();
        let mut page = fm.new_page();
        page.set_u64(0, 1).unwrap();
        fm.write(&BlockId::new("t", 0), &mut page).unwrap();
        let bytes = storage.file_bytes("t").unwrap()[..512].to_vec();
        // A misdirected write: block 0's bytes land at block 1.
        storage
            .open_file("t")
            .unwrap()
            .write_at(&bytes, 512)
            .unwrap();
        let err = fm.read(&BlockId::new("t", 1), &mut page).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }

    #[test]
    fn names_that_escape_or_clash_are_refused() {
        let (_, fm) = mem(512);
        let long = "x".repeat(256);
        let bad_names = [
            "", ".", "..", "a/b", "a\\b", "c:d", "HEADER", "LOCK", "header", "Lock", "x\0", "NUL",
            "com1.db", &long,
        ];
        for bad in bad_names {
            assert!(
                matches!(fm.length(bad), Err(Error::InvalidFileName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn disk_full_is_an_error_and_nothing_is_lost() {
        let (storage, fm) = mem(512);
        let mut page = fm.new_page();
        page.set_u32(0, 42).unwrap();
        let first = fm.append("t").unwrap();
        fm.write(&first, &mut page).unwrap();
        fm.sync("t").unwrap();
        storage.set_capacity(Some(
            storage.file_bytes("t").unwrap().len() as u64 + 24 + 100,
        ));
        let err = fm.append("t").unwrap_err();
        assert!(matches!(err, Error::DiskFull { .. }), "{err}");
        assert_eq!(
            fm.length("t").unwrap(),
            1,
            "the failed append gave its number back"
        );
        let mut back = fm.new_page();
        fm.read(&first, &mut back).unwrap();
        assert_eq!(back.get_u32(0).unwrap(), 42);
        storage.set_capacity(None);
        assert_eq!(
            fm.append("t").unwrap().number(),
            1,
            "usable again once space is freed"
        );
    }

    #[test]
    fn injected_io_errors_carry_context_and_do_not_stick() {
        let (storage, fm) = mem(512);
        fm.truncate("t", 1).unwrap();
        let mut page = fm.new_page();
        let w = storage.stats().writes;
        storage.fail_at(FaultOp::Write, w);
        let err = fm.write(&BlockId::new("t", 0), &mut page).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("I/O error while writing block t:0 (mem:t)"),
            "{err}"
        );
        fm.write(&BlockId::new("t", 0), &mut page).unwrap();
        storage.fail_at(FaultOp::Sync, storage.stats().syncs);
        assert!(matches!(fm.sync("t"), Err(Error::Io { op: "syncing", .. })));
    }

    #[test]
    fn a_failed_read_is_an_io_error_naming_the_block() {
        let (storage, fm) = mem(512);
        let block = fm.append("t").unwrap();
        storage.fail_at(FaultOp::Read, storage.stats().reads);
        let mut page = fm.new_page();
        let err = fm.read(&block, &mut page).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    op: "reading block",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("t:0 (mem:t)"), "{err}");
        fm.read(&block, &mut page).expect("the fault fired once");
    }

    #[test]
    fn failed_truncates_and_syncs_are_errors() {
        let (storage, fm) = mem(512);
        fm.append("a").unwrap();
        fm.append("b").unwrap();
        storage.fail_at(FaultOp::Any, storage.stats().mutations);
        assert!(matches!(
            fm.truncate("a", 0),
            Err(Error::Io {
                op: "truncating",
                ..
            })
        ));
        assert_eq!(
            fm.length("a").unwrap(),
            1,
            "a failed truncate changes nothing"
        );
        storage.fail_at(FaultOp::Sync, storage.stats().syncs + 1);
        assert!(fm.sync_all().is_err(), "one failing file fails sync_all");
    }

    #[test]
    fn removing_a_missing_file_is_an_error() {
        let (_, fm) = mem(512);
        let err = fm.remove("never").unwrap_err();
        assert!(matches!(err, Error::Io { op: "removing", .. }), "{err}");
    }

    #[test]
    fn pages_of_another_size_are_refused() {
        let (_, fm) = mem(512);
        let mut big = Page::new(1024).unwrap();
        let err = fm.write(&BlockId::new("t", 0), &mut big).unwrap_err();
        assert!(matches!(
            err,
            Error::PageSizeMismatch {
                expected: 512,
                found: 1024
            }
        ));
    }

    #[test]
    fn truncate_and_remove() {
        let (storage, fm) = mem(512);
        for _ in 0..5 {
            fm.append("t").unwrap();
        }
        fm.truncate("t", 2).unwrap();
        assert_eq!(fm.length("t").unwrap(), 2);
        assert_eq!(storage.file_bytes("t").unwrap().len(), 1024);
        assert!(fm.exists("t").unwrap());
        fm.remove("t").unwrap();
        assert!(!fm.exists("t").unwrap());
        assert_eq!(fm.length("t").unwrap(), 0, "a removed file starts anew");
    }

    #[test]
    fn counters_count() {
        let (_, fm) = mem(512);
        let mut page = fm.new_page();
        let b = fm.append("t").unwrap();
        fm.write(&b, &mut page).unwrap();
        fm.read(&b, &mut page).unwrap();
        fm.read(&b, &mut page).unwrap();
        fm.sync_all().unwrap();
        let s = fm.stats();
        assert_eq!(
            (s.blocks_appended, s.blocks_written, s.blocks_read, s.syncs),
            (1, 1, 2, 1)
        );
    }
}
