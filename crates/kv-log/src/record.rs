//! Record framing and segment headers: the bytes of the log.
//!
//! ```text
//! record frame (12 + len bytes, at LSN p):
//!   0            4        8                 8 + len      12 + len
//!   ├ len|1<<31|b ┼─ crc ──┼──── payload ─────┼─── len ────┤
//!   crc = CRC-32((len | 1<<31) ‖ payload ‖ p as u64 LE)
//!   b = 1<<30 on the first frame of every write (a "batch"); not covered by the CRC
//!
//! segment header (32 bytes, at the segment's base LSN):
//!   "KVLOGSEG" | version u32 | 0 u32 | base u64 | CRC-32 of bytes 0..24 | 0 u32
//! ```

use std::fmt;

use byteorder::{ByteOrder, LittleEndian};

// ANCHOR: lsn
/// A log sequence number: the byte position of a record in the log stream.
///
/// Positions only grow, so LSNs order records, and finding a record is arithmetic rather
/// than a search. `Lsn::ZERO` is never a record (the first segment header is there), so
/// upper layers use it to mean "no record".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);
// ANCHOR_END: lsn

impl Lsn {
    /// The position before every record: "no record".
    pub const ZERO: Lsn = Lsn(0);
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lsn {}", self.0)
    }
}

impl fmt::Debug for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lsn({})", self.0)
    }
}

/// Bytes a frame adds around its payload: length word and CRC in front, length behind.
pub const FRAME_OVERHEAD: usize = 12;
/// The largest payload one record may carry (1 GiB less one byte: 30 bits of length).
pub const MAX_RECORD_SIZE: usize = (1 << 30) - 1;
/// Set in every frame's length word, so zeroed space never parses as a record.
const LEN_FLAG: u32 = 1 << 31;
/// Set by the flush leader on the first frame of each write it issues. At open, a damaged
/// frame followed by a valid frame *that starts a later write* proves the damage was in a
/// write that had been synced: corruption, not a torn tail. Frames of the same (last,
/// unsynced) write may survive a damaged one when a device persists sectors out of order.
const BATCH_FLAG: u32 = 1 << 30;

/// The payload length in a frame's length word.
pub(crate) fn payload_len(word: u32) -> usize {
    (word & !(LEN_FLAG | BATCH_FLAG)) as usize
}

/// Marks the frame at the start of `frame` as the first of a write.
pub(crate) fn mark_batch_start(frame: &mut [u8]) {
    frame[3] |= (BATCH_FLAG >> 24) as u8;
}

/// Whether the frame at the start of `frame` was the first of a write.
pub(crate) fn is_batch_start(frame: &[u8]) -> bool {
    frame.len() >= 4 && LittleEndian::read_u32(&frame[..4]) & BATCH_FLAG != 0
}

/// Bytes of the header that opens every segment file.
pub const SEGMENT_HEADER_SIZE: usize = 32;
/// Identifies a log segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"KVLOGSEG";
/// The segment format this code writes and reads.
pub const SEGMENT_VERSION: u32 = 1;

// ANCHOR: frame
/// The CRC of a payload, started outside the log's lock; [`finish_frame`] completes it.
pub fn start_crc(payload: &[u8]) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(&(payload.len() as u32 | LEN_FLAG).to_le_bytes());
    h.update(payload);
    h
}

/// Appends the frame of `payload`, placed at `lsn`, to `out`.
///
/// `crc` is [`start_crc`] of the payload: the expensive part of the checksum is computed
/// before the appender takes the lock; only the 8 bytes of the LSN are added under it.
pub fn finish_frame(out: &mut Vec<u8>, lsn: Lsn, payload: &[u8], mut crc: crc32fast::Hasher) {
    let len = payload.len() as u32;
    crc.update(&lsn.0.to_le_bytes());
    out.extend_from_slice(&(len | LEN_FLAG).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&len.to_le_bytes());
}
// ANCHOR_END: frame

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    /// What did not verify, for error messages.
    pub reason: String,
    /// True when the framing (flag, both lengths) is consistent and only the checksum fails:
    /// a damaged record, rather than a position where no record starts.
    pub framed: bool,
}

impl BadFrame {
    fn framing(reason: String) -> Self {
        Self {
            reason,
            framed: false,
        }
    }
}

