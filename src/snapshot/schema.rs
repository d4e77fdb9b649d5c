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
//! **Borrowed strings.** A user's and a group's strings borrow from the
//! input where JSON needs no unescaping: validation holds every decoded
//! entry at once (to find duplicates), and owned copies of a million users'
//! names and homes would add a hundred MiB to `snapshot compile`'s peak.
//!
//! **Field order.** Fields are declared in alphabetical order, the order in
//! which `roster snapshot build` has always written them (it used to build a
//! `serde_json::Value`, whose objects sort their keys), so the published
//! bytes are what they were; a test keeps the two orders equal.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
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
    serialize = "F::Of<Grant>: Serialize, F::Of<Group<'a>>: Serialize, \
                 F::Of<SudoRule>: Serialize, F::Of<String>: Serialize, F::Of<User<'a>>: Serialize",
    deserialize = "'de: 'a, F::Of<Grant>: Deserialize<'de>, F::Of<Group<'a>>: Deserialize<'de>, \
                   F::Of<SudoRule>: Deserialize<'de>, F::Of<String>: Deserialize<'de>, \
                   F::Of<User<'a>>: Deserialize<'de>"
))]
pub struct Document<'a, F: Form = Decoded> {
    /// Exactly [`FORMAT`](super::FORMAT).
    pub format: String,
    #[serde(default)]
    pub grants: Vec<F::Of<Grant>>,
    pub groups: Vec<F::Of<Group<'a>>>,
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
    pub users: Vec<F::Of<User<'a>>>,
    /// RFC 3339.
    pub valid_until: String,
}

/// An account. Ids are as published (any integer); validation decides
/// which it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User<'a> {
    #[serde(default, borrow)]
    pub gecos: Cow<'a, str>,
    pub gid: i64,
    #[serde(borrow)]
    pub home: Cow<'a, str>,
    #[serde(default)]
    pub kind: AccountKind,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    pub role: Role,
    #[serde(borrow)]
    pub shell: Cow<'a, str>,
    pub state: AccountState,
    pub uid: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group<'a> {
    pub gid: i64,
    #[serde(default, borrow)]
    pub members: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
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

/// The docs' examples and the test fixtures are documents of this schema.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTables;
    use crate::snapshot::{Finding, Policy, validate};
    use serde_json::Value;

    const NOW: crate::time::UnixTime = 1_795_600_800; // 2026-11-25T10:00:00Z
    const SNAPSHOT_MD: &str = include_str!("../../docs/snapshot.md");
    const COMPLETE: &str = include_str!("../../docs/examples/snapshot.json");

    /// The findings of validating `json` on a host without local accounts.
    fn findings(json: &str) -> Vec<Finding> {
        let local = LocalTables::parse("", "", "/bin/bash\n");
        let s = validate(json.as_bytes(), &Policy::default(), &local, NOW);
        s.unwrap_or_else(|e| panic!("{e}:\n{json}")).findings
    }

    /// `json` as a [`Document`] whose revocations are all of their type.
    fn decode(json: &str) -> Document<'_> {
        let doc: Document = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}:\n{json}"));
        fn unreadable<T>(list: &[Revocation<T>]) -> impl Iterator<Item = &Value> {
            list.iter().filter_map(|r| match r {
                Revocation::Read(_) => None,
                Revocation::Unreadable(v) => Some(v),
            })
        }
        if let Some(r) = &doc.revoked {
            let bad: Vec<&Value> = unreadable(&r.key_ids)
                .chain(unreadable(&r.keys))
                .chain(unreadable(&r.serials))
                .collect();
            assert!(
                bad.is_empty(),
                "revocations of the wrong type {bad:?}:\n{json}"
            );
        }
        doc
    }

    /// The body of every ```json block of docs/snapshot.md.
    fn json_blocks() -> Vec<&'static str> {
        SNAPSHOT_MD
            .split("```json\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect()
    }

    /// A block is a whole document, or one top-level field (`"sudo": [...]`)
    /// shown in the context of docs/examples/snapshot.json. A whole document
    /// validates without a finding; a field adds none to the complete
    /// example's own (the two entries it is there to show dropped).
    #[test]
    fn every_json_example_of_the_docs_is_a_document_of_the_schema() {
        let blocks = json_blocks();
        assert_eq!(blocks.len(), 4, "json blocks of docs/snapshot.md");
        decode(COMPLETE);
        let complete = findings(COMPLETE);
        let shown: Vec<String> = complete.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "dropped user \"root\" (users[4]): name is reserved",
                "dropped member \"mallory\" of group \"developers\": not a user of this snapshot",
            ]
        );
        for block in blocks {
            if block.trim_start().starts_with('{') {
                decode(block);
                assert_eq!(findings(block), [], "{block}");
                continue;
            }
            let field: serde_json::Map<String, Value> =
                serde_json::from_str(&format!("{{{block}}}"))
                    .unwrap_or_else(|e| panic!("not a `\"field\": value`: {e}:\n{block}"));
            let mut doc: Value = serde_json::from_str(COMPLETE).unwrap();
            doc.as_object_mut().unwrap().extend(field);
            let json = doc.to_string();
            decode(&json);
            assert_eq!(findings(&json), complete, "{block}");
        }
    }

    #[test]
    fn the_test_fixtures_are_documents_of_the_schema() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let json = std::fs::read_to_string(&path).unwrap();
                decode(&json);
                findings(&json);
                seen += 1;
            }
        }
        assert!(seen > 0, "no JSON fixture in {}", dir.display());
    }
}
