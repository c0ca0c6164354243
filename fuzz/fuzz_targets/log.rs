//! `cargo fuzz run --features libfuzzer --sanitizer none log`: see [`kv_fuzz::log`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kv_fuzz::log::check(data));
