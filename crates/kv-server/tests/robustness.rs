//! Issue 11, reliability: the server survives hostile or broken clients — and only what
//! tests/network.rs, tests/regressions.rs and tests/commands.rs do not already show is here.
//!
//! Already covered elsewhere: malformed frames `$abc`, `*x`, `*1\r\n:5\r\n` and unbalanced
//! quotes answered with "ERR Protocol error" and a close (network.rs); an oversized bulk
//! refused before its payload (network.rs); NOAUTH before AUTH, WRONGPASS, the password in
//! the URL (commands.rs); the 16 KiB bulk limit before AUTH (regressions.rs); the client
//! limit with 2 clients (network.rs); an idle connection closed by the timeout
//! (network.rs); shutdown behind a client that does not read (regressions.rs).
//!
//! This file proves:
//! - the frames Redis accepts silently (a blank line, `*0`, `*-5`) are skipped, not errors
//!   (the remaining protocol errors — huge multibulk count, negative and huge bulk lengths,
//!   a bulk whose length lies, an array inside an array — are rows of network.rs's table);
//! - before AUTH, nothing but AUTH runs — not even a pipelined write — and a large
//!   multibulk count is refused;
//! - a flood of connections past the client limit is refused while a client already
//!   connected keeps working;
//! - a slow-loris (half a request, then silence) is closed by the idle timeout;
//! - a client that pipelines large GETs and never reads holds the server's memory to the
//!   output buffer limit (plus one reply), not to the sum of every reply asked for — and
//!   still gets every reply, in order, once it reads;
//! - but a client that stops reading for good is closed after the write timeout, which
//!   frees its place under the client limit, while a client that reads slowly — yet keeps
//!   reading — is never cut off.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use common::{exchange, read_to_close, TestServer};
use kv_server::Config;
use redis::Commands;

