//! See `roster_fuzz::people` (fuzz/src/people.rs) for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::people::run(data));
