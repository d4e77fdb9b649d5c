//! `/etc/roster/roster.toml`: what the agent and the CLI need to know about
//! the source, the host and its policy. The modules never read it: the agent
//! compiles what they need into the snapshot file.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::host::compiled::HostPolicy;
use crate::paths;
use crate::snapshot::{AdminGroup, Limits, Policy};
use crate::time::parse_duration;

// Everything the agent writes, unless `[paths]` says otherwise (defaults in
// `crate::paths`): the sync, the sudoers rendering and offboarding write only
// where [`Config`] says, so a test (or any run) that points `[paths]`
// elsewhere writes nothing on the machine's own folders. The modules, which
// never read this file, use the default locations.

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub sync: Sync,
    /// This host's name, labels, max_age and certificate policy: compiled
    /// into the snapshot file for the modules.
    pub host: HostPolicy,
    pub policy: Policy,
    /// Where local accounts and shells are read from (tests point elsewhere).
    pub local_files: LocalFiles,
    /// The agent's state: state.json, and (fixed for the modules) the snapshot.
    pub state_dir: PathBuf,
    /// Where the snapshot's sudo rules are rendered.
    pub sudoers: PathBuf,
    /// The audit trail, where offboardings are recorded.
    pub events: PathBuf,
    /// The node_exporter textfile the agent writes after each sync
    /// (`[paths] metrics`; `""` turns it off).
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Source {
    /// `https://…` or `file://…`; the signature is fetched from `url + ".sig"`.
    pub url: String,
    /// OpenSSH public keys allowed to sign snapshots (any one suffices).
    pub signing_keys: Vec<ssh_key::PublicKey>,
    pub token_file: Option<PathBuf>,
    pub ca_bundle: Option<PathBuf>,
    pub connect_timeout_secs: u64,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone)]
pub struct Sync {
    pub interval_secs: u64,
    pub jitter_secs: u64,
    /// Between SIGHUP and SIGKILL when ending an offboarded user's processes.
    pub offboard_grace_secs: u64,
}

#[derive(Debug, Clone)]
pub struct LocalFiles {
    pub passwd: PathBuf,
    pub group: PathBuf,
    pub shells: PathBuf,
}

