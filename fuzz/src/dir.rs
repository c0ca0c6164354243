//! A real database directory — a crashed one, so recovery has work to do — damaged
//! anywhere, then opened: the header, the log and every data file meet flipped bits,
//! overwritten sectors and cut files, with no help past the checksums. Opening must report
//! the damage as an error; a database that opens must answer `check()` and every read and
//! write with a result or an error, never a panic.
//!
//! Input: up to 32 six-byte mutations, `kind file offset:u24 value`; `file` indexes the
//! directory's files (sorted), `offset` wraps at the file's size:
//!
//! ```text
//! kind 0  xor the byte at offset with value
//! kind 1  zero the 512-byte sector at offset (a lost write)
//! kind 2  cut the file at offset
//! kind 3  copy the sector at offset over the one `value` sectors further, or append it if
//!         that is past the end (a misdirected write)
//! ```

use kv_file::{MemStorage, Storage};

use crate::fixture;

/// The most mutations one input applies.
const MAX_MUTATIONS: usize = 32;

/// Applies one mutation; a file that cannot be opened is left alone.
fn damage(storage: &MemStorage, names: &[String], m: &[u8]) {
    let &[kind, file, a, b, c, value] = m else {
        return;
    };
    let Some(file) = names
        .get(file as usize % names.len().max(1))
        .and_then(|name| storage.open_file(name).ok())
    else {
        return;
    };
    let size = file.size().unwrap_or(0);
    let at = u64::from(u32::from_be_bytes([0, a, b, c])) % (size + 1);
    let sector = at / 512 * 512;
    let _ = match kind % 4 {
        0 => {
            let mut byte = [0u8];
            let _ = file.read_at(&mut byte, at); // at the end: appends one byte
            file.write_at(&[byte[0] ^ value], at)
        }
        1 => file.write_at(&[0; 512], sector),
        2 => file.set_len(at),
        _ => {
            let mut bytes = [0u8; 512];
            let n = file.read_at(&mut bytes, sector).unwrap_or(0);
            let to = sector + 512 * u64::from(value);
            file.write_at(&bytes[..n], to.min(size)) // past the end: appended
        }
    };
    let _ = file.sync();
}

/// Runs one input; panics only if the engine panicked or broke a promise.
pub fn check(data: &[u8]) {
    let storage = fixture::crashed();
    let names = fixture::files(&storage);
    for m in data.chunks(6).take(MAX_MUTATIONS) {
        damage(&storage, &names, m);
    }
    let result = fixture::open_and_exercise(storage);
    assert!(
        result.is_ok() || !data.is_empty(),
        "an undamaged database failed: {result:?}"
    );
}

/// The seed inputs: no damage, then one kind of damage to each file at a few places.
pub fn seeds() -> Vec<Vec<u8>> {
    let names = fixture::files(&fixture::crashed());
    let mut seeds = vec![Vec::new()];
    for file in 0..names.len() as u8 {
        for (kind, at, value) in [
            (0u8, 3u32, 0x40u8),
            (1, 600, 0),
            (2, 1000, 0),
            (3, 0, 2),
            (0, 515, 1),
        ] {
            let [_, a, b, c] = at.to_be_bytes();
            seeds.push(vec![kind, file, a, b, c, value]);
        }
    }
    seeds
}
