//! The one interface every store is driven through: a write transaction (puts and deletes,
//! committed durably) and a read transaction (gets and short ranges), each given to
//! the workload as a closure so that every store opens its table once per transaction —
//! the shape of redb's own benchmark harness.

use std::path::Path;

/// The page cache every store is given: redb's and sled's default, so that no store reads
/// from the OS where another reads from its own memory (a million entries fill ~250 MiB).
pub const CACHE_BYTES: usize = 1 << 30;

/// Puts and deletes inside one write transaction.
pub trait Writer {
    /// Stores `value` under `key`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Removes `key`.
    fn delete(&mut self, key: &[u8]);
}

/// Reads inside one read transaction.
pub trait Reader {
    /// The length of the value under `key`, if any (the value is read, then dropped).
    fn get(&mut self, key: &[u8]) -> Option<usize>;
    /// Reads up to `n` entries from `start` on; how many there were.
    fn range(&mut self, start: &[u8], n: usize) -> usize;
}

/// A store under test.
pub trait Store: Sync {
    /// Its name in the table.
    fn name(&self) -> &'static str;
    /// Runs `f` in one write transaction, committed durably (on disk when this returns), as
    /// every write of redb's benchmark is.
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writer));
    /// Runs `f` in one read transaction.
    fn read(&self, f: &mut dyn FnMut(&mut dyn Reader));
    /// Gives free space back to the file system, if the store can; whether it did.
    fn compact(&self) -> bool;
}

/// How many entries a range read produced, each checked to be `Ok` (read, then dropped).
pub fn count_entries<T, E: std::fmt::Debug>(entries: impl Iterator<Item = Result<T, E>>) -> usize {
    entries.fold(0, |n, e| {
        e.expect("entry");
        n + 1
    })
}

/// Bytes the files under `dir` take on disk: blocks allocated, not lengths, so that a file
/// preallocated sparse (fjall's 64 MiB journal, of which a few MiB are written) counts for
/// what it holds.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&e.path()),
            _ => e.metadata().map_or(0, |m| allocated(&m)),
        })
        .sum()
}

/// Bytes of the blocks allocated to a file (its length where blocks are not known).
fn allocated(m: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        m.blocks() * 512 // st_blocks is in 512-byte units, whatever the file system's block
    }
    #[cfg(not(unix))]
    {
        m.len()
    }
}
