//! Regressions found by the chapter 9 review: expiry overflow, MULTI corner cases, a
//! WATCH racing a committing writer, an expired watched key, shutdown behind a client that
//! does not read, the sweep after a restart, and limits before AUTH.

mod common;

use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use common::{err_text, exchange, TestServer};
use kv_db::{Db, Options};
use kv_file::MemStorage;
use kv_server::conn::{execute, Client};
use kv_server::resp::Frame;
use kv_server::server::Shared;
use kv_server::{Config, ManualClock, Store};
use redis::{Commands, RedisResult, Value};

// ---- 1. deadlines past i64::MAX are accepted; TTL then lies or panics ----

#[test]
fn expiries_that_overflow_redis_are_refused() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: () = c.set("k", "v").unwrap();
    // Redis 7.0.15 answers each of these with "ERR invalid expire time in '<cmd>' command".
    let cases: &[(&[&str], &str)] = &[
        (&["SET", "a", "v", "EX", "9223372036854775"], "set"),
        (&["SET", "a", "v", "PX", "9223372036854775807"], "set"),
        (&["SET", "a", "v", "EXAT", "18446744073709551"], "set"),
        (&["EXPIRE", "k", "9223372036854775"], "expire"),
        (&["PEXPIRE", "k", "9223372036854775807"], "pexpire"),
        (&["EXPIREAT", "k", "18446744073709551"], "expireat"),
    ];
    for (args, name) in cases {
        let got = err_text(redis::cmd(args[0]).arg(&args[1..]).query::<Value>(&mut c));
        assert_eq!(
            got,
            format!("ERR invalid expire time in '{name}' command"),
            "{args:?}"
        );
    }
}

#[test]
fn ttl_of_a_live_key_is_never_negative_and_never_panics() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: RedisResult<Value> = redis::cmd("SET")
        .arg("a")
        .arg("v")
        .arg("EXAT")
        .arg(18446744073709551u64)
        .query(&mut c);
    let ttl: i64 = redis::cmd("TTL").arg("a").query(&mut c).unwrap();
    assert!(ttl == -2 || ttl > 0, "TTL of a live key: {ttl}");
}

#[test]
fn ttl_of_a_far_deadline_does_not_panic() {
    let server = TestServer::default_config();
    let mut c = server.client();
    // deadline - now == i64::MAX - 100: `(left + 500) / 1000` overflows.
    let _: RedisResult<Value> = redis::cmd("SET")
        .arg("b")
        .arg("v")
        .arg("PX")
        .arg(i64::MAX - 100)
        .query(&mut c);
    let ttl: RedisResult<i64> = redis::cmd("TTL").arg("b").query(&mut c);
    assert!(matches!(ttl, Ok(-2) | Ok(1..)), "TTL b: {ttl:?}");
}

// ---- 2. SHUTDOWN inside MULTI is run at once; WATCH inside MULTI aborts EXEC ----

#[test]
fn shutdown_inside_multi_is_refused_not_run() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    assert_eq!(
        err_text(redis::cmd("SHUTDOWN").arg("NOSAVE").query::<Value>(&mut c)),
        "ERR Command not allowed inside a transaction"
    );
}

#[test]
fn watch_inside_multi_is_an_error_that_does_not_abort_exec() {
    let server = TestServer::default_config();
    let mut raw = server.raw();
    // Redis 7.0.15, same bytes: +OK, -ERR WATCH inside MULTI..., +QUEUED, *1 +OK
    let expected = "+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*1\r\n+OK\r\n";
    let reply = exchange(
        &mut raw,
        b"MULTI\r\nWATCH x\r\nSET a 1\r\nEXEC\r\n",
        expected.len(),
    );
    assert_eq!(String::from_utf8_lossy(&reply), expected);
}

// ---- 3. a watched key that expires does not abort EXEC (unless the sweep got there) ----

