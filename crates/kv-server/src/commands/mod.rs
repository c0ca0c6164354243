//! The command table: every command's name, arity, kind and handler, in one place — what
//! `COMMAND` reports and what the connection checks before running anything.
//!
//! A handler gets the arguments (the name first, as Redis passes them) and a [`Cx`]: the
//! shared server, the client's state, and the transaction to work in. Its errors are of two
//! kinds, as in Redis: an *error reply* (`Ok(Frame::Error)`: a syntax error, a value that is
//! not an integer) changes nothing and is sent to the client; an `Err` from the database
//! (a lost deadlock, a key over the size limit, a full disk) rolls the transaction back —
//! and, if it is retryable, the command runs again.

mod keys;
mod server;
mod strings;

pub use server::{auth, hello, REDIS_VERSION};

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::conn::Client;
use crate::resp::Frame;
use crate::server::Shared;
use crate::store::Tx;

/// What a command needs to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads data: runs on a snapshot (in a MULTI, in the transaction).
    Read,
    /// Changes data: runs in a read-write transaction, committed before the reply.
    Write,
    /// Touches no data (PING, SELECT, CONFIG, INFO…): no transaction.
    Plain,
    /// Shapes transactions or the connection (MULTI, EXEC, WATCH, QUIT…): never queued,
    /// run by the connection itself.
    Control,
}

/// A handler: the arguments (name first) in a context; see the module's docs for errors.
pub type Handler = fn(&mut Cx<'_, '_, '_>, &[Bytes]) -> kv_db::Result<Frame>;

// ANCHOR: spec
/// One command.
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis's convention: the number of arguments counting the name; negative, at least
    /// that many.
    pub arity: i32,
    /// What it needs to run.
    pub kind: Kind,
    /// Allowed before AUTH when a password is set.
    pub no_auth: bool,
    /// Position of the first key, the last (-1: the last argument) and the step between
    /// keys, for `COMMAND`; 0 when it takes no keys.
    pub keys: (i32, i32, i32),
    /// The code (`None` for `Control` commands, which the connection runs).
    pub handler: Option<Handler>,
}
// ANCHOR_END: spec

impl Spec {
    /// A snapshot read of the keys it names (GET, MGET, EXISTS, TTL…): no lock, nothing
    /// created, and — unlike KEYS, SCAN and DBSIZE, which name no key — no walk of a whole
    /// keyspace.
    pub fn is_point_read(&self) -> bool {
        self.kind == Kind::Read && self.keys.0 > 0
    }

    /// Whether `n` arguments (name included) suit the arity.
    pub fn arity_ok(&self, n: usize) -> bool {
        let n = n as i32;
        if self.arity >= 0 {
            n == self.arity
        } else {
            n >= -self.arity
        }
    }

    /// Redis's flags for `COMMAND`.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = match self.kind {
            Kind::Read => vec!["readonly", "fast"],
            Kind::Write => vec!["write"],
            Kind::Plain | Kind::Control => vec!["fast"],
        };
        if self.no_auth {
            flags.push("no_auth");
        }
        flags
    }
}

/// What a handler works with.
pub struct Cx<'c, 'a, 'db> {
    /// The server: store, configuration, counters.
    pub shared: &'c Shared,
    /// The connection's state: selected database, protocol, name.
    pub client: &'c mut Client,
    /// The transaction (`None` for `Plain` commands).
    pub tx: Option<Tx<'a, 'db>>,
}

impl<'a, 'db> Cx<'_, 'a, 'db> {
    /// The transaction, for reading.
    pub fn tx(&mut self) -> &mut Tx<'a, 'db> {
        self.tx
            .as_mut()
            .expect("a data command runs in a transaction")
    }
}

macro_rules! spec {
    ($name:literal, $arity:expr, $kind:ident, $keys:expr, $handler:expr) => {
        Spec {
            name: $name,
            arity: $arity,
            kind: Kind::$kind,
            no_auth: false,
            keys: $keys,
            handler: $handler,
        }
    };
}

