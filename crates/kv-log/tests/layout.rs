//! Snapshot of the log's bytes: a segment header and three records. A change here is a
//! format change (update `docs/format.md` and the snapshot together).

mod common;

use kv_file::MemStorage;
use kv_log::LogOptions;

/// A `hexdump -C`-style dump.
fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = line
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  |{text}|\n",
            i * 16,
            hex.join(" ")
        ));
    }
    out.push_str(&format!("{:08x}\n", bytes.len()));
    out
}

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
