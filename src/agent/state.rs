//! What the agent keeps in its state folder between runs: the history of
//! its syncs (state.json, what `roster status` prints) and the lock that
//! lets one sync or offboarding run at a time.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::host::audit::Event;
use crate::install::{FileError, FileProblem, write_atomic};
use crate::paths::STATE_FILE;
use crate::time::UnixTime;

/// What the agent remembers between runs; `roster status` prints it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct History {
    pub source: String,
    pub last_attempt: Option<UnixTime>,
    /// Last time the source confirmed what is installed (new or 304).
    pub last_success: Option<UnixTime>,
    /// Last time a new snapshot was installed.
    pub last_change: Option<UnixTime>,
    pub serial: Option<u64>,
    /// Never goes down: a snapshot below it is a rollback.
    pub highest_serial: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub users: u32,
    pub groups: u32,
    pub signer: Option<String>,
    pub valid_until: Option<UnixTime>,
    /// Why the snapshot's sudo rules could not be installed, if they could not.
    #[serde(default)]
    pub sudoers_error: Option<String>,
    pub max_age_secs: u64,
    /// `roster snapshot compile`-style lines for every dropped entry.
    pub dropped: Vec<String>,
    /// Last time a sync failed.
    #[serde(default)]
    pub last_failure: Option<UnixTime>,
    /// Failed syncs by [`crate::agent::metrics::Reason`] word, ever.
    #[serde(default)]
    pub sync_failures: BTreeMap<String, u64>,
    /// Offboarding events (`offboarded`, `session_revoked`) carried out, ever.
    #[serde(default)]
    pub offboard_events: BTreeMap<String, u64>,
}

impl History {
    pub fn load(dir: &Path) -> Result<History, FileError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| FileError {
                path,
                problem: FileProblem::Malformed(e.to_string()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
            Err(e) => Err(FileError::io(&path, e)),
        }
    }

    /// Counts a failed sync at `now`.
    pub(crate) fn record_failure(&mut self, reason: crate::agent::metrics::Reason, now: UnixTime) {
        self.last_failure = Some(now);
        *self.sync_failures.entry(reason.word().into()).or_default() += 1;
    }

    /// Counts `events` in the state file of `dir`, under the state folder's
    /// lock (a sync saves it too).
    pub(crate) fn record_events(dir: &Path, events: &[Event]) -> std::io::Result<()> {
        let _lock = lock_state(dir)?;
        let mut state = History::load(dir).map_err(std::io::Error::other)?;
        for e in events {
            *state
                .offboard_events
                .entry(e.event.as_str().into())
                .or_default() += 1;
        }
        state.save(dir)
    }

    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&dir.join(STATE_FILE), &json, 0o644)
    }
}

/// Takes the state directory's lock (`.lock`, 0600), waiting for the sync
/// or offboarding that holds it; released when the file is dropped.
pub(crate) fn lock_state(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(".lock"))
        .and_then(|f| f.lock().map(|()| f))
}
