//! # RESP values and their encoding
//!
//! Every reply the server sends is a [`Frame`], turned into bytes by [`Frame::encode`] for
//! the protocol version the client chose with `HELLO` ([`Protocol`]). The server never
//! *parses* frames — clients send only arrays of bulk strings, which `parse.rs` handles —
//! so this module is the writing half of RESP only.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **One frame type for both protocol versions.** RESP3 added maps, sets, doubles,
//!   booleans, verbatim strings and pushes; RESP2 has none of them. Commands build the rich
//!   RESP3 value once and the encoder *downgrades* it for RESP2 clients exactly as Redis
//!   does (a map becomes a flat array of keys and values, a double a bulk string, a boolean
//!   the integer 1 or 0). The alternative — every command checking the version — would
//!   scatter the same `if` over a hundred places.
//! - **Two nulls.** RESP2 distinguishes a null bulk string (`$-1`, e.g. `GET` of a missing
//!   key) from a null array (`*-1`, e.g. a timed-out `BLPOP`); RESP3 has the single `_`.
//!   Keeping both variants lets RESP2 clients see exactly what Redis would send.
//! - **Encoding appends to a caller's `BytesMut`** and allocates nothing else: integers and
//!   doubles are formatted in small stack buffers. A connection encodes a whole pipeline of
//!   replies into one buffer and writes it with one system call.
//! - **Status and error lines can't break framing.** `+` and `-` lines end at the first
//!   `\r\n`, so a message containing one would be read as two replies and desynchronise the
//!   client forever. The encoder replaces `\r` and `\n` with spaces, as Redis's
//!   `addReplyErrorFormat` does, rather than trusting every caller to remember.
//! - **Doubles are written as Redis 7.2 writes them** (`d2string`): `inf`, `-inf`, `nan`,
//!   `0`/`-0`, integers without a fraction when they are exact and within ±2^62, otherwise
//!   the shortest text that reads back as the same double, switching to `1.5e+20`-style
//!   exponents with the thresholds of Redis's `fpconv_dtoa`. The digits come from Rust's own
//!   shortest round-trip formatting (`{:e}`), which is always minimal; Redis's Grisu2 very
//!   rarely emits one digit more. Both read back as the same number.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// The RESP version a connection speaks.
///
/// Every connection starts in RESP2 (the default, so old clients work unchanged) and may
/// switch to RESP3 with `HELLO 3`; the version only changes how frames are *encoded*.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RESP2: what every Redis client understands; RESP3 types are downgraded to it.
    #[default]
    Resp2,
    /// RESP3: typed replies (maps, sets, doubles, …), chosen by the client with `HELLO 3`.
    Resp3,
}

/// One reply value, independent of the protocol version it will be encoded in.
///
/// Commands build frames; only [`Frame::encode`] knows the wire format. Each variant's doc
/// says why it exists and how RESP2 sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// A status reply such as `OK` or `PONG`: cheap, text-only, no length prefix.
    Simple(String),
    /// An error reply; the text is complete, code included (`"ERR unknown command"`), so
    /// commands can send `WRONGTYPE …` or `NOAUTH …` as well as `ERR …`.
    Error(String),
    /// A signed 64-bit integer, Redis's only integer reply type.
    Integer(i64),
    /// A binary-safe string: keys and values are arbitrary bytes, never assumed UTF-8.
    Bulk(Bytes),
    /// "No value" where a string was expected (`GET` of a missing key): RESP2 `$-1`.
    Null,
    /// "No value" where an array was expected (a timed-out blocking pop): RESP2 `*-1`.
    NullArray,
    /// An ordered list of replies, possibly nested.
    Array(Vec<Frame>),
    /// Key/value pairs in order (`HGETALL`, `HELLO`); RESP2 clients get a flat array.
    Map(Vec<(Frame, Frame)>),
    /// An unordered collection (`SMEMBERS`); RESP2 clients get an array.
    Set(Vec<Frame>),
    /// A floating-point number (`ZSCORE`); RESP2 clients get it as a bulk string.
    Double(f64),
    /// A true/false answer; RESP2 clients get the integer 1 or 0 Redis always sent them.
    Boolean(bool),
    /// Text meant for humans (`INFO`, `LATENCY DOCTOR`) with its format, so a client can
    /// show it as-is; RESP2 clients get the text alone as a bulk string.
    Verbatim {
        /// The text's format, three bytes such as `txt` or `mkd`.
        format: [u8; 3],
        /// The text itself.
        text: Bytes,
    },
    /// Out-of-band data (pub/sub messages, invalidations) that is not a reply to a request;
    /// RESP2 clients get an array, which is how pub/sub worked before RESP3.
    Push(Vec<Frame>),
}

