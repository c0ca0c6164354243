//! The one error type of the database: the layers' errors sorted into what a caller can do
//! about them.

use kv_file::BlockId;

/// What went wrong. [`is_retryable`](Error::is_retryable) says when running the transaction
/// again may succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This transaction was chosen as a deadlock victim (or waited past the lock timeout).
    /// It has been rolled back, or must be: run it again.
    #[error("transaction {txn} lost a deadlock (or a lock wait timed out) on {block}")]
    Deadlock {
        /// The transaction.
        txn: u64,
        /// The page it was waiting for.
        block: BlockId,
    },

    /// A concurrent change of a B+tree's upper levels (a split, a merge) moved a page this
    /// transaction was about to change. It has been rolled back, or must be: run it again.
    #[error("the tree changed around {block} during the transaction: retry")]
    Conflict {
        /// The page that changed.
        block: BlockId,
    },

    /// A read-only transaction was ended because the page images it needed passed the
    /// snapshot memory cap. Begin a new one.
    #[error("snapshot {snapshot} is too old: begin a new read transaction")]
    SnapshotTooOld {
        /// The commit sequence number the snapshot was taken at.
        snapshot: u64,
    },

    /// A key longer than the limit (1 KiB with the default 4 KiB pages); nothing changed.
    #[error("key of {len} bytes is too large: the limit is {max}")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A value longer than the limit (64 MiB); nothing changed.
    #[error("value of {len} bytes is too large: the limit is {max}")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// No keyspace by this name (it was dropped, or never created).
    #[error("no keyspace named {0:?}")]
    NoSuchKeyspace(String),

    /// A keyspace name that is empty, too long, or the protected default.
    #[error("invalid keyspace name {name:?}: {reason}")]
    InvalidKeyspace {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The transaction was retried as many times as allowed and lost every time.
    #[error("gave up after {attempts} attempts: {last}")]
    TooManyRetries {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },

    /// The application's own error, returned from inside a transaction (e.g. a closure given
    /// to [`Db::transaction`](crate::Db::transaction)) to roll it back: data it found not
    /// in the shape it expects, a rule it enforces. Not retryable.
    #[error("{0}")]
    Abort(Box<dyn std::error::Error + Send + Sync>),

    /// Anything else from the storage layers — I/O, a full disk, corruption, a database that
    /// must be reopened to recover — with their context (file, block, offset).
    #[error(transparent)]
    Storage(Box<kv_index::Error>),
}

impl Error {
    /// Whether running the transaction again may succeed: a deadlock victim, a lock wait that
    /// timed out, a snapshot that was too old.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Deadlock { .. } | Error::Conflict { .. } | Error::SnapshotTooOld { .. }
        )
    }
}

impl From<kv_index::Error> for Error {
    fn from(e: kv_index::Error) -> Self {
        use kv_index::Error as I;
        match e {
            I::Tx(kv_tx::Error::Deadlock { txn, block })
            | I::Tx(kv_tx::Error::LockTimeout { txn, block }) => Error::Deadlock { txn, block },
            I::Tx(kv_tx::Error::SnapshotTooOld { snapshot }) => Error::SnapshotTooOld { snapshot },
            I::Conflict { block } => Error::Conflict { block },
            I::KeyTooLarge { len, max } => Error::KeyTooLarge { len, max },
            I::ValueTooLarge { len, max } => Error::ValueTooLarge { len, max },
            other => Error::Storage(Box::new(other)),
        }
    }
}

impl From<kv_tx::Error> for Error {
    fn from(e: kv_tx::Error) -> Self {
        kv_index::Error::Tx(e).into()
    }
}

/// The result type of the database.
pub type Result<T, E = Error> = std::result::Result<T, E>;
