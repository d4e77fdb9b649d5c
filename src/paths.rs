//! Every fixed path roster uses, defined once. The packages (debian/), the
//! docs and the tests name the same paths; configuration can move the
//! agent's (`[paths]` in roster.toml), never the modules'.

macro_rules! state_dir {
    () => {
        "/var/lib/roster"
    };
}
macro_rules! snapshot_file {
    () => {
        "snapshot"
    };
}

/// The agent's configuration, unless `--config` says otherwise.
pub const CONFIG: &str = "/etc/roster/roster.toml";
/// The agent's state folder (`[paths] state_dir`).
pub const STATE_DIR: &str = state_dir!();
/// The installed compiled snapshot's name inside the state folder.
pub const SNAPSHOT_FILE: &str = snapshot_file!();
/// The installed compiled snapshot that the NSS and PAM modules and the
/// sshd gate read. Always here: the modules read no configuration.
pub const SNAPSHOT: &str = concat!(state_dir!(), "/", snapshot_file!());
/// What the last syncs did, inside the state folder (`roster status`).
pub const STATE_FILE: &str = "state.json";
/// sshd's `TrustedUserCAKeys`, inside the state folder, written from the
/// snapshot's `user_cas`.
pub const USER_CA_FILE: &str = "user_ca_keys";
/// The offboarding journal, inside the state folder: written before a
/// snapshot that offboards anyone is installed, removed once carried out.
pub const OFFBOARDING_FILE: &str = "offboarding.json";
/// pam_roster's session records, one file per open session.
pub const SESSIONS_DIR: &str = "/run/roster/sessions";
/// The audit trail (JSON lines).
pub const EVENTS: &str = "/var/log/roster/events.jsonl";
/// The sudoers file the agent renders (sudo ignores files whose names
/// contain a dot, like the temporary ones staged beside it) from the snapshot's sudo rules.
pub const SUDOERS: &str = "/etc/sudoers.d/roster-entitlements";
/// The agent's metrics, in the folder Debian's prometheus-node-exporter
/// reads with its textfile collector (`[paths] metrics`).
pub const METRICS: &str = "/var/lib/prometheus/node-exporter/roster.prom";
/// What checks a rendered sudoers file before it is installed.
pub const VISUDO: &str = "/usr/sbin/visudo";
/// The local account tables: local accounts always win over the snapshot.
pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";
pub const SHELLS: &str = "/etc/shells";
/// What a new home is filled from.
pub const SKEL: &str = "/etc/skel";
/// The system's trusted TLS roots, for fetching the snapshot.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

#[cfg(test)]
mod tests {
    #[test]
    fn the_snapshot_is_the_snapshot_file_in_the_state_folder() {
        assert_eq!(
            std::path::Path::new(super::STATE_DIR).join(super::SNAPSHOT_FILE),
            std::path::Path::new(super::SNAPSHOT)
        );
    }
}
