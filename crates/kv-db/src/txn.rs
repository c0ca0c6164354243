//! `Txn` and `ReadTxn`: the two kinds of transaction, with the default keyspace's
//! operations on them.

use std::ops::RangeBounds;

use kv_tx::{ReadTransaction, Transaction};

use crate::keyspace::Iter;
use crate::{Db, Result};

/// A read-write transaction: serializable (strict two-phase locking), atomic, and durable
/// once [`commit`](Txn::commit) returns (with the default `Durability::Sync`). Dropped
/// without committing, it rolls back.
///
/// The methods here work on the default keyspace; for others, call a
/// [`Keyspace`](crate::Keyspace)'s methods with this transaction.
pub struct Txn<'db> {
    /// The database, for its keyspaces.
    pub(crate) db: &'db Db,
    /// The transaction underneath.
    pub(crate) tx: Transaction<'db>,
}

/// A read-only transaction on a snapshot: it sees exactly what had committed when it began,
/// takes no locks, and never waits for a writer's transaction (or makes one wait).
pub struct ReadTxn<'db> {
    /// The database, for its keyspaces.
    pub(crate) db: &'db Db,
    /// The snapshot underneath.
    pub(crate) tx: ReadTransaction<'db>,
}

/// The default keyspace's read operations, the same on both kinds of transaction.
macro_rules! default_reads {
    ($t:ident, $reader:ty) => {
        impl<'db> $t<'db> {
            /// The value of `key` in the default keyspace, if any.
            pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
                let ks = self.db.default_keyspace();
                ks.get(self, key)
            }

            /// The default keyspace's entries with keys in `range`, in key order.
            pub fn range<'t, 'k>(
                &'t mut self,
                range: impl RangeBounds<&'k [u8]>,
            ) -> Result<Iter<'t, $reader>> {
                let ks = self.db.default_keyspace();
                ks.range(self, range)
            }

            /// The default keyspace's entries with keys in `range`, in reverse key order.
            pub fn range_rev<'t, 'k>(
                &'t mut self,
                range: impl RangeBounds<&'k [u8]>,
            ) -> Result<Iter<'t, $reader>> {
                let ks = self.db.default_keyspace();
                ks.range_rev(self, range)
            }

            /// The default keyspace's entries whose keys start with `prefix`.
            pub fn prefix<'t>(&'t mut self, prefix: &[u8]) -> Result<Iter<'t, $reader>> {
                let ks = self.db.default_keyspace();
                ks.prefix(self, prefix)
            }
        }
    };
}

default_reads!(Txn, Transaction<'db>);
default_reads!(ReadTxn, ReadTransaction<'db>);

impl<'db> Txn<'db> {
    /// Stores `value` under `key` in the default keyspace.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let ks = self.db.default_keyspace();
        ks.put(self, key, value)
    }

    /// Removes `key` from the default keyspace; whether it was there.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        let ks = self.db.default_keyspace();
        ks.delete(self, key)
    }

    /// Commits: durable when this returns (with `Durability::Sync`).
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }

    /// Rolls back every change. (Dropping the transaction does the same.)
    pub fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback()?)
    }
}

impl ReadTxn<'_> {
    /// The commit sequence number of the last commit this transaction sees.
    pub fn snapshot(&self) -> u64 {
        self.tx.snapshot()
    }
}

impl std::fmt::Debug for Txn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn").field("id", &self.tx.id()).finish()
    }
}

impl std::fmt::Debug for ReadTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTxn")
            .field("snapshot", &self.tx.snapshot())
            .finish()
    }
}
