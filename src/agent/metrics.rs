//! The agent's metrics: a Prometheus text-format file for node_exporter's
//! textfile collector (docs/metrics.md), written whole after every sync and
//! its offboarding ([`write`]). What it says comes from state.json's
//! [`History`] and the installed snapshot's header, rendered by the pure
//! [`render`].

use std::fmt::Write as _;
use std::path::Path;

use super::config::Config;
use super::fetch::FetchError;
use super::state::History;
use super::sync::SyncError;
use crate::host::audit::EventKind;
use crate::host::compiled::{Header, View};
use crate::host::freshness::age_secs;
use crate::install::write_atomic;
use crate::paths::{METRICS, SNAPSHOT_FILE};
use crate::snapshot::SourceError;
use crate::time::UnixTime;

/// Why a sync failed, in one word: the `reason` label of
/// `roster_sync_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No answer: connection, TLS, timeout, a refused redirect, an
    /// unreadable `file://` source.
    Transport,
    /// The source answered with an HTTP error status.
    HttpStatus,
    /// The body is over the configured limit.
    TooLarge,
    /// The bearer token file.
    Config,
    Signature,
    /// Signed, but not a usable snapshot.
    Invalid,
    /// Signed, but past its `valid_until`.
    Expired,
    Rollback,
    /// Writing the state folder (or the compile step) failed on this host.
    Install,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::Transport,
        Reason::HttpStatus,
        Reason::TooLarge,
        Reason::Config,
        Reason::Signature,
        Reason::Invalid,
        Reason::Expired,
        Reason::Rollback,
        Reason::Install,
    ];

    /// The one place a sync error becomes a reason.
    pub fn of(e: &SyncError) -> Reason {
        match e {
            SyncError::Fetch(f) => match f {
                FetchError::Http { .. } => Reason::HttpStatus,
                FetchError::Transport { .. }
                | FetchError::Redirect { .. }
                | FetchError::File { .. } => Reason::Transport,
                FetchError::TooLarge { .. } => Reason::TooLarge,
                FetchError::Token(_) => Reason::Config,
            },
            SyncError::Signature(_) => Reason::Signature,
            SyncError::Refused(SourceError::Expired { .. }) => Reason::Expired,
            SyncError::Refused(SourceError::TooLarge { .. }) => Reason::TooLarge,
            SyncError::Refused(_) => Reason::Invalid,
            SyncError::Rollback { .. } => Reason::Rollback,
            SyncError::Compile(_) | SyncError::Install { .. } => Reason::Install,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Reason::Transport => "transport",
            Reason::HttpStatus => "http_status",
            Reason::TooLarge => "too_large",
            Reason::Config => "config",
            Reason::Signature => "signature",
            Reason::Invalid => "invalid",
            Reason::Expired => "expired",
            Reason::Rollback => "rollback",
            Reason::Install => "install",
        }
    }
}

/// The offboarding events counted, by their events-log word.
const OFFBOARD_EVENTS: [EventKind; 2] = [EventKind::Offboarded, EventKind::SessionRevoked];

/// The metrics file's text at `now`, for a host whose history is `history`,
/// whose installed snapshot has `installed` (none: its gauges are left out)
/// and whose `max_age` is `max_age_secs`. Every known label value is
/// present, 0 until counted, so that `rate()` sees the first increase.
pub fn render(
    history: &History,
    installed: Option<&Header>,
    max_age_secs: u64,
    now: UnixTime,
) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: Option<String>| -> Vec<(String, String)> {
        v.into_iter().map(|v| (String::new(), v)).collect()
    };
    metric(
        "roster_snapshot_serial",
        "gauge",
        "Serial of the installed snapshot.",
        &one(installed.map(|h| h.serial.to_string())),
    );
    metric(
        "roster_snapshot_issued_timestamp_seconds",
        "gauge",
        "Signed issued_at of the installed snapshot.",
        &one(installed.map(|h| h.issued_at.to_string())),
    );
    metric(
        "roster_snapshot_age_seconds",
        "gauge",
        "Seconds since the installed snapshot was issued, when this file was written.",
        &one(installed.map(|h| age_secs(h.issued_at, now).to_string())),
    );
    metric(
        "roster_snapshot_max_age_seconds",
        "gauge",
        "The host's max_age: older snapshots admit no snapshot logins.",
        &one(Some(max_age_secs.to_string())),
    );
    metric(
        "roster_snapshot_users",
        "gauge",
        "Users in the installed snapshot.",
        &one(installed.map(|h| h.users.to_string())),
    );
    metric(
        "roster_sync_last_success_timestamp_seconds",
        "gauge",
        "Last time the source confirmed the installed snapshot (new or unchanged).",
        &one(history.last_success.map(|t| t.to_string())),
    );
    metric(
        "roster_sync_last_failure_timestamp_seconds",
        "gauge",
        "Last time a sync failed.",
        &one(history.last_failure.map(|t| t.to_string())),
    );
    let counted = |map: &std::collections::BTreeMap<String, u64>, label: &str, words: &[&str]| {
        words
            .iter()
            .map(|w| {
                let n = map.get(*w).copied().unwrap_or(0);
                (format!("{{{label}=\"{w}\"}}"), n.to_string())
            })
            .collect::<Vec<_>>()
    };
    metric(
        "roster_sync_failures_total",
        "counter",
        "Failed syncs, by reason.",
        &counted(
            &history.sync_failures,
            "reason",
            &Reason::ALL.map(Reason::word),
        ),
    );
    metric(
        "roster_offboard_events_total",
        "counter",
        "People offboarded and open sessions revoked, as recorded in the events log.",
        &counted(
            &history.offboard_events,
            "event",
            &OFFBOARD_EVENTS.map(EventKind::as_str),
        ),
    );
    out
}

