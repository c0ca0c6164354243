//! Log records appended after a real database's last checkpoint, then recovery: the
//! decoder, redo (updates, compensations, page images) and undo (following `prev` and
//! `undo_next` chains) all meet the fuzzer's records.
//!
//! The log manager frames each record, so its checksum is valid and recovery must judge
//! the record by its content. The input is a small language, so seeds can be written from
//! real records and mutations stay meaningful (a `prev` that names "the record 3 back", a
//! block of "data file 1"):
//!
//! ```text
//! tag 0 raw       len:u16 bytes          the payload as is (the decoder's own input)
//! tag 1 start     txn:u8
//! tag 2 commit    txn:u8 prev:u8         prev: 0 = none, k = the k-th record back,
//! tag 3 rollback  txn:u8 prev:u8           255 = this record itself (a chain that loops),
//!                                          past the start: a position that is no record
//! tag 4 update    txn prev file:u8 block offset:u16 len:u16 before len:u16 after
//! tag 5 undone    txn prev undo_next:u8 file block offset len:u16 image
//! tag 6 image     file block len:u16 image
//! tag 7 checkpoint redo_from:u8
//! tag 255         the rest is written raw after the last record (a torn or garbage tail)
//! ```
//!
//! Other tags are taken modulo 8. `file & 0x3f` indexes the base's files (data files and
//! log segments, sorted); 255 names a file that does not exist; with bit 0x40 set, `block`
//! is a u64, otherwise a u16. Integers are big-endian; a field cut short by the end of
//! input reads as zero.

use std::sync::Arc;

use kv_db::Db;
use kv_file::{BlockId, FileManager, FileOptions, Storage};
use kv_log::{LogManager, Lsn};
use kv_tx::{LogRecord, TxOptions, LOG_NAME};

use crate::fixture;
use crate::input::Reader;

/// The most records one input appends: enough for several transactions, few enough that
/// one input runs in milliseconds.
const MAX_RECORDS: usize = 256;

/// Turns indices of the input language into the values records hold.
struct Names<'a> {
    files: &'a [String],
    appended: &'a [Lsn],
    /// The LSN the record being read will get.
    own: Lsn,
}

impl Names<'_> {
    fn lsn(&self, back: u8) -> Lsn {
        match back as usize {
            0 => Lsn(0),
            255 => self.own,
            k if k <= self.appended.len() => self.appended[self.appended.len() - k],
            k => Lsn(k as u64), // before the first record: never one
        }
    }

    fn block(&self, r: &mut Reader<'_>) -> BlockId {
        let file = r.u8();
        let name = match self
            .files
            .get(usize::from(file & 0x3f) % self.files.len().max(1))
        {
            Some(name) if file != 255 => name.clone(),
            _ => "nosuch".to_owned(),
        };
        let number = match file & 0x40 {
            0 => u64::from(r.u16()),
            _ => r.u64(),
        };
        BlockId::new(name, number)
    }
}

/// Reads the next record of the input, or `None` at its end or at a tail marker.
fn next_record(r: &mut Reader<'_>, names: &Names<'_>) -> Option<Vec<u8>> {
    if r.0.is_empty() {
        return None;
    }
    let tag = r.u8();
    if tag == 255 {
        return None;
    }
    let txn = |r: &mut Reader<'_>| u64::from(r.u8());
    let record = match tag % 8 {
        0 => return Some(r.sized()),
        1 => LogRecord::Start { txn: txn(r) },
        2 | 3 => {
            let (txn, prev) = (txn(r), names.lsn(r.u8()));
            match tag % 8 {
                2 => LogRecord::Commit { txn, prev },
                _ => LogRecord::Rollback { txn, prev },
            }
        }
        4 => LogRecord::Update {
            txn: txn(r),
            prev: names.lsn(r.u8()),
            block: names.block(r),
            offset: u32::from(r.u16()),
            before: r.sized(),
            after: r.sized(),
        },
        5 => LogRecord::Compensation {
            txn: txn(r),
            prev: names.lsn(r.u8()),
            undo_next: names.lsn(r.u8()),
            block: names.block(r),
            offset: u32::from(r.u16()),
            image: r.sized(),
        },
        6 => LogRecord::PageImage {
            block: names.block(r),
            image: r.sized(),
        },
        _ => LogRecord::Checkpoint {
            redo_from: names.lsn(r.u8()),
        },
    };
    Some(record.encode())
}

/// Appends the input's records to the clean base's log; returns the storage and the tail.
fn write_log(data: &[u8]) -> Option<(kv_file::MemStorage, Vec<u8>)> {
    let storage = fixture::clean();
    let files = fixture::page_files(&storage, true);
    let fm = Arc::new(FileManager::open_with(storage.clone(), FileOptions::default()).ok()?);
    let log = LogManager::open_with(Arc::clone(&fm), LOG_NAME, TxOptions::default().log).ok()?;
    let mut r = Reader(data);
    let mut appended = Vec::new();
    while appended.len() < MAX_RECORDS {
        let names = Names {
            files: &files,
            appended: &appended,
            own: log.end_lsn(),
        };
        let Some(payload) = next_record(&mut r, &names) else {
            break;
        };
        // A payload the log refuses (too large) is the log's error to give, not ours.
        appended.push(log.append(&payload).ok()?);
    }
    log.flush_all().ok()?;
    Some((storage, r.0.to_vec()))
}

