//! The listener: accepts connections (up to the client limit), runs the background expiry
//! sweep, and shuts down gracefully — stop accepting, let every connection finish the
//! commands it is running, wait for them all, checkpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_db::Db;
use parking_lot::RwLock;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::parse::Limits;
use crate::store::Store;

/// However sure the store is that no key is due, the sweep looks at least this often: a
/// deadline committed while a sweep was looking can escape its notice (see
/// [`Store::sweep_due`]), and such a key is reclaimed at the latest this much late.
const SWEEP_AT_LEAST_EVERY: Duration = Duration::from_secs(10);

// ANCHOR: config
/// The server's settings; `Config::default()` is a safe server for one machine.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on: loopback by default, so nothing is exposed by accident.
    pub bind: String,
    /// Port: 6380 by default (6379 is Redis's, which may be running beside us).
    pub port: u16,
    /// Password clients must give with AUTH (or HELLO … AUTH) before anything else.
    pub requirepass: Option<String>,
    /// Connections served at once; one more is told "max number of clients reached".
    pub maxclients: usize,
    /// A connection idle this long is closed; zero: never. As in Redis, a connection whose
    /// replies go unread is idle too: this also bounds `write_timeout` when it is shorter.
    pub timeout: Duration,
    /// A connection whose replies make no progress this long — the client accepts not one
    /// byte of them — is closed; zero: never. Progress-based: each write the client
    /// accepts, even in part, starts the wait over, so a slow reader that keeps reading is
    /// never cut off, only one that stopped. Not `timeout`: that is Redis's idle timeout,
    /// off by default, and a client that sends requests and never reads is not idle; with
    /// nothing else its task waits on the write forever, holding its place under
    /// `maxclients` and the output buffer limit of memory. Hence a setting of its own
    /// (KanthorKV's; CONFIG `write-timeout`, `--write-timeout`), on by default: 60 s,
    /// what Redis gives a pub/sub client over its soft output limit.
    pub write_timeout: Duration,
    /// Numbered databases (SELECT 0 to databases - 1).
    pub databases: u32,
    /// Caps on a request's size, enforced before anything is allocated for it.
    pub limits: Limits,
    /// Bytes of unparsed input a connection may hold (a request not yet complete).
    pub query_buffer_limit: usize,
    /// Bytes of replies a connection may pile up before they are sent: past it, the
    /// requests already read wait until the replies so far are written. A client that
    /// pipelines large GETs and never reads then costs this much (plus one reply), not
    /// the size of every reply it asked for.
    pub output_buffer_limit: usize,
    /// How often the server looks whether a key's deadline has come, and then sweeps the
    /// expired keys out (zero: never; reads hide them anyway).
    pub sweep_interval: Duration,
    /// The database directory, reported by CONFIG GET dir and INFO.
    pub dir: PathBuf,
    /// When a write's reply is sent: after its commit is on disk (`Sync`, the default) or
    /// before. The database is opened with it; CONFIG GET appendfsync reports it.
    pub durability: kv_db::Durability,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6380,
            requirepass: None,
            maxclients: 10_000,
            timeout: Duration::ZERO,
            write_timeout: Duration::from_secs(60),
            databases: 16,
            limits: Limits::default(),
            query_buffer_limit: 1 << 30,
            output_buffer_limit: 1 << 20,
            sweep_interval: Duration::from_millis(100),
            dir: PathBuf::from("."),
            durability: kv_db::Durability::Sync,
        }
    }
}
// ANCHOR_END: config

/// Counters for INFO.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted since start.
    pub connections: AtomicU64,
    /// Connections refused by the client limit.
    pub rejected: AtomicU64,
    /// Commands run.
    pub commands: AtomicU64,
    /// Reads that found their key.
    pub hits: AtomicU64,
    /// Reads that did not.
    pub misses: AtomicU64,
    /// Keys removed by the expiry sweep.
    pub expired: AtomicU64,
    /// The most bytes of replies one connection has held at once (INFO's
    /// client_recent_max_output_buffer): what the output buffer limit bounds.
    pub max_output: AtomicU64,
    /// Connections closed because their replies made no progress for the write timeout
    /// (INFO's kv_write_timeout_disconnections): clients that stopped reading.
    pub write_timeouts: AtomicU64,
}

impl Stats {
    /// Counts a read of a key: found or not.
    pub fn hit(&self, found: bool) {
        match found {
            true => &self.hits,
            false => &self.misses,
        }
        .fetch_add(1, SeqCst);
    }
}

/// What every connection shares.
pub struct Shared {
    /// The data.
    pub store: Store,
    /// The settings (CONFIG SET changes some at run time).
    pub config: RwLock<Config>,
    /// The counters.
    pub stats: Stats,
    /// When the server started, for INFO's uptime.
    pub started: Instant,
    /// Connections open now.
    pub clients: AtomicUsize,
    /// The next connection's id.
    pub next_id: AtomicU64,
    /// Set to `true` to shut down.
    pub shutdown: watch::Sender<bool>,
    /// The port actually bound (the configured one may be 0: any free port).
    pub port: u16,
}

