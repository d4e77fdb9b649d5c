use super::*;
use crate::local::LocalTables;
use crate::snapshot::{AccountKind, AccountState, Policy, Role, validate};

fn sample() -> Vec<u8> {
    let json = br#"{"format":"roster-snapshot/1","serial":42,
        "issued_at":"2026-11-25T10:00:00Z","valid_until":"2099-01-01T00:00:00Z",
        "users":[
          {"name":"alice","uid":10001,"gid":10001,"gecos":"Alice Liddell","home":"/home/alice",
           "shell":"/bin/bash","state":"active","role":"admin","kind":"person"},
          {"name":"bob","uid":10002,"gid":10002,"home":"/home/bob","shell":"/bin/sh",
           "state":"disabled","role":"user","kind":"service"}],
        "groups":[
          {"name":"alice","gid":10001,"members":[]},
          {"name":"devs","gid":10010,"members":["alice","bob"]},
          {"name":"ops","gid":10011,"members":["alice"]}]}"#;
    let local = LocalTables::parse("", "", "/bin/sh\n/bin/bash\n");
    let s = validate(json, &Policy::default(), &local, 1_795_600_800).unwrap();
    compile(&s, &HostPolicy::with_defaults("web-01"), 1_795_600_900).unwrap()
}

#[test]
fn round_trip_answers_every_lookup() {
    let bytes = sample();
    let v = View::open(&bytes).unwrap();
    v.verify_body().unwrap();
    let h = v.header();
    assert_eq!((h.serial, h.users, h.groups), (42, 2, 3));
    assert_eq!((h.issued_at, h.compiled_at), (1_795_600_800, 1_795_600_900));

    let alice = v.user_by_name(b"alice").unwrap().unwrap();
    assert_eq!(alice.uid, 10001);
    assert_eq!(alice.gecos, b"Alice Liddell");
    assert_eq!(
        (alice.home, alice.shell),
        (&b"/home/alice"[..], &b"/bin/bash"[..])
    );
    assert_eq!(
        (alice.state, alice.role, alice.kind),
        (AccountState::Active, Role::Admin, AccountKind::Person)
    );
    assert_eq!(alice.groups.collect::<Vec<_>>(), [10010, 10011]);
    let groups_of = |gid| {
        v.groups_of(b"alice", gid)
            .unwrap()
            .map(|g| g.collect::<Vec<_>>())
    };
    assert_eq!(groups_of(10001), Some(vec![10010, 10011]));
    // A local alice (another primary group) gets none of the snapshot's groups.
    assert_eq!(groups_of(1000), None);
    assert_eq!(groups_of(u32::MAX), Some(vec![10010, 10011]));
    assert_eq!(v.user_by_uid(10002).unwrap().unwrap().name, b"bob");
    let bob = v.user_by_name(b"bob").unwrap().unwrap();
    assert_eq!(
        (bob.state, bob.kind, bob.gecos),
        (AccountState::Disabled, AccountKind::Service, &b""[..])
    );

    let devs = v.group_by_name(b"devs").unwrap().unwrap();
    assert_eq!(devs.gid, 10010);
    assert_eq!(devs.members.collect::<Vec<_>>(), [&b"alice"[..], b"bob"]);
    assert_eq!(v.group_by_gid(10011).unwrap().unwrap().name, b"ops");

    for miss in [&b"carol"[..], b"", b"alic", b"alice\0"] {
        assert_eq!(v.user_by_name(miss), Ok(None));
        assert_eq!(v.group_by_name(miss), Ok(None));
    }
    assert_eq!(v.user_by_uid(10003), Ok(None));
    assert_eq!(v.group_by_gid(0), Ok(None));
}

#[test]
fn enumeration_walks_in_snapshot_order() {
    let bytes = sample();
    let v = View::open(&bytes).unwrap();
    let mut pos = 0;
    let mut names = Vec::new();
    while let Some((u, next)) = v.user_at(pos).unwrap() {
        names.push(u.name.to_vec());
        pos = next;
    }
    assert_eq!(names, [b"alice".to_vec(), b"bob".to_vec()]);
    let mut pos = 0;
    let mut gids = Vec::new();
    while let Some((g, next)) = v.group_at(pos).unwrap() {
        gids.push(g.gid);
        pos = next;
    }
    assert_eq!(gids, [10001, 10010, 10011]);
    assert_eq!(v.user_at(3), Err(FormatError::CorruptRecord));
}

