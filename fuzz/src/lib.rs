//! The bodies of roster's fuzz targets, and the fixed world they run in.
//!
//! Each `fuzz_targets/<name>.rs` is one line that hands libFuzzer's input to
//! [`<name>::run`](snapshot_validate::run). Keeping the bodies here lets
//! `cargo test --manifest-path fuzz/Cargo.toml` replay every committed seed
//! (and any crash artifact) through exactly the code libFuzzer runs, on stable
//! and without a sanitizer.
//!
//! Every `run` must return normally for every input: a panic — including a
//! failed property assertion — is a finding.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use roster::host::compiled::HostPolicy;
use roster::local::LocalTables;
use roster::snapshot::{AdminGroup, Policy};
use roster::time::UnixTime;

pub mod auth_info;
pub mod cert_rules;
pub mod compiled_read;
pub mod config;
pub mod people;
pub mod scim_filter;
pub mod snapshot_validate;

/// The fixed `now` of every snapshot decision: 2026-11-25T10:00:00Z.
pub const NOW: UnixTime = 1_795_600_800;

/// When the fuzzed snapshots are compiled (recorded in the header).
pub const COMPILED_AT: UnixTime = NOW + 60;

/// The host's local accounts: root and the system accounts, a local `carol`
/// (whose name the example snapshots also use), and a local `backup` and
/// group `wheel` with ids inside the snapshot range (10000+).
pub const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
carol:x:1001:1001:Carol Local:/home/carol:/bin/bash
backup:x:10500:10500:Local backup:/home/backup:/bin/sh
";

pub const GROUP: &str = "\
root:x:0:
daemon:x:1:
users:x:100:carol,alice
nogroup:x:65534:
carol:x:1001:
backup:x:10500:
wheel:x:10600:
";

/// `/usr/bin/zsh` is absent on purpose: a snapshot user with it gets the
/// fallback shell.
pub const SHELLS: &str = "# /etc/shells\n/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/dash\n";

/// [`PASSWD`], [`GROUP`] and [`SHELLS`], parsed once.
pub fn local_tables() -> &'static LocalTables {
    static TABLES: OnceLock<LocalTables> = OnceLock::new();
    TABLES.get_or_init(|| LocalTables::parse(PASSWD, GROUP, SHELLS))
}

/// The validation policies the snapshot is checked under: the library's
/// default (no admin group), and what `Config::parse` builds from a
/// roster.toml without an `[accounts]` or `[roles]` table (the default plus
/// the synthetic admin group `roster-admins`, gid 9999).
pub fn policies() -> &'static [Policy; 2] {
    static POLICIES: OnceLock<[Policy; 2]> = OnceLock::new();
    POLICIES.get_or_init(|| {
        [
            Policy::default(),
            Policy {
                admin_group: Some(AdminGroup {
                    name: "roster-admins".into(),
                    gid: 9999,
                }),
                ..Policy::default()
            },
        ]
    })
}

/// The host the snapshots are compiled for.
pub fn host_policy() -> HostPolicy {
    HostPolicy {
        host_labels: vec!["web".into(), "dc1".into()],
        require_host_binding: true,
        ..HostPolicy::with_defaults("web-01")
    }
}

/// Turns input bytes into text the way a caller reading a file or an
/// environment variable would, keeping every input useful to the fuzzer.
pub(crate) fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

#[cfg(test)]
mod tests;