/// (The malformed frames themselves — huge and negative lengths, a lying bulk length,
/// nested arrays — are in `network.rs`'s table of protocol errors.)
#[test]
fn empty_requests_are_skipped_like_redis() {
    let server = TestServer::default_config();
    // Redis 7 skips these without a word (processInlineBuffer, processMultibulkBuffer):
    // they are empty requests, not errors, and the connection goes on.
    let mut s = server.raw();
    assert_eq!(
        exchange(&mut s, b"\r\n\n*0\r\n*-5\r\n*-1\r\nPING\r\n", 7),
        b"+PONG\r\n"
    );
    assert_eq!(exchange(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
}

#[test]
fn nothing_runs_before_auth_not_even_a_pipelined_write() {
    let server = TestServer::start(Config {
        requirepass: Some("pw".into()),
        ..Config::default()
    });
    let mut s = server.raw();
    let noauth = "-NOAUTH Authentication required.\r\n";
    let want = format!("{noauth}{noauth}{noauth}+OK\r\n$-1\r\n");
    let got = exchange(
        &mut s,
        b"SET x 1\r\nMSET y 2 z 3\r\nFLUSHALL\r\nAUTH pw\r\nGET x\r\n",
        want.len(),
    );
    assert_eq!(String::from_utf8(got).unwrap(), want);
    let mut c = server.client();
    let _: () = redis::cmd("AUTH").arg("pw").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    // Before AUTH a request may have 10 arguments at most (Redis: the same).
    let mut s = server.raw();
    s.write_all(b"*11\r\n").unwrap();
    assert_eq!(
        read_to_close(&mut s),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
}

/// Reads one reply line (up to "\r\n") or until the server closes.
fn line(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8];
    while !got.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(0) | Err(_) => break, // closed (a refused socket may be reset)
            Ok(_) => got.push(byte[0]),
        }
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn a_connection_flood_is_refused_while_a_connected_client_keeps_working() {
    const LIMIT: usize = 4;
    let server = TestServer::start(Config {
        maxclients: LIMIT,
        ..Config::default()
    });
    let mut control = server.client();
    let _: () = control.set("before", "flood").unwrap();
    // The server accepts in connect order and none of these leaves: the first LIMIT - 1
    // are served (the control client is the LIMIT-th), every later one refused.
    let mut flood: Vec<TcpStream> = (0..LIMIT + 5).map(|_| server.raw()).collect();
    let mut refused = 0;
    for (i, s) in flood.iter_mut().enumerate() {
        let _ = s.write_all(b"PING\r\n"); // a refused socket may be closed already
        let reply = line(s);
        if i < LIMIT - 1 {
            assert_eq!(reply, "+PONG\r\n", "socket {i}");
        } else {
            assert_eq!(
                reply, "-ERR max number of clients reached\r\n",
                "socket {i}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 6);
    // The control client never noticed.
    let _: () = control.set("during", "flood").unwrap();
    assert_eq!(control.get::<_, String>("before").unwrap(), "flood");
    assert_eq!(server.handle.stats().rejected.load(SeqCst), 6);
}

#[test]
fn a_slow_loris_is_closed_by_the_idle_timeout() {
    let server = TestServer::start(Config {
        timeout: Duration::from_millis(200),
        ..Config::default()
    });
    // Half a request of each kind, then silence: no reply, just a close. (Each read blocks
    // until the server closes; the socket's read timeout only guards against a hang.)
    for half in [
        &b"*2\r\n$3\r\nGET\r\n$5\r\nab"[..],
        b"*3\r\n$3\r\nSET\r\n",
        b"*2",
        b"GET some",
    ] {
        let mut s = server.raw();
        s.write_all(half).unwrap();
        assert_eq!(read_to_close(&mut s), b"", "{}", half.escape_ascii());
    }
    // Meanwhile the server serves a client that talks.
    assert_eq!(exchange(&mut server.raw(), b"PING\r\n", 7), b"+PONG\r\n");
}

#[test]
fn a_client_that_never_reads_holds_at_most_the_output_buffer_limit() {
    const LIMIT: usize = 64 * 1024;
    const VALUE: usize = 32 * 1024;
    const GETS: usize = 2000;
    let server = TestServer::start(Config {
        output_buffer_limit: LIMIT,
        ..Config::default()
    });
    let mut control = server.client();
    let value: Vec<u8> = (0..VALUE).map(|i| b'a' + (i % 26) as u8).collect();
    let _: () = control.set("big", &value).unwrap();
    // 18 KB of GETs asking for 64 MiB of replies, sent at once; then read only a little:
    // the server is writing, and blocks once the socket's buffers are full.
    let mut greedy = server.raw();
    greedy.write_all(&b"GET big\r\n".repeat(GETS)).unwrap();
    let reply_len = format!("${VALUE}\r\n").len() + VALUE + 2;
    let mut first = vec![0; reply_len];
    greedy.read_exact(&mut first).unwrap();
    // Other clients are served meanwhile.
    assert_eq!(control.get::<_, Vec<u8>>("big").unwrap(), value);
    // Now read it all: every reply arrives, whole and in order.
    let mut rest = vec![0; reply_len * (GETS - 1)];
    greedy.read_exact(&mut rest).unwrap();
    let one = [format!("${VALUE}\r\n").as_bytes(), &value, b"\r\n"].concat();
    assert_eq!(first, one);
    assert!(rest.chunks(reply_len).all(|r| r == one), "a reply is wrong");
    assert_eq!(exchange(&mut greedy, b"PING\r\n", 7), b"+PONG\r\n");
    // Without the limit one batch held all ~1800 replies it read (~58 MiB) at once.
    let peak = server.handle.stats().max_output.load(SeqCst) as usize;
    assert!(
        peak <= LIMIT + reply_len,
        "a connection held {peak} bytes of replies (limit {LIMIT})"
    );
}

/// The value the write-timeout tests ask for, again and again: 64 KiB.
fn big_value() -> Vec<u8> {
    (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn a_client_that_stops_reading_is_closed_after_the_write_timeout_and_frees_its_place() {
    let server = TestServer::start(Config {
        maxclients: 2,
        write_timeout: Duration::from_millis(200),
        output_buffer_limit: 64 * 1024,
        ..Config::default()
    });
    let mut control = server.client();
    let value = big_value();
    let _: () = control.set("big", &value).unwrap();
    let mut stalled = server.raw();
    stalled
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("a write timeout, so a hang fails the test");
    // The limit is reached (the server accepts in connect order): a third client is refused.
    let mut third = server.raw();
    third.write_all(b"PING\r\n").unwrap();
    assert_eq!(line(&mut third), "-ERR max number of clients reached\r\n");
    // Ask for replies without end and read none. Once they fill the socket buffers the
    // server's write stalls, it reads no more requests, and our sends block — until, 200 ms
    // with not one byte accepted later, the server resets the connection: that ends the
    // blocked send (no sleeping, no polling).
    let requests = b"GET big\r\n".repeat(1000);
    let greedy = std::thread::spawn(move || loop {
        if let Err(e) = stalled.write_all(&requests) {
            return e;
        }
    });
    // Meanwhile the control client is served.
    assert_eq!(control.get::<_, Vec<u8>>("big").unwrap(), value);
    let e = greedy.join().expect("no panic");
    assert!(
        matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        "the stalled client's send ended with {e} ({:?}), not a reset",
        e.kind()
    );
    assert_eq!(server.handle.stats().write_timeouts.load(SeqCst), 1);
    // Its place is free (the server gives it back before the reset): a new client is
    // served beside the control client.
    assert_eq!(exchange(&mut server.raw(), b"PING\r\n", 7), b"+PONG\r\n");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut control).unwrap();
    assert!(
        info.contains("kv_write_timeout_disconnections:1\r\n"),
        "INFO stats lacks the disconnection:\n{info}"
    );
    assert_eq!(server.handle.stats().rejected.load(SeqCst), 1);
}

#[test]
fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
    const GETS: usize = 384; // 24 MiB of replies: far more than the socket buffers hold
    const CHUNK: usize = 256 * 1024;
    const PAUSE: Duration = Duration::from_millis(10);
    let timeout = Duration::from_millis(500);
    let server = TestServer::start(Config {
        write_timeout: timeout,
        output_buffer_limit: 64 * 1024,
        ..Config::default()
    });
    let mut control = server.client();
    let value = big_value();
    let _: () = control.set("big", &value).unwrap();
    let mut slow = server.raw();
    slow.write_all(&b"GET big\r\n".repeat(GETS)).unwrap();
    // At most 256 KiB every 10 ms: the server, far faster, waits on us most of the time,
    // and the 96 reads or more take two write timeouts at least. Between two of the
    // server's writes the kernel wants its send buffer a third empty (4 MiB at most here:
    // 6 reads, 60 ms), well inside the timeout even on a loaded machine.
    let one = [b"$65536\r\n".as_slice(), &value, b"\r\n"].concat();
    let mut got = Vec::with_capacity(one.len() * GETS);
    let mut chunk = vec![0; CHUNK];
    let started = Instant::now();
    while got.len() < one.len() * GETS {
        std::thread::sleep(PAUSE); // the client's pace, not a wait for the server
        let n = slow
            .read(&mut chunk)
            .expect("the server cut off a client that kept reading");
        assert!(n > 0, "the server closed a client that kept reading");
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(
        started.elapsed() >= 2 * timeout,
        "too fast to prove anything"
    );
    assert!(got.chunks(one.len()).all(|r| r == one), "a reply is wrong");
    assert_eq!(exchange(&mut slow, b"PING\r\n", 7), b"+PONG\r\n");
    assert_eq!(server.handle.stats().write_timeouts.load(SeqCst), 0);
}
