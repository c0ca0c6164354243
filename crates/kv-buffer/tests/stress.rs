//! Many threads, a pool smaller than the working set: every block ends with its last value.
//!
//! Each of 8 threads owns an 8-byte slot in every block, pins random blocks, checks that its
//! slot holds the last value it wrote there, and writes a new one. At the end the pool is
//! flushed, everything is reopened, and every slot of every block is checked on disk.

mod common;

use std::sync::{Arc, Barrier};

use kv_buffer::PolicyKind;
use kv_file::{BlockId, FileManager, FileOptions, MemStorage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const THREADS: usize = 8;
const BLOCKS: u64 = 64;
const FRAMES: usize = 16;
const OPS: usize = 2_000;

#[test]
fn every_block_holds_its_last_value_after_flush_and_reopen() {
    for policy in PolicyKind::ALL {
        let storage = MemStorage::new();
        let pool = Arc::new(common::pool(&storage, FRAMES, BLOCKS, policy));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (pool, start) = (Arc::clone(&pool), Arc::clone(&start));
                std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(t as u64);
                    let mut last = vec![0u64; BLOCKS as usize];
                    start.wait();
                    for op in 1..=OPS as u64 {
                        let n = rng.random_range(0..BLOCKS);
                        let guard = pool.pin(&BlockId::new("t", n)).unwrap();
                        assert_eq!(guard.read().get_u64(t * 8).unwrap(), last[n as usize]);
                        if rng.random_bool(0.5) {
                            let stamp = (t as u64) << 32 | op;
                            guard.write().set_u64(t * 8, stamp).unwrap();
                            last[n as usize] = stamp;
                        }
                    }
                    last
                })
            })
            .collect();
        let last: Vec<Vec<u64>> = threads.into_iter().map(|h| h.join().unwrap()).collect();
        let stats = pool.stats();
        assert!(
            stats.evictions > 100,
            "{policy:?}: the pool had to evict ({stats:?})"
        );
        pool.flush_all().unwrap();
        drop(pool);

        let fm = FileManager::open_with(storage, FileOptions::default()).unwrap();
        let mut page = fm.new_page();
        for n in 0..BLOCKS {
            fm.read(&BlockId::new("t", n), &mut page).unwrap();
            for (t, last) in last.iter().enumerate() {
                assert_eq!(
                    page.get_u64(t * 8).unwrap(),
                    last[n as usize],
                    "{policy:?} t:{n} slot {t}"
                );
            }
        }
    }
}
