//! `cargo fuzz run --features libfuzzer --sanitizer none model`: see [`kv_fuzz::model`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kv_fuzz::model::check(data));
