//! From the identity provider's people and groups to each project's
//! snapshot (docs/scim.md, *From IdP groups to projects*): a person is in a
//! project when they are a member of one of the IdP groups it names; their
//! role is `admin` through an `admins` group, else `user` through a `users`
//! group, else `none` (they resolve, for file ownership, but do not log in).
//! A deactivated person is published as disabled, so hosts end their
//! sessions; a deleted one is absent.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::config::{Accounts, Project};
use super::store::{Person, Query, StoreError};
use crate::snapshot::compose::{self, Account, Layout};
use crate::snapshot::schema::{Document, SudoRule};
use crate::snapshot::{AccountKind, AccountState, FORMAT, Role};
use crate::time::{UnixTime, format_rfc3339};

/// Everything the projects are computed from, read in one transaction.
pub struct People {
    pub users: Vec<Person>,
    /// user id → the displayNames of the IdP groups they are in, lowercased.
    pub groups_of: HashMap<String, BTreeSet<String>>,
    /// ledger ids of POSIX groups (`group:NAME`) and shared accounts (`shared:NAME`).
    pub ids: HashMap<String, u32>,
}

impl People {
    pub fn read(q: &impl Query, projects: &[(&str, &Project)]) -> Result<People, StoreError> {
        let mut groups_of: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (group, user) in q.memberships()? {
            groups_of
                .entry(user)
                .or_default()
                .insert(group.to_lowercase());
        }
        let mut ids = HashMap::new();
        for (_, p) in projects {
            for owner in ledger_owners(p) {
                if let Some(id) = q.id_of(&owner)? {
                    ids.insert(owner, id);
                }
            }
        }
        Ok(People {
            users: q.persons()?,
            groups_of,
            ids,
        })
    }
}

/// The ledger entries a project's POSIX groups and shared accounts need.
pub fn ledger_owners(p: &Project) -> impl Iterator<Item = String> + '_ {
    let groups = p.groups.keys().map(|g| format!("group:{g}"));
    groups.chain(p.shared.iter().map(|s| format!("shared:{}", s.account)))
}

/// A project's document, without serial and times (the publisher sets
/// them), and how many persons it holds.
pub struct Contents {
    pub users: usize,
    pub document: Document<'static>,
}

/// Computes `project`'s document from `people`. An error names a missing
/// ledger id (the service allocates them at start: a bug if it happens).
pub fn contents(
    project: &Project,
    people: &People,
    accounts: &Accounts,
    user_cas: &[String],
) -> Result<Contents, String> {
    // Every comparison is of lowercased names, through sets: a project may
    // name a thousand groups and a person be in dozens.
    let set =
        |names: &[String]| -> HashSet<String> { names.iter().map(|n| n.to_lowercase()).collect() };
    let idp: HashSet<String> = project.idp_groups().map(str::to_lowercase).collect();
    let (admins, users) = (set(&project.admins), set(&project.users));
    let posix: Vec<(&str, HashSet<String>)> = project
        .groups
        .iter()
        .map(|(name, from)| (name.as_str(), set(from)))
        .collect();
    let in_any = |theirs: &BTreeSet<String>, wanted: &HashSet<String>| {
        theirs.iter().any(|t| wanted.contains(t))
    };
    let empty = BTreeSet::new();
    let mut persons = Vec::new();
    for u in &people.users {
        let theirs = people.groups_of.get(&u.id).unwrap_or(&empty);
        if !in_any(theirs, &idp) {
            continue;
        }
        let role = if in_any(theirs, &admins) {
            Role::Admin
        } else if in_any(theirs, &users) {
            Role::User
        } else {
            Role::None
        };
        let groups = posix
            .iter()
            .filter(|(_, from)| in_any(theirs, from))
            .map(|(name, _)| *name)
            .collect();
        persons.push((
            u,
            theirs,
            Account {
                name: &u.login,
                gecos: &u.gecos,
                kind: AccountKind::Person,
                role,
                state: if u.active {
                    AccountState::Active
                } else {
                    AccountState::Disabled
                },
                id: u.uid,
                groups,
                persons: Vec::new(),
            },
        ));
    }
    let mut accounts_out: Vec<Account<'_>> = Vec::new();
    for s in &project.shared {
        let allowed = set(&s.persons);
        let id = people
            .ids
            .get(&format!("shared:{}", s.account))
            .copied()
            .ok_or_else(|| format!("no id for shared account {:?}", s.account))?;
        accounts_out.push(Account {
            name: &s.account,
            gecos: &s.gecos,
            kind: AccountKind::Shared,
            role: Role::User,
            state: AccountState::Active,
            id,
            groups: Vec::new(),
            persons: persons
                .iter()
                .filter(|(_, theirs, _)| in_any(theirs, &allowed))
                .map(|(u, _, _)| u.login.as_str())
                .collect(),
        });
    }
    let users = persons.len();
    let all: Vec<Account<'_>> = persons
        .into_iter()
        .map(|(_, _, a)| a)
        .chain(accounts_out)
        .collect();
    let layout = Layout {
        home: &accounts.home,
        shell: &accounts.shell,
    };
    let composed = compose::compose(&all, layout, |g| {
        people
            .ids
            .get(&format!("group:{g}"))
            .copied()
            .ok_or_else(|| format!("no id for group {g:?}"))
    })?;
    Ok(Contents {
        users,
        document: Document {
            format: FORMAT.into(),
            grants: composed.grants,
            groups: composed.groups,
            issued_at: String::new(),
            revoked: None,
            serial: 0,
            sudo: project.sudo.iter().map(SudoRule::clone).collect(),
            user_cas: user_cas.to_vec(),
            users: composed.users,
            valid_until: String::new(),
        },
    })
}

