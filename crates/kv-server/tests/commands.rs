//! Chapter 9 checkpoint: the commands, through a real Redis client library (the `redis`
//! crate), with Redis's replies and error texts.

mod common;

use common::{err_text, TestServer};
use redis::{Commands, Value};

#[test]
fn strings_get_set_and_their_friends() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, Option<String>>("k").unwrap(), Some("v".into()));
    assert_eq!(c.get::<_, Option<String>>("missing").unwrap(), None);
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let got: Vec<Option<String>> = c.mget(&["a", "nope", "b"]).unwrap();
    assert_eq!(got, [Some("1".into()), None, Some("2".into())]);
    assert!(!c.mset_nx::<_, _, bool>(&[("a", "x"), ("c", "3")]).unwrap());
    assert_eq!(
        c.get::<_, Option<String>>("c").unwrap(),
        None,
        "MSETNX is all or none"
    );
    assert!(c.mset_nx::<_, _, bool>(&[("c", "3"), ("d", "4")]).unwrap());
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 1);
    assert_eq!(c.incr::<_, _, i64>("n", 41).unwrap(), 42);
    assert_eq!(c.decr::<_, _, i64>("n", 2).unwrap(), 40);
    let n: i64 = redis::cmd("DECR").arg("n").query(&mut c).unwrap();
    assert_eq!(n, 39);
    assert_eq!(c.append::<_, _, i64>("k", "alue").unwrap(), 5);
    assert_eq!(c.strlen::<_, i64>("k").unwrap(), 5);
    let old: Option<String> = redis::cmd("GETDEL").arg("k").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("value"));
    assert!(!c.exists::<_, bool>("k").unwrap());
}

