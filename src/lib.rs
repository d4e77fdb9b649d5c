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
pub mod local;
pub mod paths;
pub mod snapshot;
pub mod time;
pub mod tools;

#[cfg(feature = "scim-protocol")]
pub mod scim;

#[cfg(feature = "agent")]
pub mod cli;

/// Helpers shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod testing {
    /// What the modules link: `cargo tree` of the NSS and PAM crates holds
    /// no HTTP, TLS, SQL or async crate (the agent's and the services'
    /// dependencies stay out of sshd, sudo and every libc caller).
    #[test]
    fn the_modules_link_no_network_sql_or_async_crate() {
        const FORBIDDEN: [&str; 16] = [
            "ureq",
            "hyper",
            "reqwest",
            "http",
            "h2",
            "rustls",
            "openssl",
            "native-tls",
            "tokio",
            "mio",
            "async-std",
            "axum",
            "actix-web",
            "rusqlite",
            "sqlx",
            "libsqlite3-sys",
        ];
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for module in ["nss-roster", "pam-roster"] {
            let out = std::process::Command::new(&cargo)
                .args([
                    "tree",
                    "--offline",
                    "-e",
                    "normal",
                    "--prefix",
                    "none",
                    "-p",
                    module,
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let tree = String::from_utf8(out.stdout).unwrap();
            let crates: std::collections::BTreeSet<&str> =
                tree.lines().filter_map(|l| l.split(' ').next()).collect();
            assert!(
                crates.contains("roster") && crates.contains("ssh-key"),
                "{tree}"
            );
            let linked: Vec<&&str> = FORBIDDEN.iter().filter(|c| crates.contains(**c)).collect();
            let grouped: Vec<&&str> = crates
                .iter()
                .filter(|c| {
                    c.starts_with("futures") || c.starts_with("tokio") || c.starts_with("sqlite")
                })
                .collect();
            assert!(
                linked.is_empty() && grouped.is_empty(),
                "{module} links {linked:?} {grouped:?}"
            );
        }
    }

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
