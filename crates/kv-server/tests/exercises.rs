//! Chapter 9 exercises. Each test describes behaviour the reference server does not have
//! yet; it fails until you build it. Turn one on with
//! `cargo test -p kv-server --test exercises -- --ignored exercise_9_1`.

mod common;

use common::{exchange, TestServer};
use redis::Commands;

/// Exercise 9.1: a new command. `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`
/// returns the value and changes the key's deadline in the same step. Add it to the table
/// (`commands/mod.rs`) with a handler beside GET and SET (`commands/strings.rs`).
#[test]
#[ignore = "exercise 9.1: GETEX"]
fn exercise_9_1_getex_reads_and_sets_the_deadline() {
    let server = TestServer::default_config();
    let mut c = server.client();
    let _: () = c.set("k", "v").unwrap();
    let v: String = redis::cmd("GETEX")
        .arg("k")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "v");
    assert_eq!(c.ttl::<_, i64>("k").unwrap(), 100);
    let _: String = redis::cmd("GETEX")
        .arg("k")
        .arg("PERSIST")
        .query(&mut c)
        .unwrap();
    assert_eq!(c.ttl::<_, i64>("k").unwrap(), -1);
}

/// Exercise 9.2: RESP3 push messages. With `CLIENT TRACKING ON`, a RESP3 client is told
/// when a key it read changes: the server pushes `>2 invalidate [key]` to it, unasked.
/// Remember what each tracking client read; when a write touches such a key (the WATCH
/// flags show where writes are seen), queue a push for the reader's connection, which must
/// now also write when it has not been asked anything.
#[test]
#[ignore = "exercise 9.2: RESP3 push (client-side caching invalidation)"]
fn exercise_9_2_a_tracking_client_is_pushed_an_invalidation() {
    let server = TestServer::default_config();
    let mut reader = server.raw();
    let hello = exchange(&mut reader, b"HELLO 3\r\n", 1);
    assert_eq!(hello, b"%");
    let mut rest = [0u8; 4096];
    let _ = std::io::Read::read(&mut reader, &mut rest).unwrap(); // the rest of HELLO's map
    assert_eq!(
        exchange(&mut reader, b"CLIENT TRACKING ON\r\n", 5),
        b"+OK\r\n"
    );
    assert_eq!(exchange(&mut reader, b"GET k\r\n", 3), b"_\r\n");
    let _: () = server.client().set("k", "changed").unwrap();
    let push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
    let mut got = vec![0u8; push.len()];
    std::io::Read::read_exact(&mut reader, &mut got).unwrap();
    assert_eq!(got, push);
}

/// Exercise 9.3: publish/subscribe. `SUBSCRIBE channel` turns a connection into a
/// listener; `PUBLISH channel message` answers how many listeners got it, and each gets
/// `["message", channel, message]`. Channels are not data: no transaction, no disk — a map
/// from channel to the connections' senders (a tokio broadcast or mpsc channel each).
#[test]
#[ignore = "exercise 9.3: publish/subscribe"]
fn exercise_9_3_a_published_message_reaches_every_subscriber() {
    let server = TestServer::default_config();
    let mut listener = server.client();
    let mut pubsub = listener.as_pubsub();
    pubsub.subscribe("news").unwrap();
    let mut publisher = server.client();
    let receivers: i64 = publisher.publish("news", "hello").unwrap();
    assert_eq!(receivers, 1);
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_channel_name(), "news");
    assert_eq!(message.get_payload::<String>().unwrap(), "hello");
}
