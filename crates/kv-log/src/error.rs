//! The one error type of the log.

use crate::Lsn;

/// What went wrong in the log, with the segment file or LSN it went wrong at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file layer failed (I/O, full disk, lock, bad name); it says where.
    #[error(transparent)]
    File(#[from] kv_file::Error),

    /// A record or segment header failed verification somewhere other than the torn tail.
    #[error("corrupt log at {lsn} in {path}: {reason}")]
    Corrupt {
        /// The segment file.
        path: String,
        /// Where in the log the damage starts.
        lsn: Lsn,
        /// What did not verify.
        reason: String,
    },

    /// A record larger than the log accepts.
    #[error("log record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The largest record accepted.
        max: usize,
    },

    /// The records asked for were released by `truncate_before`.
    #[error("{lsn} was truncated away; the log now starts at {first}")]
    Truncated {
        /// The LSN asked for.
        lsn: Lsn,
        /// The oldest LSN still in the log.
        first: Lsn,
    },

    /// An LSN that names no record (past the end, or inside a record).
    #[error("{lsn} is not the start of a record in this log (end is {end})")]
    InvalidLsn {
        /// The LSN asked for.
        lsn: Lsn,
        /// The end of the log when asked.
        end: Lsn,
    },

    /// An earlier write or fsync failed, so what is on disk is unknown; reopen the log.
    #[error("the log refuses writes after an earlier failure ({cause}); reopen it to recover")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: String,
    },
}

/// The result type of the log.
pub type Result<T, E = Error> = std::result::Result<T, E>;
