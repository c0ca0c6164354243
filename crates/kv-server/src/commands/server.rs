//! Connection and server commands: PING, ECHO, SELECT, AUTH, HELLO, CLIENT, INFO, CONFIG,
//! COMMAND.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::SeqCst;

use bytes::Bytes;

use super::reply::{not_integer, syntax};
use super::{parse_int, shown, table, Cx};
use crate::conn::Client;
use crate::glob::glob_match;
use crate::resp::{Frame, Protocol};
use crate::server::Shared;
use crate::store::Tx;

/// The Redis version whose protocol and replies this server follows.
pub const REDIS_VERSION: &str = "7.0.0";

/// `PING [message]`
pub fn ping(_: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    if args.len() > 2 {
        return Ok(super::wrong_arity("ping"));
    }
    Ok(match args.get(1) {
        Some(message) => Frame::bulk(message.clone()),
        None => Frame::Simple("PONG".into()),
    })
}

/// ECHO message
pub fn echo(_: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    Ok(Frame::bulk(args[1].clone()))
}

/// SELECT index: numbered database `index` (its keyspaces made on first use).
pub fn select(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let Some(n) = parse_int(&args[1]) else {
        return Ok(not_integer());
    };
    if n < 0 || n >= i64::from(cx.shared.store.databases()) {
        return Ok(Frame::error("ERR DB index is out of range"));
    }
    cx.shared.store.space(n as u32)?;
    cx.client.db = n as u32;
    Ok(Frame::ok())
}

