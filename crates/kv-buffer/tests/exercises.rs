//! Chapter 4 exercises. Each test describes behaviour the reference code does not have yet;
//! it fails until you build it. Turn one on with
//! `cargo test -p kv-buffer --test exercises -- --ignored exercise_4_1`.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;

use common::traces;
use kv_buffer::{conformance, BufferOptions, BufferPool, PolicyKind, ReplacementPolicy};
use kv_file::{BlockId, FileManager, FileOptions, MemStorage};
use kv_log::LogManager;

/// Exercise 4.1: your replacement policy. It starts as a plain FIFO; turn it into LRU-K,
/// 2Q, ARC or SIEVE (see the chapter), keeping it O(1) per hit.
#[derive(Debug)]
struct MyPolicy {
    queue: VecDeque<usize>,
}

impl MyPolicy {
    fn new(_frames: usize) -> Self {
        Self {
            queue: VecDeque::new(),
        }
    }
}

impl ReplacementPolicy for MyPolicy {
    fn name(&self) -> &'static str {
        "mine"
    }
    fn on_load(&mut self, frame: usize) {
        self.queue.retain(|&f| f != frame);
        self.queue.push_back(frame);
    }
    fn on_access(&mut self, _frame: usize) {}
    fn on_free(&mut self, frame: usize) {
        self.queue.retain(|&f| f != frame);
    }
    fn victim(&mut self, evictable: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.queue.iter().copied().find(|&f| evictable(f))
    }
}

fn hit_ratio(policy: Box<dyn ReplacementPolicy>, trace: &traces::Trace) -> f64 {
    let fm = Arc::new(
        FileManager::open_with(MemStorage::new(), FileOptions::default().block_size(512)).unwrap(),
    );
    fm.truncate("t", trace.blocks).unwrap();
    let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal").unwrap());
    let options = BufferOptions {
        frames: 100,
        ..BufferOptions::default()
    };
    let pool = BufferPool::with_policy(fm, log, options, policy);
    let ids: Vec<BlockId> = (0..trace.blocks).map(|n| BlockId::new("t", n)).collect();
    for &b in &trace.accesses {
        drop(pool.pin(&ids[b as usize]).unwrap());
    }
    pool.stats().hit_ratio()
}

/// Exercise 4.1: a scan-resistant policy. Yours must pass the conformance test and beat
/// LRU's hit ratio by at least one point on a Zipfian trace polluted by sequential scans.
#[test]
#[ignore = "exercise 4.1: write a scan-resistant replacement policy"]
fn exercise_4_1_a_policy_that_resists_scans() {
    conformance::check(|frames| Box::new(MyPolicy::new(frames)));
    let trace = traces::scan_polluted(1_000, 100_000, 200, 2_000, 3);
    let lru = hit_ratio(PolicyKind::Lru.build(100), &trace);
    let mine = hit_ratio(Box::new(MyPolicy::new(100)), &trace);
    assert!(
        mine >= lru + 0.01,
        "yours: {:.1} %, LRU: {:.1} %",
        mine * 100.0,
        lru * 100.0
    );
}

/// Exercise 4.2: pinning a block that does not exist evicts a page (writing it back if
/// dirty) before the read fails. Check that the block exists before choosing a victim.
#[test]
#[ignore = "exercise 4.2: do not evict for a block that does not exist"]
fn exercise_4_2_a_missing_block_evicts_nothing() {
    let storage = MemStorage::new();
    let pool = common::pool(&storage, 1, 4, PolicyKind::Clock);
    pool.pin(&BlockId::new("t", 0))
        .unwrap()
        .write()
        .set_u64(0, 1)
        .unwrap();
    assert!(pool.pin(&BlockId::new("t", 99)).is_err());
    let stats = pool.stats();
    assert_eq!((stats.evictions, stats.write_backs), (0, 0));
}
