//! See `roster_fuzz::compiled_read` (fuzz/src/compiled_read.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::compiled_read::run(data));
