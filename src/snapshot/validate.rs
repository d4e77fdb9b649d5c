//! Source JSON → [`Snapshot`]: the document's top level at once (a
//! [`Document<Raw>`](schema::Document)), then each entry into its [`schema`]
//! type on its own: never all or nothing.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet, hash_map};

use super::schema::{self, Document, Raw, Revocation};
use super::{
    AccountKind, AccountState, Effect, Entry, FORMAT, FieldProblem, Finding, Grant, Group,
    HomeOverlap, HomeProblem, IdProblem, Reason, Revoked, Role, Snapshot, SourceError, SudoRule,
    User, root_equivalence,
};
use crate::local::LocalTables;
use crate::time::{UnixTime, parse_rfc3339};

/// The validation knobs an operator may set (roster.toml).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Lowest uid served (default 10000).
    pub min_uid: u32,
    /// Lowest gid served, for users' primary groups and groups (default 10000).
    pub min_gid: u32,
    /// Homes must lie strictly below one of these (default `/home`).
    pub home_prefixes: Vec<String>,
    /// Served instead of a shell the host does not list in its allow-list.
    pub fallback_shell: String,
    /// Names never served, whatever the local files say.
    pub reserved_names: Vec<String>,
    /// The synthetic group of the users with the admin role, granted sudo
    /// by roster's sudoers drop-in. `None`: no such group.
    pub admin_group: Option<AdminGroup>,
    pub limits: Limits,
}

/// Name and gid of the admin group (roster.toml `[roles]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminGroup {
    pub name: String,
    pub gid: u32,
}

/// Size caps. A document over a document-level cap is refused whole; an
/// entry over an entry-level cap is dropped.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_document_bytes: usize,
    pub max_users: usize,
    pub max_groups: usize,
    pub max_members_per_group: usize,
    /// For gecos, home and shell.
    pub max_field_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_uid: 10_000,
            min_gid: 10_000,
            home_prefixes: vec!["/home".to_owned()],
            fallback_shell: "/bin/sh".to_owned(),
            reserved_names: ["root", "nobody", "nogroup"].map(str::to_owned).to_vec(),
            admin_group: None,
            limits: Limits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 512 << 20,
            max_users: 2_000_000,
            max_groups: 1_000_000,
            max_members_per_group: 100_000,
            max_field_bytes: 256,
        }
    }
}

/// Used to name a malformed entry in its finding, when it has a name at all.
#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

/// Validates a source snapshot against the host's policy and local accounts.
///
/// Returns the snapshot with every invalid entry dropped (and listed in
/// `findings`), or the reason the document as a whole is unusable.
pub fn validate(
    json: &[u8],
    policy: &Policy,
    local: &LocalTables,
    now: UnixTime,
) -> Result<Snapshot, SourceError> {
    let limits = &policy.limits;
    if json.len() > limits.max_document_bytes {
        return Err(SourceError::TooLarge {
            size: json.len(),
            max: limits.max_document_bytes,
        });
    }
    let raw: Document<Raw> = serde_json::from_slice(json).map_err(SourceError::NotJson)?;
    if raw.format != FORMAT {
        return Err(SourceError::WrongFormat(
            raw.format.chars().take(64).collect(),
        ));
    }
    let time = |field, text: &str| {
        parse_rfc3339(text).map_err(|error| SourceError::BadTime { field, error })
    };
    let issued_at = time("issued_at", &raw.issued_at)?;
    let valid_until = time("valid_until", &raw.valid_until)?;
    if valid_until <= issued_at {
        return Err(SourceError::ValidityInverted);
    }
    if valid_until <= now {
        return Err(SourceError::Expired { valid_until });
    }
    for (what, count, max) in [
        ("users", raw.users.len(), limits.max_users),
        ("groups", raw.groups.len(), limits.max_groups),
    ] {
        if count > max {
            return Err(SourceError::TooManyEntries { what, count, max });
        }
    }

    let mut findings = Vec::new();
    let users = validate_users(&raw.users, policy, local, &mut findings);
    let user_names: HashSet<&str> = users.iter().map(|u| u.name.as_str()).collect();
    let groups = validate_groups(&raw.groups, policy, local, &user_names, &mut findings);
    let user_cas = validate_user_cas(&raw.user_cas, &mut findings);
    let revoked = validate_revoked(&raw.revoked.unwrap_or_default(), policy, &mut findings);
    let grants = validate_grants(&raw.grants, &users, &mut findings);
    let mut groups = groups;
    let sudo = validate_sudo(&raw.sudo, &groups, &mut findings);
    if let Some(admins) = admin_group(policy, local, &users, &mut findings) {
        groups.push(admins);
    }
    Ok(Snapshot {
        serial: raw.serial,
        issued_at,
        valid_until,
        users,
        groups,
        user_cas,
        revoked,
        grants,
        sudo,
        findings,
    })
}

/// Sudo rules: a kept group, commands that need no sudoers escaping, a
/// valid run-as name, and the `root_equivalent` mark if the rule is so. A
/// rule that fails is dropped whole, with the reason.
fn validate_sudo(
    raw: &[&RawValue],
    groups: &[Group],
    findings: &mut Vec<Finding>,
) -> Vec<SudoRule> {
    let mut kept = Vec::new();
    for (index, r) in raw.iter().enumerate() {
        let rule = serde_json::from_str::<schema::SudoRule>(r.get()).map_err(|e| e.to_string());
        let group = rule
            .as_ref()
            .ok()
            .map(|r| r.group.chars().take(64).collect());
        let checked = rule.map_err(Reason::BadSudoRule).and_then(|r| {
            let bad = Reason::BadSudoRule;
            if !groups.iter().any(|g| g.name == r.group) {
                return Err(bad(format!(
                    "group {:?} is not a group of this snapshot",
                    r.group
                )));
            }
            if r.commands.is_empty() {
                return Err(bad("no commands".into()));
            }
            for c in &r.commands {
                check_sudo_command(c).map_err(bad)?;
            }
            let runas = r.runas();
            valid_name(runas)
                .map_err(|_| bad(format!("run-as user {runas:?} is not a valid name")))?;
            if let Some(why) = root_equivalence(&r.commands, r.setenv())
                && !r.root_equivalent()
            {
                return Err(Reason::UnmarkedRootEquivalent(why));
            }
            Ok(SudoRule {
                runas: runas.to_owned(),
                nopasswd: r.nopasswd(),
                noexec: r.noexec(),
                setenv: r.setenv(),
                root_equivalent: r.root_equivalent(),
                group: r.group,
                commands: r.commands,
            })
        });
        match checked {
            Ok(rule) => kept.push(rule),
            Err(reason) => {
                let entry = Entry::SudoRule { index, group };
                findings.push(dropped(entry, reason));
            }
        }
    }
    kept
}

