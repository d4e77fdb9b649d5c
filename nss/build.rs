//! glibc dlopen()s NSS modules by their SONAME, `libnss_<service>.so.2`.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
}