#[test]
fn error_replies_are_redis_texts() {
    let server = TestServer::default_config();
    let mut c = server.client();
    assert_eq!(
        err_text(redis::cmd("GET").query::<Value>(&mut c)),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err_text(redis::cmd("NOSUCH").arg("x").query::<Value>(&mut c)),
        "ERR unknown command 'NOSUCH', with args beginning with: 'x' "
    );
    let _: () = c.set("text", "abc").unwrap();
    assert_eq!(
        err_text(c.incr::<_, _, i64>("text", 1)),
        "ERR value is not an integer or out of range"
    );
    let _: () = c.set("big", i64::MAX).unwrap();
    assert_eq!(
        err_text(c.incr::<_, _, i64>("big", 1)),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err_text(
            redis::cmd("SET")
                .arg("k")
                .arg("v")
                .arg("NX")
                .arg("XX")
                .query::<Value>(&mut c)
        ),
        "ERR syntax error"
    );
    assert_eq!(
        err_text(
            redis::cmd("SET")
                .arg("k")
                .arg("v")
                .arg("EX")
                .arg("0")
                .query::<Value>(&mut c)
        ),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err_text(redis::cmd("SELECT").arg("16").query::<Value>(&mut c)),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err_text(redis::cmd("PING").arg("a").arg("b").query::<Value>(&mut c)),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(
        err_text(
            redis::cmd("DECRBY")
                .arg("n2")
                .arg(i64::MIN)
                .query::<Value>(&mut c)
        ),
        "ERR decrement would overflow"
    );
    assert_eq!(
        err_text(
            redis::cmd("EXPIRE")
                .arg("text")
                .arg(5)
                .arg("GT")
                .arg("LT")
                .query::<Value>(&mut c)
        ),
        "ERR GT and LT options at the same time are not compatible"
    );
    // Repeated options are fine (the last wins), as in Redis.
    let v: Value = redis::cmd("SET")
        .arg("rep")
        .arg("1")
        .arg("EX")
        .arg(5)
        .arg("EX")
        .arg(9)
        .arg("GET")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Nil);
    assert_eq!(c.ttl::<_, i64>("rep").unwrap(), 9);
    let long_key = vec![b'k'; 2000];
    let err = err_text(c.set::<_, _, ()>(long_key, "v"));
    assert!(
        err.starts_with("ERR key of 2000 bytes is too large"),
        "{err}"
    );
    // The connection is still fine after all that.
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn set_options_and_expiry_with_a_clock_that_moves_by_hand() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let set = |c: &mut redis::Connection, args: &[&str]| -> Value {
        redis::cmd("SET").arg(args).query(c).unwrap()
    };
    assert_eq!(set(&mut c, &["k", "1", "NX"]), Value::Okay);
    assert_eq!(set(&mut c, &["k", "2", "NX"]), Value::Nil);
    assert_eq!(
        set(&mut c, &["k", "3", "XX", "GET"]),
        Value::BulkString(b"1".to_vec())
    );
    assert_eq!(set(&mut c, &["nope", "3", "XX"]), Value::Nil);
    assert_eq!(set(&mut c, &["t", "v", "EX", "10"]), Value::Okay);
    assert_eq!(c.ttl::<_, i64>("t").unwrap(), 10);
    assert_eq!(c.pttl::<_, i64>("t").unwrap(), 10_000);
    assert_eq!(set(&mut c, &["t", "w", "KEEPTTL"]), Value::Okay);
    assert_eq!(c.ttl::<_, i64>("t").unwrap(), 10, "KEEPTTL kept it");
    assert_eq!(c.ttl::<_, i64>("k").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("missing").unwrap(), -2);

    server.clock.advance(9_999);
    assert_eq!(
        c.get::<_, Option<String>>("t").unwrap().as_deref(),
        Some("w")
    );
    server.clock.advance(1);
    assert_eq!(
        c.get::<_, Option<String>>("t").unwrap(),
        None,
        "expired at its deadline"
    );
    assert_eq!(c.ttl::<_, i64>("t").unwrap(), -2);
    assert_eq!(c.exists::<_, i64>("t").unwrap(), 0);
    let now = kv_server::Clock::now_ms(&*server.clock);
    assert_eq!(
        set(&mut c, &["at", "v", "PXAT", &(now + 500).to_string()]),
        Value::Okay
    );
    assert_eq!(c.pttl::<_, i64>("at").unwrap(), 500);

    // The EXPIRE family and PERSIST.
    assert!(c.expire::<_, bool>("k", 100).unwrap());
    assert!(!c.expire::<_, bool>("missing", 100).unwrap());
    let nx: i64 = redis::cmd("EXPIRE")
        .arg("k")
        .arg(50)
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(nx, 0, "NX: it has a deadline already");
    let gt: i64 = redis::cmd("EXPIRE")
        .arg("k")
        .arg(50)
        .arg("GT")
        .query(&mut c)
        .unwrap();
    assert_eq!(gt, 0, "GT: 50 s is not later than 100 s");
    let lt: i64 = redis::cmd("PEXPIRE")
        .arg("k")
        .arg(50_000)
        .arg("LT")
        .query(&mut c)
        .unwrap();
    assert_eq!(lt, 1);
    assert_eq!(c.ttl::<_, i64>("k").unwrap(), 50);
    assert!(c.persist::<_, bool>("k").unwrap());
    assert!(!c.persist::<_, bool>("k").unwrap());
    let past: i64 = redis::cmd("EXPIREAT")
        .arg("k")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(past, 1);
    assert_eq!(
        c.get::<_, Option<String>>("k").unwrap(),
        None,
        "a past deadline removes it"
    );

    // The background sweep takes expired keys out of the database for good. (Until then
    // DBSIZE counts them, as Redis's does: "t" expired but is still stored.)
    let _: () = c.set_ex("soon", "v", 1).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 3);
    server.clock.advance(1_000);
    assert_eq!(
        server.handle.store().sweep(100).unwrap(),
        3,
        "t, at and soon"
    );
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn keys_scan_select_and_flush() {
    let server = TestServer::default_config();
    let mut c = server.client();
    for i in 0..25 {
        let _: () = c.set(format!("user:{i:02}"), i).unwrap();
    }
    let _: () = c.set("other", 1).unwrap();
    let mut keys: Vec<String> = c.keys("user:1*").unwrap();
    keys.sort();
    assert_eq!(keys.len(), 10);
    assert_eq!(keys[0], "user:10");
    assert_eq!(
        redis::cmd("TYPE")
            .arg("other")
            .query::<String>(&mut c)
            .unwrap(),
        "string"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("nope")
            .query::<String>(&mut c)
            .unwrap(),
        "none"
    );

    // SCAN visits every key once, a few at a time.
    let mut seen = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("user:*")
            .arg("COUNT")
            .arg(7)
            .query(&mut c)
            .unwrap();
        seen.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    assert_eq!(seen.len(), 25);
    seen.dedup();
    assert_eq!(seen.len(), 25);

    // Numbered databases are separate.
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    assert_eq!(c.get::<_, Option<String>>("other").unwrap(), None);
    let _: () = c.set("in3", "x").unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    let _: () = redis::cmd("FLUSHDB").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 26);
    assert_eq!(c.del::<_, i64>(&["user:00", "user:01", "nope"]).unwrap(), 2);
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn multi_exec_is_one_transaction_and_watch_aborts_it() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let mut other = server.client();
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .incr("x", 1)
        .incr("x", 10)
        .query(&mut c)
        .unwrap();
    assert_eq!((a, b), (1, 11));

    // WATCH: another client changes the key, so EXEC returns nil and changes nothing.
    let _: () = redis::cmd("WATCH").arg("x").query(&mut c).unwrap();
    let _: () = other.set("x", 100).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    let queued: String = redis::cmd("SET").arg("x").arg(5).query(&mut c).unwrap();
    assert_eq!(queued, "QUEUED");
    let exec: Value = redis::cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(exec, Value::Nil);
    assert_eq!(c.get::<_, i64>("x").unwrap(), 100);

    // WATCH with no change in between: EXEC runs.
    let _: () = redis::cmd("WATCH").arg("x").query(&mut c).unwrap();
    let (x,): (i64,) = redis::pipe().atomic().incr("x", 1).query(&mut c).unwrap();
    assert_eq!(x, 101);

    // An error while queueing discards the whole transaction.
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    let _: String = redis::cmd("SET").arg("y").arg(1).query(&mut c).unwrap();
    assert!(redis::cmd("GET").query::<Value>(&mut c).is_err());
    assert_eq!(
        err_text(redis::cmd("EXEC").query::<Value>(&mut c)),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(c.get::<_, Option<i64>>("y").unwrap(), None);

    // DISCARD, and the errors around MULTI.
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    assert_eq!(
        err_text(redis::cmd("MULTI").query::<Value>(&mut c)),
        "ERR MULTI calls can not be nested"
    );
    let _: () = redis::cmd("DISCARD").query(&mut c).unwrap();
    assert_eq!(
        err_text(redis::cmd("EXEC").query::<Value>(&mut c)),
        "ERR EXEC without MULTI"
    );
    // A command failing at EXEC time gets its own error; the others apply (as in Redis).
    // (On a raw socket: the client library turns the whole EXEC into an error.)
    let _: () = c.set("s", "text").unwrap();
    let mut raw = server.raw();
    let expected =
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n-ERR value is not an integer or out of range\r\n:1\r\n";
    let request = b"MULTI\r\nINCR s\r\nINCR z\r\nEXEC\r\n";
    let reply = common::exchange(&mut raw, request, expected.len());
    assert_eq!(String::from_utf8(reply).unwrap(), expected);
    assert_eq!(c.get::<_, i64>("z").unwrap(), 1);
}

