//! Hermitage's P4 (lost update) over the wire: two clients read a counter and both try to
//! write what they read plus one, each guarded by WATCH / MULTI / EXEC — the server's
//! optimistic check-and-set. The steps run in Hermitage's order on two connections from one
//! thread, so the test is deterministic: the first EXEC commits, the second finds its watched
//! key changed and returns nil, and the counter holds one increment, not a lost one. (The
//! same case against the embedded API, where 2PL turns it into a deadlock, is in
//! `crates/kv-db/tests/hermitage.rs`.)

mod common;

use common::TestServer;
use redis::{Commands, Value};

/// T1: read 1 → 10; T2: read 1 → 10; T1: write 11; T2: write 11; T1 commits; T2 commits.
/// Both write "what I read + 1": if both commits went through, one increment would be lost.
/// We guarantee: T2's EXEC returns nil (aborted, nothing applied); it may run again.
#[test]
fn p4() {
    let server = TestServer::default_config();
    let mut setup = server.client();
    let _: () = setup.set("test:1", 10).unwrap();
    let (mut t1, mut t2) = (server.client(), server.client());

    let _: () = redis::cmd("WATCH").arg("test:1").query(&mut t1).unwrap();
    let _: () = redis::cmd("WATCH").arg("test:1").query(&mut t2).unwrap();
    let read1: i64 = t1.get("test:1").unwrap();
    let read2: i64 = t2.get("test:1").unwrap();
    assert_eq!((read1, read2), (10, 10));

    // Both queue their write; neither is applied before its EXEC.
    for (t, read) in [(&mut t1, read1), (&mut t2, read2)] {
        let _: () = redis::cmd("MULTI").query(t).unwrap();
        let queued: String = redis::cmd("SET")
            .arg("test:1")
            .arg(read + 1)
            .query(t)
            .unwrap();
        assert_eq!(queued, "QUEUED");
    }
    let first: Value = redis::cmd("EXEC").query(&mut t1).unwrap();
    assert_eq!(first, Value::Array(vec![Value::Okay]), "T1 commits");
    let second: Value = redis::cmd("EXEC").query(&mut t2).unwrap();
    assert_eq!(
        second,
        Value::Nil,
        "lost update: T2's EXEC ran although T1 changed the key it watched"
    );
    assert_eq!(setup.get::<_, i64>("test:1").unwrap(), 11);

    // T2 runs again, from a fresh read: both increments count.
    let _: () = redis::cmd("WATCH").arg("test:1").query(&mut t2).unwrap();
    let read: i64 = t2.get("test:1").unwrap();
    let (set,): (String,) = redis::pipe()
        .atomic()
        .set("test:1", read + 1)
        .query(&mut t2)
        .unwrap();
    assert_eq!(set, "OK");
    assert_eq!(setup.get::<_, i64>("test:1").unwrap(), 12);
}
