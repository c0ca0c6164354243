//! One connection: read what the client sent, run every complete command in order, write
//! all the replies, flush once (pipelining) — and the per-connection state: selected
//! database, protocol version, authentication, MULTI queue, WATCHed keys, SCAN cursors.
//!
//! Commands run on a blocking thread (`spawn_blocking`), a whole batch at a time: the
//! database's calls block (lock waits, fsyncs), and must not stall the runtime's threads
//! that serve other connections. A batch of nothing but point reads (GET, MGET, EXISTS…) of
//! an open database is the exception: it waits on no lock and no commit, and runs on the
//! connection's own task — the hand-off to a blocking thread and back cost a non-pipelined
//! GET a third of its speed.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::commands::{self, lookup, wrong_arity, Cx, Kind};
use crate::parse::{ProtocolError, RequestParser};
use crate::resp::{Frame, Protocol};
use crate::server::{Shared, Slot};
use crate::store::{Tx, Watches};

/// SCAN cursors a connection remembers; older ones are forgotten (and then refused).
const CURSORS: usize = 64;
/// Pipelined write commands that may share one transaction (and one fsync).
const WRITE_BATCH: usize = 256;

/// The numbers SCAN hands out, each standing for the key to continue after.
#[derive(Debug, Default)]
pub struct Cursors {
    next: u64,
    keys: HashMap<u64, Vec<u8>>,
    order: VecDeque<u64>,
}

impl Cursors {
    /// A new cursor number for continuing after `key`.
    pub fn remember(&mut self, key: Vec<u8>) -> u64 {
        self.next += 1;
        if self.order.len() == CURSORS {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        self.keys.insert(self.next, key);
        self.order.push_back(self.next);
        self.next
    }

    /// The key cursor `n` continues after.
    pub fn get(&self, n: u64) -> Option<&[u8]> {
        self.keys.get(&n).map(Vec::as_slice)
    }
}

/// A connection's state.
#[derive(Debug)]
pub struct Client {
    /// Its number (CLIENT ID, HELLO).
    pub id: u64,
    /// Where it connects from.
    pub addr: SocketAddr,
    /// The selected numbered database.
    pub db: u32,
    /// RESP2 until HELLO 3.
    pub proto: Protocol,
    /// Whether it may run commands (always, when no password is set).
    pub authenticated: bool,
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// Commands queued since MULTI (`None`: not in a MULTI).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command was refused while queueing: EXEC must abort.
    pub multi_failed: bool,
    /// WATCHed keys, `(database, key)`.
    pub watching: Vec<(u32, Vec<u8>)>,
    /// Of the watched keys, those that existed when watched: one of them gone by EXEC
    /// (expired: no writer raised the flag for that) aborts it too.
    pub watched_live: Vec<(u32, Vec<u8>)>,
    /// Raised when a watched key changes.
    pub dirty: Arc<AtomicBool>,
    /// SCAN's cursors.
    pub cursors: Cursors,
    /// Set by QUIT (and SHUTDOWN): close after sending the replies so far.
    pub closing: bool,
}

impl Client {
    /// A new connection's state.
    pub fn new(id: u64, addr: SocketAddr, authenticated: bool) -> Client {
        Client {
            id,
            addr,
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            name: None,
            multi: None,
            multi_failed: false,
            watching: Vec::new(),
            watched_live: Vec::new(),
            dirty: Arc::new(AtomicBool::new(false)),
            cursors: Cursors::default(),
            closing: false,
        }
    }