/// `AUTH [username] password`
pub fn auth(shared: &Shared, client: &mut Client, args: &[Bytes]) -> Frame {
    let Some(password) = shared.config.read().requirepass.clone() else {
        return Frame::error(
            "ERR AUTH <password> called without any password configured for the default \
             user. Are you sure your configuration is correct?",
        );
    };
    let (user, given) = match args {
        [given] => (&b"default"[..], given),
        [user, given] => (&user[..], given),
        _ => return syntax(),
    };
    if user == b"default" && given.as_ref() == password.as_bytes() {
        client.authenticated = true;
        Frame::ok()
    } else {
        Frame::error("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

// ANCHOR: hello
/// `HELLO [protover [AUTH username password] [SETNAME name]]`: switches the protocol and
/// answers with what the server is.
pub fn hello(shared: &Shared, client: &mut Client, args: &[Bytes]) -> Frame {
    let mut proto = client.proto;
    if let Some(version) = args.first() {
        proto = match parse_int(version) {
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return Frame::error("NOPROTO unsupported protocol version"),
            None => return Frame::error("ERR Protocol version is not an integer or out of range"),
        };
    }
    let mut i = 1;
    let mut name = None;
    while i < args.len() {
        let option = args[i].to_ascii_uppercase();
        match (option.as_slice(), args.len() - i) {
            (b"AUTH", 3..) => {
                let reply = auth(shared, client, &args[i + 1..i + 3]);
                if matches!(reply, Frame::Error(_)) {
                    return reply;
                }
                i += 3;
            }
            (b"SETNAME", 2..) => {
                name = Some(args[i + 1].clone());
                i += 2;
            }
            _ => {
                return Frame::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    shown(&args[i], 64)
                ))
            }
        }
    }
    if !client.authenticated {
        return Frame::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = name {
        if let Some(reply) = bad_name(&name) {
            return reply;
        }
        client.name = Some(name);
    }
    client.proto = proto;
    let field = |k: &str| Frame::bulk(k.to_owned());
    Frame::Map(vec![
        (field("server"), field("redis")),
        (field("version"), field(REDIS_VERSION)),
        (
            field("proto"),
            Frame::Integer(if proto == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (field("id"), Frame::Integer(client.id as i64)),
        (field("mode"), field("standalone")),
        (field("role"), field("master")),
        (field("modules"), Frame::Array(vec![])),
    ])
}
// ANCHOR_END: hello

/// Redis refuses client names with spaces or special characters.
fn bad_name(name: &[u8]) -> Option<Frame> {
    name.iter().any(|&b| !(b'!'..=b'~').contains(&b)).then(|| {
        Frame::error("ERR Client names cannot contain spaces, newlines or special characters.")
    })
}

/// CLIENT ID | GETNAME | SETNAME name | SETINFO attr value | INFO | LIST | NO-EVICT …
pub fn client(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let sub = args[1].to_ascii_uppercase();
    let client = &mut cx.client;
    Ok(match (sub.as_slice(), args.len()) {
        (b"ID", 2) => Frame::Integer(client.id as i64),
        (b"GETNAME", 2) => client.name.clone().map_or(Frame::Null, Frame::bulk),
        (b"SETNAME", 3) => match bad_name(&args[2]) {
            Some(reply) => reply,
            None => {
                client.name = (!args[2].is_empty()).then(|| args[2].clone());
                Frame::ok()
            }
        },
        (b"SETINFO", 4) => {
            let known = args[2].eq_ignore_ascii_case(b"lib-name")
                || args[2].eq_ignore_ascii_case(b"lib-ver");
            match known {
                true => Frame::ok(),
                false => Frame::error(format!("ERR Unrecognized option '{}'", shown(&args[2], 64))),
            }
        }
        (b"INFO", 2) | (b"LIST", 2) => {
            let name = client.name.as_deref().map(String::from_utf8_lossy);
            let line = format!(
                "id={} addr={} name={} db={} resp={}\n",
                client.id,
                client.addr,
                name.unwrap_or_default(),
                client.db,
                if client.proto == Protocol::Resp3 {
                    3
                } else {
                    2
                }
            );
            Frame::bulk(line)
        }
        (b"NO-EVICT", 3) | (b"NO-TOUCH", 3) | (b"REPLY", 3) => Frame::ok(),
        _ => Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            shown(&args[1], 64)
        )),
    })
}

// ANCHOR: info
/// `INFO [section ...]`: the sections tools read, with the database's own figures.
pub fn info(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let wanted = |section: &str| {
        args.len() == 1
            || args[1..].iter().any(|a| {
                a.eq_ignore_ascii_case(section.as_bytes())
                    || a.eq_ignore_ascii_case(b"all")
                    || a.eq_ignore_ascii_case(b"everything")
                    || a.eq_ignore_ascii_case(b"default")
            })
    };
    let config = shared.config.read().clone();
    let stats = &shared.stats;
    let db = shared.store.db();
    let dbstats = db.stats()?;
    let uptime = shared.started.elapsed().as_secs();
    let mut out = String::new();
    let mut section = |name: &str, body: String| {
        if wanted(&name.to_ascii_lowercase()) {
            let _ = write!(out, "# {name}\r\n{body}\r\n");
        }
    };
    section(
        "Server",
        format!(
            "redis_version:{REDIS_VERSION}\r\nkanthorkv_version:{}\r\nredis_mode:standalone\r\n\
             os:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\n\
             uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            usize::BITS,
            std::process::id(),
            shared.port,
            uptime / 86_400,
        ),
    );
    section(
        "Clients",
        format!(
            "connected_clients:{}\r\nmaxclients:{}\r\nclient_recent_max_output_buffer:{}\r\n",
            shared.clients.load(SeqCst),
            config.maxclients,
            shared.stats.max_output.load(SeqCst)
        ),
    );
    section(
        "Persistence",
        format!(
            "loading:0\r\naof_enabled:0\r\nrdb_changes_since_last_save:0\r\n\
             kv_data_bytes:{}\r\nkv_live_pages:{}\r\nkv_free_pages:{}\r\nkv_log_bytes:{}\r\n\
             kv_checkpoints:{}\r\nkv_fsyncs:{}\r\n",
            dbstats.data_bytes,
            dbstats.live_pages,
            dbstats.free_pages,
            dbstats.log_bytes,
            dbstats.checkpoints,
            dbstats.fsyncs
        ),
    );
    section(
        "Stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             rejected_connections:{}\r\nexpired_keys:{}\r\nkeyspace_hits:{}\r\n\
             keyspace_misses:{}\r\nkv_commits:{}\r\nkv_rollbacks:{}\r\nkv_deadlocks:{}\r\n\
             kv_lock_waits:{}\r\nkv_cache_hit_ratio:{:.4}\r\n\
             kv_write_timeout_disconnections:{}\r\n",
            stats.connections.load(SeqCst),
            stats.commands.load(SeqCst),
            stats.rejected.load(SeqCst),
            stats.expired.load(SeqCst),
            stats.hits.load(SeqCst),
            stats.misses.load(SeqCst),
            dbstats.commits,
            dbstats.rollbacks,
            dbstats.deadlocks,
            dbstats.lock_waits,
            dbstats.cache_hit_ratio,
            stats.write_timeouts.load(SeqCst)
        ),
    );
    let mut keyspace = String::new();
    if wanted("keyspace") {
        let existing = shared.store.existing()?;
        let mut snapshot = db.begin_read()?;
        for n in existing {
            let (keys, expires) = shared.store.len(&mut Tx::Read(&mut snapshot), n)?;
            if keys > 0 {
                let _ = write!(
                    keyspace,
                    "db{n}:keys={keys},expires={expires},avg_ttl=0\r\n"
                );
            }
        }
    }
    section("Keyspace", keyspace);
    Ok(match cx.client.proto {
        Protocol::Resp3 => Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from(out),
        },
        Protocol::Resp2 => Frame::bulk(out),
    })
}
// ANCHOR_END: info