/// Every command, in the order `COMMAND` lists them.
pub fn table() -> &'static [Spec] {
    static TABLE: OnceLock<Vec<Spec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use {keys as k, server as s, strings as st};
        let none = (0, 0, 0);
        let one = (1, 1, 1);
        let all = (1, -1, 1);
        let mut table = vec![
            // strings
            spec!("get", 2, Read, one, Some(st::get)),
            spec!("set", -3, Write, one, Some(st::set)),
            spec!("setnx", 3, Write, one, Some(st::setnx)),
            spec!("setex", 4, Write, one, Some(st::setex)),
            spec!("psetex", 4, Write, one, Some(st::setex)),
            spec!("getset", 3, Write, one, Some(st::getset)),
            spec!("getdel", 2, Write, one, Some(st::getdel)),
            spec!("mget", -2, Read, all, Some(st::mget)),
            spec!("mset", -3, Write, (1, -1, 2), Some(st::mset)),
            spec!("msetnx", -3, Write, (1, -1, 2), Some(st::msetnx)),
            spec!("incr", 2, Write, one, Some(st::incr)),
            spec!("decr", 2, Write, one, Some(st::decr)),
            spec!("incrby", 3, Write, one, Some(st::incrby)),
            spec!("decrby", 3, Write, one, Some(st::decrby)),
            spec!("append", 3, Write, one, Some(st::append)),
            spec!("strlen", 2, Read, one, Some(st::strlen)),
            // keys
            spec!("del", -2, Write, all, Some(k::del)),
            spec!("unlink", -2, Write, all, Some(k::del)),
            spec!("exists", -2, Read, all, Some(k::exists)),
            spec!("expire", -3, Write, one, Some(k::expire)),
            spec!("pexpire", -3, Write, one, Some(k::expire)),
            spec!("expireat", -3, Write, one, Some(k::expire)),
            spec!("pexpireat", -3, Write, one, Some(k::expire)),
            spec!("persist", 2, Write, one, Some(k::persist)),
            spec!("ttl", 2, Read, one, Some(k::ttl)),
            spec!("pttl", 2, Read, one, Some(k::ttl)),
            spec!("type", 2, Read, one, Some(k::type_of)),
            spec!("keys", 2, Read, none, Some(k::keys)),
            spec!("scan", -2, Read, none, Some(k::scan)),
            spec!("dbsize", 1, Read, none, Some(k::dbsize)),
            spec!("flushdb", -1, Write, none, Some(k::flushdb)),
            spec!("flushall", -1, Write, none, Some(k::flushall)),
            // connection and server
            spec!("ping", -1, Plain, none, Some(s::ping)),
            spec!("echo", 2, Plain, none, Some(s::echo)),
            spec!("select", 2, Plain, none, Some(s::select)),
            spec!("info", -1, Plain, none, Some(s::info)),
            spec!("config", -2, Plain, none, Some(s::config)),
            spec!("command", -1, Plain, none, Some(s::command)),
            spec!("client", -2, Plain, none, Some(s::client)),
            spec!("hello", -1, Control, none, None),
            spec!("auth", -2, Control, none, None),
            spec!("quit", -1, Control, none, None),
            spec!("shutdown", -1, Control, none, None),
            spec!("multi", 1, Control, none, None),
            spec!("exec", 1, Control, none, None),
            spec!("discard", 1, Control, none, None),
            spec!("watch", -2, Control, one, None),
            spec!("unwatch", 1, Control, none, None),
        ];
        for spec in &mut table {
            spec.no_auth = matches!(spec.name, "auth" | "hello" | "quit");
        }
        table
    })
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Spec>> = OnceLock::new();
    let index = INDEX.get_or_init(|| table().iter().map(|s| (s.name, s)).collect());
    let mut lower = [0u8; 16];
    let name = lower.get_mut(..name.len()).map(|buf| {
        buf.copy_from_slice(name);
        buf.make_ascii_lowercase();
        &*buf
    })?;
    index.get(std::str::from_utf8(name).ok()?).copied()
}

/// Redis's reply to an unknown command.
pub fn unknown(args: &[Bytes]) -> Frame {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        shown(&args[0], 128)
    );
    for arg in &args[1..] {
        msg.push_str(&format!("'{}' ", shown(arg, 128)));
    }
    Frame::error(msg)
}

/// Redis's reply to a known command with the wrong number of arguments.
pub fn wrong_arity(name: &str) -> Frame {
    Frame::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// An argument shown in an error message: lossy, cut to `max` bytes.
pub fn shown(arg: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(max)]).into_owned()
}

/// The error replies shared by many commands.
pub mod reply {
    use crate::resp::Frame;

    /// A value that must be an integer is not, or does not fit.
    pub fn not_integer() -> Frame {
        Frame::error("ERR value is not an integer or out of range")
    }

    /// Options that do not parse.
    pub fn syntax() -> Frame {
        Frame::error("ERR syntax error")
    }
}

/// `arg` as a signed 64-bit integer, as Redis's `string2ll` reads it.
pub use crate::parse::parse_i64 as parse_int;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_any_case_and_arity_follows_redis() {
        let get = lookup(b"GeT").unwrap();
        assert_eq!(get.name, "get");
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        let set = lookup(b"SET").unwrap();
        assert!(set.arity_ok(3) && set.arity_ok(9) && !set.arity_ok(2));
        assert!(lookup(b"nosuchcommandwithalongname").is_none());
        assert!(lookup(b"").is_none());
    }

    #[test]
    fn unknown_commands_are_reported_with_their_arguments() {
        let args = [Bytes::from("foo"), Bytes::from("a"), Bytes::from("b")];
        let Frame::Error(msg) = unknown(&args) else {
            panic!()
        };
        assert_eq!(
            msg,
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }
}
