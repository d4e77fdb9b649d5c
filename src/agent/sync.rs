//! One sync: fetch → verify signature → validate → refuse rollback →
//! compile → install atomically. Any failure installs nothing: the last good
//! snapshot keeps serving.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::agent::config::Config;
use crate::agent::fetch::{Fetch, FetchError, Fetched, Validators, user_agent};
use crate::agent::metrics::Reason;
use crate::agent::offboard::{self, Offboarded};
use crate::agent::state::{History, lock_state};
use crate::agent::sudoers;
use crate::host::compiled::{FormatError, View, compile};
use crate::host::freshness::Freshness;
use crate::install;
use crate::local::LocalTables;
use crate::snapshot::signature::{self, SignatureError};
use crate::snapshot::{SourceError, validate};
use crate::time::UnixTime;

use crate::paths::{OFFBOARDING_FILE, SNAPSHOT_FILE, STATE_FILE, USER_CA_FILE, VISUDO};
/// At most this many dropped-entry lines are kept in the state file.
const MAX_FINDINGS: usize = 1000;

/// What a successful sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    Installed {
        serial: u64,
        previous: Option<u64>,
        /// Who lost access with this snapshot: their sessions must end.
        offboarded: Vec<Offboarded>,
    },
    /// 304, or the same serial as installed.
    Unchanged { serial: u64 },
}

