//! See `roster_fuzz::cert_rules` (fuzz/src/cert_rules.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::cert_rules::run(data));
