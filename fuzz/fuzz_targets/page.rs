//! `cargo fuzz run --features libfuzzer --sanitizer none page`: see [`kv_fuzz::page`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kv_fuzz::page::check(data));