/// An absolute, normalised path and optional arguments separated by single
/// spaces, in characters that mean nothing special to sudoers (no `,` `:`
/// `=` `\` `!` `#` `"` quotes, wildcards or whitespace other than spaces).
fn check_sudo_command(c: &str) -> Result<(), String> {
    let plain = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._+@-".contains(&b))
    };
    let mut words = c.split(' ');
    let path = words.next().unwrap_or_default();
    let normal = path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if !normal || !plain(path) {
        return Err(format!(
            "command {:?} is not an absolute, plain path",
            c.chars().take(64).collect::<String>()
        ));
    }
    let args: Vec<&str> = words.collect();
    if c.len() > 256 || args.len() > 16 || !args.iter().all(|a| plain(a)) {
        return Err(format!(
            "command {:?} has arguments sudoers would interpret",
            c.chars().take(64).collect::<String>()
        ));
    }
    Ok(())
}

/// The admin group: every active user with the admin role. Its name and gid
/// are reserved (snapshot entries using them are dropped); a local group
/// with either wins, and then there is no admin group.
fn admin_group(
    policy: &Policy,
    local: &LocalTables,
    users: &[User],
    findings: &mut Vec<Finding>,
) -> Option<Group> {
    let admin = policy.admin_group.as_ref()?;
    let problem = if local.has_name(&admin.name) {
        Some(Reason::LocalName)
    } else if local.gids.contains(&admin.gid) {
        Some(Reason::LocalId {
            field: "gid",
            id: admin.gid,
        })
    } else {
        None
    };
    if let Some(reason) = problem {
        findings.push(dropped(
            Entry::AdminGroup {
                name: admin.name.clone(),
            },
            reason,
        ));
        return None;
    }
    let members = users
        .iter()
        .filter(|u| u.role == Role::Admin && u.state == AccountState::Active)
        .map(|u| u.name.clone())
        .collect();
    Some(Group {
        name: admin.name.clone(),
        gid: admin.gid,
        members,
    })
}

/// Decodes each entry; a malformed one becomes `Err` with its name if it has one.
fn decode_all<'a, T: Deserialize<'a>>(
    raw: &[&'a RawValue],
) -> Vec<Result<T, (Option<String>, String)>> {
    raw.iter()
        .map(|r| {
            serde_json::from_str::<T>(r.get()).map_err(|e| {
                let name = serde_json::from_str::<NameOnly>(r.get())
                    .ok()
                    .and_then(|n| n.name);
                (name.map(Cow::into_owned), e.to_string())
            })
        })
        .collect()
}

/// Counts occurrences, so that every copy of a duplicate can be dropped.
fn tally<K: Eq + std::hash::Hash>(keys: impl Iterator<Item = K>) -> HashMap<K, usize> {
    let mut counts = HashMap::new();
    for k in keys {
        *counts.entry(k).or_insert(0) += 1;
    }
    counts
}

fn validate_users(
    raw: &[&RawValue],
    policy: &Policy,
    local: &LocalTables,
    findings: &mut Vec<Finding>,
) -> Vec<User> {
    let decoded: Vec<Result<schema::User, _>> = decode_all(raw);
    let ok = || decoded.iter().filter_map(|d| d.as_ref().ok());
    let names = tally(ok().map(|u| &*u.name));
    let uids = tally(ok().map(|u| u.uid));
    let mut homes = Homes::with_capacity(decoded.len());

    let mut kept = Vec::with_capacity(decoded.len());
    for (index, d) in decoded.iter().enumerate() {
        let u = match d {
            Ok(u) => u,
            Err((name, error)) => {
                let entry = Entry::User {
                    index,
                    name: name.clone(),
                };
                findings.push(dropped(entry, Reason::Malformed(error.clone())));
                continue;
            }
        };
        let entry = || Entry::User {
            index,
            name: Some(u.name.to_string()),
        };
        let checked = check_name(&u.name, policy)
            .and_then(|()| unique_name(&names, &u.name))
            .and_then(|()| unique_id(&uids, "uid", u.uid))
            .and_then(|()| {
                let uid = check_id("uid", u.uid, policy.min_uid)?;
                let gid = check_id("gid", u.gid, policy.min_gid)?;
                not_admin_gid(policy, gid)?;
                if local.has_name(&u.name) {
                    return Err(Reason::LocalName);
                }
                if local.uids.contains(&uid) {
                    return Err(Reason::LocalId {
                        field: "uid",
                        id: uid,
                    });
                }
                if local.gids.contains(&gid) {
                    return Err(Reason::LocalId {
                        field: "gid",
                        id: gid,
                    });
                }
                check_field("gecos", &u.gecos, policy)?;
                check_field("home", &u.home, policy)?;
                check_field("shell", &u.shell, policy)?;
                check_home(&u.home, &policy.home_prefixes)?;
                // Last: nothing after it drops the user, so the home is theirs.
                homes.take(&u.home, index, &decoded)?;
                Ok((uid, gid))
            });
        let (uid, gid) = match checked {
            Ok(ids) => ids,
            Err(reason) => {
                findings.push(dropped(entry(), reason));
                continue;
            }
        };
        let shell = if local.shells.contains(&*u.shell) {
            u.shell.to_string()
        } else {
            findings.push(Finding {
                entry: entry(),
                outcome: Effect::Adjusted,
                reason: Reason::ShellNotAllowed {
                    shell: u.shell.to_string(),
                    fallback: policy.fallback_shell.clone(),
                },
            });
            policy.fallback_shell.clone()
        };
        kept.push(User {
            name: u.name.to_string(),
            uid,
            gid,
            gecos: u.gecos.to_string(),
            home: u.home.to_string(),
            shell,
            state: u.state,
            role: u.role,
            kind: u.kind,
        });
    }
    kept
}

/// The homes of the users kept so far. No two kept users share a home, and
/// no kept home lies inside another: its owner could rename or replace it.
/// Unlike a duplicate name or id, the earlier user keeps the home: they may
/// have files there, and a later entry must not lock them out by copying it.
struct Homes<'a> {
    /// Each kept home (`true`) and each proper ancestor of one (`false`) →
    /// the source index in `users` of the first user it was recorded for.
    /// An ancestor's own ancestors are all recorded too, and none is a home.
    paths: HashMap<&'a str, (usize, bool)>,
}

