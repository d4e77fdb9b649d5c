//! `/etc/roster/scim.toml`: where the service listens, keeps its state and
//! publishes, who may call it, and how identity-provider groups become
//! roster's projects, roles, POSIX groups, shared accounts and sudo rules.
//! docs/scim.md documents every key; docs/examples/scim.toml is a whole file.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::agent::config::{ADMIN_GID, ADMIN_GROUP};
use crate::local::LocalTables;
use crate::snapshot::schema::SudoRule;
use crate::snapshot::{AdminGroup, Policy, valid_name};
use crate::time::parse_duration;

/// A checked configuration.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The SQLite database (WAL beside it).
    pub database: PathBuf,
    /// The directory nginx serves: `PUBLISH/PROJECT/snapshot.json` and `.sig`.
    pub publish: PathBuf,
    /// The OpenSSH private key that signs the snapshots.
    pub signing_key: PathBuf,
    /// The user CA public keys published in every snapshot (files).
    pub user_cas: Vec<PathBuf>,
    /// The public URL of the SCIM base (`…/scim/v2`), for `meta.location`.
    pub base_url: String,
    pub valid_for_secs: u64,
    /// An unchanged snapshot is re-signed this often.
    pub heartbeat_secs: u64,
    /// Changes within this window are published together.
    pub coalesce_ms: u64,
    pub limits: Limits,
    pub accounts: Accounts,
    pub connections: Vec<Connection>,
    /// By project name, in name order.
    pub projects: BTreeMap<String, Project>,
}

/// Bounds on what one request may ask.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_filter_bytes: usize,
    /// The most resources one list response holds (`count` is capped to it).
    pub max_results: usize,
    /// The most members one group may have (the hosts' limit by default).
    pub max_members: usize,
}

/// How people become POSIX accounts on the hosts.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The first uid/gid handed out; ids are never reused.
    pub first_id: u32,
    /// Each account's home is `HOME/NAME`.
    pub home: String,
    pub shell: String,
    /// The rules the hosts apply (minimum ids, reserved names, the admin
    /// group): a change that breaks them is refused before it is committed.
    pub policy: Policy,
    /// Names and ids the fleet's hosts have locally (the files of
    /// `local_accounts`): no person may take one.
    pub local: LocalTables,
}

/// An identity-provider connection: its name (in every log line) and the
/// SHA-256 digests of the bearer tokens it may present. Two digests during a
/// rotation.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    pub token_digests: Vec<[u8; 32]>,
}

/// One project: a set of hosts with one snapshot. Lists name IdP groups by
/// their `displayName`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Members log in (role `user`).
    #[serde(default)]
    pub users: Vec<String>,
    /// Members log in and get sudo (role `admin`).
    #[serde(default)]
    pub admins: Vec<String>,
    /// POSIX group name → the IdP groups whose members are in it. A member of
    /// one of these but of no `users`/`admins` group resolves (role `none`).
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub shared: Vec<Shared>,
    /// Published as they are (docs/snapshot.md, *Sudo rules*).
    #[serde(default)]
    pub sudo: Vec<SudoRule>,
}

/// A shared account of a project and the IdP groups whose members may
/// enter it with their own certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shared {
    pub account: String,
    #[serde(default)]
    pub gecos: String,
    pub persons: Vec<String>,
}

impl Project {
    /// Every IdP group this project mentions: a person in none of them is
    /// absent from its snapshot.
    pub fn idp_groups(&self) -> impl Iterator<Item = &str> {
        self.users
            .iter()
            .chain(&self.admins)
            .chain(self.groups.values().flatten())
            .chain(self.shared.iter().flat_map(|s| &s.persons))
            .map(String::as_str)
    }
}

/// Why the configuration cannot be used: the file and what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_listen")]
    listen: String,
    database: PathBuf,
    publish: PathBuf,
    signing_key: PathBuf,
    #[serde(default)]
    user_cas: Vec<PathBuf>,
    base_url: String,
    #[serde(default = "default_valid_for")]
    valid_for: String,
    #[serde(default = "default_heartbeat")]
    heartbeat: String,
    #[serde(default = "default_coalesce")]
    coalesce: String,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    accounts: RawAccounts,
    #[serde(default, rename = "connection")]
    connections: Vec<RawConnection>,
    #[serde(default, rename = "project")]
    projects: BTreeMap<String, Project>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_max_body")]
    max_body_bytes: usize,
    #[serde(default = "default_max_filter")]
    max_filter_bytes: usize,
    #[serde(default = "default_max_results")]
    max_results: usize,
    #[serde(default = "default_max_members")]
    max_members: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_body_bytes: default_max_body(),
            max_filter_bytes: default_max_filter(),
            max_results: default_max_results(),
            max_members: default_max_members(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    #[serde(default = "default_first_id")]
    first_id: u32,
    #[serde(default = "default_min_id")]
    min_id: u32,
    #[serde(default = "default_home")]
    home: String,
    #[serde(default = "default_shell")]
    shell: String,
    #[serde(default = "default_admin_group")]
    admin_group: String,
    #[serde(default = "default_admin_gid")]
    admin_gid: u32,
    /// passwd(5)- and group(5)-format files of the names and ids the hosts
    /// keep locally.
    #[serde(default = "default_local_accounts")]
    local_accounts: Vec<PathBuf>,
}

