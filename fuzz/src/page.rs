//! One page of a real database replaced by the fuzzer's bytes, sealed with a valid
//! checksum so that the B+tree's node decoding (not the checksum) meets them.
//!
//! Input: a byte choosing the file, two choosing the block, then the new payload; a payload
//! shorter than the page keeps the original's remaining bytes, so a seed that is a real
//! page's payload, mutated, is a page with a few fields wrong — the interesting case.

use kv_file::{BlockId, FileManager, FileOptions};

use crate::fixture;

/// Runs one input; panics only if the engine panicked or broke a promise.
pub fn check(data: &[u8]) {
    let [file, hi, lo, payload @ ..] = data else {
        return;
    };
    let unchanged: bool;
    let storage = fixture::clean();
    let names = fixture::page_files(&storage, false);
    let name = &names[*file as usize % names.len()];
    {
        let Ok(fm) = FileManager::open_with(storage.clone(), FileOptions::default()) else {
            return;
        };
        let blocks = fm.length(name).unwrap_or(0).max(1);
        let block = BlockId::new(
            name.as_str(),
            u64::from(u16::from_be_bytes([*hi, *lo])) % blocks,
        );
        let mut page = fm.new_page();
        if fm.read(&block, &mut page).is_err() {
            return;
        }
        let room = page.payload().len().min(payload.len());
        unchanged = page.payload()[..room] == payload[..room];
        page.payload_mut()[..room].copy_from_slice(&payload[..room]);
        if fm
            .write(&block, &mut page)
            .and_then(|()| fm.sync(name))
            .is_err()
        {
            return;
        }
    } // the file manager's directory lock is released here
    let result = fixture::open_and_exercise(storage);
    // The page rewritten as it was: the database is healthy and everything must work.
    assert!(
        result.is_ok() || !unchanged,
        "an undamaged database failed: {result:?}"
    );
}

/// The seed inputs: every page of every data file of the base database, as it is.
pub fn seeds() -> Vec<Vec<u8>> {
    let storage = fixture::clean();
    let names = fixture::page_files(&storage, false);
    let fm = FileManager::open_with(storage.clone(), FileOptions::default())
        .expect("the base database's files open");
    let mut seeds = Vec::new();
    for (f, name) in names.iter().enumerate() {
        for n in 0..fm.length(name).expect("a data file has a length") {
            let mut page = fm.new_page();
            fm.read(&BlockId::new(name.as_str(), n), &mut page)
                .expect("the base database is sound");
            let mut seed = vec![f as u8];
            seed.extend_from_slice(&(n as u16).to_be_bytes());
            seed.extend_from_slice(page.payload());
            seeds.push(seed);
        }
    }
    seeds
}