impl<'a> Homes<'a> {
    fn with_capacity(users: usize) -> Homes<'a> {
        Homes {
            paths: HashMap::with_capacity(users),
        }
    }

    /// Records `home` for `users[index]` if it is free; otherwise says who
    /// holds it (named from `decoded`). Two hash lookups for a home whose
    /// parent is already recorded, as under /home all but the first.
    fn take(
        &mut self,
        home: &'a str,
        index: usize,
        decoded: &[Result<schema::User, (Option<String>, String)>],
    ) -> Result<(), Reason> {
        let taken = |overlap, by: usize| {
            Err(Reason::HomeTaken {
                home: home.to_owned(),
                overlap,
                user: decoded[by]
                    .as_ref()
                    .map(|u| u.name.to_string())
                    .unwrap_or_default(),
                index: by,
            })
        };
        // Deepest first, up to the first recorded as an ancestor: no kept
        // home is above that one.
        let mut recorded = None;
        for a in ancestors(home) {
            match self.paths.get(a) {
                Some(&(by, true)) => return taken(HomeOverlap::Inside, by),
                Some(&(_, false)) => {
                    recorded = Some(a);
                    break;
                }
                None => {}
            }
        }
        match self.paths.entry(home) {
            hash_map::Entry::Occupied(e) => {
                let (by, is_home) = *e.get();
                let overlap = if is_home {
                    HomeOverlap::Same
                } else {
                    HomeOverlap::Contains
                };
                return taken(overlap, by);
            }
            hash_map::Entry::Vacant(v) => {
                v.insert((index, true));
            }
        }
        for a in ancestors(home).take_while(|a| Some(*a) != recorded) {
            self.paths.insert(a, (index, false));
        }
        Ok(())
    }
}

/// `/a/b/c` → `/a/b`, `/a`: the proper ancestors of a normalised absolute
/// path, deepest first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.rmatch_indices('/')
        .map(|(i, _)| &path[..i])
        .filter(|a| !a.is_empty())
}

fn validate_groups(
    raw: &[&RawValue],
    policy: &Policy,
    local: &LocalTables,
    users: &HashSet<&str>,
    findings: &mut Vec<Finding>,
) -> Vec<Group> {
    let decoded: Vec<Result<schema::Group, _>> = decode_all(raw);
    let ok = || decoded.iter().filter_map(|d| d.as_ref().ok());
    let names = tally(ok().map(|g| &*g.name));
    let gids = tally(ok().map(|g| g.gid));
    let max_members = policy.limits.max_members_per_group;

    let mut kept = Vec::with_capacity(decoded.len());
    for (index, d) in decoded.iter().enumerate() {
        let g = match d {
            Ok(g) => g,
            Err((name, error)) => {
                let entry = Entry::Group {
                    index,
                    name: name.clone(),
                };
                findings.push(dropped(entry, Reason::Malformed(error.clone())));
                continue;
            }
        };
        let checked = check_name(&g.name, policy)
            .and_then(|()| unique_name(&names, &g.name))
            .and_then(|()| unique_id(&gids, "gid", g.gid))
            .and_then(|()| {
                let gid = check_id("gid", g.gid, policy.min_gid)?;
                not_admin_gid(policy, gid)?;
                if local.has_name(&g.name) {
                    return Err(Reason::LocalName);
                }
                if local.gids.contains(&gid) {
                    return Err(Reason::LocalId {
                        field: "gid",
                        id: gid,
                    });
                }
                if g.members.len() > max_members {
                    let count = g.members.len();
                    return Err(Reason::TooManyMembers {
                        count,
                        max: max_members,
                    });
                }
                Ok(gid)
            });
        let gid = match checked {
            Ok(gid) => gid,
            Err(reason) => {
                let entry = Entry::Group {
                    index,
                    name: Some(g.name.to_string()),
                };
                findings.push(dropped(entry, reason));
                continue;
            }
        };
        let mut seen = HashSet::with_capacity(g.members.len());
        let mut members = Vec::with_capacity(g.members.len());
        for m in &g.members {
            let problem = if !users.contains(&**m) {
                Some(Reason::UnknownUser)
            } else if !seen.insert(&**m) {
                Some(Reason::DuplicateMember)
            } else {
                None
            };
            match problem {
                None => members.push(m.to_string()),
                Some(reason) => {
                    // Bounded: a hostile name must not bloat the findings.
                    let member = m.chars().take(64).collect();
                    let entry = Entry::Member {
                        group: g.name.to_string(),
                        member,
                    };
                    findings.push(dropped(entry, reason));
                }
            }
        }
        kept.push(Group {
            name: g.name.to_string(),
            gid,
            members,
        });
    }
    kept
}

/// Each CA must be a plain OpenSSH public key (not a certificate, not DSA);
/// it is kept in OpenSSH's canonical one-line form.
fn validate_user_cas(raw: &[&RawValue], findings: &mut Vec<Finding>) -> Vec<String> {
    let mut kept = Vec::with_capacity(raw.len());
    for (index, r) in raw.iter().enumerate() {
        let key = serde_json::from_str::<Cow<str>>(r.get())
            .map_err(|e| e.to_string())
            .and_then(|line| {
                ssh_key::PublicKey::from_openssh(line.trim()).map_err(|e| e.to_string())
            })
            .and_then(|k| match k.algorithm() {
                ssh_key::Algorithm::Dsa => Err("DSA keys are not accepted".to_owned()),
                _ => k.to_openssh().map_err(|e| e.to_string()),
            })
            // The compiled file stores each line with a u16 length.
            .and_then(|line| match line.len() {
                0..=65_535 => Ok(line),
                n => Err(format!("{n} bytes long, over the limit of 65535")),
            });
        match key {
            Ok(line) => kept.push(line),
            Err(e) => findings.push(dropped(Entry::UserCa { index }, Reason::BadKey(e))),
        }
    }
    kept
}

/// Revocations are kept when they can be understood; one that cannot is
/// dropped with a reason (it could not revoke anything anyway).
fn validate_revoked(
    raw: &schema::Revoked,
    policy: &Policy,
    findings: &mut Vec<Finding>,
) -> Revoked {
    let mut revoked = Revoked::default();
    let bad = |list, index| dropped(Entry::Revocation { list, index }, Reason::BadRevocation);
    for (index, r) in raw.serials.iter().enumerate() {
        match r {
            Revocation::Read(serial) => drop(revoked.serials.insert(*serial)),
            Revocation::Unreadable(_) => findings.push(bad("serials", index)),
        }
    }
    for (index, r) in raw.key_ids.iter().enumerate() {
        match r {
            // Matched exactly and never written to a colon-separated file,
            // so `:` is fine (`roster ca sign` writes `alice@2026-…T10:00:00Z#…`);
            // control characters are not, as the ID reaches the logs.
            Revocation::Read(id)
                if !id.is_empty()
                    && id.len() <= policy.limits.max_field_bytes
                    && !id.chars().any(char::is_control) =>
            {
                revoked.key_ids.insert(id.clone());
            }
            _ => findings.push(bad("key_ids", index)),
        }
    }
    for (index, r) in raw.keys.iter().enumerate() {
        match r {
            Revocation::Read(fp) if is_sha256_fingerprint(fp) => {
                revoked.keys.insert(fp.clone());
            }
            _ => findings.push(bad("keys", index)),
        }
    }
    revoked
}