#[test]
fn resp3_hello_maps_and_nulls() {
    let server = TestServer::default_config();
    let mut c = server.client3();
    let hello: Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
    let Value::Map(fields) = hello else {
        panic!("HELLO 3 answers with a map: {hello:?}")
    };
    let proto = fields
        .iter()
        .find(|(k, _)| *k == Value::BulkString(b"proto".to_vec()))
        .map(|(_, v)| v.clone());
    assert_eq!(proto, Some(Value::Int(3)));
    assert_eq!(
        redis::cmd("GET")
            .arg("missing")
            .query::<Value>(&mut c)
            .unwrap(),
        Value::Nil
    );
    let config: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut c)
        .unwrap();
    assert!(matches!(config, Value::Map(_)), "{config:?}");
    let info: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(info.contains("redis_version:"), "{info}");
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
}

#[test]
fn info_config_command_and_client() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: () = c.set("a", 1).unwrap();
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for field in [
        "# Server",
        "tcp_port:",
        "connected_clients:1",
        "kv_commits:",
        "kv_write_timeout_disconnections:0",
        "db0:keys=1",
    ] {
        assert!(info.contains(field), "INFO lacks {field}:\n{info}");
    }
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut c)
        .unwrap();
    assert_eq!(save, ["save", ""]);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg(300)
        .query(&mut c)
        .unwrap();
    let timeout: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("time*")
        .query(&mut c)
        .unwrap();
    assert_eq!(timeout, ["timeout", "300"]);
    // KanthorKV's own: unread replies close a connection after 60 s by default.
    let write: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("write-timeout")
        .query(&mut c)
        .unwrap();
    assert_eq!(write, ["write-timeout", "60"]);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("write-timeout")
        .arg(5)
        .query(&mut c)
        .unwrap();
    let write: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("write-timeout")
        .query(&mut c)
        .unwrap();
    assert_eq!(write, ["write-timeout", "5"]);
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(count > 40);
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query(&mut c)
        .unwrap();
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, "tester");
    assert!(redis::cmd("CLIENT").arg("ID").query::<i64>(&mut c).unwrap() > 0);
    assert_eq!(
        redis::cmd("ECHO")
            .arg("hi")
            .query::<String>(&mut c)
            .unwrap(),
        "hi"
    );
}

#[test]
fn auth_is_required_when_a_password_is_set() {
    let server = TestServer::start(kv_server::Config {
        requirepass: Some("sesame".into()),
        ..kv_server::Config::default()
    });
    let mut c = server.client();
    assert_eq!(
        err_text(c.get::<_, Option<String>>("k")),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        err_text(redis::cmd("AUTH").arg("wrong").query::<Value>(&mut c)),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    let _: () = redis::cmd("AUTH").arg("sesame").query(&mut c).unwrap();
    let _: () = c.set("k", "v").unwrap();
    // A client that gives the password in its URL authenticates as it connects.
    let url = format!("redis://:sesame@{}/", server.addr);
    let mut d = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(d.get::<_, String>("k").unwrap(), "v");
}
