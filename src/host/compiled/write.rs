//! [`Snapshot`] → compiled bytes.

use super::blob::BlobWriter;
use super::{FormatError, HEADER_LEN, HostPolicy, MAGIC, REQUIRED, SECTION_LEN, Section, VERSION};
use super::{hash_id, hash_name};
use crate::snapshot::{AccountKind, AccountState, Role, Snapshot};
use crate::time::UnixTime;
use std::collections::{HashMap, HashSet};

/// Fixed part of a user record (see `docs/compiled-format.md`).
pub(crate) const USER_FIXED: usize = 32;
/// User record flag: a sudo rule of the snapshot applies to this user.
pub(crate) const FLAG_SUDO_RULES: u8 = 1;
/// Sudo rule flag: the snapshot marks the rule root-equivalent.
pub(crate) const FLAG_ROOT_EQUIVALENT: u8 = 1;
/// Fixed part of a group record.
pub(crate) const GROUP_FIXED: usize = 20;

pub(crate) fn state_code(s: AccountState) -> u8 {
    match s {
        AccountState::Active => 1,
        AccountState::Disabled => 2,
    }
}

pub(crate) fn role_code(r: Role) -> u8 {
    match r {
        Role::None => 0,
        Role::User => 1,
        Role::Admin => 2,
    }
}

pub(crate) fn kind_code(k: AccountKind) -> u8 {
    match k {
        AccountKind::Person => 1,
        AccountKind::Shared => 2,
        AccountKind::Service => 3,
    }
}

