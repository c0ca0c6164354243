//! A fault-injecting, in-memory [`Storage`] for crash and error tests.
//!
//! Each file keeps two images: `durable`, what survives a crash, and `current`, what reads
//! see. Writes change `current` and are remembered as pending; `sync` applies a file's
//! pending writes to `durable`. [`MemStorage::crash`] then plays a crash: the pending writes
//! are dropped, kept, or kept at random, the last one may be torn, and every handle and lock
//! of the "dead process" stops working. Faults make the n-th operation (or every one from the
//! n-th on) fail, and a capacity makes writes fail with "disk full".
//!
//! After a crash only the `MemStorage` clone `crash` was called on stays alive (it is the
//! restarted machine); every other clone, handle and lock belongs to the dead process and
//! fails, so a stale file manager cannot keep writing.
//!
//! Simplifications, stated so tests do not rely on more: creating and removing files is
//! durable at once (though a power cut or fault can stop either); the simulated process is
//! the whole `MemStorage`, so a crash affects every file in it; files are limited to
//! [`MemStorage::MAX_FILE_SIZE`]; one mutex serialises the simulation (it is a test double,
//! not a fast path).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Storage, StorageFile, StorageLock};

// ANCHOR: crash
/// How a simulated crash treats writes that were not yet synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsynced {
    /// All are lost: power failed before the disk cache was written.
    Drop,
    /// All survive: the process died but the OS page cache reached the disk.
    Keep,
    /// Each survives or not, at random from this seed: a disk that reorders writes.
    Random(u64),
}

/// A simulated crash: what happens to unsynced writes, and whether the last one is torn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    /// The fate of every unsynced write but the last.
    pub unsynced: Unsynced,
    /// If set, the most recent unsynced write lands only this many leading bytes (a torn
    /// write: sectors are 512 bytes, pages 4 KiB); otherwise it shares the others' fate.
    pub tear_last: Option<usize>,
    /// If set, the most recent unsynced write lands as a random subset of its 512-byte
    /// sectors, chosen by this seed: a device that persists one large write out of order.
    pub scramble_last: Option<u64>,
}

impl Crash {
    /// Power loss: every unsynced write is gone.
    pub const fn power_loss() -> Self {
        Self {
            unsynced: Unsynced::Drop,
            tear_last: None,
            scramble_last: None,
        }
    }

    /// A killed process: the OS still writes everything the process handed it.
    pub const fn process_kill() -> Self {
        Self {
            unsynced: Unsynced::Keep,
            tear_last: None,
            scramble_last: None,
        }
    }

    /// Power loss in the middle of the last write: only its first `keep` bytes land.
    pub const fn torn(keep: usize) -> Self {
        Self {
            unsynced: Unsynced::Drop,
            tear_last: Some(keep),
            scramble_last: None,
        }
    }

    /// A disk that persisted a random subset of the unsynced writes, chosen by `seed`.
    pub const fn random(seed: u64) -> Self {
        Self {
            unsynced: Unsynced::Random(seed),
            tear_last: None,
            scramble_last: None,
        }
    }

    /// Power loss while the last write was in flight, its sectors persisted in no order:
    /// each 512-byte sector of it landed or not, at random from `seed`.
    pub const fn scrambled(seed: u64) -> Self {
        Self {
            unsynced: Unsynced::Drop,
            tear_last: None,
            scramble_last: Some(seed),
        }
    }
}

/// The sector size the crash simulation tears and scrambles at.
const SECTOR: u64 = 512;
// ANCHOR_END: crash

/// Which operations a fault counts and fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `write_at` calls.
    Write,
    /// `sync` calls.
    Sync,
    /// `read_at` calls (a failing sector, a cable pulled mid-read).
    Read,
    /// Every operation that changes the disk: writes, syncs, length changes, file creation
    /// and removal.
    Any,
}

/// Counters of what has been done to a [`MemStorage`] since it was made.
///
/// Tests read them to learn how many crash or fault points a workload has, then replay the
/// workload once per point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemStorageStats {
    /// `write_at` calls, failed ones included: the index space of `FaultOp::Write`.
    pub writes: u64,
    /// `sync` calls, failed ones included: the index space of `FaultOp::Sync`.
    pub syncs: u64,
    /// Writes, syncs, length changes, creations and removals: the index space of
    /// `FaultOp::Any`.
    pub mutations: u64,
    /// `read_at` calls, failed ones included: the index space of `FaultOp::Read`.
    pub reads: u64,
    /// Writes and length changes made since the last sync of their file.
    pub unsynced: u64,
    /// Crashes simulated so far.
    pub crashes: u64,
    /// Operations failed by an injected fault or the capacity limit.
    pub faults_fired: u64,
}

