//! # Parsing client requests
//!
//! A Redis client sends each command as an array of bulk strings —
//! `*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n` — or, when a human types into `telnet`, as an
//! *inline* line such as `GET key\r\n`. This module turns the bytes a connection has read
//! into one command's arguments at a time, accepting and rejecting exactly what Redis 7
//! accepts and rejects (`processMultibulkBuffer`, `processInlineBuffer` and `sdssplitargs`
//! in Redis's sources), with the same error texts.
//!
//! ## How a connection uses it
//!
//! Read from the socket into a `BytesMut`, then call [`RequestParser::parse`] until it
//! returns `Ok(None)` ("need more bytes"), run each command, and read again. On `Err`, reply
//! `-ERR <error>` and close the connection: after a framing error nothing that follows can
//! be trusted to start at a request boundary. [`parse_request`] is the same without memory
//! between calls, for tests and one-shot uses.
//!
//! Empty requests (`*0\r\n`, `*-1\r\n`, a blank inline line) are consumed and skipped
//! *inside* the parser, as Redis skips them; a returned request always has at least one
//! argument, so no caller can forget the check and index `args[0]` of an empty one.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Zero copy.** Bulk arguments are slices (`Bytes`) of the very buffer the socket read
//!   into: the finished request is split off the front of the buffer and frozen, and each
//!   argument is a reference-counted view into it. A 100 MiB `SET` value is never copied by
//!   the parser. (Inline arguments are copied: quotes and escapes make them new bytes, and
//!   inline requests are for humans and small.)
//! - **Resumable, so never quadratic.** A large request arrives over many reads. A parser
//!   that started over at every read would rescan all arguments received so far each time —
//!   a million small arguments arriving in a thousand reads would be scanned a thousand
//!   times. [`RequestParser`] remembers how far it got (argument positions as offsets into
//!   the buffer, which only grows at its end between calls) and continues from there, so
//!   every byte is examined once. A huge bulk costs one comparison per read: "not all here
//!   yet". Redis keeps the same kind of state in its `client` struct.
//! - **Refuse before allocating.** Counts and lengths are checked against [`Limits`] as soon
//!   as their header line is complete, before waiting for the payload and before reserving
//!   anything; the argument vector starts at most 1024 entries large and grows only as
//!   arguments really arrive. A client can't make the server allocate 512 MiB by *claiming*
//!   a large bulk, nor wait for bytes that would be refused anyway.
//!
//! ## Where this parser is stricter than Redis
//!
//! - Redis skips the two bytes after a bulk payload without looking at them; here they must
//!   be `\r\n` ([`ProtocolError::MissingBulkTerminator`]), which catches clients whose
//!   lengths are wrong instead of silently desynchronising.
//! - Redis ends a `*`/`$` header line at the first `\r` and skips the next byte whatever it
//!   is; here that byte must be `\n`, otherwise the count is reported invalid.
//! - Redis refuses a header or inline line longer than 64 KiB only while its end has not
//!   arrived: the same long line is accepted if it came in one read, and refused if it came
//!   slowly. Here a line too long is refused either way, and a bulk header's type byte is
//!   judged as soon as it arrives, so the verdict on a stream never depends on how TCP cut
//!   it into reads — a property the `resp` fuzz target checks (it found both cases).
//! - Redis searches for line ends with `strchr`, which stops at a NUL byte, so a NUL before
//!   the end of a header or inline line makes Redis wait until the 64 KiB limit trips. Here
//!   NUL is an ordinary byte (and an ordinary character of an inline argument).

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

/// Bounds on what a client may send, so one connection can't exhaust the server's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk argument accepted, in bytes (Redis `proto-max-bulk-len`, 512 MiB): the
    /// biggest value a client can store in one command.
    pub max_bulk: usize,
    /// Most arguments in one request (1024 × 1024): bounds the per-argument bookkeeping a
    /// claimed count could otherwise make the server reserve.
    pub max_args: usize,
    /// Longest inline request, and longest `*`/`$` header line, in bytes (Redis
    /// `PROTO_INLINE_MAX_SIZE`, 64 KiB): a line without an end is not buffered forever.
    pub max_inline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
            max_inline: 64 * 1024,
        }
    }
}

