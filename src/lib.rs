//! roster's core: the identity snapshot, its validation and compiled form,
//! and the per-process store the NSS and PAM modules read from.
//!
//! Everything here is safe Rust. The modules (`nss/`, `pam/`) only translate
//! between C and these types; every decision is made here, where it can be
//! tested without root.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod ca;
pub mod cert;
pub mod compiled;
pub mod config;
pub mod freshness;
pub mod home;
pub mod install;
pub mod local;
pub mod login;
pub mod people;
pub mod process;
pub mod sessions;
pub mod signature;
pub mod snapshot;
pub mod store;
pub mod sudoers;
pub mod time;

// The agent's parts: network client and sync. Not built for the modules.
#[cfg(feature = "agent")]
pub mod fetch;
#[cfg(feature = "agent")]
pub mod offboard;
#[cfg(feature = "agent")]
pub mod sync;

/// Helpers shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod testing {
    /// JSON array items for `count` generated users `u0`, `u1`, … with uid
    /// and gid 100000 + i, active, role user, shell /bin/sh.
    pub(crate) fn generated_users(count: u32) -> String {
        (0..count)
            .map(|i| {
                let id = 100_000 + i;
                format!(
                    r#"{{"name":"u{i}","uid":{id},"gid":{id},"home":"/home/u{i}","shell":"/bin/sh","state":"active","role":"user"}}"#
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}
