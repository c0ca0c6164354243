//! `kanthorkv`: serve a database over the Redis protocol, or work on a database directory
//! directly (get, put, del, scan, stats, check, compact).
//!
//! ```sh
//! kanthorkv serve                      # ./kanthorkv-data on 127.0.0.1:6380
//! redis-cli -p 6380 set greeting hello
//! kanthorkv get greeting               # (with the server stopped: one process per directory)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kv_db::{Db, Durability, Options};
use kv_server::store::{Store, Tx};
use kv_server::{Config, Server, SystemClock};

/// KanthorKV: a durable, concurrent key-value database that speaks the Redis protocol.
#[derive(Parser)]
#[command(name = "kanthorkv", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the database over the Redis protocol (stop with Ctrl-C or SHUTDOWN).
    Serve(Serve),
    /// Prints the value of a key.
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        local: Local,
    },
    /// Stores a value under a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Expire after this many seconds.
        #[arg(long)]
        ttl: Option<u64>,
        #[command(flatten)]
        local: Local,
    },
    /// Removes keys.
    Del {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        local: Local,
    },
    /// Lists keys (and values) in key order.
    Scan {
        /// Only keys matching this glob pattern (as Redis's KEYS).
        #[arg(long, default_value = "*")]
        pattern: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print the values too.
        #[arg(long)]
        values: bool,
        #[command(flatten)]
        local: Local,
    },
    /// Prints the database's sizes and counters.
    Stats {
        #[command(flatten)]
        local: Local,
    },
    /// Verifies every page, tree and log record.
    Check {
        #[command(flatten)]
        local: Local,
    },
    /// Gives unused space back to the file system.
    Compact {
        #[command(flatten)]
        local: Local,
    },
}

/// Where the data is, for the local commands.
#[derive(Args)]
struct Local {
    /// The database directory.
    #[arg(long, default_value = "kanthorkv-data")]
    dir: PathBuf,
    /// The numbered database (as SELECT).
    #[arg(long, default_value_t = 0)]
    db: u32,
}

// ANCHOR: serve_args
/// `kanthorkv serve` options; every one has a default that works.
#[derive(Args)]
struct Serve {
    /// The database directory (created if missing).
    #[arg(long, default_value = "kanthorkv-data")]
    dir: PathBuf,
    /// The address to listen on (loopback: only this machine).
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The port to listen on.
    #[arg(long, default_value_t = 6380)]
    port: u16,
    /// Require clients to AUTH with this password.
    #[arg(long)]
    requirepass: Option<String>,
    /// Connections served at once.
    #[arg(long, default_value_t = 10_000)]
    maxclients: usize,
    /// Close connections idle this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// Close connections whose replies go unread this many seconds: not one byte accepted
    /// (0: never; a slow reader that keeps reading is never cut off).
    #[arg(long, default_value_t = 60)]
    write_timeout: u64,
    /// Numbered databases.
    #[arg(long, default_value_t = 16)]
    databases: u32,
    /// Acknowledge writes before their commit is on disk (faster; a power failure may lose
    /// the last moments of acknowledged writes — never the database).
    #[arg(long)]
    no_sync: bool,
    /// Pages of 4 KiB the buffer pool caches.
    #[arg(long, default_value_t = 32_768)]
    cache_pages: usize,
}
// ANCHOR_END: serve_args

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        other => local(other),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kanthorkv: {e}");
            ExitCode::FAILURE
        }
    }
}

type Outcome = Result<ExitCode, Box<dyn std::error::Error>>;