/// `SHA256:` and 43 characters of unpadded base64, as `ssh-keygen -l` prints.
fn is_sha256_fingerprint(fp: &str) -> bool {
    fp.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

/// A grant names a kept shared account and kept persons. Persons who are
/// not are removed from the grant; a grant for anything else is dropped.
fn validate_grants(raw: &[&RawValue], users: &[User], findings: &mut Vec<Finding>) -> Vec<Grant> {
    let kind_of: HashMap<&str, AccountKind> =
        users.iter().map(|u| (u.name.as_str(), u.kind)).collect();
    let decoded: Vec<Result<schema::Grant, _>> = raw
        .iter()
        .map(|r| serde_json::from_str::<schema::Grant>(r.get()).map_err(|e| e.to_string()))
        .collect();
    let accounts = tally(
        decoded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|g| g.account.as_str()),
    );
    let mut kept = Vec::new();
    for (index, d) in decoded.iter().enumerate() {
        let g = match d {
            Ok(g) => g,
            Err(e) => {
                let entry = Entry::Grant {
                    index,
                    account: None,
                };
                findings.push(dropped(entry, Reason::Malformed(e.clone())));
                continue;
            }
        };
        let entry = || Entry::Grant {
            index,
            account: Some(g.account.chars().take(64).collect()),
        };
        if kind_of.get(g.account.as_str()) != Some(&AccountKind::Shared) {
            findings.push(dropped(entry(), Reason::NotSharedAccount));
            continue;
        }
        if accounts.get(g.account.as_str()).copied().unwrap_or(0) > 1 {
            findings.push(dropped(entry(), Reason::DuplicateName));
            continue;
        }
        let mut seen = HashSet::new();
        let mut persons = Vec::new();
        for p in &g.persons {
            let problem = if kind_of.get(p.as_str()) != Some(&AccountKind::Person) {
                Some(Reason::NotPerson)
            } else if !seen.insert(p.as_str()) {
                Some(Reason::DuplicateMember)
            } else {
                None
            };
            match problem {
                None => persons.push(p.clone()),
                Some(reason) => {
                    let account = g.account.clone();
                    let person = p.chars().take(64).collect();
                    findings.push(dropped(Entry::GrantPerson { account, person }, reason));
                }
            }
        }
        kept.push(Grant {
            account: g.account.clone(),
            persons,
        });
    }
    kept
}

fn dropped(entry: Entry, reason: Reason) -> Finding {
    Finding {
        entry,
        outcome: Effect::Dropped,
        reason,
    }
}

/// `^[a-z_][a-z0-9_-]{0,31}$`: the names roster serves.
pub fn valid_name(name: &str) -> Result<(), Reason> {
    let b = name.as_bytes();
    let first_ok = b
        .first()
        .is_some_and(|c| c.is_ascii_lowercase() || *c == b'_');
    let rest_ok = b
        .iter()
        .skip(1)
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-');
    if !first_ok || !rest_ok || b.len() > 32 {
        return Err(Reason::BadName);
    }
    Ok(())
}

/// A valid name that is not reserved.
fn check_name(name: &str, policy: &Policy) -> Result<(), Reason> {
    valid_name(name)?;
    let admin = policy.admin_group.as_ref().map(|a| a.name.as_str());
    if policy.reserved_names.iter().any(|r| r == name) || admin == Some(name) {
        return Err(Reason::ReservedName);
    }
    Ok(())
}

fn unique_name(counts: &HashMap<&str, usize>, name: &str) -> Result<(), Reason> {
    if counts.get(name).copied().unwrap_or(0) > 1 {
        return Err(Reason::DuplicateName);
    }
    Ok(())
}

fn unique_id(counts: &HashMap<i64, usize>, field: &'static str, id: i64) -> Result<(), Reason> {
    if counts.get(&id).copied().unwrap_or(0) > 1 {
        return Err(Reason::DuplicateId { field, id });
    }
    Ok(())
}

/// The uid/gid rules: never root, never a reserved or systemd-dynamic id,
/// never below the configured minimum, never above 2^31-1.
pub fn check_id(field: &'static str, id: i64, min: u32) -> Result<u32, Reason> {
    let problem = match id {
        0 => Some(IdProblem::Root),
        65_534 | 65_535 | 4_294_967_295 => Some(IdProblem::Reserved),
        61_184..=65_519 => Some(IdProblem::SystemdDynamic),
        i if i < i64::from(min) => Some(IdProblem::BelowMinimum(min)),
        i if i > i64::from(i32::MAX) => Some(IdProblem::AboveMaximum),
        _ => None,
    };
    match problem {
        Some(problem) => Err(Reason::BadId { field, id, problem }),
        // In range 1..=i32::MAX, so the conversion cannot fail.
        None => u32::try_from(id).map_err(|_| Reason::BadId {
            field,
            id,
            problem: IdProblem::AboveMaximum,
        }),
    }
}

/// The admin group's gid is roster's: a snapshot group with it, or a user
/// with it as primary group, would hand out sudo.
fn not_admin_gid(policy: &Policy, gid: u32) -> Result<(), Reason> {
    match &policy.admin_group {
        Some(admin) if admin.gid == gid => Err(Reason::BadId {
            field: "gid",
            id: i64::from(gid),
            problem: IdProblem::AdminGroup,
        }),
        _ => Ok(()),
    }
}

/// No NUL, newline or other control character (C0, DEL, C1), no `:`, bounded.
fn check_field(field: &'static str, value: &str, policy: &Policy) -> Result<(), Reason> {
    let problem = if value.len() > policy.limits.max_field_bytes {
        Some(FieldProblem::TooLong(policy.limits.max_field_bytes))
    } else if value.chars().any(char::is_control) {
        Some(FieldProblem::ControlCharacter)
    } else if value.contains(':') {
        Some(FieldProblem::Colon)
    } else {
        None
    };
    problem.map_or(Ok(()), |problem| Err(Reason::BadField { field, problem }))
}