/// The fault-injecting in-memory storage. Clones share the same simulated disk.
pub struct MemStorage {
    /// The simulated disk, shared by every handle, lock and clone.
    inner: Arc<Mutex<State>>,
    /// The life of the simulated process this clone belongs to; see [`crash`](Self::crash).
    epoch: AtomicU64,
}

impl Clone for MemStorage {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            epoch: AtomicU64::new(self.epoch.load(SeqCst)),
        }
    }
}

impl Default for MemStorage {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default, Clone)]
struct State {
    files: BTreeMap<String, MemFile>,
    /// Bumped by every crash; handles and locks from an older epoch belong to a dead process.
    epoch: u64,
    /// The epoch and token of the current owner lock, if held.
    lock: Option<(u64, u64)>,
    next_token: u64,
    /// Orders unsynced writes across files, to find "the last write".
    seq: u64,
    faults: Vec<Fault>,
    capacity: Option<u64>,
    stats: MemStorageStats,
}

#[derive(Default, Clone)]
struct MemFile {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<Pending>,
}

#[derive(Clone)]
enum Pending {
    Write {
        seq: u64,
        offset: u64,
        data: Vec<u8>,
    },
    SetLen {
        len: u64,
    },
}

#[derive(Debug, Clone)]
struct Fault {
    op: FaultOp,
    /// The index (in the op's own count, from 0) of the first operation to fail.
    at: u64,
    /// Fail every matching operation from `at` on, not just the one.
    persistent: bool,
    kind: io::ErrorKind,
}

impl MemStorage {
    /// The largest file the simulation holds (4 GiB): a write or length past it fails with
    /// `ErrorKind::FileTooLarge` instead of exhausting the test machine's memory.
    pub const MAX_FILE_SIZE: u64 = 4 << 30;

