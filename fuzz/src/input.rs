//! Reading a fuzz input as a little language: bytes in, choices out.

/// Reads an input's fields in order; running out of bytes reads zeroes, so every input
/// means something and the fuzzer's shortest inputs are the simplest cases.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    pub(crate) fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u64(&mut self) -> u64 {
        (0..4).fold(0, |n, _| n << 16 | u64::from(self.u16()))
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken.to_vec()
    }

    pub(crate) fn sized(&mut self) -> Vec<u8> {
        let len = self.u16() as usize;
        self.bytes(len)
    }
}
