//! Chapter 4 checkpoint: the buffer pool's promises, tested from the outside.
//!
//! Run with `cargo test -p kv-buffer --test chapter4`.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{pool, pool_with};
use kv_buffer::{BufferOptions, Error, PolicyKind};
use kv_file::{BlockId, FaultOp, MemStorage};
use kv_log::Lsn;

fn b(n: u64) -> BlockId {
    BlockId::new("t", n)
}

/// The `u64` at offset 0 of block `n` as it is on disk, bypassing the pool.
fn on_disk(fm: &kv_file::FileManager, n: u64) -> u64 {
    let mut page = fm.new_page();
    fm.read(&b(n), &mut page).unwrap();
    page.get_u64(0).unwrap()
}

#[test]
fn a_pinned_page_is_shared_and_reads_back_what_was_written() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 4, 8, PolicyKind::Clock);
    let g1 = pool.pin(&b(2)).unwrap();
    g1.write().set_string(0, "hello").unwrap();
    let g2 = pool.pin(&b(2)).unwrap();
    assert_eq!(g2.read().get_string(0).unwrap(), "hello");
    {
        // Two readers at once.
        let (r1, r2) = (g1.read(), g2.read());
        assert_eq!(r1.get_string(0).unwrap(), r2.get_string(0).unwrap());
    }
    let s = pool.stats();
    assert_eq!((s.misses, s.hits), (1, 1));
    assert_eq!(pool.available(), 3);
    drop((g1, g2));
    assert_eq!(pool.available(), 4);
    assert_eq!(g2_block(&pool), b(2));
}

fn g2_block(pool: &kv_buffer::BufferPool) -> BlockId {
    pool.pin(&b(2)).unwrap().block()
}

#[test]
fn pinned_frames_are_never_evicted_and_an_exhausted_pool_is_an_error() {
    let storage = MemStorage::new();
    let options = BufferOptions {
        frames: 3,
        policy: PolicyKind::Lru,
        pin_timeout: Duration::from_millis(20),
    };
    let pool = pool_with(&storage, 8, options);
    let held: Vec<_> = (0..3).map(|n| pool.pin(&b(n)).unwrap()).collect();
    for (n, g) in held.iter().enumerate() {
        g.write().set_u64(0, n as u64 + 100).unwrap();
    }
    let err = pool.pin(&b(5)).unwrap_err();
    assert!(
        matches!(err, Error::BufferExhausted { frames: 3, .. }),
        "{err}"
    );
    assert_eq!(pool.stats().timeouts, 1);
    for (n, g) in held.iter().enumerate() {
        assert_eq!(
            g.read().get_u64(0).unwrap(),
            n as u64 + 100,
            "nothing was evicted"
        );
    }
    drop(held);
    pool.pin(&b(5)).expect("frames are free again");
}

#[test]
fn an_unpin_wakes_a_waiting_pin() {
    let storage = MemStorage::new();
    let pool = Arc::new(pool(&storage, 1, 4, PolicyKind::Clock));
    let held = pool.pin(&b(0)).unwrap();
    let (about_to_pin, ready) = mpsc::channel();
    let waiter = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            about_to_pin.send(()).unwrap();
            pool.pin(&b(1)).map(|g| g.read().get_u64(0).unwrap())
        })
    };
    ready.recv().unwrap();
    drop(held); // wakes the waiter (or lets it through, if it had not begun waiting)
    assert_eq!(waiter.join().unwrap().unwrap(), 0);
    assert_eq!(pool.stats().timeouts, 0);
}

#[test]
fn eviction_writes_dirty_pages_back_after_flushing_the_log() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 2, 8, PolicyKind::Fifo);
    let log = Arc::clone(pool.log());
    let lsn = log.append(b"change t:0").unwrap();
    {
        let g = pool.pin(&b(0)).unwrap();
        let mut w = g.write();
        w.set_u64(0, 7).unwrap();
        w.set_modified(1, lsn);
    }
    assert!(log.durable_lsn() <= lsn, "not yet flushed");
    drop(pool.pin(&b(1)).unwrap());
    drop(pool.pin(&b(2)).unwrap()); // FIFO evicts t:0, which is dirty
    assert!(
        log.durable_lsn() > lsn,
        "the WAL rule flushed the log first"
    );
    let s = pool.stats();
    assert_eq!((s.evictions, s.write_backs), (1, 1));
    assert_eq!(on_disk(pool.file_manager(), 0), 7);
    assert_eq!(pool.pin(&b(0)).unwrap().read().get_u64(0).unwrap(), 7);
}

