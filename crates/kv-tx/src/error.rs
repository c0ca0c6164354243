//! The one error type of the transaction layer.

use kv_file::BlockId;
use kv_log::Lsn;

/// What went wrong in a transaction or in recovery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file layer failed; it says which file or block.
    #[error(transparent)]
    File(#[from] kv_file::Error),

    /// The log failed; after a failed fsync it stays poisoned until the database is reopened.
    #[error(transparent)]
    Log(#[from] kv_log::Error),

    /// The buffer pool failed (exhausted, or a read or write-back error).
    #[error(transparent)]
    Buffer(#[from] kv_buffer::Error),

    /// A log record did not decode: the log holds something this code did not write.
    #[error("bad log record at {lsn}: {reason}")]
    BadRecord {
        /// Where the record is.
        lsn: Lsn,
        /// What is wrong with it.
        reason: String,
    },

    /// A write that would touch the page LSN (the first 8 bytes) or run past the page.
    #[error("write of {len} bytes at offset {offset} of {block} is outside the usable bytes {min}..{max}")]
    BadOffset {
        /// The page.
        block: BlockId,
        /// Where the write starts.
        offset: usize,
        /// How long it is.
        len: usize,
        /// The first usable offset.
        min: usize,
        /// The end of the usable bytes.
        max: usize,
    },

    /// The transaction already committed or rolled back.
    #[error("transaction {txn} has already ended")]
    Ended {
        /// The transaction.
        txn: u64,
    },

    /// Waiting for a lock would have closed a cycle of waiting transactions; this one was
    /// chosen as the victim. Roll it back and retry.
    #[error(
        "transaction {txn} was chosen as a deadlock victim waiting for {}",
        lock_name(block)
    )]
    Deadlock {
        /// The victim.
        txn: u64,
        /// The lock it was waiting for: a page, or a file's end (block number `u64::MAX`).
        block: BlockId,
    },

    /// A lock was not granted within the configured lock timeout.
    #[error(
        "transaction {txn} timed out waiting for a lock on {}",
        lock_name(block)
    )]
    LockTimeout {
        /// The transaction.
        txn: u64,
        /// The lock it was waiting for: a page, or a file's end (block number `u64::MAX`).
        block: BlockId,
    },

    /// A rollback could not finish (its changes may still be in memory): the database must be
    /// reopened, and recovery will finish the undo.
    #[error("the database must be reopened to recover: {cause}")]
    NeedsRecovery {
        /// Why the rollback failed.
        cause: String,
    },

    /// A file name the transaction layer reserves (the log's segments).
    #[error("{name:?} is reserved for the write-ahead log")]
    ReservedName {
        /// The name asked for.
        name: String,
    },

    /// A read-only transaction's snapshot was ended because keeping the page images it needed
    /// would have passed `TxOptions::snapshot_memory`. Begin a new one.
    #[error("snapshot {snapshot} is too old: the page images it needs were released")]
    SnapshotTooOld {
        /// The commit sequence number the snapshot was taken at.
        snapshot: u64,
    },

    /// A page is damaged and the log holds no full image of it to repair it from.
    #[error("block {block} is damaged and the log has no image of it to repair it")]
    Unrepairable {
        /// The page.
        block: BlockId,
    },
}

/// How a lock key reads in a message: a block, or the end of a file.
fn lock_name(block: &BlockId) -> String {
    if block.number() == u64::MAX {
        format!("the end of file {}", block.file())
    } else {
        block.to_string()
    }
}

/// The result type of the transaction layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