/// The frame at the start of `bytes`, found at `lsn`: its payload if valid, else why not.
///
/// `bytes` may extend past the frame; a frame running past its end is "incomplete".
pub fn parse_frame(bytes: &[u8], lsn: Lsn) -> Result<&[u8], BadFrame> {
    if bytes.len() < FRAME_OVERHEAD {
        return Err(BadFrame::framing("incomplete frame header".into()));
    }
    let word = LittleEndian::read_u32(&bytes[0..4]);
    if word & LEN_FLAG == 0 {
        return Err(BadFrame::framing(
            "no record here (length flag clear)".into(),
        ));
    }
    let len = payload_len(word);
    if bytes.len() < FRAME_OVERHEAD + len {
        return Err(BadFrame::framing(format!(
            "incomplete record of {len} bytes"
        )));
    }
    let payload = &bytes[8..8 + len];
    let trailer = LittleEndian::read_u32(&bytes[8 + len..12 + len]) as usize;
    if trailer != len {
        let reason = format!("trailing length {trailer} differs from {len}");
        return Err(BadFrame::framing(reason));
    }
    let mut crc = start_crc(payload);
    crc.update(&lsn.0.to_le_bytes());
    let (stored, computed) = (LittleEndian::read_u32(&bytes[4..8]), crc.finalize());
    if stored != computed {
        return Err(BadFrame {
            reason: format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
            framed: true,
        });
    }
    Ok(payload)
}

/// The payload length of the frame that ends at the end of `bytes` (read from its trailer).
pub fn trailing_len(bytes: &[u8]) -> Option<usize> {
    let n = bytes.len();
    (n >= 4).then(|| LittleEndian::read_u32(&bytes[n - 4..]) as usize)
}

/// The header of a segment starting at `base`.
pub fn segment_header(base: Lsn) -> [u8; SEGMENT_HEADER_SIZE] {
    let mut h = [0u8; SEGMENT_HEADER_SIZE];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    LittleEndian::write_u32(&mut h[8..12], SEGMENT_VERSION);
    LittleEndian::write_u64(&mut h[16..24], base.0);
    let crc = crc32fast::hash(&h[..24]);
    LittleEndian::write_u32(&mut h[24..28], crc);
    h
}

/// Checks a segment header against the base its file name promises.
pub fn check_segment_header(bytes: &[u8], base: Lsn) -> Result<(), String> {
    if bytes.len() < SEGMENT_HEADER_SIZE {
        return Err(format!("segment header is {} bytes", bytes.len()));
    }
    let h = &bytes[..SEGMENT_HEADER_SIZE];
    if h[..8] != SEGMENT_MAGIC {
        return Err("not a log segment (bad magic)".into());
    }
    if LittleEndian::read_u32(&h[24..28]) != crc32fast::hash(&h[..24]) {
        return Err("segment header checksum mismatch".into());
    }
    let version = LittleEndian::read_u32(&h[8..12]);
    if version != SEGMENT_VERSION {
        return Err(format!("segment format version {version} is not supported"));
    }
    let stored = LittleEndian::read_u64(&h[16..24]);
    if stored != base.0 {
        return Err(format!(
            "header says base {stored}, file name says {}",
            base.0
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(lsn: Lsn, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        finish_frame(&mut out, lsn, payload, start_crc(payload));
        out
    }

    #[test]
    fn zeroes_never_parse_as_a_record() {
        for lsn in [0, 1, 0x2144_df1c, u64::MAX] {
            assert!(parse_frame(&[0; 64], Lsn(lsn)).is_err());
        }
    }

    #[test]
    fn a_record_moved_to_another_lsn_fails() {
        let f = frame(Lsn(100), b"abc");
        assert_eq!(parse_frame(&f, Lsn(100)).unwrap(), b"abc");
        let bad = parse_frame(&f, Lsn(101)).unwrap_err();
        assert!(bad.reason.contains("checksum mismatch") && bad.framed);
    }

    #[test]
    fn damage_anywhere_is_caught() {
        let f = frame(Lsn(32), b"hello, log");
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x04;
            assert!(parse_frame(&bad, Lsn(32)).is_err(), "flip at {i}");
        }
        let bad = parse_frame(&f[..f.len() - 1], Lsn(32)).unwrap_err();
        assert!(bad.reason.contains("incomplete") && !bad.framed);
    }

    #[test]
    fn the_batch_mark_is_outside_the_checksum() {
        let mut f = frame(Lsn(64), b"first of a write");
        assert!(!is_batch_start(&f));
        mark_batch_start(&mut f);
        assert!(is_batch_start(&f));
        assert_eq!(parse_frame(&f, Lsn(64)).unwrap(), b"first of a write");
    }

    #[test]
    fn segment_headers_check_their_base() {
        let h = segment_header(Lsn(4096));
        check_segment_header(&h, Lsn(4096)).unwrap();
        assert!(check_segment_header(&h, Lsn(0))
            .unwrap_err()
            .contains("file name says 0"));
        assert!(check_segment_header(&h[..10], Lsn(4096)).is_err());
    }

    proptest! {
        #[test]
        fn frames_round_trip(lsn: u64, payload in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let f = frame(Lsn(lsn), &payload);
            prop_assert_eq!(f.len(), payload.len() + FRAME_OVERHEAD);
            prop_assert_eq!(parse_frame(&f, Lsn(lsn)).unwrap(), &payload[..]);
            prop_assert_eq!(trailing_len(&f), Some(payload.len()));
        }
    }
}
