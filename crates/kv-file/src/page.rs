//! `Page`: one block's bytes in memory, with bounds-checked typed accessors.

use byteorder::{ByteOrder, LittleEndian};

use crate::checksum::TRAILER_SIZE;
use crate::{Error, Result};

/// The smallest block size supported: one disk sector.
pub const MIN_BLOCK_SIZE: usize = 512;
/// The largest block size supported; larger pages waste cache on small records.
pub const MAX_BLOCK_SIZE: usize = 64 * 1024;
/// The block size used when a directory is created without one: the OS page size on most systems.
pub const DEFAULT_BLOCK_SIZE: usize = 4096;
/// Bytes of the length prefix in front of every byte string and string stored in a page.
pub const LEN_PREFIX: usize = 4;

/// Checks that `size` is a block size this crate supports.
pub fn validate_block_size(size: usize) -> Result<()> {
    if size.is_power_of_two() && (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(Error::InvalidBlockSize {
            size,
            min: MIN_BLOCK_SIZE,
            max: MAX_BLOCK_SIZE,
        })
    }
}

// ANCHOR: page
/// A block-sized buffer: what a block looks like in memory.
///
/// The last [`TRAILER_SIZE`](crate::TRAILER_SIZE) bytes are the checksum trailer, owned by the
/// [`FileManager`](crate::FileManager); every accessor works on the usable bytes before it
/// and refuses, with [`Error::OutOfBounds`], any access that would cross their end. Integers
/// are little-endian (no byte swapping on x86 and ARM).
#[derive(Clone, PartialEq, Eq)]
pub struct Page {
    /// The whole block, trailer included, so a read or write is one system call.
    data: Box<[u8]>,
}
// ANCHOR_END: page

