//! Key commands: DEL, EXISTS, the EXPIRE family, PERSIST, TTL, TYPE, KEYS, SCAN, DBSIZE,
//! FLUSHDB, FLUSHALL.

use bytes::Bytes;

use super::reply::{not_integer, syntax};
use super::strings::{deadline_of, invalid_expire, write_tx};
use super::{parse_int, Cx};
use crate::glob::glob_match;
use crate::resp::Frame;
use crate::store::Tx;

/// `DEL key [key ...]` (and UNLINK): how many existed.
pub fn del(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let tx = write_tx!(cx);
    let mut removed = 0;
    for key in &args[1..] {
        if shared.store.remove(tx, db, key)?.is_some() {
            removed += 1;
        }
    }
    Ok(Frame::Integer(removed))
}

/// `EXISTS key [key ...]`: how many exist (a key named twice counts twice).
pub fn exists(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let mut found = 0;
    for key in &args[1..] {
        if shared.store.get(cx.tx(), db, key)?.is_some() {
            found += 1;
        }
    }
    Ok(Frame::Integer(found))
}

// ANCHOR: expire
/// EXPIRE key seconds / PEXPIRE key ms / EXPIREAT key unix-s / PEXPIREAT key unix-ms, each
/// with NX | XX | GT | LT: 1 if the deadline was set, 0 if not (no key, or the condition
/// failed). A deadline already past removes the key.
pub fn expire(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let unit: &[u8] = match name.as_str() {
        "expire" => b"EX",
        "pexpire" => b"PX",
        "expireat" => b"EXAT",
        _ => b"PXAT",
    };
    let Some(n) = parse_int(&args[2]) else {
        return Ok(not_integer());
    };
    let mut condition = None;
    for option in &args[3..] {
        let option = option.to_ascii_uppercase();
        let known = matches!(option.as_slice(), b"NX" | b"XX" | b"GT" | b"LT");
        if !known {
            return Ok(Frame::error(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(&option)
            )));
        }
        if let Some(c) = condition.filter(|c: &&[u8]| *c != option.as_slice()) {
            let both = [c, option.as_slice()];
            let msg = match both.contains(&&b"NX"[..]) {
                true => "ERR NX and XX, GT or LT options at the same time are not compatible",
                false if both.contains(&&b"XX"[..]) => {
                    // XX goes with GT or LT in Redis; only GT with LT clashes.
                    condition = Some(match option.as_slice() {
                        b"XX" => c,
                        b"GT" => b"GT",
                        _ => b"LT",
                    });
                    continue;
                }
                false => "ERR GT and LT options at the same time are not compatible",
            };
            return Ok(Frame::error(msg));
        }
        condition = Some(match option.as_slice() {
            b"NX" => &b"NX"[..],
            b"XX" => b"XX",
            b"GT" => b"GT",
            _ => b"LT",
        });
    }
    let now = shared.store.now();
    // Past or zero: the key goes (Redis: "a non-positive timeout deletes the key").
    let deadline = match n {
        n if n <= 0 => Some(0),
        n => match deadline_of(unit, n, now) {
            Some(d) => Some(d),
            None => return Ok(invalid_expire(&name)),
        },
    };
    let tx = write_tx!(cx);
    let Some(entry) = shared.store.get_for_update(tx, db, &args[1])? else {
        return Ok(Frame::Integer(0));
    };
    let new = deadline.unwrap_or(0);
    // A key without a deadline counts as an infinite one for GT and LT.
    let allowed = match condition {
        Some(b"NX") => entry.deadline.is_none(),
        Some(b"XX") => entry.deadline.is_some(),
        Some(b"GT") => entry.deadline.is_some_and(|old| new > old),
        Some(_) => entry.deadline.is_none_or(|old| new < old),
        None => true,
    };
    if !allowed {
        return Ok(Frame::Integer(0));
    }
    if new <= now {
        shared.store.remove(tx, db, &args[1])?;
    } else {
        shared.store.set_deadline(tx, db, &args[1], Some(new))?;
    }
    Ok(Frame::Integer(1))
}
// ANCHOR_END: expire

/// PERSIST key: 1 if a deadline was removed.
pub fn persist(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let tx = write_tx!(cx);
    let Some(entry) = shared.store.get_for_update(tx, db, &args[1])? else {
        return Ok(Frame::Integer(0));
    };
    if entry.deadline.is_none() {
        return Ok(Frame::Integer(0));
    }
    shared.store.set_deadline(tx, db, &args[1], None)?;
    Ok(Frame::Integer(1))
}

