//! `cargo fuzz run --features libfuzzer --sanitizer none dir`: see [`kv_fuzz::dir`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kv_fuzz::dir::check(data));
