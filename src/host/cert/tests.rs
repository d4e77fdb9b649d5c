//! Every certificate rule, with certificates built by ssh-key's builder (and
//! one made by ssh-keygen, for the extension encoding).

use super::*;
use ssh_key::PrivateKey;
use ssh_key::certificate::Builder;

const NOW: u64 = 1_795_600_800; // 2026-11-25T10:00:00Z

fn key(alg: Algorithm) -> PrivateKey {
    let mut rng = ssh_key::rand_core::UnwrapErr(ssh_key::getrandom::SysRng);
    PrivateKey::random(&mut rng, alg).unwrap()
}

struct NoRevocations;
impl Revocations for NoRevocations {
    fn revoked(&self, _: u64, _: &str, _: &str) -> bool {
        false
    }
}

struct RevokedKeyId(&'static str);
impl Revocations for RevokedKeyId {
    fn revoked(&self, _: u64, key_id: &str, _: &str) -> bool {
        key_id == self.0
    }
}

/// A certificate for `alice`, valid 5 minutes around NOW, with `tweak`
/// applied to the builder before signing.
fn cert(ca: &PrivateKey, tweak: impl FnOnce(&mut Builder)) -> Certificate {
    let user = key(Algorithm::Ed25519);
    let mut b = Builder::new(
        vec![7u8; 32],
        user.public_key().key_data().clone(),
        NOW - 60,
        NOW + 240,
    )
    .unwrap();
    // The type is left unset: it defaults to a user certificate, and a tweak
    // may set it (the builder takes each field once).
    b.serial(42).unwrap().key_id("alice@laptop").unwrap();
    b.valid_principal("alice").unwrap();
    tweak(&mut b);
    b.sign(ca).unwrap()
}

fn check(
    c: &Certificate,
    ca: &PrivateKey,
    host: &HostPolicy,
    client: Option<&str>,
) -> Result<VerifiedCert, CertError> {
    let cas = [ca.public_key().clone()];
    let rules = Rules {
        cas: &cas,
        host,
        revoked: &NoRevocations,
        now: NOW as i64,
        client: client.map(|c| c.parse().unwrap()),
    };
    verify(c, &rules)
}

fn host() -> HostPolicy {
    HostPolicy {
        host_labels: vec!["dc1".into()],
        ..HostPolicy::with_defaults("web-01")
    }
}

#[test]
fn a_good_certificate_verifies() {
    let ca = key(Algorithm::Ed25519);
    let v = check(&cert(&ca, |_| {}), &ca, &host(), Some("127.0.0.1")).unwrap();
    assert_eq!((v.key_id.as_str(), v.serial), ("alice@laptop", 42));
    assert_eq!(v.principals, ["alice"]);
    assert!(v.ca_fingerprint.starts_with("SHA256:") && v.key_fingerprint.starts_with("SHA256:"));
}

#[test]
fn each_rule_refuses_with_its_reason() {
    let ca = key(Algorithm::Ed25519);
    let other_ca = key(Algorithm::Ed25519);
    let h = host();
    let refused = |c: Certificate| check(&c, &ca, &h, Some("127.0.0.1")).unwrap_err();

    assert_eq!(
        refused(cert(&ca, |b| drop(b.cert_type(CertType::Host)))),
        CertError::HostCertificate
    );
    assert!(matches!(
        refused(cert(&other_ca, |_| {})),
        CertError::UntrustedCa(_)
    ));

    let window = |after: u64, before: u64| {
        let user = key(Algorithm::Ed25519);
        let mut b = Builder::new(
            vec![1; 32],
            user.public_key().key_data().clone(),
            after,
            before,
        )
        .unwrap();
        b.valid_principal("alice").unwrap();
        b.sign(&ca).unwrap()
    };
    assert_eq!(
        refused(window(NOW - 600, NOW)),
        CertError::Expired { valid_before: NOW }
    );
    assert_eq!(
        refused(window(NOW + 3600, NOW + 7200)),
        CertError::NotYetValid {
            valid_after: NOW + 3600
        }
    );
    // Within the clock-skew allowance (2 minutes) a future start is fine.
    assert!(check(&window(NOW + 100, NOW + 400), &ca, &h, None).is_ok());
    assert_eq!(
        refused(window(NOW - 60, NOW - 60 + 16 * 3600 + 1)),
        CertError::TooLong {
            lifetime: 16 * 3600 + 1,
            max: 16 * 3600
        }
    );
    assert!(matches!(
        refused(window(0, u64::MAX)),
        CertError::TooLong { .. }
    ));

    let all = {
        let user = key(Algorithm::Ed25519);
        let mut b = Builder::new(
            vec![1; 32],
            user.public_key().key_data().clone(),
            NOW - 1,
            NOW + 60,
        )
        .unwrap();
        b.all_principals_valid().unwrap();
        b.sign(&ca).unwrap()
    };
    assert_eq!(refused(all), CertError::NoPrincipals);
    assert_eq!(
        refused(cert(&ca, |b| drop(b.valid_principal("a*")))),
        CertError::WildcardPrincipal("a*".into())
    );
    assert_eq!(
        refused(cert(&ca, |b| drop(
            b.critical_option("no-such-option@example.com", "")
        ))),
        CertError::UnknownCriticalOption("no-such-option@example.com".into())
    );
    assert!(matches!(
        refused(cert(&ca, |b| drop(
            b.critical_option("source-address", "10.0.0.0/33")
        ))),
        CertError::BadCriticalOption { .. }
    ));
    assert!(matches!(
        refused(cert(&ca, |b| drop(
            b.critical_option("verify-required", "yes")
        ))),
        CertError::BadCriticalOption { .. }
    ));
    assert!(matches!(
        refused(cert(&ca, |b| drop(
            b.critical_option("source-address", "10.1.2.3/32")
        ))),
        CertError::SourceAddress { .. }
    ));
    assert_eq!(
        refused(cert(&ca, |b| drop(
            b.extension(HOST_BINDING_EXTENSION, "db-07,dc2")
        ))),
        CertError::HostBindingMismatch("db-07,dc2".into())
    );
}

#[test]
fn source_address_matches_networks_and_mapped_addresses() {
    let ca = key(Algorithm::Ed25519);
    let c = cert(&ca, |b| {
        drop(b.critical_option("source-address", "10.0.0.0/8,2001:db8::/32,192.0.2.7"))
    });
    for ok in ["10.200.1.1", "2001:db8::1", "192.0.2.7", "::ffff:10.1.1.1"] {
        assert!(check(&c, &ca, &host(), Some(ok)).is_ok(), "{ok}");
    }
    for bad in ["11.0.0.1", "2001:db9::1", "192.0.2.8"] {
        assert!(check(&c, &ca, &host(), Some(bad)).is_err(), "{bad}");
    }
    // Unknown client (the principals command): sshd has enforced it already.
    assert!(check(&c, &ca, &host(), None).is_ok());
}

#[test]
fn host_binding_by_name_or_label_and_when_required() {
    let ca = key(Algorithm::Ed25519);
    for hosts in ["web-01", "dc1", "db-07,web-01"] {
        let c = cert(&ca, |b| drop(b.extension(HOST_BINDING_EXTENSION, hosts)));
        assert!(check(&c, &ca, &host(), None).is_ok(), "{hosts}");
    }
    let strict = HostPolicy {
        require_host_binding: true,
        ..host()
    };
    assert_eq!(
        check(&cert(&ca, |_| {}), &ca, &strict, None),
        Err(CertError::HostBindingMissing)
    );
}

#[test]
fn revoked_certificates_are_refused() {
    let ca = key(Algorithm::Ed25519);
    let cas = [ca.public_key().clone()];
    let h = host();
    let rules = Rules {
        cas: &cas,
        host: &h,
        revoked: &RevokedKeyId("alice@laptop"),
        now: NOW as i64,
        client: None,
    };
    assert_eq!(verify(&cert(&ca, |_| {}), &rules), Err(CertError::Revoked));
}

#[test]
fn a_tampered_certificate_never_verifies() {
    let ca = key(Algorithm::Ed25519);
    let good = cert(&ca, |_| {});
    let bytes = good.to_bytes().unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        if let Ok(c) = Certificate::from_bytes(&b) {
            let r = check(&c, &ca, &host(), Some("127.0.0.1"));
            assert!(
                r.is_err() || c.to_bytes().unwrap() == bytes,
                "byte {i} flipped still verifies"
            );
        }
    }
}