/// A request that breaks the protocol; the connection must be closed after replying.
///
/// `Display` is exactly the text Redis sends after `-ERR `, so clients and their tests see
/// the messages they know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline request grew past `max_inline` bytes without a `\n`.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline request opened a quote it never closed, or closed one that is followed by
    /// something other than a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// The `*<count>` line grew past `max_inline` bytes without a `\r`.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// The `*<count>` is not a decimal integer, or exceeds `max_args`.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$<length>` line grew past `max_inline` bytes without a `\r`.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An array element is not a bulk string; holds the byte found instead of `$` (as a
    /// `char`, so bytes above 127 show as the Latin-1 character, where Redis sends the raw
    /// byte — an error reply must be valid text).
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedBulk(char),
    /// A `$<length>` is negative, not a decimal integer, or exceeds `max_bulk`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A bulk payload is not followed by `\r\n` (Redis doesn't check; see the module doc).
    #[error("Protocol error: bulk data not followed by CRLF")]
    MissingBulkTerminator,
}

/// Parses one request from the front of `buf` without remembering anything between calls.
///
/// Returns `Ok(Some(args))` (never empty) and removes the request's bytes from `buf`, or
/// `Ok(None)` if no complete request is there yet: leading empty requests may have been
/// consumed, but a partial request is left untouched so the caller can read more and call
/// again. Each call starts over, so a connection receiving large requests should keep a
/// [`RequestParser`] instead.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    RequestParser::new().parse(buf, limits)
}

/// A request parser that remembers how far it got, so a request arriving over many reads
/// is scanned only once (see the module doc). One per connection.
///
/// Between calls the caller may only *append* to the buffer (as reading from a socket
/// does): the parser's progress is kept as offsets into it.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// For an array request: how many arguments its `*<count>` announced that are not
    /// parsed yet. `None` while no array header has been read.
    remaining: Option<usize>,
    /// The length from the `$<len>` line of the argument being received, once that line is
    /// read, so the line isn't parsed again while the payload trickles in.
    bulk_len: Option<usize>,
    /// Offset in the buffer just past what has been parsed of the current request.
    pos: usize,
    /// Where each argument parsed so far lies in the buffer; turned into `Bytes` slices
    /// only when the request is complete and split off.
    args: Vec<Range<usize>>,
    /// Offset up to which the current line is known to hold no line end, so a long line
    /// arriving in pieces isn't searched from its start every time.
    scanned: usize,
}