/// A digest of `document`'s contents (of its JSON as [`contents`] leaves
/// it: no serial, no times), to tell whether a project changed since the
/// last round: hashed as it is serialised, never held whole. SipHash keyed
/// at random by `keys` (one per process): a collision cannot be aimed at,
/// and would only wait for the heartbeat.
pub fn digest(document: &Document<'_>, keys: &std::hash::RandomState) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    struct Hashing<H>(H);
    impl<H: Hasher> std::io::Write for Hashing<H> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(keys.build_hasher());
    // Writing into a hasher cannot fail, nor can these types' Serialize.
    let _ = serde_json::to_writer(&mut h, document);
    h.0.finish()
}

/// The JSON of `document` as published: `serial`, issued at `now`, valid
/// for `valid_for` (`None` past the year 9999).
pub fn issue(
    mut document: Document<'_>,
    serial: u64,
    now: UnixTime,
    valid_for: u64,
) -> Option<Vec<u8>> {
    document.valid_until = compose::valid_until(now, valid_for)?;
    document.issued_at = format_rfc3339(now);
    document.serial = serial;
    Some(serde_json::to_vec(&document).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTables;
    use crate::snapshot::{Policy, validate};

    fn user(id: &str, login: &str, uid: u32, active: bool) -> Person {
        Person {
            id: id.into(),
            login: login.into(),
            uid,
            active,
            gecos: login.to_uppercase(),
        }
    }

    fn project() -> Project {
        toml::from_str(
            r#"
            users = ["Engineering"]
            admins = ["SRE"]
            groups = { developers = ["Engineering", "SRE"], auditors = ["Audit"] }
            shared = [{ account = "deploy", persons = ["SRE"] }]
            "#,
        )
        .unwrap()
    }

    fn people() -> People {
        let member = |groups: &[&str]| groups.iter().map(|g| g.to_lowercase()).collect();
        People {
            users: vec![
                user("1", "alice", 10_000, true),
                user("2", "bob", 10_001, true),
                user("3", "carol", 10_002, false),
                user("4", "dave", 10_003, true),
                user("5", "erin", 10_004, true),
            ],
            groups_of: HashMap::from([
                ("1".into(), member(&["sre"])),
                ("2".into(), member(&["Engineering"])),
                ("3".into(), member(&["Engineering"])),
                ("4".into(), member(&["Audit"])),
                ("5".into(), member(&["Marketing"])),
            ]),
            ids: HashMap::from([
                ("group:developers".into(), 20_000),
                ("group:auditors".into(), 20_001),
                ("shared:deploy".into(), 20_002),
            ]),
        }
    }

    fn accounts() -> Accounts {
        Accounts {
            first_id: 10_000,
            home: "/home".into(),
            shell: "/bin/bash".into(),
            policy: Policy::default(),
            local: LocalTables::default(),
        }
    }

    #[test]
    fn groups_decide_who_is_in_and_with_which_role() {
        let c = contents(&project(), &people(), &accounts(), &[]).unwrap();
        let users: Vec<(&str, Role, AccountState)> = c
            .document
            .users
            .iter()
            .map(|u| (&*u.name, u.role, u.state))
            .collect();
        assert_eq!(
            users,
            [
                ("alice", Role::Admin, AccountState::Active),
                ("bob", Role::User, AccountState::Active),
                ("carol", Role::User, AccountState::Disabled),
                ("dave", Role::None, AccountState::Active),
                ("deploy", Role::User, AccountState::Active),
            ]
        );
        assert_eq!(c.users, 4, "erin is in no group of the project");
        let developers = c
            .document
            .groups
            .iter()
            .find(|g| g.name == "developers")
            .unwrap();
        assert_eq!(developers.members, ["alice", "bob", "carol"]);
        assert_eq!(c.document.grants[0].persons, ["alice"]);
    }

    #[test]
    fn the_issued_document_is_one_hosts_accept_whole() {
        let c = contents(&project(), &people(), &accounts(), &[]).unwrap();
        let now = 1_796_000_000;
        let keys = std::hash::RandomState::new();
        let before = digest(&c.document, &keys);
        let json = issue(c.document, 7, now, 86_400).unwrap();
        let mut again = contents(&project(), &people(), &accounts(), &[]).unwrap();
        assert_eq!(
            digest(&again.document, &keys),
            before,
            "serial and times aside"
        );
        again.document.users[1].role = Role::Admin;
        assert_ne!(
            digest(&again.document, &keys),
            before,
            "a change changes it"
        );
        let local = LocalTables::parse("", "", "/bin/bash\n");
        let v = validate(&json, &Policy::default(), &local, now).unwrap();
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!((v.serial, v.users.len(), v.groups.len()), (7, 5, 7));
    }
}
