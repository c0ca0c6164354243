//! `cargo fuzz run --features libfuzzer --sanitizer none resp`: see [`kv_fuzz::resp`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kv_fuzz::resp::check(data));
