//! The parser's unit tests: Redis's accept/reject behaviour, error texts, limits, and
//! that a stream parses the same however it is cut into reads.

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
