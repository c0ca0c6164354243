//! String commands: GET, SET and its options, GETDEL, MGET, MSET, MSETNX, INCR and
//! friends, APPEND, STRLEN.

use bytes::Bytes;

use super::reply::{not_integer, syntax};
use super::{parse_int, Cx};
use crate::resp::Frame;
use crate::store::Tx;

/// The read-write transaction of a `Write` command.
macro_rules! write_tx {
    ($cx:expr) => {
        match $cx.tx() {
            Tx::Write(w) => &mut **w,
            Tx::Read(_) => unreachable!("write commands run in a read-write transaction"),
        }
    };
}
pub(crate) use write_tx;

/// GET key
pub fn get(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let (store, db) = (&cx.shared.store, cx.client.db);
    let entry = store.get(cx.tx(), db, &args[1])?;
    cx.shared.stats.hit(entry.is_some());
    Ok(entry.map_or(Frame::Null, |e| Frame::bulk(e.value)))
}

// ANCHOR: set
/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`
pub fn set(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let options = match SetOptions::parse(&args[3..], cx.shared.store.now()) {
        Ok(options) => options,
        Err(reply) => return Ok(reply),
    };
    let (store, db) = (&cx.shared.store, cx.client.db);
    let tx = write_tx!(cx);
    // A plain SET needs nothing of the old value (`set` replaces it, and its deadline, in
    // one step); the options do, and read it for update.
    let needs_old =
        options.condition.is_some() || options.get || matches!(options.expiry, Expiry::Keep);
    if !needs_old {
        let deadline = match options.expiry {
            Expiry::At(deadline) => Some(deadline),
            Expiry::Never | Expiry::Keep => None,
        };
        store.set(tx, db, &args[1], &args[2], deadline)?;
        return Ok(Frame::ok());
    }
    let old = store.get_for_update(tx, db, &args[1])?;
    let allowed = match options.condition {
        Some(Condition::Nx) => old.is_none(),
        Some(Condition::Xx) => old.is_some(),
        None => true,
    };
    if allowed {
        let deadline = match options.expiry {
            Expiry::Keep => old.as_ref().and_then(|e| e.deadline),
            Expiry::At(deadline) => Some(deadline),
            Expiry::Never => None,
        };
        store.set(tx, db, &args[1], &args[2], deadline)?;
    }
    Ok(match (options.get, allowed) {
        (true, _) => old.map_or(Frame::Null, |e| Frame::bulk(e.value)),
        (false, true) => Frame::ok(),
        (false, false) => Frame::Null,
    })
}
// ANCHOR_END: set

/// NX / XX.
enum Condition {
    Nx,
    Xx,
}

/// What SET does to the key's deadline.
enum Expiry {
    Never,
    Keep,
    At(u64),
}

struct SetOptions {
    condition: Option<Condition>,
    get: bool,
    expiry: Expiry,
}

impl SetOptions {
    /// Reads SET's options as Redis does: each at most once, NX/XX and the expiry kinds
    /// exclusive, the expiry's number a positive integer.
    fn parse(args: &[Bytes], now: u64) -> Result<SetOptions, Frame> {
        let mut options = SetOptions {
            condition: None,
            get: false,
            expiry: Expiry::Never,
        };
        // As Redis: an option may come twice (the last wins), but not with its opposite.
        let mut expiry_kind: Option<Vec<u8>> = None;
        let mut i = 0;
        while i < args.len() {
            let word = args[i].to_ascii_uppercase();
            let expiry_ok = expiry_kind.as_ref().is_none_or(|k| *k == word);
            match word.as_slice() {
                b"NX" if !matches!(options.condition, Some(Condition::Xx)) => {
                    options.condition = Some(Condition::Nx);
                }
                b"XX" if !matches!(options.condition, Some(Condition::Nx)) => {
                    options.condition = Some(Condition::Xx);
                }
                b"GET" => options.get = true,
                b"KEEPTTL" if expiry_ok => {
                    expiry_kind = Some(word.clone());
                    options.expiry = Expiry::Keep;
                }
                b"EX" | b"PX" | b"EXAT" | b"PXAT" if expiry_ok => {
                    expiry_kind = Some(word.clone());
                    let Some(arg) = args.get(i + 1) else {
                        return Err(syntax());
                    };
                    i += 1;
                    let n = parse_int(arg).ok_or_else(not_integer)?;
                    let deadline =
                        deadline_of(&word, n, now).ok_or_else(|| invalid_expire("set"))?;
                    options.expiry = Expiry::At(deadline);
                }
                _ => return Err(syntax()),
            }
            i += 1;
        }
        Ok(options)
    }
}

/// The deadline (ms since the epoch) that `n` means for option or command `unit` (EX, PX,
/// EXAT, PXAT, or the EXPIRE family), or `None` if it is not positive or passes
/// `i64::MAX` (Redis refuses those: its deadlines are signed).
pub fn deadline_of(unit: &[u8], n: i64, now: u64) -> Option<u64> {
    if n <= 0 {
        return None;
    }
    let n = n as u64;
    let deadline = match unit {
        b"EX" => n.checked_mul(1000)?.checked_add(now),
        b"PX" => n.checked_add(now),
        b"EXAT" => n.checked_mul(1000),
        _ => Some(n), // PXAT
    }?;
    (deadline <= i64::MAX as u64).then_some(deadline)
}

/// Redis's reply to a non-positive or overflowing expiry.
pub fn invalid_expire(command: &str) -> Frame {
    Frame::error(format!("ERR invalid expire time in '{command}' command"))
}

/// SETNX key value: SET key value NX, answering 1 or 0.
pub fn setnx(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let nx = [
        args[0].clone(),
        args[1].clone(),
        args[2].clone(),
        Bytes::from("NX"),
    ];
    Ok(match set(cx, &nx)? {
        Frame::Null => Frame::Integer(0),
        Frame::Error(e) => Frame::Error(e),
        _ => Frame::Integer(1),
    })
}

/// SETEX key seconds value / PSETEX key milliseconds value
pub fn setex(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let unit = if name == "psetex" { "PX" } else { "EX" };
    match parse_int(&args[2]) {
        Some(n) if n > 0 => {}
        Some(_) => return Ok(invalid_expire(&name)),
        None => return Ok(not_integer()),
    }
    let options = [
        args[0].clone(),
        args[1].clone(),
        args[3].clone(),
        Bytes::from(unit),
        args[2].clone(),
    ];
    set(cx, &options)
}

/// GETSET key value: SET key value GET.
pub fn getset(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let get = [
        args[0].clone(),
        args[1].clone(),
        args[2].clone(),
        Bytes::from("GET"),
    ];
    set(cx, &get)
}

/// GETDEL key
pub fn getdel(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let (store, db) = (&cx.shared.store, cx.client.db);
    let old = store.remove(write_tx!(cx), db, &args[1])?;
    Ok(old.map_or(Frame::Null, |e| Frame::bulk(e.value)))
}

/// `MGET key [key ...]`
pub fn mget(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let (store, db) = (&cx.shared.store, cx.client.db);
    let mut values = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        let entry = store.get(cx.tx(), db, key)?;
        values.push(entry.map_or(Frame::Null, |e| Frame::bulk(e.value)));
    }
    Ok(Frame::Array(values))
}

/// `MSET key value [key value ...]`
pub fn mset(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    if args.len().is_multiple_of(2) {
        return Ok(super::wrong_arity("mset"));
    }
    let (store, db) = (&cx.shared.store, cx.client.db);
    let tx = write_tx!(cx);
    // In key order (stable: for a key given twice, the last still wins): transactions that
    // lock pages in one order cannot deadlock with each other on them.
    let mut pairs: Vec<&[Bytes]> = args[1..].chunks(2).collect();
    pairs.sort_by(|a, b| a[0].cmp(&b[0]));
    for pair in pairs {
        store.set(tx, db, &pair[0], &pair[1], None)?;
    }
    Ok(Frame::ok())
}

/// `MSETNX key value [key value ...]`: all or none, and none if any key exists.
pub fn msetnx(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    if args.len().is_multiple_of(2) {
        return Ok(super::wrong_arity("msetnx"));
    }
    let (store, db) = (&cx.shared.store, cx.client.db);
    let tx = write_tx!(cx);
    for pair in args[1..].chunks(2) {
        if store.get_for_update(tx, db, &pair[0])?.is_some() {
            return Ok(Frame::Integer(0));
        }
    }
    for pair in args[1..].chunks(2) {
        store.set(tx, db, &pair[0], &pair[1], None)?;
    }
    Ok(Frame::Integer(1))
}

/// INCR key
pub fn incr(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    add(cx, &args[1], 1)
}

/// DECR key
pub fn decr(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    add(cx, &args[1], -1)
}

/// INCRBY key increment
pub fn incrby(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    match parse_int(&args[2]) {
        Some(n) => add(cx, &args[1], n),
        None => Ok(not_integer()),
    }
}

/// DECRBY key decrement
pub fn decrby(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    match parse_int(&args[2]).map(i64::checked_neg) {
        Some(Some(n)) => add(cx, &args[1], n),
        Some(None) => Ok(Frame::error("ERR decrement would overflow")),
        None => Ok(not_integer()),
    }
}

// ANCHOR: incr
/// Adds `by` to the integer at `key` (0 if missing), keeping its deadline.
fn add(cx: &mut Cx<'_, '_, '_>, key: &[u8], by: i64) -> kv_db::Result<Frame> {
    let (store, db) = (&cx.shared.store, cx.client.db);
    let tx = write_tx!(cx);
    let old = store.get_for_update(tx, db, key)?;
    let (current, deadline) = match &old {
        None => (0, None),
        Some(entry) => match parse_int(&entry.value) {
            Some(n) => (n, entry.deadline),
            None => return Ok(not_integer()),
        },
    };
    let Some(new) = current.checked_add(by) else {
        return Ok(Frame::error("ERR increment or decrement would overflow"));
    };
    store.set(tx, db, key, new.to_string().as_bytes(), deadline)?;
    Ok(Frame::Integer(new))
}
// ANCHOR_END: incr

/// APPEND key value: the new length.
pub fn append(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let (store, db) = (&cx.shared.store, cx.client.db);
    let tx = write_tx!(cx);
    let old = store.get_for_update(tx, db, &args[1])?;
    let (mut value, deadline) = old.map_or((Vec::new(), None), |e| (e.value, e.deadline));
    value.extend_from_slice(&args[2]);
    store.set(tx, db, &args[1], &value, deadline)?;
    Ok(Frame::Integer(value.len() as i64))
}

/// STRLEN key
pub fn strlen(cx: &mut Cx<'_, '_, '_>, args: &[Bytes]) -> kv_db::Result<Frame> {
    let (store, db) = (&cx.shared.store, cx.client.db);
    let entry = store.get(cx.tx(), db, &args[1])?;
    Ok(Frame::Integer(entry.map_or(0, |e| e.value.len() as i64)))
}
