//! Compiled bytes → lookups, without parsing or allocating.
//!
//! Every read is bounds-checked: arbitrary bytes give a [`FormatError`], never
//! a panic or an out-of-bounds access.

use super::blob::BlobReader;
use super::write::{
    FLAG_ROOT_EQUIVALENT, FLAG_SUDO_RULES, GROUP_FIXED, USER_FIXED, kind_code, role_code,
    state_code,
};
use super::{
    FormatError, HEADER_LEN, Header, HostPolicy, MAGIC, MAX_SECTIONS, REQUIRED, SECTION_LEN,
    VERSION,
};
use super::{hash_id, hash_name};
use crate::snapshot::{AccountKind, AccountState, Role};
use std::ops::Range;

/// Where each section lives in a file whose header has been checked. Parse it
/// once per mapping with [`Layout::parse`], then build a [`View`] per call.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub header: Header,
    /// `(start, end)` of each section, in the order of `REQUIRED`.
    sections: [(usize, usize); REQUIRED.len()],
}

impl Layout {
    /// Checks magic, version, header CRC, file length and the section table.
    /// Constant cost: record contents are checked when they are read.
    pub fn parse(bytes: &[u8]) -> Result<Layout, FormatError> {
        let header = bytes.get(..HEADER_LEN).ok_or(FormatError::TooShort)?;
        if header[0..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = le32(header, 8);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let count = le32(header, 12) as usize;
        if count > MAX_SECTIONS {
            return Err(FormatError::BadSectionTable);
        }
        let table_end = HEADER_LEN + count * SECTION_LEN;
        let head = bytes.get(..table_end).ok_or(FormatError::TooShort)?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&head[..60]);
        hasher.update(&[0; 4]);
        hasher.update(&head[HEADER_LEN..]);
        if hasher.finalize() != le32(head, 60) {
            return Err(FormatError::HeaderChecksum);
        }
        let file_len = le64(header, 48);
        if file_len != bytes.len() as u64 {
            return Err(FormatError::LengthMismatch {
                header: file_len,
                actual: bytes.len() as u64,
            });
        }

        let mut found: [Option<(Range<usize>, u32)>; REQUIRED.len()] = Default::default();
        for i in 0..count {
            let e = &head[HEADER_LEN + i * SECTION_LEN..][..SECTION_LEN];
            let (kind, items) = (le32(e, 0), le32(e, 4));
            let (start, len) = (le64(e, 8), le64(e, 16));
            let end = start.checked_add(len).ok_or(FormatError::BadSectionTable)?;
            if start < table_end as u64 || end > file_len {
                return Err(FormatError::BadSectionTable);
            }
            // In bounds of `bytes`, so these fit in usize.
            let range = start as usize..end as usize;
            if let Some(slot) = REQUIRED.iter().position(|s| *s as u32 == kind)
                && found[slot].replace((range, items)).is_some()
            {
                return Err(FormatError::BadSectionTable);
            }
        }
        let mut sections = [(0, 0); REQUIRED.len()];
        let mut counts = [0u32; REQUIRED.len()];
        for (i, f) in found.into_iter().enumerate() {
            let (range, items) = f.ok_or(FormatError::MissingSection(REQUIRED[i] as u32))?;
            if REQUIRED[i].is_index() {
                let slots = range.len() / 8;
                if range.len() % 8 != 0 || !slots.is_power_of_two() || slots != items as usize {
                    return Err(FormatError::BadIndex);
                }
            }
            sections[i] = (range.start, range.end);
            counts[i] = items;
        }
        Ok(Layout {
            header: Header {
                serial: le64(header, 16),
                issued_at: le64(header, 24) as i64,
                valid_until: le64(header, 32) as i64,
                compiled_at: le64(header, 40) as i64,
                file_len,
                body_crc: le32(header, 56),
                users: counts[0],
                groups: counts[3],
            },
            sections,
        })
    }
}

impl Layout {
    fn range(&self, i: usize) -> Range<usize> {
        let (start, end) = self.sections[i];
        start..end
    }

    /// The small sections (host policy, user CAs, revocations, grants): what
    /// every certificate decision reads whole.
    pub fn small_sections(&self) -> [Range<usize>; 4] {
        [6, 7, 8, 9].map(|i| self.range(i))
    }

