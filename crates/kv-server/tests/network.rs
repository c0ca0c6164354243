//! Chapter 9 checkpoint: the server on the wire — pipelining, inline commands, malformed
//! frames, limits, idle timeout, and a graceful shutdown that keeps every acknowledged write.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{exchange, read_to_close, TestServer};
use kv_db::Db;
use kv_file::Crash;
use kv_server::Config;
use redis::Commands;

#[test]
fn pipelined_commands_are_answered_in_order_in_one_go() {
    let server = TestServer::default_config();
    let mut s = server.raw();
    let mut request = Vec::new();
    for i in 0..100 {
        request.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$1\r\n{}\r\n", i % 10).as_bytes(),
        );
    }
    request.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$4\r\nk042\r\n");
    let reply = exchange(&mut s, &request, 100 * 5 + 7);
    let text = String::from_utf8(reply).unwrap();
    assert_eq!(text, format!("{}$1\r\n2\r\n", "+OK\r\n".repeat(100)));
}

#[test]
fn inline_commands_work_as_with_telnet() {
    let server = TestServer::default_config();
    let mut s = server.raw();
    assert_eq!(exchange(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
    assert_eq!(
        exchange(&mut s, b"set greeting \"hello world\"\n", 5),
        b"+OK\r\n"
    );
    assert_eq!(
        exchange(&mut s, b"get greeting\r\n", 18),
        b"$11\r\nhello world\r\n"
    );
}

#[test]
fn a_malformed_frame_gets_an_error_and_the_connection_closes() {
    let server = TestServer::default_config();
    for (request, error) in [
        (
            &b"*1\r\n$abc\r\n"[..],
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n:5\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"set a \"unclosed\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"*99999999999\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-7\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$99999999999\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        // A length that lies (desync): the byte after the payload is not "\r\n".
        (
            b"*1\r\n$3\r\nPINGPONG\r\n",
            "-ERR Protocol error: bulk data not followed by CRLF\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nk\r\n",
            "-ERR Protocol error: expected '$', got '*'\r\n",
        ),
    ] {
        let mut s = server.raw();
        // A good command first: its reply comes before the error.
        let mut both = b"PING\r\n".to_vec();
        both.extend_from_slice(request);
        s.write_all(&both).unwrap();
        let reply = String::from_utf8(read_to_close(&mut s)).unwrap();
        assert_eq!(reply, format!("+PONG\r\n{error}"), "{request:?}");
    }
    // The server is unharmed.
    assert_eq!(exchange(&mut server.raw(), b"PING\r\n", 7), b"+PONG\r\n");
}

#[test]
fn an_oversized_bulk_is_refused_before_it_arrives() {
    let mut config = Config::default();
    config.limits.max_bulk = 1024;
    let server = TestServer::start(config);
    let mut s = server.raw();
    // Only the header is sent: the server must not wait for (or allocate) the payload.
    s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n")
        .unwrap();
    let reply = String::from_utf8(read_to_close(&mut s)).unwrap();
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
}

#[test]
fn the_client_limit_is_an_error_reply_never_a_hang() {
    let server = TestServer::start(Config {
        maxclients: 2,
        ..Config::default()
    });
    let mut first = server.raw();
    let mut second = server.raw();
    // Both are being served (a round trip each proves it).
    assert_eq!(exchange(&mut first, b"PING\r\n", 7), b"+PONG\r\n");
    assert_eq!(exchange(&mut second, b"PING\r\n", 7), b"+PONG\r\n");
    let mut third = server.raw();
    let reply = String::from_utf8(read_to_close(&mut third)).unwrap();
    assert_eq!(reply, "-ERR max number of clients reached\r\n");
    // Once one leaves, a newcomer is served.
    drop(first);
    let mut fourth = loop {
        // The server notices the close asynchronously; a refused attempt is answered at
        // once, so this loop waits on replies, never on a timer.
        let mut s = server.raw();
        let _ = s.write_all(b"PING\r\n"); // a refused socket may be closed already
        let mut reply = [0u8; 64];
        let n = s.read(&mut reply).unwrap_or(0);
        if &reply[..n] == b"+PONG\r\n" {
            break s;
        }
    };
    assert_eq!(exchange(&mut fourth, b"PING\r\n", 7), b"+PONG\r\n");
    assert!(
        server
            .handle
            .stats()
            .rejected
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
}

#[test]
fn an_idle_connection_is_closed_after_the_timeout() {
    let server = TestServer::start(Config {
        timeout: Duration::from_millis(200),
        ..Config::default()
    });
    let mut s = server.raw();
    assert_eq!(exchange(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
    // Blocks until the server closes the connection (the read timeout guards a hang).
    assert_eq!(read_to_close(&mut s), b"");
}

#[test]
fn quit_replies_then_closes() {
    let server = TestServer::default_config();
    let mut s = server.raw();
    s.write_all(b"QUIT\r\nPING\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"+OK\r\n");
}

// ANCHOR: shutdown_test
#[test]
fn a_graceful_shutdown_keeps_every_acknowledged_write() {
    let server = TestServer::default_config();
    let mut c = server.client();
    for i in 0..200 {
        let _: () = c.set(format!("key{i}"), i).unwrap(); // acknowledged: committed
    }
    let _: () = redis::cmd("SELECT").arg(5).query(&mut c).unwrap();
    let _: () = c.set("in5", "yes").unwrap();
    let storage = server.stop();
    // Pull the plug too: only what reached the disk counts.
    storage.crash(Crash::power_loss());
    let db = Db::open_on(storage.clone(), common::options()).unwrap();
    assert_eq!(
        db.tx_manager().recovery_report().redone,
        0,
        "the shutdown checkpoint left nothing to redo"
    );
    drop(db);
    let server = TestServer::start_on(storage, Config::default());
    let mut c = server.client();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 200);
    assert_eq!(c.get::<_, i64>("key199").unwrap(), 199);
    let _: () = redis::cmd("SELECT").arg(5).query(&mut c).unwrap();
    assert_eq!(c.get::<_, String>("in5").unwrap(), "yes");
}
// ANCHOR_END: shutdown_test

#[test]
fn the_shutdown_command_stops_the_server() {
    let server = TestServer::default_config();
    let mut s = server.raw();
    s.write_all(b"SET k v\r\nSHUTDOWN\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"+OK\r\n", "no reply to SHUTDOWN");
    let storage = server.stop(); // returns once the server has stopped by itself
    let db = Db::open_on(storage, common::options()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), ["db0", "db0.expires", "default"]);
}

#[test]
fn requests_pipelined_after_auth_get_the_full_limits() {
    let server = TestServer::start(Config {
        requirepass: Some("pw".into()),
        ..Config::default()
    });
    let mut s = server.raw();
    let value = "v".repeat(20 * 1024); // over the 16 KiB allowed before AUTH
    let mut request = b"AUTH pw\r\n".to_vec();
    request.extend_from_slice(
        format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20480\r\n{value}\r\n").as_bytes(),
    );
    assert_eq!(exchange(&mut s, &request, 10), b"+OK\r\n+OK\r\n");
}

#[test]
fn a_shutdown_asked_for_before_the_server_runs_is_not_missed() {
    // The handle exists (and may be used) before `run` starts waiting for it: a server
    // that subscribed to the shutdown signal only then missed it and never stopped.
    for _ in 0..20 {
        TestServer::default_config().stop();
    }
}