/// Made by `tests/fixtures/certs/make.sh` with ssh-keygen: principals alice,
/// serial 42, key ID alice@test, valid 2026-01-01..2099-01-01, extension
/// hosts@roster=web-01,dc1, source-address 127.0.0.1/32,10.0.0.0/8,
/// force-command /bin/true.
#[test]
fn reads_what_ssh_keygen_writes() {
    let ca = PublicKey::from_openssh(include_str!("../../../tests/fixtures/certs/ca.pub").trim())
        .unwrap();
    let c = Certificate::from_openssh(
        include_str!("../../../tests/fixtures/certs/alice-cert.pub").trim(),
    )
    .unwrap();
    let h = HostPolicy {
        max_cert_lifetime_secs: u64::MAX,
        ..host()
    };
    let rules = Rules {
        cas: &[ca],
        host: &h,
        revoked: &NoRevocations,
        now: NOW as i64,
        client: Some("10.9.9.9".parse().unwrap()),
    };
    let v = verify(&c, &rules).unwrap();
    assert_eq!(v.force_command.as_deref(), Some("/bin/true"));
    assert_eq!(v.source_address.as_deref(), Some("127.0.0.1/32,10.0.0.0/8"));
    assert_eq!((v.key_id.as_str(), v.serial), ("alice@test", 42));
    let elsewhere = HostPolicy {
        host_name: "db-07".into(),
        host_labels: vec![],
        ..h.clone()
    };
    let rules = Rules {
        host: &elsewhere,
        ..rules
    };
    assert!(matches!(
        verify(&c, &rules),
        Err(CertError::HostBindingMismatch(_))
    ));
}

