//! A new or removed file is durable only once its directory is synced: a crash after the
//! file's own fsync but before the directory's can lose the directory entry, and the file
//! with it. `FsStorage` syncs the directory after every creation and removal; this test
//! watches the system calls it makes (with `strace`) to prove it.
//!
//! It needs `strace` and permission to trace, so it is `#[ignore]`d in the ordinary suite;
//! `.ci/run` installs strace and runs it:
//! `cargo test -p kv-file --test dir_sync -- --ignored --nocapture`.

use std::path::Path;
use std::process::Command;

use kv_file::{FsStorage, Storage};

/// What the traced child does: creates three files, writes and syncs them, removes one.
fn child(dir: &Path) {
    let storage = FsStorage::open(dir).unwrap();
    for name in ["a", "b", "c"] {
        let file = storage.open_file(name).unwrap();
        file.write_at(b"data", 0).unwrap();
        file.sync().unwrap();
    }
    storage.remove_file("b").unwrap();
    storage.open_file("a").unwrap(); // exists: no creation, no directory sync needed
}

#[test]
#[ignore = "needs strace; .ci/run runs it"]
fn every_creation_and_removal_is_followed_by_a_sync_of_the_directory() {
    if let Ok(dir) = std::env::var("KV_DIR_SYNC_CHILD") {
        return child(Path::new(&dir));
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("db");
    let trace = temp.path().join("trace");
    let me = std::env::current_exe().unwrap();
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,fsync,unlink,unlinkat",
            "-o",
        ])
        .arg(&trace)
        .arg(&me)
        .args([
            "--ignored",
            "--exact",
            "every_creation_and_removal_is_followed_by_a_sync_of_the_directory",
        ])
        .env("KV_DIR_SYNC_CHILD", &dir)
        .status()
        .expect("strace runs (install it: apt-get install strace)");
    assert!(status.success(), "the traced child failed");
    let trace = std::fs::read_to_string(trace).unwrap();

    // Walk the calls in order: after a file is created (O_CREAT) or removed, the directory
    // must be opened and that descriptor fsynced before the next creation or removal.
    let dir_text = format!("\"{}\"", dir.display());
    let (mut pending, mut dir_fds, mut changes, mut synced) = (None, Vec::new(), 0, 0);
    for line in trace.lines() {
        let call = line
            .split_once(' ')
            .map_or(line, |(_, rest)| rest.trim_start());
        let result = call.rsplit_once("= ").map(|(_, r)| r.trim());
        let is_dir_entry = call.contains(&format!("{}/", &dir_text[..dir_text.len() - 1]));
        if call.starts_with("openat(") && call.contains(&dir_text) {
            dir_fds.extend(result.and_then(|r| r.parse::<i32>().ok()));
        } else if (call.starts_with("openat(") && call.contains("O_CREAT") && is_dir_entry
            || call.starts_with("unlink"))
            && !call.contains("LOCK")
        {
            assert!(
                pending.is_none(),
                "{pending:?} was not followed by a directory sync"
            );
            pending = Some(call.to_owned());
            changes += 1;
        } else if let Some(fd) = call
            .strip_prefix("fsync(")
            .and_then(|rest| rest.split(')').next()?.parse::<i32>().ok())
        {
            if dir_fds.contains(&fd) && pending.take().is_some() {
                synced += 1;
            }
        }
    }
    assert!(
        pending.is_none(),
        "{pending:?} was not followed by a directory sync"
    );
    // a, b, c created (each a failed plain open, then O_CREAT|O_EXCL), b removed.
    assert_eq!((changes, synced), (4, 4), "trace:\n{trace}");
    println!("{changes} directory changes, each followed by an fsync of the directory");
}
