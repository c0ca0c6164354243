//! Chapter 9 checkpoint: Redis's own tools work unchanged — `redis-cli` and
//! `redis-benchmark` (Debian's `redis-tools`, which `.ci/run` installs). Skipped, loudly,
//! where they are not installed.

mod common;

use std::process::Command;

use common::TestServer;

fn installed(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("SKIPPED: {tool} is not installed (apt-get install redis-tools)");
    }
    found
}

fn cli(server: &TestServer, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

#[test]
fn redis_cli_works_unchanged() {
    if !installed("redis-cli") {
        return;
    }
    let server = TestServer::default_config();
    assert_eq!(cli(&server, &["PING"]), "PONG");
    assert_eq!(cli(&server, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(&server, &["GET", "greeting"]), "hello world");
    assert_eq!(cli(&server, &["INCRBY", "n", "5"]), "5");
    assert_eq!(cli(&server, &["GET", "nope"]), "");
    assert_eq!(cli(&server, &["--scan", "--pattern", "gr*"]), "greeting");
    assert!(cli(&server, &["INFO", "keyspace"]).contains("db0:keys=2"));
    assert_eq!(
        cli(&server, &["-3", "HELLO", "3"]).lines().count(),
        7,
        "a map of 7"
    );
    let err = cli(&server, &["INCR", "greeting"]);
    assert_eq!(err, "ERR value is not an integer or out of range");
}

// ANCHOR: benchmark_test
#[test]
fn redis_benchmark_finishes_without_errors() {
    if !installed("redis-benchmark") {
        return;
    }
    let server = TestServer::default_config();
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args([
            "-t",
            "set,get,incr,mset",
            "-P",
            "16",
            "-c",
            "50",
            "-n",
            "20000",
            "-q",
        ])
        .output()
        .expect("redis-benchmark runs");
    // Progress lines end in \r; the results in \n.
    let text = (String::from_utf8_lossy(&out.stdout).into_owned()
        + &String::from_utf8_lossy(&out.stderr))
        .replace('\r', "\n");
    assert!(out.status.success(), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
    for test in ["SET", "GET", "INCR", "MSET"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(test) && l.contains("requests per second")),
            "no {test} result in:\n{text}"
        );
    }
    let results: Vec<&str> = text.lines().filter(|l| l.contains("per second")).collect();
    println!("{}", results.join("\n"));
}
// ANCHOR_END: benchmark_test