/// Writes the metrics file of `config` (if it has one) atomically, mode
/// 0644. Its folder is node_exporter's to make: when it is missing, one line
/// says so and nothing else happens. No failure here fails a sync.
pub fn write(config: &Config, now: UnixTime) {
    let Some(path) = &config.metrics else {
        return;
    };
    if !path.parent().is_some_and(Path::is_dir) {
        // The default folder is there only where node_exporter is: no
        // word on every sync of the hosts that do not run it.
        if path == Path::new(METRICS) {
            return;
        }
        eprintln!(
            "roster: no metrics written: {} has no folder (is prometheus-node-exporter installed?)",
            path.display()
        );
        return;
    }
    let history = match History::load(&config.state_dir) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("roster: no metrics written: {e}");
            return;
        }
    };
    let bytes = std::fs::read(config.state_dir.join(SNAPSHOT_FILE)).ok();
    let header = bytes
        .as_deref()
        .and_then(|b| View::open(b).ok().map(|v| *v.header()));
    let text = render(&history, header.as_ref(), config.host.max_age_secs, now);
    if let Err(e) = write_atomic(path, text.as_bytes(), 0o644) {
        eprintln!("roster: cannot write {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exact_text_with_every_label_present() {
        let mut history = History {
            last_success: Some(1_795_600_000),
            ..History::default()
        };
        history.record_failure(Reason::Signature, 1_795_600_700);
        history.record_failure(Reason::Signature, 1_795_600_800);
        history.offboard_events.insert("offboarded".into(), 1);
        let header = Header {
            serial: 7,
            issued_at: 1_795_596_000,
            valid_until: 1_900_000_000,
            compiled_at: 0,
            file_len: 0,
            body_crc: 0,
            users: 3,
            groups: 2,
        };
        let text = render(&history, Some(&header), 86_400, 1_795_600_800);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "roster_snapshot_serial 7",
                "roster_snapshot_issued_timestamp_seconds 1795596000",
                "roster_snapshot_age_seconds 4800",
                "roster_snapshot_max_age_seconds 86400",
                "roster_snapshot_users 3",
                "roster_sync_last_success_timestamp_seconds 1795600000",
                "roster_sync_last_failure_timestamp_seconds 1795600800",
                "roster_sync_failures_total{reason=\"transport\"} 0",
                "roster_sync_failures_total{reason=\"http_status\"} 0",
                "roster_sync_failures_total{reason=\"too_large\"} 0",
                "roster_sync_failures_total{reason=\"config\"} 0",
                "roster_sync_failures_total{reason=\"signature\"} 2",
                "roster_sync_failures_total{reason=\"invalid\"} 0",
                "roster_sync_failures_total{reason=\"expired\"} 0",
                "roster_sync_failures_total{reason=\"rollback\"} 0",
                "roster_sync_failures_total{reason=\"install\"} 0",
                "roster_offboard_events_total{event=\"offboarded\"} 1",
                "roster_offboard_events_total{event=\"session_revoked\"} 0",
            ]
        );
        assert!(text.starts_with(
            "# HELP roster_snapshot_serial Serial of the installed snapshot.\n\
             # TYPE roster_snapshot_serial gauge\nroster_snapshot_serial 7\n"
        ));
        assert!(text.contains("# TYPE roster_sync_failures_total counter\n"));
    }

    #[test]
    fn without_a_snapshot_or_history_only_the_configuration_and_zeroes_remain() {
        let text = render(&History::default(), None, 3600, 0);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples[0], "roster_snapshot_max_age_seconds 3600");
        assert!(samples[1..].iter().all(|l| l.ends_with(" 0")), "{text}");
        // Every metric keeps its HELP and TYPE lines.
        assert_eq!(text.matches("# TYPE ").count(), 9);
    }

    #[test]
    fn an_old_state_file_loads_with_zero_counters() {
        let old = r#"{"source":"","last_attempt":null,"last_success":1,"last_change":null,
            "serial":1,"highest_serial":1,"etag":null,"last_modified":null,"last_error":null,
            "consecutive_failures":0,"users":0,"groups":0,"signer":null,"valid_until":null,
            "max_age_secs":60,"dropped":[]}"#;
        let h: History = serde_json::from_str(old).unwrap();
        assert!(h.sync_failures.is_empty() && h.last_failure.is_none());
    }
}