impl Default for RawAccounts {
    fn default() -> Self {
        RawAccounts {
            first_id: default_first_id(),
            min_id: default_min_id(),
            home: default_home(),
            shell: default_shell(),
            admin_group: default_admin_group(),
            admin_gid: default_admin_gid(),
            local_accounts: default_local_accounts(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    name: String,
    /// `sha256:HEX` digests (`roster-scim hash-token` prints one).
    tokens: Vec<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8441".into()
}
fn default_valid_for() -> String {
    "7d".into()
}
fn default_heartbeat() -> String {
    "1h".into()
}
fn default_coalesce() -> String {
    "50ms".into()
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_max_filter() -> usize {
    4096
}
fn default_max_results() -> usize {
    1000
}
fn default_max_members() -> usize {
    Policy::default().limits.max_members_per_group
}
fn default_first_id() -> u32 {
    10_000
}
fn default_min_id() -> u32 {
    Policy::default().min_uid
}
fn default_home() -> String {
    "/home".into()
}
fn default_shell() -> String {
    "/bin/bash".into()
}
fn default_admin_group() -> String {
    ADMIN_GROUP.into()
}
fn default_admin_gid() -> u32 {
    ADMIN_GID
}
fn default_local_accounts() -> Vec<PathBuf> {
    // Debian's base-passwd: every name and id a Debian host starts with.
    vec![
        "/usr/share/base-passwd/passwd.master".into(),
        "/usr/share/base-passwd/group.master".into(),
    ]
}

/// `coalesce = "200ms"`, or any duration `parse_duration` reads, in ms.
fn millis(text: &str) -> Option<u64> {
    match text.strip_suffix("ms") {
        Some(n) => n.parse().ok(),
        None => parse_duration(text)?.checked_mul(1000),
    }
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |problem: String| ConfigError {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let raw: Raw = toml::from_str(&text).map_err(|e| err(one_line(&e.to_string())))?;
        Config::check(raw).map_err(err)
    }

    fn check(raw: Raw) -> Result<Config, String> {
        let listen = raw
            .listen
            .parse()
            .map_err(|_| format!("listen = {:?} is not ADDRESS:PORT", raw.listen))?;
        let duration = |key: &str, text: &str| {
            parse_duration(text)
                .filter(|d| *d > 0)
                .ok_or_else(|| format!("{key} = {text:?} is not a duration"))
        };
        let valid_for_secs = duration("valid_for", &raw.valid_for)?;
        let heartbeat_secs = duration("heartbeat", &raw.heartbeat)?;
        // Hosts refuse a snapshot once valid_until has passed: a heartbeat
        // must re-sign well before that.
        if heartbeat_secs.saturating_mul(2) > valid_for_secs {
            return Err(format!(
                "heartbeat = {:?} must be at most half of valid_for = {:?}",
                raw.heartbeat, raw.valid_for
            ));
        }
        let coalesce_ms = millis(&raw.coalesce)
            .filter(|ms| *ms <= 1000)
            .ok_or_else(|| format!("coalesce = {:?} must be a duration up to 1s", raw.coalesce))?;
        let base_url = raw.base_url.trim_end_matches('/').to_owned();
        if !base_url.starts_with("https://") && !base_url.starts_with("http://") {
            return Err(format!(
                "base_url = {:?} is not an http(s) URL",
                raw.base_url
            ));
        }
        let connections = raw
            .connections
            .into_iter()
            .map(check_connection)
            .collect::<Result<Vec<_>, _>>()?;
        if connections.is_empty() {
            return Err("no [[connection]]: no identity provider could call the service".into());
        }
        let mut names = std::collections::BTreeSet::new();
        if let Some(c) = connections.iter().find(|c| !names.insert(c.name.as_str())) {
            return Err(format!("connection {:?} is listed twice", c.name));
        }
        let accounts = check_accounts(raw.accounts)?;
        for (name, project) in &raw.projects {
            check_project(name, project, &accounts)?;
        }
        let limits = raw.limits;
        Ok(Config {
            listen,
            database: raw.database,
            publish: raw.publish,
            signing_key: raw.signing_key,
            user_cas: raw.user_cas,
            base_url,
            valid_for_secs,
            heartbeat_secs,
            coalesce_ms,
            limits: Limits {
                max_body_bytes: limits.max_body_bytes,
                max_filter_bytes: limits.max_filter_bytes,
                max_results: limits.max_results.max(1),
                max_members: limits.max_members,
            },
            accounts,
            connections,
            projects: raw.projects,
        })
    }
}

fn check_connection(raw: RawConnection) -> Result<Connection, String> {
    if raw.name.is_empty() || raw.name.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!("connection name {:?}: one word", raw.name));
    }
    let token_digests = raw
        .tokens
        .iter()
        .map(|t| parse_digest(t).ok_or_else(|| {
            format!("connection {:?}: token {t:?} is not sha256:HEX (roster-scim hash-token prints one)", raw.name)
        }))
        .collect::<Result<Vec<_>, _>>()?;
    if token_digests.is_empty() {
        return Err(format!("connection {:?} has no tokens", raw.name));
    }
    Ok(Connection {
        name: raw.name,
        token_digests,
    })
}

/// `sha256:` and 64 hex digits.
fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn check_accounts(raw: RawAccounts) -> Result<Accounts, String> {
    if !raw.home.starts_with('/') || raw.home.len() < 2 {
        return Err(format!(
            "accounts.home = {:?} must be an absolute directory",
            raw.home
        ));
    }
    if !raw.shell.starts_with('/') {
        return Err(format!(
            "accounts.shell = {:?} must be an absolute path",
            raw.shell
        ));
    }
    if raw.first_id < raw.min_id {
        return Err(format!(
            "accounts.first_id = {} is below accounts.min_id = {}",
            raw.first_id, raw.min_id
        ));
    }
    let mut local = LocalTables::default();
    for file in &raw.local_accounts {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("accounts.local_accounts: {}: {e}", file.display()))?;
        // passwd and group lines share the NAME:x:ID prefix; both tables
        // take every name and id, which is what "collides" means.
        let t = LocalTables::parse(&text, &text, "");
        local.user_names.extend(t.user_names);
        local.group_names.extend(t.group_names);
        local.uids.extend(t.uids);
        local.gids.extend(t.gids);
    }
    let home = raw.home.trim_end_matches('/').to_owned();
    let policy = Policy {
        min_uid: raw.min_id,
        min_gid: raw.min_id,
        home_prefixes: vec![home.clone()],
        admin_group: Some(AdminGroup {
            name: raw.admin_group,
            gid: raw.admin_gid,
        }),
        ..Policy::default()
    };
    // The shell is whatever the hosts allow; the service publishes one.
    local.shells.insert(raw.shell.clone());
    Ok(Accounts {
        first_id: raw.first_id,
        home,
        shell: raw.shell,
        policy,
        local,
    })
}

fn check_project(name: &str, project: &Project, accounts: &Accounts) -> Result<(), String> {
    // The project's name is a directory under `publish`.
    if valid_name(name).is_err() {
        return Err(format!(
            "project {name:?}: a name like a user name ([a-z_][a-z0-9_-]*)"
        ));
    }
    for posix in project
        .groups
        .keys()
        .chain(project.shared.iter().map(|s| &s.account))
    {
        if valid_name(posix).is_err() || accounts.local.has_name(posix) {
            return Err(format!(
                "project {name:?}: {posix:?} is not a valid name or is a local account's"
            ));
        }
    }
    Ok(())
}

/// toml's message on one line: its first line and its last.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}: {}", last.trim()),
        _ => message.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        database = "/tmp/db"
        publish = "/tmp/publish"
        signing_key = "/tmp/key"
        base_url = "https://scim.example.com/scim/v2/"
        [accounts]
        local_accounts = []
        [[connection]]
        name = "okta"
        tokens = ["sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"]
        [project.web]
        users = ["Engineering"]
        admins = ["SRE"]
        groups = { developers = ["Engineering", "SRE"] }
        shared = [{ account = "deploy", persons = ["SRE"] }]
    "#;

