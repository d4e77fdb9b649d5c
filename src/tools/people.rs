//! `roster snapshot build`: a short, human-edited people file becomes the
//! source snapshot the hosts pull, for teams without an identity service.
//!
//! Ids are kept in a ledger beside the people file: a name keeps its id
//! forever, and an id is never handed to anyone else, even after the name
//! is removed. Given the same people file, ledger and time, the output is
//! byte for byte the same (ed25519 signatures are deterministic too).

use serde::de::{DeserializeOwned, IntoDeserializer, value};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::snapshot::compose;
use crate::snapshot::schema::{self, Document};
use crate::snapshot::{AccountKind, AccountState, Role, root_equivalence, valid_name};
use crate::time::{UnixTime, format_rfc3339, parse_duration};

/// The people file (TOML). Unknown keys are errors, with their line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct People {
    pub snapshot: Settings,
    #[serde(default)]
    pub person: Vec<Account>,
    #[serde(default)]
    pub shared: Vec<Account>,
    #[serde(default)]
    pub service: Vec<Account>,
    /// Copied into the snapshot as they are, defaults left to hosts.
    #[serde(default)]
    pub sudo: Vec<schema::SudoRule>,
    /// Decoded as [`schema::Revoked`] by the build, which refuses a table of
    /// the wrong shape. Each list entry is copied whatever it is: hosts drop
    /// one that can revoke nothing, alone.
    #[serde(default)]
    pub revoked: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The private key that signs the snapshot (OpenSSH format), relative
    /// to the people file.
    pub signing_key: String,
    /// Files holding the user CA public keys (`roster ca init` writes
    /// `ca.pub`), relative to the people file.
    #[serde(default)]
    pub user_cas: Vec<String>,
    #[serde(default = "default_valid_for")]
    pub valid_for: String,
    #[serde(default = "default_first_id")]
    pub first_id: u32,
    #[serde(default = "default_home")]
    pub home: String,
    #[serde(default = "default_shell")]
    pub shell: String,
}

fn default_valid_for() -> String {
    "7d".into()
}
fn default_first_id() -> u32 {
    10_000
}
fn default_home() -> String {
    "/home".into()
}
fn default_shell() -> String {
    "/bin/bash".into()
}

/// A person, shared account or service account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    #[serde(default)]
    pub full_name: String,
    /// A [`Role`], read by the build.
    #[serde(default = "default_role")]
    pub role: String,
    /// An [`AccountState`], read by the build.
    #[serde(default = "default_state")]
    pub state: String,
    /// Named groups the account belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// For a shared account: the persons who may enter it.
    #[serde(default)]
    pub persons: Vec<String>,
}

fn default_role() -> String {
    "user".into()
}
fn default_state() -> String {
    "active".into()
}

/// Ids ever handed out, and the serial of the last build.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub serial: u64,
    /// `user:NAME` and `group:NAME` → id. Entries are never removed.
    pub ids: BTreeMap<String, u32>,
    pub next_id: u32,
}

/// Why a people file gives no snapshot: a variant per cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// TOML syntax, an unknown key, a wrong type: toml's words and line.
    Syntax(String),
    ValidFor(String),
    ValidForTooLong(String),
    RevokedShape,
    /// `{kind} {name}`: not a valid name.
    BadName {
        kind: &'static str,
        name: String,
    },
    Twice(String),
    BadRole(String),
    BadState(String),
    PersonsOnlyForShared(String),
    BadGroupName {
        account: String,
        group: String,
    },
    GroupNamedLikeAccount(String),
    NotAPerson {
        account: String,
        person: String,
    },
    UnmarkedRootEquivalent {
        rule: usize,
        group: String,
        why: String,
    },
    OutOfIds,
    SerialAtMaximum,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(m) => f.write_str(m),
            Self::ValidFor(v) => write!(f, "valid_for = {v:?} is not a duration"),
            Self::ValidForTooLong(v) => write!(f, "valid_for = {v:?} is too long"),
            Self::RevokedShape => {
                f.write_str("revoked must be a table of lists: serials, key_ids and keys")
            }
            Self::BadName { kind, name } => write!(f, "{kind} {name:?}: not a valid name"),
            Self::Twice(name) => write!(f, "{name:?} is listed twice"),
            Self::BadRole(name) => write!(f, "{name:?}: role must be none, user or admin"),
            Self::BadState(name) => write!(f, "{name:?}: state must be active or disabled"),
            Self::PersonsOnlyForShared(name) => {
                write!(f, "{name:?}: only shared accounts list persons")
            }
            Self::BadGroupName { account, group } => {
                write!(f, "{account:?}: group {group:?} is not a valid name")
            }
            Self::GroupNamedLikeAccount(g) => write!(f, "group {g:?} has the name of an account"),
            Self::NotAPerson { account, person } => {
                write!(f, "shared account {account:?}: {person:?} is not a person")
            }
            Self::UnmarkedRootEquivalent { rule, group, why } => write!(
                f,
                "sudo rule {rule} (group {group:?}) is root-equivalent: {why}; if that is \
                 intended, mark it root_equivalent = true"
            ),
            Self::OutOfIds => f.write_str("the ledger has run out of ids"),
            Self::SerialAtMaximum => {
                f.write_str("the ledger's serial is at its maximum; hosts accept no lower one")
            }
        }
    }
}

