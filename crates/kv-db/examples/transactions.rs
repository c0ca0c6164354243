//! Transactions at work: threads moving money between accounts at once, each transfer all
//! or nothing, deadlock victims retried by `Db::transaction`, a transaction rolled back, and
//! snapshot audits that see a consistent total while the transfers run.
//!
//! `cargo run -p kv-db --example transactions`

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use kv_db::{Db, Error, Keyspace, Txn};

const ACCOUNTS: u64 = 8;
const START: u64 = 1_000;

fn balance(ks: &Keyspace, tx: &mut impl kv_db::Access, account: u64) -> kv_db::Result<u64> {
    let value = ks.get(tx, &account.to_be_bytes())?.unwrap_or_default();
    Ok(u64::from_le_bytes(value.try_into().unwrap_or_default()))
}

// ANCHOR: transfer
/// Moves `amount` from one account to another, or nothing if the first has too little.
fn transfer(
    ks: &Keyspace,
    tx: &mut Txn<'_>,
    from: u64,
    to: u64,
    amount: u64,
) -> kv_db::Result<bool> {
    let have = balance(ks, tx, from)?;
    if have < amount {
        return Ok(false);
    }
    let other = balance(ks, tx, to)?;
    ks.put(tx, &from.to_be_bytes(), &(have - amount).to_le_bytes())?;
    ks.put(tx, &to.to_be_bytes(), &(other + amount).to_le_bytes())?;
    Ok(true)
}
// ANCHOR_END: transfer

fn main() -> kv_db::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Db::open(dir.path())?;
    let bank = db.keyspace("bank")?;
    db.transaction(|tx| {
        for account in 0..ACCOUNTS {
            bank.put(tx, &account.to_be_bytes(), &START.to_le_bytes())?;
        }
        Ok(())
    })?;

    // A transaction that changes its mind: nothing it did remains.
    let mut tx = db.begin()?;
    transfer(&bank, &mut tx, 0, 1, 500)?;
    tx.rollback()?;

    // ANCHOR: threads
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (db, bank) = (&db, &bank);
                s.spawn(move || -> kv_db::Result<()> {
                    for i in 0..200u64 {
                        let (from, to) = ((t + i) % ACCOUNTS, (t * 3 + i * 5 + 1) % ACCOUNTS);
                        if from != to {
                            // Run again (with backoff) if chosen as a deadlock victim.
                            db.transaction(|tx| transfer(bank, tx, from, to, 1 + i % 50))?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        // Audits on snapshots: no locks taken, never a transfer half seen.
        let auditor = s.spawn(|| -> kv_db::Result<u64> {
            let mut audits = 0;
            while !done.load(SeqCst) {
                let mut snapshot = db.begin_read()?;
                let mut total = 0;
                for account in 0..ACCOUNTS {
                    total += balance(&bank, &mut snapshot, account)?;
                }
                assert_eq!(total, ACCOUNTS * START, "a snapshot saw half a transfer");
                audits += 1;
            }
            Ok(audits)
        });
        for worker in workers {
            worker.join().expect("worker")?;
        }
        done.store(true, SeqCst);
        let audits = auditor.join().expect("auditor")?;
        println!("{audits} snapshot audits, every one balanced");
        Ok::<(), Error>(())
    })?;
    // ANCHOR_END: threads

    let stats = db.stats()?;
    println!(
        "{} commits, {} rollbacks, {} deadlocks resolved, {} lock waits",
        stats.commits, stats.rollbacks, stats.deadlocks, stats.lock_waits
    );
    let mut snapshot = db.begin_read()?;
    let total: u64 = (0..ACCOUNTS)
        .map(|a| balance(&bank, &mut snapshot, a))
        .sum::<kv_db::Result<u64>>()?;
    println!("total {total} (started with {})", ACCOUNTS * START);
    Ok(())
}
