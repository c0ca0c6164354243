//! Segment files: naming, listing, and finding the end of the log at open.

use std::sync::Arc;

use kv_file::{read_full, Storage, StorageFile};

use crate::record::{
    check_segment_header, is_batch_start, parse_frame, segment_header, FRAME_OVERHEAD,
};
use crate::{Error, Lsn, Result, TailRecovery, SEGMENT_HEADER_SIZE};

/// The file name of the segment of log `log` that starts at `base`: `log.<20 digits>`, so
/// names sort in LSN order.
pub fn segment_name(log: &str, base: Lsn) -> String {
    format!("{log}.{:020}", base.0)
}

/// The bases of the segments of log `log` in `storage`, oldest first.
pub(crate) fn list_segments(storage: &dyn Storage, log: &str) -> Result<Vec<Lsn>> {
    let names = storage
        .list()
        .map_err(|e| kv_file::Error::io("listing", storage.describe(""), e))?;
    let mut bases: Vec<Lsn> = names
        .iter()
        .filter_map(|n| n.strip_prefix(log)?.strip_prefix('.'))
        .filter(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|digits| digits.parse().ok().map(Lsn))
        // A base near u64::MAX cannot be ours (LSNs would overflow): leave such files alone.
        .filter(|base| base.0 <= u64::MAX / 2)
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

/// An open segment file, with its base and path for reads and error messages.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub base: Lsn,
    pub file: Arc<dyn StorageFile>,
    pub path: String,
}

impl Segment {
    /// Opens (creating if missing) the segment of `log` at `base`.
    pub fn open(storage: &dyn Storage, log: &str, base: Lsn) -> Result<Self> {
        let name = segment_name(log, base);
        let path = storage.describe(&name);
        let file = storage
            .open_file(&name)
            .map_err(|e| kv_file::Error::io("opening", &path, e))?;
        Ok(Self { base, file, path })
    }

    /// Reads the whole segment into memory.
    pub fn read_all(&self) -> Result<Vec<u8>> {
        let len = self.file.size().map_err(|e| self.io("sizing", e))?;
        let mut bytes = vec![0u8; len as usize];
        let n = read_full(&*self.file, &mut bytes, 0).map_err(|e| self.io("reading", e))?;
        bytes.truncate(n);
        Ok(bytes)
    }

    /// Checks the segment's header, as any segment but the last must pass.
    pub fn check_header(&self) -> Result<()> {
        let mut h = [0u8; SEGMENT_HEADER_SIZE];
        let n = read_full(&*self.file, &mut h, 0).map_err(|e| self.io("reading", e))?;
        check_segment_header(&h[..n], self.base).map_err(|reason| self.corrupt(self.base, reason))
    }

    /// Writes a fresh header (the file must be empty or cut to empty) and syncs it.
    pub fn write_header(&self) -> Result<()> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.write_at(&segment_header(self.base), 0))
            .and_then(|()| self.file.sync())
            .map_err(|e| self.io("writing header of", e))
    }

    pub fn io(&self, op: &'static str, e: std::io::Error) -> Error {
        kv_file::Error::io(op, &self.path, e).into()
    }

    pub fn corrupt(&self, lsn: Lsn, reason: String) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            lsn,
            reason,
        }
    }
}

/// Where the scan of the last segment ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ScanEnd {
    /// The LSN just past the last valid record: where the next append goes.
    pub end: Lsn,
    /// Bytes of torn tail cut off (0 for a clean end).
    pub cut: u64,
}

// ANCHOR: scan
/// Finds the end of the log in its last segment, cutting a torn tail.
///
/// Records are read until one fails to verify. If nothing valid follows the failure, it is a
/// torn tail: the bytes from the failure on are cut off, durably. If a valid record that
/// *starts a write* follows (the flush leader marks those), the damaged record was in a write
/// synced before a later one began — damage no crash can cause, since the log has at most one
/// unsynced write — so it is corruption. Valid records of the same write after the damage
/// are decided by `tail` (see [`TailRecovery`]).
pub(crate) fn scan_last(seg: &Segment, tail: TailRecovery) -> Result<ScanEnd> {
    let bytes = seg.read_all()?;
    if let Err(reason) = check_segment_header(&bytes, seg.base) {
        // A segment whose creation was torn has no valid header and holds nothing that was
        // ever acknowledged; anything valid after a bad header is damage.
        if let Some(at) = first_valid(&bytes, seg.base, 0, tail) {
            return Err(seg.corrupt(seg.base, format!("{reason}, yet a record follows at {at}")));
        }
        seg.write_header()?;
        return Ok(ScanEnd {
            end: Lsn(seg.base.0 + SEGMENT_HEADER_SIZE as u64),
            cut: bytes.len() as u64,
        });
    }
    let mut pos = SEGMENT_HEADER_SIZE;
    while pos < bytes.len() {
        let lsn = Lsn(seg.base.0 + pos as u64);
        match parse_frame(&bytes[pos..], lsn) {
            Ok(payload) => pos += FRAME_OVERHEAD + payload.len(),
            Err(bad) => {
                let reason = bad.reason;
                if let Some(at) = first_valid(&bytes, seg.base, pos + 1, tail) {
                    return Err(seg.corrupt(lsn, format!("{reason}, yet a record follows at {at}")));
                }
                seg.file
                    .set_len(pos as u64)
                    .and_then(|()| seg.file.sync())
                    .map_err(|e| seg.io("cutting the torn tail of", e))?;
                return Ok(ScanEnd {
                    end: lsn,
                    cut: (bytes.len() - pos) as u64,
                });
            }
        }
    }
    Ok(ScanEnd {
        end: Lsn(seg.base.0 + pos as u64),
        cut: 0,
    })
}
// ANCHOR_END: scan

