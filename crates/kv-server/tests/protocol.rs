//! The wire protocol from the outside: snapshots of every reply frame's bytes in RESP2 and
//! RESP3 (reviewed once, then any change to the wire format shows up as a diff), and
//! property tests of the request parser against random and adversarial input.

use bytes::{Bytes, BytesMut};
use kv_server::parse::{parse_request, Limits, ProtocolError, RequestParser};
use kv_server::resp::{Frame, Protocol};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Reply encoding snapshots
// ---------------------------------------------------------------------------------------

/// The frame's bytes in one protocol, escaped so `\r\n` and binary bytes are visible
/// (`escape_ascii` is lossless, unlike a detour through UTF-8).
fn wire(frame: &Frame, proto: Protocol) -> String {
    let mut out = BytesMut::new();
    frame.encode(proto, &mut out);
    out.escape_ascii().to_string()
}

/// Each frame's bytes in both protocols, one line per protocol.
fn both(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| {
            format!(
                "RESP2: {}\nRESP3: {}",
                wire(f, Protocol::Resp2),
                wire(f, Protocol::Resp3)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn simple_string() {
    insta::assert_snapshot!(both(&[Frame::ok(), Frame::simple("PONG")]));
}

#[test]
fn error() {
    insta::assert_snapshot!(both(&[
        Frame::error("ERR unknown command 'FOO'"),
        Frame::error("WRONGTYPE Operation against a key holding the wrong kind of value"),
        // Line breaks inside a message become spaces: a reply can't break framing.
        Frame::error("ERR two\r\nlines\n"),
    ]));
}

#[test]
fn integer() {
    insta::assert_snapshot!(both(&[
        Frame::int(0),
        Frame::int(-42),
        Frame::int(i64::MAX),
        Frame::int(i64::MIN),
    ]));
}

#[test]
fn bulk_string() {
    insta::assert_snapshot!(both(&[
        Frame::bulk("hello"),
        Frame::bulk(Bytes::new()),
        Frame::bulk(&b"bin\r\n\x00\xff"[..]),
    ]));
}

#[test]
fn null() {
    insta::assert_snapshot!(both(&[Frame::Null]));
}

#[test]
fn null_array() {
    insta::assert_snapshot!(both(&[Frame::NullArray]));
}

#[test]
fn array() {
    insta::assert_snapshot!(both(&[
        Frame::Array(vec![]),
        Frame::Array(vec![
            Frame::bulk("a"),
            Frame::int(1),
            Frame::Null,
            Frame::Array(vec![Frame::Boolean(true)]),
        ]),
    ]));
}

#[test]
fn map() {
    insta::assert_snapshot!(both(&[
        Frame::Map(vec![]),
        Frame::Map(vec![
            (Frame::bulk("server"), Frame::bulk("kanthorkv")),
            (Frame::bulk("proto"), Frame::int(3)),
        ]),
    ]));
}

#[test]
fn set() {
    insta::assert_snapshot!(both(&[Frame::Set(vec![
        Frame::bulk("x"),
        Frame::bulk("y")
    ])]));
}

#[test]
fn double() {
    insta::assert_snapshot!(both(&[
        Frame::Double(1.5),
        Frame::Double(-0.25),
        Frame::Double(10.0),
        Frame::Double(1e300),
        Frame::Double(1.2345e-7),
        Frame::Double(f64::INFINITY),
        Frame::Double(f64::NEG_INFINITY),
        Frame::Double(f64::NAN),
        Frame::Double(-0.0),
    ]));
}

#[test]
fn boolean() {
    insta::assert_snapshot!(both(&[Frame::Boolean(true), Frame::Boolean(false)]));
}

#[test]
fn verbatim() {
    insta::assert_snapshot!(both(&[Frame::Verbatim {
        format: *b"txt",
        text: Bytes::from_static(b"Some string"),
    }]));
}

#[test]
fn push() {
    insta::assert_snapshot!(both(&[Frame::Push(vec![
        Frame::bulk("message"),
        Frame::bulk("chan"),
        Frame::bulk("hi"),
    ])]));
}

// ---------------------------------------------------------------------------------------
// Request parsing properties
// ---------------------------------------------------------------------------------------

/// Bytes that are mostly protocol fragments, so random streams reach deep into the parser
/// instead of failing at the first byte.
fn protocolish_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"-".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\\x4".to_vec()),
        Just(b" ".to_vec()),
        (0u32..40).prop_map(|n| n.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// Small limits, so random input trips every limit too.
const SMALL: Limits = Limits {
    max_bulk: 16,
    max_args: 8,
    max_inline: 24,
};

/// A request's arguments encoded as an array of bulk strings.
fn encode_array(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Feeds `stream` to a resumable parser in pieces ending at `cuts`, collecting requests.
fn parse_in_pieces(stream: &[u8], cuts: &[usize]) -> Vec<Vec<Bytes>> {
    let limits = Limits::default();
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&stream.len()]) {
        let cut = cut.clamp(from, stream.len());
        buf.extend_from_slice(&stream[from..cut]);
        from = cut;
        while let Some(args) = parser.parse(&mut buf, &limits).expect("valid stream") {
            requests.push(args);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    requests
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever arrives, the parser neither panics nor spins: every `Some` consumes bytes,
    /// and a `None` is stable (asking again without new bytes changes nothing).
    #[test]
    fn arbitrary_bytes_never_panic_or_stall(
        stream in prop_oneof![protocolish_stream(), proptest::collection::vec(any::<u8>(), 0..200)],
        small in any::<bool>(),
    ) {
        let limits = if small { SMALL } else { Limits::default() };
        let mut buf = BytesMut::from(&stream[..]);
        loop {
            let before = buf.len();
            match parse_request(&mut buf, &limits) {
                Ok(Some(args)) => {
                    prop_assert!(!args.is_empty(), "empty requests are skipped");
                    prop_assert!(buf.len() < before, "a request consumed no bytes");
                }
                Ok(None) => {
                    let waiting = buf.clone();
                    prop_assert_eq!(parse_request(&mut buf, &limits), Ok(None));
                    prop_assert_eq!(buf, waiting);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    /// Valid requests come out exactly as sent, however the stream is cut into reads.
    #[test]
    fn valid_requests_survive_any_chunking(
        requests in proptest::collection::vec(
            (
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5),
                any::<bool>(),
            ),
            1..8,
        ),
        cuts in proptest::collection::vec(0usize..400, 0..10),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (args, inline) in &requests {
            if *inline {
                // Inline requests carry only plain words.
                let words: Vec<Vec<u8>> = args
                    .iter()
                    .map(|a| a.iter().map(|b| b'a' + b % 26).chain([b'w']).collect())
                    .collect();
                stream.extend_from_slice(&words.join(&b' '));
                stream.extend_from_slice(b"\r\n");
                expected.push(words);
            } else {
                stream.extend_from_slice(&encode_array(args));
                expected.push(args.clone());
            }
        }
        let mut cuts = cuts;
        cuts.sort_unstable();
        let got = parse_in_pieces(&stream, &cuts);
        let got: Vec<Vec<Vec<u8>>> = got
            .iter()
            .map(|args| args.iter().map(|a| a.to_vec()).collect())
            .collect();
        prop_assert_eq!(got, expected);
    }

    /// A length or count over the limits is refused as soon as its header line is complete,
    /// without waiting for (or reserving room for) what it announces.
    #[test]
    fn oversized_headers_are_refused_at_once(
        max_bulk in 0usize..(1 << 30),
        max_args in 1usize..(1 << 20),
        excess in 1u64..(1 << 40),
    ) {
        let limits = Limits { max_bulk, max_args, max_inline: 64 * 1024 };
        let too_long = format!("*1\r\n${}\r\n", max_bulk as u64 + excess);
        let mut buf = BytesMut::from(too_long.as_bytes());
        prop_assert_eq!(parse_request(&mut buf, &limits), Err(ProtocolError::InvalidBulkLength));
        let too_many = format!("*{}\r\n", max_args as u64 + excess);
        let mut buf = BytesMut::from(too_many.as_bytes());
        prop_assert_eq!(
            RequestParser::new().parse(&mut buf, &limits),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        // Exactly at the limits is fine: the parser waits for the payload.
        let at_limit = format!("*{max_args}\r\n${max_bulk}\r\n");
        let mut buf = BytesMut::from(at_limit.as_bytes());
        prop_assert_eq!(parse_request(&mut buf, &limits), Ok(None));
    }
}

#[test]
fn error_replies_read_as_redis_sends_them() {
    // The server replies "-ERR <error>" and closes: check the whole line once.
    let mut buf = BytesMut::from(&b"*1\r\n$-5\r\n"[..]);
    let err = parse_request(&mut buf, &Limits::default()).unwrap_err();
    let mut out = BytesMut::new();
    Frame::error(format!("ERR {err}")).encode(Protocol::Resp2, &mut out);
    assert_eq!(&out[..], b"-ERR Protocol error: invalid bulk length\r\n");
}