    /// Forgets every WATCH.
    pub fn unwatch(&mut self, shared: &Shared) {
        shared.store.watches.unwatch(&self.watching, &self.dirty);
        self.watching.clear();
        self.watched_live.clear();
        self.dirty.store(false, SeqCst);
    }
}

// ANCHOR: serve
/// Serves one connection until the client leaves, QUITs, breaks the protocol, idles past
/// the timeout, stops reading its replies for the write timeout, or the server shuts down
/// (after finishing the batch it is running). `slot` is its place under the client limit,
/// given back just before the socket closes.
pub async fn serve(
    mut socket: TcpStream,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let id = shared.next_id.fetch_add(1, SeqCst);
    let open = shared.config.read().requirepass.is_none();
    let mut client = Some(Client::new(id, addr, open));
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    // Bytes already read but not yet parsed (before AUTH, one request is run at a time).
    let mut unparsed = false;
    let mut output = BytesMut::with_capacity(16 * 1024);
    // Requests read but not yet run: a batch stops once its replies pass the output
    // buffer limit, and the rest run after those replies are written (see `run_batch`).
    let mut backlog: Vec<Vec<Bytes>> = Vec::new();
    // A protocol error, replied to once the requests before it have run.
    let mut broken: Option<String> = None;
    // Set when the client stopped reading: the connection is aborted, not closed politely.
    let mut stalled = None;
    loop {
        let authenticated = client.as_ref().is_some_and(|c| c.authenticated);
        let (timeout, mut limits, query_limit, output_limit, write_timeout) = {
            let config = shared.config.read();
            let c = &config;
            (
                c.timeout,
                c.limits,
                c.query_buffer_limit,
                c.output_buffer_limit,
                c.write_timeout,
            )
        };
        if !authenticated {
            // As Redis: before AUTH, small requests only — a stranger must not make the
            // server buffer 512 MiB.
            limits.max_args = limits.max_args.min(10);
            limits.max_bulk = limits.max_bulk.min(16 * 1024);
        }
        if !unparsed && backlog.is_empty() {
            let read = async {
                match timeout.is_zero() {
                    true => Ok(socket.read_buf(&mut input).await),
                    false => tokio::time::timeout(timeout, socket.read_buf(&mut input)).await,
                }
            };
            let n = tokio::select! {
                n = read => n,
                _ = shutdown.wait_for(|stopping| *stopping) => break,
            };
            match n {
                Ok(Ok(0)) | Ok(Err(_)) => break, // gone, or reset
                Err(_) => break,                 // idle past the timeout
                Ok(Ok(_)) => {}
            }
        }
        unparsed = false;
        // Every complete request already here, then one batch, one write.
        let mut requests = std::mem::take(&mut backlog);
        if !requests.is_empty() {
            // The backlog first; what was read after it is parsed once it has run.
            unparsed = !input.is_empty() && broken.is_none();
        }
        if requests.is_empty() && broken.is_none() {
            loop {
                match parser.parse(&mut input, &limits) {
                    Ok(Some(args)) if !authenticated => {
                        // One at a time until AUTH: the requests after it get the full limits.
                        requests.push(args);
                        unparsed = !input.is_empty();
                        break;
                    }
                    Ok(Some(args)) => requests.push(args),
                    Ok(None) => break,
                    Err(e) => {
                        broken = Some(match (authenticated, e) {
                            (false, ProtocolError::InvalidBulkLength) => {
                                "Protocol error: unauthenticated bulk length".to_owned()
                            }
                            (false, ProtocolError::InvalidMultibulkLength) => {
                                "Protocol error: unauthenticated multibulk length".to_owned()
                            }
                            (_, e) => e.to_string(),
                        });
                        break;
                    }
                }
            }
        }
        if broken.is_none() && input.len() > query_limit {
            broken = Some(format!(
                "Protocol error: the query buffer passed its limit of {query_limit} bytes"
            ));
        }
        let mut state = client.take().expect("the client is back after each batch");
        if !requests.is_empty() {
            let ran = if requests.iter().all(|args| point_read(shared, &state, args)) {
                // Point reads of a snapshot take no locks: run them here, sparing the
                // hand-off to a blocking thread and back (two thread wake-ups, a third of a
                // non-pipelined GET's speed in chapter 10's measurements).
                let out = run_batch(shared, &mut state, requests, output_limit);
                Ok((state, out))
            } else {
                let batch_shared = Arc::clone(shared);
                tokio::task::spawn_blocking(move || {
                    let out = run_batch(&batch_shared, &mut state, requests, output_limit);
                    (state, out)
                })
                .await
            };
            let Ok((back, (out, rest))) = ran else {
                tracing::error!("connection {id}: the command thread failed; closing");
                return; // (its WATCHes stay registered: harmless flags, never raised)
            };
            state = back;
            backlog = rest;
            output.extend_from_slice(&out);
            let held = output.len() as u64;
            shared.stats.max_output.fetch_max(held, SeqCst);
        }
        let failed = backlog.is_empty().then_some(broken.as_ref()).flatten();
        if let Some(e) = failed {
            Frame::error(format!("ERR {e}")).encode(state.proto, &mut output);
        }
        let closing = state.closing || failed.is_some();
        client = Some(state);
        // A client that stops reading must not hold up a shutdown forever: once it begins,
        // the replies get a few seconds more to go out.
        let grace = async {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        };
        // Unread replies count as idleness too (as in Redis), so the shorter limit applies.
        let stall = [timeout, write_timeout]
            .into_iter()
            .filter(|t| !t.is_zero())
            .min();
        let sent = tokio::select! {
            sent = send(&mut socket, &output, stall) => sent,
            _ = grace => Sent::Failed,
        };
        match sent {
            Sent::All => output.clear(),
            Sent::Failed => break,
            Sent::Stalled => {
                stalled = stall;
                break;
            }
        }
        if closing {
            break;
        }
    }
    if let Some(mut state) = client {
        state.unwatch(shared);
    }
    if let Some(stall) = stalled {
        shared.stats.write_timeouts.fetch_add(1, SeqCst);
        tracing::info!("client {id} ({addr}) read no reply for {stall:?}: closed");
        // An abortive close (a reset): the replies still queued in the kernel are dropped
        // now, not kept while it probes the client's closed window for minutes.
        let _ = socket.set_zero_linger();
        drop(slot);
        return;
    }
    drop(slot);
    let _ = socket.shutdown().await;
}

/// How [`send`] ended.
enum Sent {
    /// Every byte was written.
    All,
    /// The connection failed (or the shutdown's grace ran out).
    Failed,
    /// The client accepted not one byte for the whole write timeout.
    Stalled,
}

/// Writes all of `out`, unless the client accepts not one byte of it for `stall` (`None`:
/// waits as long as it takes). Each write accepted, even in part, starts the wait over: a
/// client that reads slowly is served at its pace, only one that stopped is given up on.
async fn send(socket: &mut TcpStream, mut out: &[u8], stall: Option<Duration>) -> Sent {
    while !out.is_empty() {
        let wrote = match stall {
            None => Ok(socket.write(out).await),
            Some(stall) => tokio::time::timeout(stall, socket.write(out)).await,
        };
        match wrote {
            Ok(Ok(0)) | Ok(Err(_)) => return Sent::Failed,
            Ok(Ok(n)) => out = &out[n..],
            Err(_) => return Sent::Stalled,
        }
    }
    Sent::All
}
// ANCHOR_END: serve

/// Whether `args` is a point read of a database already open, for a client outside MULTI:
/// it waits on no lock and no commit, so the connection's task may run it. (It may still
/// do I/O: a cache miss reads a page, and may first write back a dirty one.)
fn point_read(shared: &Shared, client: &Client, args: &[Bytes]) -> bool {
    client.multi.is_none()
        && client.authenticated
        && shared.store.is_open(client.db)
        && lookup(&args[0]).is_some_and(|s| s.is_point_read() && s.arity_ok(args.len()))
}

// ANCHOR: run_batch
/// Runs the requests read in one go, in order, and returns their encoded replies — and
/// the requests not run yet, if the replies passed `output_limit` bytes: the connection
/// writes what it has and runs the rest after, so a client that asks for much and reads
/// nothing holds the server's memory to the limit plus one reply (its further requests
/// wait in the socket, then in the client: TCP's flow control is the back-pressure).
///
/// Consecutive write commands share one transaction — one commit, one fsync — instead of one
/// each: their replies are all sent after that commit, so each is still acknowledged only
/// once durable, and each still takes effect between its request and its reply (at the
/// commit). The shared transaction gets one attempt: if it fails — a lost deadlock, or one
/// bad command — the commands run again one per transaction (each retried on its own), so
/// one bad command never undoes another.
fn run_batch(
    shared: &Shared,
    client: &mut Client,
    requests: Vec<Vec<Bytes>>,
    output_limit: usize,
) -> (BytesMut, Vec<Vec<Bytes>>) {
    let mut out = BytesMut::new();
    let mut writes: Vec<Vec<Bytes>> = Vec::new();
    let mut requests = requests.into_iter();
    while let Some(args) = requests.next() {
        let write = client.multi.is_none()
            && client.authenticated
            && lookup(&args[0]).is_some_and(|s| s.kind == Kind::Write && s.arity_ok(args.len()));
        if write && writes.len() < WRITE_BATCH {
            writes.push(args);
            continue;
        }
        run_writes(shared, client, &mut writes, &mut out);
        if write {
            writes.push(args);
            continue;
        }
        if let Some(reply) = guarded(shared, client, args) {
            reply.encode(client.proto, &mut out);
        }
        if client.closing {
            return (out, Vec::new());
        }
        if out.len() >= output_limit {
            return (out, requests.collect()); // (no writes are pending: run just above)
        }
    }
    run_writes(shared, client, &mut writes, &mut out);
    (out, Vec::new())
}

/// Runs (and empties) `writes` in one transaction; see [`run_batch`].
fn run_writes(
    shared: &Shared,
    client: &mut Client,
    writes: &mut Vec<Vec<Bytes>>,
    out: &mut BytesMut,
) {
    if writes.len() > 1 {
        // One attempt only: batches of random keys lock leaves in random order, and
        // retrying whole batches that deadlock with each other only deadlocks again. On any
        // failure the commands run one transaction each, retried one by one.
        let together = catch_unwind(AssertUnwindSafe(|| -> kv_db::Result<Vec<Frame>> {
            let mut tx = shared.store.db().begin()?;
            let mut replies = Vec::with_capacity(writes.len());
            for args in writes.iter() {
                let spec = lookup(&args[0]).expect("checked when batched");
                let handler = spec.handler.expect("write commands have handlers");
                let tx = Some(Tx::Write(&mut tx));
                replies.push(handler(&mut cx(shared, client, tx), args)?);
            }
            tx.commit()?;
            Ok(replies)
        }));
        if let Ok(Ok(replies)) = together {
            shared
                .stats
                .commands
                .fetch_add(replies.len() as u64, SeqCst);
            replies.iter().for_each(|r| r.encode(client.proto, out));
            writes.clear();
            return;
        }
    }
    for args in writes.drain(..) {
        if let Some(reply) = guarded(shared, client, args) {
            reply.encode(client.proto, out);
        }
    }
}
// ANCHOR_END: run_batch

/// `execute`, with a panic in a command turned into an error reply: a bug in one command
/// must not take the connection (and the replies of its batch) down with it. Whatever the
/// command's transaction did is rolled back as it unwinds.
fn guarded(shared: &Shared, client: &mut Client, args: Vec<Bytes>) -> Option<Frame> {
    let name = String::from_utf8_lossy(&args[0]).into_owned();
    catch_unwind(AssertUnwindSafe(|| execute(shared, client, args))).unwrap_or_else(|_| {
        tracing::error!("command {name} panicked");
        Some(Frame::error(format!(
            "ERR internal error in '{name}' (see the server's log)"
        )))
    })
}

// ANCHOR: execute
/// Runs one command for `client`; the reply (`None`: close without one, after SHUTDOWN).
pub fn execute(shared: &Shared, client: &mut Client, args: Vec<Bytes>) -> Option<Frame> {
    shared.stats.commands.fetch_add(1, SeqCst);
    let Some(spec) = lookup(&args[0]) else {
        client.multi_failed |= client.multi.is_some();
        return Some(commands::unknown(&args));
    };
    if !spec.arity_ok(args.len()) {
        client.multi_failed |= client.multi.is_some();
        return Some(wrong_arity(spec.name));
    }
    if !client.authenticated && !spec.no_auth {
        return Some(Frame::error("NOAUTH Authentication required."));
    }
    if spec.kind == Kind::Control {
        return control(shared, client, spec.name, &args);
    }
    if let Some(queue) = &mut client.multi {
        queue.push(args);
        return Some(Frame::Simple("QUEUED".into()));
    }
    let handler = spec.handler.expect("data and plain commands have handlers");
    let db = shared.store.db();
    let outcome = match spec.kind {
        Kind::Plain => handler(&mut cx(shared, client, None), &args),
        Kind::Read => shared.store.space(client.db).and_then(|_| {
            let mut snapshot = db.begin_read()?;
            handler(
                &mut cx(shared, client, Some(Tx::Read(&mut snapshot))),
                &args,
            )
        }),
        Kind::Write | Kind::Control => {
            db.transaction(|tx| handler(&mut cx(shared, client, Some(Tx::Write(tx))), &args))
        }
    };
    Some(outcome.unwrap_or_else(|e| failure(spec.name, &e)))
}
// ANCHOR_END: execute

fn cx<'c, 'a, 'db>(
    shared: &'c Shared,
    client: &'c mut Client,
    tx: Option<Tx<'a, 'db>>,
) -> Cx<'c, 'a, 'db> {
    Cx { shared, client, tx }
}