impl std::error::Error for BuildError {}

impl Ledger {
    /// The id of `key`, handing out the next one the first time.
    fn id(&mut self, key: String) -> Result<u32, BuildError> {
        if let Some(id) = self.ids.get(&key) {
            return Ok(*id);
        }
        let id = self.next_id;
        self.next_id = id
            .checked_add(1)
            .filter(|n| *n <= i32::MAX as u32)
            .ok_or(BuildError::OutOfIds)?;
        self.ids.insert(key, id);
        Ok(id)
    }
}

/// Parses a people file.
pub fn parse(text: &str) -> Result<People, BuildError> {
    toml::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let lines: Vec<&str> = msg.lines().filter(|l| !l.trim().is_empty()).collect();
        BuildError::Syntax(match (lines.first(), lines.last()) {
            (Some(first), Some(last)) if first != last => format!("{first}: {}", last.trim()),
            _ => msg.trim().to_owned(),
        })
    })
}

/// The source snapshot for `people` (with `user_cas`, the CA key lines
/// already read), issued at `now`. Updates `ledger`: the serial, and ids of
/// new names.
pub fn build(
    people: &People,
    user_cas: &[String],
    ledger: &mut Ledger,
    now: UnixTime,
) -> Result<Document<'static>, BuildError> {
    let s = &people.snapshot;
    let valid_for = parse_duration(&s.valid_for)
        .filter(|d| *d > 0)
        .ok_or_else(|| BuildError::ValidFor(s.valid_for.clone()))?;
    let valid_until = compose::valid_until(now, valid_for)
        .ok_or_else(|| BuildError::ValidForTooLong(s.valid_for.clone()))?;
    // Hosts read revoked as lists; any other shape refuses the whole snapshot.
    let revoked = match &people.revoked {
        None => None,
        Some(v) => Some(
            v.as_object()
                .and_then(|_| schema::Revoked::deserialize(v).ok())
                .ok_or(BuildError::RevokedShape)?,
        ),
    };
    check_sudo_rules(&people.sudo)?;
    if ledger.next_id == 0 {
        ledger.next_id = s.first_id;
    }
    let kinds = [
        ("person", AccountKind::Person, &people.person),
        ("shared", AccountKind::Shared, &people.shared),
        ("service", AccountKind::Service, &people.service),
    ];
    let mut seen = BTreeSet::new();
    // Every account, checked, with its kind, role and state.
    let mut accounts = Vec::new();
    for (word, kind, list) in kinds {
        for a in list.iter() {
            valid_name(&a.name).map_err(|_| BuildError::BadName {
                kind: word,
                name: a.name.clone(),
            })?;
            if !seen.insert(a.name.as_str()) {
                return Err(BuildError::Twice(a.name.clone()));
            }
            let role: Role =
                read_word(&a.role).ok_or_else(|| BuildError::BadRole(a.name.clone()))?;
            let state: AccountState =
                read_word(&a.state).ok_or_else(|| BuildError::BadState(a.name.clone()))?;
            if kind != AccountKind::Shared && !a.persons.is_empty() {
                return Err(BuildError::PersonsOnlyForShared(a.name.clone()));
            }
            accounts.push((a, kind, role, state));
        }
    }
    let persons: BTreeSet<&str> = people.person.iter().map(|p| p.name.as_str()).collect();
    // Each account's home is `home/name`, and names are unique: no two
    // accounts can share a home (hosts would drop the later one).
    let mut composing = Vec::new();
    for (a, kind, role, state) in accounts {
        for g in &a.groups {
            valid_name(g).map_err(|_| BuildError::BadGroupName {
                account: a.name.clone(),
                group: g.clone(),
            })?;
            if seen.contains(g.as_str()) {
                return Err(BuildError::GroupNamedLikeAccount(g.clone()));
            }
        }
        if let Some(p) = a.persons.iter().find(|p| !persons.contains(p.as_str())) {
            return Err(BuildError::NotAPerson {
                account: a.name.clone(),
                person: p.clone(),
            });
        }
        composing.push(compose::Account {
            name: &a.name,
            gecos: &a.full_name,
            kind,
            role,
            state,
            id: ledger.id(format!("user:{}", a.name))?,
            groups: a.groups.iter().map(String::as_str).collect(),
            persons: a.persons.iter().map(String::as_str).collect(),
        });
    }
    let layout = compose::Layout {
        home: &s.home,
        shell: &s.shell,
    };
    let composed = compose::compose(&composing, layout, |g| ledger.id(format!("group:{g}")))?;
    // Hosts refuse any serial below the highest they have seen: a ledger at
    // the top has nowhere to go (fuzz/'s `people` target found the overflow).
    ledger.serial = ledger
        .serial
        .checked_add(1)
        .ok_or(BuildError::SerialAtMaximum)?;
    Ok(Document {
        format: crate::snapshot::FORMAT.into(),
        grants: composed.grants,
        groups: composed.groups,
        issued_at: format_rfc3339(now),
        revoked,
        serial: ledger.serial,
        sudo: people.sudo.clone(),
        user_cas: user_cas.to_vec(),
        users: composed.users,
        valid_until,
    })
}

