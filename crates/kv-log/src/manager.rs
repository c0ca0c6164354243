//! `LogManager`: appending, group-committed flushing, truncation.

// Counters only, never synchronisation: std atomics even under loom (nothing to explore).
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use kv_file::{FileManager, Storage};

use crate::iter::{BackwardIter, ForwardIter, Reader, CHUNK};
use crate::record::{
    finish_frame, mark_batch_start, segment_header, start_crc, FRAME_OVERHEAD, MAX_RECORD_SIZE,
};
use crate::segment::{list_segments, scan_last, segment_name, Segment};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::{Error, Lsn, Result, SEGMENT_HEADER_SIZE};

/// How the log is laid out and buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// A segment file is closed, and a new one started, once it holds this many bytes; the
    /// unit in which `truncate_before` gives space back.
    pub segment_size: u64,
    /// Appended bytes kept in memory before an append flushes them itself, so a writer that
    /// never flushes cannot grow memory without bound.
    pub buffer_limit: usize,
    /// What opening does with a damaged record that has valid records of the same write
    /// after it; see [`TailRecovery`].
    pub tail: TailRecovery,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_size: 16 << 20,
            buffer_limit: 4 << 20,
            tail: TailRecovery::Strict,
        }
    }
}

// ANCHOR: tail_recovery
/// How opening the log treats damage in its last write.
///
/// A damaged record followed by a valid record that *starts a later write* is always
/// corruption: that write began only after the damaged one was synced. A damaged record with
/// nothing valid after it is always a torn tail, and is cut. The choice is about the case in
/// between — valid records after the damage, all from the same (last) write — which has two
/// explanations that the bytes cannot tell apart: a device that persisted the sectors of one
/// large unsynced write out of order before power failed (harmless: that write was never
/// acknowledged), or damage to a write that *was* synced and acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TailRecovery {
    /// Refuse to open with [`Error::Corrupt`](crate::Error::Corrupt): never lose an
    /// acknowledged record silently, at the price of needing an operator after such a crash.
    #[default]
    Strict,
    /// Cut the log at the damage, as after a torn write: for reopening after a power failure
    /// on a device known to reorder writes. Damage to an acknowledged last write is then
    /// dropped without an error.
    TolerateLastWrite,
}
// ANCHOR_END: tail_recovery

/// A snapshot of the log's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records appended since open.
    pub appends: u64,
    /// Payload bytes appended since open.
    pub bytes: u64,
    /// Calls to `flush` (each commit makes one).
    pub flush_requests: u64,
    /// File syncs done; with group commit, far fewer than `flush_requests` under load.
    pub fsyncs: u64,
    /// Segment files created since open.
    pub segments_created: u64,
    /// Segment files removed by `truncate_before` since open.
    pub segments_removed: u64,
    /// Bytes of torn tail cut off when the log was opened.
    pub torn_bytes_cut: u64,
}

#[derive(Default)]
struct Counters {
    appends: AtomicU64,
    bytes: AtomicU64,
    flush_requests: AtomicU64,
    fsyncs: AtomicU64,
    segments_created: AtomicU64,
    segments_removed: AtomicU64,
}

/// The segment receiving writes; only the flush leader holds it, so it needs no lock.
struct Writer {
    segment: Segment,
    /// Whether it has writes not yet synced.
    dirty: bool,
}

// ANCHOR: state
/// What appenders and flushers share, behind one mutex that is never held across I/O.
struct State {
    /// Appended bytes not yet taken by a flush leader; `buf[0]` is at stream position
    /// `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    /// The buffer the last leader finished with, kept to reuse its allocation.
    spare: Vec<u8>,
    /// The LSN the next append gets: `buf_start + buf.len()`.
    next: u64,
    /// Base of the segment appends go to, and bases of segments started in `buf` but not yet
    /// created on disk.
    tail_base: u64,
    new_segments: Vec<u64>,
    /// Bases of the segment files on disk, oldest first.
    segments: Vec<u64>,
    /// Every byte below this position is durable.
    durable: u64,
    /// The writer, or `None` while a flush leader has taken it.
    writer: Option<Writer>,
    /// Number of the batch last taken by a leader, and where that batch ends.
    batch: u64,
    batch_end: u64,
    /// Set when a write or sync failed: nothing more is accepted until reopen.
    poisoned: Option<String>,
}
// ANCHOR_END: state

