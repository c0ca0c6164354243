//! # KanthorKV's fuzz targets
//!
//! Every layer that reads bytes it did not just write — a request off the network, a page
//! off the disk, a log record during recovery, a whole directory someone copied — must meet
//! malformed bytes with an error, never a panic, a hang or an unbounded allocation. Unit
//! tests check the malformations someone thought of; a fuzzer (libFuzzer, through
//! `cargo fuzz`) generates the ones nobody did, steered by code coverage.
//!
//! Five targets, each a module whose `check(data)` panics only when a promise is broken:
//!
//! | target | bytes become | promise checked |
//! |---|---|---|
//! | [`resp`] | a byte stream, cut into reads at fuzzed points, run as commands | the parser's result does not depend on how the stream was cut; no command panics |
//! | [`page`] | the payload of one page of a real database (checksum made valid) | opening, checking, scanning and writing report corruption as an error |
//! | [`log`] | log records (structured and raw) after a real database's last checkpoint | recovery decodes and replays them, or refuses, without panicking or looping |
//! | [`dir`] | byte flips, overwrites and cuts anywhere in a real database directory | opening reports the damage; what opens passes or fails `check()` without panicking |
//! | [`model`] | operations on the embedded API, with crashes and reopens | the database equals a `BTreeMap` model of its acknowledged commits |
//!
//! ## Why the logic lives here, not in the fuzz targets
//!
//! The binaries in `fuzz_targets/` are one line each and need libFuzzer (a C++ build,
//! behind the `libfuzzer` feature). The checks are plain library code, so `cargo test`
//! replays every committed seed in `fuzz/corpus/<target>/` plus 200 seeded
//! mutations of them (`tests/corpus.rs`) on any machine, without cargo-fuzz; and a crash
//! the fuzzer finds becomes a regression test by committing its input to the corpus.
//!
//! ## Getting past checksums
//!
//! Pages and log records carry CRCs, so a random mutation of a real page is refused by
//! the checksum and the decoder behind it is never reached. The [`page`] and [`log`]
//! targets therefore write their bytes through the engine's own writers (the file manager
//! seals a page; the log manager frames a record), which makes the checksums valid and
//! sends the fuzzer's bytes to the decoders. [`dir`] does the opposite: raw damage, which
//! the checksums must catch.
//!
//! ## Alternatives rejected
//!
//! - *Skipping checksum verification under `cfg(fuzzing)`*: the build under test would
//!   differ from the one shipped, and the replay in `cargo test` would test something else.
//! - *proptest for these inputs*: it shrinks well but does not steer by coverage, which is
//!   what finds the one length field in ten thousand bytes that matters.
//!
//! ## CAVEATS
//!
//! - The simulated disk is capped ([`fixture::CAPACITY`]): a forged record naming block
//!   2^40 gets "disk full", as a small real disk would answer. On a large real disk the
//!   same record would make a large sparse file.
//! - Built with `--sanitizer none` (stable Rust): no AddressSanitizer, which safe Rust
//!   (`unsafe_code = "forbid"` in every crate) needs little; libFuzzer still finds panics,
//!   hangs (`-timeout`) and memory growth (`-rss_limit_mb`).

pub mod dir;
pub mod fixture;
mod input;
pub mod log;
pub mod model;
pub mod page;
pub mod resp;