    /// An empty simulated disk.
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            epoch: AtomicU64::new(0),
        }
    }

    /// An independent copy of the simulated disk as it is at this moment — durable bytes,
    /// unsynced writes, counters — without its faults: to crash one moment several ways,
    /// each copy its own, without running the workload up to that moment again.
    pub fn fork(&self) -> MemStorage {
        let mut state = self.state().clone();
        state.faults.clear();
        Self {
            inner: Arc::new(Mutex::new(state)),
            epoch: AtomicU64::new(self.epoch.load(SeqCst)),
        }
    }

    /// Fails the `n`-th (from 0, counted since creation) operation of kind `op` once.
    pub fn fail_at(&self, op: FaultOp, n: u64) {
        self.add_fault(op, n, false, io::ErrorKind::Other);
    }

    /// Fails every operation of kind `op` from the `n`-th on, until the next crash.
    pub fn fail_from(&self, op: FaultOp, n: u64) {
        self.add_fault(op, n, true, io::ErrorKind::Other);
    }

    /// The power goes out before mutation `n`: it and every later change fail, until
    /// [`crash`](Self::crash) restarts the machine.
    pub fn power_cut_at(&self, n: u64) {
        self.add_fault(FaultOp::Any, n, true, io::ErrorKind::BrokenPipe);
    }

    /// Limits the total bytes of all files; a write (or a length change) that would grow
    /// past it fails with `ErrorKind::StorageFull` (ENOSPC). `None` removes the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state().capacity = bytes;
    }

    /// Removes every fault not yet fired.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// What has been done so far.
    pub fn stats(&self) -> MemStorageStats {
        self.state().stats
    }

    /// The bytes of `name` as reads now see them, for assertions.
    pub fn file_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.state().files.get(name).map(|f| f.current.clone())
    }

    /// Flips bits of byte `offset` of `name`, durably: bit rot that a checksum must catch.
    pub fn corrupt(&self, name: &str, offset: u64, xor: u8) {
        let mut st = self.state();
        if let Some(f) = st.files.get_mut(name) {
            for image in [&mut f.current, &mut f.durable] {
                if let Some(b) = image.get_mut(offset as usize) {
                    *b ^= xor;
                }
            }
        }
    }

    // ANCHOR: crash_impl
    /// Simulates a crash and restart: unsynced writes meet the fate `crash` describes, every
    /// open handle, the owner lock and every other clone die with the old process, and faults
    /// are cleared. This clone is the restarted machine: open the directory again through it.
    pub fn crash(&self, crash: Crash) {
        let mut st = self.state();
        let last = st
            .files
            .values()
            .flat_map(|f| f.pending.iter())
            .filter_map(|p| match p {
                Pending::Write { seq, .. } => Some(*seq),
                Pending::SetLen { .. } => None,
            })
            .max();
        let mut rng = match crash.unsynced {
            Unsynced::Random(seed) => seed,
            _ => 0,
        };
        for file in st.files.values_mut() {
            let mut image = std::mem::take(&mut file.durable);
            for p in file.pending.drain(..) {
                let is_last = matches!(p, Pending::Write { seq, .. } if Some(seq) == last);
                let survives = match crash.unsynced {
                    Unsynced::Drop => false,
                    Unsynced::Keep => true,
                    Unsynced::Random(_) => splitmix64(&mut rng) & 1 == 1,
                };
                match (p, is_last) {
                    (Pending::Write { offset, data, .. }, true) if crash.tear_last.is_some() => {
                        let keep = crash.tear_last.unwrap_or(0).min(data.len());
                        apply_write(&mut image, offset, &data[..keep]);
                    }
                    (Pending::Write { offset, data, .. }, true)
                        if crash.scramble_last.is_some() =>
                    {
                        let mut seed = crash.scramble_last.unwrap_or(0);
                        // Split at device sector boundaries; each sector lands or not.
                        let mut at = 0usize;
                        while at < data.len() {
                            let pos = offset + at as u64;
                            let len = ((SECTOR - pos % SECTOR) as usize).min(data.len() - at);
                            if splitmix64(&mut seed) & 1 == 1 {
                                apply_write(&mut image, pos, &data[at..at + len]);
                            }
                            at += len;
                        }
                    }
                    (p, _) if survives => apply(&mut image, &p),
                    _ => {}
                }
            }
            file.current = image.clone();
            file.durable = image;
        }
        st.epoch += 1;
        self.epoch.store(st.epoch, SeqCst);
        st.lock = None;
        st.faults.clear();
        st.stats.unsynced = 0;
        st.stats.crashes += 1;
    }
    // ANCHOR_END: crash_impl

    fn add_fault(&self, op: FaultOp, at: u64, persistent: bool, kind: io::ErrorKind) {
        self.state().faults.push(Fault {
            op,
            at,
            persistent,
            kind,
        });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the disk from the others: the state is
        // plain data, consistent between calls, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, if this clone belongs to the living process.
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let st = self.state();
        if self.epoch.load(SeqCst) == st.epoch {
            Ok(st)
        } else {
            Err(io::Error::other("storage from before a simulated crash"))
        }
    }
}

impl State {
    /// Counts an operation of kind `op` (`Any` for changes with no count of their own:
    /// length changes, creations, removals) and fails it if a fault says so.
    fn count(&mut self, op: FaultOp) -> io::Result<()> {
        let any = (op != FaultOp::Read).then(|| post_increment(&mut self.stats.mutations));
        let own = match op {
            FaultOp::Write => Some(post_increment(&mut self.stats.writes)),
            FaultOp::Sync => Some(post_increment(&mut self.stats.syncs)),
            FaultOp::Read => Some(post_increment(&mut self.stats.reads)),
            FaultOp::Any => any,
        };
        let fired = self.faults.iter().position(|f| {
            let n = match f.op {
                FaultOp::Any => any,
                o if o == op => own,
                _ => None,
            };
            let Some(n) = n else { return false };
            n == f.at || (f.persistent && n > f.at)
        });
        match fired {
            None => Ok(()),
            Some(i) => {
                self.stats.faults_fired += 1;
                let kind = self.faults[i].kind;
                if !self.faults[i].persistent {
                    self.faults.remove(i);
                }
                Err(io::Error::new(
                    kind,
                    format!("injected fault on {op:?} #{}", own.unwrap_or_default()),
                ))
            }
        }
    }

    fn total_bytes(&self) -> u64 {
        self.files.values().map(|f| f.current.len() as u64).sum()
    }

