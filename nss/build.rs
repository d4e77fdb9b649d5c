//! glibc dlopen()s NSS modules by their SONAME, `libnss_<service>.so.2`.
//!
//! `-z nodelete`: a program that dlopen()s and dlclose()s the module itself
//! would otherwise get a fresh copy each time, and the mapping of the snapshot
//! held by the previous copy's statics would stay behind (one per cycle,
//! tests/system/faults.rs). Kept loaded, every dlopen() returns the same copy.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
