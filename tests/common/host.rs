//! The one builder every sshd-level test starts from, after sudo-rs's test framework
//! (`Env::new(…).user(…).build()`): say what the host has, get something to log in to,
//! run commands in and read the logs of.
//!
//! ```ignore
//! let host = Host::new()             // roster's lines in /etc/pam.d/sshd, RosterConfig::default()
//!     .packaged()                    // or: pam-auth-update, as the package does it
//!     .config(|c| c.require_host_binding = true)
//!     .sudo()                        // debian/sudoers.d/roster installed, checked by visudo
//!     .snapshot(|ca| snapshot(1, ca)) // published signed, installed by `roster sync`
//!     .build();
//! let alice = host.person("alice", 101);    // a key and a certificate from host.ca
//! let mark = host.events_mark();
//! let login = host.login("alice", &alice, "id"); // ssh; also host.session(..) in the background
//! assert_session(&login, "uid=…\n");
//! assert_eq!(login.event("session_start")["person"], "alice");
//! let later = host.events_since(mark).of_kind("offboarded"); // common::events::Events
//! ```
//!
//! [`Host`] is an [`SshHost`] (it derefs to one: `run`, `sync`, `install`, `publish`,
//! `ssh`, `observe`, `background`, the events and syslog readers) plus the user CA that
//! the snapshot trusts. The namespace, sshd, its keys and configuration, the `file://`
//! source and the agent configuration are set up by [`SshHost::start`]; the snapshot
//! sandbox of the NSS-only tests is [`super::Sandbox`]. A host with an HTTPS source, for
//! the `roster sync` tests, is its sibling [`super::source::SourceHost`], built from the
//! same [`super::Sandbox`] and [`Key`]s.

use std::ops::Deref;
use std::path::PathBuf;

use super::sh_quote;
use super::sshd::{Background, Cert, Key, Login, RosterConfig, Setup, SshHost, Wiring};
use super::workspace_dir;

/// Makes the source snapshot's JSON from the host's user CA.
type SnapshotFn = Box<dyn FnOnce(&Key) -> String>;

/// What the host will have; [`HostBuilder::build`] makes it.
pub struct HostBuilder {
    setup: Setup,
    sudo: bool,
    snapshot: Option<SnapshotFn>,
}

/// A running host (see the module docs), killed with everything in it on drop.
pub struct Host {
    ssh: SshHost,
    /// The user CA made for the snapshot (`user_cas`) when the host was built.
    pub ca: Key,
}

impl Host {
    /// roster wired in with its lines in `/etc/pam.d/sshd` ([`Wiring::SshdPamFile`]), the
    /// default [`RosterConfig`], no sudoers drop-in and no snapshot.
    #[allow(clippy::new_ret_no_self)] // A builder, as in sudo-rs's `Env::new()`.
    pub fn new() -> HostBuilder {
        HostBuilder {
            setup: Setup::roster(),
            sudo: false,
            snapshot: None,
        }
    }

    /// A key for `name` and a certificate of it from [`Host::ca`]: principal `name`, key
    /// id `NAME@laptop`, serial `serial`, valid for five minutes.
    pub fn person(&self, name: &str, serial: u64) -> (Key, PathBuf) {
        let key = self.key(name);
        let cert = self.cert(
            &key,
            &Cert::new(&format!("{name}@laptop"), name).serial(serial),
        );
        (key, cert)
    }

    /// `person` (a key and its certificate, as [`Host::person`] makes them) logs in to
    /// `account` and runs `command`.
    pub fn login(&self, account: &str, person: &(Key, PathBuf), command: &str) -> Login {
        self.ssh(account, &person.0, Some(&person.1), command)
    }

    /// `person` logs in to `account` in the background and runs `command`: a session kept
    /// open (see [`Background`]), its files under `name`.
    pub fn session(
        &self,
        name: &str,
        account: &str,
        person: &(Key, PathBuf),
        command: &str,
    ) -> Background {
        self.background(name, account, &person.0, &person.1, command)
    }

    /// `key` certified by [`Host::ca`] as `cert` says.
    pub fn cert(&self, key: &Key, cert: &Cert) -> PathBuf {
        self.ssh.certify(&self.ca, key, cert)
    }
}

impl Deref for Host {
    type Target = SshHost;

    fn deref(&self) -> &SshHost {
        &self.ssh
    }
}

impl HostBuilder {
    /// roster wired in as the package does it: `pam-auth-update --package` with
    /// `debian/pam-configs/roster`, for every PAM service ([`Wiring::PamAuthUpdate`]).
    pub fn packaged(mut self) -> Self {
        self.setup.wiring = Wiring::PamAuthUpdate;
        self
    }

    /// Debian's stock sshd and PAM, roster not wired in at all ([`Wiring::Stock`]).
    pub fn stock(mut self) -> Self {
        self.setup.wiring = Wiring::Stock;
        self
    }

    /// Changes `/etc/roster/roster.toml`'s facts from the defaults.
    pub fn config(mut self, change: impl FnOnce(&mut RosterConfig)) -> Self {
        change(&mut self.setup.config);
        self
    }

    /// One more line of sshd configuration, read before roster's drop-in (the first
    /// value wins).
    pub fn sshd_config(mut self, line: &str) -> Self {
        self.setup.sshd_config.push(line.into());
        self
    }

    /// The repository's `debian/sudoers.d/roster` installed as `/etc/sudoers.d/roster`
    /// (root, 0440), checked by `visudo -c`.
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// The source snapshot, made from the host's user CA: published signed with the
    /// pinned key and installed by `roster sync` (which must succeed) when the host is
    /// built.
    pub fn snapshot(mut self, json: impl FnOnce(&Key) -> String + 'static) -> Self {
        self.snapshot = Some(Box::new(json));
        self
    }

    /// Starts the namespace and sshd, then installs the sudoers drop-in and the snapshot.
    /// Panics, with what failed, if any of it does not work.
    pub fn build(self) -> Host {
        let ssh = SshHost::start(self.setup);
        if self.sudo {
            let dropin = workspace_dir().join("debian/sudoers.d/roster");
            let out = ssh.run(&format!(
                "install -m 0440 -o root -g root {} /etc/sudoers.d/roster && \
                 visudo -cf /etc/sudoers.d/roster",
                sh_quote(dropin.to_str().unwrap())
            ));
            assert_eq!(out.status, 0, "installing the sudoers drop-in: {out:#?}");
        }
        let host = Host {
            ca: ssh.key("user-ca"),
            ssh,
        };
        if let Some(json) = self.snapshot {
            host.install(&json(&host.ca));
        }
        host
    }
}
