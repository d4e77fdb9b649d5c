//! `snapshot_validate`: source JSON → `validate` → `compile` → `View`.
//!
//! Properties, for every input that validates:
//! - every kept entry obeys the rules it was validated against (names, ids,
//!   fields, local accounts, uniqueness, homes, members, grants, sudo rules
//!   and their root equivalence);
//! - the snapshot compiles, the compiled file opens and passes its body CRC,
//!   and it answers for exactly what was kept: every kept user by name and by
//!   uid, every kept group by name and by gid, with the same fields, groups
//!   and members; both enumerations in snapshot order; host policy, user
//!   CAs, revocations, grants and sudo rules as given.

use std::collections::{HashMap, HashSet};

use roster::host::compiled::{GroupEntry, SudoRuleEntry, UserEntry, View, compile};
use roster::local::LocalTables;
use roster::snapshot::{
    AccountKind, AccountState, Policy, Role, Snapshot, root_equivalence, valid_name, validate,
};

use crate::{COMPILED_AT, NOW, host_policy, local_tables, policies};

pub fn run(data: &[u8]) {
    for policy in policies() {
        if let Ok(snapshot) = validate(data, policy, local_tables(), NOW) {
            check_kept(&snapshot, policy, local_tables());
            check_compiled(&snapshot);
        }
    }
}

/// A character validation refuses in gecos, home and shell.
fn refused_char(c: char) -> bool {
    c == ':' || c.is_control()
}

fn check_kept(s: &Snapshot, policy: &Policy, local: &LocalTables) {
    assert!(s.valid_until > s.issued_at && s.valid_until > NOW);
    let admin = policy.admin_group.as_ref();
    let mut names = HashSet::new();
    let mut uids = HashSet::new();
    let homes: HashSet<&str> = s.users.iter().map(|u| u.home.as_str()).collect();
    assert_eq!(homes.len(), s.users.len(), "a home kept twice");
    for u in &s.users {
        let mut above = u.home.as_str();
        while let Some((parent, _)) = above.rsplit_once('/') {
            assert!(
                !homes.contains(parent),
                "home {:?} kept inside another",
                u.home
            );
            above = parent;
        }
        assert!(valid_name(&u.name).is_ok(), "kept user name {:?}", u.name);
        assert!(!policy.reserved_names.contains(&u.name), "{:?}", u.name);
        assert!(admin.is_none_or(|a| a.name != u.name && a.gid != u.gid));
        assert!(
            names.insert(u.name.as_str()),
            "user {:?} kept twice",
            u.name
        );
        assert!(uids.insert(u.uid), "uid {} kept twice", u.uid);
        assert!(!local.has_name(&u.name), "local name {:?} kept", u.name);
        assert!(!local.uids.contains(&u.uid) && !local.gids.contains(&u.gid));
        for (id, min) in [(u.uid, policy.min_uid), (u.gid, policy.min_gid)] {
            assert!(id >= min && id <= i32::MAX as u32, "id {id} kept");
            assert!(!matches!(id, 0 | 61_184..=65_519 | 65_534 | 65_535));
        }
        for (field, value) in [("gecos", &u.gecos), ("home", &u.home), ("shell", &u.shell)] {
            assert!(!value.contains(refused_char), "{field} {value:?} kept");
            assert!(value.len() <= policy.limits.max_field_bytes, "{field}");
        }
        assert!(
            policy.home_prefixes.iter().any(|p| u
                .home
                .strip_prefix(p.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| rest
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != ".."))),
            "home {:?} kept",
            u.home
        );
        assert!(
            local.shells.contains(&u.shell) || u.shell == policy.fallback_shell,
            "shell {:?} kept",
            u.shell
        );
    }

    let mut group_names = HashSet::new();
    let mut gids = HashSet::new();
    for g in &s.groups {
        let is_admin = admin.is_some_and(|a| a.name == g.name && a.gid == g.gid);
        assert!(valid_name(&g.name).is_ok(), "kept group name {:?}", g.name);
        assert!(
            group_names.insert(g.name.as_str()),
            "group {:?} twice",
            g.name
        );
        assert!(gids.insert(g.gid), "gid {} kept twice", g.gid);
        assert!(!local.has_name(&g.name) && !local.gids.contains(&g.gid));
        if !is_admin {
            assert!(!policy.reserved_names.contains(&g.name), "{:?}", g.name);
            assert!(g.gid >= policy.min_gid && g.gid <= i32::MAX as u32);
            assert!(admin.is_none_or(|a| a.name != g.name && a.gid != g.gid));
        }
        assert!(g.members.len() <= policy.limits.max_members_per_group);
        let mut seen = HashSet::new();
        for m in &g.members {
            assert!(names.contains(m.as_str()), "member {m:?} is not kept");
            assert!(seen.insert(m), "member {m:?} listed twice");
        }
    }
    if let Some(a) = admin
        && let Some(g) = s.groups.iter().find(|g| g.name == a.name)
    {
        for m in &g.members {
            let u = s.users.iter().find(|u| &u.name == m).unwrap();
            assert!(
                u.role == Role::Admin && u.state == AccountState::Active,
                "{m:?}"
            );
        }
    }

    let kind: HashMap<&str, AccountKind> =
        s.users.iter().map(|u| (u.name.as_str(), u.kind)).collect();
    let mut accounts = HashSet::new();
    for g in &s.grants {
        assert_eq!(kind.get(g.account.as_str()), Some(&AccountKind::Shared));
        assert!(
            accounts.insert(&g.account),
            "two grants for {:?}",
            g.account
        );
        let mut seen = HashSet::new();
        for p in &g.persons {
            assert_eq!(kind.get(p.as_str()), Some(&AccountKind::Person), "{p:?}");
            assert!(seen.insert(p), "person {p:?} listed twice");
        }
    }
    for r in &s.sudo {
        assert!(group_names.contains(r.group.as_str()), "{:?}", r.group);
        assert!(
            r.root_equivalent || root_equivalence(&r.commands, r.setenv).is_none(),
            "unmarked root-equivalent rule {r:?} kept"
        );
        assert!(!r.commands.is_empty() && valid_name(&r.runas).is_ok());
        for c in &r.commands {
            assert!(c.starts_with('/'), "{c:?}");
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._+@- ".contains(&b)),
                "sudo command {c:?} kept"
            );
        }
    }
    // Matched exactly, never written to a colon-separated file: `:` is kept
    // (roster ca sign's key IDs carry a time), control characters are not.
    for id in &s.revoked.key_ids {
        assert!(!id.is_empty() && !id.contains(char::is_control), "{id:?}");
        assert!(id.len() <= policy.limits.max_field_bytes, "{id:?}");
    }
    for fp in &s.revoked.keys {
        assert!(fp.starts_with("SHA256:") && fp.len() == 50, "{fp:?}");
    }
}

