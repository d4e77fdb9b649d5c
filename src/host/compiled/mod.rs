//! The compiled snapshot: one immutable binary file that every process on the
//! host maps read-only and answers lookups from without parsing.
//!
//! Layout (all integers little-endian; full description in
//! `docs/compiled-format.md`):
//!
//! ```text
//! header     64 bytes: magic, version, section count, serial, issued_at,
//!            valid_until, compiled_at, file length, body CRC, header CRC
//! sections   count × 24 bytes: kind, item count, offset, length
//! USERS      user records, in snapshot order
//! USER_NAMES / USER_UIDS      hash indexes into USERS
//! GROUPS     group records, in snapshot order
//! GROUP_NAMES / GROUP_GIDS    hash indexes into GROUPS
//! POLICY, USER_CAS, REVOKED, GRANTS, SUDO_RULES   small length-prefixed blobs
//! ```
//!
//! Readers check the header, its CRC and every section's bounds once per
//! mapping (constant cost), and each record's own CRC when they read it, so a
//! corrupt file yields an error, never a wrong answer, without hashing the
//! whole file in every process that calls `getpwnam`. The body CRC covers
//! everything after the header; the writer and `roster snapshot show` check it.

mod blob;
mod read;
mod write;

pub use read::{Gids, GroupEntry, Layout, Members, SudoRuleEntry, UserEntry, View};
pub use write::compile;

use std::fmt;

pub(crate) const MAGIC: [u8; 8] = *b"RSTRSNAP";
/// 2: the sudo rules section (kind 11), for `roster explain`.
pub(crate) const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 64;
pub(crate) const SECTION_LEN: usize = 24;
/// No valid file has more sections than this; bounds the header walk.
pub(crate) const MAX_SECTIONS: usize = 64;

/// Where the section table ends, from the header in `head` (at least
/// [`HEADER_LEN`] bytes; the count is bounded by [`MAX_SECTIONS`]).
pub fn table_end(head: &[u8]) -> usize {
    let count = head
        .get(12..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes) as usize;
    HEADER_LEN + count.min(MAX_SECTIONS) * SECTION_LEN
}

/// Section kinds. Unknown kinds are skipped by readers, so later versions of
/// the agent can add sections without breaking older modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Section {
    Users = 1,
    UserNames = 2,
    UserUids = 3,
    Groups = 4,
    GroupNames = 5,
    GroupGids = 6,
    Policy = 7,
    UserCas = 8,
    Revoked = 9,
    Grants = 10,
    SudoRules = 11,
}

pub(crate) const REQUIRED: [Section; 11] = [
    Section::Users,
    Section::UserNames,
    Section::UserUids,
    Section::Groups,
    Section::GroupNames,
    Section::GroupGids,
    Section::Policy,
    Section::UserCas,
    Section::Revoked,
    Section::Grants,
    Section::SudoRules,
];

impl Section {
    pub(crate) fn is_index(self) -> bool {
        matches!(
            self,
            Section::UserNames | Section::UserUids | Section::GroupNames | Section::GroupGids
        )
    }
}

/// This host's facts and certificate policy, from roster.toml, compiled into
/// the file so that the modules never read configuration and every decision
/// reads one consistent generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    pub host_name: String,
    pub host_labels: Vec<String>,
    /// Snapshot users are refused after this long without a confirmed sync.
    pub max_age_secs: u64,
    pub max_cert_lifetime_secs: u64,
    pub clock_skew_secs: u64,
    pub require_host_binding: bool,
}

impl HostPolicy {
    /// roster.toml's defaults, for a host called `host_name`: max_age 24h,
    /// certificates at most 16h long, 2 minutes of clock skew, no host
    /// binding required.
    pub fn with_defaults(host_name: &str) -> HostPolicy {
        HostPolicy {
            host_name: host_name.to_owned(),
            host_labels: Vec::new(),
            max_age_secs: 24 * 3600,
            max_cert_lifetime_secs: 16 * 3600,
            clock_skew_secs: 120,
            require_host_binding: false,
        }
    }
}

/// Facts from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub serial: u64,
    pub issued_at: i64,
    pub valid_until: i64,
    pub compiled_at: i64,
    pub file_len: u64,
    pub body_crc: u32,
    pub users: u32,
    pub groups: u32,
}

/// Why bytes are not a usable compiled snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    TooShort,
    BadMagic,
    UnsupportedVersion(u32),
    HeaderChecksum,
    LengthMismatch {
        header: u64,
        actual: u64,
    },
    BadSectionTable,
    MissingSection(u32),
    BadIndex,
    /// A record failed its bounds or checksum check.
    CorruptRecord,
    BodyChecksum,
    /// The snapshot does not fit the format's 32-bit offsets or 16-bit lengths.
    TooLarge(&'static str),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => f.write_str("file is too short for a compiled snapshot"),
            Self::BadMagic => f.write_str("not a compiled roster snapshot (bad magic)"),
            Self::UnsupportedVersion(v) => {
                write!(f, "compiled format version {v} is not supported")
            }
            Self::HeaderChecksum => f.write_str("header checksum mismatch"),
            Self::LengthMismatch { header, actual } => {
                write!(
                    f,
                    "header says {header} bytes, file has {actual} (truncated?)"
                )
            }
            Self::BadSectionTable => f.write_str("section table is out of bounds or malformed"),
            Self::MissingSection(k) => write!(f, "required section {k} is missing"),
            Self::BadIndex => f.write_str("an index section is malformed"),
            Self::CorruptRecord => f.write_str("a record failed its bounds or checksum check"),
            Self::BodyChecksum => f.write_str("body checksum mismatch"),
            Self::TooLarge(what) => write!(f, "{what} is too large for the compiled format"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Index hash of a name: FNV-1a, then mixed so low bits pick the slot and
/// high bits form the tag.
pub(crate) fn hash_name(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// Index hash of a uid or gid.
pub(crate) fn hash_id(id: u32) -> u64 {
    mix(u64::from(id))
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