#[test]
fn large_snapshot_indexes_find_everything() {
    let json = format!(
        r#"{{"format":"roster-snapshot/1","serial":1,"issued_at":"2026-01-01T00:00:00Z",
        "valid_until":"2099-01-01T00:00:00Z","users":[{}],"groups":[]}}"#,
        crate::testing::generated_users(5000)
    );
    let local = LocalTables::parse("", "", "/bin/sh\n");
    let s = validate(json.as_bytes(), &Policy::default(), &local, 0).unwrap();
    let bytes = compile(&s, &HostPolicy::with_defaults("web-01"), 0).unwrap();
    let v = View::open(&bytes).unwrap();
    for i in 0..5000u32 {
        let by_name = v.user_by_name(format!("u{i}").as_bytes()).unwrap().unwrap();
        assert_eq!(by_name.uid, 100_000 + i);
        assert_eq!(
            v.user_by_uid(100_000 + i).unwrap().unwrap().name,
            by_name.name
        );
    }
    assert_eq!(v.user_by_uid(99_999), Ok(None));
}

#[test]
fn corrupt_headers_are_refused() {
    let good = sample();
    let mutate = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x40;
        Layout::parse(&b).unwrap_err()
    };
    assert_eq!(mutate(0), FormatError::BadMagic);
    assert_eq!(mutate(8), FormatError::UnsupportedVersion(VERSION ^ 0x40));
    for at in [
        16,
        24,
        40,
        48,
        56,
        60,
        HEADER_LEN,
        HEADER_LEN + 9,
        HEADER_LEN + 5 * SECTION_LEN,
    ] {
        assert_eq!(mutate(at), FormatError::HeaderChecksum, "byte {at}");
    }
    assert_eq!(Layout::parse(b"").unwrap_err(), FormatError::TooShort);
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        Layout::parse(&longer),
        Err(FormatError::LengthMismatch { .. })
    ));
}

/// A file cut at any byte — in particular at every section boundary — is
/// refused before any lookup runs.
#[test]
fn truncation_anywhere_is_refused() {
    let good = sample();
    for len in 0..good.len() {
        assert!(
            Layout::parse(&good[..len]).is_err(),
            "accepted a file cut at {len}"
        );
    }
}

/// Any single flipped byte in the body makes the lookups that touch it fail
/// or miss, never answer wrongly, and never panic.
#[test]
fn flipped_body_bytes_never_give_a_wrong_answer() {
    let good = sample();
    let layout_end = HEADER_LEN + REQUIRED.len() * SECTION_LEN;
    let expected = View::open(&good)
        .unwrap()
        .user_by_name(b"alice")
        .unwrap()
        .unwrap();
    let expected_uid = expected.uid;
    for at in layout_end..good.len() {
        for bit in [0x01, 0x80] {
            let mut b = good.clone();
            b[at] ^= bit;
            let v = View::open(&b).unwrap();
            assert_eq!(v.verify_body(), Err(FormatError::BodyChecksum));
            // A miss or an error is fine; a different answer is not.
            if let Ok(Some(u)) = v.user_by_name(b"alice") {
                assert_eq!((u.uid, u.gecos), (expected_uid, expected.gecos));
            }
            if let Ok(Some(u)) = v.user_by_uid(expected_uid) {
                assert_eq!(u.name, b"alice");
            }
            let _ = v.group_by_name(b"devs");
            let _ = v.group_by_gid(10011);
            let mut pos = 0;
            while let Ok(Some((_, next))) = v.user_at(pos) {
                pos = next;
            }
        }
    }
}

