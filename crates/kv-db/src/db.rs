//! `Db`: opening a database, its keyspaces and their catalog, transactions, and the
//! operations on the database as a whole (checkpoint, stats, check).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kv_file::{FileOptions, FsStorage, Storage};
use kv_index::{BTree, CheckReport, Index};
use kv_tx::{DeadlockPolicy, Durability, PageRead, TxManager, TxOptions};
use parking_lot::RwLock;

use crate::keyspace::Keyspace;
use crate::{Error, ReadTxn, Result, Txn, WriteBatch};

/// The catalog's file: keyspace names → numbers; keyspace `n` lives in file `ks<n>`.
const CATALOG: &str = "catalog";
/// The keyspace every database has, which the `Txn` and `Db` shortcuts use.
pub const DEFAULT_KEYSPACE: &str = "default";
/// Catalog key of the next keyspace number.
const NEXT_ID: &[u8] = b"next-id";
/// Catalog keys of keyspaces are this prefix and the name.
const NAME_PREFIX: &[u8] = b"name/";
/// How often [`Db::transaction`] runs a closure that keeps losing deadlocks.
pub const MAX_ATTEMPTS: u32 = 64;

// ANCHOR: options
/// Everything that can be tuned; `Options::default()` just works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Page size when the database is created (checked on reopen); `None` keeps what the
    /// database has, or 4 KiB for a new one.
    pub block_size: Option<usize>,
    /// Pages the buffer pool caches (4 KiB each by default).
    pub cache_pages: usize,
    /// When a commit returns: after its log record is on disk (`Sync`), or before.
    pub durability: Durability,
    /// A checkpoint runs once the log has grown this much since the last one.
    pub checkpoint_bytes: u64,
    /// How long a transaction waits for a lock; `None` waits until granted (deadlocks are
    /// detected at once either way).
    pub lock_timeout: Option<Duration>,
    /// How deadlocks are handled (detection by default).
    pub deadlock: DeadlockPolicy,
    /// Memory for page images kept for snapshot readers; past it the oldest snapshot ends.
    pub snapshot_memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        let tx = TxOptions::default();
        Options {
            block_size: None,
            cache_pages: 8192,
            durability: tx.durability,
            checkpoint_bytes: tx.checkpoint_bytes,
            lock_timeout: tx.lock_timeout,
            deadlock: tx.deadlock,
            snapshot_memory: tx.snapshot_memory,
        }
    }
}
// ANCHOR_END: options

impl Options {
    fn tx_options(&self) -> TxOptions {
        let mut tx = TxOptions {
            durability: self.durability,
            checkpoint_bytes: self.checkpoint_bytes,
            lock_timeout: self.lock_timeout,
            deadlock: self.deadlock,
            snapshot_memory: self.snapshot_memory,
            file: FileOptions::default(),
            ..TxOptions::default()
        };
        if let Some(size) = self.block_size {
            tx.file = tx.file.block_size(size);
        }
        tx.buffer.frames = self.cache_pages.max(16);
        tx
    }
}

/// An open database. Cheap to clone and to share between threads: clones are handles to
/// one database.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    /// The transaction manager over the whole stack.
    mgr: TxManager,
    /// Keyspace name → number (and the next number).
    catalog: BTree,
    /// The default keyspace, always there.
    default: Keyspace,
    /// Keyspaces opened so far, by name.
    open: RwLock<HashMap<String, Keyspace>>,
}

/// What [`Db::stats`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct DbStats {
    /// Bytes of all data files (keyspaces and catalog), not counting the log.
    pub data_bytes: u64,
    /// Bytes of log kept (since the last checkpoint, or the oldest running transaction).
    pub log_bytes: u64,
    /// The buffer pool's hit ratio since open (0 to 1).
    pub cache_hit_ratio: f64,
    /// Transactions committed since open.
    pub commits: u64,
    /// Transactions rolled back since open (deadlock victims included).
    pub rollbacks: u64,
    /// Lock requests refused as deadlocks since open.
    pub deadlocks: u64,
    /// Lock requests that had to wait since open.
    pub lock_waits: u64,
    /// Log fsyncs since open.
    pub fsyncs: u64,
    /// Checkpoints since open.
    pub checkpoints: u64,
    /// Read-only transactions open now.
    pub snapshots: usize,
}

impl Db {
    // ANCHOR: open
    /// Opens the database in directory `dir`, creating it if it does not exist, with default
    /// options; runs crash recovery if the last run did not close cleanly.
    pub fn open(dir: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(dir, Options::default())
    }

    /// Opens (or creates) the database in `dir` with `options`.
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<Db> {
        let dir = dir.as_ref();
        let storage = FsStorage::open(dir).map_err(|e| {
            kv_tx::Error::from(kv_file::Error::io("opening directory", dir.display(), e))
        })?;
        Db::open_on(storage, options)
    }