#[derive(Debug)]
pub enum SyncError {
    Fetch(FetchError),
    Signature(SignatureError),
    Refused(SourceError),
    Rollback {
        offered: u64,
        highest: u64,
    },
    Compile(FormatError),
    Install {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fetch(e) => write!(f, "fetch failed: {e}"),
            Self::Signature(e) => write!(f, "refused: {e}"),
            Self::Refused(e) => write!(f, "refused: {e}"),
            Self::Rollback { offered, highest } => write!(
                f,
                "refused: serial {offered} is older than serial {highest} already seen (rollback)"
            ),
            Self::Compile(e) => write!(f, "compile failed: {e}"),
            Self::Install { path, error } => {
                write!(f, "install failed: {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for SyncError {}

impl SyncError {
    /// The exit status of `roster sync` for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Fetch(_) => 3,
            Self::Signature(_) | Self::Refused(_) | Self::Rollback { .. } => 4,
            Self::Compile(_) | Self::Install { .. } => 5,
        }
    }
}

/// Runs one sync and records the outcome in the state file.
pub fn sync_once(
    config: &Config,
    source: &mut dyn Fetch,
    local: &LocalTables,
    now: UnixTime,
) -> Result<Synced, SyncError> {
    let dir = &config.state_dir;
    // One sync at a time (the agent, and an operator's `roster sync`): an
    // exclusive lock on the state directory, released when this returns.
    let _lock = lock_state(dir).map_err(|error| SyncError::Install {
        path: dir.join(".lock"),
        error,
    })?;
    // A sync killed mid-install (kill -9, power loss) leaves its temporary
    // files (here and beside the sudoers file); the installed ones are whole
    // either way.
    install::remove_stale(dir);
    install::remove_stale_of(&config.sudoers);
    // A state file that cannot be read is started afresh (rollback is
    // still refused against the installed snapshot's serial), and says so.
    let (mut state, state_problem) = match History::load(dir) {
        Ok(state) => (state, None),
        Err(e) => (History::default(), Some(e)),
    };
    state.last_attempt = Some(now);
    state.max_age_secs = config.host.max_age_secs;
    if state.source != config.source.url {
        // A new source: its validators mean nothing to us.
        state.source = config.source.url.clone();
        state.etag = None;
        state.last_modified = None;
    }
    let result = attempt(config, source, local, now, &mut state);
    match &result {
        Ok(_) => {
            state.last_success = Some(now);
            state.last_error = state_problem.map(|e| format!("{e}; started a new state file"));
            state.consecutive_failures = 0;
        }
        Err(e) => {
            state.last_error = Some(e.to_string());
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            state.record_failure(Reason::of(e), now);
        }
    }
    state.save(dir).map_err(|error| SyncError::Install {
        path: dir.join(STATE_FILE),
        error,
    })?;
    result
}

fn attempt(
    config: &Config,
    source: &mut dyn Fetch,
    local: &LocalTables,
    now: UnixTime,
    state: &mut History,
) -> Result<Synced, SyncError> {
    let dir = &config.state_dir;
    let installed = installed_serial(&dir.join(SNAPSHOT_FILE));
    // Ask conditionally only when what the validators describe is installed.
    let cached = match (installed, state.serial) {
        (Some(a), Some(b)) if a == b => Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        },
        _ => Validators::default(),
    };
    let (json, sig, validators) = match source
        .fetch(
            &config.source.url,
            &cached,
            &user_agent(&config.host.host_name, installed),
        )
        .map_err(SyncError::Fetch)?
    {
        Fetched::NotModified => match installed {
            // An unchanged snapshot must still be valid: a source that
            // stopped publishing but answers 304 must not keep hosts fresh.
            Some(serial) => {
                if let Some(valid_until) = installed_valid_until(&dir.join(SNAPSHOT_FILE))
                    && valid_until <= now
                {
                    return Err(SyncError::Refused(SourceError::Expired { valid_until }));
                }
                return Ok(Synced::Unchanged { serial });
            }
            // A 304 to an unconditional request: treat as a bad answer.
            None => {
                let url = config.source.url.clone();
                return Err(SyncError::Fetch(FetchError::Http { url, status: 304 }));
            }
        },
        Fetched::New {
            snapshot,
            signature,
            validators,
        } => (snapshot, signature, validators),
    };
    if json.len() > config.policy.limits.max_document_bytes {
        let max = config.policy.limits.max_document_bytes as u64;
        return Err(SyncError::Fetch(FetchError::TooLarge {
            url: config.source.url.clone(),
            max,
        }));
    }
    // Nothing is parsed before the signature is checked.
    let verified = signature::verify(&json, &sig, &config.source.signing_keys)
        .map_err(SyncError::Signature)?;
    let snapshot =
        validate(verified.bytes, &config.policy, local, now).map_err(SyncError::Refused)?;

    let highest = state.highest_serial.into_iter().chain(installed).max();
    if let Some(highest) = highest
        && snapshot.serial < highest
    {
        return Err(SyncError::Rollback {
            offered: snapshot.serial,
            highest,
        });
    }
    if installed == Some(snapshot.serial) {
        state.etag = validators.etag;
        state.last_modified = validators.last_modified;
        return Ok(Synced::Unchanged {
            serial: snapshot.serial,
        });
    }
    // Remember the serial before installing: a crash after this point can
    // never let an older snapshot in.
    state.highest_serial = Some(snapshot.serial);
    state.save(dir).map_err(|error| SyncError::Install {
        path: dir.join(STATE_FILE),
        error,
    })?;

    let bytes = compile(&snapshot, &config.host, now).map_err(SyncError::Compile)?;
    // Who had access under the snapshot being replaced and has none now.
    let offboarded = std::fs::read(dir.join(SNAPSHOT_FILE))
        .ok()
        .and_then(|old| {
            View::open(&old)
                .ok()
                .map(|v| offboard::offboarded(&v, &snapshot))
        })
        .unwrap_or_default();
    // Who loses access is written down before the snapshot that takes it
    // away is installed: whatever fails after this, the next run ends
    // their sessions first (offboard::carry_out).
    if !offboarded.is_empty() {
        let pending = offboard::Pending {
            serial: snapshot.serial,
            people: offboarded.clone(),
        };
        pending.save(dir).map_err(|error| SyncError::Install {
            path: dir.join(OFFBOARDING_FILE),
            error,
        })?;
    }
    let mut ca_keys = snapshot.user_cas.join("\n");
    if !ca_keys.is_empty() {
        ca_keys.push('\n');
    }
    // Both files are written in full before either replaces its old self:
    // a failure (a full disk) leaves sshd's CA list and the snapshot of the
    // same generation.
    let mut staged = Vec::new();
    for (name, content) in [
        (USER_CA_FILE, ca_keys.as_bytes()),
        (SNAPSHOT_FILE, &bytes[..]),
    ] {
        let path = dir.join(name);
        let file = install::stage(&path, content, 0o644).map_err(|error| SyncError::Install {
            path: path.clone(),
            error,
        })?;
        staged.push((path, file));
    }
    for (path, file) in staged {
        // Every process maps the snapshot: it is installed immutable.
        let committed = if path.ends_with(SNAPSHOT_FILE) {
            file.commit_immutable()
        } else {
            file.commit()
        };
        committed.map_err(|error| SyncError::Install { path, error })?;
    }
    // The sudo rules follow the snapshot; a rendering visudo refuses keeps
    // the previous rules and is reported, but never holds back the snapshot
    // (deprovisioning must not wait on sudoers).
    let rules = sudoers::render(&snapshot.sudo, snapshot.serial);
    state.sudoers_error = sudoers::install(&config.sudoers, &rules, Path::new(VISUDO))
        .err()
        .map(|e| e.to_string());

    state.serial = Some(snapshot.serial);
    state.etag = validators.etag;
    state.last_modified = validators.last_modified;
    state.last_change = Some(now);
    state.users = snapshot.users.len() as u32;
    state.groups = snapshot.groups.len() as u32;
    state.signer = Some(verified.signer);
    state.valid_until = Some(snapshot.valid_until);
    state.dropped = snapshot
        .findings
        .iter()
        .take(MAX_FINDINGS)
        .map(ToString::to_string)
        .collect();
    Ok(Synced::Installed {
        serial: snapshot.serial,
        previous: installed,
        offboarded,
    })
}

/// The serial of the installed compiled snapshot, if it is usable.
pub fn installed_serial(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    View::open(&bytes).ok().map(|v| v.header().serial)
}

/// The `valid_until` of the installed compiled snapshot, if it is usable.
fn installed_valid_until(path: &Path) -> Option<UnixTime> {
    let bytes = std::fs::read(path).ok()?;
    View::open(&bytes).ok().map(|v| v.header().valid_until)
}

/// How `roster status` judges the host: the installed snapshot's
/// [`Freshness`], the one the login gate and PAM use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Usable(Freshness),
    /// No usable snapshot installed.
    Unusable,
}