/// Compiles a validated snapshot with this host's policy. `compiled_at` is
/// recorded in the header.
pub fn compile(
    snapshot: &Snapshot,
    host: &HostPolicy,
    compiled_at: UnixTime,
) -> Result<Vec<u8>, FormatError> {
    // Per-user supplementary groups, in snapshot group order.
    let mut groups_of: HashMap<&str, Vec<u32>> = HashMap::new();
    for g in &snapshot.groups {
        for m in &g.members {
            groups_of.entry(m.as_str()).or_default().push(g.gid);
        }
    }
    // Users a sudo rule applies to: sudo's PAM account check lets them in.
    let entitled: HashSet<&str> = snapshot
        .groups
        .iter()
        .filter(|g| snapshot.sudo.iter().any(|r| r.group == g.name))
        .flat_map(|g| g.members.iter().map(String::as_str))
        .collect();

    let mut users = Vec::new();
    let mut user_keys = Vec::with_capacity(snapshot.users.len());
    for u in &snapshot.users {
        let offset = u32_len(users.len(), "users section")?;
        user_keys.push((hash_name(u.name.as_bytes()), hash_id(u.uid), offset));
        let gids = groups_of
            .get(u.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        let mut r = Vec::with_capacity(USER_FIXED + 64);
        r.extend_from_slice(&[0; 8]); // length and CRC, filled in by seal()
        r.extend_from_slice(&u.uid.to_le_bytes());
        r.extend_from_slice(&u.gid.to_le_bytes());
        r.extend_from_slice(&[state_code(u.state), role_code(u.role), kind_code(u.kind)]);
        r.push(u8::try_from(u.name.len()).map_err(|_| FormatError::TooLarge("user name"))?);
        for field in [&u.gecos, &u.home, &u.shell] {
            r.extend_from_slice(&u16_len(field.len())?.to_le_bytes());
        }
        r.push(u8::from(entitled.contains(u.name.as_str())) * FLAG_SUDO_RULES);
        r.push(0);
        r.extend_from_slice(&u32_len(gids.len(), "group list")?.to_le_bytes());
        for field in [&u.name, &u.gecos, &u.home, &u.shell] {
            r.extend_from_slice(field.as_bytes());
        }
        for gid in gids {
            r.extend_from_slice(&gid.to_le_bytes());
        }
        seal(&mut r)?;
        users.extend_from_slice(&r);
    }

    let mut groups = Vec::new();
    let mut group_keys = Vec::with_capacity(snapshot.groups.len());
    for g in &snapshot.groups {
        let offset = u32_len(groups.len(), "groups section")?;
        group_keys.push((hash_name(g.name.as_bytes()), hash_id(g.gid), offset));
        let mut r = Vec::with_capacity(GROUP_FIXED + 16 * g.members.len());
        r.extend_from_slice(&[0; 8]);
        r.extend_from_slice(&g.gid.to_le_bytes());
        r.extend_from_slice(&u32_len(g.members.len(), "member list")?.to_le_bytes());
        r.push(u8::try_from(g.name.len()).map_err(|_| FormatError::TooLarge("group name"))?);
        r.extend_from_slice(&[0; 3]);
        r.extend_from_slice(g.name.as_bytes());
        // Each member's offset in the text (u32), then the text: the names,
        // each followed by a NUL. The NSS module copies the text in one go
        // and computes each pointer from its offset, with no chain of
        // dependent loads through the names.
        let mut text = Vec::new();
        for m in &g.members {
            let offset = u32_len(text.len(), "member list")?;
            r.extend_from_slice(&offset.to_le_bytes());
            text.extend_from_slice(m.as_bytes());
            text.push(0);
        }
        r.extend_from_slice(&text);
        seal(&mut r)?;
        groups.extend_from_slice(&r);
    }

    let count = |n: usize| u32_len(n, "entry count");
    let sections: [(Section, u32, Vec<u8>); 11] = [
        (Section::Users, count(user_keys.len())?, users),
        (
            Section::UserNames,
            0,
            index(user_keys.iter().map(|k| (k.0, k.2))),
        ),
        (
            Section::UserUids,
            0,
            index(user_keys.iter().map(|k| (k.1, k.2))),
        ),
        (Section::Groups, count(group_keys.len())?, groups),
        (
            Section::GroupNames,
            0,
            index(group_keys.iter().map(|k| (k.0, k.2))),
        ),
        (
            Section::GroupGids,
            0,
            index(group_keys.iter().map(|k| (k.1, k.2))),
        ),
        (Section::Policy, 1, policy_section(host)?),
        (
            Section::UserCas,
            count(snapshot.user_cas.len())?,
            cas_section(snapshot)?,
        ),
        (Section::Revoked, 1, revoked_section(snapshot)?),
        (
            Section::Grants,
            count(snapshot.grants.len())?,
            grants_section(snapshot)?,
        ),
        (
            Section::SudoRules,
            count(snapshot.sudo.len())?,
            sudo_section(snapshot)?,
        ),
    ];
    debug_assert!(sections.iter().map(|s| s.0).eq(REQUIRED));

    let table_end = HEADER_LEN + SECTION_LEN * sections.len();
    let mut out = vec![0u8; table_end];
    for (i, (kind, items, body)) in sections.iter().enumerate() {
        // Index slot count is the table's item count; records carry their own.
        let items = if kind.is_index() {
            count(body.len() / 8)?
        } else {
            *items
        };
        let offset = out.len() as u64;
        let entry = &mut out[HEADER_LEN + i * SECTION_LEN..][..SECTION_LEN];
        entry[0..4].copy_from_slice(&(*kind as u32).to_le_bytes());
        entry[4..8].copy_from_slice(&items.to_le_bytes());
        entry[8..16].copy_from_slice(&offset.to_le_bytes());
        entry[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
    }
    let body_crc = crc32fast::hash(&out[table_end..]);
    let file_len = out.len() as u64;
    let h = &mut out[..HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(sections.len() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&snapshot.serial.to_le_bytes());
    h[24..32].copy_from_slice(&snapshot.issued_at.to_le_bytes());
    h[32..40].copy_from_slice(&snapshot.valid_until.to_le_bytes());
    h[40..48].copy_from_slice(&compiled_at.to_le_bytes());
    h[48..56].copy_from_slice(&file_len.to_le_bytes());
    h[56..60].copy_from_slice(&body_crc.to_le_bytes());
    // The header CRC covers the header (with this field zero) and the table.
    let header_crc = crc32fast::hash(&out[..table_end]);
    out[60..64].copy_from_slice(&header_crc.to_le_bytes());
    Ok(out)
}

fn policy_section(host: &HostPolicy) -> Result<Vec<u8>, FormatError> {
    let mut w = BlobWriter::default();
    w.u64(host.max_age_secs)
        .u64(host.max_cert_lifetime_secs)
        .u64(host.clock_skew_secs)
        .u8(u8::from(host.require_host_binding))
        .str(&host.host_name)?
        .count(host.host_labels.len())?;
    for label in &host.host_labels {
        w.str(label)?;
    }
    Ok(w.finish())
}

fn cas_section(snapshot: &Snapshot) -> Result<Vec<u8>, FormatError> {
    let mut w = BlobWriter::default();
    w.count(snapshot.user_cas.len())?;
    for ca in &snapshot.user_cas {
        w.str(ca)?;
    }
    Ok(w.finish())
}

fn revoked_section(snapshot: &Snapshot) -> Result<Vec<u8>, FormatError> {
    let r = &snapshot.revoked;
    let mut w = BlobWriter::default();
    w.count(r.serials.len())?;
    for serial in &r.serials {
        w.u64(*serial);
    }
    for list in [&r.key_ids, &r.keys] {
        w.count(list.len())?;
        for item in list {
            w.str(item)?;
        }
    }
    Ok(w.finish())
}

fn grants_section(snapshot: &Snapshot) -> Result<Vec<u8>, FormatError> {
    let mut w = BlobWriter::default();
    w.count(snapshot.grants.len())?;
    for g in &snapshot.grants {
        w.str(&g.account)?.count(g.persons.len())?;
        for p in &g.persons {
            w.str(p)?;
        }
    }
    Ok(w.finish())
}

/// Each kept sudo rule: flags, group, run-as user, commands. Read only by
/// `roster explain`; sudo itself reads the rendered sudoers file.
fn sudo_section(snapshot: &Snapshot) -> Result<Vec<u8>, FormatError> {
    let mut w = BlobWriter::default();
    w.count(snapshot.sudo.len())?;
    for r in &snapshot.sudo {
        w.u8(u8::from(r.root_equivalent) * FLAG_ROOT_EQUIVALENT)
            .str(&r.group)?
            .str(&r.runas)?
            .count(r.commands.len())?;
        for c in &r.commands {
            w.str(c)?;
        }
    }
    Ok(w.finish())
}

/// Fills in a record's length and the CRC of everything after the CRC field.
fn seal(r: &mut [u8]) -> Result<(), FormatError> {
    let len = u32_len(r.len(), "record")?;
    r[0..4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&r[8..]);
    r[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// An open-addressing hash table with linear probing, load ≤ 1/2.
/// Slot: u32 tag (high hash bits), u32 record offset + 1 (0 = empty).
fn index(keys: impl ExactSizeIterator<Item = (u64, u32)>) -> Vec<u8> {
    let slots = (keys.len() * 2).max(8).next_power_of_two();
    let mask = slots - 1;
    let mut table = vec![0u8; slots * 8];
    for (hash, offset) in keys {
        let mut i = (hash as usize) & mask;
        while table[i * 8 + 4..i * 8 + 8] != [0; 4] {
            i = (i + 1) & mask;
        }
        table[i * 8..i * 8 + 4].copy_from_slice(&((hash >> 32) as u32).to_le_bytes());
        table[i * 8 + 4..i * 8 + 8].copy_from_slice(&(offset + 1).to_le_bytes());
    }
    table
}

fn u32_len(n: usize, what: &'static str) -> Result<u32, FormatError> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n < u32::MAX)
        .ok_or(FormatError::TooLarge(what))
}

fn u16_len(n: usize) -> Result<u16, FormatError> {
    u16::try_from(n).map_err(|_| FormatError::TooLarge("field"))
}