/// The write-ahead log: an append-only sequence of records named by [`Lsn`]s.
///
/// Appends copy the record into memory and return at once; `flush(lsn)` makes everything up
/// to `lsn` durable, sharing one fsync among every thread that asks at the same time.
pub struct LogManager {
    /// Kept so the directory's owner lock lives as long as the log.
    _fm: Arc<FileManager>,
    /// Where segment files live.
    storage: Arc<dyn Storage>,
    /// The log's name; segment files are `name.<base>`.
    name: String,
    /// Segment size and buffer limit.
    options: LogOptions,
    /// Shared append and flush state.
    state: Mutex<State>,
    /// Where flushers wait, by the parity of the batch that will make them durable: the
    /// finishing leader wakes all waiters of its own batch, and one waiter of the next batch
    /// to lead it. Two condition variables instead of one halve the wake-ups per fsync.
    batch_done: [Condvar; 2],
    /// Operation counts.
    counters: Counters,
    /// Torn bytes cut at open.
    torn_bytes_cut: u64,
}

impl LogManager {
    /// Opens the log `name` in the file manager's directory, creating it if missing, and finds
    /// its end: a torn tail is cut off, damage before the tail is [`Error::Corrupt`].
    pub fn open(fm: Arc<FileManager>, name: &str) -> Result<Self> {
        Self::open_with(fm, name, LogOptions::default())
    }

    /// [`open`](Self::open) with explicit options.
    pub fn open_with(fm: Arc<FileManager>, name: &str, options: LogOptions) -> Result<Self> {
        kv_file::validate_name(&segment_name(name, Lsn::ZERO))?;
        let storage = Arc::clone(fm.storage());
        let mut segments = list_segments(&*storage, name)?;
        let (tail, end, cut) = match segments.last() {
            None => {
                let seg = Segment::open(&*storage, name, Lsn::ZERO)?;
                seg.write_header()?;
                segments.push(Lsn::ZERO);
                (seg, Lsn(SEGMENT_HEADER_SIZE as u64), 0)
            }
            Some(&last) => {
                for &base in &segments[..segments.len() - 1] {
                    Segment::open(&*storage, name, base)?.check_header()?;
                }
                let seg = Segment::open(&*storage, name, last)?;
                let scan = scan_last(&seg, options.tail)?;
                // What the scan read may be only in the OS page cache (the process died before
                // its fsync): make it durable before calling it durable.
                seg.file.sync().map_err(|e| seg.io("syncing", e))?;
                (seg, scan.end, scan.cut)
            }
        };
        let segments = segments.into_iter().map(|l| l.0).collect();
        let state = State {
            buf: Vec::new(),
            buf_start: end.0,
            spare: Vec::new(),
            next: end.0,
            tail_base: tail.base.0,
            new_segments: Vec::new(),
            segments,
            durable: end.0,
            writer: Some(Writer {
                segment: tail,
                dirty: false,
            }),
            batch: 0,
            batch_end: end.0,
            poisoned: None,
        };
        Ok(Self {
            _fm: fm,
            storage,
            name: name.to_owned(),
            options,
            state: Mutex::new(state),
            batch_done: [Condvar::new(), Condvar::new()],
            counters: Counters::default(),
            torn_bytes_cut: cut,
        })
    }

    // ANCHOR: append
    /// Appends a record and returns its LSN. It does not wait for the disk (unless more than
    /// `buffer_limit` bytes are waiting for a flush); the record is durable after
    /// [`flush`](Self::flush) of its LSN.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn> {
        if payload.len() > MAX_RECORD_SIZE {
            return Err(Error::RecordTooLarge {
                len: payload.len(),
                max: MAX_RECORD_SIZE,
            });
        }
        let crc = start_crc(payload); // the costly part of the checksum, outside the lock
        let mut st = self.lock();
        if let Some(cause) = &st.poisoned {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        let tail_used = st.next - st.tail_base;
        if tail_used >= self.options.segment_size && tail_used > SEGMENT_HEADER_SIZE as u64 {
            // Start a new segment here; the flush leader creates its file.
            let base = st.next;
            st.buf.extend_from_slice(&segment_header(Lsn(base)));
            st.new_segments.push(base);
            st.tail_base = base;
            st.next += SEGMENT_HEADER_SIZE as u64;
        }
        let lsn = Lsn(st.next);
        finish_frame(&mut st.buf, lsn, payload, crc);
        st.next += (FRAME_OVERHEAD + payload.len()) as u64;
        let over_limit = st.buf.len() > self.options.buffer_limit;
        drop(st);
        self.counters.appends.fetch_add(1, Relaxed);
        self.counters.bytes.fetch_add(payload.len() as u64, Relaxed);
        if over_limit {
            self.flush(lsn)?;
        }
        Ok(lsn)
    }
    // ANCHOR_END: append

