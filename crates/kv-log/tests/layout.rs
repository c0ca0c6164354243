//! Snapshot of the log's bytes: a segment header and three records. A change here is a
//! format change (update `docs/format.md` and the snapshot together).

mod common;

use kv_file::{hexdump, MemStorage};
use kv_log::LogOptions;

#[test]
fn segment_and_record_layout() {
    let storage = MemStorage::new();
    let log = common::open(&storage, LogOptions::default()).unwrap();
    let a = log.append(b"begin tx 7").unwrap();
    let b = log.append(b"").unwrap();
    let c = log.append(b"commit tx 7").unwrap();
    log.flush(c).unwrap();
    assert_eq!((a.0, b.0, c.0), (32, 54, 66), "LSNs are byte positions");
    let bytes = storage.file_bytes("wal.00000000000000000000").unwrap();
    insta::assert_snapshot!("segment_with_three_records", hexdump(&bytes));
}
