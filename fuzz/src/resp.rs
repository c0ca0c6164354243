//! A client's byte stream: parsed as the server parses it, then run as commands.
//!
//! Two promises. The parser's verdict — the requests, then the error or the wait for more
//! bytes — must not depend on how the stream was cut into reads (a request split across
//! TCP segments is the common case, and the parser keeps state between reads to scan each
//! byte once). And no command may panic on any arguments, in RESP2 or RESP3 (the server
//! catches a panic per command, but it would still be a bug: the fuzz target calls the
//! commands directly so that a panic is a finding).
//!
//! Input: a mode byte, then `mode & 7` bytes of read lengths (each plus one, used in turn
//! over and over; none: reads of `(mode >> 3 & 15) + 1` bytes), then the stream. Bit 7 of
//! the mode: replies in RESP3. Limits are small so that the fuzzer
//! meets them: 64-byte lines, 16 arguments, 300-byte bulk strings.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kv_db::{Db, Options};
use kv_file::MemStorage;
use kv_server::conn::{execute, Client};
use kv_server::parse::{Limits, ProtocolError, RequestParser};
use kv_server::resp::Protocol;
use kv_server::server::Shared;
use kv_server::store::Store;
use kv_server::{Config, ManualClock};

/// Small, so that inputs of a few hundred bytes reach every limit.
const LIMITS: Limits = Limits {
    max_bulk: 300,
    max_args: 16,
    max_inline: 64,
};

/// The most commands one input runs (each may scan the keyspace).
const MAX_COMMANDS: usize = 64;

/// What parsing a stream yields: its requests, then how it ended.
type Parsed = (Vec<Vec<Bytes>>, Option<ProtocolError>);

/// Parses `stream` as it arrives in reads of the lengths in `cuts`, in turn.
fn parse(stream: &[u8], cuts: &[usize]) -> Parsed {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let (mut rest, mut lengths) = (stream, cuts.iter().cycle());
    while !rest.is_empty() {
        let step = lengths
            .next()
            .map_or(rest.len(), |&n| n.clamp(1, rest.len()));
        let (chunk, after) = rest.split_at(step);
        rest = after;
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&mut buf, &LIMITS) {
                Ok(Some(args)) => {
                    assert!(!args.is_empty(), "a request without arguments");
                    requests.push(args);
                }
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

/// A server's shared state over a fresh in-memory database, with a stopped clock.
fn shared() -> Shared {
    let options = Options {
        block_size: Some(512),
        cache_pages: 64,
        ..Options::default()
    };
    let db = Db::open_on(MemStorage::new(), options).expect("a fresh database opens");
    let store = Store::new(db, 4, Arc::new(ManualClock::new(1_700_000_000_000)));
    Shared::new(store, Config::default(), 0)
}

/// Runs one input; panics only if the server panicked or broke a promise.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (lengths, stream) = rest.split_at(usize::from(mode & 7).min(rest.len()));
    let mut cuts: Vec<usize> = lengths.iter().map(|&b| usize::from(b) + 1).collect();
    if cuts.is_empty() {
        cuts.push(usize::from(mode >> 3 & 15) + 1);
    }
    let whole = parse(stream, &[usize::MAX]);
    let cut = parse(stream, &cuts);
    assert_eq!(whole, cut, "the verdict depends on how the stream was cut");
    let (requests, _) = whole;
    if requests.is_empty() {
        return;
    }
    let shared = shared();
    let addr: SocketAddr = ([127, 0, 0, 1], 6379).into();
    let mut client = Client::new(1, addr, true);
    let proto = if mode & 0x80 != 0 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let mut out = BytesMut::new();
    for args in requests.into_iter().take(MAX_COMMANDS) {
        if let Some(reply) = execute(&shared, &mut client, args) {
            reply.encode(proto, &mut out);
            reply.encode(client.proto, &mut out);
        }
        if client.closing {
            break;
        }
    }
}

/// The seed inputs: every command of the server with typical arguments, as RESP arrays
/// and inline, plus the protocol errors the tests know.
pub fn seeds() -> Vec<Vec<u8>> {
    let commands: &[&[&str]] = &[
        &["SET", "k", "v", "EX", "10", "NX"],
        &["SET", "n", "41"],
        &["INCRBY", "n", "-9223372036854775808"],
        &["INCR", "n"],
        &["APPEND", "k", "tail"],
        &["GETSET", "k", "w"],
        &["MSET", "a", "1", "b", "2"],
        &["MGET", "a", "b", "zz"],
        &["SETEX", "t", "100", "x"],
        &["PEXPIRE", "t", "1"],
        &["TTL", "t"],
        &["EXPIREAT", "a", "99999999999999"],
        &["KEYS", "*[a-c]?\\*"],
        &["SCAN", "0", "MATCH", "*", "COUNT", "2"],
        &["SELECT", "3"],
        &["FLUSHDB"],
        &["MULTI"],
        &["SET", "q", "1"],
        &["EXEC"],
        &["WATCH", "q"],
        &["HELLO", "3"],
        &["CONFIG", "GET", "*"],
        &["INFO", "all"],
        &["CLIENT", "SETNAME", "fuzz"],
        &["COMMAND", "INFO", "get"],
        &["STRLEN", "k"],
        &["GETDEL", "k"],
        &["DBSIZE"],
    ];
    let array = |args: &[&str]| {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
        }
        out
    };
    let mut seeds = Vec::new();
    let mut all = vec![3u8, 0, 6, 2]; // reads of 1, 7 and 3 bytes, over and over
    for (i, args) in commands.iter().enumerate() {
        let mut one = vec![(i as u8 % 16) << 3 | (i as u8 & 1) << 7];
        one.extend(array(args));
        all.extend(array(args));
        seeds.push(one);
    }
    seeds.push(all);
    for raw in [
        &b"\x08SET \"a b\" 'c'\r\nGET \"a b\"\n\r\n"[..],
        b"\x28*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
        b"\x00*3\r\n$3\r\nSET\r\n$-5\r\n",
        b"\x00*1\r\n+OK\r\n",
        b"\x00*99999999999\r\n",
        b"\x10*2\r\n$3\r\nGET\r\n$1\r\nabc",
        b"\x02\x00\x05PING \"unbalanced\r\n",
    ] {
        seeds.push(raw.to_vec());
    }
    seeds
}
