//! The committed seeds, replayed through the targets without libFuzzer, and
//! checks that they are what they claim to be.
//!
//! `ROSTER_FUZZ_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml`
//! rewrites `seeds/compiled_read/` from `seeds/snapshot_validate/` (after a
//! change to the compiled format or to validation).

use std::path::{Path, PathBuf};

use roster::host::compiled::{View, compile};
use roster::snapshot::validate;

use crate::{COMPILED_AT, NOW, host_policy, local_tables, policies};

/// A target's body, as its fuzz_targets/ file calls it.
type Run = fn(&[u8]);

const TARGETS: [(&str, Run); 7] = [
    ("snapshot_validate", crate::snapshot_validate::run),
    ("compiled_read", crate::compiled_read::run),
    ("auth_info", crate::auth_info::run),
    ("cert_rules", crate::cert_rules::run),
    ("config", crate::config::run),
    ("people", crate::people::run),
    ("scim_filter", crate::scim_filter::run),
];

fn seed_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target)
}

/// `(file name, contents)` of a target's seeds, sorted by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(seed_dir(target))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

#[test]
fn every_seed_passes_its_target() {
    for (target, run) in TARGETS {
        for (name, bytes) in seeds(target) {
            let result = std::panic::catch_unwind(|| run(&bytes));
            assert!(result.is_ok(), "{target}: seed {name} fails");
        }
    }
}

#[test]
fn snapshot_seeds_validate_and_keep_entries() {
    for (name, json) in seeds("snapshot_validate") {
        for policy in policies() {
            let s = validate(&json, policy, local_tables(), NOW)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                !s.users.is_empty() || name == "minimal.json",
                "{name} keeps no user"
            );
        }
    }
}

/// A larger snapshot than the hand-written ones, so that the compiled
/// indexes have more slots and longer probe paths.
fn many_users() -> Vec<u8> {
    let users: Vec<String> = (0..40)
        .map(|i| {
            let id = 30_000 + i;
            format!(
                r#"{{"name":"u{i}","uid":{id},"gid":{id},"home":"/home/u{i}","shell":"/bin/sh","state":"active","role":"user"}}"#
            )
        })
        .collect();
    let groups: Vec<String> = (0..5)
        .map(|g| {
            let members: Vec<String> = (0..8).map(|i| format!("\"u{}\"", g * 8 + i)).collect();
            format!(
                r#"{{"name":"team{g}","gid":{},"members":[{}]}}"#,
                40_000 + g,
                members.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"format":"roster-snapshot/1","serial":40,"issued_at":"2026-11-25T10:00:00Z","valid_until":"2099-01-01T00:00:00Z","users":[{}],"groups":[{}]}}"#,
        users.join(","),
        groups.join(",")
    )
    .into_bytes()
}

/// `seeds/compiled_read/`: each snapshot seed compiled under each policy
/// (`-admins`: with the admin group), and [`many_users`].
fn compiled_seeds() -> Vec<(String, Vec<u8>)> {
    let mut sources = seeds("snapshot_validate");
    sources.push(("many.json".into(), many_users()));
    let mut out = Vec::new();
    for (name, json) in sources {
        let stem = name.trim_end_matches(".json");
        for (policy, suffix) in policies().iter().zip(["", "-admins"]) {
            let s = validate(&json, policy, local_tables(), NOW).unwrap();
            let bytes = compile(&s, &host_policy(), COMPILED_AT).unwrap();
            out.push((format!("{stem}{suffix}.bin"), bytes));
        }
    }
    out.sort();
    out
}

