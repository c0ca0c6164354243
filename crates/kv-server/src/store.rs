//! Redis's data model on the embedded database: numbered databases, string values with
//! optional expiry, and the index that finds expired keys without a scan.
//!
//! Numbered database `n` is two keyspaces of the `Db`: `db<n>` maps each key to its value
//! and `db<n>.expires` lists the keys that have a deadline, ordered by it (key: the deadline,
//! 8 bytes big-endian, then the key). Every value starts with a 9-byte header:
//!
//! ```text
//! byte 0      type (0: string — the only type so far)
//! bytes 1..9  deadline, milliseconds since the Unix epoch, little-endian (0: none)
//! bytes 9..   the value's bytes
//! ```
//!
//! A key past its deadline is never returned, whoever reads it; [`Store::sweep`] removes
//! expired keys in the background by reading the front of the expiry index.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use kv_db::{Db, Keyspace, ReadTxn, Txn};
use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;

/// Bytes of the header in front of every value.
pub const HEADER: usize = 9;
/// The header's type byte for a string.
const STRING: u8 = 0;

/// A value as stored: its bytes and its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Vec<u8>,
    /// When it expires (ms since the Unix epoch), if ever.
    pub deadline: Option<u64>,
}

/// A value whose header is not this server's: written by something else into its keyspace.
#[derive(Debug, thiserror::Error)]
#[error("the value of key {key:?} is not in the server's format")]
pub struct NotAValue {
    /// The key, shown lossily.
    pub key: String,
}

/// A transaction of either kind, for operations that only read.
pub enum Tx<'a, 'db> {
    /// A snapshot (a read-only command on its own).
    Read(&'a mut ReadTxn<'db>),
    /// A read-write transaction (a write command, or anything inside MULTI/EXEC).
    Write(&'a mut Txn<'db>),
}

/// One numbered database: its data and its expiry index.
#[derive(Debug, Clone)]
pub struct Space {
    /// Key → header and value.
    pub data: Keyspace,
    /// Deadline and key → nothing.
    pub expires: Keyspace,
}

/// A watched key: numbered database and key.
pub type WatchedKey = (u32, Vec<u8>);

/// A page of SCAN: the keys, and the key to continue after (`None`: the end).
pub type ScanPage = (Vec<Vec<u8>>, Option<Vec<u8>>);