impl Frame {
    /// The `+OK` reply, the most common reply of all.
    pub fn ok() -> Frame {
        Frame::Simple("OK".to_owned())
    }

    /// A status reply with the given text.
    pub fn simple(text: impl Into<String>) -> Frame {
        Frame::Simple(text.into())
    }

    /// An error reply; `msg` is the whole text including its code, e.g.
    /// `"ERR unknown command"` or `"WRONGTYPE Operation against a key …"`.
    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(msg.into())
    }

    /// A bulk string reply from anything convertible to `Bytes` without copying
    /// (`Bytes`, `Vec<u8>`, `&'static [u8]`, `String`, …).
    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    /// An integer reply.
    pub fn int(n: i64) -> Frame {
        Frame::Integer(n)
    }

    /// Appends this frame, encoded for `proto`, to `out`.
    ///
    /// Allocates nothing but `out`'s growth, so a connection can encode many replies into
    /// one buffer and send them with a single write.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        let resp3 = proto == Protocol::Resp3;
        match self {
            Frame::Simple(text) => put_line(out, b'+', text.as_bytes()),
            Frame::Error(text) => put_line(out, b'-', text.as_bytes()),
            Frame::Integer(n) => put_header(out, b':', *n),
            Frame::Bulk(data) => put_bulk(out, data),
            Frame::Null if resp3 => out.put_slice(b"_\r\n"),
            Frame::Null => out.put_slice(b"$-1\r\n"),
            Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Array(items) => put_aggregate(out, b'*', items, proto),
            Frame::Map(pairs) => {
                // RESP2 has no maps: send keys and values interleaved in one flat array.
                if resp3 {
                    put_header(out, b'%', len_i64(pairs.len()));
                } else {
                    put_header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
                }
                for (key, value) in pairs {
                    key.encode(proto, out);
                    value.encode(proto, out);
                }
            }
            Frame::Set(items) => put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
            Frame::Double(d) => {
                let mut text = StackBuf::<48>::new();
                write_double(*d, &mut text);
                if resp3 {
                    put_line(out, b',', text.as_bytes());
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Frame::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::Boolean(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            Frame::Verbatim { format, text } if resp3 => {
                // The length covers the "fmt:" prefix too.
                put_header(out, b'=', len_i64(text.len()).saturating_add(4));
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Frame::Verbatim { text, .. } => put_bulk(out, text),
            Frame::Push(items) => put_aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
        }
    }
}

/// A collection's length as RESP's signed length; a `Vec` can't really exceed `i64::MAX`.
fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Writes `<kind><n>\r\n`: the whole of an integer reply, or an aggregate's header.
fn put_header(out: &mut BytesMut, kind: u8, n: i64) {
    out.put_u8(kind);
    put_i64(out, n);
    out.put_slice(b"\r\n");
}

/// Writes a bulk string: `$<len>\r\n<data>\r\n`.
fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    put_header(out, b'$', len_i64(data.len()));
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Writes an aggregate's header, then its items.
fn put_aggregate(out: &mut BytesMut, kind: u8, items: &[Frame], proto: Protocol) {
    put_header(out, kind, len_i64(items.len()));
    for item in items {
        item.encode(proto, out);
    }
}

/// Writes a one-line frame (`+`, `-`, `,`), with any `\r` or `\n` in `text` replaced by a
/// space so the line can't end early and desynchronise the client.
fn put_line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.put_u8(kind);
    let mut pieces = text.split(|&b| b == b'\r' || b == b'\n');
    if let Some(first) = pieces.next() {
        out.put_slice(first);
    }
    for piece in pieces {
        out.put_u8(b' ');
        out.put_slice(piece);
    }
    out.put_slice(b"\r\n");
}

/// Writes `n` in decimal, formatted in a stack buffer (what the `itoa` crate does).
fn put_i64(out: &mut BytesMut, n: i64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut pos = digits.len();
    let mut rest = n.unsigned_abs(); // i64::MIN has no positive i64 counterpart
    loop {
        pos -= 1;
        digits[pos] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&digits[pos..]);
}

/// A fixed-size text buffer on the stack, so formatting a double allocates nothing.
struct StackBuf<const N: usize> {
    /// The bytes written so far, in `buf[..len]`.
    buf: [u8; N],
    /// How many bytes of `buf` are used.
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, bytes: &[u8]) {
        // Sizes are chosen so this never fails; a panic here is a bug in this file.
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl<const N: usize> std::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > N {
            return Err(std::fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Formats `d` as Redis 7.2's `d2string` does (see the module doc).
fn write_double(d: f64, out: &mut StackBuf<48>) {
    if d.is_nan() {
        return out.push(b"nan");
    }
    if d.is_infinite() {
        return out.push(if d < 0.0 { b"-inf" } else { b"inf" });
    }
    if d == 0.0 {
        return out.push(if d.is_sign_negative() { b"-0" } else { b"0" });
    }
    // Exact integers within ±2^62 (Redis's `double2ll`) are printed as integers.
    let limit = (i64::MAX / 2) as f64;
    if (-limit..=limit).contains(&d) && (d as i64) as f64 == d {
        let _ = write!(out, "{}", d as i64);
        return;
    }
    // Shortest round-trip digits and decimal exponent, e.g. "1.2345e-7".
    let mut sci = StackBuf::<40>::new();
    let _ = write!(sci, "{:e}", d.abs());
    let text = sci.as_bytes();
    let e_at = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let mut digits = [0u8; 24];
    let mut ndigits = 0;
    for &b in text[..e_at].iter().filter(|b| b.is_ascii_digit()) {
        digits[ndigits] = b;
        ndigits += 1;
    }
    let exp10: i32 = text
        .get(e_at + 1..)
        .and_then(|exp| std::str::from_utf8(exp).ok())
        .and_then(|exp| exp.parse().ok())
        .unwrap_or(0);
    if d < 0.0 {
        out.push(b"-");
    }
    emit_digits(&digits[..ndigits], exp10, out);
}

/// Lays out `digits` (value = 0.d1d2d3… × 10^(exp10+1)) with the thresholds of Redis's
/// `fpconv_dtoa` `emit_digits`: plain integer, plain decimal, or `d.ddde±x`.
fn emit_digits(digits: &[u8], exp10: i32, out: &mut StackBuf<48>) {
    let n = digits.len() as i32;
    let k = exp10 - (n - 1); // value = digits × 10^k
    let exp = exp10.abs();
    if k >= 0 && exp < n + 7 {
        // Plain integer with trailing zeros: 1.5e20 -> 150000000000000000000.
        out.push(digits);
        for _ in 0..k {
            out.push(b"0");
        }
    } else if k < 0 && (k > -7 || exp < 4) {
        // Plain decimal: 0.0015 or 123.456.
        let int_digits = n + k;
        if int_digits <= 0 {
            out.push(b"0.");
            for _ in 0..-int_digits {
                out.push(b"0");
            }
            out.push(digits);
        } else {
            let (int_part, frac) = digits.split_at(int_digits as usize);
            out.push(int_part);
            out.push(b".");
            out.push(frac);
        }
    } else {
        // Scientific: 1.2345e-7, 1e+300 (no zero padding of the exponent).
        out.push(&digits[..1]);
        if digits.len() > 1 {
            out.push(b".");
            out.push(&digits[1..]);
        }
        out.push(if exp10 < 0 { b"e-" } else { b"e+" });
        let _ = write!(out, "{exp}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(frame: &Frame, proto: Protocol) -> String {
        let mut out = BytesMut::new();
        frame.encode(proto, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn double(d: f64) -> String {
        let mut text = StackBuf::<48>::new();
        write_double(d, &mut text);
        String::from_utf8(text.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn constructors() {
        assert_eq!(Frame::ok(), Frame::Simple("OK".into()));
        assert_eq!(Frame::error("ERR x"), Frame::Error("ERR x".into()));
        assert_eq!(Frame::bulk("v"), Frame::Bulk(Bytes::from_static(b"v")));
        assert_eq!(Frame::int(-3), Frame::Integer(-3));
        assert_eq!(Protocol::default(), Protocol::Resp2);
    }

    #[test]
    fn integers_at_the_extremes() {
        for (n, text) in [
            (0, ":0\r\n"),
            (-1, ":-1\r\n"),
            (i64::MAX, ":9223372036854775807\r\n"),
            (i64::MIN, ":-9223372036854775808\r\n"),
        ] {
            assert_eq!(enc(&Frame::int(n), Protocol::Resp2), text);
        }
    }

    #[test]
    fn error_and_status_lines_cannot_break_framing() {
        let frame = Frame::error("ERR bad\r\nthing\n");
        assert_eq!(enc(&frame, Protocol::Resp2), "-ERR bad  thing \r\n");
        assert_eq!(enc(&Frame::simple("a\rb"), Protocol::Resp3), "+a b\r\n");
    }

    #[test]
    fn nested_aggregates_downgrade_recursively() {
        let frame = Frame::Array(vec![
            Frame::Map(vec![(Frame::bulk("k"), Frame::Boolean(true))]),
            Frame::Null,
        ]);
        assert_eq!(
            enc(&frame, Protocol::Resp2),
            "*2\r\n*2\r\n$1\r\nk\r\n:1\r\n$-1\r\n"
        );
        assert_eq!(
            enc(&frame, Protocol::Resp3),
            "*2\r\n%1\r\n$1\r\nk\r\n#t\r\n_\r\n"
        );
    }

    #[test]
    fn doubles_as_redis_writes_them() {
        for (d, text) in [
            (1.5, "1.5"),
            (-2.5, "-2.5"),
            (10.0, "10"),
            (0.1, "0.1"),
            (2.71, "2.71"),
            (0.0001, "0.0001"),
            (0.000015, "0.000015"),
            (0.0012345678, "0.0012345678"),
            (1.2345e-7, "1.2345e-7"),
            (123456789.123, "123456789.123"),
            (1e18, "1000000000000000000"),
            (4611686018427387904.0, "4611686018427387904"), // 2^62: still an integer
            (1e19, "1e+19"),
            (1.2345678901234567e23, "123456789012345670000000"),
            (1e300, "1e+300"),
            (-1e-300, "-1e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (0.0, "0"),
            (-0.0, "-0"),
        ] {
            assert_eq!(double(d), text, "formatting {d:e}");
            // Everything but nan must read back as the very same double.
            let back: f64 = text.parse().unwrap();
            assert!(d.is_nan() && back.is_nan() || back.to_bits() == d.to_bits());
        }
    }

    #[test]
    fn double_frames_in_both_protocols() {
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp3), ",1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Frame::Double(f64::NAN), Protocol::Resp3), ",nan\r\n");
    }
}