impl RequestParser {
    /// A parser between requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the next request from the front of `buf`, continuing where the last call
    /// stopped.
    ///
    /// Returns `Ok(Some(args))` (never empty) and removes the request's bytes from `buf`;
    /// `Ok(None)` when more bytes are needed (empty requests before it are consumed); or the
    /// protocol error to reply with before closing the connection.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.pos > buf.len() || self.scanned > buf.len() {
            // The buffer shrank behind our back: the caller broke the append-only rule.
            // Forget our progress rather than index out of bounds.
            *self = Self::default();
        }
        loop {
            let result = if self.remaining.is_some() || buf.first() == Some(&b'*') {
                self.parse_array(buf, limits)
            } else if buf.is_empty() {
                Ok(None)
            } else {
                self.parse_inline(buf, limits)
            };
            match result {
                // An empty request: consumed, and skipped as Redis skips it.
                Ok(Some(args)) if args.is_empty() => continue,
                Err(err) => {
                    *self = Self::default();
                    return Err(err);
                }
                other => return other,
            }
        }
    }

    /// Parses (or continues parsing) a `*<count>\r\n` array of `$<len>\r\n<data>\r\n`.
    fn parse_array(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.remaining.is_none() {
            let Some(cr) =
                self.find_line_end(buf, 0, limits, ProtocolError::TooBigMultibulkCount)?
            else {
                return Ok(None);
            };
            let count = parse_header_number(&buf[1..cr], buf[cr + 1])
                .ok_or(ProtocolError::InvalidMultibulkLength)?;
            if count <= 0 {
                // `*0` and `*-1` are empty requests: consume the header and report nothing.
                buf.advance(cr + 2);
                *self = Self::default();
                return Ok(Some(Vec::new()));
            }
            let count = usize::try_from(count)
                .ok()
                .filter(|&n| n <= limits.max_args)
                .ok_or(ProtocolError::InvalidMultibulkLength)?;
            self.pos = cr + 2;
            self.remaining = Some(count);
            // Reserve for what a typical request needs, not for what the client claims.
            self.args = Vec::with_capacity(count.min(1024));
        }

        while let Some(remaining @ 1..) = self.remaining {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let start = self.pos;
                    // The type byte is judged as soon as it arrives, before its line is
                    // complete: the verdict must not depend on how the stream was cut.
                    match buf.get(start) {
                        None => return Ok(None),
                        Some(b'$') => {}
                        Some(&other) => return Err(ProtocolError::ExpectedBulk(char::from(other))),
                    }
                    let Some(cr) =
                        self.find_line_end(buf, start, limits, ProtocolError::TooBigBulkCount)?
                    else {
                        return Ok(None);
                    };
                    let len = parse_header_number(&buf[start + 1..cr], buf[cr + 1])
                        .and_then(|n| usize::try_from(n).ok()) // negative lengths fail here
                        .filter(|&n| n <= limits.max_bulk)
                        .ok_or(ProtocolError::InvalidBulkLength)?;
                    self.pos = cr + 2;
                    self.bulk_len = Some(len);
                    len
                }
            };
            // The payload and its "\r\n"; one comparison while a big payload trickles in.
            let end = self.pos.saturating_add(len).saturating_add(2);
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(ProtocolError::MissingBulkTerminator);
            }
            self.args.push(self.pos..end - 2);
            self.pos = end;
            self.bulk_len = None;
            self.remaining = Some(remaining - 1);
        }

        // Complete: split the request off the buffer and hand out views into it.
        let request = buf.split_to(self.pos).freeze();
        let args = self
            .args
            .drain(..)
            .map(|range| request.slice(range))
            .collect();
        *self = Self::default();
        Ok(Some(args))
    }

    /// Parses an inline request: one line ending in `\n` (a `\r` before it is dropped),
    /// split into arguments like a shell would.
    fn parse_inline(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(newline) = find_byte(buf, self.scanned, b'\n') else {
            if buf.len() > limits.max_inline {
                return Err(ProtocolError::TooBigInline);
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        if newline > limits.max_inline {
            return Err(ProtocolError::TooBigInline); // too long even though it has ended
        }
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let args = split_args(&buf[..line_end]).ok_or(ProtocolError::UnbalancedQuotes)?;
        buf.advance(newline + 1);
        *self = Self::default();
        Ok(Some(args))
    }

    /// Finds the `\r` ending the header line that starts at `start`, once the byte after it
    /// has arrived too; `Ok(None)` means "read more". A line with no `\r` in its first
    /// `max_inline + 1` bytes is the error `too_big` — whether its end has arrived or not
    /// (Redis only refuses it if not; see the module doc).
    fn find_line_end(
        &mut self,
        buf: &[u8],
        start: usize,
        limits: &Limits,
        too_big: ProtocolError,
    ) -> Result<Option<usize>, ProtocolError> {
        match find_byte(buf, self.scanned.max(start), b'\r') {
            Some(cr) if cr - start > limits.max_inline => Err(too_big),
            Some(cr) if cr + 1 < buf.len() => Ok(Some(cr)),
            Some(cr) => {
                // The byte after the '\r' hasn't arrived; look at this '\r' again next time.
                self.scanned = cr;
                Ok(None)
            }
            None if buf.len() - start > limits.max_inline => Err(too_big),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }
}

/// The position of the first `byte` in `buf` at or after `from`.
fn find_byte(buf: &[u8], from: usize, byte: u8) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| b == byte)
        .map(|i| from + i)
}

