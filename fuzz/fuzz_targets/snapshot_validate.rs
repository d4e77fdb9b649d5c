//! See `roster_fuzz::snapshot_validate` (fuzz/src/snapshot_validate.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::snapshot_validate::run(data));
