//! Martin Kleppmann's Hermitage isolation tests (github.com/ept/hermitage), scripted against
//! the embedded API. Each case is a fixed interleaving of two or three transactions over
//! Hermitage's table `test` — rows `1 => 10` and `2 => 20` — and asserts the outcome our
//! claims require: read-write transactions (`Db::begin`) are **serializable** (strict 2PL on
//! pages, deadlocks refused at once with a retryable error), read-only ones
//! (`Db::begin_read`) read a **snapshot** and never wait.
//!
//! ## Method
//!
//! Each transaction runs on a thread of its own, driven over a channel: the test sends it one
//! step (a statement, a commit) at a time and waits until the step either finishes or is
//! *blocked* — known without sleeping, from the lock table's wait observer, which reports
//! (with the waiting thread) every request that is about to sleep. Only one step is ever in
//! flight, so every run takes the same path. A step that fails ends its transaction (it is
//! rolled back, as the error says), which frees whoever waited for its locks.
//!
//! Locks are per page, so the setup puts rows 1 and 2 in different leaves (padding keys
//! between them, ignored by the table's reads): then row locks are what the pages give, and
//! a conflict the test shows is a real one, not two rows sharing a page. Rows 3 and 4,
//! inserted by some cases, land in row 2's leaf. A predicate read (`where value % 3 = 0`) is
//! a scan of the table filtered in the test, as a key-value store runs it: the scan locks
//! every leaf it reads, so it conflicts with any insert into its range.
//!
//! The runs are deterministic, so each case asserts its exact outcome — which step blocks,
//! which transaction is refused — and, with its own message, the absence of the anomaly
//! (a read of uncommitted data, a lost update, write skew committed on both sides). Other
//! page layouts (rows sharing a leaf) block earlier, but never admit the anomaly.
//!
//! Hermitage begins every transaction at once; a `ReadTxn` here begins where its snapshot is
//! taken (PostgreSQL takes it at the first statement). Where a step blocks, the blocked
//! transaction's later steps are issued after it resumes (its client is waiting).
//!
//! ## Outcomes (serializable read-write transactions; `_read_only`: a snapshot reader)
//!
//! ```text
//! case                   outcome
//! g0                     T2's write blocks on T1's; proceeds after T1 commits; (12, 22)
//! g1a                    T2's read blocks on T1's write; after T1 aborts it reads 10
//! g1a_read_only          T2 reads 10 before and after T1 aborts, never blocking
//! g1b                    T2's read blocks; after T1 commits it reads 11, never 101
//! g1b_read_only          T2 reads 10 throughout (its snapshot), never 101
//! g1c                    T1's read blocks on T2's write; T2's read closes a cycle:
//!                        T2 aborted (deadlock); T1 reads 20 and commits
//! g1c_rows_sharing_a_page  (rows in one leaf) T2's write blocks on T1's; T1 reads 20,
//!                        commits; T2 reads 11 — serial T1, T2
//! otv                    T2 blocks behind T1; T3 blocks behind T2; T3 sees T2 whole (12, 18)
//! otv_read_only          T3's snapshot (after T1) sees T1 whole (11, 19), before and after T2
//! pmp                    T2's insert blocks on T1's scan; T1's rescan still finds nothing
//! pmp_read_only          T2 inserts and commits; T1's snapshot rescan still finds nothing
//! pmp_write              T2's delete blocks on T1's update-all; then deletes the row that
//!                        now has value 20: { 2 => 30 }, T1 then T2
//! p4                     T1's write blocks on T2's read; T2's write closes a cycle:
//!                        T2 aborted (deadlock); 11, one increment, then T2's retry: 12
//! g_single               T2's write blocks on T1's read; T1 reads 20 (sum 30); then T2
//! g_single_read_only     T2 commits at once; T1's snapshot still reads 20 (sum 30)
//! g_single_dependencies  T2's update blocks on T1's scan; T1's rescan finds nothing
//! g_single_dependencies_read_only   T2 commits at once; T1's snapshot rescan finds nothing
//! g_single_write_1       T2's write blocks on T1's read; T1's predicate delete closes a
//!                        cycle: T1 aborted (deadlock); T2 commits (12, 18)
//! g_single_write_2       the same deadlock, T1's delete between T2's two writes
//! g2_item                T1's write blocks on T2's read; T2's write: T2 aborted (deadlock)
//! g2                     T1's insert blocks on T2's scan; T2's insert: T2 aborted (deadlock)
//! g2_two_edges           T2 blocks on T1's read; T3 queues behind T2; T1's write closes a
//!                        cycle: T1 aborted (deadlock); T2 commits, T3 reads (10, 25)
//! g2_two_edges_read_only T3's snapshot reads (10, 20); T1 commits, then T2: (0, 25)
//! ```

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::{Scope, ThreadId};
use std::time::Duration;