/// Parses the number of a `*` or `$` header: `digits` are the bytes between the type byte
/// and the `\r`, `after_cr` the byte after the `\r`, which must be `\n`.
fn parse_header_number(digits: &[u8], after_cr: u8) -> Option<i64> {
    if after_cr != b'\n' {
        return None;
    }
    parse_i64(digits)
}

/// Parses a decimal `i64` as strictly as Redis's `string2ll`: an optional `-`, then no
/// leading zeros (except `0` itself), no `+`, no spaces, nothing after the digits, no
/// overflow, and at most 20 bytes.
///
/// Public because commands parse their integer arguments (`EXPIRE key 10`, `INCRBY`) by the
/// same rules, and must reject exactly what Redis rejects.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    // Redis refuses 21 bytes or more (LONG_STR_SIZE) before looking at them.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    // The first digit must be 1-9: "007" and "-0" are not numbers to Redis.
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        // -(2^63) is the one value whose magnitude doesn't fit a positive i64.
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Splits an inline request line into arguments exactly as Redis's `sdssplitargs` does;
/// `None` means unbalanced quotes.
///
/// - Arguments are separated by blanks (space, `\t`, `\n`, `\r`, `\v`, `\f` between
///   arguments; inside an unquoted argument only space, `\t`, `\n` and `\r` end it, so a
///   `\v` there is kept — a Redis quirk, copied).
/// - `"double quotes"` understand `\n \r \t \b \a`, `\xHH` (two hex digits) and `\` before
///   any other character meaning that character (`\"`, `\\`, and `\q` is `q`).
/// - `'single quotes'` understand only `\'`; every other byte is literal.
/// - A closing quote must be followed by a blank or the end of the line.
/// - Quotes may start mid-argument: `foo"bar baz"` is the single argument `foobar baz`.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let at = |i: usize| line.get(i).copied();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i).is_some_and(is_c_space) {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut arg = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let mut done = false;
            match at(i) {
                None if in_double || in_single => return None,
                Some(b'\\') if in_double && at(i + 1) == Some(b'x') => {
                    match (at(i + 2).and_then(hex_value), at(i + 3).and_then(hex_value)) {
                        (Some(high), Some(low)) => {
                            arg.push(high * 16 + low);
                            i += 3;
                        }
                        // Not two hex digits: `\x` is just an escaped `x`.
                        _ => {
                            arg.push(b'x');
                            i += 1;
                        }
                    }
                }
                Some(b'\\') if in_double && at(i + 1).is_some() => {
                    i += 1;
                    arg.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                }
                Some(b'\\') if in_single && at(i + 1) == Some(b'\'') => {
                    i += 1;
                    arg.push(b'\'');
                }
                Some(quote @ (b'"' | b'\''))
                    if (in_double && quote == b'"') || (in_single && quote == b'\'') =>
                {
                    // A closing quote must end the argument.
                    if at(i + 1).is_some_and(|next| !is_c_space(next)) {
                        return None;
                    }
                    done = true;
                }
                Some(byte) if in_double || in_single => arg.push(byte),
                None | Some(b' ' | b'\n' | b'\r' | b'\t') => done = true,
                Some(b'"') => in_double = true,
                Some(b'\'') => in_single = true,
                Some(byte) => arg.push(byte),
            }
            if i < line.len() {
                i += 1;
            }
            if done {
                break;
            }
        }
        args.push(Bytes::from(arg));
    }
}