    /// Opens a database on any storage — the crash-simulating `MemStorage` in tests.
    pub fn open_on(storage: impl Storage, options: Options) -> Result<Db> {
        let mgr = TxManager::open_with(storage, options.tx_options())?;
        let mut tx = mgr.begin()?;
        let catalog = if tx.size(CATALOG)? == 0 {
            BTree::create(&mut tx, CATALOG)?
        } else {
            BTree::open(&mut tx, CATALOG)?
        };
        let default = find_or_create(&catalog, &mut tx, DEFAULT_KEYSPACE)?;
        tx.commit()?;
        Ok(Db {
            inner: Arc::new(Inner {
                mgr,
                catalog,
                default,
                open: RwLock::new(HashMap::new()),
            }),
        })
    }
    // ANCHOR_END: open

    /// Begins a read-write transaction.
    pub fn begin(&self) -> Result<Txn<'_>> {
        Ok(Txn {
            db: self,
            tx: self.inner.mgr.begin()?,
        })
    }

    /// Begins a read-only transaction on a snapshot of everything committed so far.
    pub fn begin_read(&self) -> Result<ReadTxn<'_>> {
        Ok(ReadTxn {
            db: self,
            tx: self.inner.mgr.begin_read_only()?,
        })
    }

    // ANCHOR: transaction
    /// Runs `work` in a transaction and commits it, running it again (in a new transaction)
    /// when it loses a deadlock, up to [`MAX_ATTEMPTS`] times. `work` may run more than once,
    /// so it must not have effects outside the transaction.
    ///
    /// Between attempts it backs off for a random, growing time: transactions that collided
    /// once collide again if they all retry at the same instant (measured: on a hot key with
    /// three writers, immediate retries lost 16 times in a row).
    pub fn transaction<T>(&self, mut work: impl FnMut(&mut Txn<'_>) -> Result<T>) -> Result<T> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut tx = self.begin()?;
            let outcome = work(&mut tx).and_then(|value| tx.commit().map(|()| value));
            match outcome {
                Err(e) if e.is_retryable() && attempts < MAX_ATTEMPTS => backoff(attempts), // rolled back
                Err(e) if e.is_retryable() => {
                    return Err(Error::TooManyRetries {
                        attempts,
                        last: Box::new(e),
                    })
                }
                other => return other,
            }
        }
    }
    // ANCHOR_END: transaction

    /// The value of `key` in the default keyspace (a snapshot read).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.begin_read()?.get(key)
    }

    /// Stores `value` under `key` in the default keyspace, in a transaction of its own.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.transaction(|tx| tx.put(key, value))
    }

    /// Removes `key` from the default keyspace, in a transaction of its own; whether it was
    /// there.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.transaction(|tx| tx.delete(key))
    }

    /// Applies every change of `batch` atomically, in one transaction (retried on deadlock).
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.transaction(|tx| batch.apply(tx))
    }

    /// The default keyspace.
    pub fn default_keyspace(&self) -> Keyspace {
        self.inner.default.clone()
    }

    // ANCHOR: keyspace
    /// The keyspace `name`, created (in a transaction of its own) if it does not exist.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        if let Some(ks) = self.inner.open.read().get(name) {
            return Ok(ks.clone());
        }
        check_name(name)?;
        let catalog = &self.inner.catalog;
        let ks = self.transaction(|tx| find_or_create(catalog, &mut tx.tx, name))?;
        self.inner.open.write().insert(name.to_owned(), ks.clone());
        Ok(ks)
    }
    // ANCHOR_END: keyspace

    /// The names of every keyspace, in order.
    pub fn keyspaces(&self) -> Result<Vec<String>> {
        let mut snapshot = self.begin_read()?;
        self.inner
            .catalog
            .prefix(&mut snapshot.tx, NAME_PREFIX)?
            .map(|entry| {
                let (key, _) = entry?;
                Ok(String::from_utf8_lossy(&key[NAME_PREFIX.len()..]).into_owned())
            })
            .collect()
    }

    /// Drops keyspace `name` and everything in it; whether it existed. Its pages go back to
    /// its file's free list; the file itself stays until compaction.
    pub fn drop_keyspace(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        if name == DEFAULT_KEYSPACE {
            return Err(Error::InvalidKeyspace {
                name: name.to_owned(),
                reason: "the default keyspace cannot be dropped",
            });
        }
        let catalog = &self.inner.catalog;
        let dropped = self.transaction(|tx| {
            let Some(ks) = find(catalog, &mut tx.tx, name)? else {
                return Ok(false);
            };
            let keys: Vec<Vec<u8>> = ks
                .range(tx, ..)?
                .map(|entry| entry.map(|(key, _)| key))
                .collect::<Result<_>>()?;
            for key in keys {
                ks.delete(tx, &key)?;
            }
            catalog.remove(&mut tx.tx, &name_key(name))?;
            Ok(true)
        })?;
        self.inner.open.write().remove(name);
        Ok(dropped)
    }

    /// Takes a checkpoint now: every change so far is in the data files and the log before
    /// it is released. (Checkpoints also run on their own, by log volume.)
    pub fn checkpoint(&self) -> Result<()> {
        Ok(self.inner.mgr.checkpoint()?)
    }

    /// Sizes and counters of every layer.
    pub fn stats(&self) -> DbStats {
        let mgr = &self.inner.mgr;
        let fm = mgr.file_manager();
        let mut data_blocks = fm.length(CATALOG).unwrap_or(0);
        for ks in self.keyspaces().unwrap_or_default() {
            if let Ok(Some(id)) = self.keyspace_id(&ks) {
                data_blocks += fm.length(&file_of(id)).unwrap_or(0);
            }
        }
        let log = mgr.log();
        let tx = mgr.stats();
        let locks = mgr.locks().stats();
        DbStats {
            data_bytes: data_blocks * fm.block_size() as u64,
            log_bytes: log.end_lsn().0.saturating_sub(log.first_lsn().0),
            cache_hit_ratio: mgr.pool().stats().hit_ratio(),
            commits: tx.commits,
            rollbacks: tx.rollbacks,
            deadlocks: locks.deadlocks,
            lock_waits: locks.waits,
            fsyncs: log.stats().fsyncs,
            checkpoints: tx.checkpoints,
            snapshots: mgr.snapshot_stats().active,
        }
    }

    fn keyspace_id(&self, name: &str) -> Result<Option<u64>> {
        let mut snapshot = self.begin_read()?;
        let id = self.inner.catalog.get(&mut snapshot.tx, &name_key(name))?;
        Ok(id.map(|bytes| decode_id(&bytes)))
    }

    // ANCHOR: check
    /// Verifies every structure of every keyspace and of the catalog (which reads, and so
    /// checksums, every page they use); returns each one's report, by name.
    pub fn check(&self) -> Result<Vec<(String, CheckReport)>> {
        let mut snapshot = self.begin_read()?;
        let mut reports = vec![(
            CATALOG.to_owned(),
            self.inner.catalog.check(&mut snapshot.tx)?,
        )];
        for name in self.keyspaces()? {
            let ks = self.keyspace(&name)?;
            reports.push((name, ks.tree.check(&mut snapshot.tx)?));
        }
        Ok(reports)
    }
    // ANCHOR_END: check

    /// The transaction manager underneath, for tools and tests that look at the lower layers.
    pub fn tx_manager(&self) -> &TxManager {
        &self.inner.mgr
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("stats", &self.stats()).finish()
    }
}