/// Absolute, already normalised, and strictly below an allowed prefix.
fn check_home(home: &str, prefixes: &[String]) -> Result<(), Reason> {
    let Some(rest) = home.strip_prefix('/') else {
        return Err(Reason::BadHome(HomeProblem::NotAbsolute));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(Reason::BadHome(HomeProblem::NotNormalised));
    }
    let below = |prefix: &String| {
        let pre: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        parts.len() > pre.len() && parts.starts_with(&pre)
    };
    if !prefixes.iter().any(below) {
        return Err(Reason::BadHome(HomeProblem::NotUnderPrefix));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: UnixTime = 1_795_600_800; // 2026-11-25T10:00:00Z

    fn local() -> LocalTables {
        LocalTables::parse(
            "root:x:0:0:root:/root:/bin/bash\nlocaluser:x:10500:10500::/home/l:/bin/sh\n",
            "root:x:0:\nlocalgroup:x:10600:\nlocaluser:x:10500:\n",
            "/bin/sh\n/bin/bash\n",
        )
    }

    fn user(name: &str, uid: i64) -> serde_json::Value {
        json!({"name": name, "uid": uid, "gid": uid, "gecos": "", "home": format!("/home/{name}"),
               "shell": "/bin/bash", "state": "active", "role": "user", "kind": "person"})
    }

    fn doc(users: Vec<serde_json::Value>, groups: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "format": "roster-snapshot/1", "serial": 3,
            "issued_at": "2026-11-25T09:00:00Z", "valid_until": "2026-12-25T09:00:00Z",
            "users": users, "groups": groups,
        }))
        .unwrap()
    }

    fn run(users: Vec<serde_json::Value>, groups: Vec<serde_json::Value>) -> Snapshot {
        validate(&doc(users, groups), &Policy::default(), &local(), NOW).unwrap()
    }

    /// The single finding a one-user snapshot produces.
    fn reason_for(u: serde_json::Value) -> Reason {
        let s = run(vec![u], vec![]);
        assert_eq!(s.findings.len(), 1, "{:?}", s.findings);
        s.findings[0].reason.clone()
    }

    fn with(mut u: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
        u[key] = value;
        u
    }

    #[test]
    fn keeps_a_good_snapshot_whole() {
        let s = run(
            vec![user("alice", 10001), user("bob", 10002)],
            vec![json!({"name": "devs", "gid": 10010, "members": ["alice", "bob"]})],
        );
        assert!(s.findings.is_empty());
        assert_eq!(s.serial, 3);
        assert_eq!(s.users[0].name, "alice");
        assert_eq!(s.users[0].role, Role::User);
        assert_eq!(s.groups[0].members, ["alice", "bob"]);
    }

    #[test]
    fn bad_names_are_dropped() {
        for name in [
            "Alice",
            "1abc",
            "",
            "a b",
            "a:b",
            "ab.c",
            "é",
            &"a".repeat(33),
        ] {
            assert_eq!(reason_for(user(name, 10001)), Reason::BadName, "{name:?}");
        }
        assert!(
            run(vec![user(&"a".repeat(32), 10001)], vec![])
                .findings
                .is_empty()
        );
        assert!(run(vec![user("_svc-1", 10001)], vec![]).findings.is_empty());
        assert_eq!(reason_for(user("nobody", 10001)), Reason::ReservedName);
    }

    #[test]
    fn every_id_rule_holds() {
        let cases = [
            (0, IdProblem::Root),
            (65_534, IdProblem::Reserved),
            (65_535, IdProblem::Reserved),
            (4_294_967_295, IdProblem::Reserved),
            (61_184, IdProblem::SystemdDynamic),
            (65_519, IdProblem::SystemdDynamic),
            (9_999, IdProblem::BelowMinimum(10_000)),
            (-1, IdProblem::BelowMinimum(10_000)),
            (2_147_483_648, IdProblem::AboveMaximum),
        ];
        for (id, problem) in cases {
            assert_eq!(
                reason_for(user("alice", id)),
                Reason::BadId {
                    field: "uid",
                    id,
                    problem
                },
                "uid {id}"
            );
        }
        let u = with(user("alice", 10001), "gid", json!(0));
        assert_eq!(
            reason_for(u),
            Reason::BadId {
                field: "gid",
                id: 0,
                problem: IdProblem::Root
            }
        );
        assert!(
            run(vec![user("alice", 2_147_483_647)], vec![])
                .findings
                .is_empty()
        );
        assert!(run(vec![user("alice", 65_520)], vec![]).findings.is_empty());
    }

    #[test]
    fn local_accounts_win() {
        assert_eq!(reason_for(user("localuser", 10001)), Reason::LocalName);
        assert_eq!(reason_for(user("localgroup", 10001)), Reason::LocalName);
        assert_eq!(reason_for(user("root", 10001)), Reason::ReservedName);
        assert_eq!(
            reason_for(user("alice", 10500)),
            Reason::LocalId {
                field: "uid",
                id: 10500
            }
        );
        let u = with(user("alice", 10001), "gid", json!(10600));
        assert_eq!(
            reason_for(u),
            Reason::LocalId {
                field: "gid",
                id: 10600
            }
        );
        let s = run(vec![], vec![json!({"name": "x", "gid": 10600})]);
        assert_eq!(
            s.findings[0].reason,
            Reason::LocalId {
                field: "gid",
                id: 10600
            }
        );
        let s = run(vec![], vec![json!({"name": "localuser", "gid": 10700})]);
        assert_eq!(s.findings[0].reason, Reason::LocalName);
    }

    #[test]
    fn duplicates_drop_every_copy() {
        let s = run(
            vec![
                user("alice", 10001),
                user("alice", 10002),
                user("bob", 10003),
                user("carol", 10003),
            ],
            vec![
                json!({"name": "g", "gid": 10010}),
                json!({"name": "g", "gid": 10011}),
                json!({"name": "h", "gid": 10020}),
                json!({"name": "i", "gid": 10020}),
            ],
        );
        assert!(s.users.is_empty() && s.groups.is_empty());
        let reasons: Vec<_> = s.findings.iter().map(|f| f.reason.clone()).collect();
        assert_eq!(
            reasons,
            [
                Reason::DuplicateName,
                Reason::DuplicateName,
                Reason::DuplicateId {
                    field: "uid",
                    id: 10003
                },
                Reason::DuplicateId {
                    field: "uid",
                    id: 10003
                },
                Reason::DuplicateName,
                Reason::DuplicateName,
                Reason::DuplicateId {
                    field: "gid",
                    id: 10020
                },
                Reason::DuplicateId {
                    field: "gid",
                    id: 10020
                },
            ]
        );
    }

    #[test]
    fn fields_reject_control_characters_and_colons() {
        for (field, value, problem) in [
            ("gecos", "a\nb", FieldProblem::ControlCharacter),
            ("gecos", "a\0b", FieldProblem::ControlCharacter),
            ("gecos", "a\u{85}b", FieldProblem::ControlCharacter),
            ("gecos", "a\u{7f}", FieldProblem::ControlCharacter),
            ("gecos", "a:b", FieldProblem::Colon),
            ("shell", "/bin/ba:sh", FieldProblem::Colon),
            ("home", "/home/a\tb", FieldProblem::ControlCharacter),
        ] {
            let u = with(user("alice", 10001), field, json!(value));
            assert_eq!(
                reason_for(u),
                Reason::BadField { field, problem },
                "{field}={value:?}"
            );
        }
        let u = with(user("alice", 10001), "gecos", json!("x".repeat(257)));
        let problem = FieldProblem::TooLong(256);
        assert_eq!(
            reason_for(u),
            Reason::BadField {
                field: "gecos",
                problem
            }
        );
        let u = with(user("alice", 10001), "gecos", json!("Zoë Ångström, Room 4"));
        assert!(run(vec![u], vec![]).findings.is_empty());
    }

    #[test]
    fn homes_must_be_normalised_and_below_a_prefix() {
        for (home, problem) in [
            ("home/alice", HomeProblem::NotAbsolute),
            ("/home/../etc", HomeProblem::NotNormalised),
            ("/home/./alice", HomeProblem::NotNormalised),
            ("/home//alice", HomeProblem::NotNormalised),
            ("/home/alice/", HomeProblem::NotNormalised),
            ("/", HomeProblem::NotNormalised),
            ("/home", HomeProblem::NotUnderPrefix),
            ("/homes/alice", HomeProblem::NotUnderPrefix),
            ("/root", HomeProblem::NotUnderPrefix),
        ] {
            let u = with(user("alice", 10001), "home", json!(home));
            assert_eq!(reason_for(u), Reason::BadHome(problem), "{home}");
        }
        let u = with(user("alice", 10001), "home", json!("/home/team/alice"));
        assert!(run(vec![u], vec![]).findings.is_empty());
    }

    #[test]
    fn unknown_shells_are_replaced_not_dropped() {
        let u = with(user("alice", 10001), "shell", json!("/bin/bash -c evil"));
        let s = run(vec![u], vec![]);
        assert_eq!(s.users[0].shell, "/bin/sh");
        assert_eq!(s.findings[0].outcome, Effect::Adjusted);
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn malformed_entries_are_dropped_alone() {
        let s = run(
            vec![
                with(user("alice", 10001), "uid", json!("10001")),
                with(user("bob", 10002), "state", json!("suspended")),
                json!(42),
                user("carol", 10003),
            ],
            vec![json!({"name": "g"}), json!({"name": "h", "gid": 10011})],
        );
        assert_eq!(s.users.len(), 1);
        assert_eq!(s.groups.len(), 1);
        let names: Vec<String> = s.findings.iter().map(|f| f.entry.to_string()).collect();
        assert_eq!(
            names,
            [
                "user \"alice\" (users[0])",
                "user \"bob\" (users[1])",
                "users[2]",
                "group \"g\" (groups[0])"
            ]
        );
        assert!(
            s.findings
                .iter()
                .all(|f| matches!(f.reason, Reason::Malformed(_)))
        );
    }

    #[test]
    fn members_must_be_kept_snapshot_users() {
        let s = run(
            vec![user("alice", 10001), user("bad:x", 10002)],
            vec![json!({"name": "devs", "gid": 10010,
                        "members": ["alice", "root", "ghost", "bad:x", "alice"]})],
        );
        assert_eq!(s.groups[0].members, ["alice"]);
        let reasons: Vec<_> = s
            .findings
            .iter()
            .skip(1)
            .map(|f| f.reason.clone())
            .collect();
        assert_eq!(
            reasons,
            [
                Reason::UnknownUser,
                Reason::UnknownUser,
                Reason::UnknownUser,
                Reason::DuplicateMember
            ]
        );
    }

    #[test]
    fn too_many_members_drops_the_group() {
        let policy = Policy {
            limits: Limits {
                max_members_per_group: 2,
                ..Limits::default()
            },
            ..Policy::default()
        };
        let json = doc(
            vec![user("a", 10001), user("b", 10002), user("c", 10003)],
            vec![json!({"name": "g", "gid": 10010, "members": ["a", "b", "c"]})],
        );
        let s = validate(&json, &policy, &local(), NOW).unwrap();
        assert!(s.groups.is_empty());
        assert_eq!(
            s.findings[0].reason,
            Reason::TooManyMembers { count: 3, max: 2 }
        );
    }

    #[test]
    fn whole_document_problems_reject_it() {
        let ok = doc(vec![user("alice", 10001)], vec![]);
        let v = |json: &[u8]| validate(json, &Policy::default(), &local(), NOW);
        assert!(v(&ok).is_ok());
        assert!(matches!(v(b"{"), Err(SourceError::NotJson(_))));
        assert!(matches!(v(b"[]"), Err(SourceError::NotJson(_))));
        let mut wrong: serde_json::Value = serde_json::from_slice(&ok).unwrap();
        wrong["format"] = json!("roster-snapshot/2");
        assert!(matches!(
            v(&serde_json::to_vec(&wrong).unwrap()),
            Err(SourceError::WrongFormat(_))
        ));
        let mut no_users: serde_json::Value = serde_json::from_slice(&ok).unwrap();
        no_users.as_object_mut().unwrap().remove("users");
        assert!(matches!(
            v(&serde_json::to_vec(&no_users).unwrap()),
            Err(SourceError::NotJson(_))
        ));
        // An optional field, when present, is of its type: `null` is not absent.
        let mut null_revoked: serde_json::Value = serde_json::from_slice(&ok).unwrap();
        null_revoked["revoked"] = json!(null);
        assert!(matches!(
            v(&serde_json::to_vec(&null_revoked).unwrap()),
            Err(SourceError::NotJson(_))
        ));
        let expired = validate(&ok, &Policy::default(), &local(), NOW + 86_400 * 31);
        assert!(matches!(expired, Err(SourceError::Expired { .. })));
        let mut bad_time: serde_json::Value = serde_json::from_slice(&ok).unwrap();
        bad_time["issued_at"] = json!("yesterday");
        let r = v(&serde_json::to_vec(&bad_time).unwrap());
        assert!(matches!(
            r,
            Err(SourceError::BadTime {
                field: "issued_at",
                ..
            })
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(v(deep.as_bytes()), Err(SourceError::NotJson(_))));
        let policy = Policy {
            limits: Limits {
                max_document_bytes: 10,
                ..Limits::default()
            },
            ..Policy::default()
        };
        let r = validate(&ok, &policy, &local(), NOW);
        assert!(matches!(r, Err(SourceError::TooLarge { max: 10, .. })));
    }

    #[test]
    fn unknown_top_level_fields_are_ignored() {
        let mut d: serde_json::Value = serde_json::from_slice(&doc(vec![], vec![])).unwrap();
        d["future_field"] = json!({"x": 1});
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert!(s.findings.is_empty());
    }

    #[test]
    fn user_cas_keep_only_plain_public_keys() {
        const CA: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6EOPB3j2MNtlM8OduXusAUzKMEbXHBvBVvUNTxXTc";
        let mut d: serde_json::Value = serde_json::from_slice(&doc(vec![], vec![])).unwrap();
        d["user_cas"] = json!([
            format!("{CA} ca-2026"),
            "ssh-ed25519 AAAA",
            "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t",
            42
        ]);
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert_eq!(s.user_cas, [format!("{CA} ca-2026")]);
        let dropped: Vec<String> = s.findings.iter().map(|f| f.entry.to_string()).collect();
        assert_eq!(dropped, ["user_cas[1]", "user_cas[2]", "user_cas[3]"]);
    }

    /// Found with fuzz/'s `snapshot_validate` target: a CA line with a
    /// comment of 64 KiB or more was kept, and then the snapshot could not be
    /// compiled (`FormatError::TooLarge`), so one entry failed the whole sync.
    #[test]
    fn user_cas_too_long_to_compile_are_dropped() {
        const CA: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6EOPB3j2MNtlM8OduXusAUzKMEbXHBvBVvUNTxXTc";
        let mut d: serde_json::Value = serde_json::from_slice(&doc(vec![], vec![])).unwrap();
        let longest = format!("{CA} {}", "x".repeat(65_535 - CA.len() - 1));
        d["user_cas"] = json!([format!("{longest}x"), longest]);
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert_eq!(s.user_cas, [longest]);
        assert_eq!(s.findings[0].entry, Entry::UserCa { index: 0 });
        let host = crate::host::compiled::HostPolicy::with_defaults("h");
        assert!(crate::host::compiled::compile(&s, &host, NOW).is_ok());
    }

    #[test]
    fn revocations_keep_what_can_be_understood() {
        let mut d: serde_json::Value = serde_json::from_slice(&doc(vec![], vec![])).unwrap();
        let fp = format!("SHA256:{}", "A".repeat(43));
        d["revoked"] = json!({
            "serials": [7, -1, "8"],
            "key_ids": ["alice@laptop", "bad\nid", ""],
            "keys": [fp, "MD5:aa:bb", "SHA256:short"],
        });
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert_eq!(s.revoked.serials.iter().copied().collect::<Vec<_>>(), [7]);
        assert_eq!(
            s.revoked.key_ids.iter().collect::<Vec<_>>(),
            ["alice@laptop"]
        );
        assert_eq!(s.revoked.keys.iter().collect::<Vec<_>>(), [&fp]);
        let entries: Vec<String> = s.findings.iter().map(|f| f.entry.to_string()).collect();
        assert_eq!(
            entries,
            [
                "revoked.serials[1]",
                "revoked.serials[2]",
                "revoked.key_ids[1]",
                "revoked.key_ids[2]",
                "revoked.keys[1]",
                "revoked.keys[2]"
            ]
        );
    }

    /// Found by the test of docs/snapshot.md's examples: a key ID with a
    /// `:` was dropped as if it were a passwd field, and every key ID that
    /// `roster ca sign` writes has one (its time), so none could be revoked.
    #[test]
    fn key_ids_with_a_colon_are_revoked() {
        let mut d: serde_json::Value = serde_json::from_slice(&doc(vec![], vec![])).unwrap();
        let id = "alice@2026-11-25T10:00:00Z#5f3a9c21";
        d["revoked"] = json!({"key_ids": [id]});
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert_eq!(s.revoked.key_ids.iter().collect::<Vec<_>>(), [id]);
        assert!(s.findings.is_empty(), "{:?}", s.findings);
    }

    #[test]
    fn grants_name_a_shared_account_and_persons() {
        let shared = |name: &str, uid| with(user(name, uid), "kind", json!("shared"));
        let service = with(user("backup", 10009), "kind", json!("service"));
        let mut d: serde_json::Value = serde_json::from_slice(&doc(
            vec![
                user("alice", 10001),
                user("bob", 10002),
                shared("deploy", 10003),
                service,
            ],
            vec![],
        ))
        .unwrap();
        d["grants"] = json!([
            {"account": "deploy", "persons": ["alice", "backup", "ghost", "alice", "bob"]},
            {"account": "alice", "persons": ["bob"]},
            {"account": "deploy2", "persons": []},
            {"account": "deploy"},
        ]);
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert_eq!(s.grants.len(), 1);
        assert_eq!(s.grants[0].persons, ["alice", "bob"]);
        let reasons: Vec<String> = s.findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "dropped person \"backup\" of the grant for \"deploy\": not a person of this snapshot",
                "dropped person \"ghost\" of the grant for \"deploy\": not a person of this snapshot",
                "dropped person \"alice\" of the grant for \"deploy\": listed twice",
                "dropped grant for \"alice\" (grants[1]): account is not a shared account of this snapshot",
                "dropped grant for \"deploy2\" (grants[2]): account is not a shared account of this snapshot",
                "dropped grants[3]: malformed entry: missing field `persons` at line 1 column 20",
            ]
        );
    }

    #[test]
    fn the_admin_group_holds_active_admins_and_its_name_and_gid_are_reserved() {
        let policy = Policy {
            admin_group: Some(AdminGroup {
                name: "roster-admins".into(),
                gid: 19999,
            }),
            ..Policy::default()
        };
        let admin = |name: &str, uid| with(user(name, uid), "role", json!("admin"));
        let json = doc(
            vec![
                admin("alice", 10001),
                user("bob", 10002),
                with(admin("carol", 10003), "state", json!("disabled")),
                with(user("mallory", 10004), "gid", json!(19999)),
            ],
            vec![
                json!({"name": "roster-admins", "gid": 10010, "members": ["bob"]}),
                json!({"name": "sneaky", "gid": 19999, "members": ["bob"]}),
            ],
        );
        let s = validate(&json, &policy, &local(), NOW).unwrap();
        let admins = s.groups.iter().find(|g| g.gid == 19999).unwrap();
        assert_eq!(
            (admins.name.as_str(), admins.members.clone()),
            ("roster-admins", vec!["alice".to_owned()])
        );
        assert_eq!(s.groups.len(), 1);
        let reasons: Vec<String> = s.findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "dropped user \"mallory\" (users[3]): gid 19999 is the admin group's gid",
                "dropped group \"roster-admins\" (groups[0]): name is reserved",
                "dropped group \"sneaky\" (groups[1]): gid 19999 is the admin group's gid",
            ]
        );
        // A local group with the name (or gid) wins: no admin group at all.
        let local = LocalTables::parse("", "roster-admins:x:500:\n", "/bin/sh\n/bin/bash\n");
        let s = validate(
            &doc(vec![admin("alice", 10001)], vec![]),
            &policy,
            &local,
            NOW,
        )
        .unwrap();
        assert!(s.groups.is_empty());
        assert_eq!(
            s.findings[0].to_string(),
            "dropped admin group \"roster-admins\": name belongs to a local account or group"
        );
    }

    #[test]
    fn sudo_rules_are_checked_so_nothing_can_inject_sudoers_syntax() {
        let mut d: serde_json::Value = serde_json::from_slice(&doc(
            vec![user("alice", 10001)],
            vec![json!({"name": "web", "gid": 10010, "members": ["alice"]})],
        ))
        .unwrap();
        let rule = |commands: serde_json::Value| json!({"group": "web", "commands": commands});
        d["sudo"] = json!([
            rule(json!(["/usr/bin/systemctl restart nginx"])),
            rule(json!(["/usr/bin/systemctl restart nginx, /bin/sh"])),
            rule(json!(["ALL"])),
            rule(json!(["/usr/bin/x\nALL ALL=(ALL) ALL"])),
            rule(json!(["/usr/../bin/sh"])),
            rule(json!(["/usr/bin/vi /etc/shadow:x"])),
            rule(json!([])),
            json!({"group": "nosuch", "commands": ["/bin/true"]}),
            json!({"group": "web", "commands": ["/bin/true"], "runas": "root ALL"}),
            json!({"group": "web", "commands": ["/bin/true"], "hosts": ["db"]}),
            json!({"group": "web", "commands": ["/usr/bin/id -u"], "runas": "postgres", "nopasswd": false, "noexec": true}),
        ]);
        let json = serde_json::to_vec(&d).unwrap();
        let s = validate(&json, &Policy::default(), &local(), NOW).unwrap();
        assert_eq!(s.sudo.len(), 2);
        assert_eq!(s.sudo[0].commands, ["/usr/bin/systemctl restart nginx"]);
        assert!(s.sudo[0].nopasswd && !s.sudo[0].noexec && s.sudo[0].runas == "root");
        assert_eq!(
            (
                s.sudo[1].runas.as_str(),
                s.sudo[1].nopasswd,
                s.sudo[1].noexec
            ),
            ("postgres", false, true)
        );
        let dropped: Vec<String> = s.findings.iter().map(|f| f.entry.to_string()).collect();
        assert_eq!(dropped.len(), 9, "{dropped:?}");
        assert!(
            s.findings
                .iter()
                .all(|f| matches!(f.reason, Reason::BadSudoRule(_)))
        );
    }

    #[test]
    fn a_home_belongs_to_the_first_user_kept_with_it() {
        let home = |u: serde_json::Value, h: &str| with(u, "home", json!(h));
        let service = with(user("backup", 10007), "kind", json!("service"));
        let s = run(
            vec![
                user("alice", 10001),
                home(user("bob", 10002), "/home/alice"),
                home(user("carol", 10003), "/home/alice/carol"),
                home(user("dave", 10004), "/home/team/dave"),
                home(user("erin", 10005), "/home/team"),
                // Dropped for its uid: its home stays free for the next.
                home(user("frank", 0), "/home/shared"),
                home(user("gina", 10006), "/home/shared"),
                // Service accounts too: roster never creates their home, but
                // sshd runs ~/.ssh/rc and the shell reads dotfiles there.
                home(service, "/home/alice"),
                home(user("hank", 10008), "/home/alicex"),
                home(user("ivan", 10009), "/home/alice/deep/ivan"),
                home(user("judy", 10010), "/home/team/dave/x/judy"),
            ],
            vec![],
        );
        let kept: Vec<&str> = s.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(kept, ["alice", "dave", "gina", "hank"]);
        let reasons: Vec<String> = s.findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "dropped user \"bob\" (users[1]): home \"/home/alice\" is already the home of \
                 user \"alice\" (users[0])",
                "dropped user \"carol\" (users[2]): home \"/home/alice/carol\" is inside the home \
                 of user \"alice\" (users[0])",
                "dropped user \"erin\" (users[4]): home \"/home/team\" contains the home of user \
                 \"dave\" (users[3])",
                "dropped user \"frank\" (users[5]): uid 0 is root's",
                "dropped user \"backup\" (users[7]): home \"/home/alice\" is already the home of \
                 user \"alice\" (users[0])",
                "dropped user \"ivan\" (users[9]): home \"/home/alice/deep/ivan\" is inside the \
                 home of user \"alice\" (users[0])",
                "dropped user \"judy\" (users[10]): home \"/home/team/dave/x/judy\" is inside the \
                 home of user \"dave\" (users[3])",
            ]
        );
        // The dropped users are not served, so they are members of nothing.
        let s = run(
            vec![
                user("alice", 10001),
                home(user("bob", 10002), "/home/alice"),
            ],
            vec![json!({"name": "devs", "gid": 10010, "members": ["alice", "bob"]})],
        );
        assert_eq!(s.groups[0].members, ["alice"]);
    }

    /// A snapshot with alice in group `web` and these sudo rules.
    fn with_sudo(rules: serde_json::Value) -> Snapshot {
        let mut d: serde_json::Value = serde_json::from_slice(&doc(
            vec![user("alice", 10001)],
            vec![json!({"name": "web", "gid": 10010, "members": ["alice"]})],
        ))
        .unwrap();
        d["sudo"] = rules;
        let json = serde_json::to_vec(&d).unwrap();
        validate(&json, &Policy::default(), &local(), NOW).unwrap()
    }

    #[test]
    fn root_equivalent_sudo_rules_are_kept_only_when_marked() {
        let s = with_sudo(json!([
            {"group": "web", "commands": ["/usr/bin/id -u"], "setenv": true},
            {"group": "web", "commands": ["/usr/bin/id -u"], "setenv": true, "root_equivalent": true},
            {"group": "web", "commands": ["/usr/bin/env"]},
            {"group": "web", "commands": ["/usr/bin/env"], "root_equivalent": true},
            {"group": "web", "commands": ["/usr/bin/id", "/usr/bin/foo LD_PRELOAD"]},
            // sudoers' env_keep has no place in the schema: an unknown field.
            {"group": "web", "commands": ["/usr/bin/id"], "env_keep": ["LD_PRELOAD"]},
            {"group": "web", "commands": ["/usr/bin/id"], "root_equivalent": "yes"},
            {"group": "web", "commands": ["/usr/bin/id"], "nopasswd": null},
            // Marked by the service though roster sees nothing: kept as marked.
            {"group": "web", "commands": ["/usr/bin/vim"], "root_equivalent": true},
            {"group": "web", "commands": ["/usr/bin/id -u"], "root_equivalent": false},
        ]));
        let kept: Vec<(&str, bool, bool)> = s
            .sudo
            .iter()
            .map(|r| (r.commands[0].as_str(), r.setenv, r.root_equivalent))
            .collect();
        assert_eq!(
            kept,
            [
                ("/usr/bin/id -u", true, true),
                ("/usr/bin/env", false, true),
                ("/usr/bin/vim", false, true),
                ("/usr/bin/id -u", false, false),
            ]
        );
        let reasons: Vec<String> = s.findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "dropped sudo rule for \"web\" (sudo[0]): root-equivalent but not marked \
                 \"root_equivalent\": the SETENV tag lets its users set any variable, LD_PRELOAD \
                 included",
                "dropped sudo rule for \"web\" (sudo[2]): root-equivalent but not marked \
                 \"root_equivalent\": command \"/usr/bin/env\" sets the environment and runs any \
                 command",
                "dropped sudo rule for \"web\" (sudo[4]): root-equivalent but not marked \
                 \"root_equivalent\": command \"/usr/bin/foo LD_PRELOAD\" passes the environment \
                 variable \"LD_PRELOAD\"",
                "dropped sudo[5]: sudo rule refused: unknown field `env_keep`, expected one of \
                 `commands`, `group`, `noexec`, `nopasswd`, `root_equivalent`, `runas`, `setenv` \
                 at line 1 column 38",
                "dropped sudo[6]: sudo rule refused: invalid type: string \"yes\", expected a \
                 boolean at line 1 column 65",
                "dropped sudo[7]: sudo rule refused: invalid type: null, expected a boolean at \
                 line 1 column 57",
            ]
        );
    }
}
