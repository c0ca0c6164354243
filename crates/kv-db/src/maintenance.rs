//! Operations on the database as a whole: compaction (giving space back to the file
//! system), removing the files of dropped keyspaces, the integrity check of every layer, and
//! the statistics of every layer.

use std::collections::HashSet;

use kv_index::{BTree, CheckReport};
use kv_tx::LogRecord;

use crate::catalog::{entries, file_of, find, id_of_file, next_id, CATALOG};
use crate::{Db, Result};

/// What [`Db::stats`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct DbStats {
    /// Bytes of all data files (keyspaces and catalog), not counting the log.
    pub data_bytes: u64,
    /// Pages in use, in every keyspace and the catalog (meta pages included).
    pub live_pages: u64,
    /// Pages the data files hold but nothing uses: free lists, and spare blocks past a
    /// tree's high-water mark. [`Db::compact`] gives them back.
    pub free_pages: u64,
    /// Keyspaces, the default one included.
    pub keyspaces: usize,
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

/// What [`Db::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// Bytes of the data files before.
    pub bytes_before: u64,
    /// Bytes of the data files after.
    pub bytes_after: u64,
    /// Pages moved down to fill holes.
    pub pages_moved: u64,
    /// Files of dropped keyspaces removed.
    pub files_removed: usize,
    /// Cuts left for later because a snapshot that could still read the pages was open (or
    /// a page was in use): the space stays unused until the next compaction.
    pub deferred: u64,
}

impl CompactReport {
    /// Bytes given back to the file system.
    pub fn reclaimed(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// What [`Db::check`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbCheck {
    /// The catalog's and every keyspace's B+tree report, by name (reading every page they
    /// use, which verifies each page's checksum).
    pub trees: Vec<(String, CheckReport)>,
    /// Log records read back and decoded (every frame's checksum verified).
    pub log_records: u64,
    /// Problems outside the trees (the log), one line each.
    pub problems: Vec<String>,
}

impl DbCheck {
    /// Whether every layer is sound.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.trees.iter().all(|(_, report)| report.is_ok())
    }
}

impl Db {
    // ANCHOR: compact
    /// Gives unused space back to the file system: in each keyspace (and the catalog), moves
    /// live pages down into free ones and cuts the file after the last, and removes the files
    /// of dropped keyspaces. Each keyspace is compacted in a transaction of its own, which
    /// holds it exclusively meanwhile (writers to it wait; snapshot readers do not).
    ///
    /// Space a snapshot older than the compaction may still read is not cut (see
    /// [`CompactReport::deferred`]); the next compaction gets it. Ends with a checkpoint, so
    /// the log is released too.
    pub fn compact(&self) -> Result<CompactReport> {
        let bytes_before = self.data_bytes()?;
        let deferred_before = self.inner.mgr.stats().file_cuts_deferred;
        let mut pages_moved = 0;
        let names: Vec<Option<String>> = std::iter::once(None)
            .chain(self.keyspaces()?.into_iter().map(Some))
            .collect();
        for name in &names {
            pages_moved += self.retrying(|| {
                let mut tx = self.begin()?;
                let tree = match name {
                    None => self.inner.catalog.clone(),
                    Some(name) => match find(&self.inner.catalog, &mut tx.tx, name)? {
                        Some(ks) => ks.tree,
                        None => return Ok(0), // dropped meanwhile
                    },
                };
                let done = tree.compact(&mut tx.tx)?;
                if done.file_blocks > done.used {
                    tx.tx.cut_at_commit(tree.file(), Some(done.used))?;
                }
                tx.commit()?;
                Ok(done.moved)
            })?;
        }
        let files_removed = self.remove_orphans()?;
        // And the log: a checkpoint releases what compaction (and everything before it) wrote
        // there, which would otherwise stay until the log had grown by `checkpoint_bytes`.
        self.checkpoint()?;
        Ok(CompactReport {
            bytes_before,
            bytes_after: self.data_bytes()?,
            pages_moved,
            files_removed,
            deferred: self.inner.mgr.stats().file_cuts_deferred - deferred_before,
        })
    }
    // ANCHOR_END: compact