/// Runs one input; panics only if the engine panicked or broke a promise.
pub fn check(data: &[u8]) {
    let Some((storage, tail)) = write_log(data) else {
        return;
    };
    if !tail.is_empty() {
        let last = fixture::files(&storage)
            .into_iter()
            .rfind(|name| name.starts_with(LOG_NAME));
        if let Some(file) = last.and_then(|name| storage.open_file(&name).ok()) {
            let end = file.size().unwrap_or(0);
            let _ = file.write_at(&tail, end).and_then(|()| file.sync());
        }
    }
    // (Even the seeds, real records, may fail: replayed after a checkpoint they were not
    // written after, their page LSNs and images need not fit. Any result but a panic.)
    let _ = fixture::open_and_exercise(storage);
}

/// Writes `records` (read from a log, with their LSNs) in the input language.
fn encode(records: &[(Lsn, LogRecord)], files: &[String]) -> Vec<u8> {
    let back = |at: usize, lsn: &Lsn| -> u8 {
        records[..at]
            .iter()
            .rposition(|(l, _)| l == lsn)
            .filter(|i| at - i < 255) // farther back: written as "none"
            .map_or(0, |i| (at - i) as u8)
    };
    let file = |block: &BlockId| -> u8 {
        files
            .iter()
            .position(|f| f == block.file())
            .map_or(255, |i| i as u8)
    };
    let mut out = Vec::new();
    let sized = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len().min(u16::MAX as usize) as u16).to_be_bytes());
        out.extend_from_slice(&b[..b.len().min(u16::MAX as usize)]);
    };
    let block_at = |out: &mut Vec<u8>, block: &BlockId| match u16::try_from(block.number()) {
        Ok(n) => {
            out.push(file(block));
            out.extend_from_slice(&n.to_be_bytes());
        }
        Err(_) => {
            out.push(file(block) | 0x40);
            out.extend_from_slice(&block.number().to_be_bytes());
        }
    };
    let place = |out: &mut Vec<u8>, block: &BlockId, offset: u32| {
        block_at(out, block);
        out.extend_from_slice(&(offset as u16).to_be_bytes());
    };
    for (at, (_, record)) in records.iter().enumerate() {
        match record {
            LogRecord::Start { txn } => out.extend([1, *txn as u8]),
            LogRecord::Commit { txn, prev } => out.extend([2, *txn as u8, back(at, prev)]),
            LogRecord::Rollback { txn, prev } => out.extend([3, *txn as u8, back(at, prev)]),
            LogRecord::Update {
                txn,
                prev,
                block,
                offset,
                before,
                after,
            } => {
                out.extend([4, *txn as u8, back(at, prev)]);
                place(&mut out, block, *offset);
                sized(&mut out, before);
                sized(&mut out, after);
            }
            LogRecord::Compensation {
                txn,
                prev,
                undo_next,
                block,
                offset,
                image,
            } => {
                out.extend([5, *txn as u8, back(at, prev), back(at, undo_next)]);
                place(&mut out, block, *offset);
                sized(&mut out, image);
            }
            LogRecord::PageImage { block, image } => {
                out.push(6);
                block_at(&mut out, block);
                sized(&mut out, image);
            }
            LogRecord::Checkpoint { redo_from } => out.extend([7, back(at, redo_from)]),
        }
    }
    out
}

/// The seed inputs: the records real transactions write after the clean base's checkpoint
/// — one committed, one rolled back, one in flight at a crash — and the same with a torn
/// tail and with a raw record.
pub fn seeds() -> Vec<Vec<u8>> {
    let storage = fixture::clean();
    let files = fixture::page_files(&storage, true);
    let db = Db::open_on(storage.clone(), fixture::options()).expect("the base opens");
    let from = db.tx_manager().log().end_lsn();
    let ks = db.keyspace("a").expect("keyspace a exists");
    db.transaction(|tx| ks.put(tx, b"a-0001", b"committed"))
        .expect("a commit");
    let mut tx = db.begin().expect("a transaction");
    ks.delete(&mut tx, b"a-0002").expect("a delete");
    tx.rollback().expect("a rollback");
    let mut tx = db.begin().expect("a transaction");
    for i in 0..20u32 {
        ks.put(&mut tx, format!("a-{i:04}").as_bytes(), b"in flight")
            .expect("a put");
    }
    let log = Arc::clone(db.tx_manager().log());
    log.flush_all().expect("the log flushes");
    let records: Vec<(Lsn, LogRecord)> = log
        .iter_from(from)
        .expect("the log reads")
        .map(|r| {
            let (lsn, bytes) = r.expect("a sound record");
            (lsn, LogRecord::decode(&bytes, lsn).expect("a sound record"))
        })
        .collect();
    drop(tx);
    drop(db);
    let all = encode(&records, &files);
    let mut torn = all.clone();
    torn.extend([255, 0x31, 0, 0, 0, 0xde, 0xad]);
    let mut raw = vec![0];
    let first = records[0].1.encode();
    raw.extend_from_slice(&(first.len() as u16).to_be_bytes());
    raw.extend_from_slice(&first);
    let committed = encode(&records[..records.len().min(8)], &files);
    // Hand-written damage: an undo chain naming itself, an update of the log's own file,
    // a page image at block 4,096 (a u64 block number).
    let wal = files.iter().position(|f| f.starts_with(LOG_NAME));
    let wal = wal.expect("the base has a log segment") as u8;
    let looping = [&[1, 90, 5, 90, 1, 255, 0, 0, 1, 0, 8, 0, 8][..], &[7; 8]].concat();
    let into_log = [
        &[1, 91, 4, 91, 1, wal, 0, 0, 0, 8, 0, 8][..],
        &[0; 8],
        &[0, 8],
        &[9; 8],
    ]
    .concat();
    let far = [&[6, 0x40, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 16][..], &[1; 16]].concat();
    vec![all, torn, raw, committed, looping, into_log, far]
}