use kv_db::{Db, Error, Options, ReadTxn, Result, Txn};
use kv_file::MemStorage;

/// How long a step may take to finish or block before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// A row of table `test`: `(id, value)`.
type Row = (u32, u32);

/// A database holding Hermitage's table, `1 => 10` and `2 => 20`, with rows 1 and 2 in
/// different leaves (`padding`), or in one.
fn setup(padding: bool) -> Db {
    let db = Db::open_on(
        MemStorage::new(),
        Options {
            block_size: Some(512),
            // A hang (a bug) fails the test rather than stalling it.
            lock_timeout: Some(PATIENCE * 2),
            ..Options::default()
        },
    )
    .unwrap();
    db.transaction(|tx| {
        tx.put(b"1", b"10")?;
        // Padding sorts between "1" and "2": "1." > "1" and < "2".
        for i in 0..if padding { 40 } else { 0 } {
            tx.put(format!("1.pad{i:03}").as_bytes(), &[b'-'; 60])?;
        }
        tx.put(b"2", b"20")
    })
    .unwrap();
    db
}

/// One statement or the end of a transaction, as Hermitage writes them.
#[derive(Clone, Copy)]
enum Op {
    /// `select * from test where id = ?`
    Get(u32),
    /// `select * from test where <predicate on value>` (`|_| true`: the whole table).
    Select(fn(u32) -> bool),
    /// `update test set value = ? where id = ?` (a blind write), or `insert`.
    Set(u32, u32),
    /// `update test set value = value + ? where id = ?`: read, then write.
    Add(u32, u32),
    /// `update test set value = f(value) where <predicate>`: a scan, then the writes.
    UpdateWhere(fn(u32) -> bool, fn(u32) -> u32),
    /// `delete from test where <predicate>`: a scan, then the deletes.
    DeleteWhere(fn(u32) -> bool),
    Commit,
    Rollback,
}

/// A transaction of either kind, as its thread holds it.
enum Session<'db> {
    ReadWrite(Txn<'db>),
    ReadOnly(ReadTxn<'db>),
}

fn key(id: u32) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// The rows of the table: entries whose key is a number (not padding).
fn table(entries: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for entry in entries {
        let (k, v) = entry?;
        let id = std::str::from_utf8(&k).ok().and_then(|k| k.parse().ok());
        if let Some(id) = id {
            rows.push((id, String::from_utf8(v).unwrap().parse().unwrap()));
        }
    }
    Ok(rows)
}

fn value(bytes: Option<Vec<u8>>) -> Option<u32> {
    bytes.map(|v| String::from_utf8(v).unwrap().parse().unwrap())
}

impl<'db> Session<'db> {
    fn get(&mut self, id: u32) -> Result<Vec<Row>> {
        let v = match self {
            Session::ReadWrite(tx) => tx.get(&key(id))?,
            Session::ReadOnly(tx) => tx.get(&key(id))?,
        };
        Ok(value(v).map(|v| (id, v)).into_iter().collect())
    }

    fn scan(&mut self) -> Result<Vec<Row>> {
        match self {
            Session::ReadWrite(tx) => table(tx.range(..)?),
            Session::ReadOnly(tx) => table(tx.range(..)?),
        }
    }

    fn writer(&mut self) -> &mut Txn<'db> {
        match self {
            Session::ReadWrite(tx) => tx,
            Session::ReadOnly(_) => panic!("a write in a read-only transaction"),
        }
    }

    /// Runs `op`; the rows it read (for a write: the rows it changed, as they are now).
    fn run(&mut self, op: Op) -> Result<Vec<Row>> {
        match op {
            Op::Get(id) => self.get(id),
            Op::Select(pred) => Ok(self.scan()?.into_iter().filter(|r| pred(r.1)).collect()),
            Op::Set(id, v) => {
                self.writer().put(&key(id), v.to_string().as_bytes())?;
                Ok(vec![(id, v)])
            }
            Op::Add(id, delta) => {
                let rows = self.get(id)?;
                for &(id, v) in &rows {
                    self.writer()
                        .put(&key(id), (v + delta).to_string().as_bytes())?;
                }
                Ok(rows.into_iter().map(|(id, v)| (id, v + delta)).collect())
            }
            Op::UpdateWhere(pred, f) => {
                let rows: Vec<Row> = self.scan()?.into_iter().filter(|r| pred(r.1)).collect();
                for &(id, v) in &rows {
                    self.writer().put(&key(id), f(v).to_string().as_bytes())?;
                }
                Ok(rows.into_iter().map(|(id, v)| (id, f(v))).collect())
            }
            Op::DeleteWhere(pred) => {
                let rows: Vec<Row> = self.scan()?.into_iter().filter(|r| pred(r.1)).collect();
                for &(id, _) in &rows {
                    self.writer().delete(&key(id))?;
                }
                Ok(rows)
            }
            Op::Commit | Op::Rollback => unreachable!("ends the session"),
        }
    }
}

