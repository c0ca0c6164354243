//! # kv-server: KanthorKV on the network, speaking the Redis protocol
//!
//! Chapter 9 of the book. The embedded database of chapter 8 behind a TCP listener that
//! speaks RESP — so `redis-cli`, `redis-benchmark` and every Redis client library work with
//! it unchanged — and the `kanthorkv` binary that serves it or works on a database directory
//! directly.
//!
//! ```text
//!   client ──TCP──▶ conn::serve (one tokio task per connection)
//!                     read ─▶ parse::parse_request (every complete request buffered)
//!                     spawn_blocking (snapshot reads: inline): conn::execute each
//!                       ─▶ commands::* ─▶ store ─▶ kv-db
//!                     encode every reply ─▶ one write (pipelining)
//! ```
//!
//! ## Invariants
//!
//! - **A write is acknowledged only once committed** with the configured durability: the
//!   reply is encoded after `Db::transaction` returns.
//! - **A key past its deadline is never returned**, whoever reads it; the background sweep
//!   only reclaims the space.
//! - **Replies come in request order**, one per request, however many are pipelined.
//! - **A request is never allowed to allocate more than the limits**: lengths are checked
//!   before anything is reserved for them.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **Tokio, one task per connection, commands on blocking threads.** The database blocks
//!   (lock waits, fsyncs); running it on the runtime's threads would stall every other
//!   connection behind one fsync. A batch of pipelined commands takes one trip to the blocking
//!   pool, not one per command. (A thread per connection would also work — until 10,000
//!   clients.)
//! - **Every command is a database transaction**: snapshot reads for read-only commands (no
//!   locks: a reader never waits for a writer), read-write transactions for writes, retried
//!   on deadlock. MULTI/EXEC is one transaction — all or nothing, which is stronger than
//!   Redis (whose EXEC applies the commands that did not fail).
//! - **Redis's numbered databases are keyspaces** (`db<n>`), each with an expiry index
//!   (`db<n>.expires`, ordered by deadline) so the sweep reads only what is due.
//! - **WATCH is a flag per client raised by writers**, inside their transaction, as Redis's
//!   `touchWatchedKey`; EXEC locks the watched keys before checking it, so no write slips in
//!   between.
//! - **Time is injected** (`clock::Clock`) so expiry tests move time by hand.
//!
//! ## CAVEATS
//!
//! - Strings only: no lists, hashes, sets, sorted sets, streams (so no WRONGTYPE yet), no
//!   pub/sub, no Lua, no replication, no cluster.
//! - Keys are limited to 1 KiB and values to 64 MiB (the B+tree's limits with 4 KiB pages),
//!   not Redis's 512 MiB: larger ones get an error reply.
//! - KEYS, DBSIZE and INFO's keyspace section scan; SCAN cursors live in the connection that
//!   made them (another connection's cursor is refused).
//! - FLUSHDB and FLUSHALL delete key by key, in one transaction.
//! - A command that fails inside EXEC on a database limit rolls the whole EXEC back.
//! - A batch of point reads (GET, MGET, EXISTS…) runs on the connection's async task, not a
//!   blocking thread: a long MGET, or a read that misses the cache and goes to disk (and may
//!   first write a dirty page back, after an fsync of the log), holds up the other
//!   connections of that runtime thread meanwhile.

pub mod clock;
pub mod commands;
pub mod conn;
pub mod glob;
pub mod parse;
pub mod resp;
pub mod server;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use server::{Config, Handle, Server};
pub use store::Store;
