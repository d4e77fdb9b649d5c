//! See `roster_fuzz::scim_filter` (fuzz/src/scim_filter.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::scim_filter::run(data));