impl Shared {
    /// The state of a server serving `store` with `config`, bound to `port`, started now.
    /// Public so tests and the fuzz target can run commands ([`crate::conn::execute`])
    /// without a socket.
    pub fn new(store: Store, config: Config, port: u16) -> Shared {
        let (shutdown, _) = watch::channel(false);
        Shared {
            store,
            config: RwLock::new(config),
            stats: Stats::default(),
            started: Instant::now(),
            clients: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            shutdown,
            port,
        }
    }

    /// Asks the server to shut down gracefully.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }
}

/// A handle for whoever started the server: to stop it, and to reach its store.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Shuts the server down gracefully; `Server::run` returns once it is done.
    pub fn shutdown(&self) {
        self.shared.shut_down();
    }

    /// The store, e.g. to sweep expired keys in a test, deterministically.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}

/// A bound, not yet running, server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `config.bind:config.port` (port 0: any free one) to serve `db`.
    pub async fn bind(config: Config, db: Db, clock: Arc<dyn Clock>) -> std::io::Result<Server> {
        let listener = TcpListener::bind((config.bind.as_str(), config.port)).await?;
        let port = listener.local_addr()?.port();
        let store = Store::new(db, config.databases.max(1), clock);
        // Database 0 exists before the first snapshot reads it.
        let prepared = tokio::task::spawn_blocking(move || store.space(0).map(|_| store));
        let store = prepared.await?.map_err(std::io::Error::other)?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared::new(store, config, port)),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to stop the server or look at its store.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    // ANCHOR: run
    /// Serves until shut down (by [`Handle::shutdown`] or the SHUTDOWN command), then
    /// waits for every connection to finish the commands it is running and takes a
    /// checkpoint, so the database reopens with nothing to recover.
    pub async fn run(self) -> std::io::Result<()> {
        let Server { listener, shared } = self;
        // Every connection holds a sender; when they are all gone, `all_done` yields None.
        // (`wait_for`, not `changed`, below: a shutdown asked for before this line, between
        // `bind` and `run`, must not be missed — a test found that race.)
        let (done, mut all_done) = mpsc::channel::<()>(1);
        let mut shutdown = shared.shutdown.subscribe();
        let sweeping = Arc::new(AtomicBool::new(false));
        let interval = shared.config.read().sweep_interval;
        let mut sweep = tokio::time::interval(interval.max(Duration::from_millis(1)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut swept = Instant::now();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, addr)) => admit(&shared, socket, addr, &done).await,
                    Err(e) => {
                        // Out of file descriptors, or the like: back off a little, go on.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.wait_for(|stopping| *stopping) => break,
                _ = sweep.tick(), if !interval.is_zero() => {
                    // While no deadline has come, no thread is woken and nothing is read:
                    // an idle server spent most of its (little) time sweeping nothing.
                    if shared.store.sweep_due() || swept.elapsed() >= SWEEP_AT_LEAST_EVERY {
                        swept = Instant::now();
                        start_sweep(&shared, &sweeping);
                    }
                }
            }
        }
        tracing::info!("shutting down: finishing the commands in flight");
        drop(listener);
        drop(done);
        let _ = all_done.recv().await; // every connection has closed
        let db = shared.store.db().clone();
        tokio::task::spawn_blocking(move || db.checkpoint())
            .await?
            .map_err(std::io::Error::other)?;
        tracing::info!("checkpoint taken; the database is closed");
        Ok(())
    }
    // ANCHOR_END: run
}

/// Starts serving `socket`, or turns it away if the client limit is reached.
async fn admit(
    shared: &Arc<Shared>,
    mut socket: TcpStream,
    addr: SocketAddr,
    done: &mpsc::Sender<()>,
) {
    shared.stats.connections.fetch_add(1, SeqCst);
    let limit = shared.config.read().maxclients;
    if shared.clients.fetch_add(1, SeqCst) >= limit {
        shared.clients.fetch_sub(1, SeqCst);
        shared.stats.rejected.fetch_add(1, SeqCst);
        let refuse = async move {
            let _ = socket
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            let _ = socket.shutdown().await;
        };
        tokio::spawn(refuse);
        return;
    }
    let _ = socket.set_nodelay(true);
    let slot = Slot {
        shared: Arc::clone(shared),
    };
    let (shared, done) = (Arc::clone(shared), done.clone());
    let shutdown = shared.shutdown.subscribe();
    tokio::spawn(async move {
        crate::conn::serve(socket, addr, &shared, shutdown, slot).await;
        drop(done);
    });
}

/// A connection's place under the client limit (`Config::maxclients`), given back when
/// dropped. `conn::serve` drops it just before it closes the socket: a client that sees
/// the close and connects again then finds the place free, never "max number of clients
/// reached" because the old task has not yet finished.
pub struct Slot {
    shared: Arc<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.clients.fetch_sub(1, SeqCst);
    }
}

/// Sweeps expired keys on a blocking thread, unless the last sweep is still running.
fn start_sweep(shared: &Arc<Shared>, sweeping: &Arc<AtomicBool>) {
    if sweeping.swap(true, SeqCst) {
        return;
    }
    let (shared, sweeping) = (Arc::clone(shared), Arc::clone(sweeping));
    tokio::task::spawn_blocking(move || {
        match shared.store.sweep(1000) {
            Ok(n) => {
                shared.stats.expired.fetch_add(n as u64, SeqCst);
            }
            Err(e) => tracing::warn!("expiry sweep failed: {e}"),
        }
        sweeping.store(false, SeqCst);
    });
}
