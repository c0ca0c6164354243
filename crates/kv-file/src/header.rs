//! The directory header: a small file that records how the directory was created.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "KANTHRKV"
//!      8     4  format version (u32 LE), currently 2
//!     12     4  block size in bytes (u32 LE)
//!     16     4  flags (u32 LE), 0; reserved
//!     20     4  CRC-32 of bytes 0..20 (u32 LE)
//! ```

use byteorder::{ByteOrder, LittleEndian};

use crate::storage::{read_full, Storage};
use crate::{Error, Result};

/// The header's file name; reserved, so callers cannot open it as a data file.
pub const HEADER_FILE: &str = "HEADER";
/// Identifies a KanthorKV directory header.
pub const HEADER_MAGIC: [u8; 8] = *b"KANTHRKV";
/// The on-disk format this code writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Bytes in the header.
pub const HEADER_SIZE: usize = 24;

/// The bytes of a header recording `block_size`.
pub(crate) fn encode(block_size: usize) -> [u8; HEADER_SIZE] {
    let mut b = [0u8; HEADER_SIZE];
    b[..8].copy_from_slice(&HEADER_MAGIC);
    LittleEndian::write_u32(&mut b[8..12], FORMAT_VERSION);
    LittleEndian::write_u32(&mut b[12..16], block_size as u32);
    let crc = crc32fast::hash(&b[..20]);
    LittleEndian::write_u32(&mut b[20..24], crc);
    b
}

/// Why a header did not decode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadHeader {
    /// What is wrong, for the error message.
    pub reason: String,
    /// Whether it looks like our own header write cut short by a crash (short, all zero, or
    /// our magic with a failing checksum), rather than a header we cannot read.
    pub torn: bool,
}

/// The block size recorded in `bytes`, or why they are not a valid header.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<usize, BadHeader> {
    let bad = |torn, reason: String| Err(BadHeader { reason, torn });
    if bytes.len() < HEADER_SIZE || bytes.iter().all(|&b| b == 0) {
        return bad(
            true,
            format!("{} bytes, expected {HEADER_SIZE}", bytes.len()),
        );
    }
    if bytes.len() > HEADER_SIZE {
        return bad(false, format!("longer than {HEADER_SIZE} bytes"));
    }
    if bytes[..8] != HEADER_MAGIC {
        return bad(false, "not a KanthorKV directory (bad magic)".into());
    }
    let crc = LittleEndian::read_u32(&bytes[20..24]);
    if crc != crc32fast::hash(&bytes[..20]) {
        return bad(true, "checksum mismatch".into());
    }
    let version = LittleEndian::read_u32(&bytes[8..12]);
    if version != FORMAT_VERSION {
        let reason = format!("format version {version}, this build reads version {FORMAT_VERSION}");
        return bad(false, reason);
    }
    let flags = LittleEndian::read_u32(&bytes[16..20]);
    if flags != 0 {
        return bad(false, format!("unknown flags {flags:#x}"));
    }
    Ok(LittleEndian::read_u32(&bytes[12..16]) as usize)
}