#[test]
fn eviction_follows_the_policy() {
    // Frames hold 0, 1, 2 (loaded in that order); 0 is used again; then 3 needs a frame.
    for (policy, evicted) in [
        (PolicyKind::Naive, 0),
        (PolicyKind::Fifo, 0),
        (PolicyKind::Lru, 1),
        (PolicyKind::Clock, 0),
    ] {
        let storage = MemStorage::new();
        let pool = pool(&storage, 3, 8, policy);
        for n in [0, 1, 2, 0, 3] {
            drop(pool.pin(&b(n)).unwrap());
        }
        let misses = pool.stats().misses;
        drop(pool.pin(&b(evicted)).unwrap());
        assert_eq!(
            pool.stats().misses,
            misses + 1,
            "{policy:?} evicted t:{evicted}"
        );
    }
}

#[test]
fn concurrent_pins_of_a_missing_block_load_it_once() {
    let storage = MemStorage::new();
    let pool = Arc::new(pool(&storage, 4, 8, PolicyKind::Clock));
    let reads = storage.stats().reads;
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (pool, start) = (Arc::clone(&pool), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                pool.pin(&b(3)).unwrap().read().get_u64(0).unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 0);
    }
    assert_eq!(pool.stats().misses, 1);
    assert_eq!(storage.stats().reads - reads, 1, "one read from the disk");
}

#[test]
fn flush_for_writes_only_that_transactions_pages() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 4, 8, PolicyKind::Clock);
    let _g: Vec<_> = [(0, 1), (1, 2), (2, 1)]
        .iter()
        .map(|&(n, txn)| {
            let g = pool.pin(&b(n)).unwrap();
            let mut w = g.write();
            w.set_u64(0, 50 + n).unwrap();
            w.set_modified(txn, Lsn::ZERO);
            drop(w);
            g
        })
        .collect();
    assert_eq!(pool.flush_for(1).unwrap(), 2);

    assert_eq!(on_disk(pool.file_manager(), 0), 50);
    assert_eq!(
        on_disk(pool.file_manager(), 1),
        0,
        "transaction 2's page is still only in memory"
    );
    assert_eq!(on_disk(pool.file_manager(), 2), 52);
    assert_eq!(pool.flush_all().unwrap(), 1);
    assert_eq!(on_disk(pool.file_manager(), 1), 51);
}

#[test]
fn a_failed_load_frees_the_frame_and_reports_the_block() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 2, 8, PolicyKind::Clock);
    storage.fail_at(FaultOp::Read, storage.stats().reads);
    let err = pool.pin(&b(4)).unwrap_err();
    assert!(err.to_string().contains("t:4"), "{err}");
    assert_eq!(pool.available(), 2, "the frame went back to the free list");
    pool.pin(&b(4)).expect("the next try loads it");
    assert!(matches!(
        pool.pin(&b(99)),
        Err(Error::File(kv_file::Error::BlockOutOfRange { .. }))
    ));
}

#[test]
fn a_failed_write_back_keeps_the_dirty_page() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 1, 8, PolicyKind::Clock);
    pool.pin(&b(0)).unwrap().write().set_u64(0, 9).unwrap();
    storage.fail_at(FaultOp::Write, storage.stats().writes);
    let err = pool.pin(&b(1)).unwrap_err();
    assert!(err.to_string().contains("writing block t:0"), "{err}");
    assert_eq!(
        pool.pin(&b(0)).unwrap().read().get_u64(0).unwrap(),
        9,
        "the change is still in the pool"
    );
    assert_eq!(pool.flush_all().unwrap(), 1);
    assert_eq!(on_disk(pool.file_manager(), 0), 9);
}

#[test]
fn a_page_is_not_written_when_the_log_cannot_be_flushed() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 1, 8, PolicyKind::Clock);
    let lsn = pool.log().append(b"change").unwrap();
    {
        let g = pool.pin(&b(0)).unwrap();
        let mut w = g.write();
        w.set_u64(0, 5).unwrap();
        w.set_modified(1, lsn);
    }
    storage.fail_at(FaultOp::Sync, storage.stats().syncs);
    let err = pool.pin(&b(1)).unwrap_err();
    assert!(matches!(err, Error::Log(_)), "{err}");
    assert_eq!(
        on_disk(pool.file_manager(), 0),
        0,
        "the page never reached the disk"
    );
}

#[test]
fn flush_all_makes_earlier_evictions_durable_too() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 1, 4, PolicyKind::Clock);
    pool.pin(&b(0)).unwrap().write().set_u64(0, 42).unwrap();
    drop(pool.pin(&b(1)).unwrap()); // evicts t:0: written, not synced
    assert_eq!(
        pool.flush_all().unwrap(),
        0,
        "nothing dirty is left in the pool"
    );
    drop(pool);
    storage.crash(kv_file::Crash::power_loss());
    let fm = kv_file::FileManager::open_with(storage, kv_file::FileOptions::default()).unwrap();
    assert_eq!(
        on_disk(&fm, 0),
        42,
        "the evicted page survived the power loss"
    );
}

