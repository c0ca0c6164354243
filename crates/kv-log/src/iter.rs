//! Reading the log: forward from any LSN (redo, replication) and backward from the end (undo).

use std::sync::Arc;

use byteorder::{ByteOrder, LittleEndian};
use kv_file::{read_full, Storage};

use crate::record::{
    parse_frame, payload_len, trailing_len, BadFrame, FRAME_OVERHEAD, MAX_RECORD_SIZE,
};
use crate::segment::{segment_name, Segment};
use crate::{Error, Lsn, Result, SEGMENT_HEADER_SIZE};

/// Bytes an iterator reads from a segment at a time, so scans make few system calls.
pub(crate) const CHUNK: u64 = 64 * 1024;
const HEADER: u64 = SEGMENT_HEADER_SIZE as u64;

/// Why the record at a position could not be read.
enum FrameErr {
    /// Reading failed (an I/O error, or the segment was truncated away): passed on unchanged.
    Read(Error),
    /// The bytes there are not a valid record.
    Bad(BadFrame),
}

impl From<Error> for FrameErr {
    fn from(e: Error) -> Self {
        Self::Read(e)
    }
}

impl From<BadFrame> for FrameErr {
    fn from(b: BadFrame) -> Self {
        Self::Bad(b)
    }
}

fn bad(reason: impl Into<String>) -> FrameErr {
    FrameErr::Bad(BadFrame {
        reason: reason.into(),
        framed: false,
    })
}

/// Reads byte ranges of the durable log, through a one-chunk cache.
pub(crate) struct Reader {
    storage: Arc<dyn Storage>,
    name: String,
    /// Bases of the segments, oldest first, as they were when the reader was made.
    segments: Vec<Lsn>,
    /// The durable end of the log when the reader was made; nothing past it is read.
    end: Lsn,
    /// The segment the chunk came from, and the chunk with the LSN of its first byte.
    open: Option<Segment>,
    chunk: Vec<u8>,
    chunk_lsn: u64,
    /// Bytes to read beyond what is asked for: a chunk for iterators, none for reading one
    /// record (undo reads records one by one, far apart).
    read_ahead: u64,
}

impl Reader {
    pub fn new(
        storage: Arc<dyn Storage>,
        name: String,
        segments: Vec<Lsn>,
        end: Lsn,
        read_ahead: u64,
    ) -> Self {
        Self {
            storage,
            name,
            segments,
            end,
            open: None,
            chunk: Vec::new(),
            chunk_lsn: 0,
            read_ahead,
        }
    }

    fn base(&self, i: usize) -> u64 {
        self.segments[i].0
    }

    /// Where segment `i` ends: the next segment's base, or the end of the log.
    fn seg_end(&self, i: usize) -> u64 {
        self.segments.get(i + 1).map_or(self.end.0, |l| l.0)
    }

    /// The bytes `from..to` of segment `i`, or fewer if the file is shorter (then the frame
    /// parser reports the record incomplete). `forward` says which way to read ahead.
    fn bytes(&mut self, i: usize, from: u64, to: u64, forward: bool) -> Result<&[u8]> {
        let base = self.base(i);
        let cached = self.open.as_ref().is_some_and(|s| s.base.0 == base)
            && self.chunk_lsn <= from
            && to <= self.chunk_lsn + self.chunk.len() as u64;
        if !cached {
            if self.open.as_ref().is_none_or(|s| s.base.0 != base) {
                self.open = Some(self.open_segment(Lsn(base))?);
            }
            let (lo, hi) = if forward {
                (from, to.max(from + self.read_ahead).min(self.seg_end(i)))
            } else {
                (from.min(to.saturating_sub(self.read_ahead)).max(base), to)
            };
            let seg = self.open.as_ref().expect("opened above");
            self.chunk.resize((hi - lo) as usize, 0);
            let n = read_full(&*seg.file, &mut self.chunk, lo - base)
                .map_err(|e| seg.io("reading", e))?;
            self.chunk.truncate(n);
            self.chunk_lsn = lo;
        }
        let start = (from - self.chunk_lsn) as usize;
        let stop = ((to - self.chunk_lsn) as usize).min(self.chunk.len());
        Ok(&self.chunk[start.min(stop)..stop])
    }

    fn open_segment(&self, base: Lsn) -> Result<Segment> {
        let name = segment_name(&self.name, base);
        match self.storage.exists(&name) {
            Ok(true) => Segment::open(&*self.storage, &self.name, base),
            Ok(false) => Err(Error::Truncated {
                lsn: base,
                first: Lsn(self.segments[0].0 + HEADER),
            }),
            Err(e) => Err(kv_file::Error::io("looking up", self.storage.describe(&name), e).into()),
        }
    }

    fn corrupt(&self, i: usize, lsn: Lsn, reason: String) -> Error {
        Error::Corrupt {
            path: self
                .storage
                .describe(&segment_name(&self.name, self.segments[i])),
            lsn,
            reason,
        }
    }

