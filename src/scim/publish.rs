//! Publication: each project's signed snapshot, written atomically into
//! the directory nginx serves (`PUBLISH/PROJECT/snapshot.json` and `.sig`).
//!
//! A round computes every project's contents from the database and
//! publishes those that differ from what was last published, and those
//! whose heartbeat is due (an unchanged snapshot is re-signed, so the
//! hosts' freshness never depends on changes happening). The serial is
//! reserved in the database before the files are written: it never goes
//! back, across restarts and crashes alike.

use ssh_key::PrivateKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::config::Config;
use super::project::{self, People};
use super::store::{Query, Store, StoreError};
use crate::install::{FileError, replace_for_readers};
use crate::snapshot::signature;
use crate::time::UnixTime;

/// What a round published for one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub project: String,
    pub serial: u64,
    pub users: usize,
    pub bytes: usize,
    /// Why: the contents changed, or the heartbeat was due.
    pub heartbeat: bool,
}

#[derive(Debug)]
pub enum PublishError {
    Store(StoreError),
    File(FileError),
    Contents {
        project: String,
        problem: String,
    },
    Sign(ssh_key::Error),
    /// valid_for reaches past the year 9999.
    Validity,
    Panicked,
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::File(e) => e.fmt(f),
            Self::Contents { project, problem } => write!(f, "project {project}: {problem}"),
            Self::Sign(e) => write!(f, "signing: {e}"),
            Self::Validity => f.write_str("valid_for reaches past the year 9999"),
            Self::Panicked => f.write_str("the round panicked (a bug): see the log"),
        }
    }
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        PublishError::Store(e)
    }
}

impl From<FileError> for PublishError {
    fn from(e: FileError) -> Self {
        PublishError::File(e)
    }
}

/// What was last published for a project: a digest of its contents (serial
/// and times aside), to compare the next round's with, and when. A digest,
/// not the document: at 100,000 users, keeping the document cost 270 MB of
/// the service's memory (bench/scim.sh), for a comparison.
struct Last {
    contents: u64,
    at: UnixTime,
}

pub struct Publisher {
    key: PrivateKey,
    user_cas: Vec<String>,
    last: HashMap<String, Last>,
    /// The key of the contents' digests.
    keys: std::hash::RandomState,
    /// The database's change counter when the last round read it.
    seen_change: Option<u64>,
}

impl Publisher {
    /// Reads the signing key and the user CA keys.
    pub fn new(config: &Config) -> Result<Publisher, PublishError> {
        let key = crate::tools::publish::private_key(&config.signing_key).map_err(|e| {
            PublishError::Contents {
                project: "*".into(),
                problem: e.to_string(),
            }
        })?;
        let mut user_cas = Vec::new();
        for file in &config.user_cas {
            let text = crate::install::read_text(file)?;
            user_cas.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
        }
        Ok(Publisher {
            key,
            user_cas,
            last: HashMap::new(),
            keys: std::hash::RandomState::new(),
            seen_change: None,
        })
    }

    /// One round at `now`: publishes every project whose contents changed
    /// or whose heartbeat is due.
    pub fn round(
        &mut self,
        config: &Config,
        store: &std::sync::Mutex<Store>,
        now: UnixTime,
    ) -> Result<Vec<Published>, PublishError> {
        let projects: Vec<(&str, &super::config::Project)> = config
            .projects
            .iter()
            .map(|(n, p)| (n.as_str(), p))
            .collect();
        let heartbeat_due = projects.iter().any(|(name, _)| {
            self.last
                .get(*name)
                .is_none_or(|l| now.saturating_sub(l.at) >= config.heartbeat_secs as UnixTime)
        });
        let (change, people) = {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            let change = store.read().change()?;
            if self.seen_change == Some(change) && !heartbeat_due {
                return Ok(Vec::new());
            }
            (change, People::read(&store.read(), &projects)?)
        };
        let mut out = Vec::new();
        for (name, p) in projects {
            let contents = project::contents(p, &people, &config.accounts, &self.user_cas)
                .map_err(|problem| PublishError::Contents {
                    project: name.to_owned(),
                    problem,
                })?;
            let digest = project::digest(&contents.document, &self.keys);
            let heartbeat = match self.last.get(name) {
                Some(last) if last.contents == digest => {
                    if now.saturating_sub(last.at) < config.heartbeat_secs as UnixTime {
                        continue;
                    }
                    true
                }
                _ => false,
            };
            let serial = {
                let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                // The time as a floor: a database restored from a backup
                // still publishes above what the hosts have seen.
                store.next_serial(name, u64::try_from(now).unwrap_or(0))?
            };
            // Compact: a third smaller than pretty at 100,000 users, for
            // every host's download.
            let mut json = project::issue(contents.document, serial, now, config.valid_for_secs)
                .ok_or(PublishError::Validity)?;
            json.push(b'\n');
            let sig = signature::sign(&self.key, &json).map_err(PublishError::Sign)?;
            write_pair(&config.publish.join(name), &json, sig.as_bytes())?;
            self.last.insert(
                name.to_owned(),
                Last {
                    contents: digest,
                    at: now,
                },
            );
            out.push(Published {
                project: name.to_owned(),
                serial,
                users: contents.users,
                bytes: json.len(),
                heartbeat,
            });
        }
        // Only now: a failed round is tried again at the next tick.
        self.seen_change = Some(change);
        Ok(out)
    }
}

/// DIR/snapshot.json and DIR/snapshot.json.sig, each replaced atomically
/// for nginx but not fsynced (after a crash the service publishes again at
/// start, with a higher serial). The signature first: a host that fetches
/// between the two renames gets the old document with the new signature,
/// refuses the pair, keeps its last good snapshot and takes the new one at
/// its next sync.
fn write_pair(dir: &Path, json: &[u8], sig: &[u8]) -> Result<(), FileError> {
    std::fs::create_dir_all(dir).map_err(|e| FileError::io(dir, e))?;
    let snapshot: PathBuf = dir.join("snapshot.json");
    replace_for_readers(&dir.join("snapshot.json.sig"), sig, 0o644)?;
    replace_for_readers(&snapshot, json, 0o644)
}
