//! `cert_rules`: a certificate's binary blob (the base64-decoded middle of a
//! `*-cert.pub` line) → `roster::host::cert::from_blob` → `cert::verify`.
//!
//! The rules: the committed test CA (`fuzz_targets/ca.pub`) is the only
//! trusted one, the host is web-01 (default policy, a two-hour lifetime cap
//! so the seeds' one-hour window passes), nothing is revoked, and `now` lies
//! inside the seeds' window. Properties:
//! - only the committed valid certificates verify: any other bytes, in
//!   particular any mutation of them, are refused (with the client address
//!   known or not);
//! - `verify` agrees with `steps` (what `roster explain` shows): it succeeds
//!   exactly when every step does, and otherwise fails with the first
//!   failing step's error.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use roster::host::cert::{Revocations, Rules, steps, verify};
use roster::host::compiled::HostPolicy;
use roster::time::UnixTime;
use ssh_key::PublicKey;

/// The CA that signed every seed; its private key was thrown away.
pub const CA: &str = include_str!("../fuzz_targets/ca.pub");

/// The certificates that verify under these rules, byte for byte. Made by
/// `ssh-keygen -s` (see `fuzz/make-cert-seeds.sh`), for principal alice,
/// valid 2026-11-25T10:00:00Z to 11:00:00Z.
pub const VALID: [&[u8]; 4] = [
    include_bytes!("../seeds/cert_rules/valid-plain.bin"),
    // source-address=10.0.0.0/8,192.0.2.7/32
    include_bytes!("../seeds/cert_rules/valid-source.bin"),
    // extension hosts@roster=web-01
    include_bytes!("../seeds/cert_rules/valid-hosts.bin"),
    // an ECDSA P-256 user key, force-command=/bin/true
    include_bytes!("../seeds/cert_rules/valid-ecdsa.bin"),
];

/// 2026-11-25T10:30:00Z, inside the seeds' window.
pub const NOW: UnixTime = 1_795_602_600;

/// Inside the valid source-address seed's 10.0.0.0/8.
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));

struct NoRevocations;

impl Revocations for NoRevocations {
    fn revoked(&self, _: u64, _: &str, _: &str) -> bool {
        false
    }
}

fn world() -> &'static (PublicKey, HostPolicy) {
    static WORLD: OnceLock<(PublicKey, HostPolicy)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let ca = PublicKey::from_openssh(CA.trim()).expect("fuzz_targets/ca.pub");
        let host = HostPolicy {
            max_cert_lifetime_secs: 2 * 3600,
            ..HostPolicy::with_defaults("web-01")
        };
        (ca, host)
    })
}

/// The rules, with or without the client's address.
pub fn rules(client: Option<IpAddr>) -> Rules<'static> {
    let (ca, host) = world();
    Rules {
        cas: std::slice::from_ref(ca),
        host,
        revoked: &NoRevocations,
        now: NOW,
        client,
    }
}

pub fn run(data: &[u8]) {
    // roster's own decoder: canonical encodings only.
    let Ok(cert) = roster::host::cert::from_blob(data) else {
        return;
    };
    let known = rules(Some(CLIENT));
    let verdict = verify(&cert, &known);
    let first_failure = steps(&cert, &known)
        .into_iter()
        .find_map(|s| s.outcome.err());
    match (&verdict, first_failure) {
        (Ok(_), None) => {}
        (Err(e), Some(step)) => assert_eq!(*e, step, "verify and steps disagree"),
        (v, s) => panic!("verify says {v:?}, steps say {s:?}"),
    }
    let unknown = verify(&cert, &rules(None));
    if verdict.is_ok() || unknown.is_ok() {
        assert!(
            VALID.contains(&data),
            "a certificate that is not a committed valid seed verifies: {verdict:?} / {unknown:?}"
        );
    }
}
