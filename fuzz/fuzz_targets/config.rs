//! See `roster_fuzz::config` (fuzz/src/config.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::config::run(data));