/// What the driver hears: a request about to sleep on a lock (from the table's observer,
/// with the thread that made it), or a step's result from a transaction's thread.
enum Event {
    Waiting(ThreadId),
    Done(usize, Result<Vec<Row>>),
}

/// How a step went: finished (with its result), or waiting for a lock.
#[derive(Debug)]
enum Step {
    Done(Result<Vec<Row>>),
    Blocked,
}

/// The test's side: transactions by number (T1 = 1), each a thread taking steps.
struct Script<'scope, 'db> {
    db: &'db Db,
    scope: &'scope Scope<'scope, 'db>,
    events: Receiver<Event>,
    events_tx: Sender<Event>,
    steps: HashMap<usize, Sender<Op>>,
    threads: HashMap<usize, ThreadId>,
    /// Transactions whose step is waiting for a lock.
    blocked: Vec<usize>,
    /// Results of blocked steps that came in while the test was doing something else.
    resumed: HashMap<usize, Result<Vec<Row>>>,
}

/// Runs `script` against a fresh Hermitage table; returns the table as committed after it.
fn hermitage(script: impl for<'s, 'db> FnOnce(&mut Script<'s, 'db>)) -> Vec<Row> {
    hermitage_on(setup(true), script)
}

/// Runs `script` against the table in `db`.
fn hermitage_on(db: Db, script: impl for<'s, 'db> FnOnce(&mut Script<'s, 'db>)) -> Vec<Row> {
    let (events_tx, events) = channel();
    let observer = events_tx.clone();
    db.tx_manager().locks().set_wait_observer(move |_txn| {
        let _ = observer.send(Event::Waiting(std::thread::current().id()));
    });
    std::thread::scope(|scope| {
        let mut s = Script {
            db: &db,
            scope,
            events,
            events_tx,
            steps: HashMap::new(),
            threads: HashMap::new(),
            blocked: Vec::new(),
            resumed: HashMap::new(),
        };
        script(&mut s);
        assert!(
            s.blocked.is_empty(),
            "T{:?} still blocked at the end",
            s.blocked
        );
        // Dropping `s` ends every thread (a transaction still open rolls back).
    });
    let mut check = db.begin_read().unwrap();
    table(check.range(..).unwrap()).unwrap()
}

impl<'scope, 'db> Script<'scope, 'db> {
    /// Begins transaction `t`, read-write or read-only, on a thread of its own.
    fn begin(&mut self, t: usize, read_only: bool) {
        let (steps_tx, steps) = channel::<Op>();
        let events = self.events_tx.clone();
        let db = self.db;
        let handle = self.scope.spawn(move || {
            let mut session = Some(if read_only {
                Session::ReadOnly(db.begin_read().unwrap())
            } else {
                Session::ReadWrite(db.begin().unwrap())
            });
            events.send(Event::Done(t, Ok(Vec::new()))).unwrap();
            for op in steps {
                let result = match op {
                    Op::Commit | Op::Rollback => match session.take() {
                        Some(Session::ReadWrite(tx)) if matches!(op, Op::Commit) => {
                            tx.commit().map(|()| Vec::new())
                        }
                        Some(Session::ReadWrite(tx)) => tx.rollback().map(|()| Vec::new()),
                        Some(Session::ReadOnly(_)) => Ok(Vec::new()),
                        None => panic!("T{t}: the transaction already ended"),
                    },
                    op => {
                        let tx = session.as_mut().expect("the transaction already ended");
                        let result = tx.run(op);
                        if result.is_err() {
                            session = None; // rolled back: its locks are freed
                        }
                        result
                    }
                };
                if events.send(Event::Done(t, result)).is_err() {
                    return;
                }
            }
        });
        self.threads.insert(t, handle.thread().id());
        self.steps.insert(t, steps_tx);
        match self.wait(t) {
            Step::Done(Ok(_)) => {}
            other => panic!("T{t}: begin: {other:?}"),
        }
    }

    /// Begins a read-write transaction.
    fn rw(&mut self, t: usize) {
        self.begin(t, false);
    }

