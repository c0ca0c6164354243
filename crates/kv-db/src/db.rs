//! `Db`: opening a database, its keyspaces, and transactions (the operations on the whole
//! database — compaction, check, stats — are in `maintenance.rs`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering::SeqCst;

use kv_file::{FileOptions, FsStorage, Storage};
use kv_index::{BTree, Index};
use kv_tx::{DeadlockPolicy, Durability, PageRead, TxManager, TxOptions};
use parking_lot::RwLock;

use crate::catalog::{check_name, entries, find, find_or_create, name_key, CATALOG};
use crate::keyspace::{Keyspace, CREATING, DROPPING, LIVE};
use crate::{Error, ReadTxn, Result, Txn, WriteBatch};

/// The keyspace every database has, which the `Txn` and `Db` shortcuts use.
pub const DEFAULT_KEYSPACE: &str = "default";
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The transaction manager over the whole stack.
    pub(crate) mgr: TxManager,
    /// Keyspace name → number (and the next number).
    pub(crate) catalog: BTree,
    /// The default keyspace, always there.
    default: Keyspace,
    /// Keyspaces handed out so far, by name: every handle to one keyspace shares its
    /// `dropped` flag.
    open: RwLock<HashMap<String, Keyspace>>,
    /// Files of keyspaces dropped since open (numbers are never reused), so that a handle
    /// found before a drop is not put in `open` after it.
    dropped: RwLock<std::collections::HashSet<String>>,
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
        // A catalog whose creation never committed (the power failed during the very first
        // open) has blocks but an all-zero meta page once recovery undid it: create it
        // again, as `BTree::create` allows for such a file.
        let uncreated = tx.size(CATALOG)? == 0
            || tx.read_page(&kv_file::BlockId::new(CATALOG, 0), |page| {
                page[kv_tx::PAGE_LSN_SIZE..].iter().all(|&b| b == 0)
            })?;
        let catalog = if uncreated {
            BTree::create(&mut tx, CATALOG)?
        } else {
            BTree::open(&mut tx, CATALOG)?
        };
        let default = find_or_create(&catalog, &mut tx, DEFAULT_KEYSPACE)?;
        default.created.store(0, SeqCst); // no snapshot can be older than the open
        tx.commit()?;
        let db = Db {
            inner: Arc::new(Inner {
                mgr,
                catalog,
                default,
                open: RwLock::new(HashMap::new()),
                dropped: RwLock::default(),
            }),
        };
        // Files of keyspaces dropped while a snapshot was open (or just before a crash).
        db.remove_orphans()?;
        Ok(db)
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
        self.retrying(|| {
            let mut tx = self.begin()?;
            let value = work(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })
    }
    // ANCHOR_END: transaction

    /// Runs `attempt` (which begins, and ends, a transaction of its own) until it succeeds or
    /// fails with an error that is not retryable, up to [`MAX_ATTEMPTS`] times, backing off
    /// between attempts.
    pub(crate) fn retrying<T>(&self, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt() {
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
        loop {
            let ks = self.retrying(|| {
                let mut tx = self.begin()?;
                let ks = find_or_create(catalog, &mut tx.tx, name)?;
                let seq = tx.tx.commit_seq()?;
                // Snapshots older than the creating commit never saw it.
                let _ = ks.created.compare_exchange(CREATING, seq, SeqCst, SeqCst);
                Ok(ks)
            })?;
            // Another thread may have opened it meanwhile: hand out the handle it got. If
            // that thread only found it — waiting on our catalog locks, it read our
            // creation — its handle says "created before any snapshot": correct that.
            // (Until then, a snapshot older than the creation that uses its handle reads the
            // new file as it was, zeroes, and gets an error: a window of microseconds.)
            let mut open = self.inner.open.write();
            if self.inner.dropped.read().contains(ks.tree.file()) {
                continue; // dropped since we found it: look again
            }
            let created = ks.created.load(SeqCst);
            let handle = open.entry(name.to_owned()).or_insert(ks).clone();
            handle.created.fetch_max(created, SeqCst);
            return Ok(handle);
        }
    }
    // ANCHOR_END: keyspace

    /// The names of every keyspace, in order.
    pub fn keyspaces(&self) -> Result<Vec<String>> {
        let mut snapshot = self.begin_read()?;
        let entries = entries(&self.inner.catalog, &mut snapshot.tx)?;
        Ok(entries.into_iter().map(|(name, _)| name).collect())
    }

    // ANCHOR: drop_keyspace
    /// Drops keyspace `name` and everything in it; whether it existed. It waits for the
    /// transactions using the keyspace to end; its file is removed when the drop commits (or,
    /// if a snapshot that can still read it is open then, by the next `compact` or open).
    /// Handles to it kept from before answer [`Error::NoSuchKeyspace`].
    pub fn drop_keyspace(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        if name == DEFAULT_KEYSPACE {
            return Err(Error::InvalidKeyspace {
                name: name.to_owned(),
                reason: "the default keyspace cannot be dropped",
            });
        }
        let catalog = &self.inner.catalog;
        self.retrying(|| {
            let mut tx = self.begin()?;
            let Some(ks) = find(catalog, &mut tx.tx, name)? else {
                return Ok(false);
            };
            // Every operation on the keyspace takes its tree lock shared: holding it (and the
            // meta page) exclusively waits for the transactions using it, and keeps new ones
            // out.
            let file = ks.tree.file();
            ks.tree.lock_exclusive(&mut tx.tx)?;
            catalog.remove(&mut tx.tx, &name_key(name))?;
            tx.tx.cut_at_commit(file, None)?;
            // Handles given out learn of it as the commit releases the locks they wait for.
            let handle = {
                let mut open = self.inner.open.write();
                self.inner.dropped.write().insert(file.to_owned());
                open.remove(name)
            };
            let mark = |seq: u64| handle.iter().for_each(|h| h.dropped.store(seq, SeqCst));
            mark(DROPPING);
            match tx.tx.commit_seq() {
                Ok(seq) => {
                    mark(seq);
                    Ok(true)
                }
                Err(e) => {
                    mark(LIVE); // it stays: put the handle back
                    self.inner.dropped.write().remove(file);
                    if let Some(h) = handle {
                        self.inner.open.write().insert(name.to_owned(), h);
                    }
                    Err(e.into())
                }
            }
        })
    }
    // ANCHOR_END: drop_keyspace

    /// Takes a checkpoint now: every change so far is in the data files and the log before
    /// it is released. (Checkpoints also run on their own, by log volume.)
    pub fn checkpoint(&self) -> Result<()> {
        Ok(self.inner.mgr.checkpoint()?)
    }

    /// The transaction manager underneath, for tools and tests that look at the lower layers.
    pub fn tx_manager(&self) -> &TxManager {
        &self.inner.mgr
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("stats", &self.stats().ok())
            .finish()
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