    /// Copies into `buf` — laid out like the file, header and section table
    /// already read — what looking up `name` in the user name index reads:
    /// each slot of its probe path, up to the first empty one, and the
    /// records whose tags match. `read_at(offset, dst)` reads the file. A
    /// [`View`] over `buf` then answers that lookup as it would over the
    /// whole file, without the rest of it ever being read.
    pub fn read_user_lookup(
        &self,
        buf: &mut [u8],
        name: &[u8],
        read_at: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.read_lookup(buf, USER_NAMES, USERS, hash_name(name), read_at)
    }

    /// Like [`Layout::read_user_lookup`], for looking up a group by `gid`.
    pub fn read_gid_lookup(
        &self,
        buf: &mut [u8],
        gid: u32,
        read_at: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.read_lookup(buf, GROUP_GIDS, GROUPS, hash_id(gid), read_at)
    }

    fn read_lookup(
        &self,
        buf: &mut [u8],
        index: usize,
        records: usize,
        hash: u64,
        mut read_at: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt index");
        let (index, records) = (self.range(index), self.range(records));
        let slots = index.len() / 8;
        let tag = (hash >> 32) as u32;
        let mut i = (hash as usize) & slots.saturating_sub(1);
        for _ in 0..slots {
            let at = index.start + i * 8;
            let slot = buf.get_mut(at..at + 8).ok_or_else(bad)?;
            read_at(at as u64, slot)?;
            let target = le32(slot, 4) as usize;
            if target == 0 {
                break;
            }
            if le32(slot, 0) == tag {
                let start = records.start + target - 1;
                let head = buf.get_mut(start..start + 8).ok_or_else(bad)?;
                read_at(start as u64, head)?;
                let len = le32(head, 0) as usize;
                let end = start
                    .checked_add(len)
                    .filter(|e| *e <= records.end)
                    .ok_or_else(bad)?;
                read_at(start as u64, buf.get_mut(start..end).ok_or_else(bad)?)?;
            }
            i = (i + 1) & (slots - 1);
        }
        Ok(())
    }
}

/// Lookups over the bytes of one compiled snapshot. Cheap to build per
/// call: sections are sliced when a lookup needs them.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

// Section numbers, in the order of `REQUIRED`.
const USERS: usize = 0;
const USER_NAMES: usize = 1;
const USER_UIDS: usize = 2;
const GROUPS: usize = 3;
const GROUP_NAMES: usize = 4;
const GROUP_GIDS: usize = 5;
const POLICY: usize = 6;
const USER_CAS: usize = 7;
const REVOKED: usize = 8;
const GRANTS: usize = 9;
const SUDO_RULES: usize = 10;

impl<'a> View<'a> {
    /// Checks the header and builds a view.
    pub fn open(bytes: &'a [u8]) -> Result<View<'a>, FormatError> {
        Ok(View::with_layout(bytes, &Layout::parse(bytes)?))
    }

    /// A view from a layout that [`Layout::parse`] returned for these same
    /// bytes. With other bytes, lookups fail or miss; they never panic.
    pub fn with_layout(bytes: &'a [u8], layout: &Layout) -> View<'a> {
        View {
            bytes,
            layout: *layout,
        }
    }

    fn section(&self, i: usize) -> &'a [u8] {
        self.bytes.get(self.layout.range(i)).unwrap_or_default()
    }

    /// This host's policy, as the agent compiled it from roster.toml.
    pub fn host_policy(&self) -> Result<HostPolicy, FormatError> {
        let mut r = BlobReader::open(self.section(POLICY))?;
        let max_age_secs = r.u64()?;
        let max_cert_lifetime_secs = r.u64()?;
        let clock_skew_secs = r.u64()?;
        let require_host_binding = r.u8()? != 0;
        let host_name = r.str()?.to_owned();
        let labels = r.count(2)?;
        let host_labels = (0..labels)
            .map(|_| r.str().map(str::to_owned))
            .collect::<Result<_, _>>()?;
        Ok(HostPolicy {
            host_name,
            host_labels,
            max_age_secs,
            max_cert_lifetime_secs,
            clock_skew_secs,
            require_host_binding,
        })
    }

    /// The CA keys trusted to sign user certificates, as OpenSSH lines.
    pub fn user_cas(&self) -> Result<Vec<&'a str>, FormatError> {
        let mut r = BlobReader::open(self.section(USER_CAS))?;
        let n = r.count(2)?;
        (0..n).map(|_| r.str()).collect()
    }

