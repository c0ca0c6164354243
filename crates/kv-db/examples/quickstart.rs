//! A first look at KanthorKV: open a database (no configuration), write, read, run a
//! transaction, use a keyspace, load a batch, scan — then reopen and find it all there.
//!
//! `cargo run -p kv-db --example quickstart [dir]` (a temporary directory by default).

use kv_db::{Db, WriteBatch};

fn main() -> kv_db::Result<()> {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = std::env::args()
        .nth(1)
        .map_or(temp.path().to_path_buf(), Into::into);

    // ANCHOR: quickstart
    let db = Db::open(&dir)?; // created if missing, recovered after a crash
    db.put(b"greeting", b"hello, world")?; // a durable transaction of its own
    println!(
        "greeting = {:?}",
        db.get(b"greeting")?.map(String::from_utf8)
    );

    // A read-modify-write transaction: all or nothing, retried if it loses a deadlock.
    db.transaction(|tx| {
        let visits = tx
            .get(b"visits")?
            .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
        tx.put(b"visits", &(visits + 1).to_le_bytes())
    })?;

    // A keyspace of its own for users, loaded in one batch.
    let users = db.keyspace("users")?;
    let mut batch = WriteBatch::new();
    for (name, born) in [("ada", "1815"), ("alan", "1912"), ("grace", "1906")] {
        batch.put_in(&users, name.as_bytes(), born.as_bytes());
    }
    db.write(&batch)?;

    // A snapshot: a consistent view, no locks.
    let mut snapshot = db.begin_read()?;
    for entry in users.prefix(&mut snapshot, b"a")? {
        let (name, born) = entry?;
        println!(
            "{} was born in {}",
            String::from_utf8_lossy(&name),
            String::from_utf8_lossy(&born)
        );
    }
    drop(snapshot);
    // ANCHOR_END: quickstart

    drop(db);
    let db = Db::open(&dir)?;
    println!("after reopening: keyspaces {:?}", db.keyspaces()?);
    let stats = db.stats()?;
    println!(
        "{} commits, {} fsyncs, {} bytes of data, cache hit ratio {:.2}",
        stats.commits, stats.fsyncs, stats.data_bytes, stats.cache_hit_ratio
    );
    let check = db.check()?;
    for (name, report) in &check.trees {
        println!("check {name}: {} keys", report.keys);
    }
    println!(
        "{} log records verified: {}",
        check.log_records,
        if check.is_ok() { "ok" } else { "PROBLEMS" }
    );
    Ok(())
}