    /// The record that starts at `lsn` in segment `i`: its payload and its frame length.
    fn frame_at(&mut self, i: usize, lsn: u64) -> Result<(Vec<u8>, u64), FrameErr> {
        let head = self.bytes(i, lsn, lsn + 8, true)?;
        if head.len() < 8 {
            return Err(bad("incomplete frame header"));
        }
        let len = payload_len(LittleEndian::read_u32(&head[..4]));
        let total = (FRAME_OVERHEAD + len) as u64;
        let frame = self.bytes(i, lsn, lsn + total, true)?;
        let payload = parse_frame(frame, Lsn(lsn))?;
        Ok((
            payload.to_vec(),
            FRAME_OVERHEAD as u64 + payload.len() as u64,
        ))
    }
}

/// Records from an LSN to the end of the log, oldest first: `(Lsn, payload)`.
pub struct ForwardIter {
    /// The log's bytes.
    reader: Reader,
    /// The segment `pos` is in.
    seg: usize,
    /// The LSN of the next record.
    pos: u64,
    /// The LSN the caller asked for: a bad record there is a bad LSN, not corruption.
    start: u64,
    /// Set after the end or an error, so iteration stops.
    done: bool,
}

impl ForwardIter {
    pub(crate) fn new(reader: Reader, lsn: Lsn) -> Result<Self> {
        let first = reader.segments[0].0 + HEADER;
        if lsn.0 < reader.segments[0].0 {
            return Err(Error::Truncated {
                lsn,
                first: Lsn(first),
            });
        }
        if lsn > reader.end {
            return Err(Error::InvalidLsn {
                lsn,
                end: reader.end,
            });
        }
        let seg = reader.segments.partition_point(|b| b.0 <= lsn.0) - 1;
        // An LSN inside a segment header means "from the segment's first record".
        let pos = lsn.0.max(reader.base(seg) + HEADER);
        Ok(Self {
            reader,
            seg,
            pos,
            start: pos,
            done: false,
        })
    }
}

impl Iterator for ForwardIter {
    type Item = Result<(Lsn, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.pos >= self.reader.end.0 {
                return None;
            }
            let seg_end = self.reader.seg_end(self.seg);
            if self.pos >= seg_end && self.seg + 1 < self.reader.segments.len() {
                self.seg += 1;
                self.pos = self.reader.base(self.seg) + HEADER;
                continue;
            }
            let lsn = Lsn(self.pos);
            return Some(match self.reader.frame_at(self.seg, self.pos) {
                Ok((payload, len)) if self.pos + len <= seg_end => {
                    self.pos += len;
                    Ok((lsn, payload))
                }
                Ok(_) => {
                    self.done = true;
                    let reason = "record crosses the segment's end".to_owned();
                    Err(self.reader.corrupt(self.seg, lsn, reason))
                }
                Err(FrameErr::Read(e)) => {
                    self.done = true;
                    Err(e)
                }
                Err(FrameErr::Bad(b)) => {
                    self.done = true;
                    // At the caller's LSN, bytes that are not even framed like a record mean
                    // the LSN is wrong; a framed record whose checksum fails is damage.
                    if self.pos == self.start && !b.framed {
                        Err(Error::InvalidLsn {
                            lsn,
                            end: self.reader.end,
                        })
                    } else {
                        Err(self.reader.corrupt(self.seg, lsn, b.reason))
                    }
                }
            });
        }
    }
}

/// Records from the end of the log back to its first, newest first: `(Lsn, payload)`.
pub struct BackwardIter {
    /// The log's bytes.
    reader: Reader,
    /// The segment `pos` is in.
    seg: usize,
    /// Where the next record to yield ends.
    pos: u64,
    /// Set after the start or an error, so iteration stops.
    done: bool,
}

impl BackwardIter {
    pub(crate) fn new(reader: Reader) -> Self {
        let seg = reader.segments.len() - 1;
        let pos = reader.end.0;
        Self {
            reader,
            seg,
            pos,
            done: false,
        }
    }

    fn step(&mut self) -> Result<(Lsn, Vec<u8>), FrameErr> {
        let tail = self
            .reader
            .bytes(self.seg, self.pos.saturating_sub(4), self.pos, false)?;
        let len = trailing_len(tail).ok_or_else(|| bad("incomplete trailer"))?;
        let start = self
            .pos
            .checked_sub((FRAME_OVERHEAD + len) as u64)
            .filter(|&s| len <= MAX_RECORD_SIZE && s >= self.reader.base(self.seg) + HEADER)
            .ok_or_else(|| bad(format!("trailing length {len} points before the segment")))?;
        let frame = self.reader.bytes(self.seg, start, self.pos, false)?;
        let payload = parse_frame(frame, Lsn(start))?.to_vec();
        self.pos = start;
        Ok((Lsn(start), payload))
    }
}

impl Iterator for BackwardIter {
    type Item = Result<(Lsn, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.pos <= self.reader.base(self.seg) + HEADER {
                if self.seg == 0 {
                    return None;
                }
                self.seg -= 1;
                self.pos = self.reader.seg_end(self.seg);
                continue;
            }
            let pos = self.pos;
            return Some(self.step().map_err(|e| {
                self.done = true;
                match e {
                    FrameErr::Read(e) => e,
                    FrameErr::Bad(b) => self.reader.corrupt(self.seg, Lsn(pos), b.reason),
                }
            }));
        }
    }
}