    // ANCHOR: flush
    /// Returns once the record at `lsn` and every record before it are durable.
    ///
    /// Group commit: if a flush is already writing, this waits for it and then, if its record
    /// was not included, the first waiter to wake becomes the next leader and writes
    /// everything appended meanwhile with one fsync for all. No caller waits for more than
    /// the flush in progress plus one. `Lsn(u64::MAX)` flushes everything appended so far.
    pub fn flush(&self, lsn: Lsn) -> Result<()> {
        self.counters.flush_requests.fetch_add(1, Relaxed);
        let mut st = self.lock();
        loop {
            // Durable first: a record made durable before a later batch failed is committed.
            if st.durable > lsn.0 || (st.durable == st.next && st.poisoned.is_none()) {
                return Ok(());
            }
            if let Some(cause) = &st.poisoned {
                return Err(Error::Poisoned {
                    cause: cause.clone(),
                });
            }
            let Some(writer) = st.writer.take() else {
                // A leader is writing. Wait for its batch if our record is in it, else for
                // the next one (whose leader may be us).
                let batch = st.batch + u64::from(lsn.0 >= st.batch_end);
                self.batch_done[(batch % 2) as usize].wait(&mut st);
                continue;
            };
            // Become the leader: take everything appended so far and write it unlocked.
            let spare = std::mem::take(&mut st.spare);
            let mut batch = std::mem::replace(&mut st.buf, spare);
            let start = st.buf_start;
            st.buf_start += batch.len() as u64;
            st.batch += 1;
            st.batch_end = st.buf_start;
            let number = st.batch;
            let new_segments = std::mem::take(&mut st.new_segments);
            drop(st);

            let result = self.write_batch(writer, &mut batch, start, &new_segments);

            st = self.lock();
            match result {
                Ok(writer) => {
                    st.writer = Some(writer);
                    st.durable = start + batch.len() as u64;
                    st.segments.extend_from_slice(&new_segments);
                    let mut batch = batch;
                    batch.clear();
                    st.spare = batch;
                    // The next leader first: its fsync is on everyone's critical path. With
                    // nothing buffered there is no next batch to lead: every waiter on it is
                    // satisfied already, so wake them all.
                    let next = &self.batch_done[((number + 1) % 2) as usize];
                    if st.buf.is_empty() {
                        next.notify_all();
                    } else {
                        next.notify_one();
                    }
                    self.batch_done[(number % 2) as usize].notify_all();
                }
                Err(e) => {
                    // What reached the disk is now unknown (a failed fsync may have dropped
                    // pages the OS then marks clean): refuse everything until reopen.
                    st.poisoned = Some(e.to_string());
                    for cv in &self.batch_done {
                        cv.notify_all();
                    }
                    return Err(e);
                }
            }
        }
    }
    // ANCHOR_END: flush

    /// Writes `batch` (stream bytes from `start`) and syncs, creating the segments that
    /// begin in it. Segments are synced before the next one is written, so the log never
    /// has more than one unsynced write: after a crash, damage can only be at its end.
    fn write_batch(
        &self,
        mut w: Writer,
        batch: &mut [u8],
        start: u64,
        new_segments: &[u64],
    ) -> Result<Writer> {
        let mut pos = start;
        let end = start + batch.len() as u64;
        let mut starts = new_segments.iter().copied().peekable();
        while pos < end {
            let mut first_frame = pos;
            if starts.peek() == Some(&pos) {
                starts.next();
                first_frame += SEGMENT_HEADER_SIZE as u64;
                self.sync(&mut w)?;
                let segment = Segment::open(&*self.storage, &self.name, Lsn(pos))?;
                self.counters.segments_created.fetch_add(1, Relaxed);
                w = Writer {
                    segment,
                    dirty: false,
                };
            }
            let chunk_end = starts.peek().copied().unwrap_or(end);
            if first_frame < chunk_end {
                mark_batch_start(&mut batch[(first_frame - start) as usize..]);
            }
            let bytes = &batch[(pos - start) as usize..(chunk_end - start) as usize];
            let seg = &w.segment;
            seg.file
                .write_at(bytes, pos - seg.base.0)
                .map_err(|e| seg.io("writing", e))?;
            w.dirty = true;
            pos = chunk_end;
        }
        self.sync(&mut w)?;
        Ok(w)
    }

