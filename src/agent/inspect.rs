//! The operator's two questions on a host: why may this person (not) log
//! in here now (`roster explain`), and what happened (`roster events`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ssh_key::Certificate;

use super::Error;
use crate::host::access::{Explanation, explain};
use crate::host::audit::{self, Event};
use crate::host::cert;
use crate::host::store::Generation;
use crate::install::read_text;
use crate::local;
use crate::paths;
use crate::time::{UnixTime, format_duration, format_rfc3339, parse_duration, parse_rfc3339};

/// What `roster explain` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExplainArgs {
    pub user: String,
    pub cert: Option<PathBuf>,
    pub from: Option<String>,
}

/// `roster explain`'s answer: exit status 0 when the login is allowed.
pub enum Explained {
    /// A local account: roster does not decide for it.
    Local { user: String },
    Snapshot {
        user: String,
        host: String,
        now: UnixTime,
        with_cert: bool,
        explanation: Explanation,
    },
}

impl Explained {
    pub fn exit_code(&self) -> u8 {
        match self {
            Explained::Local { .. } => 1,
            Explained::Snapshot { explanation, .. } => u8::from(!explanation.allowed),
        }
    }
}

/// Every check for `args.user` on this host at `now`, against the
/// installed snapshot.
pub fn explain_login(args: &ExplainArgs, now: UnixTime) -> Result<Explained, Error> {
    let cert = args.cert.as_deref().map(read_certificate).transpose()?;
    let client: Option<IpAddr> = match &args.from {
        None => None,
        Some(a) => Some(a.parse().map_err(|_| Error::NotAnAddress(a.clone()))?),
    };
    let user = args.user.clone();
    if local::is_local_user(Path::new(paths::PASSWD), &user) {
        return Ok(Explained::Local { user });
    }
    let generation =
        Generation::<Vec<u8>>::load(Path::new(paths::SNAPSHOT)).map_err(Error::Snapshot)?;
    let view = generation.view();
    let explanation = explain(&view, &user, cert.as_ref(), client, now);
    let host = view.host_policy().map(|h| h.host_name).unwrap_or_default();
    Ok(Explained::Snapshot {
        user,
        host,
        now,
        with_cert: cert.is_some(),
        explanation,
    })
}

fn read_certificate(path: &Path) -> Result<Certificate, Error> {
    let text = read_text(path)?;
    let mut words = text.split_whitespace();
    let (cert_type, blob) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    cert::parse(cert_type, blob).map_err(|error| Error::NotACertificate {
        path: path.to_owned(),
        error,
    })
}

impl fmt::Display for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (user, host, now, with_cert, x) = match self {
            Explained::Local { user } => {
                return writeln!(
                    f,
                    "{user} is a local account ({}): roster does not decide for it, and no \
                     certificate logs in to it",
                    paths::PASSWD
                );
            }
            Explained::Snapshot {
                user,
                host,
                now,
                with_cert,
                explanation,
            } => (user, host, *now, *with_cert, explanation),
        };
        writeln!(
            f,
            "roster explain {user} on {host} at {}",
            format_rfc3339(now)
        )?;
        let width = x.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
        for s in &x.steps {
            let mark = if s.ok { "✓" } else { "✗" };
            writeln!(f, "  {mark} {:<width$}  {}", s.step, s.detail)?;
        }
        let sudo = if x.sudo { "yes" } else { "no" };
        match (x.allowed, with_cert) {
            (true, true) => writeln!(f, "{user} may log in with this certificate; sudo: {sudo}"),
            (true, false) => writeln!(
                f,
                "{user} may log in with a valid certificate (check one with --cert FILE); sudo: {sudo}"
            ),
            (false, _) => writeln!(f, "{user} may not log in"),
        }
    }
}

/// What `roster events` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EventsArgs {
    pub user: Option<String>,
    /// RFC 3339, or a duration ago like 2h.
    pub since: Option<String>,
}

/// The audit trail's events that `args` selects, as a table.
pub struct Trail {
    events: Vec<Event>,
}

/// Reads the audit trail at `path` and keeps the events of `args.user`
/// (as account or person) since `args.since`.
pub fn events(path: &Path, args: &EventsArgs, now: UnixTime) -> Result<Trail, Error> {
    let since = match args.since.as_deref() {
        None => None,
        Some(s) => Some(match parse_duration(s) {
            Some(ago) => now - ago as UnixTime,
            None => parse_rfc3339(s).map_err(Error::Since)?,
        }),
    };
    let events = audit::read(path).map_err(|e| crate::install::FileError::io(path, e))?;
    let events = events
        .into_iter()
        .filter(|e| {
            args.user
                .as_deref()
                .is_none_or(|u| e.account == u || e.person.as_deref() == Some(u))
        })
        .filter(|e| since.is_none_or(|t| parse_rfc3339(&e.time).is_ok_and(|et| et >= t)))
        .collect();
    Ok(Trail { events })
}

impl fmt::Display for Trail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = [
            "TIME", "EVENT", "ACCOUNT", "PERSON", "FROM", "KEY ID", "SERIAL", "SESSION", "DETAIL",
        ];
        let rows: Vec<Vec<String>> = self
            .events
            .iter()
            .map(|e| {
                let detail = match (&e.reason, e.duration_secs) {
                    (Some(r), _) => r.clone(),
                    (None, Some(d)) => format!("after {}", format_duration(d)),
                    (None, None) => String::new(),
                };
                vec![
                    e.time.clone(),
                    e.event.as_str().to_owned(),
                    e.account.clone(),
                    e.person.clone().unwrap_or_default(),
                    e.source.clone().unwrap_or_default(),
                    e.key_id.clone().unwrap_or_default(),
                    e.serial.map(|s| s.to_string()).unwrap_or_default(),
                    e.session.clone().unwrap_or_default(),
                    detail,
                ]
            })
            .collect();
        table(f, &header, &rows)
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
/// Control characters never reach the terminal.
fn table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: &[Vec<String>]) -> fmt::Result {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
    };
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| (*h).to_owned()).collect())
        .chain(rows.iter().map(|r| r.iter().map(|c| clean(c)).collect()))
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let last = row.len() - 1;
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(account: &str, reason: Option<&str>) -> Event {
        let mut e = Event::new(
            audit::EventKind::PrincipalsDenied,
            1_795_600_800,
            "web-01",
            account,
        );
        e.reason = reason.map(str::to_owned);
        e
    }

    #[test]
    fn the_trail_is_a_table_with_control_characters_replaced() {
        let trail = Trail {
            events: vec![
                event("alice", Some("not a certificate")),
                event("b\x1b[2Jb", None),
            ],
        };
        assert_eq!(
            trail.to_string(),
            "TIME                  EVENT              ACCOUNT  PERSON  FROM  KEY ID  SERIAL  SESSION  DETAIL\n\
             2026-11-25T10:00:00Z  principals_denied  alice                                           not a certificate\n\
             2026-11-25T10:00:00Z  principals_denied  b?[2Jb\n"
        );
    }
}
