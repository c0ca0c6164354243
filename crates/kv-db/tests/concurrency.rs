//! Writers and snapshot readers at once: every snapshot sees a prefix of the commit order —
//! the state after some number of whole transactions, never part of one, never going back.

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
    let start = Barrier::new(WRITERS + 2);
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
            .map(|_| {
                let (db, start) = (&db, &start);
                s.spawn(move || {
                    start.wait();
                    for _ in 0..COMMITS {
                        // Transaction n: n = n + 1, log/n = n, last = n — three keys at once.
                        db.transaction(|tx| {
                            let n = counter(tx.get(b"n")?) + 1;
                            tx.put(b"n", &n.to_le_bytes())?;
                            tx.put(format!("log/{n:06}").as_bytes(), &n.to_le_bytes())?;
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
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        drop(stop);
        for result in results {
            result.unwrap();
        }
    });
    assert_eq!(counter(db.get(b"n").unwrap()), (WRITERS * COMMITS) as u64);
    assert!(snapshots.load(SeqCst) > 0);
    assert!(db.check().unwrap().iter().all(|(_, r)| r.is_ok()));
}