/// The LSN of the first valid frame at or after offset `from` of a segment's bytes that
/// proves corruption: any valid frame when `Strict`, only one starting a write otherwise.
fn first_valid(bytes: &[u8], base: Lsn, from: usize, tail: TailRecovery) -> Option<Lsn> {
    let last = bytes.len().checked_sub(FRAME_OVERHEAD)?;
    let need_write_start = tail == TailRecovery::TolerateLastWrite;
    (from.max(SEGMENT_HEADER_SIZE)..=last).find_map(|q| {
        let lsn = Lsn(base.0 + q as u64);
        let frame = &bytes[q..];
        let counts = !need_write_start || is_batch_start(frame);
        (counts && parse_frame(frame, lsn).is_ok()).then_some(lsn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{finish_frame, start_crc};
    use kv_file::MemStorage;

    /// A segment whose records were each written (and synced) by a write of its own.
    fn segment_with(storage: &MemStorage, records: &[&[u8]]) -> (Segment, Vec<u8>) {
        let seg = Segment::open(storage, "wal", Lsn(0)).unwrap();
        let mut bytes = segment_header(Lsn(0)).to_vec();
        for r in records {
            let at = bytes.len();
            finish_frame(&mut bytes, Lsn(at as u64), r, start_crc(r));
            crate::record::mark_batch_start(&mut bytes[at..]);
        }
        seg.file.write_at(&bytes, 0).unwrap();
        (seg, bytes)
    }

    #[test]
    fn names_sort_in_lsn_order_and_list_ignores_strangers() {
        let s = MemStorage::new();
        for base in [4096, 0, 123] {
            s.open_file(&segment_name("wal", Lsn(base))).unwrap();
        }
        for other in [
            "wal",
            "wal.1",
            "wal.0000000000000000000x",
            "other.00000000000000000000",
        ] {
            s.open_file(other).unwrap();
        }
        assert_eq!(
            list_segments(&s, "wal").unwrap(),
            vec![Lsn(0), Lsn(123), Lsn(4096)]
        );
        assert_eq!(segment_name("wal", Lsn(7)), "wal.00000000000000000007");
    }

    #[test]
    fn a_clean_segment_ends_after_its_last_record() {
        let s = MemStorage::new();
        let (seg, bytes) = segment_with(&s, &[b"a", b"bb"]);
        let end = scan_last(&seg, TailRecovery::Strict).unwrap();
        assert_eq!(
            end,
            ScanEnd {
                end: Lsn(bytes.len() as u64),
                cut: 0
            }
        );
    }

    #[test]
    fn a_torn_tail_is_cut_durably() {
        let s = MemStorage::new();
        let (seg, bytes) = segment_with(&s, &[b"a", b"bb", b"ccc"]);
        seg.file.set_len(bytes.len() as u64 - 2).unwrap();
        let end = scan_last(&seg, TailRecovery::Strict).unwrap();
        assert_eq!(end.end, Lsn((bytes.len() - 15) as u64));
        assert_eq!(end.cut, 13);
        assert_eq!(
            s.file_bytes("wal.00000000000000000000").unwrap().len(),
            bytes.len() - 15
        );
    }

    #[test]
    fn a_damaged_record_followed_by_good_ones_is_corruption() {
        let s = MemStorage::new();
        let (seg, _) = segment_with(&s, &[b"first", b"second", b"third"]);
        s.corrupt(
            "wal.00000000000000000000",
            SEGMENT_HEADER_SIZE as u64 + 9,
            0x40,
        );
        let err = scan_last(&seg, TailRecovery::Strict).unwrap_err();
        assert!(
            err.to_string().contains("corrupt log at lsn 32")
                && err.to_string().contains("yet a record follows at lsn 49"),
            "{err}"
        );
    }

    #[test]
    fn a_torn_segment_creation_gets_a_fresh_header() {
        let s = MemStorage::new();
        let seg = Segment::open(&s, "wal", Lsn(500)).unwrap();
        seg.file
            .write_at(&segment_header(Lsn(500))[..7], 0)
            .unwrap();
        let end = scan_last(&seg, TailRecovery::Strict).unwrap();
        assert_eq!(end.end, Lsn(500 + SEGMENT_HEADER_SIZE as u64));
        seg.check_header().unwrap();
    }
}