/// Why the configuration cannot be used. One line, naming the problem.
#[derive(Debug)]
pub enum ConfigError {
    Missing(PathBuf),
    Unreadable(PathBuf, std::io::Error),
    /// TOML syntax, an unknown key, a wrong type: toml's own message, which
    /// names the key and its line.
    Syntax(PathBuf, String),
    Invalid(PathBuf, String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(p) => write!(
                f,
                "no configuration at {} (see roster.toml(5))",
                p.display()
            ),
            Self::Unreadable(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Syntax(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Invalid(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Absent or without `url` in the file the package installs: roster is
    /// not configured yet.
    #[serde(default)]
    source: RawSource,
    #[serde(default)]
    host: RawHost,
    #[serde(default)]
    sync: RawSync,
    #[serde(default)]
    certificates: RawCertificates,
    #[serde(default)]
    accounts: RawAccounts,
    #[serde(default)]
    roles: RawRoles,
    #[serde(default)]
    paths: RawPaths,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    url: Option<String>,
    #[serde(default)]
    signing_keys: Vec<String>,
    token_file: Option<PathBuf>,
    ca_bundle: Option<PathBuf>,
    #[serde(default = "default_connect_timeout")]
    connect_timeout: String,
    #[serde(default = "default_timeout")]
    timeout: String,
    max_snapshot_bytes: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSync {
    interval: String,
    jitter: String,
    max_age: Option<String>,
    offboard_grace: String,
}

impl Default for RawSync {
    fn default() -> Self {
        RawSync {
            interval: "5m".into(),
            jitter: "1m".into(),
            max_age: None,
            offboard_grace: "5s".into(),
        }
    }
}

/// Defaults come from [`HostPolicy::with_defaults`], the one place that
/// states them.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCertificates {
    max_lifetime: Option<String>,
    clock_skew: Option<String>,
    require_host_binding: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    min_uid: Option<u32>,
    min_gid: Option<u32>,
    home_prefixes: Option<Vec<String>>,
    fallback_shell: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRoles {
    admin_group: String,
    admin_gid: u32,
}

/// `[roles] admin_group`'s default: the group whose members get sudo from
/// the shipped /etc/sudoers.d/roster (debian/sudoers.d/roster names it; a
/// unit test keeps the two and docs/examples/roster.toml in step).
pub const ADMIN_GROUP: &str = "roster-admins";
/// `[roles] admin_gid`'s default.
pub const ADMIN_GID: u32 = 9999;

impl Default for RawRoles {
    fn default() -> Self {
        RawRoles {
            admin_group: ADMIN_GROUP.into(),
            admin_gid: ADMIN_GID,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    state_dir: Option<PathBuf>,
    sudoers: Option<PathBuf>,
    events: Option<PathBuf>,
    metrics: Option<PathBuf>,
    passwd: Option<PathBuf>,
    group: Option<PathBuf>,
    shells: Option<PathBuf>,
}

fn default_connect_timeout() -> String {
    "10s".into()
}

fn default_timeout() -> String {
    "60s".into()
}

/// The host of an `http://` or `https://` URL, without port or userinfo
/// rules: everything between `//` and the first `/`, `?` or `#`.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    rest.split(['/', '?', '#']).next()
}

/// Plain `http://` is accepted only to this host's loopback (a local mirror,
/// `roster demo`): the snapshot is signed, so the transport adds no trust,
/// and nothing crosses the network in clear.
pub fn is_loopback_http(url: &str) -> bool {
    if !url.starts_with("http://") {
        return false;
    }
    let Some(authority) = url_host(url) else {
        return false;
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

impl Config {
    /// Reads and checks the configuration at `path`. `hostname` is the
    /// machine's name, used when the file names none.
    pub fn load(path: &Path, hostname: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ConfigError::Missing(path.to_owned()),
            _ => ConfigError::Unreadable(path.to_owned(), e),
        })?;
        Config::parse(&text, hostname).map_err(|e| match e {
            ParseError::Syntax(m) => ConfigError::Syntax(path.to_owned(), m),
            ParseError::Invalid(m) => ConfigError::Invalid(path.to_owned(), m),
        })
    }

    /// Parses configuration text; see [`Config::load`].
    pub fn parse(text: &str, hostname: &str) -> Result<Config, ParseError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // toml's message spans several lines (a source excerpt); keep the
            // first, which names the line and column, and the last, the problem.
            let msg = e.to_string();
            let lines: Vec<&str> = msg.lines().filter(|l| !l.trim().is_empty()).collect();
            ParseError::Syntax(match (lines.first(), lines.last()) {
                (Some(first), Some(last)) if first != last => format!("{first}: {}", last.trim()),
                _ => msg.trim().to_owned(),
            })
        })?;
        let invalid = |m: String| ParseError::Invalid(m);
        let duration = |key: &str, v: &str| {
            parse_duration(v).ok_or_else(|| {
                invalid(format!(
                    "{key} = {v:?} is not a duration like \"30s\", \"5m\", \"24h\""
                ))
            })
        };

        let optional = |key: &str, v: &Option<String>, default: u64| match v {
            Some(v) => duration(key, v),
            None => Ok(default),
        };
        let host_defaults = HostPolicy::with_defaults("");

        let s = raw.source;
        let Some(url) = s.url else {
            return Err(invalid(
                "source.url is not set: roster is not configured yet (set [source] url and \
                 signing_keys; see roster.toml(5))"
                    .into(),
            ));
        };
        if !(url.starts_with("https://") || url.starts_with("file:///") || is_loopback_http(&url)) {
            return Err(invalid(format!(
                "source.url = {url:?}: must start with https:// or file:/// \
                 (http:// only to this host: 127.0.0.1, [::1] or localhost)"
            )));
        }
        if url.starts_with("https://") && url_host(&url).is_none_or(str::is_empty) {
            return Err(invalid(format!("source.url = {url:?} has no host")));
        }
        if s.signing_keys.is_empty() {
            return Err(invalid(
                "source.signing_keys is empty: pin at least one key".into(),
            ));
        }
        let signing_keys = s
            .signing_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                ssh_key::PublicKey::from_openssh(k.trim()).map_err(|e| {
                    invalid(format!(
                        "source.signing_keys[{i}] is not an OpenSSH public key: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let host_name = raw.host.name.unwrap_or_else(|| hostname.to_owned());
        for name in std::iter::once(&host_name).chain(&raw.host.labels) {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(invalid(format!(
                    "host name or label {name:?}: use letters, digits, '-', '_' and '.'"
                )));
            }
        }

        let defaults = Policy::default();
        let a = raw.accounts;
        let policy = Policy {
            min_uid: a.min_uid.unwrap_or(defaults.min_uid),
            min_gid: a.min_gid.unwrap_or(defaults.min_gid),
            home_prefixes: a.home_prefixes.unwrap_or(defaults.home_prefixes),
            fallback_shell: a.fallback_shell.unwrap_or(defaults.fallback_shell),
            reserved_names: defaults.reserved_names,
            admin_group: Some(AdminGroup {
                name: raw.roles.admin_group,
                gid: raw.roles.admin_gid,
            }),
            limits: Limits {
                max_document_bytes: s
                    .max_snapshot_bytes
                    .unwrap_or(defaults.limits.max_document_bytes),
                ..defaults.limits
            },
        };
        for p in &policy.home_prefixes {
            if !p.starts_with('/') || p == "/" {
                return Err(invalid(format!(
                    "accounts.home_prefixes: {p:?} must be an absolute directory other than /"
                )));
            }
        }
        if let Some(admin) = &policy.admin_group
            && (crate::snapshot::valid_name(&admin.name).is_err() || admin.gid == 0)
        {
            return Err(invalid(format!(
                "roles.admin_group = {:?} / admin_gid = {}: need a valid group name and a gid other than 0",
                admin.name, admin.gid
            )));
        }
        if policy.min_uid == 0 || policy.min_gid == 0 {
            return Err(invalid(
                "accounts.min_uid and min_gid must be at least 1".into(),
            ));
        }

        let p = raw.paths;
        Ok(Config {
            source: Source {
                url,
                signing_keys,
                token_file: s.token_file,
                ca_bundle: s.ca_bundle,
                connect_timeout_secs: duration("source.connect_timeout", &s.connect_timeout)?,
                timeout_secs: duration("source.timeout", &s.timeout)?,
            },
            sync: Sync {
                interval_secs: duration("sync.interval", &raw.sync.interval)?.max(1),
                jitter_secs: duration("sync.jitter", &raw.sync.jitter)?,
                offboard_grace_secs: duration("sync.offboard_grace", &raw.sync.offboard_grace)?,
            },
            host: HostPolicy {
                host_name,
                host_labels: raw.host.labels,
                max_age_secs: optional(
                    "sync.max_age",
                    &raw.sync.max_age,
                    host_defaults.max_age_secs,
                )?,
                max_cert_lifetime_secs: optional(
                    "certificates.max_lifetime",
                    &raw.certificates.max_lifetime,
                    host_defaults.max_cert_lifetime_secs,
                )?,
                clock_skew_secs: optional(
                    "certificates.clock_skew",
                    &raw.certificates.clock_skew,
                    host_defaults.clock_skew_secs,
                )?,
                require_host_binding: raw
                    .certificates
                    .require_host_binding
                    .unwrap_or(host_defaults.require_host_binding),
            },
            policy,
            local_files: LocalFiles {
                passwd: p.passwd.unwrap_or_else(|| paths::PASSWD.into()),
                group: p.group.unwrap_or_else(|| paths::GROUP.into()),
                shells: p.shells.unwrap_or_else(|| paths::SHELLS.into()),
            },
            state_dir: p.state_dir.unwrap_or_else(|| paths::STATE_DIR.into()),
            sudoers: p.sudoers.unwrap_or_else(|| paths::SUDOERS.into()),
            events: p.events.unwrap_or_else(|| paths::EVENTS.into()),
            metrics: match p.metrics {
                None => Some(paths::METRICS.into()),
                Some(m) if m.as_os_str().is_empty() => None,
                Some(m) => Some(m),
            },
        })
    }
}

/// [`Config::parse`]'s error, before the file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Syntax(String),
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6EOPB3j2MNtlM8OduXusAUzKMEbXHBvBVvUNTxXTc test";

    fn parse(extra: &str) -> Result<Config, ParseError> {
        Config::parse(
            &format!(
                "[source]\nurl = \"https://id.example/s.json\"\nsigning_keys = [\"{KEY}\"]\n{extra}"
            ),
            "web-01",
        )
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.host, HostPolicy::with_defaults("web-01"));
        assert_eq!((c.sync.interval_secs, c.sync.jitter_secs), (300, 60));
        assert_eq!(c.policy.min_uid, 10_000);
        assert_eq!(c.state_dir, Path::new("/var/lib/roster"));
        assert_eq!(c.sudoers, Path::new("/etc/sudoers.d/roster-entitlements"));
        assert_eq!(c.events, Path::new("/var/log/roster/events.jsonl"));
        assert_eq!(c.source.signing_keys.len(), 1);
    }

    #[test]
    fn every_path_the_agent_writes_can_be_moved() {
        let c = parse(
            "[paths]
state_dir = \"/t/state\"
sudoers = \"/t/sudoers.d/r\"
events = \"/t/events.jsonl\"\n",
        )
        .unwrap();
        assert_eq!(
            (
                c.state_dir.as_path(),
                c.sudoers.as_path(),
                c.events.as_path()
            ),
            (
                Path::new("/t/state"),
                Path::new("/t/sudoers.d/r"),
                Path::new("/t/events.jsonl")
            )
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let Err(ParseError::Syntax(m)) = parse("[sync]\ninterval = \"5m\"\nintervall = \"1m\"\n")
        else {
            panic!("accepted an unknown key");
        };
        assert!(m.contains("line 6") && m.contains("intervall"), "{m}");
        assert!(!m.contains('\n'), "{m}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                "[sync]\ninterval = \"often\"\njitter = \"1m\"\nmax_age = \"1d\"\n",
                "sync.interval",
            ),
            ("[host]\nname = \"web 01\"\n", "web 01"),
            ("[accounts]\nhome_prefixes = [\"/\"]\n", "home_prefixes"),
        ];
        for (extra, needle) in cases {
            let Err(ParseError::Invalid(m)) = parse(extra) else {
                panic!("accepted {extra}")
            };
            assert!(m.contains(needle), "{m}");
        }
        let bad_url = Config::parse(
            &format!("[source]\nurl = \"http://x/s\"\nsigning_keys = [\"{KEY}\"]\n"),
            "h",
        );
        assert!(matches!(bad_url, Err(ParseError::Invalid(m)) if m.contains("https://")));
        for url in [
            "http://127.0.0.1:8080/s.json",
            "http://[::1]/s",
            "http://localhost:80/s",
        ] {
            let c = Config::parse(
                &format!("[source]\nurl = \"{url}\"\nsigning_keys = [\"{KEY}\"]\n"),
                "h",
            );
            assert!(c.is_ok(), "{url}");
        }
        for url in [
            "http://127.0.0.1.evil.example/s",
            "http://127.0.0.1@evil.example/s",
            "http://localhost:x@evil/s",
            "http://10.0.0.1/s",
            "http://[::1]x/s",
        ] {
            assert!(!is_loopback_http(url), "{url}");
        }
        let bad_key = Config::parse(
            "[source]\nurl = \"https://x/s\"\nsigning_keys = [\"ssh-ed25519 nope\"]\n",
            "h",
        );
        assert!(matches!(bad_key, Err(ParseError::Invalid(m)) if m.contains("signing_keys[0]")));
    }

    #[test]
    fn documented_example_parses() {
        // The file ships as /etc/roster/roster.toml with the source commented
        // out: as installed, it says roster is not configured yet.
        let shipped = include_str!("../../docs/examples/roster.toml");
        let e = Config::parse(shipped, "web-01").unwrap_err();
        assert!(matches!(e, ParseError::Invalid(m) if m.contains("not configured yet")));
        let configured = shipped
            .replace("\n#url = ", "\nurl = ")
            .replace("\n#signing_keys = [\n#    ", "\nsigning_keys = [\n    ")
            .replace("\n#]", "\n]");
        let c = Config::parse(&configured, "web-01").unwrap();
        assert_eq!(
            c.source.url,
            "https://identity.example.com/projects/web/snapshot.json"
        );
        assert_eq!(c.source.signing_keys.len(), 1);
        assert_eq!(c.state_dir, Path::new("/var/lib/roster"));
        assert_eq!(c.metrics.as_deref(), Some(Path::new(paths::METRICS)));
        let off = configured.replace("\n#metrics = ", "\nmetrics = \"\"\n#");
        assert_eq!(Config::parse(&off, "web-01").unwrap().metrics, None);
    }

    #[test]
    fn missing_file_says_where_it_looked() {
        let e = Config::load(Path::new("/nonexistent/roster.toml"), "h").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no configuration at /nonexistent/roster.toml (see roster.toml(5))"
        );
    }

    #[test]
    fn the_shipped_files_name_the_default_admin_group() {
        let sudoers = include_str!("../../debian/sudoers.d/roster");
        assert!(
            sudoers.contains(&format!("\n%{ADMIN_GROUP} ALL=(ALL:ALL) NOPASSWD: ALL\n")),
            "{sudoers}"
        );
        let example = include_str!("../../docs/examples/roster.toml");
        assert!(example.contains(&format!("\n#admin_group = \"{ADMIN_GROUP}\"\n")));
        assert!(example.contains(&format!("\n#admin_gid = {ADMIN_GID}\n")));
    }
}