/// `word` as the enum value the schema spells so (`"admin"` → [`Role::Admin`]).
fn read_word<T: DeserializeOwned>(word: &str) -> Option<T> {
    let word: value::StrDeserializer<value::Error> = word.into_deserializer();
    T::deserialize(word).ok()
}

/// A root-equivalent rule must say so: hosts drop one that does not, so
/// the build refuses it, naming the rule and why.
fn check_sudo_rules(rules: &[schema::SudoRule]) -> Result<(), BuildError> {
    for (index, r) in rules.iter().enumerate() {
        if let Some(why) = root_equivalence(&r.commands, r.setenv())
            && !r.root_equivalent()
        {
            return Err(BuildError::UnmarkedRootEquivalent {
                rule: index + 1,
                group: r.group.clone(),
                why: why.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTables;
    use crate::snapshot::{Policy, validate};

    const PEOPLE: &str = r#"
        [snapshot]
        signing_key = "signing"
        valid_for = "7d"

        [[person]]
        name = "alice"
        full_name = "Alice Liddell"
        role = "admin"
        groups = ["developers", "oncall"]

        [[person]]
        name = "bob"
        groups = ["developers"]

        [[shared]]
        name = "deploy"
        persons = ["alice"]
    "#;

    const NOW: UnixTime = 1_795_600_800;

    #[test]
    fn builds_a_snapshot_hosts_accept_whole() {
        let mut ledger = Ledger::default();
        let s = build(&parse(PEOPLE).unwrap(), &[], &mut ledger, NOW).unwrap();
        let json = serde_json::to_vec(&s).unwrap();
        let local = LocalTables::parse("", "", "/bin/bash\n");
        let v = validate(&json, &Policy::default(), &local, NOW).unwrap();
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!(v.serial, 1);
        let ids: Vec<(String, u32)> = v.users.iter().map(|u| (u.name.clone(), u.uid)).collect();
        assert_eq!(
            ids,
            [
                ("alice".into(), 10_000),
                ("bob".into(), 10_001),
                ("deploy".into(), 10_002)
            ]
        );
        let devs = v.groups.iter().find(|g| g.name == "developers").unwrap();
        assert_eq!(
            (devs.gid, devs.members.clone()),
            (10_003, vec!["alice".to_owned(), "bob".to_owned()])
        );
        assert_eq!(v.grants[0].persons, ["alice"]);
    }

    #[test]
    fn ids_are_stable_and_never_reused_and_output_is_deterministic() {
        let mut ledger = Ledger::default();
        build(&parse(PEOPLE).unwrap(), &[], &mut ledger, NOW).unwrap();
        // Same inputs and ledger: the same bytes.
        let (mut a, mut b) = (ledger.clone(), ledger.clone());
        let first = build(&parse(PEOPLE).unwrap(), &[], &mut a, NOW).unwrap();
        let again = build(&parse(PEOPLE).unwrap(), &[], &mut b, NOW).unwrap();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        assert_eq!(first.serial, 2);
        // bob leaves, carol joins: carol does not get bob's uid; bob keeps
        // his if he comes back.
        let without_bob = PEOPLE.replace("name = \"bob\"", "name = \"carol\"");
        let s = build(&parse(&without_bob).unwrap(), &[], &mut a, NOW).unwrap();
        let carol = s.users.iter().find(|u| u.name == "carol").unwrap();
        assert_eq!(carol.uid, 10_005); // after alice, bob, deploy, developers, oncall
        let s = build(&parse(PEOPLE).unwrap(), &[], &mut a, NOW).unwrap();
        let bob = s.users.iter().find(|u| u.name == "bob").unwrap();
        assert_eq!(bob.uid, 10_001);
    }

    /// The schema's fields are declared in alphabetical order, as the
    /// `serde_json::Value` that build used to return wrote them, so that a
    /// people file gives the bytes it gave before.
    #[test]
    fn output_keys_are_in_the_order_earlier_builds_wrote_them() {
        let text = format!(
            "{PEOPLE}\n[[sudo]]\ngroup = \"oncall\"\ncommands = [\"/usr/bin/psql\"]\n\
             runas = \"postgres\"\nnoexec = true\nnopasswd = false\nsetenv = true\n\
             root_equivalent = true\n[revoked]\nserials = [7, -1]\nkey_ids = [\"a@b\"]\n\
             keys = [\"SHA256:x\"]\n"
        );
        let s = build(
            &parse(&text).unwrap(),
            &["ca".into()],
            &mut Ledger::default(),
            NOW,
        );
        let s = s.unwrap();
        let value = serde_json::to_value(&s).unwrap();
        assert_eq!(
            serde_json::to_string_pretty(&s).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    #[test]
    fn bad_people_files_are_refused_with_a_reason() {
        let cases = [
            (PEOPLE.replace("\"bob\"", "\"Bob\""), "not a valid name"),
            (
                PEOPLE.replace("persons = [\"alice\"]", "persons = [\"mallory\"]"),
                "not a person",
            ),
            (
                PEOPLE.replace("role = \"admin\"", "role = \"root\""),
                "role must be",
            ),
            (
                PEOPLE.replace("[\"developers\"]", "[\"alice\"]"),
                "has the name of an account",
            ),
            (
                PEOPLE.replace("name = \"bob\"", "name = \"alice\""),
                "listed twice",
            ),
        ];
        for (text, needle) in cases {
            let e = build(&parse(&text).unwrap(), &[], &mut Ledger::default(), NOW).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
        let e = parse(&format!(
            "{PEOPLE}\n[[person]]\nname = \"x\"\nemail = \"x@y\"\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("email") && e.to_string().contains("line"),
            "{e}"
        );
        // A sudo rule is held to the schema when the file is read: hosts
        // would drop a rule with a field they do not know.
        let e = parse(&format!(
            "{PEOPLE}\n[[sudo]]\ngroup = \"oncall\"\ncommands = [\"/bin/true\"]\nhosts = [\"db\"]\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("hosts") && e.to_string().contains("line"),
            "{e}"
        );
    }

    /// Found with fuzz/'s `people` target: `now + valid_for` overflowed (a
    /// panic in debug builds, a wrapped timestamp in release), and a
    /// validity past year 9999 gave a valid_until hosts cannot parse, so
    /// they refused the whole snapshot.
    #[test]
    fn overlong_valid_for_is_refused() {
        for valid_for in ["106751991167300d", "18446744073709551615s", "3660000d"] {
            let text = PEOPLE.replace("\"7d\"", &format!("{valid_for:?}"));
            let mut ledger = Ledger::default();
            let e = build(&parse(&text).unwrap(), &[], &mut ledger, NOW).unwrap_err();
            assert!(e.to_string().contains("too long"), "{valid_for}: {e}");
            assert_eq!(ledger, Ledger::default(), "{valid_for}");
        }
        // The longest validity hosts can read still builds, and they read it.
        let text = PEOPLE.replace("\"7d\"", "\"2900000d\"");
        let s = build(&parse(&text).unwrap(), &[], &mut Ledger::default(), NOW).unwrap();
        let json = serde_json::to_vec(&s).unwrap();
        let local = LocalTables::parse("", "", "/bin/bash\n");
        assert!(validate(&json, &Policy::default(), &local, NOW).is_ok());
    }

    #[test]
    fn a_ledger_at_the_highest_serial_is_refused() {
        let mut ledger = Ledger {
            serial: u64::MAX,
            ..Ledger::default()
        };
        let e = build(&parse(PEOPLE).unwrap(), &[], &mut ledger, NOW).unwrap_err();
        assert!(e.to_string().contains("serial is at its maximum"), "{e}");
    }

    /// Found with fuzz/'s `people` target: a `revoked` that is not a table of
    /// lists (`serials = 7`) was copied into the snapshot as it was, and
    /// every host refused the whole snapshot as malformed.
    #[test]
    fn revoked_of_the_wrong_shape_is_refused() {
        for (top, table) in [
            ("", "[revoked]\nserials = 7\n"),
            ("", "[revoked]\nkey_ids = \"alice@laptop\"\n"),
            ("revoked = 5\n", ""),
            ("revoked = [7]\n", ""),
        ] {
            let text = format!("{top}{PEOPLE}\n{table}");
            let e = build(&parse(&text).unwrap(), &[], &mut Ledger::default(), NOW).unwrap_err();
            assert!(e.to_string().contains("revoked"), "{top}{table}: {e}");
        }
        let text = format!("{PEOPLE}\n[revoked]\nserials = [7, -1]\nkey_ids = []\n");
        let s = build(&parse(&text).unwrap(), &[], &mut Ledger::default(), NOW).unwrap();
        let json = serde_json::to_vec(&s).unwrap();
        let local = LocalTables::parse("", "", "/bin/bash\n");
        let v = validate(&json, &Policy::default(), &local, NOW).unwrap();
        assert_eq!(v.revoked.serials.len(), 1);
    }

    #[test]
    fn every_account_gets_a_home_of_its_own() {
        for home in ["/home", "/home/", "/srv/people"] {
            let text = PEOPLE.replace("valid_for = \"7d\"", &format!("home = {home:?}"));
            let s = build(&parse(&text).unwrap(), &[], &mut Ledger::default(), NOW).unwrap();
            let homes: Vec<&str> = s.users.iter().map(|u| &*u.home).collect();
            let base = home.trim_end_matches('/');
            let expected: Vec<String> = ["alice", "bob", "deploy"]
                .iter()
                .map(|n| format!("{base}/{n}"))
                .collect();
            assert_eq!(homes, expected, "home = {home:?}");
        }
    }

    /// `[[sudo]]` tables after PEOPLE (alice and bob are developers).
    fn with_sudo(rules: &str) -> Result<Document<'static>, BuildError> {
        let text = format!("{PEOPLE}\n{rules}");
        build(&parse(&text).unwrap(), &[], &mut Ledger::default(), NOW)
    }

    #[test]
    fn root_equivalent_sudo_rules_must_be_marked() {
        let plain = "[[sudo]]\ngroup = \"developers\"\ncommands = [\"/usr/bin/id -u\"]\n";
        for (rule, error) in [
            (
                "[[sudo]]\ngroup = \"developers\"\ncommands = [\"/usr/bin/id -u\"]\nsetenv = true\n",
                "sudo rule 2 (group \"developers\") is root-equivalent: the SETENV tag lets its \
                 users set any variable, LD_PRELOAD included; if that is intended, mark it \
                 root_equivalent = true",
            ),
            (
                "[[sudo]]\ngroup = \"oncall\"\ncommands = [\"/usr/bin/id\", \"/usr/bin/env\"]\n",
                "sudo rule 2 (group \"oncall\") is root-equivalent: command \"/usr/bin/env\" sets \
                 the environment and runs any command; if that is intended, mark it \
                 root_equivalent = true",
            ),
        ] {
            let e = with_sudo(&format!("{plain}{rule}")).unwrap_err();
            assert_eq!(e.to_string(), error);
            // Marked, it builds, and hosts keep it.
            let s = with_sudo(&format!("{plain}{rule}root_equivalent = true\n")).unwrap();
            let json = serde_json::to_vec(&s).unwrap();
            let local = LocalTables::parse("", "", "/bin/bash\n");
            let v = validate(&json, &Policy::default(), &local, NOW).unwrap();
            assert!(v.findings.is_empty(), "{:?}", v.findings);
            let marks: Vec<bool> = v.sudo.iter().map(|r| r.root_equivalent).collect();
            assert_eq!(marks, [false, true]);
        }
        assert!(with_sudo(plain).is_ok());
    }
}
