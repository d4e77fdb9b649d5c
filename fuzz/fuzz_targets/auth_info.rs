//! See `roster_fuzz::auth_info` (fuzz/src/auth_info.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::auth_info::run(data));
