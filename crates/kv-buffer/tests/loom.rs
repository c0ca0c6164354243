//! loom models of the buffer pool's pin, unpin and eviction: threads pinning more blocks
//! than the pool has frames, run under every interleaving loom can reach (see
//! `kv_log::sync::check`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p kv-buffer --test loom`; without
//! `--cfg loom` this file is empty. Under loom the page table's mutex, the `loaded` and
//! `unpinned` condition variables, the page latches and the frames' atomics (pin counts,
//! dirty flags, versions, LSNs) are loom's (`kv_log::sync`). The disk is a `MemStorage`,
//! whose std mutex is never held across a loom operation, so each disk access is one step.
//! The pin timeout is too large to represent, so `pin` waits without a deadline: loom
//! cannot model time, and the models need every wait to end by a wake-up.
//!
//! The invariants, checked in every interleaving:
//! - a pinned frame is never evicted or reloaded: while a guard lives, its page holds its
//!   block's marker (checked right after the pin and again after writing, before the unpin);
//! - a dirty page is written back before its frame is reused: a block evicted after a
//!   change reads back with the change, and the log is durable up to the change's LSN
//!   whenever the disk holds it (the WAL rule);
//! - a pin that waits for an unpin is woken: else it waits forever, which loom reports.
#![cfg(loom)]

use std::sync::Arc;
use std::time::Duration;

use kv_buffer::{BufferOptions, BufferPool, PolicyKind};
use kv_file::{BlockId, FileManager, FileOptions, MemStorage};
use kv_log::sync::check;
use kv_log::{LogManager, Lsn};

/// Where each block keeps its marker (its number + 1), written before the pool opens.
const MARKER: usize = 0;
/// Where a thread records its change to a block.
const CHANGE: usize = 1;

/// A pool of `frames` frames over a fresh simulated disk holding `blocks` marked blocks of
/// "t", and its file manager, to look at the disk behind the pool's back.
fn marked_pool(frames: usize, blocks: u64) -> (Arc<BufferPool>, Arc<FileManager>) {
    let storage = MemStorage::new();
    let fm = FileManager::open_with(storage, FileOptions::default().block_size(512)).unwrap();
    let fm = Arc::new(fm);
    for n in 0..blocks {
        let block = fm.append("t").unwrap();
        let mut page = fm.new_page();
        page.set_u8(MARKER, n as u8 + 1).unwrap();
        fm.write(&block, &mut page).unwrap();
    }
    let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal").unwrap());
    let options = BufferOptions {
        frames,
        policy: PolicyKind::Clock,
        pin_timeout: Duration::MAX, // no deadline: see the file's docs
    };
    let pool = BufferPool::new(Arc::clone(&fm), log, options);
    (Arc::new(pool), fm)
}

fn block(n: u64) -> BlockId {
    BlockId::new("t", n)
}

/// Pins block `n`, checks it is block `n`, logs and makes a change (`value` at `CHANGE`),
/// checks again that the frame still holds block `n`, and unpins. Returns the change's LSN.
fn change(pool: &BufferPool, n: u64, txn: u64, value: u8) -> Lsn {
    let lsn = pool.log().append(&[value]).unwrap();
    let guard = pool.pin(&block(n)).unwrap();
    assert_eq!(
        guard.read().get_u8(MARKER).unwrap(),
        n as u8 + 1,
        "pinned the wrong page"
    );
    {
        let mut page = guard.write();
        page.set_u8(CHANGE, value).unwrap();
        page.set_modified(txn, lsn);
    }
    assert_eq!(
        guard.read().get_u8(MARKER).unwrap(),
        n as u8 + 1,
        "evicted while pinned"
    );
    lsn
}

/// Pins block `n` and checks it holds its marker and `value` (its last change).
fn expect(pool: &BufferPool, n: u64, value: u8) {
    let guard = pool.pin(&block(n)).unwrap();
    let page = guard.read();
    assert_eq!(
        page.get_u8(MARKER).unwrap(),
        n as u8 + 1,
        "pinned the wrong page"
    );
    assert_eq!(page.get_u8(CHANGE).unwrap(), value, "a change was lost");
}