thread_local! {
    /// The flag of the EXEC running on this thread, which its own writes do not raise.
    static EXECUTING: std::cell::RefCell<Option<Arc<AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// The keys each client WATCHes, and the flags to raise when one of them changes.
#[derive(Default)]
pub struct Watches {
    /// Watched keys; cheap to test for emptiness without the lock.
    count: AtomicUsize,
    map: Mutex<HashMap<WatchedKey, Vec<Arc<AtomicBool>>>>,
}

impl Watches {
    /// `flag` is raised when key `key` of database `db` changes.
    pub fn watch(&self, db: u32, key: &[u8], flag: &Arc<AtomicBool>) {
        let mut map = self.map.lock();
        map.entry((db, key.to_vec()))
            .or_default()
            .push(Arc::clone(flag));
        self.count.fetch_add(1, SeqCst);
    }

    /// Forgets `flag`'s watches on `keys`.
    pub fn unwatch(&self, keys: &[WatchedKey], flag: &Arc<AtomicBool>) {
        let mut map = self.map.lock();
        for key in keys {
            if let Some(flags) = map.get_mut(key) {
                let before = flags.len();
                flags.retain(|f| !Arc::ptr_eq(f, flag));
                self.count.fetch_sub(before - flags.len(), SeqCst);
                if flags.is_empty() {
                    map.remove(key);
                }
            }
        }
    }

    /// Key `key` of database `db` is about to change: raise its watchers' flags. Called
    /// inside the changing transaction, before its commit releases the key's page: an EXEC
    /// that reads the key after that sees the flag. (A transaction that then rolls back has
    /// raised a flag for nothing: the EXEC fails and the client retries — safe.)
    pub fn touch(&self, db: u32, key: &[u8]) {
        if self.count.load(SeqCst) == 0 {
            return;
        }
        if let Some(flags) = self.map.lock().get(&(db, key.to_vec())) {
            EXECUTING.with(|own| {
                let own = own.borrow();
                flags
                    .iter()
                    .filter(|f| !own.as_ref().is_some_and(|o| Arc::ptr_eq(o, f)))
                    .for_each(|f| f.store(true, SeqCst));
            });
        }
    }

    /// Runs `f` — an EXEC — without its own writes raising its own flag: otherwise an EXEC
    /// that writes a key it watches, retried after a lost deadlock, would find its flag
    /// raised by its own first attempt and fail for nothing.
    pub fn executing<T>(flag: &Arc<AtomicBool>, f: impl FnOnce() -> T) -> T {
        EXECUTING.with(|own| *own.borrow_mut() = Some(Arc::clone(flag)));
        let result = f();
        EXECUTING.with(|own| *own.borrow_mut() = None);
        result
    }

    /// Every key of database `db` (or of all, `None`) is about to change.
    pub fn touch_all(&self, db: Option<u32>) {
        if self.count.load(SeqCst) == 0 {
            return;
        }
        for ((d, _), flags) in self.map.lock().iter() {
            if db.is_none_or(|db| db == *d) {
                flags.iter().for_each(|f| f.store(true, SeqCst));
            }
        }
    }
}

/// Redis's data model over a [`Db`]. Shared by every connection (and by the `kanthorkv`
/// command-line tool, so that what it writes the server reads).
pub struct Store {
    /// The database.
    db: Db,
    /// Where "now" comes from, for expiry.
    clock: Arc<dyn Clock>,
    /// The numbered databases opened so far (made on first use).
    spaces: RwLock<Vec<Option<Space>>>,
    /// Who watches what, for MULTI/EXEC.
    pub watches: Watches,
    /// The earliest deadline the expiry indexes may hold (`u64::MAX`: none): what the last
    /// sweep found there, lowered by every deadline written since. While it is ahead of
    /// now the sweep has nothing to do, and the server does not wake it (`sweep_due`).
    next_due: AtomicU64,
}

impl Store {
    /// The data model over `db`, with `databases` numbered databases.
    pub fn new(db: Db, databases: u32, clock: Arc<dyn Clock>) -> Store {
        Store {
            db,
            clock,
            spaces: RwLock::new(vec![None; databases as usize]),
            watches: Watches::default(),
            next_due: AtomicU64::new(0), // unknown until the first sweep has looked
        }
    }

    /// The database underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The number of numbered databases.
    pub fn databases(&self) -> u32 {
        self.spaces.read().len() as u32
    }

    /// The numbered databases that exist (have been used, in this run or before).
    pub fn existing(&self) -> kv_db::Result<Vec<u32>> {
        let limit = self.databases();
        Ok(self
            .db
            .keyspaces()?
            .iter()
            .filter_map(|name| name.strip_prefix("db")?.parse::<u32>().ok())
            .filter(|&n| n < limit)
            .collect())
    }

    /// Now, by the store's clock.
    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Whether numbered database `n` has been used already (its keyspaces open): reading it
    /// then cannot create anything.
    pub fn is_open(&self, n: u32) -> bool {
        matches!(self.spaces.read().get(n as usize), Some(Some(_)))
    }

    /// Numbered database `n`, its keyspaces created (each in a transaction of its own) if
    /// this is its first use. Call it before beginning a snapshot that will read it: a
    /// snapshot cannot see a keyspace created after it began.
    pub fn space(&self, n: u32) -> kv_db::Result<Space> {
        if let Some(Some(space)) = self.spaces.read().get(n as usize) {
            return Ok(space.clone());
        }
        let space = Space {
            data: self.db.keyspace(&format!("db{n}"))?,
            expires: self.db.keyspace(&format!("db{n}.expires"))?,
        };
        let mut spaces = self.spaces.write();
        Ok(spaces[n as usize].get_or_insert(space).clone())
    }

    /// The live entry of `key`: `None` if it is missing or past its deadline.
    pub fn get(&self, tx: &mut Tx<'_, '_>, db: u32, key: &[u8]) -> kv_db::Result<Option<Entry>> {
        let space = self.space(db)?;
        let raw = match tx {
            Tx::Read(r) => space.data.get(*r, key)?,
            Tx::Write(w) => space.data.get(*w, key)?,
        };
        self.live(key, raw)
    }

    /// The live entry of `key`, its page locked for writing first (a read-modify-write:
    /// INCR, APPEND, SET NX, EXPIRE… reading under a shared lock, two of them on one key
    /// would deadlock when both upgrade).
    pub fn get_for_update(
        &self,
        tx: &mut Txn<'_>,
        db: u32,
        key: &[u8],
    ) -> kv_db::Result<Option<Entry>> {
        let space = self.space(db)?;
        let raw = space.data.get_for_update(tx, key)?;
        self.live(key, raw)
    }

    /// Stores `value` under `key` with `deadline`; returns the live entry it replaced.
    pub fn set(
        &self,
        tx: &mut Txn<'_>,
        db: u32,
        key: &[u8],
        value: &[u8],
        deadline: Option<u64>,
    ) -> kv_db::Result<Option<Entry>> {
        let space = self.space(db)?;
        self.watches.touch(db, key);
        let old = space.data.insert(tx, key, &encode(value, deadline))?;
        let old = decode(key, old)?;
        let old_deadline = old.as_ref().and_then(|e| e.deadline);
        if old_deadline != deadline {
            if let Some(d) = old_deadline {
                space.expires.delete(tx, &expiry_key(d, key))?;
            }
            if let Some(d) = deadline {
                space.expires.put(tx, &expiry_key(d, key), b"")?;
                self.next_due.fetch_min(d, SeqCst);
            }
        }
        Ok(old.filter(|e| !self.expired(e)))
    }

    /// Removes `key`; returns its live entry (an expired one is removed too, but counts as
    /// missing).
    pub fn remove(&self, tx: &mut Txn<'_>, db: u32, key: &[u8]) -> kv_db::Result<Option<Entry>> {
        let space = self.space(db)?;
        let Some(old) = decode(key, space.data.take(tx, key)?)? else {
            return Ok(None);
        };
        self.watches.touch(db, key);
        if let Some(d) = old.deadline {
            space.expires.delete(tx, &expiry_key(d, key))?;
        }
        Ok(Some(old).filter(|e| !self.expired(e)))
    }

    /// Changes the deadline of a live `key` (`None`: never expires); whether it exists.
    pub fn set_deadline(
        &self,
        tx: &mut Txn<'_>,
        db: u32,
        key: &[u8],
        deadline: Option<u64>,
    ) -> kv_db::Result<bool> {
        let Some(entry) = self.get_for_update(tx, db, key)? else {
            return Ok(false);
        };
        if entry.deadline != deadline {
            self.set(tx, db, key, &entry.value, deadline)?;
        }
        Ok(true)
    }

    /// Up to `count` live keys after `after` (from the first if `None`) whose names match
    /// `pattern`, and the key to continue after (`None`: the end was reached).
    pub fn scan(
        &self,
        tx: &mut Tx<'_, '_>,
        db: u32,
        after: Option<&[u8]>,
        count: usize,
        mut wanted: impl FnMut(&[u8]) -> bool,
    ) -> kv_db::Result<ScanPage> {
        use std::ops::Bound::{Excluded, Unbounded};
        let space = self.space(db)?;
        let bounds = (after.map_or(Unbounded, Excluded), Unbounded);
        let mut keys = Vec::new();
        let mut visited = 0;
        let mut last = None;
        let mut each = |entry: kv_db::Result<(Vec<u8>, Vec<u8>)>| -> kv_db::Result<bool> {
            let (key, raw) = entry?;
            visited += 1;
            let live = self.live(&key, Some(raw))?.is_some();
            if live && wanted(&key) {
                keys.push(key.clone());
            }
            last = Some(key);
            Ok(visited < count)
        };
        let mut more = true;
        match tx {
            Tx::Read(r) => {
                for entry in space.data.range(*r, bounds)? {
                    if !each(entry)? {
                        break;
                    }
                }
            }
            Tx::Write(w) => {
                for entry in space.data.range(*w, bounds)? {
                    if !each(entry)? {
                        break;
                    }
                }
            }
        }
        if visited < count {
            more = false;
        }
        Ok((keys, last.filter(|_| more)))
    }

    /// Keys of database `db` (expired ones not yet removed included, as Redis's DBSIZE),
    /// and how many of them have a deadline. Both are scans.
    pub fn len(&self, tx: &mut Tx<'_, '_>, db: u32) -> kv_db::Result<(u64, u64)> {
        let space = self.space(db)?;
        Ok(match tx {
            Tx::Read(r) => (space.data.len(*r)?, space.expires.len(*r)?),
            Tx::Write(w) => (space.data.len(*w)?, space.expires.len(*w)?),
        })
    }

    /// Removes every key of database `db`, in `tx`.
    pub fn flush(&self, tx: &mut Txn<'_>, db: u32) -> kv_db::Result<()> {
        let space = self.space(db)?;
        self.watches.touch_all(Some(db));
        for ks in [&space.data, &space.expires] {
            let keys: Vec<Vec<u8>> = ks
                .range(tx, ..)?
                .map(|entry| entry.map(|(key, _)| key))
                .collect::<kv_db::Result<_>>()?;
            for key in keys {
                ks.delete(tx, &key)?;
            }
        }
        Ok(())
    }

    // ANCHOR: sweep
    /// Removes up to `limit` keys whose deadline has passed, in each numbered database in
    /// use, reading only the front of each expiry index; how many it removed. It notes the
    /// earliest deadline left, so that [`sweep_due`](Self::sweep_due) can tell the server
    /// not to call it again before then.
    pub fn sweep(&self, limit: usize) -> kv_db::Result<usize> {
        let now = self.now();
        // Deadlines written from here on lower it again; those on disk are added below.
        self.next_due.store(u64::MAX, SeqCst);
        let mut next = u64::MAX;
        let mut removed = 0;
        // Every database on disk, not only those used since start: keys expire in all.
        let mut spaces = Vec::new();
        for db in self.existing()? {
            spaces.push((db, self.space(db)?));
        }
        for (db, space) in spaces {
            // Look on a snapshot first: a transaction would log (and fsync) even to find
            // nothing due.
            let mut snapshot = self.db.begin_read()?;
            let front = space.expires.range(&mut snapshot, ..)?.next().transpose()?;
            drop(snapshot);
            match front.map(|(index_key, _)| deadline_of(&index_key)) {
                None => continue,
                Some(first) if first > now => {
                    next = next.min(first);
                    continue;
                }
                Some(_) => {}
            }
            let (n, after) = self.db.transaction(|tx| {
                // The due keys (up to `limit`), and the deadline of the first key left.
                let mut due = Vec::new();
                let mut after = u64::MAX;
                for entry in space.expires.range(tx, ..)? {
                    let (index_key, _) = entry?;
                    let deadline = deadline_of(&index_key);
                    if deadline > now || due.len() == limit {
                        after = deadline; // (due, if the limit stopped us: sweep again)
                        break;
                    }
                    due.push(index_key);
                }
                for index_key in &due {
                    let key = &index_key[8..];
                    self.watches.touch(db, key);
                    space.expires.delete(tx, index_key)?;
                    space.data.delete(tx, key)?;
                }
                Ok((due.len(), after))
            })?;
            removed += n;
            next = next.min(after);
        }
        self.next_due.fetch_min(next, SeqCst);
        Ok(removed)
    }

    /// Whether a [`sweep`](Self::sweep) may find a key due: the earliest deadline it found
    /// left, or written since, has come. (A deadline written while a sweep runs, committed
    /// after that sweep looked, can be missed — the key is still hidden from every read;
    /// the server sweeps now and then regardless, to reclaim such a key.)
    pub fn sweep_due(&self) -> bool {
        self.next_due.load(SeqCst) <= self.now()
    }
    // ANCHOR_END: sweep

    /// Whether `entry` is past its deadline now.
    pub fn expired(&self, entry: &Entry) -> bool {
        entry.deadline.is_some_and(|d| d <= self.now())
    }

    fn live(&self, key: &[u8], raw: Option<Vec<u8>>) -> kv_db::Result<Option<Entry>> {
        Ok(decode(key, raw)?.filter(|e| !self.expired(e)))
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("databases", &self.databases())
            .finish()
    }
}

// ANCHOR: encode
/// A value with its header.
pub fn encode(value: &[u8], deadline: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    out.push(STRING);
    out.extend_from_slice(&deadline.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// A stored value's entry; an error if it has no header of ours.
pub fn decode(key: &[u8], raw: Option<Vec<u8>>) -> kv_db::Result<Option<Entry>> {
    let Some(mut raw) = raw else {
        return Ok(None);
    };
    if raw.len() < HEADER || raw[0] != STRING {
        return Err(kv_db::Error::Abort(Box::new(NotAValue {
            key: String::from_utf8_lossy(key).into_owned(),
        })));
    }
    let deadline = u64::from_le_bytes(raw[1..HEADER].try_into().expect("8 bytes"));
    raw.drain(..HEADER);
    Ok(Some(Entry {
        value: raw,
        deadline: (deadline != 0).then_some(deadline),
    }))
}
// ANCHOR_END: encode

/// The expiry index's key for `key` expiring at `deadline`: sorts by deadline.
fn expiry_key(deadline: u64, key: &[u8]) -> Vec<u8> {
    [&deadline.to_be_bytes()[..], key].concat()
}

/// The deadline an expiry index key starts with.
fn deadline_of(index_key: &[u8]) -> u64 {
    let mut be = [0; 8];
    be.copy_from_slice(&index_key[..8]);
    u64::from_be_bytes(be)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn store() -> (Store, Arc<ManualClock>) {
        let db = Db::open_on(kv_file::MemStorage::new(), kv_db::Options::default()).unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        (Store::new(db, 4, clock.clone()), clock)
    }

    #[test]
    fn values_round_trip_with_and_without_deadlines() {
        for deadline in [None, Some(7)] {
            let raw = encode(b"value", deadline);
            assert_eq!(raw.len(), HEADER + 5);
            let entry = decode(b"k", Some(raw)).unwrap().unwrap();
            assert_eq!(
                (entry.value.as_slice(), entry.deadline),
                (&b"value"[..], deadline)
            );
        }
        let err = decode(b"k", Some(b"short".to_vec())).unwrap_err();
        assert!(
            err.to_string().contains("not in the server's format"),
            "{err}"
        );
    }

    #[test]
    fn expired_keys_vanish_at_once_and_the_sweep_removes_them() {
        let (store, clock) = store();
        let db = store.db().clone();
        let now = store.now();
        db.transaction(|tx| {
            store.set(tx, 0, b"short", b"1", Some(now + 10))?;
            store.set(tx, 0, b"long", b"2", Some(now + 10_000))?;
            store.set(tx, 0, b"forever", b"3", None)?;
            Ok(())
        })
        .unwrap();
        clock.advance(10);
        let mut r = db.begin_read().unwrap();
        assert_eq!(store.get(&mut Tx::Read(&mut r), 0, b"short").unwrap(), None);
        assert!(store
            .get(&mut Tx::Read(&mut r), 0, b"long")
            .unwrap()
            .is_some());
        assert_eq!(store.len(&mut Tx::Read(&mut r), 0).unwrap(), (3, 2));
        drop(r);
        assert_eq!(store.sweep(100).unwrap(), 1);
        let mut r = db.begin_read().unwrap();
        assert_eq!(store.len(&mut Tx::Read(&mut r), 0).unwrap(), (2, 1));
    }

    #[test]
    fn the_sweep_is_due_only_once_a_deadline_has_come() {
        let (store, clock) = store();
        let db = store.db().clone();
        assert!(store.sweep_due(), "unknown before the first sweep: look");
        assert_eq!(store.sweep(100).unwrap(), 0);
        assert!(!store.sweep_due(), "no deadline anywhere");
        let now = store.now();
        db.transaction(|tx| {
            store.set(tx, 2, b"late", b"v", Some(now + 50))?;
            store.set(tx, 1, b"soon", b"v", Some(now + 10))?;
            (0..3).try_for_each(|i| store.set(tx, 3, &[i], b"v", Some(now + 20)).map(drop))
        })
        .unwrap();
        clock.advance(9);
        assert!(!store.sweep_due());
        clock.advance(1);
        assert!(store.sweep_due(), "soon's deadline");
        assert_eq!(store.sweep(100).unwrap(), 1);
        assert!(!store.sweep_due(), "the next deadline, +20, is ahead");
        clock.advance(10);
        assert_eq!(store.sweep(2).unwrap(), 2);
        assert!(store.sweep_due(), "the limit left one due key");
        assert_eq!(store.sweep(2).unwrap(), 1);
        assert!(!store.sweep_due());
        clock.advance(30);
        assert!(store.sweep_due(), "late's deadline");
        assert_eq!(store.sweep(100).unwrap(), 1);
        assert!(!store.sweep_due());
        // A restart knows nothing: its first sweep looks, and finds what is on disk.
        let store = Store::new(db.clone(), 4, clock.clone());
        db.transaction(|tx| store.set(tx, 0, b"k", b"v", Some(now + 1_000)).map(drop))
            .unwrap();
        let store = Store::new(db, 4, clock.clone());
        assert!(store.sweep_due());
        assert_eq!(store.sweep(100).unwrap(), 0);
        assert!(!store.sweep_due());
        clock.advance(1_000);
        assert!(store.sweep_due(), "the deadline found on disk");
    }

    #[test]
    fn a_new_deadline_replaces_the_old_index_entry() {
        let (store, _) = store();
        let db = store.db().clone();
        let now = store.now();
        db.transaction(|tx| {
            store.set(tx, 1, b"k", b"v", Some(now + 5))?;
            store.set(tx, 1, b"k", b"v", Some(now + 50))?;
            assert!(store.set_deadline(tx, 1, b"k", None)?);
            Ok(())
        })
        .unwrap();
        let mut r = db.begin_read().unwrap();
        assert_eq!(store.len(&mut Tx::Read(&mut r), 1).unwrap(), (1, 0));
    }

    #[test]
    fn scans_resume_after_the_last_key() {
        let (store, _) = store();
        let db = store.db().clone();
        db.transaction(|tx| {
            for i in 0..10u8 {
                store.set(tx, 0, &[b'k', b'0' + i], b"v", None)?;
            }
            Ok(())
        })
        .unwrap();
        let mut r = db.begin_read().unwrap();
        let mut tx = Tx::Read(&mut r);
        let (first, next) = store.scan(&mut tx, 0, None, 4, |_| true).unwrap();
        assert_eq!(first.len(), 4);
        let (rest, end) = store
            .scan(&mut tx, 0, next.as_deref(), 100, |_| true)
            .unwrap();
        assert_eq!((rest.len(), end), (6, None));
    }
}
