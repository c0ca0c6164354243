//! Helpers shared by the chapter 3 tests.
#![allow(dead_code)] // each test file uses a different subset

use std::io;
use std::sync::Arc;

use kv_file::{FileManager, FileOptions, MemStorage, Storage, StorageFile, StorageLock};
use kv_log::{LogManager, LogOptions, Lsn};

/// Small segments, so a few records already span several files.
pub const SMALL: LogOptions = LogOptions {
    segment_size: 256,
    buffer_limit: 1 << 20,
    tail: kv_log::TailRecovery::Strict,
};

pub fn open(storage: &MemStorage, options: LogOptions) -> kv_log::Result<LogManager> {
    let fm = FileManager::open_with(storage.clone(), FileOptions::default().block_size(512))?;
    LogManager::open_with(Arc::new(fm), "wal", options)
}

pub fn all(log: &LogManager) -> Vec<(Lsn, Vec<u8>)> {
    log.iter_from(log.first_lsn())
        .unwrap()
        .collect::<kv_log::Result<_>>()
        .unwrap()
}

/// A payload that says which record it is, of a length that varies with `i`.
pub fn record(i: usize) -> Vec<u8> {
    let mut r = format!("record {i}:").into_bytes();
    r.resize(r.len() + (i * 37) % 150, b'a' + (i % 26) as u8);
    r
}

/// Runs before every `sync`: a test's way to make an fsync wait for something, as a slow
/// disk would, without sleeping.
pub type SyncHook = Arc<dyn Fn() + Send + Sync>;

/// A log named "wal" on a fresh simulated disk whose every sync first runs `before_sync`.
pub fn open_hooked(before_sync: impl Fn() + Send + Sync + 'static) -> Arc<LogManager> {
    let storage = HookedStorage {
        inner: MemStorage::new(),
        before_sync: Arc::new(before_sync),
    };
    let fm = FileManager::open_with(storage, FileOptions::default()).unwrap();
    Arc::new(LogManager::open(Arc::new(fm), "wal").unwrap())
}

/// A `MemStorage` whose files call a hook before every sync.
#[derive(Clone)]
pub struct HookedStorage {
    pub inner: MemStorage,
    pub before_sync: SyncHook,
}

impl std::fmt::Debug for HookedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HookedStorage({:?})", self.inner)
    }
}

struct HookedFile(Arc<dyn StorageFile>, SyncHook);

impl std::fmt::Debug for HookedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HookedFile({:?})", self.0)
    }
}

impl Storage for HookedStorage {
    fn open_file(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let file = self.inner.open_file(name)?;
        Ok(Arc::new(HookedFile(file, Arc::clone(&self.before_sync))))
    }
    fn exists(&self, name: &str) -> io::Result<bool> {
        self.inner.exists(name)
    }
    fn remove_file(&self, name: &str) -> io::Result<()> {
        self.inner.remove_file(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn lock(&self) -> io::Result<Box<dyn StorageLock>> {
        self.inner.lock()
    }
    fn describe(&self, name: &str) -> String {
        self.inner.describe(name)
    }
}

impl StorageFile for HookedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        self.0.size()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync(&self) -> io::Result<()> {
        (self.1)();
        self.0.sync()
    }
}
