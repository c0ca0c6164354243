//! Snapshot tests of the on-disk layout: a change to these bytes is a change to the file
//! format, and must be deliberate (update `docs/format.md` and the snapshot together).
//!
//! Run with `cargo test -p kv-file --test layout`; review changes with `cargo insta review`.

use kv_file::{hexdump, BlockId, FileManager, FileOptions, MemStorage, HEADER_FILE};

#[test]
fn page_layout_on_disk() {
    let storage = MemStorage::new();
    let fm =
        FileManager::open_with(storage.clone(), FileOptions::default().block_size(512)).unwrap();
    fm.append("t").unwrap();
    let block = fm.append("t").unwrap();
    let mut page = fm.new_page();
    page.set_u8(0, 0xab).unwrap();
    page.set_u16(1, 0x0102).unwrap();
    page.set_u32(3, 0x0a0b_0c0d).unwrap();
    page.set_u64(7, 42).unwrap();
    page.set_i32(15, -2).unwrap();
    page.set_i64(19, -1).unwrap();
    page.set_bytes(32, &[0xde, 0xad, 0xbe, 0xef]).unwrap();
    page.set_string(48, "KanthorKV").unwrap();
    assert_eq!(block, BlockId::new("t", 1));
    fm.write(&block, &mut page).unwrap();
    let file = storage.file_bytes("t").unwrap();
    insta::assert_snapshot!("block_1_of_512", hexdump(&file[512..]));
    insta::assert_snapshot!("block_0_fresh", hexdump(&file[..512]));
}

#[test]
fn directory_header_layout() {
    let storage = MemStorage::new();
    drop(FileManager::open_with(storage.clone(), FileOptions::default()).unwrap());
    insta::assert_snapshot!(
        "header_4096",
        hexdump(&storage.file_bytes(HEADER_FILE).unwrap())
    );
}
