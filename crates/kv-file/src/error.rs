//! The one error type of this layer.

use std::io;

use crate::BlockId;

/// What went wrong in the file layer, always with the file or block it went wrong on.
///
/// Callers match on the variant to decide what to do (retry, report corruption, tell the
/// operator the disk is full); the message is for people and names the place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system failed an operation; `target` is the file or block involved.
    #[error("I/O error while {op} {target}: {source}")]
    Io {
        /// What the file manager was doing, e.g. "reading block".
        op: &'static str,
        /// The path or `file:block` the operation touched.
        target: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The device has no space left (ENOSPC); nothing already synced is affected.
    #[error("disk full while {op} {target}")]
    DiskFull {
        /// What the file manager was doing when space ran out.
        op: &'static str,
        /// The path or `file:block` that could not be written.
        target: String,
        /// The operating system's error, kept for its details.
        #[source]
        source: io::Error,
    },

    /// A block's checksum or marker does not match its contents: a torn or damaged write.
    #[error("corrupt block {block} in {path}: {reason}")]
    Corrupt {
        /// The block that failed verification.
        block: BlockId,
        /// The file's path, so an operator can find it.
        path: String,
        /// What exactly did not match.
        reason: String,
    },

    /// A block past the end of its file was asked for.
    #[error("block {block} is past the end of the file ({length} blocks)")]
    BlockOutOfRange {
        /// The block asked for.
        block: BlockId,
        /// How many blocks the file has.
        length: u64,
    },

    /// A typed page access fell (partly) outside the page's usable bytes.
    #[error("page access of {len} bytes at offset {offset} is outside the page ({capacity} usable bytes)")]
    OutOfBounds {
        /// Where the access started.
        offset: usize,
        /// How many bytes it needed.
        len: usize,
        /// How many bytes the page can hold.
        capacity: usize,
    },

    /// A page of another block size was handed to the file manager.
    #[error("page of {found} bytes used with a directory of {expected}-byte blocks")]
    PageSizeMismatch {
        /// The directory's block size.
        expected: usize,
        /// The page's size.
        found: usize,
    },

    /// A string stored in a page is not valid UTF-8.
    #[error("string at page offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the length-prefixed string starts.
        offset: usize,
    },

    /// Another owner (this process or another) has the database directory open.
    #[error("database directory {path} is locked by another owner")]
    Locked {
        /// The directory that is locked.
        path: String,
    },

    /// The directory was created with another block size than the one asked for.
    #[error("{path} was created with block size {on_disk}, not {requested}")]
    BlockSizeMismatch {
        /// The header file that records the size.
        path: String,
        /// The block size recorded at creation.
        on_disk: usize,
        /// The block size the caller asked for.
        requested: usize,
    },

    /// A block size that is not a power of two between the limits was asked for.
    #[error("block size {size} is invalid: it must be a power of two from {min} to {max}")]
    InvalidBlockSize {
        /// The size asked for.
        size: usize,
        /// The smallest size supported.
        min: usize,
        /// The largest size supported.
        max: usize,
    },

    /// The directory header is damaged or belongs to something else.
    #[error("bad database header {path}: {reason}")]
    BadHeader {
        /// The header file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file name that would escape the directory or clash with a reserved name.
    #[error("invalid file name {name:?}: {reason}")]
    InvalidFileName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// The result type of this layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done and where, telling a full disk apart.
    ///
    /// Public so that layers doing their own file I/O (the log) classify errors the same way.
    pub fn io(op: &'static str, target: impl ToString, source: io::Error) -> Self {
        let target = target.to_string();
        if is_disk_full(&source) {
            Error::DiskFull { op, target, source }
        } else {
            Error::Io { op, target, source }
        }
    }

    /// Whether a sync failed (as an I/O error or with the disk full): what reached the disk
    /// is then unknown, and the kernel may already have dropped the unwritten pages — the
    /// caller must not retry as if nothing happened.
    pub fn is_failed_sync(&self) -> bool {
        matches!(
            self,
            Error::Io { op: "syncing", .. } | Error::DiskFull { op: "syncing", .. }
        )
    }
}

/// Whether an I/O error means "no space left on the device" (ENOSPC or a quota).
fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_reported_as_disk_full() {
        let e = Error::io(
            "writing block",
            "data.db:3",
            io::Error::from(io::ErrorKind::StorageFull),
        );
        assert!(matches!(e, Error::DiskFull { .. }), "{e:?}");
        assert_eq!(e.to_string(), "disk full while writing block data.db:3");
    }

    #[test]
    fn other_io_errors_keep_their_context() {
        let e = Error::io("syncing", "/db/log", io::Error::other("boom"));
        assert!(e.is_failed_sync());
        assert!(!Error::io("writing block", "t:1", io::Error::other("boom")).is_failed_sync());
        assert!(matches!(e, Error::Io { .. }));
        assert_eq!(e.to_string(), "I/O error while syncing /db/log: boom");
    }
}