impl Health {
    /// The health of the compiled snapshot at `path` at `now`, on a host
    /// whose `max_age` is `max_age_secs`.
    pub fn of(path: &Path, max_age_secs: u64, now: UnixTime) -> Health {
        let Ok(bytes) = std::fs::read(path) else {
            return Health::Unusable;
        };
        match View::open(&bytes) {
            Ok(v) => Health::Usable(Freshness::of(v.header(), max_age_secs, now)),
            Err(_) => Health::Unusable,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Health::Usable(f) => f.word(),
            Health::Unusable => "no usable snapshot",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Health::Usable(f) if f.is_fresh() => 0,
            Health::Usable(_) => 1,
            Health::Unusable => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::{Algorithm, PrivateKey};

    /// A source that answers from a list and records what it was asked.
    struct Fake {
        answers: Vec<Result<Fetched, FetchError>>,
        asked: Vec<Validators>,
    }

    impl Fetch for Fake {
        fn fetch(
            &mut self,
            _url: &str,
            cached: &Validators,
            _user_agent: &str,
        ) -> Result<Fetched, FetchError> {
            self.asked.push(cached.clone());
            self.answers.remove(0)
        }
    }

    struct Setup {
        key: PrivateKey,
        config: Config,
        local: LocalTables,
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            // The installed snapshot is immutable.
            let _ = crate::install::remove_tree(&self.config.state_dir);
        }
    }

    const NOW: UnixTime = 1_795_600_800;

    fn setup(name: &str) -> Setup {
        let mut rng = ssh_key::rand_core::UnwrapErr(ssh_key::getrandom::SysRng);
        let key = PrivateKey::random(&mut rng, Algorithm::Ed25519).unwrap();
        let dir = std::env::temp_dir().join(format!("roster-sync-{name}-{}", std::process::id()));
        let _ = crate::install::remove_tree(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // No sudoers folder there: the rules are not rendered (never into the
        // machine's /etc/sudoers.d).
        let text = format!(
            "[source]\nurl = \"https://id.example/s.json\"\nsigning_keys = [\"{}\"]\n[paths]\nstate_dir = \"{}\"\nsudoers = \"{}/no-sudoers.d/r\"\n",
            key.public_key().to_openssh().unwrap(),
            dir.display(),
            dir.display()
        );
        let config = Config::parse(&text, "web-01").unwrap();
        let local = LocalTables::parse("", "", "/bin/sh\n");
        Setup { key, config, local }
    }

    fn snapshot(serial: u64, valid_until: &str) -> Vec<u8> {
        format!(
            r#"{{"format":"roster-snapshot/1","serial":{serial},"issued_at":"2026-01-01T00:00:00Z",
            "valid_until":"{valid_until}","groups":[],"user_cas":[],
            "users":[{{"name":"alice","uid":10001,"gid":10001,"home":"/home/alice",
            "shell":"/bin/sh","state":"active","role":"user"}}]}}"#
        )
        .into_bytes()
    }

