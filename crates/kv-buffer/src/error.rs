//! The one error type of the buffer pool.

use std::time::Duration;

/// What went wrong in the buffer pool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a block failed; the file layer's error says which block and why.
    #[error(transparent)]
    File(#[from] kv_file::Error),

    /// Flushing the log before writing a page back failed (the WAL rule could not be kept, so
    /// the page was not written).
    #[error(transparent)]
    Log(#[from] kv_log::Error),

    /// Every frame stayed pinned for the whole timeout: the pool is too small for the number
    /// of pages in use at once, or a caller forgot to drop its guards.
    #[error("buffer pool exhausted: all {frames} frames stayed pinned for {waited:?}")]
    BufferExhausted {
        /// Frames in the pool.
        frames: usize,
        /// How long the pin waited.
        waited: Duration,
    },
}

/// The result type of the buffer pool.
pub type Result<T, E = Error> = std::result::Result<T, E>;