#[test]
fn steps_report_every_rule_even_after_a_failure() {
    let ca = key(Algorithm::Ed25519);
    let c = cert(&ca, |b| {
        drop(b.critical_option("source-address", "10.0.0.0/8"))
    });
    let cas = [ca.public_key().clone()];
    let h = host();
    let rules = Rules {
        cas: &cas,
        host: &h,
        revoked: &NoRevocations,
        now: NOW as i64,
        client: Some("192.0.2.1".parse().unwrap()),
    };
    let steps = steps(&c, &rules);
    let names: Vec<&str> = steps.iter().map(|s| s.rule).collect();
    assert_eq!(
        names,
        [
            "type",
            "CA",
            "signature",
            "validity",
            "lifetime",
            "principals",
            "critical options",
            "source address",
            "revocation",
            "host binding"
        ]
    );
    let failed: Vec<&str> = steps
        .iter()
        .filter(|s| s.outcome.is_err())
        .map(|s| s.rule)
        .collect();
    assert_eq!(failed, ["source address"]);
    assert_eq!(steps[5].outcome.as_deref(), Ok("alice"));
    assert_eq!(
        verify(&c, &rules).unwrap_err(),
        steps[7].outcome.clone().unwrap_err()
    );
}

/// Found by fuzz/'s `cert_rules`: one byte appended inside the CA key's blob
/// (its length grown to match) decoded to the same certificate, and ssh-key
/// verified the signature over its re-encoding, not over these bytes. Only
/// the canonical encoding is accepted now.
#[test]
fn only_the_canonical_encoding_is_accepted() {
    let ca = key(Algorithm::Ed25519);
    let bytes = cert(&ca, |_| {}).to_bytes().unwrap();
    assert!(from_blob(&bytes).is_ok());
    let ca_blob = ca.public_key().to_bytes().unwrap();
    let at = bytes
        .windows(ca_blob.len())
        .position(|w| w == ca_blob.as_slice())
        .expect("the CA key in the certificate");
    let mut mutated = bytes[..at - 4].to_vec();
    mutated.extend_from_slice(&(ca_blob.len() as u32 + 1).to_be_bytes());
    mutated.extend_from_slice(&ca_blob);
    mutated.push(b'W');
    mutated.extend_from_slice(&bytes[at + ca_blob.len()..]);
    assert_eq!(
        from_blob(&mutated).unwrap_err(),
        CertError::Malformed("not in canonical encoding (not the bytes the CA signed)".into())
    );
    let (line, mutated_line) = (cert_line(&bytes), cert_line(&mutated));
    assert!(parse(&line.0, &line.1).is_ok());
    assert!(parse(&mutated_line.0, &mutated_line.1).is_err());
}

/// The `TYPE BASE64` words of an OpenSSH certificate line for `bytes`.
fn cert_line(bytes: &[u8]) -> (String, String) {
    use ssh_key::encoding::base64::{Base64, Encoding};
    let cert = Certificate::from_bytes(bytes).unwrap();
    (
        cert.algorithm().to_certificate_type(),
        Base64::encode_string(bytes),
    )
}
