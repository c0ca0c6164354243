//! Record framing and segment headers: the bytes of the log.
//!
//! ```text
//! record frame (12 + len bytes, at LSN p):
//!   0        4        8                 8 + len      12 + len
//!   ├ len|1<<31 ┼─ crc ──┼──── payload ─────┼─── len ────┤
//!   crc = CRC-32(length word ‖ payload ‖ p as u64 LE)
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
/// The largest payload one record may carry (1 GiB).
pub const MAX_RECORD_SIZE: usize = 1 << 30;
/// Set in every frame's length word, so zeroed space never parses as a record.
const LEN_FLAG: u32 = 1 << 31;

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

/// The frame at the start of `bytes`, found at `lsn`: its payload if valid, else why not.
///
/// `bytes` may extend past the frame; a frame running past its end is "incomplete".
pub fn parse_frame(bytes: &[u8], lsn: Lsn) -> Result<&[u8], String> {
    if bytes.len() < FRAME_OVERHEAD {
        return Err("incomplete frame header".into());
    }
    let word = LittleEndian::read_u32(&bytes[0..4]);
    if word & LEN_FLAG == 0 {
        return Err("no record here (length flag clear)".into());
    }
    let len = (word & !LEN_FLAG) as usize;
    if len > MAX_RECORD_SIZE {
        return Err(format!("impossible record length {len}"));
    }
    if bytes.len() < FRAME_OVERHEAD + len {
        return Err(format!("incomplete record of {len} bytes"));
    }
    let payload = &bytes[8..8 + len];
    let trailer = LittleEndian::read_u32(&bytes[8 + len..12 + len]) as usize;
    if trailer != len {
        return Err(format!("trailing length {trailer} differs from {len}"));
    }
    let mut crc = start_crc(payload);
    crc.update(&lsn.0.to_le_bytes());
    let (stored, computed) = (LittleEndian::read_u32(&bytes[4..8]), crc.finalize());
    if stored != computed {
        return Err(format!(
            "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
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
        assert!(parse_frame(&f, Lsn(101))
            .unwrap_err()
            .contains("checksum mismatch"));
    }

    #[test]
    fn damage_anywhere_is_caught() {
        let f = frame(Lsn(32), b"hello, log");
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x04;
            assert!(parse_frame(&bad, Lsn(32)).is_err(), "flip at {i}");
        }
        assert!(parse_frame(&f[..f.len() - 1], Lsn(32))
            .unwrap_err()
            .contains("incomplete"));
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