    /// Whether a certificate with this serial, key ID or certified-key
    /// fingerprint (`SHA256:…`) is revoked.
    pub fn is_revoked(&self, serial: u64, key_id: &str, key_fp: &str) -> Result<bool, FormatError> {
        let mut r = BlobReader::open(self.section(REVOKED))?;
        let mut hit = false;
        for _ in 0..r.count(8)? {
            hit |= r.u64()? == serial;
        }
        for wanted in [key_id, key_fp] {
            for _ in 0..r.count(2)? {
                hit |= r.str()? == wanted;
            }
        }
        Ok(hit)
    }

    /// The persons granted entry to shared `account`, if it has a grant.
    pub fn grant(&self, account: &str) -> Result<Option<Vec<&'a str>>, FormatError> {
        let mut r = BlobReader::open(self.section(GRANTS))?;
        for _ in 0..r.count(6)? {
            let name = r.str()?;
            let n = r.count(2)?;
            let persons = (0..n).map(|_| r.str()).collect::<Result<Vec<_>, _>>()?;
            if name == account {
                return Ok(Some(persons));
            }
        }
        Ok(None)
    }

    /// The snapshot's kept sudo rules, in snapshot order.
    pub fn sudo_rules(&self) -> Result<Vec<SudoRuleEntry<'a>>, FormatError> {
        let mut r = BlobReader::open(self.section(SUDO_RULES))?;
        (0..r.count(9)?)
            .map(|_| {
                let root_equivalent = r.u8()? & FLAG_ROOT_EQUIVALENT != 0;
                let (group, runas) = (r.str()?, r.str()?);
                let n = r.count(2)?;
                let commands = (0..n).map(|_| r.str()).collect::<Result<_, _>>()?;
                Ok(SudoRuleEntry {
                    group,
                    runas,
                    commands,
                    root_equivalent,
                })
            })
            .collect()
    }

    pub fn header(&self) -> &Header {
        &self.layout.header
    }

    /// Checks the CRC over everything after the header: a full read of the
    /// file, for the agent and `roster snapshot show`, not for lookups.
    pub fn verify_body(&self) -> Result<(), FormatError> {
        let table_end = HEADER_LEN + le32(self.bytes, 12) as usize * SECTION_LEN;
        let body = self.bytes.get(table_end..).ok_or(FormatError::TooShort)?;
        if crc32fast::hash(body) != self.layout.header.body_crc {
            return Err(FormatError::BodyChecksum);
        }
        Ok(())
    }

    pub fn user_by_name(&self, name: &[u8]) -> Result<Option<UserEntry<'a>>, FormatError> {
        self.find(
            self.section(USER_NAMES),
            self.section(USERS),
            hash_name(name),
            UserEntry::parse,
            |u| u.name == name,
        )
    }

    /// The supplementary groups of `name` for initgroups, when `name` with
    /// primary group `primary_gid` is the snapshot's user: an account of the
    /// same name created locally since the snapshot was compiled (local
    /// accounts win) has another primary group and gets none of them. A
    /// `primary_gid` of `u32::MAX` — `(gid_t)-1`, which `getent initgroups`
    /// passes — means "not known", and the name decides.
    pub fn groups_of(
        &self,
        name: &[u8],
        primary_gid: u32,
    ) -> Result<Option<Gids<'a>>, FormatError> {
        let ours = |gid: u32| primary_gid == u32::MAX || gid == primary_gid;
        Ok(self
            .user_by_name(name)?
            .filter(|u| ours(u.gid))
            .map(|u| u.groups))
    }

    pub fn user_by_uid(&self, uid: u32) -> Result<Option<UserEntry<'a>>, FormatError> {
        self.find(
            self.section(USER_UIDS),
            self.section(USERS),
            hash_id(uid),
            UserEntry::parse,
            |u| u.uid == uid,
        )
    }

    pub fn group_by_name(&self, name: &[u8]) -> Result<Option<GroupEntry<'a>>, FormatError> {
        self.find(
            self.section(GROUP_NAMES),
            self.section(GROUPS),
            hash_name(name),
            GroupEntry::parse,
            |g| g.name == name,
        )
    }

    pub fn group_by_gid(&self, gid: u32) -> Result<Option<GroupEntry<'a>>, FormatError> {
        self.find(
            self.section(GROUP_GIDS),
            self.section(GROUPS),
            hash_id(gid),
            GroupEntry::parse,
            |g| g.gid == gid,
        )
    }

    /// The user at enumeration position `pos` (0 is the first) and the
    /// position of the next one; `None` past the last.
    pub fn user_at(&self, pos: usize) -> Result<Option<(UserEntry<'a>, usize)>, FormatError> {
        at(self.section(USERS), pos, UserEntry::parse)
    }

    /// Like [`View::user_at`], for groups.
    pub fn group_at(&self, pos: usize) -> Result<Option<(GroupEntry<'a>, usize)>, FormatError> {
        at(self.section(GROUPS), pos, GroupEntry::parse)
    }

    /// Linear probing over a table built by `write::index`. Bounded by the slot
    /// count, so even a table with no empty slot terminates.
    fn find<T>(
        &self,
        table: &'a [u8],
        records: &'a [u8],
        hash: u64,
        parse: fn(&'a [u8]) -> Result<T, FormatError>,
        is_match: impl Fn(&T) -> bool,
    ) -> Result<Option<T>, FormatError> {
        let slots = table.len() / 8;
        if slots == 0 {
            return Err(FormatError::BadIndex);
        }
        let mask = slots - 1;
        let tag = (hash >> 32) as u32;
        let mut i = (hash as usize) & mask;
        for _ in 0..slots {
            let slot = &table[i * 8..i * 8 + 8];
            let target = le32(slot, 4);
            if target == 0 {
                return Ok(None);
            }
            if le32(slot, 0) == tag {
                let entry = parse(record(records, target as usize - 1)?)?;
                if is_match(&entry) {
                    return Ok(Some(entry));
                }
            }
            i = (i + 1) & mask;
        }
        Ok(None)
    }
}