    /// Begins a read-only transaction: its snapshot is taken now.
    fn ro(&mut self, t: usize) {
        self.begin(t, true);
    }

    /// Sends `op` to `t` and waits until it finishes or blocks.
    fn step(&mut self, t: usize, op: Op) -> Step {
        assert!(
            !self.blocked.contains(&t),
            "T{t} is blocked: its client waits"
        );
        self.steps[&t]
            .send(op)
            .expect("the transaction's thread runs");
        self.wait(t)
    }

    /// Waits until `t`'s step finishes or blocks; results of other (blocked) steps that
    /// finish meanwhile are kept for [`resume`](Script::resume).
    fn wait(&mut self, t: usize) -> Step {
        loop {
            match self.events.recv_timeout(PATIENCE) {
                Ok(Event::Done(u, result)) if u == t => return Step::Done(result),
                Ok(Event::Done(u, result)) => {
                    assert!(
                        self.blocked.contains(&u),
                        "T{u} finished a step it never took"
                    );
                    self.blocked.retain(|&b| b != u);
                    self.resumed.insert(u, result);
                }
                Ok(Event::Waiting(thread)) if thread == self.threads[&t] => {
                    self.blocked.push(t);
                    return Step::Blocked;
                }
                Ok(Event::Waiting(_)) => {} // a blocked transaction, woken, sleeping again
                Err(RecvTimeoutError::Timeout) => panic!(
                    "T{t}'s step neither finished nor blocked in {PATIENCE:?}; locks:\n{}",
                    self.db.tx_manager().locks().describe()
                ),
                Err(RecvTimeoutError::Disconnected) => unreachable!("the script holds a sender"),
            }
        }
    }

    /// The result of `t`'s blocked step, once the lock it waits for is granted (after the
    /// steps of others that free it).
    fn resume(&mut self, t: usize) -> Result<Vec<Row>> {
        if let Some(result) = self.resumed.remove(&t) {
            return result;
        }
        assert!(self.blocked.contains(&t), "T{t} is not blocked");
        loop {
            match self.events.recv_timeout(PATIENCE) {
                Ok(Event::Done(u, result)) => {
                    assert!(
                        self.blocked.contains(&u),
                        "T{u} finished a step it never took"
                    );
                    self.blocked.retain(|&b| b != u);
                    if u == t {
                        return result;
                    }
                    self.resumed.insert(u, result);
                }
                Ok(Event::Waiting(_)) => {} // woken, and asleep again
                Err(_) => panic!(
                    "T{t} still blocked after {PATIENCE:?}; locks:\n{}",
                    self.db.tx_manager().locks().describe()
                ),
            }
        }
    }

    /// `t` runs `op`, which must finish at once without error; the rows it returned.
    fn ok(&mut self, t: usize, op: Op) -> Vec<Row> {
        match self.step(t, op) {
            Step::Done(Ok(rows)) => rows,
            other => panic!("T{t}: expected to finish at once, got {other:?}"),
        }
    }

    /// `t` runs `op`, which must wait for a lock.
    fn blocks(&mut self, t: usize, op: Op) {
        match self.step(t, op) {
            Step::Blocked => {}
            other => panic!("T{t}: expected to block, got {other:?}"),
        }
    }

    /// `t` runs `op`, which must fail at once as a deadlock victim (retryable); the
    /// transaction is then rolled back.
    fn deadlocks(&mut self, t: usize, op: Op) {
        match self.step(t, op) {
            Step::Done(Err(e @ Error::Deadlock { .. })) => assert!(e.is_retryable()),
            other => panic!("T{t}: expected a deadlock, got {other:?}"),
        }
    }

    /// `t`'s blocked step must now finish without error; the rows it returned.
    fn resumes(&mut self, t: usize) -> Vec<Row> {
        match self.resume(t) {
            Ok(rows) => rows,
            Err(e) => panic!("T{t}: the blocked step failed: {e}"),
        }
    }
}

const ALL: fn(u32) -> bool = |_| true;
const ROWS: [Row; 2] = [(1, 10), (2, 20)];

/// The setup itself: rows 1 and 2 are in different leaves, so writers of the two rows do
/// not conflict — what the cases below rely on to show row-level outcomes.
#[test]
fn rows_1_and_2_are_on_different_pages() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 11));
        s.ok(2, Op::Set(2, 22));
        s.ok(1, Op::Commit);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 11), (2, 22)]);
}