// ANCHOR: header
/// Reads the header, or writes one for `requested` (or the default) in a new directory, and
/// returns the directory's block size.
///
/// The header is written and synced before any other file is created, so a header that is
/// missing, empty or torn *in a directory holding nothing else* is a creation that crashed
/// before it finished: creation simply starts again. A torn header next to other files is
/// damage, and a header that is whole but unreadable (another format version, another
/// program's file) is never overwritten: both are errors.
pub(crate) fn load_or_create(storage: &dyn Storage, requested: Option<usize>) -> Result<usize> {
    let path = storage.describe(HEADER_FILE);
    let file = storage
        .open_file(HEADER_FILE)
        .map_err(|e| Error::io("opening", &path, e))?;
    let len = file.size().map_err(|e| Error::io("reading", &path, e))?;
    let mut buf = vec![0u8; (len as usize).min(HEADER_SIZE + 1)];
    let n = read_full(&*file, &mut buf, 0).map_err(|e| Error::io("reading", &path, e))?;
    let on_disk = match decode(&buf[..n]) {
        Ok(size) => size,
        Err(bad)
            if bad.torn
                && only_header_and_lock(storage).map_err(|e| Error::io("listing", &path, e))? =>
        {
            let size = requested.unwrap_or(crate::DEFAULT_BLOCK_SIZE);
            file.set_len(0)
                .and_then(|()| file.write_at(&encode(size), 0))
                .and_then(|()| file.sync())
                .map_err(|e| Error::io("writing", &path, e))?;
            return Ok(size);
        }
        Err(bad) => {
            return Err(Error::BadHeader {
                path,
                reason: bad.reason,
            })
        }
    };
    match requested {
        Some(requested) if requested != on_disk => Err(Error::BlockSizeMismatch {
            path,
            on_disk,
            requested,
        }),
        _ => Ok(on_disk),
    }
}

/// Whether the directory holds nothing but the header and the lock file: a new directory.
fn only_header_and_lock(storage: &dyn Storage) -> std::io::Result<bool> {
    Ok(storage
        .list()?
        .iter()
        .all(|n| n == HEADER_FILE || n == crate::storage::LOCK_FILE))
}
// ANCHOR_END: header

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_header_in_a_new_directory_is_written_again() {
        let s = crate::MemStorage::new();
        s.open_file(HEADER_FILE)
            .unwrap()
            .write_at(&encode(4096)[..5], 0)
            .unwrap();
        assert_eq!(load_or_create(&s, Some(1024)).unwrap(), 1024);
        assert_eq!(decode(&s.file_bytes(HEADER_FILE).unwrap()), Ok(1024));
    }

    #[test]
    fn a_bad_header_next_to_data_is_an_error() {
        let s = crate::MemStorage::new();
        s.open_file(HEADER_FILE)
            .unwrap()
            .write_at(&[1; 5], 0)
            .unwrap();
        s.open_file("data.db").unwrap();
        let err = load_or_create(&s, None).unwrap_err();
        assert!(matches!(err, Error::BadHeader { .. }), "{err}");
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let b = encode(8192);
        assert_eq!(decode(&b), Ok(8192));
        let mut bad = b;
        bad[13] ^= 1;
        assert!(
            decode(&bad).unwrap_err().torn,
            "our magic, bad checksum: torn"
        );
        assert!(decode(&b[..10]).unwrap_err().reason.contains("10 bytes"));
        assert!(decode(&[0; HEADER_SIZE]).unwrap_err().torn);
        let mut other = b;
        other[0] = b'X';
        assert!(!decode(&other).unwrap_err().torn);
    }

    /// A header with `field` (offset) set to `value`, with a valid checksum.
    fn with_field(offset: usize, value: u32) -> [u8; HEADER_SIZE] {
        let mut b = encode(4096);
        LittleEndian::write_u32(&mut b[offset..offset + 4], value);
        let crc = crc32fast::hash(&b[..20]);
        LittleEndian::write_u32(&mut b[20..24], crc);
        b
    }

    #[test]
    fn whole_but_unreadable_headers_are_never_overwritten() {
        for (bytes, expect) in [
            (with_field(8, 1), "format version 1"),
            (with_field(16, 1), "unknown flags"),
            (with_field(12, 1000), "block size 1000"),
        ] {
            let s = crate::MemStorage::new();
            s.open_file(HEADER_FILE)
                .unwrap()
                .write_at(&bytes, 0)
                .unwrap();
            let err = crate::FileManager::open_with(s.clone(), crate::FileOptions::default())
                .unwrap_err();
            assert!(err.to_string().contains(expect), "{err}");
            assert_eq!(s.file_bytes(HEADER_FILE).unwrap(), bytes, "left as it was");
        }
    }
}