fn at<'a, T>(
    records: &'a [u8],
    pos: usize,
    parse: fn(&'a [u8]) -> Result<T, FormatError>,
) -> Result<Option<(T, usize)>, FormatError> {
    if pos == records.len() {
        return Ok(None);
    }
    let r = record(records, pos)?;
    Ok(Some((parse(r)?, pos + r.len())))
}

/// The record at `offset`, after checking its bounds and CRC.
fn record(section: &[u8], offset: usize) -> Result<&[u8], FormatError> {
    let head = section
        .get(offset..offset.saturating_add(8))
        .ok_or(FormatError::CorruptRecord)?;
    let len = le32(head, 0) as usize;
    let r = section
        .get(offset..offset.saturating_add(len))
        .filter(|r| r.len() >= 8)
        .ok_or(FormatError::CorruptRecord)?;
    if crc32fast::hash(&r[8..]) != le32(r, 4) {
        return Err(FormatError::CorruptRecord);
    }
    Ok(r)
}

/// One user, borrowed from the compiled file. Strings are the exact bytes to
/// serve (UTF-8, no NUL, no ':'), as validation left them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserEntry<'a> {
    pub name: &'a [u8],
    pub uid: u32,
    pub gid: u32,
    pub gecos: &'a [u8],
    pub home: &'a [u8],
    pub shell: &'a [u8],
    pub state: AccountState,
    pub role: Role,
    pub kind: AccountKind,
    /// A command-level sudo rule applies to this user.
    pub sudo_rules: bool,
    /// Supplementary groups: the snapshot groups listing this user.
    pub groups: Gids<'a>,
}

impl<'a> UserEntry<'a> {
    fn parse(r: &'a [u8]) -> Result<UserEntry<'a>, FormatError> {
        let fixed = r.get(..USER_FIXED).ok_or(FormatError::CorruptRecord)?;
        let state = decode(
            fixed[16],
            [AccountState::Active, AccountState::Disabled],
            state_code,
        )?;
        let role = decode(fixed[17], [Role::None, Role::User, Role::Admin], role_code)?;
        let kind = decode(
            fixed[18],
            [
                AccountKind::Person,
                AccountKind::Shared,
                AccountKind::Service,
            ],
            kind_code,
        )?;
        let lens = [
            usize::from(fixed[19]),
            usize::from(le16(fixed, 20)),
            usize::from(le16(fixed, 22)),
            usize::from(le16(fixed, 24)),
        ];
        let ngroups = le32(fixed, 28) as usize;
        let mut rest = &r[USER_FIXED..];
        let mut field = |len: usize| -> Result<&'a [u8], FormatError> {
            let (f, tail) = rest
                .split_at_checked(len)
                .ok_or(FormatError::CorruptRecord)?;
            rest = tail;
            Ok(f)
        };
        let [name, gecos, home, shell] = [
            field(lens[0])?,
            field(lens[1])?,
            field(lens[2])?,
            field(lens[3])?,
        ];
        let gids = field(ngroups.checked_mul(4).ok_or(FormatError::CorruptRecord)?)?;
        if !rest.is_empty() {
            return Err(FormatError::CorruptRecord);
        }
        Ok(UserEntry {
            name,
            uid: le32(fixed, 8),
            gid: le32(fixed, 12),
            gecos,
            home,
            shell,
            state,
            role,
            kind,
            sudo_rules: fixed[26] & FLAG_SUDO_RULES != 0,
            groups: Gids(gids),
        })
    }
}