    fn signed(s: &Setup, json: Vec<u8>, etag: &str) -> Result<Fetched, FetchError> {
        let signature = crate::snapshot::signature::sign(&s.key, &json)
            .unwrap()
            .into_bytes();
        let validators = Validators {
            etag: Some(etag.into()),
            last_modified: None,
        };
        Ok(Fetched::New {
            snapshot: json,
            signature,
            validators,
        })
    }

    fn run(
        s: &Setup,
        answers: Vec<Result<Fetched, FetchError>>,
    ) -> (Result<Synced, SyncError>, Fake) {
        let mut fake = Fake {
            answers,
            asked: Vec::new(),
        };
        let r = sync_once(&s.config, &mut fake, &s.local, NOW);
        (r, fake)
    }

    fn state(s: &Setup) -> History {
        History::load(&s.config.state_dir).unwrap()
    }

    #[test]
    fn installs_then_answers_304_cheaply() {
        let s = setup("install");
        let (r, fake) = run(
            &s,
            vec![signed(&s, snapshot(5, "2099-01-01T00:00:00Z"), "\"v5\"")],
        );
        assert_eq!(
            r.unwrap(),
            Synced::Installed {
                serial: 5,
                previous: None,
                offboarded: vec![]
            }
        );
        assert_eq!(fake.asked, [Validators::default()]);
        assert_eq!(
            installed_serial(&s.config.state_dir.join(SNAPSHOT_FILE)),
            Some(5)
        );
        let st = state(&s);
        assert_eq!(
            (st.serial, st.highest_serial, st.users),
            (Some(5), Some(5), 1)
        );
        assert_eq!(st.etag.as_deref(), Some("\"v5\""));

        let (r, fake) = run(&s, vec![Ok(Fetched::NotModified)]);
        assert_eq!(r.unwrap(), Synced::Unchanged { serial: 5 });
        assert_eq!(fake.asked[0].etag.as_deref(), Some("\"v5\""));
        assert_eq!(state(&s).last_success, Some(NOW));
    }

    #[test]
    fn refuses_rollback_and_keeps_the_installed_snapshot() {
        let s = setup("rollback");
        run(
            &s,
            vec![signed(&s, snapshot(5, "2099-01-01T00:00:00Z"), "a")],
        )
        .0
        .unwrap();
        let (r, _) = run(
            &s,
            vec![signed(&s, snapshot(4, "2099-01-01T00:00:00Z"), "b")],
        );
        assert!(matches!(
            r,
            Err(SyncError::Rollback {
                offered: 4,
                highest: 5
            })
        ));
        assert_eq!(
            installed_serial(&s.config.state_dir.join(SNAPSHOT_FILE)),
            Some(5)
        );
        let st = state(&s);
        assert!(st.last_error.unwrap().contains("rollback"));
        assert_eq!(st.consecutive_failures, 1);
        let (r, _) = run(
            &s,
            vec![signed(&s, snapshot(5, "2099-01-01T00:00:00Z"), "c")],
        );
        assert_eq!(r.unwrap(), Synced::Unchanged { serial: 5 });
    }

    #[test]
    fn highest_serial_survives_the_loss_of_the_installed_file() {
        let s = setup("highest");
        run(
            &s,
            vec![signed(&s, snapshot(9, "2099-01-01T00:00:00Z"), "a")],
        )
        .0
        .unwrap();
        let installed = s.config.state_dir.join(SNAPSHOT_FILE);
        crate::install::set_immutable(&installed, false).unwrap();
        std::fs::remove_file(installed).unwrap();
        let (r, fake) = run(
            &s,
            vec![signed(&s, snapshot(3, "2099-01-01T00:00:00Z"), "b")],
        );
        assert!(matches!(
            r,
            Err(SyncError::Rollback {
                offered: 3,
                highest: 9
            })
        ));
        // Nothing installed to describe: the request was unconditional.
        assert_eq!(fake.asked, [Validators::default()]);
        let (r, _) = run(
            &s,
            vec![signed(&s, snapshot(9, "2099-01-01T00:00:00Z"), "c")],
        );
        assert_eq!(
            r.unwrap(),
            Synced::Installed {
                serial: 9,
                previous: None,
                offboarded: vec![]
            }
        );
    }

