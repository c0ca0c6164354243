//! Chapter 2 checkpoint: what the file layer promises, tested from the outside.
//!
//! Run with `cargo test -p kv-file --test chapter2`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Barrier};

use kv_file::{BlockId, Crash, Error, FileManager, FileOptions, MemStorage, Storage};

#[test]
fn data_survives_close_and_reopen_on_the_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    {
        let fm = FileManager::open(dir.path()).unwrap();
        assert_eq!(fm.block_size(), 4096, "the default block size");
        let mut page = fm.new_page();
        for i in 0..10u64 {
            let block = fm.append("table.db").unwrap();
            page.set_u64(0, i * i).unwrap();
            page.set_string(8, &format!("record {i}")).unwrap();
            fm.write(&block, &mut page).unwrap();
        }
        fm.sync("table.db").unwrap();
    }
    let fm = FileManager::open(dir.path()).unwrap();
    assert_eq!(fm.length("table.db").unwrap(), 10);
    let mut page = fm.new_page();
    for i in 0..10u64 {
        fm.read(&BlockId::new("table.db", i), &mut page).unwrap();
        assert_eq!(page.get_u64(0).unwrap(), i * i);
        assert_eq!(page.get_string(8).unwrap(), format!("record {i}"));
    }
}

#[test]
fn a_directory_has_one_owner_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileManager::open(dir.path()).unwrap();
    let err = FileManager::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("is locked by another owner"));
    drop(first);
    FileManager::open(dir.path()).expect("free again once the owner is gone");
}

#[test]
fn reopening_with_another_block_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = kv_file::FsStorage::open(dir.path()).unwrap();
    drop(FileManager::open_with(storage.clone(), FileOptions::default().block_size(8192)).unwrap());
    let err = FileManager::open(dir.path()).map(|fm| fm.block_size());
    assert_eq!(
        err.unwrap(),
        8192,
        "no size asked: the recorded one is used"
    );
    let err = FileManager::open_with(storage, FileOptions::default().block_size(4096)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("was created with block size 8192, not 4096"),
        "{err}"
    );
}

#[test]
fn a_torn_block_is_detected_as_corrupt() {
    let storage = MemStorage::new();
    let fm =
        FileManager::open_with(storage.clone(), FileOptions::default().block_size(4096)).unwrap();
    let block = fm.append("t").unwrap();
    let mut page = fm.new_page();
    page.set_string(0, "old").unwrap();
    fm.write(&block, &mut page).unwrap();
    fm.sync("t").unwrap();
    page.payload_mut().fill(0xab);
    fm.write(&block, &mut page).unwrap();
    // Power fails after the first of eight sectors reached the platter.
    storage.crash(Crash::torn(512));
    let fm = FileManager::open_with(storage, FileOptions::default()).unwrap();
    let err = fm.read(&block, &mut page).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { ref block, .. } if block.to_string() == "t:0"),
        "{err}"
    );
}

/// The small workload the crash enumeration replays: appends, writes and syncs of one file.
#[derive(Debug, Clone, Copy)]
enum Step {
    Append,
    Write { block: u64, stamp: u64 },
    Sync,
}

fn workload() -> Vec<Step> {
    use Step::*;
    vec![
        Append,
        Append,
        Write { block: 0, stamp: 1 },
        Write { block: 1, stamp: 2 },
        Sync,
        Append,
        Write { block: 2, stamp: 3 },
        Write { block: 0, stamp: 4 },
        Sync,
        Write { block: 1, stamp: 5 },
        Write { block: 1, stamp: 6 },
        Append,
        Write { block: 3, stamp: 7 },
        Write { block: 2, stamp: 8 },
        Sync,
        Write { block: 0, stamp: 9 },
        Append,
    ]
}

/// What a block may hold after a crash: its last synced stamp (if any), or a later one.
#[derive(Debug, Default, Clone)]
struct Expect {
    durable: Option<u64>,
    since_sync: Vec<u64>,
    exists_durably: bool,
}

const CRASHES: [Crash; 6] = [
    Crash::power_loss(),
    Crash::process_kill(),
    Crash::torn(0),
    Crash::torn(100),
    Crash::torn(512),
    Crash::random(0x5eed),
];

/// Runs the workload until the power cut and returns what each block may hold afterwards,
/// and the block the last (possibly torn) write went to.
fn run_until_cut(fm: &FileManager) -> (BTreeMap<u64, Expect>, Option<u64>) {
    let mut expect: BTreeMap<u64, Expect> = BTreeMap::new();
    let mut last_write = None;
    let mut page = fm.new_page();
    for step in workload() {
        let done = match step {
            Step::Append => fm.append("t").map(|b| {
                expect.entry(b.number()).or_default();
                last_write = None; // a torn append lands zeroes: a fresh block
            }),
            Step::Write { block, stamp } => {
                page.set_u64(0, stamp).unwrap();
                fm.write(&BlockId::new("t", block), &mut page).map(|()| {
                    expect.get_mut(&block).unwrap().since_sync.push(stamp);
                    last_write = Some(block);
                })
            }
            Step::Sync => fm.sync("t").map(|()| {
                for e in expect.values_mut() {
                    if let Some(&s) = e.since_sync.last() {
                        e.durable = Some(s);
                    }
                    e.since_sync.clear();
                    e.exists_durably = true;
                }
            }),
        };
        if done.is_err() {
            break; // the power is out: nothing after this reaches the disk
        }
    }
    (expect, last_write)
}