/// What the disk holds at `CHANGE` of block `n`, read behind the pool's back.
fn on_disk(fm: &FileManager, n: u64) -> u8 {
    let mut page = fm.new_page();
    fm.read(&block(n), &mut page).unwrap();
    page.get_u8(CHANGE).unwrap()
}

/// One frame, two threads, two blocks: A changes block 0 then pins it again, B changes
/// block 1. Every pin of the block not in the frame must evict the other — after waiting,
/// if it is pinned, for the unpin to wake it — and write it back first if dirty (flushing
/// the log up to its LSN). Explored races include: A re-pinning block 0 while B's eviction
/// is writing it back with the table lock released (B must then see the frame reused and
/// choose again, not load over A's pin); B announcing its wait just as A unpins (the
/// `waiting` counter and the lock taken by `unpin` close that window); a pin of a block
/// whose load is in progress waiting on `loaded`. At most 7 preemptions: unbounded it is
/// about 600,000 interleavings (all pass, in over a minute: too slow for every CI run).
#[test]
fn one_frame_two_threads_evict_only_unpinned_pages_and_write_them_back() {
    check("buffer pool: one frame, two threads", Some(7), || {
        let (pool, fm) = marked_pool(1, 2);
        let b = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || change(&pool, 1, 2, 0xbb))
        };
        let lsn_a = change(&pool, 0, 1, 0xaa);
        expect(&pool, 0, 0xaa);
        let lsn_b = b.join().unwrap();
        // What reached the disk meanwhile obeyed the WAL rule.
        for (n, lsn, value) in [(0, lsn_a, 0xaa), (1, lsn_b, 0xbb)] {
            match on_disk(&fm, n) {
                0 => {}
                written if written == value => {
                    assert!(
                        pool.log().durable_lsn() > lsn,
                        "block {n} written before its log"
                    )
                }
                other => panic!("block {n} holds {other:#x} on disk"),
            }
        }
        // One frame: pinning one block evicts the other, which must be written back first.
        expect(&pool, 0, 0xaa);
        expect(&pool, 1, 0xbb);
        assert_eq!(on_disk(&fm, 0), 0xaa, "block 0 evicted without write-back");
        expect(&pool, 0, 0xaa);
        assert_eq!(on_disk(&fm, 1), 0xbb, "block 1 evicted without write-back");
        assert_eq!(pool.available(), 1, "a pin leaked");
    });
}

/// Two threads pin the same block, not cached, at once. Only one may read it from disk:
/// the other finds the frame `loading` and waits on `loaded` (a wake-up it must not miss),
/// then shares the frame. Invariant: one miss, one hit, both see the block.
#[test]
fn two_pins_of_one_missing_block_load_it_once() {
    check("buffer pool: two pins of one block", None, || {
        let (pool, _) = marked_pool(1, 1);
        let other = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || expect(&pool, 0, 0))
        };
        expect(&pool, 0, 0);
        other.join().unwrap();
        let stats = pool.stats();
        assert_eq!((stats.misses, stats.hits), (1, 1), "{stats:?}");
    });
}

/// A writer changes block 0 twice while another thread flushes the pool. The flush copies
/// the page under a read latch and writes the copy unlatched; if the second change lands
/// meanwhile, the frame must stay dirty (its `version` moved), or a later flush would skip
/// it and the disk keep the older copy. Invariant: after a final flush the disk holds the
/// second change, and the log is durable past it. At most 4 preemptions: unbounded, the
/// search had not finished after 3 minutes.
#[test]
fn a_flush_racing_a_writer_never_loses_the_newer_change() {
    check("buffer pool: flush racing a writer", Some(4), || {
        let (pool, fm) = marked_pool(2, 1);
        let flusher = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || {
                pool.flush_all().unwrap();
            })
        };
        change(&pool, 0, 1, 0xaa);
        let last = change(&pool, 0, 1, 0xab);
        flusher.join().unwrap();
        pool.flush_all().unwrap();
        assert_eq!(on_disk(&fm, 0), 0xab, "the newer change was lost");
        assert!(
            pool.log().durable_lsn() > last,
            "page written before its log"
        );
    });
}
