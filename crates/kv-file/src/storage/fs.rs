//! The real file system: one directory, positional I/O, an advisory lock file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Storage, StorageFile, StorageLock};

/// Name of the file whose advisory lock marks the directory as owned.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// A database directory on the real file system.
#[derive(Debug, Clone)]
pub struct FsStorage {
    /// The directory every file name is relative to.
    dir: PathBuf,
}

impl FsStorage {
    /// Uses `dir`, creating it (and its parents) if missing. A directory created here is
    /// made durable (its parent is synced), or a crash could lose it with everything in it.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)?;
            #[cfg(unix)]
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(Self { dir })
    }

    /// The directory this storage works in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the directory's entries (creations, removals) durable.
    fn sync_dir(&self) -> io::Result<()> {
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

impl Storage for FsStorage {
    fn open_file(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let path = self.dir.join(name);
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let file = loop {
            match options.open(&path) {
                Ok(f) => break f,
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                Err(_) => {}
            }
            match options.clone().create_new(true).open(&path) {
                Ok(f) => {
                    // A new directory entry is only durable once the directory is synced.
                    self.sync_dir()?;
                    break f;
                }
                // Another thread created it between our two calls: open theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        };
        Ok(Arc::new(FsFile { file }))
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        self.dir.join(name).try_exists()
    }

    fn remove_file(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))?;
        self.sync_dir()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn lock(&self) -> io::Result<Box<dyn StorageLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(LOCK_FILE))?;
        // An advisory lock (flock on Unix) belongs to this open file description, so a second
        // open in the same process is refused just like one from another process, and the
        // operating system releases it if the process dies.
        match file.try_lock() {
            Ok(()) => Ok(Box::new(FsLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// An open file of [`FsStorage`].
#[derive(Debug)]
struct FsFile {
    /// The handle; positional calls leave no shared cursor to guard.
    file: File,
}

impl StorageFile for FsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_all_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_write(
                    &self.file,
                    &buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                done += n;
            }
            Ok(())
        }
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        // fdatasync: data and the length, not timestamps; enough for recovery.
        self.file.sync_data()
    }
}

/// Holds the lock file open; closing it releases the advisory lock.
#[derive(Debug)]
struct FsLock {
    /// Kept only so the lock lives as long as the guard.
    _file: File,
}

impl StorageLock for FsLock {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::read_full;

    #[test]
    fn positional_reads_and_writes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path().join("nested/db")).unwrap();
        let f = s.open_file("a").unwrap();
        f.write_at(b"world", 6).unwrap();
        f.write_at(b"hello", 0).unwrap();
        assert_eq!(f.size().unwrap(), 11);
        let mut buf = [9u8; 16];
        assert_eq!(read_full(&*f, &mut buf, 0).unwrap(), 11);
        assert_eq!(&buf[..11], b"hello\0world");
        f.sync().unwrap();
        f.set_len(5).unwrap();
        assert_eq!(f.size().unwrap(), 5);
        assert!(s.exists("a").unwrap());
        assert_eq!(s.list().unwrap(), vec!["a".to_string()]);
        s.remove_file("a").unwrap();
        assert!(!s.exists("a").unwrap());
    }

    #[test]
    fn a_path_that_is_a_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert!(FsStorage::open(&file).is_err());
        let err = crate::FileManager::open(&file).unwrap_err();
        assert!(err.to_string().contains("opening directory"), "{err}");
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let guard = s.lock().unwrap();
        let again = FsStorage::open(dir.path()).unwrap().lock();
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(guard);
        s.lock().expect("released on drop");
    }
}