fn serve(args: Serve) -> Outcome {
    // A log line that cannot be written (its pipe closed: `kanthorkv serve | head`, a log
    // collector restarted) is dropped. By default tracing-subscriber reports the failure
    // with `eprintln!`, which panics when stderr is that same closed pipe — and the panic
    // hit whichever task was logging: the signal handler's, so SIGTERM stopped nothing.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .log_internal_errors(false)
        .init();
    let durability = match args.no_sync {
        true => Durability::NoSync,
        false => Durability::Sync,
    };
    let options = Options {
        durability,
        cache_pages: args.cache_pages,
        ..Options::default()
    };
    let db = Db::open_with(&args.dir, options)
        .map_err(|e| format!("opening {}: {e}", args.dir.display()))?;
    tracing::info!("data in {}", args.dir.display());
    let config = Config {
        bind: args.bind,
        port: args.port,
        requirepass: args.requirepass,
        maxclients: args.maxclients,
        timeout: Duration::from_secs(args.timeout),
        write_timeout: Duration::from_secs(args.write_timeout),
        databases: args.databases,
        dir: args.dir,
        durability,
        ..Config::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = Server::bind(config, db, Arc::new(SystemClock)).await?;
        // Before the line that says we listen: whoever reads it may send SIGTERM at once.
        let stop = stop_signal();
        tracing::info!(
            "listening on {} (try: redis-cli -p {})",
            server.local_addr()?,
            server.local_addr()?.port()
        );
        let handle = server.handle();
        tokio::spawn(async move {
            stop.await;
            handle.shutdown(); // first: nothing, not even a log line, may stand in its way
            tracing::info!("signal received");
        });
        server.run().await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM: their handlers are installed now, and the future
/// waits for either. (Installed when it was first polled, by a task spawned after the
/// "listening on" line, a SIGTERM sent on reading that line could come first — and kill
/// the server without its checkpoint: kill.rs's closed-log-pipe test failed so, often.)
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = signal(SignalKind::interrupt()).and_then(|int| {
            let term = signal(SignalKind::terminate())?;
            Ok((int, term))
        });
        async move {
            match handlers {
                Ok((mut int, mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let ctrl_c = tokio::signal::ctrl_c();
        async move {
            let _ = ctrl_c.await;
        }
    }
}

// ANCHOR: local
/// The commands that open the directory themselves (the server must not be running on it:
/// one process per database).
fn local(command: Command) -> Outcome {
    let (Command::Get { local, .. }
    | Command::Put { local, .. }
    | Command::Del { local, .. }
    | Command::Scan { local, .. }
    | Command::Stats { local }
    | Command::Check { local }
    | Command::Compact { local }) = &command
    else {
        unreachable!("serve is not a local command")
    };
    let db = Db::open(&local.dir).map_err(|e| format!("opening {}: {e}", local.dir.display()))?;
    let store = Store::new(db.clone(), 16, Arc::new(SystemClock));
    let n = local.db;
    if n >= store.databases() {
        return Err(format!("database {n} is out of range (0 to 15)").into());
    }
    store.space(n)?;
    match command {
        Command::Get { key, .. } => {
            let mut snapshot = db.begin_read()?;
            match store.get(&mut Tx::Read(&mut snapshot), n, key.as_bytes())? {
                Some(entry) => println!("{}", String::from_utf8_lossy(&entry.value)),
                None => {
                    eprintln!("(nil)");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Put {
            key, value, ttl, ..
        } => {
            let deadline = match ttl {
                None => None,
                Some(s) => match s
                    .checked_mul(1000)
                    .and_then(|ms| ms.checked_add(store.now()))
                {
                    Some(d) if s > 0 && d <= i64::MAX as u64 => Some(d),
                    _ => return Err(format!("--ttl {s}: not a usable number of seconds").into()),
                },
            };
            db.transaction(|tx| store.set(tx, n, key.as_bytes(), value.as_bytes(), deadline))?;
            println!("OK");
        }
        Command::Del { keys, .. } => {
            let removed = db.transaction(|tx| {
                let mut removed = 0;
                for key in &keys {
                    removed += u32::from(store.remove(tx, n, key.as_bytes())?.is_some());
                }
                Ok(removed)
            })?;
            println!("{removed}");
        }
        Command::Scan {
            pattern,
            limit,
            values,
            ..
        } => {
            let mut snapshot = db.begin_read()?;
            let mut tx = Tx::Read(&mut snapshot);
            let matches = |k: &[u8]| kv_server::glob::glob_match(pattern.as_bytes(), k, false);
            let (keys, _) = store.scan(&mut tx, n, None, usize::MAX, matches)?;
            for key in keys.iter().take(limit) {
                let shown = String::from_utf8_lossy(key);
                match values {
                    true => {
                        let entry = store.get(&mut tx, n, key)?.unwrap_or_else(|| {
                            unreachable!("a snapshot does not change under its reader")
                        });
                        println!("{shown}\t{}", String::from_utf8_lossy(&entry.value));
                    }
                    false => println!("{shown}"),
                }
            }
        }
        Command::Stats { .. } => println!("{:#?}", db.stats()?),
        Command::Check { .. } => {
            let report = with_spinner("checking every page, tree and log record", || db.check())?;
            for (name, tree) in &report.trees {
                println!(
                    "{name}: {} keys, height {}, {} pages{}",
                    tree.keys,
                    tree.height,
                    tree.blocks,
                    if tree.is_ok() { "" } else { " — PROBLEMS" }
                );
                for problem in &tree.problems {
                    println!("  {problem}");
                }
            }
            println!("log: {} records", report.log_records);
            report.problems.iter().for_each(|p| println!("  {p}"));
            if !report.is_ok() {
                return Ok(ExitCode::from(2));
            }
            println!("ok");
        }
        Command::Compact { .. } => {
            let report = with_spinner("compacting", || db.compact())?;
            println!(
                "{} bytes -> {} bytes ({} reclaimed), {} pages moved, {} files removed{}",
                report.bytes_before,
                report.bytes_after,
                report.reclaimed(),
                report.pages_moved,
                report.files_removed,
                match report.deferred {
                    0 => String::new(),
                    n => format!(", {n} cuts deferred"),
                }
            );
        }
        Command::Serve(_) => unreachable!(),
    }
    Ok(ExitCode::SUCCESS)
}
// ANCHOR_END: local

/// Runs `work` with a spinner showing what is being done and for how long.
fn with_spinner<T>(message: &'static str, work: impl FnOnce() -> T) -> T {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    let result = work();
    spinner.finish_and_clear();
    result
}