#[test]
fn a_dirty_page_that_cannot_be_written_does_not_block_other_frames() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 2, 8, PolicyKind::Lru);
    pool.pin(&b(0)).unwrap().write().set_u64(0, 1).unwrap(); // dirty, least recently used
    drop(pool.pin(&b(1)).unwrap()); // clean
    storage.fail_from(FaultOp::Write, storage.stats().writes);
    for n in 2..6 {
        let g = pool.pin(&b(n)).expect("the clean frame is used instead");
        assert_eq!(g.read().get_u64(0).unwrap(), 0);
    }
    storage.clear_faults();
    assert_eq!(
        pool.pin(&b(0)).unwrap().read().get_u64(0).unwrap(),
        1,
        "still cached"
    );
}

#[test]
fn a_missing_block_evicts_nothing() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 1, 4, PolicyKind::Clock);
    pool.pin(&b(0)).unwrap().write().set_u64(0, 1).unwrap();
    assert!(matches!(
        pool.pin(&b(99)),
        Err(Error::File(kv_file::Error::BlockOutOfRange { .. }))
    ));
    assert!(matches!(
        pool.pin(&BlockId::new("../evil", 0)),
        Err(Error::File(kv_file::Error::InvalidFileName { .. }))
    ));
    let stats = pool.stats();
    assert_eq!((stats.evictions, stats.write_backs), (0, 0));
}

#[test]
fn an_unbounded_timeout_waits_without_overflowing() {
    let storage = MemStorage::new();
    let options = BufferOptions {
        frames: 1,
        policy: PolicyKind::Clock,
        pin_timeout: Duration::MAX,
    };
    let pool = Arc::new(pool_with(&storage, 4, options));
    let held = pool.pin(&b(0)).unwrap();
    let (about_to_pin, ready) = mpsc::channel();
    let waiter = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            about_to_pin.send(()).unwrap();
            pool.pin(&b(1)).map(|_| ())
        })
    };
    ready.recv().unwrap();
    drop(held);
    waiter.join().unwrap().unwrap();
}

#[test]
fn a_policy_that_names_a_frame_the_pool_lacks_is_not_trusted() {
    #[derive(Debug)]
    struct OutOfRange;
    impl kv_buffer::ReplacementPolicy for OutOfRange {
        fn name(&self) -> &'static str {
            "out of range"
        }
        fn on_load(&mut self, _: usize) {}
        fn on_access(&mut self, _: usize) {}
        fn victim(&mut self, _: &dyn Fn(usize) -> bool) -> Option<usize> {
            Some(99)
        }
    }
    let storage = MemStorage::new();
    let fm = Arc::new(
        kv_file::FileManager::open_with(storage, kv_file::FileOptions::default()).unwrap(),
    );
    fm.truncate("t", 4).unwrap();
    let log = Arc::new(kv_log::LogManager::open(Arc::clone(&fm), "wal").unwrap());
    let options = BufferOptions {
        frames: 1,
        policy: PolicyKind::Clock,
        pin_timeout: Duration::from_millis(10),
    };
    let pool = kv_buffer::BufferPool::with_policy(fm, log, options, |_| Box::new(OutOfRange));
    drop(pool.pin(&b(0)).unwrap());
    let err = pool.pin(&b(1)).unwrap_err();
    assert!(matches!(err, Error::BufferExhausted { .. }), "{err}");
}

#[test]
fn discarded_blocks_are_forgotten_unwritten_and_pinned_ones_refuse() {
    let storage = MemStorage::new();
    let pool = pool(&storage, 4, 8, PolicyKind::Lru);
    for n in [1, 5, 6] {
        let g = pool.pin(&b(n)).unwrap();
        g.write().set_u64(0, 40 + n).unwrap(); // dirty
    }
    let held = pool.pin(&b(6)).unwrap();
    assert!(
        !pool.discard("t", 5),
        "block 6 is pinned: nothing is forgotten"
    );
    drop(held);
    assert!(pool.discard("t", 5));
    assert_eq!(pool.flush_all().unwrap(), 1, "only block 1 is still dirty");
    assert_eq!(on_disk(pool.file_manager(), 1), 41);
    assert_eq!(
        on_disk(pool.file_manager(), 5),
        0,
        "a discarded page is never written"
    );
    // The frames are free again, and the file can be cut under the pool.
    pool.file_manager().truncate("t", 5).unwrap();
    let err = pool.pin(&b(5)).unwrap_err();
    assert!(err.to_string().contains("t:5"), "{err}");
    assert_eq!(pool.pin(&b(1)).unwrap().read().get_u64(0).unwrap(), 41);
    assert_eq!(pool.available(), 4);
}