/// Generates a getter and a setter for one fixed-width integer type.
macro_rules! int_accessors {
    ($(#[$doc:meta] $ty:ty, $get:ident, $set:ident, $read:ident, $write:ident;)*) => {
        $(
            #[$doc]
            pub fn $get(&self, offset: usize) -> Result<$ty> {
                Ok(LittleEndian::$read(self.range(offset, size_of::<$ty>())?))
            }

            #[$doc]
            pub fn $set(&mut self, offset: usize, value: $ty) -> Result<()> {
                LittleEndian::$write(self.range_mut(offset, size_of::<$ty>())?, value);
                Ok(())
            }
        )*
    };
}

impl Page {
    /// A zeroed page for blocks of `block_size` bytes; the size must be a valid block size.
    pub fn new(block_size: usize) -> Result<Self> {
        validate_block_size(block_size)?;
        Ok(Self {
            data: vec![0; block_size].into_boxed_slice(),
        })
    }

    /// The block size this page was made for.
    pub fn block_size(&self) -> usize {
        self.data.len()
    }

    /// How many bytes callers may use: the block size less the checksum trailer.
    pub fn capacity(&self) -> usize {
        self.data.len() - TRAILER_SIZE
    }

    /// Bytes needed to store a byte string or string of `len` bytes: its prefix plus the bytes.
    ///
    /// A string of at most `n` characters needs `max_len(4 * n)`, since a UTF-8 character takes
    /// up to four bytes.
    pub const fn max_len(len: usize) -> usize {
        // Saturating: a length no page can hold stays too large instead of wrapping.
        len.saturating_add(LEN_PREFIX)
    }

    /// The usable bytes, for layers that lay out their own structures.
    pub fn payload(&self) -> &[u8] {
        &self.data[..self.capacity()]
    }

    /// The usable bytes, mutable, for layers that lay out their own structures.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let cap = self.capacity();
        &mut self.data[..cap]
    }

    /// Sets every byte, trailer included, to zero: the state of a block never written.
    pub fn clear(&mut self) {
        self.data.fill(0);
    }

    int_accessors! {
        /// A `u16` at `offset` (little-endian).
        u16, get_u16, set_u16, read_u16, write_u16;
        /// A `u32` at `offset` (little-endian).
        u32, get_u32, set_u32, read_u32, write_u32;
        /// A `u64` at `offset` (little-endian).
        u64, get_u64, set_u64, read_u64, write_u64;
        /// An `i32` at `offset` (little-endian, two's complement).
        i32, get_i32, set_i32, read_i32, write_i32;
        /// An `i64` at `offset` (little-endian, two's complement).
        i64, get_i64, set_i64, read_i64, write_i64;
    }

    /// The byte at `offset`.
    pub fn get_u8(&self, offset: usize) -> Result<u8> {
        Ok(self.range(offset, 1)?[0])
    }

    /// Sets the byte at `offset`.
    pub fn set_u8(&mut self, offset: usize, value: u8) -> Result<()> {
        self.range_mut(offset, 1)?[0] = value;
        Ok(())
    }

    // ANCHOR: bytes
    /// The byte string stored at `offset`: a `u32` length, then that many bytes.
    ///
    /// A length that runs past the page (a damaged page) is an error, not a panic.
    pub fn get_bytes(&self, offset: usize) -> Result<&[u8]> {
        let len = self.get_u32(offset)? as usize;
        self.range(offset + LEN_PREFIX, len)
    }

    /// Stores `bytes` at `offset` with its length in front; returns the bytes used.
    ///
    /// Nothing is written if it does not fit.
    pub fn set_bytes(&mut self, offset: usize, bytes: &[u8]) -> Result<usize> {
        let total = Self::max_len(bytes.len());
        let len = u32::try_from(bytes.len()).map_err(|_| self.out_of_bounds(offset, total))?;
        let dst = self.range_mut(offset, total)?;
        LittleEndian::write_u32(&mut dst[..LEN_PREFIX], len);
        dst[LEN_PREFIX..].copy_from_slice(bytes);
        Ok(total)
    }
    // ANCHOR_END: bytes

    /// The UTF-8 string stored at `offset`, laid out as [`get_bytes`](Self::get_bytes) reads.
    pub fn get_string(&self, offset: usize) -> Result<&str> {
        std::str::from_utf8(self.get_bytes(offset)?).map_err(|_| Error::InvalidUtf8 { offset })
    }

    /// Stores `s` at `offset` as a length-prefixed byte string; returns the bytes used.
    pub fn set_string(&mut self, offset: usize, s: &str) -> Result<usize> {
        self.set_bytes(offset, s.as_bytes())
    }

    /// The whole block, trailer included, as it goes to disk.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.data
    }

    /// The whole block, trailer included, for reading it from disk.
    pub(crate) fn raw_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    // ANCHOR: range
    /// The usable bytes `offset..offset + len`, or `OutOfBounds`; overflow cannot wrap.
    fn range(&self, offset: usize, len: usize) -> Result<&[u8]> {
        match offset.checked_add(len) {
            Some(end) if end <= self.capacity() => Ok(&self.data[offset..end]),
            _ => Err(self.out_of_bounds(offset, len)),
        }
    }
    // ANCHOR_END: range

    /// The mutable twin of [`range`](Self::range).
    fn range_mut(&mut self, offset: usize, len: usize) -> Result<&mut [u8]> {
        match offset.checked_add(len) {
            Some(end) if end <= self.capacity() => Ok(&mut self.data[offset..end]),
            _ => Err(self.out_of_bounds(offset, len)),
        }
    }

    fn out_of_bounds(&self, offset: usize, len: usize) -> Error {
        Error::OutOfBounds {
            offset,
            len,
            capacity: self.capacity(),
        }
    }
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let used = self
            .payload()
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        f.debug_struct("Page")
            .field("block_size", &self.block_size())
            .field("used_prefix", &used)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn page() -> Page {
        Page::new(512).unwrap()
    }

    #[test]
    fn block_size_must_be_a_supported_power_of_two() {
        for bad in [0, 100, 256, 4000, 128 * 1024] {
            assert!(
                matches!(Page::new(bad), Err(Error::InvalidBlockSize { size, .. }) if size == bad)
            );
        }
        assert_eq!(Page::new(4096).unwrap().capacity(), 4096 - TRAILER_SIZE);
    }

    #[test]
    fn integers_round_trip_at_the_edges() {
        let mut p = page();
        let last = p.capacity() - 8;
        p.set_u64(last, u64::MAX - 1).unwrap();
        assert_eq!(p.get_u64(last).unwrap(), u64::MAX - 1);
        p.set_i32(0, -5).unwrap();
        assert_eq!(p.get_i32(0).unwrap(), -5);
        assert_eq!(p.get_u8(0).unwrap(), 0xfb, "little-endian: low byte first");
    }

    #[test]
    fn out_of_range_access_is_an_error_not_a_panic() {
        let mut p = page();
        let cap = p.capacity();
        assert!(matches!(
            p.get_u32(cap - 3),
            Err(Error::OutOfBounds { offset, len: 4, capacity }) if offset == cap - 3 && capacity == cap
        ));
        assert!(p.set_u64(usize::MAX, 1).is_err(), "overflowing offset");
        assert!(p.set_u8(cap, 1).is_err(), "the trailer is not usable");
        assert!(p.set_bytes(cap - 4, b"x").is_err());
        assert_eq!(
            p.get_u64(cap - 8).unwrap(),
            0,
            "failed writes changed nothing"
        );
    }

    #[test]
    fn a_damaged_length_prefix_is_an_error() {
        let mut p = page();
        p.set_u32(10, u32::MAX).unwrap();
        assert!(matches!(p.get_bytes(10), Err(Error::OutOfBounds { .. })));
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_offset() {
        let mut p = page();
        p.set_bytes(20, &[0xff, 0xfe]).unwrap();
        assert!(matches!(
            p.get_string(20),
            Err(Error::InvalidUtf8 { offset: 20 })
        ));
    }

    #[test]
    fn max_len_is_prefix_plus_bytes() {
        let mut p = page();
        let used = p.set_string(0, "héllo").unwrap();
        assert_eq!(used, Page::max_len("héllo".len()));
        assert_eq!(p.get_string(0).unwrap(), "héllo");
    }

    proptest! {
        #[test]
        fn integer_accessors_round_trip(offset in 0usize..600, a: u64, b: i64, c: u16) {
            let mut p = page();
            let fits = offset + 8 <= p.capacity();
            prop_assert_eq!(p.set_u64(offset, a).is_ok(), fits);
            if fits {
                prop_assert_eq!(p.get_u64(offset).unwrap(), a);
                p.set_i64(offset, b).unwrap();
                prop_assert_eq!(p.get_i64(offset).unwrap(), b);
                p.set_u16(offset, c).unwrap();
                prop_assert_eq!(p.get_u16(offset).unwrap(), c);
            } else {
                prop_assert!(p.get_u64(offset).is_err());
            }
        }

        #[test]
        fn byte_strings_round_trip(offset in 0usize..520, bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut p = page();
            let fits = offset + Page::max_len(bytes.len()) <= p.capacity();
            let before = p.clone();
            match p.set_bytes(offset, &bytes) {
                Ok(used) => {
                    prop_assert!(fits);
                    prop_assert_eq!(used, Page::max_len(bytes.len()));
                    prop_assert_eq!(p.get_bytes(offset).unwrap(), &bytes[..]);
                }
                Err(_) => {
                    prop_assert!(!fits);
                    prop_assert!(p == before, "a refused write must change nothing");
                }
            }
        }

        #[test]
        fn strings_round_trip(offset in 0usize..400, s in "\\PC{0,40}") {
            let mut p = page();
            if p.set_string(offset, &s).is_ok() {
                prop_assert_eq!(p.get_string(offset).unwrap(), s.as_str());
            }
        }
    }
}