#[test]
fn exec_aborts_when_a_watched_key_expired_since_watch() {
    let server = TestServer::start(Config {
        sweep_interval: Duration::ZERO,
        ..Config::default()
    });
    let mut c = server.client();
    let _: Value = redis::cmd("SET")
        .arg("w")
        .arg("v")
        .arg("PX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("WATCH").arg("w").query(&mut c).unwrap();
    server.clock.advance(1000);
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    let _: String = redis::cmd("SET").arg("other").arg(1).query(&mut c).unwrap();
    let exec: Value = redis::cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(
        exec,
        Value::Nil,
        "Redis >= 6.0.9 aborts: the watched key expired"
    );
}

// ---- 4. a write in flight when WATCH registers is missed: lost update ----

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

#[test]
fn a_write_committing_after_watch_aborts_exec() {
    let db = Db::open_on(MemStorage::new(), Options::default()).unwrap();
    let store = Store::new(db, 16, Arc::new(ManualClock::new(1_700_000_000_000)));
    store.space(0).unwrap();
    let shared = Arc::new(Shared::new(store, Config::default(), 0));
    let addr = "127.0.0.1:1".parse().unwrap();
    let mut alice = Client::new(1, addr, true);
    execute(&shared, &mut alice, args(&["SET", "k", "1"]));

    // Bob's SET k 2 has touched k (nobody watches it yet) and is committing (fsync...).
    let (touched_tx, touched) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let bob = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            shared.store.db().transaction(|tx| {
                shared.store.set(tx, 0, b"k", b"2", None)?;
                let _ = touched_tx.send(());
                let _ = go_rx.recv();
                Ok(())
            })
        })
    };
    touched.recv().unwrap();
    // Alice: WATCH k, then read it. (A fixed WATCH may wait for Bob's commit: then she
    // never signals, and Bob is let go after the timeout.)
    let (read_tx, read) = mpsc::channel();
    let alice = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            assert_eq!(
                execute(&shared, &mut alice, args(&["WATCH", "k"])),
                Some(Frame::ok())
            );
            let seen = execute(&shared, &mut alice, args(&["GET", "k"])).unwrap();
            let _ = read_tx.send(());
            (alice, seen)
        })
    };
    let _ = read.recv_timeout(Duration::from_secs(2));
    go.send(()).unwrap();
    bob.join().unwrap().unwrap();
    let (mut alice, seen) = alice.join().unwrap();
    execute(&shared, &mut alice, args(&["MULTI"]));
    execute(&shared, &mut alice, args(&["SET", "k", "seen+1"]));
    let exec = execute(&shared, &mut alice, args(&["EXEC"]));
    // Bob's write landed after WATCH: either EXEC fails, or Alice's read already saw it.
    assert!(
        exec == Some(Frame::NullArray) || seen == Frame::bulk("2"),
        "Alice read {seen:?} after WATCH, Bob then wrote 2, and EXEC {exec:?} overwrote it"
    );
}

// ---- 5. graceful shutdown hangs forever behind a client that does not read ----

#[test]
fn shutdown_completes_while_a_client_is_not_reading_its_replies() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: () = c.set("big", vec![b'x'; 16 << 20]).unwrap();
    let mut raw = server.raw();
    // Read the start of the 16 MiB reply: the server is now inside write_all, and stays
    // there while we read no more.
    let head = exchange(&mut raw, b"GET big\r\n", 4);
    assert_eq!(&head, b"$167");
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = server.stop();
        let _ = done_tx.send(());
    });
    let finished = done.recv_timeout(Duration::from_secs(10));
    drop(raw); // let it finish either way
    assert!(finished.is_ok(), "the server never finished shutting down");
}

// ---- 6. after a restart the sweep only visits databases SELECTed since ----

#[test]
fn the_sweep_reaches_databases_not_selected_since_a_restart() {
    let quiet = || Config {
        sweep_interval: Duration::ZERO,
        ..Config::default()
    };
    let server = TestServer::start(quiet());
    let mut c = server.client();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    let _: Value = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(10)
        .query(&mut c)
        .unwrap();
    drop(c);
    let server = TestServer::start_on(server.stop(), quiet());
    server.clock.advance(10);
    assert_eq!(
        server.handle.store().sweep(100).unwrap(),
        1,
        "db3's expired key is never swept"
    );
}

// ---- 7. unauthenticated clients may make the server buffer 512 MiB bulks ----

#[test]
fn an_unauthenticated_client_cannot_claim_a_large_bulk() {
    use std::io::{Read, Write};
    let server = TestServer::start(Config {
        requirepass: Some("pw".into()),
        ..Config::default()
    });
    let mut raw = server.raw();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"*2\r\n$100000\r\n").unwrap();
    let mut reply = vec![0; 64];
    let n = raw.read(&mut reply).unwrap_or(0);
    // Redis 7.0.15: "-ERR Protocol error: unauthenticated bulk length\r\n", then it closes.
    assert_eq!(
        String::from_utf8_lossy(&reply[..n]),
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
}
