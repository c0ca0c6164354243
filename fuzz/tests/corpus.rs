//! The fuzz targets without a fuzzer: every committed input in `fuzz/corpus/<target>/`
//! (the seeds, and any input a fuzzer found worth keeping), then seeded random mutations
//! of them — a short, deterministic smoke run of each target in `cargo test`.
//!
//! `KV_FUZZ_MUTATIONS=N` sets the mutations per target (default 200);
//! `KV_FUZZ_WRITE_SEEDS=1` (re)writes the seed files from each target's `seeds()`.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Check = fn(&[u8]);
type Seeds = fn() -> Vec<Vec<u8>>;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The committed inputs of `target`, sorted by name so runs are repeatable.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("a corpus file reads"))
        })
        .collect();
    files.sort();
    files
}

/// Changes `input` in one to four places, as a fuzzer's simplest mutations do.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=input.len());
        match rng.random_range(0..5) {
            0 if at < input.len() => input[at] ^= 1 << rng.random_range(0..8),
            1 if at < input.len() => input[at] = rng.random(),
            2 => input.insert(at, rng.random()),
            3 if at < input.len() => drop(input.remove(at)),
            _ => input.truncate(at.max(1)),
        }
    }
}

fn replay(target: &str, check: Check, seeds: Seeds) {
    let seeds = seeds();
    if std::env::var_os("KV_FUZZ_WRITE_SEEDS").is_some() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, _) in corpus(target) {
            if name.starts_with("seed-") {
                std::fs::remove_file(dir.join(name)).unwrap(); // none left over
            }
        }
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), seed).unwrap();
        }
    }
    let inputs = corpus(target);
    // The committed seeds must be what `seeds()` makes now: the page seeds, for one, are
    // the base database's pages, and go stale if its layout changes.
    let committed: Vec<&Vec<u8>> = inputs
        .iter()
        .filter(|(name, _)| name.starts_with("seed-"))
        .map(|(_, input)| input)
        .collect();
    assert!(
        committed == seeds.iter().collect::<Vec<_>>(),
        "fuzz/corpus/{target}'s seeds are stale: run with KV_FUZZ_WRITE_SEEDS=1"
    );
    for (name, input) in &inputs {
        let result = std::panic::catch_unwind(|| check(input));
        assert!(result.is_ok(), "fuzz/corpus/{target}/{name} failed");
    }
    let mutations: usize = std::env::var("KV_FUZZ_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let mut rng = StdRng::seed_from_u64(0x6b76_6675_7a7a);
    for i in 0..mutations {
        let (name, base) = &inputs[rng.random_range(0..inputs.len())];
        let mut input = base.clone();
        mutate(&mut rng, &mut input);
        let result = std::panic::catch_unwind(|| check(&input));
        assert!(
            result.is_ok(),
            "mutation {i} of fuzz/corpus/{target}/{name} failed; input: {input:02x?}"
        );
    }
    println!(
        "{target}: {} corpus inputs, {mutations} mutations",
        inputs.len()
    );
}

/// The databases the targets damage are healthy, so damage is all a target's errors mean.
#[test]
fn the_base_databases_pass_everything_undamaged() {
    kv_fuzz::fixture::open_and_exercise(kv_fuzz::fixture::clean()).unwrap();
    kv_fuzz::fixture::open_and_exercise(kv_fuzz::fixture::crashed()).unwrap();
}

#[test]
fn resp() {
    replay("resp", kv_fuzz::resp::check, kv_fuzz::resp::seeds);
}

#[test]
fn page() {
    replay("page", kv_fuzz::page::check, kv_fuzz::page::seeds);
}

#[test]
fn log() {
    replay("log", kv_fuzz::log::check, kv_fuzz::log::seeds);
}

#[test]
fn dir() {
    replay("dir", kv_fuzz::dir::check, kv_fuzz::dir::seeds);
}

#[test]
fn model() {
    replay("model", kv_fuzz::model::check, kv_fuzz::model::seeds);
}
