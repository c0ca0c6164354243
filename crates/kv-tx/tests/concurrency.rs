//! Transactions on many threads, with checkpoints running alongside. (Until chapter 6 adds
//! locks, each thread keeps to its own page: physical undo needs that.)

use std::sync::Barrier;

use kv_file::{BlockId, Crash, MemStorage};
use std::collections::HashMap;

use kv_log::Lsn;
use kv_tx::{LogRecord, PageRead, TxManager, TxOptions};

/// The rule torn-page repair rests on: after each checkpoint's redo point, the first record
/// that touches a page is a full image of it. (A race between a checkpoint and a change once
/// broke it; this checks every checkpoint still in the log.)
fn check_page_image_rule(db: &TxManager) {
    let records: Vec<(Lsn, LogRecord)> = db
        .log()
        .iter_from(db.log().first_lsn())
        .unwrap()
        .map(|r| {
            let (lsn, bytes) = r.unwrap();
            (lsn, LogRecord::decode(&bytes, lsn).unwrap())
        })
        .collect();
    // Checkpoints whose redo point is still in the log: at or after the first segment's start
    // (a redo point can be that start itself, just before the segment's header).
    let first_segment = db.log().first_lsn().0 - kv_log::SEGMENT_HEADER_SIZE as u64;
    let redo_points: Vec<Lsn> = records
        .iter()
        .filter_map(|(_, r)| match r {
            LogRecord::Checkpoint { redo_from } => Some(*redo_from),
            _ => None,
        })
        .filter(|r| r.0 >= first_segment)
        .collect();
    assert!(!redo_points.is_empty());
    for redo_from in redo_points {
        let mut first: HashMap<BlockId, bool> = HashMap::new();
        for (_, record) in records.iter().filter(|(lsn, _)| *lsn >= redo_from) {
            let (block, is_image) = match record {
                LogRecord::Update { block, .. } | LogRecord::Compensation { block, .. } => {
                    (block, false)
                }
                LogRecord::PageImage { block, .. } => (block, true),
                _ => continue,
            };
            let was_image = *first.entry(block.clone()).or_insert(is_image);
            assert!(
                was_image,
                "after {redo_from}, {block} is first changed without an image"
            );
        }
    }
}

#[test]
fn threads_commit_and_roll_back_while_checkpoints_run() {
    const THREADS: usize = 4;
    const TXNS: u64 = 150;
    let storage = MemStorage::new();
    let mut options = TxOptions::default();
    options.file = options.file.block_size(512);
    options.buffer.frames = 3; // fewer frames than threads' pages: steal under pressure
    options.log.segment_size = 2048;
    let blocks: Vec<BlockId> = {
        let db = TxManager::open_with(storage.clone(), options).unwrap();
        let mut tx = db.begin().unwrap();
        let blocks = (0..THREADS).map(|_| tx.append("t").unwrap()).collect();
        tx.commit().unwrap();
        let start = Barrier::new(THREADS + 1);
        std::thread::scope(|s| {
            for block in &blocks {
                let (db, start) = (&db, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 1..=TXNS {
                        let mut tx = db.begin().unwrap();
                        let n = tx.get_u64(block, 8).unwrap();
                        tx.set_u64(block, 8, n + 1).unwrap();
                        tx.set_u64(block, 16, i * 1000).unwrap();
                        if i % 5 == 0 {
                            tx.rollback().unwrap();
                        } else {
                            tx.commit().unwrap();
                        }
                    }
                });
            }
            start.wait();
            for _ in 0..20 {
                db.checkpoint().unwrap();
            }
        });
        assert_eq!(db.active_count(), 0);
        check_page_image_rule(&db);
        std::mem::forget(db);
        blocks
    };
    storage.crash(Crash::power_loss());
    let db = TxManager::open_with(storage, options).unwrap();
    let mut tx = db.begin().unwrap();
    for block in &blocks {
        assert_eq!(tx.get_u64(block, 8).unwrap(), TXNS - TXNS / 5, "{block}");
        assert_eq!(tx.get_u64(block, 16).unwrap(), (TXNS - 1) * 1000, "{block}");
    }
}