/// G0, write cycles (dirty writes):
/// T1: set 1 = 11; T2: set 1 = 12; T1: set 2 = 21; T1: commit;
/// T2: set 2 = 22; T2: commit.
/// We guarantee: T2's write blocks on T1's lock and proceeds after T1 commits; the rows end
/// (12, 22) — both of one transaction, never (12, 21) or (11, 22).
#[test]
fn g0() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 11));
        s.blocks(2, Op::Set(1, 12));
        s.ok(1, Op::Set(2, 21));
        s.ok(1, Op::Commit);
        s.resumes(2);
        s.ok(2, Op::Set(2, 22));
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 12), (2, 22)], "a write cycle");
}

/// G1a, aborted reads:
/// T1: set 1 = 101; T2: select *; T1: abort; T2: select *; T2: commit.
/// We guarantee: T2's read blocks on T1's write; after T1 aborts it reads 10, never 101.
#[test]
fn g1a() {
    hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 101));
        s.blocks(2, Op::Select(ALL));
        s.ok(1, Op::Rollback);
        assert_eq!(s.resumes(2), ROWS, "an aborted write was read");
        assert_eq!(s.ok(2, Op::Select(ALL)), ROWS);
        s.ok(2, Op::Commit);
    });
}

/// G1a with a snapshot reader: the same steps, T2 read-only.
/// We guarantee: T2 never blocks and reads 10 before and after T1 aborts.
#[test]
fn g1a_read_only() {
    hermitage(|s| {
        s.rw(1);
        s.ro(2);
        s.ok(1, Op::Set(1, 101));
        assert_eq!(
            s.ok(2, Op::Select(ALL)),
            ROWS,
            "an uncommitted write was read"
        );
        s.ok(1, Op::Rollback);
        assert_eq!(s.ok(2, Op::Select(ALL)), ROWS);
        s.ok(2, Op::Commit);
    });
}

/// G1b, intermediate reads:
/// T1: set 1 = 101; T2: select *; T1: set 1 = 11; T1: commit; T2: select *; T2: commit.
/// We guarantee: T2's read blocks; after T1 commits it reads 11 — never the intermediate 101.
#[test]
fn g1b() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 101));
        s.blocks(2, Op::Select(ALL));
        s.ok(1, Op::Set(1, 11));
        s.ok(1, Op::Commit);
        assert_eq!(s.resumes(2), [(1, 11), (2, 20)], "an intermediate value");
        assert_eq!(s.ok(2, Op::Select(ALL)), [(1, 11), (2, 20)]);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 11), (2, 20)]);
}

/// G1b with a snapshot reader: the same steps, T2 read-only (begun before T1 commits).
/// We guarantee: T2 reads 10 throughout, its snapshot — never 101, and not 11 either.
#[test]
fn g1b_read_only() {
    hermitage(|s| {
        s.rw(1);
        s.ro(2);
        s.ok(1, Op::Set(1, 101));
        assert_eq!(s.ok(2, Op::Select(ALL)), ROWS);
        s.ok(1, Op::Set(1, 11));
        s.ok(1, Op::Commit);
        assert_eq!(s.ok(2, Op::Select(ALL)), ROWS, "the snapshot moved");
        s.ok(2, Op::Commit);
    });
}

/// G1c, circular information flow:
/// T1: set 1 = 11; T2: set 2 = 22; T1: get 2; T2: get 1; T1: commit; T2: commit.
/// We guarantee: T1's read blocks on T2's write, T2's read would close the cycle, so T2 is
/// refused at once (deadlock, retryable) and rolled back; T1 then reads 20 and commits.
#[test]
fn g1c() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 11));
        s.ok(2, Op::Set(2, 22));
        s.blocks(1, Op::Get(2));
        s.deadlocks(2, Op::Get(1));
        assert_eq!(s.resumes(1), [(2, 20)], "T1 read T2's write");
        s.ok(1, Op::Commit);
    });
    assert_eq!(table, [(1, 11), (2, 20)]);
}

/// G1c again with rows 1 and 2 in one leaf, to show what page locks cost: T2's write of row
/// 2 already conflicts with T1's write of row 1, so T2 blocks at once (no deadlock); T1
/// reads 2 => 20 and commits; T2 then writes and reads 1 => 11 — serial order T1, T2.
/// Stricter than row locks, never weaker.
#[test]
fn g1c_rows_sharing_a_page() {
    let table = hermitage_on(setup(false), |s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 11));
        s.blocks(2, Op::Set(2, 22));
        assert_eq!(s.ok(1, Op::Get(2)), [(2, 20)]);
        s.ok(1, Op::Commit);
        s.resumes(2);
        assert_eq!(s.ok(2, Op::Get(1)), [(1, 11)]);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 11), (2, 22)]);
}