/// TTL key / PTTL key: -2 if missing, -1 if it never expires, else the time left
/// (TTL rounds to the nearest second, as Redis does).
pub fn ttl(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let millis = args[0].eq_ignore_ascii_case(b"pttl");
    let Some(entry) = shared.store.get(cx.tx(), db, &args[1])? else {
        return Ok(Frame::Integer(-2));
    };
    let Some(deadline) = entry.deadline else {
        return Ok(Frame::Integer(-1));
    };
    // Deadlines are at most i64::MAX (`deadline_of`), so this fits.
    let left = deadline.saturating_sub(shared.store.now());
    let left = if millis {
        left
    } else {
        left.saturating_add(500) / 1000
    };
    Ok(Frame::Integer(i64::try_from(left).unwrap_or(i64::MAX)))
}

/// TYPE key: "string" or "none" (strings are the only type so far).
pub fn type_of(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let found = shared.store.get(cx.tx(), db, &args[1])?.is_some();
    Ok(Frame::Simple(if found { "string" } else { "none" }.into()))
}

/// KEYS pattern: every live key matching, in key order (a scan of the whole database).
pub fn keys(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let pattern = &args[1];
    let (keys, _) = shared.store.scan(cx.tx(), db, None, usize::MAX, |key| {
        glob_match(pattern, key, false)
    })?;
    Ok(Frame::Array(keys.into_iter().map(Frame::bulk).collect()))
}

// ANCHOR: scan
/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`. The cursor is a number, as
/// clients expect; it names the last key returned, remembered by this connection (cursor
/// 0 starts over, and a cursor this connection never returned is an error).
pub fn scan(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Ok(Frame::error("ERR invalid cursor"));
    };
    let mut pattern: Option<Bytes> = None;
    let mut count = 10usize;
    let mut strings = true;
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Ok(syntax());
        };
        match args[i].to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(value.clone()),
            b"COUNT" => match parse_int(value) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return Ok(syntax()),
                None => return Ok(not_integer()),
            },
            b"TYPE" => strings = value.eq_ignore_ascii_case(b"string"),
            _ => return Ok(syntax()),
        }
        i += 2;
    }
    let after = match cursor {
        0 => None,
        n => match cx.client.cursors.get(n) {
            Some(key) => Some(key.to_vec()),
            None => return Ok(Frame::error("ERR invalid cursor")),
        },
    };
    let wanted = |key: &[u8]| strings && pattern.as_ref().is_none_or(|p| glob_match(p, key, false));
    let (keys, next) = shared
        .store
        .scan(cx.tx(), db, after.as_deref(), count, wanted)?;
    let next = next.map_or(0, |key| cx.client.cursors.remember(key));
    Ok(Frame::Array(vec![
        Frame::bulk(next.to_string()),
        Frame::Array(keys.into_iter().map(Frame::bulk).collect()),
    ]))
}
// ANCHOR_END: scan

/// DBSIZE: keys in the selected database (a scan; expired keys not yet swept included, as
/// in Redis).
pub fn dbsize(cx: &mut Cx<'_, '_, '_>, _: &[Bytes]) -> kv_db::Result<Frame> {
    let shared = cx.shared;
    let db = cx.client.db;
    let (keys, _) = shared.store.len(cx.tx(), db)?;
    Ok(Frame::Integer(keys as i64))
}

/// `FLUSHDB [ASYNC | SYNC]`: removes every key of the selected database, in one transaction.
pub fn flushdb(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    if let Some(reply) = flush_mode(args) {
        return Ok(reply);
    }
    let shared = cx.shared;
    let db = cx.client.db;
    shared.store.flush(write_tx!(cx), db)?;
    Ok(Frame::ok())
}

/// `FLUSHALL [ASYNC | SYNC]`: removes every key of every database, in one transaction.
pub fn flushall(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    if let Some(reply) = flush_mode(args) {
        return Ok(reply);
    }
    let shared = cx.shared;
    let tx = write_tx!(cx);
    for db in shared.store.existing()? {
        shared.store.flush(tx, db)?;
    }
    Ok(Frame::ok())
}

/// The error reply for FLUSHDB/FLUSHALL options other than ASYNC or SYNC.
fn flush_mode(args: &[Bytes]) -> Option<Frame> {
    match &args[1..] {
        [] => None,
        [mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => None,
        _ => Some(syntax()),
    }
}
