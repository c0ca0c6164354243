//! The WAL rule under crashes: cut the power at every change of a workload that keeps
//! evicting dirty pages, crash in several ways, and check that no page on disk holds a change
//! whose log record is not durable.
//!
//! Run with `cargo test -p kv-buffer --test wal_rule -- --nocapture` for the count.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kv_buffer::{BufferOptions, BufferPool, PolicyKind};
use kv_file::{BlockId, Crash, Error as FileError, FileManager, FileOptions, MemStorage};
use kv_log::LogManager;

const BLOCKS: u64 = 6;

fn open(storage: &MemStorage) -> kv_buffer::Result<(Arc<FileManager>, Arc<LogManager>)> {
    let fm = Arc::new(FileManager::open_with(
        storage.clone(),
        FileOptions::default().block_size(512),
    )?);
    let log = Arc::new(LogManager::open(Arc::clone(&fm), "wal")?);
    Ok((fm, log))
}

/// Changes blocks through a 2-frame pool, logging each change first; stops at the first error.
fn workload(storage: &MemStorage) -> kv_buffer::Result<()> {
    let (fm, log) = open(storage)?;
    while fm.length("t")? < BLOCKS {
        fm.append("t")?;
    }
    let options = BufferOptions {
        frames: 2,
        policy: PolicyKind::Clock,
        pin_timeout: Duration::from_secs(10),
    };
    let pool = BufferPool::new(fm, Arc::clone(&log), options);
    for stamp in 1..=24u64 {
        let block = BlockId::new("t", stamp * 5 % BLOCKS);
        let lsn = log.append(&[block.number().to_le_bytes(), stamp.to_le_bytes()].concat())?;
        let guard = pool.pin(&block)?;
        let mut page = guard.write();
        page.set_u64(0, stamp)?;
        page.set_modified(1, lsn);
        drop(page);
        drop(guard);
        if stamp % 5 == 0 {
            log.flush(lsn)?;
        }
        if stamp % 9 == 0 {
            pool.flush_all()?;
        }
    }
    Ok(())
}

#[test]
fn no_page_on_disk_is_ahead_of_the_durable_log() {
    let probe = MemStorage::new();
    workload(&probe).unwrap();
    let points = probe.stats().mutations;
    let crashes = [
        Crash::power_loss(),
        Crash::process_kill(),
        Crash::torn(100),
        Crash::random(7),
        Crash::random(8),
    ];
    let mut states = 0;
    for cut in 0..=points {
        for crash in crashes {
            let storage = MemStorage::new();
            storage.power_cut_at(cut);
            let _ = workload(&storage); // fails at the cut
            storage.crash(crash);
            let (fm, log) = open(&storage).unwrap();
            let logged: HashSet<(u64, u64)> = log
                .iter_from(log.first_lsn())
                .unwrap()
                .map(|r| {
                    let p = r.unwrap().1;
                    let n = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().unwrap());
                    (n(0), n(8))
                })
                .collect();
            let mut page = fm.new_page();
            for n in 0..fm.length("t").unwrap() {
                match fm.read(&BlockId::new("t", n), &mut page) {
                    Ok(()) => {
                        let stamp = page.get_u64(0).unwrap();
                        assert!(
                            stamp == 0 || logged.contains(&(n, stamp)),
                            "cut {cut}, {crash:?}: t:{n} holds change {stamp}, whose log record is not durable"
                        );
                    }
                    Err(FileError::Corrupt { .. }) => {
                        assert!(
                            crash.tear_last.is_some(),
                            "cut {cut}, {crash:?}: t:{n} corrupt"
                        )
                    }
                    Err(e) => panic!("cut {cut}, {crash:?}: {e}"),
                }
            }
            states += 1;
        }
    }
    println!("crash states checked: {states}");
    assert!(states > 100);
}