/// One sudo rule, borrowed from the compiled file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SudoRuleEntry<'a> {
    /// The snapshot group whose members get the rule.
    pub group: &'a str,
    pub runas: &'a str,
    pub commands: Vec<&'a str>,
    /// Marked `root_equivalent` in the snapshot.
    pub root_equivalent: bool,
}

/// One group, borrowed from the compiled file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupEntry<'a> {
    pub name: &'a [u8],
    pub gid: u32,
    pub members: Members<'a>,
}

impl<'a> GroupEntry<'a> {
    fn parse(r: &'a [u8]) -> Result<GroupEntry<'a>, FormatError> {
        let fixed = r.get(..GROUP_FIXED).ok_or(FormatError::CorruptRecord)?;
        let count = le32(fixed, 12) as usize;
        let name_len = usize::from(fixed[16]);
        let (name, list) = r[GROUP_FIXED..]
            .split_at_checked(name_len)
            .ok_or(FormatError::CorruptRecord)?;
        let (offsets, text) = list
            .split_at_checked(count.saturating_mul(4))
            .ok_or(FormatError::CorruptRecord)?;
        // Every name ends with a NUL, so the text does. The offsets are not
        // walked here: the record's CRC vouches for them, and every reader
        // (the iterator, the NSS packer) clamps them to the text.
        if text.len() < count || (count > 0 && text.last() != Some(&0)) {
            return Err(FormatError::CorruptRecord);
        }
        let members = Members {
            offsets,
            text,
            next: 0,
        };
        Ok(GroupEntry {
            name,
            gid: le32(fixed, 8),
            members,
        })
    }
}

/// A group's member names, in snapshot order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Members<'a> {
    /// One little-endian u32 per member: where its name starts in `text`.
    offsets: &'a [u8],
    /// The names, each followed by a NUL.
    text: &'a [u8],
    next: usize,
}

impl<'a> Members<'a> {
    pub fn len(&self) -> usize {
        self.offsets.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The names as stored, each followed by a NUL: copied whole into a C
    /// buffer, they are C strings at the offsets [`Members::offsets`] gives.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Where each name starts in [`Members::text`], clamped into it (to its
    /// final NUL at worst, an empty name) whatever the stored offsets say.
    pub fn offsets(&self) -> impl Iterator<Item = usize> + 'a {
        let last = self.text.len().saturating_sub(1);
        self.offsets
            .chunks_exact(4)
            .map(move |o| (u32::from_le_bytes([o[0], o[1], o[2], o[3]]) as usize).min(last))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let at = self.next.checked_mul(4)?;
        let o = self.offsets.get(at..at + 4)?;
        self.next += 1;
        let start = (u32::from_le_bytes([o[0], o[1], o[2], o[3]]) as usize)
            .min(self.text.len().saturating_sub(1));
        let rest = self.text.get(start..)?;
        let len = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        Some(&rest[..len])
    }
}

/// A user's supplementary gids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gids<'a>(&'a [u8]);

impl Gids<'_> {
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Iterator for Gids<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (gid, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*gid))
    }
}

fn decode<T: Copy, const N: usize>(
    code: u8,
    all: [T; N],
    encode: fn(T) -> u8,
) -> Result<T, FormatError> {
    all.into_iter()
        .find(|v| encode(*v) == code)
        .ok_or(FormatError::CorruptRecord)
}

// Callers slice first; these read fixed offsets inside checked slices.
fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