/// The error reply for a command the database refused (it changed nothing).
fn failure(command: &str, e: &kv_db::Error) -> Frame {
    use kv_db::Error as E;
    match e {
        E::KeyTooLarge { len, max } => Frame::error(format!(
            "ERR key of {len} bytes is too large (the limit is {max})"
        )),
        E::ValueTooLarge { len, max } => Frame::error(format!(
            "ERR string of {len} bytes exceeds the maximum allowed size ({max})"
        )),
        E::Abort(reason) => Frame::error(format!("ERR {reason}")),
        other => {
            tracing::error!("{command}: {other}");
            Frame::error(format!("ERR {command} failed: {other}"))
        }
    }
}

/// Commands that shape the connection or its transaction.
fn control(shared: &Shared, client: &mut Client, name: &str, args: &[Bytes]) -> Option<Frame> {
    let in_multi = client.multi.is_some();
    Some(match name {
        "multi" if in_multi => Frame::error("ERR MULTI calls can not be nested"),
        "multi" => {
            client.multi = Some(Vec::new());
            Frame::ok()
        }
        "exec" => exec(shared, client),
        "discard" if !in_multi => Frame::error("ERR DISCARD without MULTI"),
        "discard" => {
            client.multi = None;
            client.multi_failed = false;
            client.unwatch(shared);
            Frame::ok()
        }
        "watch" if in_multi => Frame::error("ERR WATCH inside MULTI is not allowed"),
        "watch" => watch(shared, client, &args[1..]),
        "unwatch" => {
            client.unwatch(shared);
            Frame::ok()
        }
        "quit" => {
            client.closing = true;
            Frame::ok()
        }
        "shutdown" if in_multi => {
            client.multi_failed = true;
            Frame::error("ERR Command not allowed inside a transaction")
        }
        "shutdown" => {
            let unknown = args[1..].iter().find(|a| {
                !["nosave", "save", "now", "force"]
                    .iter()
                    .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
            });
            if unknown.is_some() {
                return Some(commands::reply::syntax());
            }
            tracing::info!("SHUTDOWN from client {}", client.id);
            shared.shut_down();
            client.closing = true;
            return None;
        }
        _ if in_multi => {
            client.multi_failed = true;
            Frame::error("ERR Command not allowed inside a transaction")
        }
        "auth" => crate::commands::auth(shared, client, &args[1..]),
        "hello" => crate::commands::hello(shared, client, &args[1..]),
        other => unreachable!("{other} is not a control command"),
    })
}

