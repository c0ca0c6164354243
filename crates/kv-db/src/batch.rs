//! `WriteBatch`: changes gathered in memory, then applied atomically in one transaction.

use crate::keyspace::Keyspace;
use crate::{Result, Txn};

/// One change of a batch.
#[derive(Debug, Clone)]
enum Change {
    /// Store the value.
    Put(Vec<u8>),
    /// Remove the key.
    Delete,
}

// ANCHOR: batch
/// Puts and deletes gathered without a transaction, applied all or nothing by
/// [`Db::write`](crate::Db::write). Applying sorts them by keyspace and key, so a bulk load
/// touches each leaf once, in order, instead of jumping around the tree; for one key the
/// last change wins.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// `(keyspace, key, change)`, in the order added; `None` is the default keyspace.
    changes: Vec<(Option<Keyspace>, Vec<u8>, Change)>,
}
// ANCHOR_END: batch

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Stores `value` under `key` in the default keyspace.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.changes
            .push((None, key.to_vec(), Change::Put(value.to_vec())));
        self
    }

    /// Removes `key` from the default keyspace.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.changes.push((None, key.to_vec(), Change::Delete));
        self
    }

    /// Stores `value` under `key` in `keyspace`.
    pub fn put_in(&mut self, keyspace: &Keyspace, key: &[u8], value: &[u8]) -> &mut Self {
        self.changes.push((
            Some(keyspace.clone()),
            key.to_vec(),
            Change::Put(value.to_vec()),
        ));
        self
    }

    /// Removes `key` from `keyspace`.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: &[u8]) -> &mut Self {
        self.changes
            .push((Some(keyspace.clone()), key.to_vec(), Change::Delete));
        self
    }

    /// Changes in the batch.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether the batch has no changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Applies the batch in `tx` (which the caller commits).
    pub fn apply(&self, tx: &mut Txn<'_>) -> Result<()> {
        let default = tx.db.default_keyspace();
        let mut order: Vec<usize> = (0..self.changes.len()).collect();
        // Stable: for one key, the later change is applied later and wins.
        order.sort_by(|&a, &b| {
            // The default keyspace by either route (`put`, or `put_in` with its handle) is
            // one group, so the last change to a key wins however it was named.
            let name = |i: usize| {
                let keyspace = self.changes[i].0.as_ref();
                keyspace.map_or(crate::DEFAULT_KEYSPACE, |k| k.name())
            };
            (name(a), &self.changes[a].1).cmp(&(name(b), &self.changes[b].1))
        });
        for i in order {
            let (keyspace, key, change) = &self.changes[i];
            let ks = keyspace.as_ref().unwrap_or(&default);
            match change {
                Change::Put(value) => ks.put(tx, key, value)?,
                Change::Delete => {
                    ks.delete(tx, key)?;
                }
            }
        }
        Ok(())
    }
}
