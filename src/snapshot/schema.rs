//! The source snapshot document, schema v1 (`docs/snapshot.md`), as one set
//! of serde types: validation reads them, `roster snapshot build` writes
//! them, and a test holds every JSON example of the docs to them.
//!
//! What a field *means* to a host — its rules, and what is dropped when it
//! breaks one — is validation's ([`validate`](super::validate)). These types
//! say only what the document looks like: names, JSON types, which fields
//! are optional and what an absent one defaults to.
//!
//! **Entries decoded one by one.** One malformed user must not refuse the
//! whole document, so validation cannot decode `users` as `Vec<User>`. A
//! [`Document`] is generic over its [`Form`], how it holds the entries of
//! its lists: [`Decoded`] (the default) holds a [`User`], a [`Group`], …;
//! [`Raw`] holds each entry's JSON text, which validation then decodes into
//! the same type on its own, and drops with the decoder's words if it fails.
//! Either way the top level — `format`, `serial`, times, and that the lists
//! are lists — is decoded whole, and a mistake there refuses the document.
//! Revocations need no raw form: a list entry that is not what it should be
//! is kept as [`Revocation::Unreadable`], for validation to drop.
//!
//! **Field order.** Fields are declared in alphabetical order, the order in
//! which `roster snapshot build` has always written them (it used to build a
//! `serde_json::Value`, whose objects sort their keys), so the published
//! bytes are what they were; a test keeps the two orders equal.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::marker::PhantomData;

/// How a [`Document`] holds the entries of its lists: `Of<User>` for a user.
pub trait Form {
    type Of<T>;
}

/// Every entry decoded: the document as written and as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {}

impl Form for Decoded {
    type Of<T> = T;
}

/// Every entry as its undecoded JSON text, borrowed from the input.
#[derive(Debug)]
pub struct Raw<'a>(PhantomData<&'a RawValue>);

impl<'a> Form for Raw<'a> {
    type Of<T> = &'a RawValue;
}

/// A source snapshot. Unknown fields, here and in every entry but a sudo
/// rule, are ignored: a newer identity service may add fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "F::Of<Grant>: Serialize, F::Of<Group>: Serialize, F::Of<SudoRule>: Serialize, \
                 F::Of<String>: Serialize, F::Of<User>: Serialize",
    deserialize = "F::Of<Grant>: Deserialize<'de>, F::Of<Group>: Deserialize<'de>, \
                   F::Of<SudoRule>: Deserialize<'de>, F::Of<String>: Deserialize<'de>, \
                   F::Of<User>: Deserialize<'de>"
))]
pub struct Document<F: Form = Decoded> {
    /// Exactly [`FORMAT`](super::FORMAT).
    pub format: String,
    #[serde(default)]
    pub grants: Vec<F::Of<Grant>>,
    pub groups: Vec<F::Of<Group>>,
    /// RFC 3339.
    pub issued_at: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked: Option<Revoked>,
    pub serial: u64,
    #[serde(default)]
    pub sudo: Vec<F::Of<SudoRule>>,
    /// OpenSSH public key lines.
    #[serde(default)]
    pub user_cas: Vec<F::Of<String>>,
    pub users: Vec<F::Of<User>>,
    /// RFC 3339.
    pub valid_until: String,
}

/// An account. Ids are as published (any integer); validation decides
/// which it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    #[serde(default)]
    pub gecos: String,
    pub gid: i64,
    pub home: String,
    #[serde(default)]
    pub kind: AccountKind,
    pub name: String,
    pub role: Role,
    pub shell: String,
    pub state: AccountState,
    pub uid: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub gid: i64,
    #[serde(default)]
    pub members: Vec<String>,
    pub name: String,
}

/// The persons who may enter a shared account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub account: String,
    pub persons: Vec<String>,
}

/// A command-level sudo entitlement. Unknown fields refuse the rule: a field
/// this version does not know could be a restriction, and ignoring it would
/// widen access. An absent tag is written as absent, and its default is the
/// method of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SudoRule {
    pub commands: Vec<String>,
    pub group: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub noexec: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub nopasswd: Option<bool>,
    /// The service's word that the rule gives its members everything the
    /// run-as user can do.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub root_equivalent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runas: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub setenv: Option<bool>,
}

impl SudoRule {
    pub fn noexec(&self) -> bool {
        self.noexec.unwrap_or(false)
    }

    /// Certificate users have no password: by default they are not asked.
    pub fn nopasswd(&self) -> bool {
        self.nopasswd.unwrap_or(true)
    }

    pub fn root_equivalent(&self) -> bool {
        self.root_equivalent.unwrap_or(false)
    }

    pub fn runas(&self) -> &str {
        self.runas.as_deref().unwrap_or("root")
    }

    pub fn setenv(&self) -> bool {
        self.setenv.unwrap_or(false)
    }
}

/// Certificates refused whatever their validity. A list that is absent is
/// empty, and an empty list is not written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revoked {
    /// Certificate key IDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<Revocation<String>>,
    /// `SHA256:` fingerprints of certified keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Revocation<String>>,
    /// Certificate serial numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serials: Vec<Revocation<u64>>,
}

/// One entry of a revocation list: of its type, or not (and then it can
/// revoke nothing, and validation drops it alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Revocation<T> {
    Read(T),
    Unreadable(serde_json::Value),
}

/// Whether an account may be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountState {
    Active,
    Disabled,
}

/// What an account may do on this project's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Resolvable (file ownership stays readable) but may not log in.
    None,
    User,
    /// Gets sudo.
    Admin,
}

/// Who is behind an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// One accountable human.
    #[default]
    Person,
    /// An account that named persons log into, each with their own certificate.
    Shared,
    /// A machine identity.
    Service,
}

/// An optional field that, when present, holds a value: `null` is refused
/// as the field's type refuses it, not taken for absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}