    fn sync(&self, w: &mut Writer) -> Result<()> {
        if w.dirty {
            w.segment
                .file
                .sync()
                .map_err(|e| w.segment.io("syncing", e))?;
            self.counters.fsyncs.fetch_add(1, Relaxed);
            w.dirty = false;
        }
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn flush_all(&self) -> Result<()> {
        self.flush(Lsn(u64::MAX))
    }

    /// The LSN the next record will get: the end of the log.
    pub fn end_lsn(&self) -> Lsn {
        Lsn(self.lock().next)
    }

    /// Every record before this LSN is durable.
    pub fn durable_lsn(&self) -> Lsn {
        Lsn(self.lock().durable)
    }

    /// The first LSN still in the log (after `truncate_before`, the first kept record).
    pub fn first_lsn(&self) -> Lsn {
        let st = self.lock();
        Lsn(st.segments[0] + SEGMENT_HEADER_SIZE as u64)
    }

    /// Records from `lsn` to the end, oldest first. Flushes first, so the iterator sees every
    /// record appended before it was made. `lsn` must start a record, or be the first LSN.
    pub fn iter_from(&self, lsn: Lsn) -> Result<ForwardIter> {
        self.flush_all()?;
        ForwardIter::new(self.reader(CHUNK), lsn)
    }

    /// Records from the end back to the start, newest first (for undo). Flushes first.
    pub fn iter_back(&self) -> Result<BackwardIter> {
        self.flush_all()?;
        Ok(BackwardIter::new(self.reader(CHUNK)))
    }

    /// The payload of the record at `lsn`. Flushes only if that record is not durable yet, so
    /// reading a chain of older records (undo) costs at most one fsync.
    pub fn read(&self, lsn: Lsn) -> Result<Vec<u8>> {
        if lsn >= self.durable_lsn() {
            self.flush_all()?;
        }
        match ForwardIter::new(self.reader(0), lsn)?.next() {
            Some(Ok((at, payload))) if at == lsn => Ok(payload),
            Some(Err(e)) => Err(e),
            _ => Err(Error::InvalidLsn {
                lsn,
                end: self.end_lsn(),
            }),
        }
    }

    /// A reader of the durable part of the log, reading `read_ahead` bytes beyond each ask.
    fn reader(&self, read_ahead: u64) -> Reader {
        let st = self.lock();
        Reader::new(
            Arc::clone(&self.storage),
            self.name.clone(),
            st.segments.iter().map(|&b| Lsn(b)).collect(),
            Lsn(st.durable),
            read_ahead,
        )
    }

    // ANCHOR: truncate
    /// Releases the space of records before `lsn`: every segment that ends at or before it
    /// is deleted. The segment holding `lsn` (and the one being written) is kept, so records
    /// at and after `lsn` stay readable. Returns how many segments were removed.
    ///
    /// The caller promises nothing will read below `lsn` again (after a checkpoint, recovery
    /// starts at or after it).
    pub fn truncate_before(&self, lsn: Lsn) -> Result<usize> {
        let doomed: Vec<u64> = {
            let st = self.lock();
            let keep_from = st
                .segments
                .iter()
                .rposition(|&base| base <= lsn.0)
                .unwrap_or(0);
            st.segments[..keep_from].to_vec()
        };
        // Oldest first, each leaving the list only once its file is gone: a failure leaves a
        // readable log that starts at its oldest remaining segment, and leaks nothing.
        for &base in &doomed {
            let name = segment_name(&self.name, Lsn(base));
            self.storage
                .remove_file(&name)
                .map_err(|e| kv_file::Error::io("removing", self.storage.describe(&name), e))?;
            self.lock().segments.retain(|&b| b != base);
            self.counters.segments_removed.fetch_add(1, Relaxed);
        }
        Ok(doomed.len())
    }
    // ANCHOR_END: truncate

    /// The counters so far.
    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            appends: c.appends.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            flush_requests: c.flush_requests.load(Relaxed),
            fsyncs: c.fsyncs.load(Relaxed),
            segments_created: c.segments_created.load(Relaxed),
            segments_removed: c.segments_removed.load(Relaxed),
            torn_bytes_cut: self.torn_bytes_cut,
        }
    }

    /// The number of segment files the log has now.
    pub fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("name", &self.name)
            .field("end", &self.end_lsn())
            .field("durable", &self.durable_lsn())
            .field("stats", &self.stats())
            .finish()
    }
}
