//! # kv-file: blocks, pages and the file manager
//!
//! This is the bottom layer of KanthorKV and chapter 2 of the book. It turns a directory of
//! files into an array of fixed-size **blocks** that the layers above read and write whole.
//!
//! - [`BlockId`] names a block: a file in the directory and a block number in it.
//! - [`Page`] is one block's bytes in memory, with bounds-checked typed accessors
//!   (little-endian integers, length-prefixed byte strings and UTF-8 strings).
//! - [`FileManager`] reads, writes, appends and syncs blocks, verifying a checksum on every
//!   read, and owns the directory through an advisory lock.
//! - [`Storage`] is the trait under the file manager: [`FsStorage`] is the real file system,
//!   [`MemStorage`] a simulated disk that crashes, tears writes and fails on cue for tests.
//!
//! ```
//! use kv_file::{FileManager, FileOptions, MemStorage};
//!
//! # fn main() -> kv_file::Result<()> {
//! // `FileManager::open(dir)` uses the real file system; tests use the simulated disk.
//! let fm = FileManager::open_with(MemStorage::new(), FileOptions::default())?;
//! let block = fm.append("data.db")?; // data.db:0, fresh
//! let mut page = fm.new_page();
//! page.set_u64(0, 42)?;
//! page.set_string(8, "hello")?;
//! fm.write(&block, &mut page)?; // sealed with a checksum
//! fm.sync("data.db")?; // durable from here on
//!
//! let mut back = fm.new_page();
//! fm.read(&block, &mut back)?; // verified
//! assert_eq!((back.get_u64(0)?, back.get_string(8)?), (42, "hello"));
//! # Ok(())
//! # }
//! ```
//!
//! ## Invariants
//!
//! - Every block on disk is either all zeroes (allocated, never written: reads as a fresh
//!   zeroed page) or sealed: its last [`TRAILER_SIZE`] bytes hold a CRC-32 of its number and
//!   contents and the marker `KVpg`. Anything else is reported as [`Error::Corrupt`] naming the
//!   file and block; damaged bytes are never returned as data.
//! - A page accessor never touches bytes outside the page's usable area, and an out-of-range
//!   access is an [`Error::OutOfBounds`], never a panic. A refused write changes nothing.
//! - Only one [`FileManager`] owns a directory at a time, in any process ([`Error::Locked`]).
//! - Every block of a directory has the block size recorded in its `HEADER` at creation.
//! - Writes are durable only after [`FileManager::sync`]; until then a crash may drop them or
//!   tear the last one, and the checksum is what lets upper layers notice.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Positional I/O** (`pread`/`pwrite`) on shared handles, instead of `seek` + `read` on a
//!   handle behind a mutex: threads never queue behind each other's disk waits. The only lock
//!   is a read-mostly map from file name to handle, never held across I/O.
//! - **The checksum lives inside the block** (an 8-byte trailer) rather than in a separate
//!   checksum file: one write carries data and checksum together, so they cannot disagree
//!   after a crash, at the price of 8 bytes per block. Including the block number in the CRC
//!   also catches a block written to the wrong place.
//! - **Fresh blocks are all-zero blocks** rather than carrying a "written" bitmap: appends and
//!   file holes produce zeroes for free, and a sealed block can never be all zero.
//! - **A `Storage` trait with a fault-injecting twin** rather than crash tests that kill real
//!   processes: a simulated crash is deterministic and fast, so tests can crash at every write
//!   of a workload (the approach of SQLite's VFS tests and redb's storage backends). Process
//!   kills are still tested, later, at the server level.
//! - **Little-endian integers**, matching the processors KanthorKV runs on; upper layers that
//!   need byte-order-comparable keys encode them themselves.
//! - **The block count is an atomic per file**, so concurrent appends claim distinct blocks
//!   without a lock; the zeroes are written after the number is claimed.
//!
//! ## CAVEATS
//!
//! - `fsync` is `fdatasync` (`File::sync_data`). On macOS that does not flush the drive's
//!   cache (it needs `F_FULLFSYNC`); KanthorKV's durability claims are for Linux.
//! - The checksum covers the block number but not the file name: a block copied into the
//!   same position of another file of the same directory is not detected (exercise 2.1).
//! - Files grow only by `append` or `truncate`; `write` refuses blocks past the end, so no
//!   two threads can both believe they created the same block.
//! - An all-zero block is taken as never written; a disk that zeroes a written block loses it
//!   silently. The log (chapter 3) is what recovers such a block.
//! - CRC-32 detects damage, not tampering; it is not a cryptographic MAC.
//! - The advisory lock protects against other KanthorKV processes, not against programs that
//!   ignore advisory locks, and may not work on network file systems.
//! - A *lost write* is not detected: if a disk acknowledges a write and then drops it, the
//!   block still holds its older, validly sealed contents. Only the log (chapter 3) and page
//!   LSNs (chapter 5) can tell an old version from the current one.
//! - The file manager does not serialise a read and a write of the same block: a read that
//!   races a write may see a mix and report it `Corrupt`. Callers latch pages (chapter 4).
//! - Reading, sizing or syncing a file that does not exist creates it (empty), as appending
//!   to it would; a misspelt name produces an empty file, not an error.
//! - [`MemStorage`] makes file creation and removal durable at once (a power cut or fault can
//!   still stop them); only data writes and length changes can be lost in a simulated crash.

mod block;
mod checksum;
mod error;
mod file_manager;
mod header;
mod hexdump;
mod page;
mod storage;

pub use block::BlockId;
pub use checksum::{PAGE_MAGIC, TRAILER_SIZE};
pub use error::{Error, Result};
pub use file_manager::{validate_name, FileManager, FileOptions, FileStats};
pub use header::{FORMAT_VERSION, HEADER_FILE, HEADER_MAGIC, HEADER_SIZE};
pub use hexdump::hexdump;
pub use page::{
    validate_block_size, Page, DEFAULT_BLOCK_SIZE, LEN_PREFIX, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE,
};
pub use storage::{
    read_full, Crash, FaultOp, FsStorage, MemStorage, MemStorageStats, Storage, StorageFile,
    StorageLock, Unsynced,
};
