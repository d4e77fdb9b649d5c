//! The identity snapshot: what the identity service publishes (schema v1,
//! [`schema`], `docs/snapshot.md`) and the validated form that roster serves.
//!
//! Raw JSON becomes a [`Snapshot`] only through [`validate`], which drops each
//! invalid entry with a [`Reason`] and keeps the rest: one bad entry must never
//! freeze deprovisioning for everybody else.

pub mod compose;
pub mod schema;
pub mod signature;
mod sudo;
mod validate;

pub use schema::{AccountKind, AccountState, Role};
pub use sudo::{RootEquivalence, root_equivalence};
pub use validate::{AdminGroup, Limits, Policy, check_id, valid_name, validate};

use std::fmt;

use crate::time::{BadTimestamp, UnixTime};

/// The value of the snapshot's `format` field that this version reads.
pub const FORMAT: &str = "roster-snapshot/1";

/// A validated user, safe to serve through NSS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
    pub state: AccountState,
    pub role: Role,
    pub kind: AccountKind,
}

/// A validated group; every member is a kept snapshot user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// A command-level sudo entitlement: members of `group` may run exactly
/// `commands` as `runas`. Rendered to sudoers by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SudoRule {
    /// A kept snapshot group.
    pub group: String,
    /// Absolute paths, each with optional arguments; characters limited so
    /// that nothing can need sudoers escaping.
    pub commands: Vec<String>,
    pub runas: String,
    pub nopasswd: bool,
    pub noexec: bool,
    pub setenv: bool,
    /// Marked by the snapshot as giving its users everything `runas` can do.
    /// A rule that [`root_equivalence`] finds so is kept only when marked.
    pub root_equivalent: bool,
}

/// Certificates that must not be accepted, whatever their validity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    pub serials: std::collections::BTreeSet<u64>,
    pub key_ids: std::collections::BTreeSet<String>,
    /// `SHA256:…` fingerprints of certified (user) keys.
    pub keys: std::collections::BTreeSet<String>,
}

/// Who may enter a shared account, each with their own certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A kept user of kind `shared`.
    pub account: String,
    /// Kept users of kind `person`.
    pub persons: Vec<String>,
}

/// A snapshot whose every kept entry passed validation.
#[derive(Debug)]
pub struct Snapshot {
    pub serial: u64,
    pub issued_at: UnixTime,
    pub valid_until: UnixTime,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// CA keys trusted to sign user certificates, one OpenSSH public key
    /// line each (several at once during a rotation).
    pub user_cas: Vec<String>,
    pub revoked: Revoked,
    pub grants: Vec<Grant>,
    pub sudo: Vec<SudoRule>,
    /// Every entry that was dropped or adjusted, in input order.
    pub findings: Vec<Finding>,
}

impl Snapshot {
    /// Number of entries (users, groups, members) that were dropped.
    pub fn dropped(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.outcome == Effect::Dropped)
            .count()
    }
}

