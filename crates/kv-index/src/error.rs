//! The one error type of the index layer.

use kv_file::BlockId;

/// What went wrong in an index operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction layer failed: a deadlock (roll back and retry), a lock timeout, an
    /// I/O error, a database that needs recovery.
    #[error(transparent)]
    Tx(#[from] kv_tx::Error),

    /// A key longer than the index allows; nothing was changed.
    #[error("key of {len} bytes is too large: the limit is {max}")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The largest key this index accepts (it depends on the page size).
        max: usize,
    },

    /// A value longer than the index allows; nothing was changed.
    #[error("value of {len} bytes is too large: the limit is {max}")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The largest value accepted.
        max: usize,
    },

    /// A page does not hold what the index expects: damaged, or not written by this code.
    #[error("index page {block} is corrupt: {reason}")]
    Corrupt {
        /// The page.
        block: BlockId,
        /// What is wrong with it.
        reason: String,
    },

    /// The tree changed under an operation that holds no lock on its upper levels (a
    /// concurrent split or merge moved the page it was about to change): nothing is
    /// corrupt; roll back and run the transaction again.
    #[error("the tree changed around {block} during the operation: retry")]
    Conflict {
        /// The page that changed.
        block: BlockId,
    },

    /// The file is not an index of the kind asked for.
    #[error("{file:?} is not {expected}: {reason}")]
    NotAnIndex {
        /// The file.
        file: String,
        /// What was expected ("a B+tree", "a hash index").
        expected: &'static str,
        /// What was found.
        reason: String,
    },
}

impl Error {
    /// Whether rolling back and running the transaction again may succeed (a deadlock victim,
    /// a lock wait that timed out).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Tx(kv_tx::Error::Deadlock { .. } | kv_tx::Error::LockTimeout { .. })
                | Error::Conflict { .. }
        )
    }
}

/// The result type of the index layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