/// OTV, observed transaction vanishes:
/// T1: set 1 = 11; T1: set 2 = 19; T2: set 1 = 12; T1: commit; T3: get 1;
/// T2: set 2 = 18; T3: get 2; T2: commit; T3: get 2; T3: get 1; T3: commit.
/// We guarantee: T2 blocks behind T1, then T3's read blocks behind T2; T3 reads T2's rows
/// whole, (12, 18) — never T1's value of one row with T2's of the other.
#[test]
fn otv() {
    hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.rw(3);
        s.ok(1, Op::Set(1, 11));
        s.ok(1, Op::Set(2, 19));
        s.blocks(2, Op::Set(1, 12));
        s.ok(1, Op::Commit);
        s.resumes(2);
        s.blocks(3, Op::Get(1));
        s.ok(2, Op::Set(2, 18));
        s.ok(2, Op::Commit);
        assert_eq!(s.resumes(3), [(1, 12)]);
        assert_eq!(s.ok(3, Op::Get(2)), [(2, 18)], "T2 vanished");
        assert_eq!(s.ok(3, Op::Get(1)), [(1, 12)]);
        s.ok(3, Op::Commit);
    });
}

/// OTV with a snapshot reader: the same steps, T3 read-only, its snapshot taken at its first
/// read (after T1's commit, before T2's).
/// We guarantee: T3 sees T1 whole, (11, 19), before and after T2 commits.
#[test]
fn otv_read_only() {
    hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::Set(1, 11));
        s.ok(1, Op::Set(2, 19));
        s.blocks(2, Op::Set(1, 12));
        s.ok(1, Op::Commit);
        s.resumes(2);
        s.ro(3);
        assert_eq!(s.ok(3, Op::Get(1)), [(1, 11)]);
        s.ok(2, Op::Set(2, 18));
        assert_eq!(s.ok(3, Op::Get(2)), [(2, 19)]);
        s.ok(2, Op::Commit);
        assert_eq!(s.ok(3, Op::Get(2)), [(2, 19)], "the snapshot moved");
        assert_eq!(s.ok(3, Op::Get(1)), [(1, 11)], "T1 vanished");
        s.ok(3, Op::Commit);
    });
}

/// PMP, predicate-many-preceders:
/// T1: select where value = 30; T2: insert 3 = 30; T2: commit;
/// T1: select where value % 3 = 0; T1: commit.
/// We guarantee: T2's insert blocks on T1's scan; T1's second read still finds nothing;
/// T2 inserts once T1 commits.
#[test]
fn pmp() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Select(|v| v == 30)), []);
        s.blocks(2, Op::Set(3, 30));
        assert_eq!(s.ok(1, Op::Select(|v| v % 3 == 0)), [], "a phantom");
        s.ok(1, Op::Commit);
        s.resumes(2);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 10), (2, 20), (3, 30)]);
}

/// PMP with a snapshot reader: the same steps, T1 read-only.
/// We guarantee: T2 inserts and commits at once; T1's snapshot still finds nothing.
#[test]
fn pmp_read_only() {
    hermitage(|s| {
        s.ro(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Select(|v| v == 30)), []);
        s.ok(2, Op::Set(3, 30));
        s.ok(2, Op::Commit);
        assert_eq!(s.ok(1, Op::Select(|v| v % 3 == 0)), [], "a phantom");
        s.ok(1, Op::Commit);
    });
}

/// PMP for write predicates:
/// T1: update set value = value + 10; T2: delete where value = 20; T1: commit;
/// T2: select where value = 20; T2: commit.
/// We guarantee: T2's delete blocks on T1's writes; once T1 commits it runs on T1's result —
/// it deletes row 1 (now 20) — and its read finds no row of value 20. The end, { 2 => 30 },
/// is T1 then T2.
#[test]
fn pmp_write() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        s.ok(1, Op::UpdateWhere(ALL, |v| v + 10));
        s.blocks(2, Op::DeleteWhere(|v| v == 20));
        s.ok(1, Op::Commit);
        assert_eq!(s.resumes(2), [(1, 20)], "deleted by a stale predicate");
        assert_eq!(s.ok(2, Op::Select(|v| v == 20)), []);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(2, 30)]);
}