/// Waits before attempt `attempts + 1`: a yield at first, then a random time up to
/// 2^attempts microseconds (at most about 4 ms), so that colliding transactions spread out.
fn backoff(attempts: u32) {
    if attempts < 3 {
        std::thread::yield_now();
        return;
    }
    // Randomness enough to spread threads apart, without a generator: the clock's nanoseconds
    // mixed with this thread's id.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    seed ^= std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        std::thread::current().id(),
    );
    let ceiling = 1u64 << attempts.min(12);
    std::thread::sleep(Duration::from_micros(seed % ceiling));
}

/// A keyspace name must be usable as a catalog key: not empty, at most 255 bytes.
fn check_name(name: &str) -> Result<()> {
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

fn name_key(name: &str) -> Vec<u8> {
    [NAME_PREFIX, name.as_bytes()].concat()
}

fn file_of(id: u64) -> String {
    format!("ks{id}")
}

fn decode_id(bytes: &[u8]) -> u64 {
    let mut id = [0u8; 8];
    let n = bytes.len().min(8);
    id[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(id)
}

/// The keyspace `name` if the catalog has it.
fn find(catalog: &BTree, tx: &mut impl PageRead, name: &str) -> Result<Option<Keyspace>> {
    let Some(id) = catalog.get(tx, &name_key(name))? else {
        return Ok(None);
    };
    let tree = BTree::open(tx, &file_of(decode_id(&id)))?;
    Ok(Some(Keyspace {
        name: Arc::from(name),
        tree,
    }))
}

// ANCHOR: find_or_create
/// The keyspace `name`, created in `tx` if the catalog does not have it: a number from the
/// catalog's counter, a B+tree in a new file named after it, and the catalog entry.
fn find_or_create(
    catalog: &BTree,
    tx: &mut kv_tx::Transaction<'_>,
    name: &str,
) -> Result<Keyspace> {
    if let Some(ks) = find(catalog, tx, name)? {
        return Ok(ks);
    }
    let id = catalog.get(tx, NEXT_ID)?.map_or(1, |b| decode_id(&b));
    catalog.put(tx, NEXT_ID, &(id + 1).to_le_bytes())?;
    // (A creation that rolled back may have left blocks in this file — appends are not
    // undone — but they are zeroes, and `BTree::create` reuses them.)
    let tree = BTree::create(tx, &file_of(id))?;
    catalog.put(tx, &name_key(name), &id.to_le_bytes())?;
    Ok(Keyspace {
        name: Arc::from(name),
        tree,
    })
}
// ANCHOR_END: find_or_create
