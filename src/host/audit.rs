//! The audit trail: one JSON object per line in `/var/log/roster/events.jsonl`
//! (for machines) and one escaped, bounded line per event for syslog (for
//! people), each naming the account, the real person and the certificate.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::time::{UnixTime, format_rfc3339};

/// Longest string kept in any field; longer ones are cut.
const MAX_FIELD: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    LoginDenied,
    SessionStart,
    SessionEnd,
    PrincipalsDenied,
    /// A sync took someone's access away; `reason` says why and what ended.
    Offboarded,
    /// A sync found an open session the snapshot no longer admits (its
    /// certificate revoked, its CA no longer trusted, its grant gone) and
    /// ended it; `reason` says why and what ended.
    SessionRevoked,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::LoginDenied => "login_denied",
            EventKind::SessionStart => "session_start",
            EventKind::SessionEnd => "session_end",
            EventKind::PrincipalsDenied => "principals_denied",
            EventKind::Offboarded => "offboarded",
            EventKind::SessionRevoked => "session_revoked",
        }
    }
}

/// One event. Optional fields are left out of the JSON when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub time: String,
    pub event: EventKind,
    pub host: String,
    pub account: String,
    /// The accountable human: for a shared account, whose certificate it was.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub person: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub snapshot_serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<String>,
    /// The kernel's audit session id of the session (pam_loginuid's).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audit_session: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl Event {
    pub fn new(kind: EventKind, now: UnixTime, host: &str, account: &str) -> Event {
        Event {
            time: format_rfc3339(now),
            event: kind,
            host: bounded(host),
            account: bounded(account),
            person: None,
            source: None,
            service: None,
            key_id: None,
            serial: None,
            ca: None,
            snapshot_serial: None,
            session: None,
            audit_session: None,
            duration_secs: None,
            reason: None,
        }
    }

    /// The JSON line (no newline). Every string is bounded; JSON escapes
    /// the rest.
    pub fn to_json(&self) -> String {
        let mut e = self.clone();
        let fields = [
            &mut e.person,
            &mut e.source,
            &mut e.service,
            &mut e.key_id,
            &mut e.ca,
        ];
        for v in fields
            .into_iter()
            .chain([&mut e.session, &mut e.reason])
            .flatten()
        {
            *v = bounded(v);
        }
        serde_json::to_string(&e).unwrap_or_default()
    }

    /// One line for syslog and terminals: `key=value` pairs, values quoted
    /// and escaped so that no input can forge a line or a field.
    pub fn summary(&self) -> String {
        let mut out = String::from(self.event.as_str());
        let mut field = |k: &str, v: &str| {
            let _ = write!(out, " {k}={}", quote(v));
        };
        field("account", &self.account);
        let optional = [
            ("person", &self.person),
            ("from", &self.source),
            ("service", &self.service),
            ("key_id", &self.key_id),
            ("ca", &self.ca),
            ("session", &self.session),
            ("reason", &self.reason),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                field(k, v);
            }
        }
        if let Some(s) = self.serial {
            field("serial", &s.to_string());
        }
        if let Some(d) = self.duration_secs {
            field("duration", &format!("{d}s"));
        }
        out
    }
}

/// Cuts a string to [`MAX_FIELD`] bytes at a character boundary.
fn bounded(s: &str) -> String {
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A value as a bounded token: bare when it is plain, otherwise quoted with
/// control characters, quotes and backslashes escaped.
fn quote(v: &str) -> String {
    let v = bounded(v);
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:/+=,#".contains(c));
    if plain {
        return v;
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Appends one event to `path` (created 0640 if missing; never through a
/// symlink). One `write` per line, so concurrent writers do not interleave.
pub fn append(path: &Path, event: &Event) -> io::Result<()> {
    let mut line = event.to_json();
    line.push('\n');
    let open = || {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
    };
    let mut f = match open() {
        // The log directory is the package's to create, but an event must
        // not be lost because it is missing: create it (root, 0750).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = path.parent().ok_or(e)?;
            std::fs::DirBuilder::new().mode(0o750).create(dir)?;
            open()?
        }
        other => other?,
    };
    f.write_all(line.as_bytes())
}

/// Reads the events in `path`; lines that do not parse are skipped.
pub fn read(path: &Path) -> io::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_summary_are_escaped_and_bounded() {
        let mut e = Event::new(EventKind::SessionStart, 1_795_600_800, "web-01", "deploy");
        e.person = Some("alice".into());
        e.key_id = Some("alice\" evil=1\nforged line".into());
        e.reason = Some("x".repeat(1000));
        e.serial = Some(42);
        let json = e.to_json();
        assert!(!json.contains('\n'));
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back.reason.unwrap().len(), MAX_FIELD);
        assert_eq!(back.time, "2026-11-25T10:00:00Z");
        let line = e.summary();
        assert!(line.starts_with(
            "session_start account=deploy person=alice key_id=\"alice\\\" evil=1\\x0aforged line\""
        ));
        assert!(line.ends_with(" serial=42"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn append_then_read_back() {
        let dir = std::env::temp_dir().join(format!("roster-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("events.jsonl");
        let e = Event::new(EventKind::LoginDenied, 0, "h", "carol");
        append(&path, &e).unwrap();
        append(&path, &e).unwrap();
        std::fs::write(dir.join("x"), "").unwrap();
        assert_eq!(read(&path).unwrap(), [e.clone(), e]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