    #[test]
    fn refusals_install_nothing() {
        let s = setup("refusals");
        run(
            &s,
            vec![signed(&s, snapshot(1, "2099-01-01T00:00:00Z"), "a")],
        )
        .0
        .unwrap();
        let other = setup("refusals-other");
        let mut tampered = snapshot(2, "2099-01-01T00:00:00Z");
        let Ok(Fetched::New { signature, .. }) = signed(&s, tampered.clone(), "x") else {
            unreachable!()
        };
        tampered[10] ^= 1;
        type Case = (Result<Fetched, FetchError>, fn(&SyncError) -> bool);
        let cases: Vec<Case> = vec![
            (signed(&s, snapshot(2, "2026-01-02T00:00:00Z"), "b"), |e| {
                matches!(e, SyncError::Refused(SourceError::Expired { .. }))
            }),
            (
                signed(&other, snapshot(2, "2099-01-01T00:00:00Z"), "c"),
                |e| matches!(e, SyncError::Signature(SignatureError::UnknownKey(_))),
            ),
            (
                Ok(Fetched::New {
                    snapshot: tampered,
                    signature,
                    validators: Validators::default(),
                }),
                |e| matches!(e, SyncError::Signature(SignatureError::Invalid)),
            ),
            (signed(&s, b"{not json".to_vec(), "d"), |e| {
                matches!(e, SyncError::Refused(SourceError::NotJson(_)))
            }),
            (
                Err(FetchError::Http {
                    url: "u".into(),
                    status: 500,
                }),
                |e| matches!(e, SyncError::Fetch(_)),
            ),
        ];
        for (answer, expected) in cases {
            let (r, _) = run(&s, vec![answer]);
            let e = r.unwrap_err();
            assert!(expected(&e), "{e}");
            assert_eq!(
                installed_serial(&s.config.state_dir.join(SNAPSHOT_FILE)),
                Some(1)
            );
        }
        assert_eq!(state(&s).consecutive_failures, 5);
    }

    #[test]
    fn an_unchanged_but_expired_snapshot_is_not_confirmed() {
        let s = setup("expired304");
        run(
            &s,
            vec![signed(&s, snapshot(5, "2026-11-26T00:00:00Z"), "a")],
        )
        .0
        .unwrap();
        let mut fake = Fake {
            answers: vec![Ok(Fetched::NotModified)],
            asked: Vec::new(),
        };
        let later = NOW + 86_400;
        let r = sync_once(&s.config, &mut fake, &s.local, later);
        assert!(matches!(
            r,
            Err(SyncError::Refused(SourceError::Expired { .. }))
        ));
        assert_eq!(state(&s).last_success, Some(NOW));
    }

    #[test]
    fn health_counts_from_the_signed_issue_time_not_the_last_fetch() {
        let s = setup("health");
        run(
            &s,
            vec![signed(&s, snapshot(5, "2099-01-01T00:00:00Z"), "a")],
        )
        .0
        .unwrap();
        let path = s.config.state_dir.join(SNAPSHOT_FILE);
        // Issued 2026-01-01T00:00:00Z; max_age is 24h.
        let issued: UnixTime = 1_767_225_600;
        let day = 24 * 3600;
        assert!(matches!(
            Health::of(&path, day as u64, issued + day),
            Health::Usable(Freshness::Fresh { .. })
        ));
        // The source answers 304 a day later: the sync succeeds, the host is stale.
        let mut fake = Fake {
            answers: vec![Ok(Fetched::NotModified)],
            asked: Vec::new(),
        };
        let later = issued + day + 1;
        sync_once(&s.config, &mut fake, &s.local, later).unwrap();
        assert_eq!(state(&s).last_success, Some(later));
        let health = Health::of(&path, day as u64, later);
        assert_eq!((health.word(), health.exit_code()), ("stale", 1));
        let none = Health::of(&s.config.state_dir.join("none"), day as u64, later);
        assert_eq!((none.word(), none.exit_code()), ("no usable snapshot", 2));
    }
}
