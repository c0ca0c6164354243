//! Writers, snapshot readers and compaction at once: every snapshot sees a prefix of the
//! commit order — the state after some number of whole transactions, never part of one,
//! never going back — while compaction moves pages under them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;

use kv_db::{Db, Options};
use kv_file::MemStorage;

fn counter(bytes: Option<Vec<u8>>) -> u64 {
    bytes.map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
}

#[test]
fn every_snapshot_is_a_prefix_of_the_commit_order() {
    const WRITERS: usize = 3;
    const COMMITS: usize = 60;
    let db = Db::open_on(
        MemStorage::new(),
        Options {
            block_size: Some(512),
            ..Options::default()
        },
    )
    .unwrap();
    let done = AtomicBool::new(false);
    let snapshots = AtomicUsize::new(0);
    let start = Barrier::new(WRITERS + 3);
    let compactions = AtomicUsize::new(0);
    // Writer 0 asks for a compaction every 10 commits. (A compactor in a tight loop starves
    // writers: each keeps losing the meta page's lock upgrade to it.)
    let (compact_tx, compact_rx) = std::sync::mpsc::channel::<()>();
    /// Stops the readers however the writers end — a writer that panics must not leave
    /// the readers (and so the test) running forever.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    std::thread::scope(|s| {
        let stop = StopOnDrop(&done);
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (db, start) = (&db, &start);
                let ask = (w == 0).then(|| compact_tx.clone());
                s.spawn(move || {
                    start.wait();
                    for i in 0..COMMITS {
                        if let Some(ask) = ask.as_ref().filter(|_| i % 10 == 9) {
                            ask.send(()).unwrap();
                        }
                        // Transaction n: n = n + 1, log/n = n, last = n — three keys at once.
                        // Plus a large value replaced each time: overflow pages freed, for
                        // the compactor to fill.
                        db.transaction(|tx| {
                            let n = counter(tx.get(b"n")?) + 1;
                            tx.put(b"n", &n.to_le_bytes())?;
                            tx.put(format!("log/{n:06}").as_bytes(), &n.to_le_bytes())?;
                            tx.put(b"big", &vec![n as u8; 3000])?;
                            tx.put(b"last", &n.to_le_bytes())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            let (db, start, done, snapshots) = (&db, &start, &done, &snapshots);
            s.spawn(move || {
                start.wait();
                let mut seen = 0;
                while !done.load(SeqCst) {
                    let mut r = db.begin_read().unwrap();
                    let n = counter(r.get(b"n").unwrap());
                    let last = counter(r.get(b"last").unwrap());
                    let logged = r.prefix(b"log/").unwrap().count() as u64;
                    assert_eq!((n, last), (logged, logged), "part of a transaction seen");
                    assert!(
                        n >= seen,
                        "a later snapshot went back in time: {n} < {seen}"
                    );
                    seen = n;
                    snapshots.fetch_add(1, SeqCst);
                }
            });
        }
        drop(compact_tx);
        {
            let (db, start, compactions) = (&db, &start, &compactions);
            s.spawn(move || {
                start.wait();
                while compact_rx.recv().is_ok() {
                    db.compact().unwrap();
                    compactions.fetch_add(1, SeqCst);
                }
            });
        }
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        drop(stop);
        for result in results {
            result.unwrap();
        }
    });
    assert_eq!(counter(db.get(b"n").unwrap()), (WRITERS * COMMITS) as u64);
    assert!(snapshots.load(SeqCst) > 0 && compactions.load(SeqCst) > 0);
    assert!(db.check().unwrap().is_ok());
}
