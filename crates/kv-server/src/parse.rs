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
mod tests;