    /// Refuses (disk full) growing file `name` to `end` bytes past the capacity.
    fn room_for(&mut self, name: &str, end: u64) -> io::Result<()> {
        let growth = end.saturating_sub(self.files[name].current.len() as u64);
        match self.capacity {
            Some(cap) if growth > 0 && self.total_bytes() + growth > cap => {
                self.stats.faults_fired += 1;
                Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "simulated disk full",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Refuses file sizes the simulation will not hold.
fn too_large(end: u64) -> io::Result<()> {
    if end > MemStorage::MAX_FILE_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("simulated file would grow to {end} bytes"),
        ));
    }
    Ok(())
}

/// Returns `*n` and adds one to it.
fn post_increment(n: &mut u64) -> u64 {
    *n += 1;
    *n - 1
}

fn apply(image: &mut Vec<u8>, p: &Pending) {
    match p {
        Pending::Write { offset, data, .. } => apply_write(image, *offset, data),
        Pending::SetLen { len } => image.resize(*len as usize, 0),
    }
}

fn apply_write(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    if data.is_empty() {
        return; // a write of nothing (a tear that kept no bytes) does not grow the file
    }
    let start = offset as usize;
    let end = start + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
}

/// A tiny deterministic generator (SplitMix64), so a crash seed replays exactly.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl fmt::Debug for MemStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state();
        f.debug_struct("MemStorage")
            .field("files", &st.files.keys().collect::<Vec<_>>())
            .field("epoch", &st.epoch)
            .field("stats", &st.stats)
            .finish()
    }
}

impl Storage for MemStorage {
    fn open_file(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let mut st = self.live()?;
        if !st.files.contains_key(name) {
            st.count(FaultOp::Any)?;
            st.files.insert(name.to_owned(), MemFile::default());
        }
        Ok(Arc::new(MemHandle {
            storage: self.clone(),
            name: name.to_owned(),
            epoch: st.epoch,
        }))
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        Ok(self.live()?.files.contains_key(name))
    }

    fn remove_file(&self, name: &str) -> io::Result<()> {
        let mut st = self.live()?;
        if !st.files.contains_key(name) {
            return Err(io::ErrorKind::NotFound.into());
        }
        st.count(FaultOp::Any)?;
        let removed = st.files.remove(name).expect("checked above");
        st.stats.unsynced -= removed.pending.len() as u64;
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.live()?.files.keys().cloned().collect())
    }

    fn lock(&self) -> io::Result<Box<dyn StorageLock>> {
        let mut st = self.live()?;
        if st.lock.is_some() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        st.next_token += 1;
        let owner = (st.epoch, st.next_token);
        st.lock = Some(owner);
        Ok(Box::new(MemLock {
            storage: self.clone(),
            owner,
        }))
    }

    fn describe(&self, name: &str) -> String {
        if name.is_empty() {
            "mem (in-memory storage)".to_owned()
        } else {
            format!("mem:{name}")
        }
    }
}

/// An open file of a [`MemStorage`], valid until the next simulated crash.
struct MemHandle {
    storage: MemStorage,
    name: String,
    epoch: u64,
}

impl fmt::Debug for MemHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemHandle({}, epoch {})", self.name, self.epoch)
    }
}

impl MemHandle {
    /// Runs `f` on this handle's file, unless the handle outlived a crash or the file is gone.
    fn with<T>(&self, f: impl FnOnce(&mut State) -> io::Result<T>) -> io::Result<T> {
        let mut st = self.storage.state();
        if st.epoch != self.epoch {
            return Err(io::Error::other(format!(
                "{}: handle from before a simulated crash",
                self.name
            )));
        }
        if !st.files.contains_key(&self.name) {
            return Err(io::ErrorKind::NotFound.into());
        }
        f(&mut st)
    }
}