/// P4, lost update:
/// T1: get 1; T2: get 1; T1: set 1 = 11; T2: set 1 = 11; T1: commit; T2: commit.
/// (Each writes what it read + 1.)
/// We guarantee: T1's write blocks on T2's shared lock; T2's write closes the cycle, so T2
/// is refused (deadlock, retryable); T1 commits 11, and T2 run again writes 12.
#[test]
fn p4() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Get(1)), [(1, 10)]);
        assert_eq!(s.ok(2, Op::Get(1)), [(1, 10)]);
        s.blocks(1, Op::Set(1, 11));
        s.deadlocks(2, Op::Set(1, 11));
        s.resumes(1);
        s.ok(1, Op::Commit);
        // T2's retry, a new transaction.
        s.rw(4);
        assert_eq!(s.ok(4, Op::Add(1, 1)), [(1, 12)]);
        s.ok(4, Op::Commit);
    });
    assert_eq!(table, [(1, 12), (2, 20)], "an update was lost");
}

/// G-single, read skew:
/// T1: get 1; T2: get 1; T2: get 2; T2: set 1 = 12; T2: set 2 = 18; T2: commit;
/// T1: get 2; T1: commit.
/// We guarantee: T2's write blocks on T1's read; T1 reads 2 => 20 (10 + 20 = 30, one
/// state); T2 proceeds after T1 commits.
#[test]
fn g_single() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Get(1)), [(1, 10)]);
        s.ok(2, Op::Get(1));
        s.ok(2, Op::Get(2));
        s.blocks(2, Op::Set(1, 12));
        assert_eq!(s.ok(1, Op::Get(2)), [(2, 20)], "read skew");
        s.ok(1, Op::Commit);
        s.resumes(2);
        s.ok(2, Op::Set(2, 18));
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 12), (2, 18)]);
}

/// G-single with a snapshot reader: the same steps, T1 read-only.
/// We guarantee: T2 never waits and commits; T1 still reads 2 => 20.
#[test]
fn g_single_read_only() {
    hermitage(|s| {
        s.ro(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Get(1)), [(1, 10)]);
        s.ok(2, Op::Get(1));
        s.ok(2, Op::Get(2));
        s.ok(2, Op::Set(1, 12));
        s.ok(2, Op::Set(2, 18));
        s.ok(2, Op::Commit);
        assert_eq!(s.ok(1, Op::Get(2)), [(2, 20)], "read skew");
        s.ok(1, Op::Commit);
    });
}

/// G-single on predicate dependencies:
/// T1: select where value % 5 = 0; T2: update set value = 12 where value = 10; T2: commit;
/// T1: select where value % 3 = 0; T1: commit.
/// We guarantee: T2's update blocks on T1's scan; T1's second scan finds nothing (not 12);
/// T2 proceeds after T1 commits.
#[test]
fn g_single_dependencies() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Select(|v| v % 5 == 0)), ROWS);
        s.blocks(2, Op::UpdateWhere(|v| v == 10, |_| 12));
        assert_eq!(s.ok(1, Op::Select(|v| v % 3 == 0)), [], "read skew");
        s.ok(1, Op::Commit);
        assert_eq!(s.resumes(2), [(1, 12)]);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 12), (2, 20)]);
}

/// G-single on predicate dependencies, T1 read-only.
/// We guarantee: T2 updates and commits at once; T1's snapshot scan still finds nothing.
#[test]
fn g_single_dependencies_read_only() {
    hermitage(|s| {
        s.ro(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Select(|v| v % 5 == 0)), ROWS);
        s.ok(2, Op::UpdateWhere(|v| v == 10, |_| 12));
        s.ok(2, Op::Commit);
        assert_eq!(s.ok(1, Op::Select(|v| v % 3 == 0)), [], "read skew");
        s.ok(1, Op::Commit);
    });
}

/// G-single on a write predicate (PostgreSQL's order):
/// T1: get 1; T2: select *; T2: set 1 = 12; T2: set 2 = 18; T2: commit;
/// T1: delete where value = 20; T1: abort.
/// We guarantee: T2's first write blocks on T1's read, so T2 cannot go on; T1's delete then
/// needs row 2's page, which T2 read: a cycle, T1 is refused (deadlock, retryable); T2 then
/// writes both rows and commits: (12, 18), nothing deleted.
#[test]
fn g_single_write_1() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Get(1)), [(1, 10)]);
        s.ok(2, Op::Select(ALL));
        s.blocks(2, Op::Set(1, 12));
        // (T2's set 2 = 18 and commit wait for its client: it is blocked.)
        s.deadlocks(1, Op::DeleteWhere(|v| v == 20));
        s.resumes(2);
        s.ok(2, Op::Set(2, 18));
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 12), (2, 18)]);
}

