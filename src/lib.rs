//! roster's library: every decision the `roster` binary, the NSS module and
//! the PAM module make. See docs/architecture.md for the map.
//!
//! The rooms, by who runs the code:
//!
//! - [`host`]: what runs inside host processes (sshd, sudo, login, cron,
//!   every libc caller): reading the compiled snapshot, access decisions,
//!   the PAM login flow, session records, homes, the audit trail. The only
//!   room the modules (`nss/`, `pam/`) call, and built without the `agent`
//!   feature for them.
//! - [`snapshot`]: the published document (schema, validation, signature),
//!   shared by whoever writes it and whoever reads it.
//! - [`agent`]: the host agent, its own process: configuration, fetch,
//!   sync and install, offboarding, the sshd gate, status.
//! - [`tools`]: what operators run: the user CA, `snapshot build` from a
//!   people file, the demo.
//! - [`cli`]: the `roster` command line: each subcommand's arguments, and
//!   the one place an error becomes a message and an exit status.
//!
//! Everything here is safe Rust. The modules only translate between C and
//! these types; every decision is made here, where it can be tested without
//! root.
#![forbid(unsafe_code)]

pub mod agent;
pub mod host;
pub mod install;
pub mod paths;
pub mod snapshot;
pub mod time;
pub mod tools;

#[cfg(feature = "agent")]
pub mod cli;

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
