//! Crash everywhere: a randomized workload of transactions (committed, rolled back, left in
//! flight) is cut at every change it makes, crashed several ways, and recovered — and then
//! crashed again *during* recovery, twice. After every recovery the data equals exactly the
//! committed transactions of an in-memory model.
//!
//! Run with `cargo test -p kv-tx --test crash -- --nocapture` for the number of crash points.
//! `KV_CRASH_SEEDS=N` runs N workloads instead of the default.

use std::collections::BTreeMap;

use kv_file::{BlockId, Crash, MemStorage};
use kv_tx::{PageRead, TxManager, TxOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BLOCKS: u64 = 3;
/// Extra blocks, one for each transaction left in flight: it keeps its exclusive locks until
/// the crash, so later transactions must not need its pages.
const LOSER_BLOCKS: u64 = 2;
const SLOTS: usize = 6;

type Model = BTreeMap<(u64, usize), u64>;

fn options() -> TxOptions {
    let mut o = TxOptions::default();
    o.file = o.file.block_size(512);
    o.buffer.frames = 2; // dirty pages of running transactions are evicted: steal
    o.log.segment_size = 1024;
    o
}

fn slot(b: u64, s: usize) -> (BlockId, usize) {
    (BlockId::new("t", b), 8 + s * 8)
}

/// What the workload did before the power failed.
#[derive(Default)]
struct Outcome {
    /// State of every committed transaction whose commit returned.
    committed: Model,
    /// Writes of a transaction whose commit was under way when the power failed: it may or
    /// may not have committed, but either way wholly.
    maybe: Option<Model>,
}

/// Runs the seeded workload until the first error (the power cut).
fn workload(storage: &MemStorage, seed: u64) -> Outcome {
    let mut out = Outcome::default();
    let Ok(db) = TxManager::open_with(storage.clone(), options()) else {
        return out;
    };
    if let Err(e) = run(&db, seed, &mut out) {
        if std::env::var("KV_DEBUG").is_ok() {
            eprintln!("workload stopped: {e}");
        }
    }
    std::mem::forget(db); // the process dies: no orderly shutdown
    out
}

fn run(db: &TxManager, seed: u64, out: &mut Outcome) -> kv_tx::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    {
        let mut tx = db.begin()?;
        while tx.size("t")? < BLOCKS + LOSER_BLOCKS {
            tx.append("t")?;
        }
        tx.commit()?;
    }
    let mut losers = 0;
    for round in 0..8 {
        let mut fate = rng.random_range(0..10);
        if fate >= 8 && losers == LOSER_BLOCKS {
            fate = 6; // no loser block left: roll back instead
        }
        let mut tx = db.begin()?;
        let mut writes = Model::new();
        for _ in 0..rng.random_range(1..4) {
            let b = if fate >= 8 {
                BLOCKS + losers
            } else {
                rng.random_range(0..BLOCKS)
            };
            let s = rng.random_range(0..SLOTS);
            let value = seed << 32 | (round << 8) as u64 | rng.random_range(1..255u64);
            let (block, offset) = slot(b, s);
            tx.set_u64(&block, offset, value)?;
            writes.insert((b, s), value);
        }
        match fate {
            0..=5 => {
                let mut after = out.committed.clone();
                after.extend(writes);
                out.maybe = Some(after.clone());
                tx.commit()?;
                out.committed = after;
                out.maybe = None;
            }
            6..=7 => tx.rollback()?,
            _ => {
                // Never ends: a loser at the crash. Its pages stay dirty in the pool (and may
                // be evicted to disk), but it no longer holds them pinned; it keeps its locks.
                for &(b, s) in writes.keys() {
                    tx.unpin(&slot(b, s).0);
                }
                std::mem::forget(tx);
                losers += 1;
            }
        }
        if round == 4 {
            db.checkpoint()?;
        }
    }
    Ok(())
}

fn read_all(db: &TxManager) -> Model {
    let mut tx = db.begin().unwrap();
    let mut m = Model::new();
    for b in 0..(BLOCKS + LOSER_BLOCKS).min(tx.size("t").unwrap()) {
        for s in 0..SLOTS {
            let (block, offset) = slot(b, s);
            let v = tx.get_u64(&block, offset).unwrap();
            if v != 0 {
                m.insert((b, s), v);
            }
        }
    }
    m
}

fn check(db: &TxManager, out: &Outcome, ctx: &str) {
    let got = read_all(db);
    let ok = got == out.committed || out.maybe.as_ref() == Some(&got);
    assert!(
        ok,
        "{ctx}:\n got      {got:?}\n expected {:?}\n or       {:?}",
        out.committed, out.maybe
    );
}

#[test]
fn every_crash_point_recovers_exactly_the_committed_transactions() {
    let seeds: u64 = std::env::var("KV_CRASH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let crashes = [
        Crash::power_loss(),
        Crash::process_kill(),
        Crash::torn(100),
        Crash::random(9),
    ];
    let (mut states, mut repaired, mut losers, mut redone) = (0u64, 0, 0, 0);
    for seed in 0..seeds {
        let probe = MemStorage::new();
        workload(&probe, seed);
        let points = probe.stats().mutations;
        for cut in 0..=points {
            for crash in crashes {
                let storage = MemStorage::new();
                storage.power_cut_at(cut);
                let out = workload(&storage, seed);
                storage.crash(crash);
                let ctx = format!("seed {seed}, cut {cut}/{points}, {crash:?}");
                // Crash during recovery, twice, at different points, before recovering fully.
                // (A recovery that opens before the cut may already roll the losers back; its
                // report is counted too.)
                for again in [3, 11] {
                    storage.power_cut_at(storage.stats().mutations + again);
                    if let Ok(db) = TxManager::open_with(storage.clone(), options()) {
                        losers += db.recovery_report().losers.len();
                        repaired += db.recovery_report().repaired;
                        std::mem::forget(db);
                    }
                    storage.crash(Crash::power_loss());
                }
                let db = TxManager::open_with(storage.clone(), options())
                    .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
                check(&db, &out, &ctx);
                let report = db.recovery_report();
                repaired += report.repaired;
                losers += report.losers.len();
                redone += report.redone;
                states += 1;
            }
        }
    }
    println!(
        "crash points exercised: {states} (pages repaired from images: {repaired}, \
         losers rolled back: {losers}, changes redone: {redone})"
    );
    assert!(states > 100);
    assert!(
        repaired > 0 && losers > 0 && redone > 0,
        "the crashes exercised every path"
    );
}
