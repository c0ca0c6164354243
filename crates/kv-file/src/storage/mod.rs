//! The `Storage` trait: the only door between KanthorKV and the disk.
//!
//! Everything the engine persists goes through these two traits, so a test can swap the real
//! file system ([`FsStorage`]) for an in-memory one that loses unsynced writes, tears the last
//! write or fails the n-th operation on cue ([`MemStorage`]). SQLite's VFS and redb's
//! `StorageBackend` play the same role.

use std::fmt::Debug;
use std::io;
use std::sync::Arc;

mod fs;
mod mem;

pub use fs::FsStorage;
pub(crate) use fs::LOCK_FILE;
pub use mem::{Crash, FaultOp, MemStorage, MemStorageStats, Unsynced};

// ANCHOR: storage
/// A directory of named files: what a database directory needs from a file system.
///
/// Implementations must be safe to share between threads; each call is independent (no
/// shared cursor), which is what lets the file manager avoid a lock around I/O.
pub trait Storage: Send + Sync + Debug + 'static {
    /// Opens `name`, creating it if missing; a creation is made durable before returning.
    fn open_file(&self, name: &str) -> io::Result<Arc<dyn StorageFile>>;

    /// Whether `name` exists.
    fn exists(&self, name: &str) -> io::Result<bool>;

    /// Deletes `name`, durably; used to drop log segments and temporary files.
    fn remove_file(&self, name: &str) -> io::Result<()>;

    /// The names of all files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Takes the directory's owner lock; fails with `ErrorKind::WouldBlock` if another
    /// owner (any process) holds it. The lock is released when the guard drops.
    fn lock(&self) -> io::Result<Box<dyn StorageLock>>;

    /// Where `name` lives, for error messages (a path, or `mem:NAME`).
    fn describe(&self, name: &str) -> String;
}

/// One open file: positional reads and writes, length, and durability.
pub trait StorageFile: Send + Sync + Debug {
    /// Reads into `buf` from `offset`; returns fewer bytes than asked only at end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Writes all of `buf` at `offset`, growing the file if needed (a gap reads as zeroes).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;

    /// The file's length in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Cuts or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes every write so far durable: after it returns, a crash cannot lose them.
    fn sync(&self) -> io::Result<()>;
}

/// Proof that the directory is owned; dropping it gives the directory up.
pub trait StorageLock: Send + Sync + Debug {}
// ANCHOR_END: storage

/// Fills `buf` from `offset` until it is full or the file ends; returns the bytes read.
///
/// `read_at` may return short reads before the end of a file; this loops over them.
pub fn read_full(file: &dyn StorageFile, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