    /// Removes the files of keyspaces the catalog no longer has — dropped while a snapshot
    /// was open, or by a drop whose removal a crash interrupted — and of creations that
    /// rolled back; how many it removed.
    pub(crate) fn remove_orphans(&self) -> Result<usize> {
        let fm = self.inner.mgr.file_manager();
        let catalog = &self.inner.catalog;
        self.retrying(|| {
            let mut tx = self.begin()?;
            let known: HashSet<u64> = entries(catalog, &mut tx.tx)?
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            next_id(catalog, &mut tx.tx)?; // no keyspace is created until this ends
            let orphans: Vec<String> = self
                .files()?
                .into_iter()
                .filter(|file| id_of_file(file).is_some_and(|id| !known.contains(&id)))
                .collect();
            for file in &orphans {
                tx.tx.cut_at_commit(file, None)?;
            }
            tx.commit()?;
            Ok(orphans
                .iter()
                .filter(|file| !fm.exists(file).unwrap_or(true))
                .count())
        })
    }

    /// The database's data files: the catalog and every keyspace's, orphans included.
    fn files(&self) -> Result<Vec<String>> {
        let storage = self.inner.mgr.file_manager().storage();
        let names = storage
            .list()
            .map_err(|e| kv_file::Error::io("listing", storage.describe(""), e))
            .map_err(kv_tx::Error::from)?;
        Ok(names
            .into_iter()
            .filter(|name| name == CATALOG || id_of_file(name).is_some())
            .collect())
    }

    fn data_bytes(&self) -> Result<u64> {
        let fm = self.inner.mgr.file_manager();
        let mut blocks = 0;
        for file in self.files()? {
            blocks += fm.length(&file).map_err(kv_tx::Error::from)?;
        }
        Ok(blocks * fm.block_size() as u64)
    }

    // ANCHOR: stats
    /// Sizes and counters of every layer. Reads each keyspace's meta page and free list.
    pub fn stats(&self) -> Result<DbStats> {
        let mgr = &self.inner.mgr;
        let fm = mgr.file_manager();
        let mut snapshot = self.begin_read()?;
        let keyspaces = entries(&self.inner.catalog, &mut snapshot.tx)?;
        let mut trees = vec![self.inner.catalog.clone()];
        for (_, id) in &keyspaces {
            trees.push(BTree::open(&mut snapshot.tx, &file_of(*id))?);
        }
        let (mut live_pages, mut free_pages) = (0, 0);
        for tree in &trees {
            let space = tree.space(&mut snapshot.tx)?;
            let blocks = fm.length(tree.file()).map_err(kv_tx::Error::from)?;
            live_pages += space.allocated - space.free;
            free_pages += space.free + blocks.saturating_sub(space.allocated);
        }
        drop(snapshot);
        let log = mgr.log();
        let tx = mgr.stats();
        let locks = mgr.locks().stats();
        Ok(DbStats {
            data_bytes: self.data_bytes()?,
            live_pages,
            free_pages,
            keyspaces: keyspaces.len(),
            log_bytes: log.end_lsn().0.saturating_sub(log.first_lsn().0),
            cache_hit_ratio: mgr.pool().stats().hit_ratio(),
            commits: tx.commits,
            rollbacks: tx.rollbacks,
            deadlocks: locks.deadlocks,
            lock_waits: locks.waits,
            fsyncs: log.stats().fsyncs,
            checkpoints: tx.checkpoints,
            snapshots: mgr.snapshot_stats().active,
        })
    }
    // ANCHOR_END: stats

    // ANCHOR: check
    /// Verifies every layer: every structure of the catalog and of every keyspace (which
    /// reads, and so checksums, every page they use — the file and buffer layers), on a
    /// snapshot, so writers go on meanwhile; and every record of the durable log (framing,
    /// checksums, and that each decodes).
    pub fn check(&self) -> Result<DbCheck> {
        let mut report = DbCheck::default();
        let mut snapshot = self.begin_read()?;
        let catalog = &self.inner.catalog;
        report
            .trees
            .push((CATALOG.to_owned(), catalog.check(&mut snapshot.tx)?));
        for (name, _) in entries(catalog, &mut snapshot.tx)? {
            if let Some(ks) = find(catalog, &mut snapshot.tx, &name)? {
                let tree_report = ks.tree.check(&mut snapshot.tx)?;
                report.trees.push((name, tree_report));
            }
        }
        drop(snapshot);
        let log = self.inner.mgr.log();
        let records = log.iter_from(log.first_lsn()).map_err(kv_tx::Error::from)?;
        for record in records {
            let decoded = record.map_err(|e| e.to_string()).and_then(|(lsn, bytes)| {
                LogRecord::decode(&bytes, lsn).map_err(|e| format!("record at {lsn}: {e}"))
            });
            match decoded {
                Ok(_) => report.log_records += 1,
                Err(problem) => {
                    report.problems.push(format!("log: {problem}"));
                    break;
                }
            }
        }
        Ok(report)
    }
    // ANCHOR_END: check
}