impl StorageFile for MemHandle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with(|st| {
            st.count(FaultOp::Read)?;
            let data = &st.files[&self.name].current;
            let start = (offset as usize).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            Ok(n)
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.with(|st| {
            st.count(FaultOp::Write)?;
            too_large(offset.saturating_add(buf.len() as u64))?;
            st.room_for(&self.name, offset + buf.len() as u64)?;
            st.seq += 1;
            let seq = st.seq;
            st.stats.unsynced += 1;
            let file = st.files.get_mut(&self.name).expect("checked by with");
            apply_write(&mut file.current, offset, buf);
            file.pending.push(Pending::Write {
                seq,
                offset,
                data: buf.to_vec(),
            });
            Ok(())
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.with(|st| Ok(st.files[&self.name].current.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|st| {
            st.count(FaultOp::Any)?;
            too_large(len)?;
            // (A real file system extends a file sparsely, using no space; the simulation
            // must hold the bytes, so growth counts against the capacity here too — found
            // by the log fuzz target, whose forged block numbers grew a file to 3 GiB.)
            st.room_for(&self.name, len)?;
            st.stats.unsynced += 1;
            let file = st.files.get_mut(&self.name).expect("checked by with");
            file.current.resize(len as usize, 0);
            file.pending.push(Pending::SetLen { len });
            Ok(())
        })
    }

    fn sync(&self) -> io::Result<()> {
        self.with(|st| {
            st.count(FaultOp::Sync)?;
            let file = st.files.get_mut(&self.name).expect("checked by with");
            let synced = file.pending.len() as u64;
            let mut image = std::mem::take(&mut file.durable);
            for p in file.pending.drain(..) {
                apply(&mut image, &p);
            }
            file.durable = image;
            st.stats.unsynced -= synced;
            Ok(())
        })
    }
}

/// The owner lock of a [`MemStorage`]; a crash releases it as the OS would.
#[derive(Debug)]
struct MemLock {
    storage: MemStorage,
    owner: (u64, u64),
}

impl StorageLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut st = self.storage.state();
        if st.lock == Some(self.owner) {
            st.lock = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &MemStorage, name: &str, offset: u64, data: &[u8]) -> Arc<dyn StorageFile> {
        let f = s.open_file(name).unwrap();
        f.write_at(data, offset).unwrap();
        f
    }

    #[test]
    fn power_loss_keeps_only_synced_writes() {
        let s = MemStorage::new();
        let f = write(&s, "a", 0, b"synced");
        f.sync().unwrap();
        f.write_at(b"LOST!!", 0).unwrap();
        f.write_at(b"tail", 6).unwrap();
        assert_eq!(s.stats().unsynced, 2);
        s.crash(Crash::power_loss());
        assert_eq!(s.file_bytes("a").unwrap(), b"synced");
        assert!(f.size().is_err(), "the old handle died with the process");
        assert_eq!(s.open_file("a").unwrap().size().unwrap(), 6);
    }

    #[test]
    fn process_kill_keeps_everything_written() {
        let s = MemStorage::new();
        write(&s, "a", 0, b"abc");
        write(&s, "b", 2, b"z");
        s.crash(Crash::process_kill());
        assert_eq!(s.file_bytes("a").unwrap(), b"abc");
        assert_eq!(s.file_bytes("b").unwrap(), b"\0\0z");
    }

    #[test]
    fn a_torn_write_lands_only_its_prefix() {
        let s = MemStorage::new();
        let f = write(&s, "a", 0, &[1; 8]);
        f.sync().unwrap();
        write(&s, "b", 0, b"dropped");
        f.write_at(&[2; 8], 0).unwrap();
        s.crash(Crash::torn(3));
        assert_eq!(s.file_bytes("a").unwrap(), [2, 2, 2, 1, 1, 1, 1, 1]);
        assert_eq!(
            s.file_bytes("b").unwrap(),
            b"",
            "earlier unsynced writes dropped"
        );
    }

    #[test]
    fn random_crashes_replay_from_their_seed() {
        let image = |seed| {
            let s = MemStorage::new();
            let f = s.open_file("a").unwrap();
            for i in 0..32u8 {
                f.write_at(&[i + 1], u64::from(i)).unwrap();
            }
            s.crash(Crash::random(seed));
            s.file_bytes("a").unwrap()
        };
        assert_eq!(image(7), image(7));
        assert_ne!(image(7), image(8));
        let kept = image(7).iter().filter(|&&b| b != 0).count();
        assert!(kept > 0 && kept < 32, "a subset survived: {kept}");
    }

    #[test]
    fn a_scrambled_write_lands_some_of_its_sectors() {
        let s = MemStorage::new();
        write(&s, "a", 0, &[1; 4096]);
        s.crash(Crash::scrambled(3));
        let image = s.file_bytes("a").unwrap();
        let landed: Vec<bool> = (0..8)
            .map(|i| image.get(i * 512).copied() == Some(1))
            .collect();
        assert!(
            landed.contains(&true) && landed.contains(&false),
            "{landed:?}"
        );
        for (i, &l) in landed.iter().enumerate() {
            if l {
                assert!(
                    image[i * 512..(i + 1) * 512].iter().all(|&b| b == 1),
                    "whole sectors"
                );
            }
        }
    }

    #[test]
    fn set_len_is_undone_by_power_loss() {
        let s = MemStorage::new();
        let f = write(&s, "a", 0, b"0123456789");
        f.sync().unwrap();
        f.set_len(2).unwrap();
        assert_eq!(f.size().unwrap(), 2);
        s.crash(Crash::power_loss());
        assert_eq!(s.file_bytes("a").unwrap(), b"0123456789");
    }

    #[test]
    fn faults_fail_the_chosen_operation() {
        let s = MemStorage::new();
        s.fail_at(FaultOp::Write, 1);
        s.fail_from(FaultOp::Sync, 0);
        let f = s.open_file("a").unwrap();
        f.write_at(b"a", 0).unwrap();
        assert!(f.write_at(b"b", 1).is_err(), "second write fails");
        f.write_at(b"c", 2).unwrap();
        assert!(f.sync().is_err());
        assert!(f.sync().is_err(), "persistent until cleared");
        s.clear_faults();
        f.sync().unwrap();
        assert_eq!(s.stats().faults_fired, 3);
        assert_eq!(s.stats().writes, 3);
    }

    #[test]
    fn a_power_cut_fails_every_change_until_the_crash() {
        let s = MemStorage::new();
        let f = s.open_file("a").unwrap();
        s.power_cut_at(s.stats().mutations + 2);
        f.write_at(b"1", 0).unwrap();
        f.sync().unwrap();
        assert!(f.write_at(b"2", 1).is_err());
        assert!(f.sync().is_err());
        s.crash(Crash::power_loss());
        let f = s.open_file("a").unwrap();
        f.write_at(b"2", 1).unwrap();
        assert_eq!(s.file_bytes("a").unwrap(), b"12");
    }

    #[test]
    fn capacity_gives_disk_full_without_changing_data() {
        let s = MemStorage::new();
        s.set_capacity(Some(8));
        let f = write(&s, "a", 0, b"12345678");
        let err = f.write_at(b"9", 8).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        f.write_at(b"abc", 0).unwrap();
        assert_eq!(s.file_bytes("a").unwrap(), b"abc45678");
    }

    #[test]
    fn capacity_bounds_a_file_grown_by_set_len_too() {
        let s = MemStorage::new();
        s.set_capacity(Some(8));
        let f = write(&s, "a", 0, b"1234");
        let err = f.set_len(1 << 30).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(s.file_bytes("a").unwrap(), b"1234");
        f.set_len(8).unwrap();
        f.set_len(2).unwrap(); // shrinking always works
        assert_eq!(s.file_bytes("a").unwrap(), b"12");
    }

    #[test]
    fn a_crash_leaves_only_the_restarted_clone_alive() {
        let s = MemStorage::new();
        let dead = s.clone();
        s.crash(Crash::power_loss());
        assert!(
            dead.open_file("x").is_err(),
            "the old process cannot create files"
        );
        assert!(dead.lock().is_err());
        assert!(dead.list().is_err());
        let alive = s.clone();
        alive.open_file("x").unwrap();
        assert_eq!(s.list().unwrap(), ["x"]);
    }

    #[test]
    fn power_cuts_stop_creation_and_removal_too() {
        let s = MemStorage::new();
        s.open_file("old").unwrap();
        s.power_cut_at(s.stats().mutations);
        assert!(s.open_file("new").is_err());
        assert!(s.remove_file("old").is_err());
        s.crash(Crash::power_loss());
        assert_eq!(s.list().unwrap(), ["old"]);
    }

    #[test]
    fn reads_can_fail_and_sizes_are_bounded() {
        let s = MemStorage::new();
        let f = write(&s, "a", 0, b"abc");
        s.fail_at(FaultOp::Read, s.stats().reads);
        let mut buf = [0u8; 3];
        assert!(f.read_at(&mut buf, 0).is_err());
        assert_eq!(f.read_at(&mut buf, 0).unwrap(), 3);
        let err = f.write_at(b"x", MemStorage::MAX_FILE_SIZE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(f.set_len(u64::MAX).is_err());
    }

    #[test]
    fn removing_a_file_forgets_its_unsynced_writes() {
        let s = MemStorage::new();
        write(&s, "a", 0, b"abc");
        assert_eq!(s.stats().unsynced, 1);
        s.remove_file("a").unwrap();
        assert_eq!(s.stats().unsynced, 0);
        assert_eq!(
            s.remove_file("a").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn the_lock_is_exclusive_and_dies_with_a_crash() {
        let s = MemStorage::new();
        let first = s.lock().unwrap();
        assert_eq!(s.lock().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        s.crash(Crash::power_loss());
        let second = s.lock().expect("the crashed owner's lock is gone");
        drop(first);
        assert!(
            s.lock().is_err(),
            "a dead owner's guard must not free the new lock"
        );
        drop(second);
        s.lock().unwrap();
    }
}