    fn check(text: &str) -> Result<Config, String> {
        Config::check(toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let c = check(MINIMAL).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8441");
        assert_eq!(c.base_url, "https://scim.example.com/scim/v2");
        assert_eq!(
            (c.valid_for_secs, c.heartbeat_secs, c.coalesce_ms),
            (7 * 86400, 3600, 50)
        );
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        assert_eq!(c.accounts.first_id, 10_000);
        // sha256("hello")
        assert_eq!(c.connections[0].token_digests[0][..2], [0x2c, 0xf2]);
        let web = &c.projects["web"];
        let mut groups: Vec<&str> = web.idp_groups().collect();
        groups.sort();
        groups.dedup();
        assert_eq!(groups, ["Engineering", "SRE"]);
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            (
                "heartbeat = \"5d\"\n",
                "heartbeat = \"5d\" must be at most half of valid_for = \"7d\"",
            ),
            (
                "coalesce = \"2s\"\n",
                "coalesce = \"2s\" must be a duration up to 1s",
            ),
            (
                "listen = \"localhost\"\n",
                "listen = \"localhost\" is not ADDRESS:PORT",
            ),
        ];
        for (line, problem) in cases {
            assert_eq!(check(&format!("{line}{MINIMAL}")).unwrap_err(), problem);
        }
        let bad_token = MINIMAL.replace("sha256:2cf2", "sha1:2cf2");
        assert!(check(&bad_token).unwrap_err().contains("is not sha256:HEX"));
        let bad_project = MINIMAL.replace("[project.web]", "[project.\"Web\"]");
        assert!(
            check(&bad_project)
                .unwrap_err()
                .starts_with("project \"Web\"")
        );
        let unknown = format!("colour = 1\n{MINIMAL}");
        assert!(
            check(&unknown)
                .unwrap_err()
                .contains("unknown field `colour`")
        );
    }
}