/// C's `isspace` in the "C" locale, which `sdssplitargs` uses between arguments.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of one hexadecimal digit.
fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    type ParseResult = Result<Option<Vec<Bytes>>, ProtocolError>;

    /// Every request in `input`, parsed from one buffer, until it needs more bytes.
    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut requests = Vec::new();
        while let Some(args) = parse_request(&mut buf, &Limits::default()).unwrap() {
            requests.push(args);
        }
        (requests, buf)
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn error_of(input: &[u8], limits: &Limits) -> String {
        let mut buf = BytesMut::from(input);
        loop {
            match parse_request(&mut buf, limits) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {}", input.escape_ascii()),
                Err(err) => return err.to_string(),
            }
        }
    }

    #[test]
    fn a_simple_array_request() {
        let (requests, rest) = parse_all(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        assert_eq!(requests, [args(&["GET", "key"])]);
        assert!(rest.is_empty());
    }

    #[test]
    fn bulk_arguments_are_views_into_the_read_buffer() {
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhello\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let args = parse_request(&mut buf, &Limits::default()).unwrap();
        assert_eq!(
            args.unwrap()[0].as_ptr() as usize,
            base + 8,
            "payload copied"
        );
    }

    #[test]
    fn binary_payloads_pass_untouched() {
        let (requests, _) = parse_all(b"*2\r\n$3\r\nSET\r\n$4\r\n\r\n\0\xff\r\n");
        assert_eq!(requests[0][1].as_ref(), b"\r\n\0\xff");
    }

    #[test]
    fn pipelined_requests_come_out_one_by_one() {
        let input = b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI";
        let mut buf = BytesMut::from(&input[..]);
        let limits = Limits::default();
        for want in [&["PING"][..], &["PING"], &["GET", "k"]] {
            assert_eq!(parse_request(&mut buf, &limits), Ok(Some(args(want))));
        }
        assert_eq!(parse_request(&mut buf, &limits).unwrap(), None);
        assert_eq!(
            &buf[..],
            b"*1\r\n$4\r\nPI",
            "the partial request is left untouched"
        );
    }

    #[test]
    fn empty_requests_are_consumed_and_skipped() {
        let (requests, rest) = parse_all(b"*0\r\n*-1\r\n*-7\r\n\r\n  \t \n\nPING\r\n*0\r\n");
        assert_eq!(requests, [args(&["PING"])]);
        assert!(rest.is_empty());
    }

    /// The requests of this stream must come out the same however it is cut into reads.
    const STREAM: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\n\0x\r\n\
        set \"a b\" 'c d'\r\n*0\r\n*1\r\n$0\r\n\r\n\nGET k\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n";

    fn expected_stream() -> Vec<Vec<Bytes>> {
        vec![
            vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::from_static(b"v\r\n\0x"),
            ],
            args(&["set", "a b", "c d"]),
            args(&[""]),
            args(&["GET", "k"]),
            args(&["ECHO", "hi"]),
        ]
    }

    #[test]
    fn a_stream_split_at_every_position_parses_identically() {
        assert_eq!(parse_all(STREAM).0, expected_stream());
        let limits = Limits::default();
        for cut in 0..=STREAM.len() {
            // Stateless: first read, parse what's there, then the rest.
            let mut buf = BytesMut::from(&STREAM[..cut]);
            let mut got = Vec::new();
            while let Some(args) = parse_request(&mut buf, &limits).unwrap() {
                got.push(args);
            }
            buf.extend_from_slice(&STREAM[cut..]);
            while let Some(args) = parse_request(&mut buf, &limits).unwrap() {
                got.push(args);
            }
            assert_eq!(got, expected_stream(), "cut at {cut}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn a_stream_fed_byte_by_byte_parses_identically() {
        let limits = Limits::default();
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &byte in STREAM {
            buf.extend_from_slice(&[byte]);
            while let Some(args) = parser.parse(&mut buf, &limits).unwrap() {
                got.push(args);
            }
        }
        assert_eq!(got, expected_stream());
        assert!(buf.is_empty());
    }

    #[test]
    fn a_large_bulk_in_many_small_reads() {
        let payload = vec![b'x'; 4 << 20];
        let mut stream = b"*2\r\n$3\r\nSET\r\n$4194304\r\n".to_vec();
        stream.extend_from_slice(&payload);
        stream.extend_from_slice(b"\r\n");
        let limits = Limits::default();
        // Both parsers answer "not all here yet" after looking at the headers only.
        let feed = |mut parse: Box<dyn FnMut(&mut BytesMut) -> ParseResult + '_>| {
            let mut buf = BytesMut::new();
            let mut got = None;
            for chunk in stream.chunks(4096) {
                assert!(got.is_none(), "completed before its last byte");
                buf.extend_from_slice(chunk);
                got = parse(&mut buf).unwrap();
            }
            let args = got.expect("request completed");
            assert_eq!(args[1].len(), payload.len());
            assert!(buf.is_empty());
        };
        feed(Box::new(|buf| parse_request(buf, &limits)));
        let mut parser = RequestParser::new();
        feed(Box::new(|buf| parser.parse(buf, &limits)));
    }

    #[test]
    fn error_texts_are_redis_texts() {
        let limits = Limits::default();
        let too_long = vec![b'a'; 64 * 1024 + 1];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (too_long.clone(), "too big inline request"),
            (b"SET \"a b\r\n".to_vec(), "unbalanced quotes in request"),
            (
                [&b"*"[..], &too_long].concat(),
                "too big mbulk count string",
            ),
            (b"*abc\r\n".to_vec(), "invalid multibulk length"),
            (b"*01\r\n".to_vec(), "invalid multibulk length"),
            (b"*+1\r\n".to_vec(), "invalid multibulk length"),
            (b"*\r\n".to_vec(), "invalid multibulk length"),
            (b"*1048577\r\n".to_vec(), "invalid multibulk length"),
            (b"*1\rx".to_vec(), "invalid multibulk length"),
            (
                [&b"*1\r\n$"[..], &too_long].concat(),
                "too big bulk count string",
            ),
            (b"*1\r\n:5\r\n".to_vec(), "expected '$', got ':'"),
            (b"*2\r\n$1\r\na\r\n*1\r\n".to_vec(), "expected '$', got '*'"),
            (b"*1\r\n$-1\r\n".to_vec(), "invalid bulk length"),
            (b"*1\r\n$x\r\n".to_vec(), "invalid bulk length"),
            (b"*1\r\n$ 1\r\n".to_vec(), "invalid bulk length"),
            (b"*1\r\n$536870913\r\n".to_vec(), "invalid bulk length"),
            (
                b"*1\r\n$99999999999999999999\r\n".to_vec(),
                "invalid bulk length",
            ),
            (
                b"*1\r\n$3\r\nabcXY".to_vec(),
                "bulk data not followed by CRLF",
            ),
        ];
        for (input, text) in cases {
            let got = error_of(&input, &limits);
            assert_eq!(got, format!("Protocol error: {text}"));
        }
    }

    #[test]
    fn counts_at_the_limits_are_accepted_without_waiting_for_payloads() {
        let limits = Limits::default();
        // Exactly at the limits: accepted, so the parser waits for the rest.
        let mut buf = BytesMut::from(&b"*1048576\r\n$536870912\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &limits), Ok(None));
        // A line may be exactly max_inline bytes long before it must be complete.
        let mut buf = BytesMut::from(&vec![b'a'; 64 * 1024][..]);
        assert_eq!(parse_request(&mut buf, &limits), Ok(None));
        // Tighter limits are honoured.
        let small = Limits {
            max_bulk: 3,
            max_args: 2,
            max_inline: 8,
        };
        assert_eq!(
            error_of(b"*3\r\n", &small),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            error_of(b"*1\r\n$4\r\n", &small),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            error_of(b"GET abcdef", &small),
            "Protocol error: too big inline request"
        );
        assert_eq!(
            error_of(b"*123456789", &small),
            "Protocol error: too big mbulk count string"
        );
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_the_stream_was_cut() {
        // Found by the `resp` fuzz target: a line too long, or a wrong type byte, was one
        // error when the stream came in one read and another when it came in pieces.
        let small = Limits {
            max_bulk: 300,
            max_args: 16,
            max_inline: 8,
        };
        let inputs: [&[u8]; 5] = [
            b"GET abcdef\r\n",
            b"*123456789\r\n",
            b"*1\r\n$123456789\r\n",
            b"*1\r\n\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2$4\r\nPING\r\n",
            b"*1\r\n$4\r\nPING\r\nGET k\r\n*1\r\n:1\r\n",
        ];
        for input in inputs {
            let whole = {
                let mut buf = BytesMut::from(input);
                std::iter::from_fn(|| match parse_request(&mut buf, &small) {
                    Ok(None) => None,
                    other => Some(other),
                })
                .take_while(|r| r.is_ok())
                .count()
            };
            let want = error_of(input, &small);
            for step in 1..input.len() {
                let mut parser = RequestParser::new();
                let mut buf = BytesMut::new();
                let mut requests = 0;
                let got = 'feed: {
                    for chunk in input.chunks(step) {
                        buf.extend_from_slice(chunk);
                        loop {
                            match parser.parse(&mut buf, &small) {
                                Ok(Some(_)) => requests += 1,
                                Ok(None) => break,
                                Err(e) => break 'feed e.to_string(),
                            }
                        }
                    }
                    panic!("no error for {} in reads of {step}", input.escape_ascii());
                };
                assert_eq!(
                    (requests, &got),
                    (whole, &want),
                    "{} in reads of {step}",
                    input.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn a_parser_starts_clean_after_an_error() {
        let mut parser = RequestParser::new();
        let limits = Limits::default();
        // (The wrong type byte is refused as soon as it arrives, before its line ends.)
        let mut buf = BytesMut::from(&b"*2\r\n$1\r\na\r\n:"[..]);
        assert_eq!(
            parser.parse(&mut buf, &limits),
            Err(ProtocolError::ExpectedBulk(':'))
        );
        let mut buf = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(parser.parse(&mut buf, &limits), Ok(Some(args(&["PING"]))));
    }

    #[test]
    fn inline_lines_split_like_sdssplitargs() {
        type Case<'a> = (&'a [u8], Option<&'a [&'a [u8]]>);
        let cases: &[Case] = &[
            (b"GET key", Some(&[b"GET", b"key"])),
            (b"  SET   a\t b  ", Some(&[b"SET", b"a", b"b"])),
            (b"set \"a b\" c", Some(&[b"set", b"a b", b"c"])),
            (
                b"\"\\x41\\x4a\\n\\t\\r\\b\\a\"",
                Some(&[b"AJ\n\t\r\x08\x07"]),
            ),
            (b"\"\\xZZ\\x4\"", Some(&[b"xZZx4"])),
            (b"\"a\\\"b\\\\c\\q\"", Some(&[b"a\"b\\cq"])),
            (b"'it\\'s'", Some(&[b"it's"])),
            (b"'a\\nb\"c'", Some(&[b"a\\nb\"c"])),
            (b"foo\"bar baz\"", Some(&[b"foobar baz"])),
            (b"\"\" ''", Some(&[b"", b""])),
            (b"\"a\"\x0bb", Some(&[b"a", b"b"])),
            (b"a\x0bb \x0c\x0bc", Some(&[b"a\x0bb", b"c"])),
            (b"a\0b", Some(&[b"a\0b"])),
            (b"\"a\"b", None),
            (b"'a'b", None),
            (b"\"abc", None),
            (b"'abc", None),
            (b"\"abc\\", None),
            (b"", Some(&[])),
            (b" \t ", Some(&[])),
        ];
        for (line, want) in cases {
            let want = want.map(|w| w.iter().map(|a| Bytes::copy_from_slice(a)).collect());
            assert_eq!(split_args(line), want, "{}", line.escape_ascii());
        }
    }

    #[test]
    fn inline_line_ends() {
        let (requests, _) = parse_all(b"PING\nPING\r\nECHO a\rb\r\n");
        assert_eq!(
            requests,
            [args(&["PING"]), args(&["PING"]), args(&["ECHO", "a", "b"])]
        );
    }

    #[test]
    fn integers_parse_as_string2ll_does() {
        for (text, want) in [
            (&b"0"[..], Some(0)),
            (b"1", Some(1)),
            (b"-1", Some(-1)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"18446744073709551616", None),
            (b"-0", None),
            (b"01", None),
            (b"+1", None),
            (b"-", None),
            (b"", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1a", None),
        ] {
            assert_eq!(parse_i64(text), want, "{}", text.escape_ascii());
        }
    }
}