#[test]
fn every_crash_point_keeps_synced_blocks_and_never_returns_torn_data() {
    let open = |storage: &MemStorage| {
        FileManager::open_with(storage.clone(), FileOptions::default().block_size(512))
    };
    let probe = MemStorage::new();
    run_until_cut(&open(&probe).unwrap());
    // Every change, from creating the directory's header to the last write.
    let points = probe.stats().mutations;
    assert!(points >= 19, "the workload makes {points} changes");

    let mut states = 0;
    for cut in 0..=points {
        for crash in CRASHES {
            let storage = MemStorage::new();
            storage.power_cut_at(cut);
            let (expect, last_write) = match open(&storage) {
                Ok(fm) => run_until_cut(&fm),
                // The power failed while the directory was being created.
                Err(e) => {
                    assert!(e.to_string().contains("injected fault"), "{e}");
                    (BTreeMap::new(), None)
                }
            };
            storage.crash(crash);
            let fm = FileManager::open_with(storage, FileOptions::default().block_size(512))
                .unwrap_or_else(|e| panic!("reopen after cut {cut}, {crash:?}: {e}"));
            check_after_crash(&fm, &expect, last_write, crash, cut);
            states += 1;
        }
    }
    println!("crash states checked: {states}");
    assert_eq!(states, (points + 1) * CRASHES.len() as u64);
}

fn check_after_crash(
    fm: &FileManager,
    expect: &BTreeMap<u64, Expect>,
    last_write: Option<u64>,
    crash: Crash,
    cut: u64,
) {
    let mut page = fm.new_page();
    for (&n, e) in expect {
        let ctx = format!("block {n}, cut {cut}, {crash:?}, expect {e:?}");
        match fm.read(&BlockId::new("t", n), &mut page) {
            Ok(()) => {
                let stamp = page.get_u64(0).unwrap();
                let allowed: HashSet<u64> = e
                    .durable
                    .iter()
                    .chain(&e.since_sync)
                    .copied()
                    .chain(e.durable.is_none().then_some(0))
                    .collect();
                assert!(allowed.contains(&stamp), "read {stamp}: {ctx}");
                if e.since_sync.is_empty() {
                    assert_eq!(stamp, e.durable.unwrap_or(0), "synced data lost: {ctx}");
                }
            }
            Err(Error::Corrupt { .. }) => {
                assert!(
                    crash.tear_last.is_some() && last_write == Some(n),
                    "only the torn last write may be corrupt: {ctx}"
                );
            }
            Err(Error::BlockOutOfRange { .. }) => {
                assert!(!e.exists_durably, "a synced append vanished: {ctx}");
            }
            Err(other) => panic!("{other}: {ctx}"),
        }
    }
}

#[test]
fn many_threads_share_one_file_manager() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let fm = Arc::new(FileManager::open(dir.path()).unwrap());
    let start = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (fm, start) = (Arc::clone(&fm), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let mut page = fm.new_page();
                let mut mine = Vec::new();
                for i in 0..PER_THREAD {
                    let block = fm.append("shared.db").unwrap();
                    page.set_u64(0, t).unwrap();
                    page.set_u64(8, i).unwrap();
                    fm.write(&block, &mut page).unwrap();
                    fm.read(&block, &mut page).unwrap();
                    assert_eq!((page.get_u64(0).unwrap(), page.get_u64(8).unwrap()), (t, i));
                    mine.push(block.number());
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len() as u64,
        THREADS * PER_THREAD,
        "every append got its own block"
    );
    fm.sync_all().unwrap();
    drop(fm);

    let fm = FileManager::open(dir.path()).unwrap();
    assert_eq!(fm.length("shared.db").unwrap(), THREADS * PER_THREAD);
    let mut page = fm.new_page();
    let mut seen = HashSet::new();
    for n in 0..THREADS * PER_THREAD {
        fm.read(&BlockId::new("shared.db", n), &mut page).unwrap();
        assert!(seen.insert((page.get_u64(0).unwrap(), page.get_u64(8).unwrap())));
    }
}

#[test]
fn storage_is_swappable_behind_a_trait_object() {
    // Upper layers hold `Arc<dyn Storage>`; both implementations fit.
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<dyn Storage>> = vec![
        Arc::new(MemStorage::new()),
        Arc::new(kv_file::FsStorage::open(dir.path()).unwrap()),
    ];
    for s in stores {
        let f = s.open_file("x").unwrap();
        f.write_at(b"abc", 0).unwrap();
        f.sync().unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(kv_file::read_full(&*f, &mut buf, 0).unwrap(), 3);
        assert_eq!(&buf, b"abc");
    }
}
