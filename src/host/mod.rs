//! What runs inside host processes: sshd, sudo, login, cron and every libc
//! caller that resolves a name. The NSS and PAM modules call only this room.
//!
//! The rules for code here (docs/architecture.md, "Invariants"): no threads,
//! sockets, environment reads or NSS lookups of our own; correct across
//! fork; every failure an answer (NSS fails soft, authorization fails
//! closed), never a panic that leaves the module.

pub mod access;
pub mod audit;
pub mod cert;
pub mod compiled;
pub mod freshness;
pub mod home;
pub mod login;
pub mod process;
pub mod sessions;
pub mod store;