#[test]
fn compiled_seeds_are_the_snapshot_seeds_compiled() {
    let expected = compiled_seeds();
    if std::env::var_os("ROSTER_FUZZ_WRITE_SEEDS").is_some() {
        let dir = seed_dir("compiled_read");
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, bytes) in &expected {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let committed = seeds("compiled_read");
    assert!(
        committed == expected,
        "seeds/compiled_read/ is stale: rerun with ROSTER_FUZZ_WRITE_SEEDS=1"
    );
    for (name, bytes) in &committed {
        let v = View::open(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.verify_body(), Ok(()), "{name}");
    }
}

#[test]
fn only_the_valid_certificate_seeds_verify() {
    use crate::cert_rules::{CLIENT, VALID, rules};
    use roster::host::cert::{CertError, verify};
    use ssh_key::Certificate;

    let mut valid = 0;
    for (name, blob) in seeds("cert_rules") {
        // The fuzzer's one finding: a valid seed with a byte appended inside the CA
        // key's blob, which ssh-key decodes to the same certificate.
        if name == "invalid-ca-key-trailing-byte.bin" {
            assert!(Certificate::from_bytes(&blob).is_ok(), "{name}");
            assert_eq!(
                roster::host::cert::from_blob(&blob).unwrap_err(),
                CertError::Malformed(
                    "not in canonical encoding (not the bytes the CA signed)".into()
                ),
                "{name}"
            );
            continue;
        }
        let cert = roster::host::cert::from_blob(&blob).unwrap_or_else(|e| panic!("{name}: {e}"));
        let verdicts = [
            verify(&cert, &rules(Some(CLIENT))),
            verify(&cert, &rules(None)),
        ];
        if name.starts_with("valid-") {
            assert!(VALID.contains(&&blob[..]), "{name} is not in VALID");
            for v in verdicts {
                let v = v.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(v.principals, ["alice"], "{name}");
            }
            valid += 1;
        } else {
            let expected = match name.as_str() {
                "invalid-host.bin" => CertError::HostCertificate,
                "invalid-future.bin" => CertError::NotYetValid {
                    valid_after: 1_795_608_000,
                },
                "invalid-otherhost.bin" => CertError::HostBindingMismatch("db-07,dc2".into()),
                "invalid-critical.bin" => CertError::WildcardPrincipal("al*".into()),
                other => panic!("unexpected certificate seed {other}"),
            };
            for v in verdicts {
                assert_eq!(v, Err(expected.clone()), "{name}");
            }
        }
    }
    assert_eq!(valid, VALID.len());
    // A certificate from another CA does not verify: the committed key is
    // the one that signed the seeds.
    let ca = ssh_key::PublicKey::from_openssh(crate::cert_rules::CA.trim()).unwrap();
    let cert = Certificate::from_bytes(VALID[0]).unwrap();
    assert_eq!(cert.signature_key(), ca.key_data());
}

#[test]
fn auth_info_seeds_are_what_sshd_exposes() {
    use roster::host::login::parse_auth_info;
    for (name, bytes) in seeds("auth_info") {
        let text = String::from_utf8(bytes).unwrap();
        let parsed = parse_auth_info(&text);
        let expect_ok = !matches!(name.as_str(), "plain-key.txt" | "two-certs.txt");
        assert_eq!(parsed.is_ok(), expect_ok, "{name}: {parsed:?}");
    }
}

#[test]
fn config_and_people_seeds_mostly_parse() {
    let configs = seeds("config");
    let ok = configs
        .iter()
        .filter(|(_, t)| roster::agent::config::Config::parse(&crate::text(t), "web-01").is_ok())
        .count();
    // The shipped example (source commented out) and unknown-key.toml fail.
    assert_eq!(ok, configs.len() - 2);
    for (name, text) in seeds("people") {
        let people = roster::tools::people::parse(&crate::text(&text));
        let people = people.unwrap_or_else(|e| panic!("{name}: {e}"));
        let built = roster::tools::people::build(&people, &[], &mut Default::default(), NOW);
        assert!(built.is_ok(), "{name}: {built:?}");
    }
}

#[test]
fn repairing_a_good_compiled_file_changes_nothing() {
    for (name, bytes) in seeds("compiled_read") {
        assert!(crate::compiled_read::repair(&bytes) == bytes, "{name}");
        let mut broken = bytes.clone();
        // A flipped byte in the first user record, then repaired: opens again.
        let at = roster::host::compiled::table_end(&bytes) + 10;
        broken[at] ^= 1;
        broken.push(0);
        let fixed = crate::compiled_read::repair(&broken);
        assert!(View::open(&fixed).is_ok(), "{name}");
        assert_eq!(View::open(&fixed).unwrap().verify_body(), Ok(()), "{name}");
    }
}