// ANCHOR: watch
/// WATCH key [key ...]: register the keys, then read them in a transaction of their own.
/// The read waits for any writer of those keys still committing — it raised the flag
/// before its commit, but maybe before we registered — so what the client reads after
/// WATCH returns is already covered by the flag. Notes which keys exist, for EXEC.
fn watch(shared: &Shared, client: &mut Client, keys: &[Bytes]) -> Frame {
    for key in keys {
        shared.store.watches.watch(client.db, key, &client.dirty);
        client.watching.push((client.db, key.to_vec()));
    }
    let db = client.db;
    let read = shared.store.db().transaction(|tx| {
        let mut live = Vec::new();
        for key in keys {
            if shared.store.get(&mut Tx::Write(tx), db, key)?.is_some() {
                live.push((db, key.to_vec()));
            }
        }
        Ok(live)
    });
    match read {
        Ok(live) => {
            client.watched_live.extend(live);
            Frame::ok()
        }
        Err(e) => failure("watch", &e),
    }
}
// ANCHOR_END: watch

// ANCHOR: exec
/// EXEC: every queued command in one database transaction, after checking that no WATCHed
/// key changed; a null reply if one did.
fn exec(shared: &Shared, client: &mut Client) -> Frame {
    let Some(queued) = client.multi.take() else {
        return Frame::error("ERR EXEC without MULTI");
    };
    let failed = std::mem::take(&mut client.multi_failed);
    let watching = client.watching.clone();
    let watched_live = client.watched_live.clone();
    let dirty = Arc::clone(&client.dirty);
    let reply = if failed {
        Frame::error("EXECABORT Transaction discarded because of previous errors.")
    } else if dirty.load(SeqCst) {
        Frame::NullArray
    } else {
        let start_db = client.db;
        let outcome = Watches::executing(&dirty, || {
            shared.store.db().transaction(|tx| {
                client.db = start_db; // a retry starts over, SELECTs included
                                      // Lock every watched key (for update: the queued commands may write them), then
                                      // look at the flag again: a writer raises it before its commit releases the key,
                                      // so none slips in between.
                for (db, key) in &watching {
                    let live = shared.store.get_for_update(tx, *db, key)?.is_some();
                    if !live && watched_live.iter().any(|(d, k)| d == db && k == key) {
                        return Ok(None); // it expired (or went) since WATCH
                    }
                }
                if dirty.load(SeqCst) {
                    return Ok(None);
                }
                let mut replies = Vec::with_capacity(queued.len());
                for args in &queued {
                    let spec = lookup(&args[0]).expect("checked when queued");
                    let handler = spec.handler.expect("queued commands have handlers");
                    let tx = (spec.kind != Kind::Plain).then_some(Tx::Write(&mut *tx));
                    replies.push(handler(&mut cx(shared, client, tx), args)?);
                }
                Ok(Some(replies))
            })
        });
        match outcome {
            Ok(Some(replies)) => Frame::Array(replies),
            Ok(None) => Frame::NullArray,
            Err(e) => match failure("exec", &e) {
                Frame::Error(msg) => Frame::error(format!(
                    "EXECABORT Transaction rolled back: {}",
                    msg.strip_prefix("ERR ").unwrap_or(&msg)
                )),
                other => other,
            },
        }
    };
    client.unwatch(shared);
    reply
}
// ANCHOR_END: exec
