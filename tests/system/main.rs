//! The system tests: one binary (ripgrep's `tests/tests.rs` layout), one module per topic,
//! so the harness and the library are compiled and linked once instead of once per file.
//! Everything here needs only `cargo build`; what tests the `.deb` packages is the
//! `packages` binary (it needs `make deb`), and the login benchmark is `login_bench`
//! (`bench/login.sh` runs it on its own).
//!
//! Run one topic with a filter: `cargo test --test system sshd_login::`. The tests of a
//! binary run in parallel threads (as many as cores, as they did in each of the former
//! binaries), and every host a test builds lives in its own private namespaces, so topics
//! share nothing but the CPU.

#[path = "../common/mod.rs"]
mod common;

/// `kill -9` during `roster sync`.
mod crash;
/// `roster demo`, as the README runs it.
mod demo;
/// Faults inside host processes, through the NSS module.
mod faults;
/// Hostile snapshots through the real glibc.
mod hostile;
/// The agent's metrics through a real node_exporter.
mod metrics;
/// The NSS module loaded into the real glibc.
mod nss_glibc;
/// `debian/scripts/nsswitch-roster` on copies of nsswitch.conf.
mod packaging;
/// Roles, sudo, offboarding, shared and service accounts, `roster explain`.
mod roles;
/// The identity provider's changes through roster-scim to a host with sshd.
mod scim;
/// Certificate logins through a real sshd, Linux-PAM and glibc.
mod sshd_login;
/// `roster sync` against a loopback HTTPS source.
mod sync;