/// Why a whole snapshot was refused. Anything that is not an entry-level
/// problem: the last good snapshot keeps serving.
#[derive(Debug)]
pub enum SourceError {
    TooLarge {
        size: usize,
        max: usize,
    },
    NotJson(serde_json::Error),
    WrongFormat(String),
    BadTime {
        field: &'static str,
        error: BadTimestamp,
    },
    ValidityInverted,
    Expired {
        valid_until: UnixTime,
    },
    TooManyEntries {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::time::format_rfc3339 as t;
        match self {
            Self::TooLarge { size, max } => {
                write!(f, "snapshot is {size} bytes, over the {max}-byte limit")
            }
            Self::NotJson(e) => write!(f, "snapshot is not a well-formed v1 document: {e}"),
            Self::WrongFormat(v) => write!(f, "snapshot format is {v:?}, expected {FORMAT:?}"),
            Self::BadTime { field, error } => write!(f, "snapshot {field}: {error}"),
            Self::ValidityInverted => write!(f, "snapshot valid_until is not after issued_at"),
            Self::Expired { valid_until } => {
                write!(f, "snapshot expired at {} (valid_until)", t(*valid_until))
            }
            Self::TooManyEntries { what, count, max } => {
                write!(f, "snapshot has {count} {what}, over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for SourceError {}

/// One dropped or adjusted entry, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub entry: Entry,
    pub outcome: Effect,
    pub reason: Reason,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.outcome {
            Effect::Dropped => "dropped",
            Effect::Adjusted => "adjusted",
        };
        write!(f, "{verb} {}: {}", self.entry, self.reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The entry is not served at all.
    Dropped,
    /// The entry is served with a safe substitute for one field.
    Adjusted,
}

/// Which entry of the source a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `users[index]`, with its name when it could be read.
    User {
        index: usize,
        name: Option<String>,
    },
    /// `groups[index]`.
    Group {
        index: usize,
        name: Option<String>,
    },
    /// One name in a group's `members`.
    Member {
        group: String,
        member: String,
    },
    /// `user_cas[index]`.
    UserCa {
        index: usize,
    },
    /// One value in `revoked.serials`, `revoked.key_ids` or `revoked.keys`.
    Revocation {
        list: &'static str,
        index: usize,
    },
    /// `grants[index]`, or one person in it.
    Grant {
        index: usize,
        account: Option<String>,
    },
    /// The synthetic admin group (from roster.toml).
    AdminGroup {
        name: String,
    },
    /// `sudo[index]`.
    SudoRule {
        index: usize,
        group: Option<String>,
    },
    GrantPerson {
        account: String,
        person: String,
    },
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User {
                index,
                name: Some(n),
            } => write!(f, "user {n:?} (users[{index}])"),
            Self::User { index, name: None } => write!(f, "users[{index}]"),
            Self::Group {
                index,
                name: Some(n),
            } => write!(f, "group {n:?} (groups[{index}])"),
            Self::Group { index, name: None } => write!(f, "groups[{index}]"),
            Self::Member { group, member } => write!(f, "member {member:?} of group {group:?}"),
            Self::UserCa { index } => write!(f, "user_cas[{index}]"),
            Self::Revocation { list, index } => write!(f, "revoked.{list}[{index}]"),
            Self::Grant {
                index,
                account: Some(a),
            } => write!(f, "grant for {a:?} (grants[{index}])"),
            Self::Grant {
                index,
                account: None,
            } => write!(f, "grants[{index}]"),
            Self::AdminGroup { name } => write!(f, "admin group {name:?}"),
            Self::SudoRule {
                index,
                group: Some(g),
            } => write!(f, "sudo rule for {g:?} (sudo[{index}])"),
            Self::SudoRule { index, group: None } => write!(f, "sudo[{index}]"),
            Self::GrantPerson { account, person } => {
                write!(f, "person {person:?} of the grant for {account:?}")
            }
        }
    }
}

/// Why an entry was dropped or adjusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not an object of the right shape (the JSON decoder's words).
    Malformed(String),
    BadName,
    ReservedName,
    DuplicateName,
    DuplicateId {
        field: &'static str,
        id: i64,
    },
    BadId {
        field: &'static str,
        id: i64,
        problem: IdProblem,
    },
    LocalName,
    LocalId {
        field: &'static str,
        id: u32,
    },
    BadField {
        field: &'static str,
        problem: FieldProblem,
    },
    BadHome(HomeProblem),
    ShellNotAllowed {
        shell: String,
        fallback: String,
    },
    UnknownUser,
    DuplicateMember,
    TooManyMembers {
        count: usize,
        max: usize,
    },
    /// Not an OpenSSH public key line, a certificate, or a DSA key.
    BadKey(String),
    /// Not a `SHA256:` fingerprint, or a key ID with control characters.
    BadRevocation,
    /// A grant for an account that is not a kept shared account.
    NotSharedAccount,
    /// A grantee that is not a kept person.
    NotPerson,
    /// A sudo rule that roster will not render, and why.
    BadSudoRule(String),
    /// The home is, contains or lies inside the home of `users[index]`,
    /// kept before this one.
    HomeTaken {
        home: String,
        overlap: HomeOverlap,
        user: String,
        index: usize,
    },
    /// A root-equivalent sudo rule without `"root_equivalent": true`.
    UnmarkedRootEquivalent(RootEquivalence),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed entry: {e}"),
            Self::BadName => f.write_str("name does not match ^[a-z_][a-z0-9_-]{0,31}$"),
            Self::ReservedName => f.write_str("name is reserved"),
            Self::DuplicateName => f.write_str("name appears more than once (all copies dropped)"),
            Self::DuplicateId { field, id } => {
                write!(
                    f,
                    "{field} {id} appears more than once (all copies dropped)"
                )
            }
            Self::BadId { field, id, problem } => write!(f, "{field} {id} {problem}"),
            Self::LocalName => f.write_str("name belongs to a local account or group"),
            Self::LocalId { field, id } => {
                write!(f, "{field} {id} belongs to a local account or group")
            }
            Self::BadField { field, problem } => write!(f, "{field} {problem}"),
            Self::BadHome(p) => write!(f, "home {p}"),
            Self::ShellNotAllowed { shell, fallback } => {
                write!(f, "shell {shell:?} is not allowed, serving {fallback:?}")
            }
            Self::UnknownUser => f.write_str("not a user of this snapshot"),
            Self::DuplicateMember => f.write_str("listed twice"),
            Self::TooManyMembers { count, max } => {
                write!(f, "{count} members, over the limit of {max}")
            }
            Self::BadKey(e) => write!(f, "not a usable OpenSSH public key: {e}"),
            Self::BadRevocation => f.write_str("not a valid revocation entry"),
            Self::NotSharedAccount => {
                f.write_str("account is not a shared account of this snapshot")
            }
            Self::NotPerson => f.write_str("not a person of this snapshot"),
            Self::BadSudoRule(why) => write!(f, "sudo rule refused: {why}"),
            Self::HomeTaken {
                home,
                overlap,
                user,
                index,
            } => write!(
                f,
                "home {home:?} {overlap} the home of user {user:?} (users[{index}])"
            ),
            Self::UnmarkedRootEquivalent(why) => {
                write!(
                    f,
                    "root-equivalent but not marked \"root_equivalent\": {why}"
                )
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    Root,
    /// 65534/65535/4294967295: nobody, and the values that mean "no id".
    Reserved,
    /// systemd's dynamic user range 61184–65519.
    SystemdDynamic,
    BelowMinimum(u32),
    AboveMaximum,
    /// The gid of roster's admin group.
    AdminGroup,
}

impl fmt::Display for IdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("is root's"),
            Self::Reserved => f.write_str("is reserved (nobody / invalid id)"),
            Self::SystemdDynamic => f.write_str("is in systemd's dynamic range 61184-65519"),
            Self::BelowMinimum(min) => write!(f, "is below the minimum {min}"),
            Self::AboveMaximum => f.write_str("is above 2147483647"),
            Self::AdminGroup => f.write_str("is the admin group's gid"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    ControlCharacter,
    Colon,
    TooLong(usize),
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ControlCharacter => f.write_str("contains a NUL, newline or control character"),
            Self::Colon => f.write_str("contains ':'"),
            Self::TooLong(max) => write!(f, "is longer than {max} bytes"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeProblem {
    NotAbsolute,
    NotNormalised,
    NotUnderPrefix,
}

impl fmt::Display for HomeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "is not an absolute path",
            Self::NotNormalised => {
                "is not normalised (empty, '.' or '..' component, or trailing '/')"
            }
            Self::NotUnderPrefix => "is not below an allowed home prefix",
        })
    }
}

/// How a home overlaps the home of a user kept before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeOverlap {
    Same,
    /// Below the other home: its owner could rename or replace it.
    Inside,
    /// Above the other home: this user would own its parent.
    Contains,
}

impl fmt::Display for HomeOverlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Same => "is already",
            Self::Inside => "is inside",
            Self::Contains => "contains",
        })
    }
}
