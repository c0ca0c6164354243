//! The checksum trailer every block carries on disk.
//!
//! ```text
//!  0                                   block_size - 8      block_size - 4     block_size
//!  ├──────────── payload (capacity) ──────────┼── magic "KVpg" ──┼── CRC-32 (LE) ──┤
//! ```
//!
//! The CRC covers the block number (as 8 little-endian bytes), then every byte before the CRC
//! itself (payload and magic), so a block written to the wrong place fails verification just
//! as a torn one does.
//! A block that is zero from its first byte to its last was never written (appends write
//! zeroes; file holes read as zeroes): it reads as a fresh zeroed page. A written block is
//! never all zero, because its magic is not.

use byteorder::{ByteOrder, LittleEndian};

use crate::Page;

/// Bytes at the end of every block that hold its checksum and marker, not user data.
pub const TRAILER_SIZE: usize = 8;

/// Marks a block as written by KanthorKV; spells "KVpg" in a hex dump.
pub const PAGE_MAGIC: [u8; 4] = *b"KVpg";

/// What reading a block found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The checksum matches: the block is exactly what was written.
    Valid,
    /// Every byte is zero: the block was allocated but never written.
    Fresh,
    /// The block was written, but is not intact; the text says how.
    Corrupt(String),
}

// ANCHOR: seal
/// Stamps the trailer of `page`, as the last step before it is written to block `number`.
pub(crate) fn seal(page: &mut Page, number: u64) {
    let raw = page.raw_mut();
    let (magic, crc) = trailer(raw.len());
    raw[magic].copy_from_slice(&PAGE_MAGIC);
    let sum = compute(raw, number);
    LittleEndian::write_u32(&mut raw[crc], sum);
}

/// Checks the trailer of a block just read from position `number`.
pub(crate) fn verify(page: &Page, number: u64) -> Verdict {
    let raw = page.raw();
    let (magic, crc) = trailer(raw.len());
    let stored = LittleEndian::read_u32(&raw[crc]);
    if raw[magic.clone()] == PAGE_MAGIC && stored == compute(raw, number) {
        Verdict::Valid
    } else if raw.iter().all(|&b| b == 0) {
        Verdict::Fresh
    } else if raw[magic.clone()] != PAGE_MAGIC {
        Verdict::Corrupt(format!("page marker is {:02x?}, not \"KVpg\"", &raw[magic]))
    } else {
        Verdict::Corrupt(format!(
            "checksum mismatch: stored {stored:#010x}, computed {:#010x}",
            compute(raw, number)
        ))
    }
}
// ANCHOR_END: seal

/// Where the magic and the CRC sit in a block of `block_size` bytes.
fn trailer(block_size: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let magic = block_size - TRAILER_SIZE;
    (magic..magic + 4, magic + 4..block_size)
}

/// CRC-32 of the block number and every byte before the CRC (payload and magic).
fn compute(raw: &[u8], number: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&number.to_le_bytes());
    h.update(&raw[..raw.len() - 4]);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_pages_verify_and_zero_pages_are_fresh() {
        let mut p = Page::new(512).unwrap();
        assert_eq!(verify(&p, 0), Verdict::Fresh);
        seal(&mut p, 0);
        assert_eq!(
            verify(&p, 0),
            Verdict::Valid,
            "an empty written page is not fresh"
        );
        p.set_u32(100, 42).unwrap();
        seal(&mut p, 9);
        assert_eq!(verify(&p, 9), Verdict::Valid);
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let mut p = Page::new(512).unwrap();
        p.set_string(0, "hello").unwrap();
        seal(&mut p, 3);
        for byte in [0, 7, 200, 503, 504, 508, 511] {
            let mut bad = p.clone();
            bad.raw_mut()[byte] ^= 0x10;
            assert!(
                matches!(verify(&bad, 3), Verdict::Corrupt(_)),
                "flip at {byte}"
            );
        }
    }

    #[test]
    fn a_block_read_from_the_wrong_position_is_corrupt() {
        let mut p = Page::new(512).unwrap();
        seal(&mut p, 3);
        assert!(matches!(verify(&p, 4), Verdict::Corrupt(r) if r.contains("checksum mismatch")));
    }
}
