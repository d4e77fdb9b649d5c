//! The publishers' side: accounts become the document's users, groups and
//! grants, one way for every publisher (`roster snapshot build` from a
//! people file, `roster-scim` from its database). Each account has its home
//! `HOME/NAME` and a private group carrying its own id; named groups get
//! their gid from the publisher's id ledger.

use std::borrow::Cow;

use super::schema::{Grant, Group, User};
use super::{AccountKind, AccountState, Role};
use crate::time::{UnixTime, format_rfc3339};

/// An account as a publisher knows it, with its id already from the ledger.
#[derive(Debug, Clone)]
pub struct Account<'a> {
    pub name: &'a str,
    pub gecos: &'a str,
    pub kind: AccountKind,
    pub role: Role,
    pub state: AccountState,
    pub id: u32,
    /// Named groups the account is a member of.
    pub groups: Vec<&'a str>,
    /// For a shared account: the persons who may enter it.
    pub persons: Vec<&'a str>,
}

/// Where the accounts' homes are and which shell they get.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    pub home: &'a str,
    pub shell: &'a str,
}

/// The document's users, groups and grants.
#[derive(Debug, Default)]
pub struct Composed {
    pub users: Vec<User<'static>>,
    pub groups: Vec<Group<'static>>,
    pub grants: Vec<Grant>,
}

/// `accounts` in order, then the named groups in order of first mention
/// (each gid from `group_id`), then a grant per shared account with persons.
pub fn compose<E>(
    accounts: &[Account<'_>],
    layout: Layout<'_>,
    mut group_id: impl FnMut(&str) -> Result<u32, E>,
) -> Result<Composed, E> {
    let mut out = Composed::default();
    let mut named: Vec<(&str, Vec<Cow<'static, str>>)> = Vec::new();
    let home = layout.home.trim_end_matches('/');
    for a in accounts {
        out.users.push(User {
            gecos: a.gecos.to_owned().into(),
            gid: a.id.into(),
            home: format!("{home}/{}", a.name).into(),
            kind: a.kind,
            name: a.name.to_owned().into(),
            role: a.role,
            shell: layout.shell.to_owned().into(),
            state: a.state,
            uid: a.id.into(),
        });
        // Each account's private group carries its own id as gid.
        out.groups.push(Group {
            gid: a.id.into(),
            members: Vec::new(),
            name: a.name.to_owned().into(),
        });
        for g in &a.groups {
            let member = Cow::Owned(a.name.to_owned());
            match named.iter_mut().find(|(n, _)| n == g) {
                Some((_, members)) => members.push(member),
                None => named.push((g, vec![member])),
            }
        }
        if a.kind == AccountKind::Shared && !a.persons.is_empty() {
            out.grants.push(Grant {
                account: a.name.to_owned(),
                persons: a.persons.iter().map(|p| (*p).to_owned()).collect(),
            });
        }
    }
    for (name, members) in named {
        out.groups.push(Group {
            gid: group_id(name)?.into(),
            members,
            name: name.to_owned().into(),
        });
    }
    Ok(out)
}

/// `valid_until` for a document issued at `now` and valid for `secs`, or
/// `None` when that is past what hosts read (RFC 3339 years end at 9999).
pub fn valid_until(now: UnixTime, secs: u64) -> Option<String> {
    UnixTime::try_from(secs)
        .ok()
        .and_then(|d| now.checked_add(d))
        .filter(|t| *t < 253_402_300_800) // 10000-01-01T00:00:00Z
        .map(format_rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_get_a_home_a_private_group_and_their_named_groups() {
        let account = |name, id, groups: Vec<&'static str>| Account {
            name,
            gecos: "",
            kind: AccountKind::Person,
            role: Role::User,
            state: AccountState::Active,
            id,
            groups,
            persons: Vec::new(),
        };
        let deploy = Account {
            kind: AccountKind::Shared,
            persons: vec!["alice"],
            ..account("deploy", 10_002, vec![])
        };
        let accounts = [
            account("alice", 10_000, vec!["ops", "dev"]),
            account("bob", 10_001, vec!["dev"]),
            deploy,
        ];
        let layout = Layout {
            home: "/home/",
            shell: "/bin/bash",
        };
        let mut asked = Vec::new();
        let c = compose(&accounts, layout, |g| {
            asked.push(g.to_owned());
            Ok::<_, ()>(20_000 + asked.len() as u32)
        })
        .unwrap();
        assert_eq!(c.users[1].home, "/home/bob");
        assert_eq!((c.users[1].uid, c.users[1].gid), (10_001, 10_001));
        let groups: Vec<(&str, i64, Vec<&str>)> = c
            .groups
            .iter()
            .map(|g| (&*g.name, g.gid, g.members.iter().map(|m| &**m).collect()))
            .collect();
        assert_eq!(
            groups,
            [
                ("alice", 10_000, vec![]),
                ("bob", 10_001, vec![]),
                ("deploy", 10_002, vec![]),
                ("ops", 20_001, vec!["alice"]),
                ("dev", 20_002, vec!["alice", "bob"]),
            ]
        );
        assert_eq!(asked, ["ops", "dev"]);
        assert_eq!(
            c.grants,
            [Grant {
                account: "deploy".into(),
                persons: vec!["alice".into()]
            }]
        );
    }

    #[test]
    fn validity_stops_at_the_year_9999() {
        assert_eq!(
            valid_until(0, 86_400).as_deref(),
            Some("1970-01-02T00:00:00Z")
        );
        assert_eq!(valid_until(253_402_300_000, 86_400), None);
        assert_eq!(valid_until(0, u64::MAX), None);
    }
}
