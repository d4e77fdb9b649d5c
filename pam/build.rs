//! `-z nodelete`: Linux-PAM dlclose()s a module at every pam_end(), so a
//! long-running program that opens many PAM transactions would load a fresh
//! copy each time and leak what the previous copy's statics held. Kept
//! loaded, every pam_start() finds the same copy.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