fn check_compiled(s: &Snapshot) {
    let host = host_policy();
    let bytes = compile(s, &host, COMPILED_AT).expect("a validated snapshot compiles");
    let v = View::open(&bytes).expect("a compiled snapshot opens");
    assert_eq!(v.verify_body(), Ok(()));
    let h = v.header();
    assert_eq!(
        (h.serial, h.issued_at, h.valid_until, h.compiled_at),
        (s.serial, s.issued_at, s.valid_until, COMPILED_AT)
    );
    assert_eq!(
        (h.users as usize, h.groups as usize),
        (s.users.len(), s.groups.len())
    );
    assert_eq!(h.file_len, bytes.len() as u64);

    // Each user's supplementary groups, in snapshot group order.
    let mut groups_of: HashMap<&str, Vec<u32>> = HashMap::new();
    for g in &s.groups {
        for m in &g.members {
            groups_of.entry(m.as_str()).or_default().push(g.gid);
        }
    }
    let sudo_groups: HashSet<&str> = s.sudo.iter().map(|r| r.group.as_str()).collect();
    let entitled: HashSet<&str> = s
        .groups
        .iter()
        .filter(|g| sudo_groups.contains(g.name.as_str()))
        .flat_map(|g| g.members.iter().map(String::as_str))
        .collect();

    for u in &s.users {
        let gids = groups_of.get(u.name.as_str()).cloned().unwrap_or_default();
        let same = |e: UserEntry<'_>, how: &str| {
            assert_eq!(e.name, u.name.as_bytes(), "{how}");
            assert_eq!((e.uid, e.gid), (u.uid, u.gid), "{how} {:?}", u.name);
            assert_eq!(
                (e.gecos, e.home, e.shell),
                (u.gecos.as_bytes(), u.home.as_bytes(), u.shell.as_bytes()),
                "{how} {:?}",
                u.name
            );
            assert_eq!((e.state, e.role, e.kind), (u.state, u.role, u.kind));
            assert_eq!(e.sudo_rules, entitled.contains(u.name.as_str()));
            assert_eq!(e.groups.len(), gids.len());
            assert_eq!(e.groups.collect::<Vec<_>>(), gids, "{how} {:?}", u.name);
        };
        let by_name = v.user_by_name(u.name.as_bytes());
        same(
            by_name.unwrap().expect("kept user found by name"),
            "by name",
        );
        let by_uid = v.user_by_uid(u.uid);
        same(by_uid.unwrap().expect("kept user found by uid"), "by uid");
        for primary in [u.gid, u32::MAX] {
            let g = v.groups_of(u.name.as_bytes(), primary).unwrap();
            assert_eq!(g.map(|g| g.collect::<Vec<_>>()), Some(gids.clone()));
        }
        // Another primary group (kept gids are all >= min_gid): a local
        // account of the same name gets none of the snapshot's groups.
        assert_eq!(v.groups_of(u.name.as_bytes(), 1), Ok(None));
    }
    for g in &s.groups {
        let same = |e: GroupEntry<'_>, how: &str| {
            assert_eq!((e.name, e.gid), (g.name.as_bytes(), g.gid), "{how}");
            assert_eq!(e.members.len(), g.members.len());
            let text_len: usize = g.members.iter().map(|m| m.len() + 1).sum();
            assert_eq!(e.members.text().len(), text_len);
            let members: Vec<&[u8]> = e.members.collect();
            let expected: Vec<&[u8]> = g.members.iter().map(|m| m.as_bytes()).collect();
            assert_eq!(members, expected, "{how} {:?}", g.name);
        };
        let by_name = v.group_by_name(g.name.as_bytes());
        same(
            by_name.unwrap().expect("kept group found by name"),
            "by name",
        );
        let by_gid = v.group_by_gid(g.gid);
        same(by_gid.unwrap().expect("kept group found by gid"), "by gid");
    }
    // Nothing else answers: names and ids validation never keeps.
    for miss in [&b"root"[..], b"", b"nobody", b"Alice", b"daemon", b"backup"] {
        assert_eq!(v.user_by_name(miss), Ok(None));
        assert_eq!(v.group_by_name(miss), Ok(None));
    }
    for id in [0, 1, 100, 1001, 10_500, 65_534, u32::MAX] {
        assert_eq!(v.user_by_uid(id), Ok(None));
        assert_eq!(v.group_by_gid(id), Ok(None));
    }

    // Both enumerations: exactly the kept entries, in snapshot order.
    let mut pos = 0;
    let mut users = Vec::new();
    while let Some((u, next)) = v.user_at(pos).unwrap() {
        assert!(next > pos && users.len() < s.users.len());
        users.push(u.name);
        pos = next;
    }
    let expected: Vec<&[u8]> = s.users.iter().map(|u| u.name.as_bytes()).collect();
    assert_eq!(users, expected);
    let mut pos = 0;
    let mut groups = Vec::new();
    while let Some((g, next)) = v.group_at(pos).unwrap() {
        assert!(next > pos && groups.len() < s.groups.len());
        groups.push(g.gid);
        pos = next;
    }
    assert_eq!(groups, s.groups.iter().map(|g| g.gid).collect::<Vec<_>>());

    let rules: Vec<SudoRuleEntry<'_>> = s
        .sudo
        .iter()
        .map(|r| SudoRuleEntry {
            group: &r.group,
            runas: &r.runas,
            commands: r.commands.iter().map(String::as_str).collect(),
            root_equivalent: r.root_equivalent,
        })
        .collect();
    assert_eq!(v.sudo_rules(), Ok(rules));

    // The certificate gate's sections.
    assert_eq!(v.host_policy(), Ok(host));
    assert_eq!(
        v.user_cas(),
        Ok(s.user_cas.iter().map(String::as_str).collect())
    );
    let r = &s.revoked;
    // A serial, key ID and fingerprint that are not revoked ("\n" is never
    // a kept key ID or fingerprint).
    let clean = (0..=r.serials.len() as u64)
        .find(|n| !r.serials.contains(n))
        .unwrap();
    assert_eq!(v.is_revoked(clean, "\n", "\n"), Ok(false));
    for serial in &r.serials {
        assert_eq!(v.is_revoked(*serial, "\n", "\n"), Ok(true));
    }
    for id in &r.key_ids {
        assert_eq!(v.is_revoked(clean, id, "\n"), Ok(true));
    }
    for fp in &r.keys {
        assert_eq!(v.is_revoked(clean, "\n", fp), Ok(true));
    }
    for g in &s.grants {
        let persons: Vec<&str> = g.persons.iter().map(String::as_str).collect();
        assert_eq!(v.grant(&g.account), Ok(Some(persons)));
    }
    if !s.grants.iter().any(|g| g.account.is_empty()) {
        assert_eq!(v.grant(""), Ok(None));
    }
}
