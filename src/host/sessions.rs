//! Whose certificate opened each login session, by the kernel's audit
//! session id, for offboarding.
//!
//! A person's processes in a shared account run as that account's uid, so
//! only something the session carries tells them apart. `ROSTER_USER` in
//! the environment is the user's to change (`env -u ROSTER_USER setsid …`
//! leaves a process nobody can attribute). The audit session id is not:
//! pam_loginuid (before roster in Debian's sshd stack) starts a new one for
//! every login, every process of the session inherits it, and changing it
//! needs CAP_AUDIT_CONTROL. pam_roster records `/run/roster/sessions/<id>`
//! — the person, the certificate and the session's own id — when it opens a
//! certificate session; the agent ends every process whose
//! `/proc/PID/sessionid` is one of the person's, and the session's end is
//! told from the record, not from an environment pam_env may have rewritten.
//! The record outlives the session while any of its processes does, and
//! goes with the reboot that clears /run.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::host::process::{pids, session_of};

/// What pam_roster knew when it opened the session: enough to tell its end
/// (close_session reads it from the PAM handle that opened it) and to judge
/// it again after every sync (`access::still_admitted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub person: String,
    /// The account logged in to (the person's own, or a shared one).
    pub account: String,
    /// roster's own session id (`ROSTER_SESSION`, and in events).
    pub session: String,
    pub key_id: String,
    pub serial: u64,
    pub ca: String,
    pub start: crate::time::UnixTime,
    /// The client's address (PAM_RHOST), for `source-address`.
    pub client: Option<IpAddr>,
    /// The certificate the session opened with, as sshd exposed it: its key
    /// type and base64 blob.
    pub cert_type: String,
    pub certificate: String,
    /// The kernel's audit session id, when the session has one.
    pub audit_session: Option<u32>,
}

impl Record {
    /// The record as kept with the PAM handle between open and close.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Option<Record> {
        serde_json::from_str(text).ok()
    }
}

/// Records session `id`. `dir` and its parent are created root-owned (0755)
/// if missing, and refused if they are symlinks, not owned by root, or
/// writable by others.
pub fn record(dir: &Path, id: u32, record: &Record) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    ensure_dir(dir)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(id.to_string()))?;
    serde_json::to_writer(&mut file, record)?;
    file.write_all(b"\n")
}

fn read(path: &Path) -> Option<Record> {
    let text = fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Forgets session `id`, unless another process than `me` still runs in it
/// (something the person left running: offboarding must still find it).
pub fn forget_if_over(dir: &Path, id: u32, me: u32) {
    let others = pids().any(|pid| pid != me && session_of(&pid.to_string()) == Some(id));
    if !others {
        let _ = fs::remove_file(dir.join(id.to_string()));
    }
}

/// The session ids recorded for `person`.
pub fn of_person(dir: &Path, person: &str) -> HashSet<u32> {
    all(dir)
        .into_iter()
        .filter(|(_, r)| r.person == person)
        .map(|(id, _)| id)
        .collect()
}

/// Every readable record, by audit session id.
pub fn all(dir: &Path) -> Vec<(u32, Record)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let id: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((id, read(&e.path())?))
        })
        .collect()
}

/// Forgets session `id` (the agent, once it has ended every process in it).
pub fn forget(dir: &Path, id: u32) {
    let _ = fs::remove_file(dir.join(id.to_string()));
}

/// Whether any process runs in audit session `id`.
pub fn in_use(id: u32) -> bool {
    pids().any(|pid| session_of(&pid.to_string()) == Some(id))
}

fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} must be a directory owned by root and writable only by it",
            dir.display()
        )));
    }
    Ok(())
}

/// A record of `person` in their own account (audit session 7, no
/// certificate), for the unit tests of whoever reads records.
#[cfg(test)]
pub(crate) fn example(person: &str) -> Record {
    Record {
        person: person.into(),
        account: person.into(),
        session: "s".into(),
        key_id: format!("{person}@laptop"),
        serial: 1,
        ca: "SHA256:x".into(),
        start: 0,
        client: None,
        cert_type: String::new(),
        certificate: String::new(),
        audit_session: Some(7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_by_person_and_forgotten_when_the_session_is_over() {
        let dir = std::env::temp_dir().join(format!("roster-sessions-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let sessions = dir.join("sessions");
        if rustix::process::geteuid().is_root() {
            record(&sessions, 7, &example("alice")).unwrap();
            record(&sessions, 9, &example("bob")).unwrap();
            record(&sessions, 11, &example("alice")).unwrap();
            assert_eq!(of_person(&sessions, "alice"), HashSet::from([7, 11]));
            assert!(all(&sessions).contains(&(9, example("bob"))));
            // No process runs in session 7 (ids are never reused within a boot).
            forget_if_over(&sessions, 7, std::process::id());
            assert_eq!(of_person(&sessions, "alice"), HashSet::from([11]));
        } else {
            // Not root: the folder it creates is the caller's, which is refused.
            assert!(record(&sessions, 7, &example("alice")).is_err());
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
