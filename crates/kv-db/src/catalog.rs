//! The catalog: a B+tree in file `catalog` mapping each keyspace's name to its number `n`
//! (the keyspace lives in file `ks<n>`), and the next number to hand out.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use kv_index::{BTree, Index};
use kv_tx::{PageRead, Transaction};

use crate::keyspace::{Keyspace, CREATING, LIVE};
use crate::{Error, Result};

/// The catalog's file.
pub(crate) const CATALOG: &str = "catalog";
/// Catalog key of the next keyspace number.
const NEXT_ID: &[u8] = b"next-id";
/// Catalog keys of keyspaces are this prefix and the name.
pub(crate) const NAME_PREFIX: &[u8] = b"name/";

/// A keyspace name must be usable as a catalog key: not empty, at most 255 bytes.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > 255 {
        "longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKeyspace {
        name: name.to_owned(),
        reason,
    })
}

/// The catalog key of keyspace `name`.
pub(crate) fn name_key(name: &str) -> Vec<u8> {
    [NAME_PREFIX, name.as_bytes()].concat()
}

/// The file of keyspace number `id`.
pub(crate) fn file_of(id: u64) -> String {
    format!("ks{id}")
}

/// The keyspace number of a file named like a keyspace's (`ks` and digits).
pub(crate) fn id_of_file(file: &str) -> Option<u64> {
    let digits = file.strip_prefix("ks")?;
    match !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        true => digits.parse().ok(),
        false => None,
    }
}

fn decode_id(bytes: &[u8]) -> u64 {
    let mut id = [0u8; 8];
    let n = bytes.len().min(8);
    id[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(id)
}

/// Every keyspace in the catalog, `(name, number)` in name order.
pub(crate) fn entries(catalog: &BTree, tx: &mut impl PageRead) -> Result<Vec<(String, u64)>> {
    catalog
        .prefix(tx, NAME_PREFIX)?
        .map(|entry| {
            let (key, id) = entry?;
            let name = String::from_utf8_lossy(&key[NAME_PREFIX.len()..]).into_owned();
            Ok((name, decode_id(&id)))
        })
        .collect()
}

/// The number the next keyspace created will get. Read in a read-write transaction, it
/// keeps keyspace creation out until that transaction ends (a creator must change it).
pub(crate) fn next_id(catalog: &BTree, tx: &mut impl PageRead) -> Result<u64> {
    Ok(catalog.get(tx, NEXT_ID)?.map_or(1, |b| decode_id(&b)))
}

/// The keyspace `name` if the catalog has it.
pub(crate) fn find(
    catalog: &BTree,
    tx: &mut impl PageRead,
    name: &str,
) -> Result<Option<Keyspace>> {
    let Some(id) = catalog.get(tx, &name_key(name))? else {
        return Ok(None);
    };
    let tree = BTree::open(tx, &file_of(decode_id(&id)))?;
    Ok(Some(Keyspace {
        name: Arc::from(name),
        tree,
        dropped: Arc::new(AtomicU64::new(LIVE)),
        created: Arc::new(AtomicU64::new(0)),
    }))
}

// ANCHOR: find_or_create
/// The keyspace `name`, created in `tx` if the catalog does not have it: a number from the
/// catalog's counter, a B+tree in a new file named after it, and the catalog entry.
pub(crate) fn find_or_create(
    catalog: &BTree,
    tx: &mut Transaction<'_>,
    name: &str,
) -> Result<Keyspace> {
    if let Some(ks) = find(catalog, tx, name)? {
        return Ok(ks);
    }
    let id = next_id(catalog, tx)?;
    catalog.put(tx, NEXT_ID, &(id + 1).to_le_bytes())?;
    // (A creation that rolled back may have left blocks in this file — appends are not
    // undone — but they are zeroes, and `BTree::create` reuses them.)
    let tree = BTree::create(tx, &file_of(id))?;
    catalog.put(tx, &name_key(name), &id.to_le_bytes())?;
    Ok(Keyspace {
        name: Arc::from(name),
        tree,
        dropped: Arc::new(AtomicU64::new(LIVE)),
        created: Arc::new(AtomicU64::new(CREATING)),
    })
}
// ANCHOR_END: find_or_create