/// The parameters CONFIG GET knows, with their values now.
fn parameters(shared: &Shared) -> Vec<(&'static str, String)> {
    let c = shared.config.read();
    let appendfsync = match c.durability {
        kv_db::Durability::Sync => "always",
        kv_db::Durability::NoSync => "no",
    };
    vec![
        ("bind", c.bind.clone()),
        ("port", shared.port.to_string()),
        ("requirepass", c.requirepass.clone().unwrap_or_default()),
        ("maxclients", c.maxclients.to_string()),
        ("timeout", c.timeout.as_secs().to_string()),
        ("write-timeout", c.write_timeout.as_secs().to_string()),
        ("databases", c.databases.to_string()),
        ("proto-max-bulk-len", c.limits.max_bulk.to_string()),
        (
            "client-query-buffer-limit",
            c.query_buffer_limit.to_string(),
        ),
        ("dir", c.dir.display().to_string()),
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("appendfsync", appendfsync.into()),
        ("hz", "10".into()),
    ]
}

/// `CONFIG GET pattern [pattern ...] | SET parameter value [...] | RESETSTAT | REWRITE`
pub fn config(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let sub = args[1].to_ascii_uppercase();
    Ok(match sub.as_slice() {
        b"GET" if args.len() >= 3 => {
            let pairs = parameters(shared)
                .into_iter()
                .filter(|(name, _)| {
                    args[2..]
                        .iter()
                        .any(|p| glob_match(p, name.as_bytes(), true))
                })
                .map(|(name, value)| (Frame::bulk(name.to_owned()), Frame::bulk(value)))
                .collect();
            Frame::Map(pairs)
        }
        b"SET" if args.len() >= 4 && args.len().is_multiple_of(2) => {
            for pair in args[2..].chunks(2) {
                if let Err(reply) = set_parameter(shared, &pair[0], &pair[1]) {
                    return Ok(reply);
                }
            }
            Frame::ok()
        }
        b"RESETSTAT" if args.len() == 2 => Frame::ok(),
        b"REWRITE" if args.len() == 2 => {
            Frame::error("ERR The server is running without a config file")
        }
        _ => Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            shown(&args[1], 64)
        )),
    })
}

/// Changes one parameter (the ones that can change while running).
fn set_parameter(shared: &Shared, name: &[u8], value: &[u8]) -> Result<(), Frame> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let text = String::from_utf8_lossy(value).into_owned();
    let number = || {
        text.parse::<u64>().map_err(|_| {
            Frame::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
            ))
        })
    };
    let mut c = shared.config.write();
    match name.as_str() {
        "timeout" => c.timeout = std::time::Duration::from_secs(number()?),
        "write-timeout" => c.write_timeout = std::time::Duration::from_secs(number()?),
        "maxclients" => c.maxclients = number()? as usize,
        "proto-max-bulk-len" => c.limits.max_bulk = number()? as usize,
        "client-query-buffer-limit" => c.query_buffer_limit = number()? as usize,
        "requirepass" => c.requirepass = (!text.is_empty()).then_some(text),
        // Accepted for tools that set them; the database is always durable by its own log.
        "save" | "appendonly" | "appendfsync" | "hz" => {}
        _ => {
            return Err(Frame::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )))
        }
    }
    Ok(())
}

/// COMMAND | COMMAND COUNT | COMMAND INFO name ... | COMMAND DOCS (empty: no docs here)
pub fn command(_: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let info = |spec: &super::Spec| {
        let (first, last, step) = spec.keys;
        Frame::Array(vec![
            Frame::bulk(spec.name.to_owned()),
            Frame::Integer(spec.arity.into()),
            Frame::Set(
                spec.flags()
                    .into_iter()
                    .map(|f| Frame::Simple(f.into()))
                    .collect(),
            ),
            Frame::Integer(first.into()),
            Frame::Integer(last.into()),
            Frame::Integer(step.into()),
            Frame::Set(vec![]),
            Frame::Set(vec![]),
            Frame::Array(vec![]),
            Frame::Array(vec![]),
        ])
    };
    let sub = args.get(1).map(|a| a.to_ascii_uppercase());
    Ok(match sub.as_deref() {
        None => Frame::Array(table().iter().map(info).collect()),
        Some(b"COUNT") => Frame::Integer(table().len() as i64),
        Some(b"INFO") => Frame::Array(
            args[2..]
                .iter()
                .map(|name| super::lookup(name).map_or(Frame::NullArray, info))
                .collect(),
        ),
        Some(b"DOCS") => Frame::Map(vec![]),
        Some(_) => Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            shown(&args[1], 64)
        )),
    })
}