#[test]
fn arbitrary_section_tables_do_not_panic() {
    let good = sample();
    // Point every section at every plausible offset; parse must stay in bounds.
    for i in 0..REQUIRED.len() {
        for (field, value) in [
            (8, u64::MAX),
            (16, u64::MAX),
            (8, good.len() as u64),
            (16, 1),
        ] {
            let mut b = good.clone();
            let at = HEADER_LEN + i * SECTION_LEN + field;
            b[at..at + 8].copy_from_slice(&value.to_le_bytes());
            let mut h = crc32fast::Hasher::new();
            h.update(&b[..60]);
            h.update(&[0; 4]);
            h.update(&b[HEADER_LEN..HEADER_LEN + REQUIRED.len() * SECTION_LEN]);
            let crc = h.finalize();
            b[60..64].copy_from_slice(&crc.to_le_bytes());
            if let Ok(v) = View::open(&b) {
                let _ = v.user_by_name(b"alice");
                let _ = v.group_by_gid(10010);
            }
        }
    }
}

#[test]
fn certificate_gate_sections_round_trip() {
    let ca = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6EOPB3j2MNtlM8OduXusAUzKMEbXHBvBVvUNTxXTc ca";
    let fp = format!("SHA256:{}", "B".repeat(43));
    let json = format!(
        r#"{{"format":"roster-snapshot/1","serial":1,"issued_at":"2026-01-01T00:00:00Z",
        "valid_until":"2099-01-01T00:00:00Z","groups":[],"user_cas":["{ca}"],
        "revoked":{{"serials":[99],"key_ids":["old@laptop"],"keys":["{fp}"]}},
        "grants":[{{"account":"deploy","persons":["alice"]}}],
        "users":[
          {{"name":"alice","uid":10001,"gid":10001,"home":"/home/alice","shell":"/bin/sh",
            "state":"active","role":"user"}},
          {{"name":"deploy","uid":10002,"gid":10002,"home":"/home/deploy","shell":"/bin/sh",
            "state":"active","role":"user","kind":"shared"}}]}}"#
    );
    let local = LocalTables::parse("", "", "/bin/sh\n");
    let s = validate(json.as_bytes(), &Policy::default(), &local, 0).unwrap();
    let host = HostPolicy {
        host_labels: vec!["web".into(), "dc1".into()],
        require_host_binding: true,
        ..HostPolicy::with_defaults("web-01")
    };
    let bytes = compile(&s, &host, 0).unwrap();
    let v = View::open(&bytes).unwrap();
    assert_eq!(v.host_policy().unwrap(), host);
    assert_eq!(v.user_cas().unwrap(), [ca]);
    assert_eq!(v.is_revoked(99, "x", "y"), Ok(true));
    assert_eq!(v.is_revoked(1, "old@laptop", "y"), Ok(true));
    assert_eq!(v.is_revoked(1, "x", &fp), Ok(true));
    assert_eq!(v.is_revoked(1, "old@laptop2", "SHA256:x"), Ok(false));
    assert_eq!(v.grant("deploy").unwrap(), Some(vec!["alice"]));
    assert_eq!(v.grant("alice").unwrap(), None);
    assert_eq!(v.sudo_rules().unwrap(), []);
}

#[test]
fn sudo_rules_round_trip_with_their_root_equivalence() {
    let json = r#"{"format":"roster-snapshot/1","serial":1,"issued_at":"2026-01-01T00:00:00Z",
        "valid_until":"2099-01-01T00:00:00Z","users":[],
        "groups":[{"name":"web","gid":10010},{"name":"ops","gid":10011}],
        "sudo":[{"group":"web","commands":["/usr/bin/id -u","/usr/bin/journalctl"]},
                {"group":"ops","commands":["/usr/bin/env"],"runas":"deploy",
                 "root_equivalent":true}]}"#;
    let local = LocalTables::parse("", "", "/bin/sh\n");
    let s = validate(json.as_bytes(), &Policy::default(), &local, 0).unwrap();
    let bytes = compile(&s, &HostPolicy::with_defaults("h"), 0).unwrap();
    let v = View::open(&bytes).unwrap();
    assert_eq!(
        v.sudo_rules().unwrap(),
        [
            SudoRuleEntry {
                group: "web",
                runas: "root",
                commands: vec!["/usr/bin/id -u", "/usr/bin/journalctl"],
                root_equivalent: false,
            },
            SudoRuleEntry {
                group: "ops",
                runas: "deploy",
                commands: vec!["/usr/bin/env"],
                root_equivalent: true,
            },
        ]
    );
}