/// G-single on a write predicate (SQL Server's order):
/// T1: get 1; T2: select *; T2: set 1 = 12; T1: delete where value = 20;
/// T2: set 2 = 18; T2: commit.
/// We guarantee: as in `g_single_write_1` (under 2PL the two orders are one schedule): T2
/// blocks, T1's delete is refused (deadlock), T2 commits (12, 18).
#[test]
fn g_single_write_2() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Get(1)), [(1, 10)]);
        s.ok(2, Op::Select(ALL));
        s.blocks(2, Op::Set(1, 12));
        s.deadlocks(1, Op::DeleteWhere(|v| v == 20));
        s.resumes(2);
        s.ok(2, Op::Set(2, 18));
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 12), (2, 18)]);
}

/// G2-item, write skew:
/// T1: get 1, 2; T2: get 1, 2; T1: set 1 = 11; T2: set 2 = 21; T1: commit; T2: commit.
/// We guarantee: T1's write blocks on T2's read; T2's write closes the cycle and is refused
/// (deadlock, retryable); T1 commits: (11, 20), never both writes.
#[test]
fn g2_item() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        for t in [1, 2] {
            s.ok(t, Op::Get(1));
            s.ok(t, Op::Get(2));
        }
        s.blocks(1, Op::Set(1, 11));
        s.deadlocks(2, Op::Set(2, 21));
        s.resumes(1);
        s.ok(1, Op::Commit);
    });
    assert_eq!(table, [(1, 11), (2, 20)], "write skew");
}

/// G2, anti-dependency cycles over a predicate:
/// T1: select where value % 3 = 0; T2: the same; T1: insert 3 = 30; T2: insert 4 = 42;
/// T1: commit; T2: commit.
/// We guarantee: T1's insert blocks on T2's scan; T2's insert closes the cycle and is refused
/// (deadlock, retryable); only T1's row is committed.
#[test]
fn g2() {
    let table = hermitage(|s| {
        s.rw(1);
        s.rw(2);
        assert_eq!(s.ok(1, Op::Select(|v| v % 3 == 0)), []);
        assert_eq!(s.ok(2, Op::Select(|v| v % 3 == 0)), []);
        s.blocks(1, Op::Set(3, 30));
        s.deadlocks(2, Op::Set(4, 42));
        s.resumes(1);
        s.ok(1, Op::Commit);
    });
    assert_eq!(
        table,
        [(1, 10), (2, 20), (3, 30)],
        "write skew on a predicate"
    );
}

/// G2 with two anti-dependency edges (Fekete et al.):
/// T1: select *; T2: update 2 += 5; T2: commit; T3: select *; T3: commit;
/// T1: set 1 = 0; T1: commit.
/// We guarantee: T2's write blocks on T1's read; T3's read of row 2 queues behind T2's
/// write; T1's write needs row 1's page, which T3 read: a cycle (T1 → T3 → T2 → T1), T1 is
/// refused (deadlock); T2 commits, and T3 reads (10, 25) — no reader sees T2 without T1.
#[test]
fn g2_two_edges() {
    let table = hermitage(|s| {
        s.rw(1);
        assert_eq!(s.ok(1, Op::Select(ALL)), ROWS);
        s.rw(2);
        s.blocks(2, Op::Add(2, 5));
        s.rw(3);
        s.blocks(3, Op::Select(ALL));
        s.deadlocks(1, Op::Set(1, 0));
        assert_eq!(s.resumes(2), [(2, 25)]);
        s.ok(2, Op::Commit);
        assert_eq!(s.resumes(3), [(1, 10), (2, 25)]);
        s.ok(3, Op::Commit);
    });
    assert_eq!(table, [(1, 10), (2, 25)]);
}

/// G2 with two anti-dependency edges, T3 read-only (the read-only anomaly of snapshot
/// isolation: T3 must not see T2 without T1 when T1 comes first in the serial order).
/// We guarantee: T2 blocks on T1's read, so T3's snapshot has neither: (10, 20); T1 writes
/// and commits, then T2: (0, 25) — serial order T3, T1, T2.
#[test]
fn g2_two_edges_read_only() {
    let table = hermitage(|s| {
        s.rw(1);
        assert_eq!(s.ok(1, Op::Select(ALL)), ROWS);
        s.rw(2);
        s.blocks(2, Op::Add(2, 5));
        s.ro(3);
        assert_eq!(s.ok(3, Op::Select(ALL)), ROWS, "T2 seen before T1");
        s.ok(3, Op::Commit);
        s.ok(1, Op::Set(1, 0));
        s.ok(1, Op::Commit);
        assert_eq!(s.resumes(2), [(2, 25)]);
        s.ok(2, Op::Commit);
    });
    assert_eq!(table, [(1, 0), (2, 25)]);
}
