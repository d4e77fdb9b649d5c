//! The decisions of the sshd gate and PAM, on a compiled snapshot. The
//! world and certificates here serve the gate's tests too.

use super::*;
use crate::host::compiled::compile;
use crate::local::LocalTables;
use crate::snapshot::{Policy, validate};
use ssh_key::certificate::Builder;
use ssh_key::{Algorithm, PrivateKey};

pub(crate) const NOW: i64 = 1_795_600_800;

pub(crate) fn key() -> PrivateKey {
    let mut rng = ssh_key::rand_core::UnwrapErr(ssh_key::getrandom::SysRng);
    PrivateKey::random(&mut rng, Algorithm::Ed25519).unwrap()
}

pub(crate) struct World {
    pub(crate) ca: PrivateKey,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn world(revoked_serials: &str) -> World {
    let ca = key();
    let ca_line = ca.public_key().to_openssh().unwrap();
    let user = |name: &str, uid: u32, state: &str, role: &str, kind: &str| {
        format!(
            r#"{{"name":"{name}","uid":{uid},"gid":{uid},"home":"/home/{name}","shell":"/bin/sh",
            "state":"{state}","role":"{role}","kind":"{kind}"}}"#
        )
    };
    let users = [
        user("alice", 10001, "active", "admin", "person"),
        user("bob", 10002, "active", "user", "person"),
        user("carol", 10003, "disabled", "user", "person"),
        user("nora", 10004, "active", "none", "person"),
        user("deploy", 10100, "active", "user", "shared"),
        user("backup", 10200, "active", "user", "service"),
    ];
    let json = format!(
        r#"{{"format":"roster-snapshot/1","serial":3,"issued_at":"2026-11-25T00:00:00Z",
        "valid_until":"2026-12-25T00:00:00Z","groups":[],"users":[{}],
        "user_cas":["{ca_line}"],"revoked":{{"serials":[{revoked_serials}]}},
        "grants":[{{"account":"deploy","persons":["alice","carol"]}}]}}"#,
        users.join(",")
    );
    let local = LocalTables::parse("", "", "/bin/sh\n");
    let snapshot = validate(json.as_bytes(), &Policy::default(), &local, NOW).unwrap();
    let bytes = compile(&snapshot, &HostPolicy::with_defaults("web-01"), NOW).unwrap();
    World { ca, bytes }
}

pub(crate) fn cert(
    signer: &PrivateKey,
    serial: u64,
    principals: &[&str],
    source: Option<&str>,
) -> Certificate {
    let user = key();
    let after = NOW as u64 - 60;
    let mut b = Builder::new(
        vec![3; 32],
        user.public_key().key_data().clone(),
        after,
        after + 300,
    )
    .unwrap();
    b.serial(serial).unwrap().key_id("test").unwrap();
    for p in principals {
        b.valid_principal(*p).unwrap();
    }
    if let Some(s) = source {
        b.critical_option("source-address", s).unwrap();
    }
    b.sign(signer).unwrap()
}

fn decide(w: &World, c: &Certificate, account: &str) -> Result<Access, Denial> {
    let view = View::open(&w.bytes).unwrap();
    authorize(&view, c, account, Some("127.0.0.1".parse().unwrap()), NOW)
}

#[test]
fn a_person_logs_in_as_themselves() {
    let w = world("");
    let a = decide(&w, &cert(&w.ca, 1, &["alice"], None), "alice").unwrap();
    assert_eq!(
        (a.account.as_str(), a.person.as_str(), a.role, a.uid),
        ("alice", "alice", Role::Admin, 10001)
    );
    // Extra principals are fine; the account must be one of them.
    assert!(decide(&w, &cert(&w.ca, 1, &["alice", "root"], None), "alice").is_ok());
    assert_eq!(
        decide(&w, &cert(&w.ca, 1, &["bob"], None), "alice"),
        Err(Denial::NotAPrincipal)
    );
}

#[test]
fn a_shared_account_is_entered_by_a_granted_active_person() {
    let w = world("");
    let a = decide(&w, &cert(&w.ca, 1, &["alice"], None), "deploy").unwrap();
    assert_eq!(
        (a.account.as_str(), a.person.as_str(), a.kind),
        ("deploy", "alice", AccountKind::Shared)
    );
    // bob is not granted; carol is granted but disabled.
    assert_eq!(
        decide(&w, &cert(&w.ca, 1, &["bob"], None), "deploy"),
        Err(Denial::NotGranted)
    );
    assert_eq!(
        decide(&w, &cert(&w.ca, 1, &["carol"], None), "deploy"),
        Err(Denial::NotGranted)
    );
    // Naming the shared account itself is not enough.
    assert_eq!(
        decide(&w, &cert(&w.ca, 1, &["deploy"], None), "deploy"),
        Err(Denial::NotGranted)
    );
}

#[test]
fn a_service_account_needs_source_address() {
    let w = world("");
    assert_eq!(
        decide(&w, &cert(&w.ca, 1, &["backup"], None), "backup"),
        Err(Denial::ServiceWithoutSourceAddress)
    );
    assert!(
        decide(
            &w,
            &cert(&w.ca, 1, &["backup"], Some("127.0.0.0/8")),
            "backup"
        )
        .is_ok()
    );
}

#[test]
fn account_state_and_snapshot_freshness_are_checked() {
    let w = world("");
    let view = View::open(&w.bytes).unwrap();
    let c = |p: &str| cert(&w.ca, 1, &[p], None);
    assert_eq!(decide(&w, &c("carol"), "carol"), Err(Denial::Disabled));
    assert_eq!(decide(&w, &c("nora"), "nora"), Err(Denial::NoRole));
    assert_eq!(decide(&w, &c("root"), "root"), Err(Denial::UnknownAccount));
    let client = None;
    // Issued 2026-11-25T00:00:00Z, max_age 1d: stale from 2026-11-26T00:00:01Z,
    // however recently it was fetched.
    let issued = 1_795_564_800;
    let fresh = authorize(&view, &c("alice"), "alice", client, issued + 86_400 - 60);
    let stale = authorize(&view, &c("alice"), "alice", client, issued + 86_401);
    assert!(fresh.is_err_and(|d| matches!(d, Denial::Certificate(_))));
    assert_eq!(
        stale.map(|_| ()).map_err(|d| d.to_string()),
        Err("snapshot is stale: issued 2026-11-25T00:00:00Z, max_age is 1d".to_owned())
    );
    let later = NOW + 40 * 86_400;
    let expired = check_account(&view, "alice", later);
    assert!(matches!(
        expired,
        Err(Denial::NotFresh(Freshness::Expired { .. }))
    ));
    assert_eq!(check_account(&view, "root", issued), Ok(None));
    assert!(check_account(&view, "bob", issued).unwrap().is_some());
}

#[test]
fn certificates_are_checked_against_the_snapshot() {
    let w = world("77");
    let other_ca = key();
    assert!(matches!(
        decide(&w, &cert(&other_ca, 1, &["alice"], None), "alice"),
        Err(Denial::Certificate(CertError::UntrustedCa(_)))
    ));
    assert_eq!(
        decide(&w, &cert(&w.ca, 77, &["alice"], None), "alice"),
        Err(Denial::Certificate(CertError::Revoked))
    );
    assert!(matches!(
        decide(&w, &cert(&w.ca, 1, &["alice"], Some("10.0.0.0/8")), "alice"),
        Err(Denial::Certificate(CertError::SourceAddress { .. }))
    ));
}

#[test]
fn explain_reports_every_step() {
    let w = world("");
    let view = View::open(&w.bytes).unwrap();
    let client = Some("127.0.0.1".parse().unwrap());
    let lines = |x: &Explanation| -> Vec<String> {
        x.steps
            .iter()
            .map(|s| format!("{} {} {}", if s.ok { "ok" } else { "NO" }, s.step, s.detail))
            .collect()
    };

    let c = cert(&w.ca, 1, &["alice"], None);
    let x = explain(&view, "alice", Some(&c), client, NOW);
    assert!(x.allowed && x.sudo);
    let l = lines(&x);
    assert_eq!(l.len(), 4 + 10 + 2);
    assert_eq!(
        l[0],
        "ok snapshot serial 3, issued 2026-11-25T00:00:00Z (10h ago), max_age 1d, valid until \
         2026-12-25T00:00:00Z"
    );
    assert_eq!(
        l[1..4],
        [
            "ok account alice: person, uid 10001",
            "ok state active",
            "ok role admin"
        ]
    );
    assert_eq!(l[14], "ok logs in as alice");
    assert_eq!(
        l[15],
        "ok sudo admin role: sudo allowed, re-checked on every sudo"
    );

    let x = explain(
        &view,
        "deploy",
        Some(&cert(&w.ca, 1, &["alice"], None)),
        client,
        NOW,
    );
    assert!(x.allowed && !x.sudo);
    assert!(lines(&x).contains(&"ok logs in as deploy, on behalf of alice".to_owned()));

    let x = explain(&view, "carol", None, client, NOW);
    assert!(!x.allowed);
    assert_eq!(lines(&x)[2], "NO state account is disabled");

    let x = explain(
        &view,
        "bob",
        Some(&cert(&w.ca, 1, &["alice"], None)),
        client,
        NOW,
    );
    assert!(!x.allowed);
    assert_eq!(
        lines(&x).last().unwrap(),
        "NO sudo no sudo: neither the admin role nor a sudo rule applies"
    );
    assert!(lines(&x).contains(&"NO logs in as certificate does not name this account".to_owned()));

    let x = explain(&view, "root", None, client, NOW);
    assert_eq!(
        lines(&x)[1],
        "NO account root is not in the snapshot (a local account, or unknown)"
    );
    let stale = explain(&view, "alice", None, client, NOW + 86_400);
    assert!(!stale.allowed);
    assert_eq!(
        lines(&stale)[0],
        "NO snapshot snapshot is stale: issued 2026-11-25T00:00:00Z, max_age is 1d"
    );
}

#[test]
fn explain_names_the_rules_that_apply_and_which_are_root_equivalent() {
    let json = r#"{"format":"roster-snapshot/1","serial":1,
        "issued_at":"2026-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z",
        "users":[
          {"name":"alice","uid":10001,"gid":10001,"home":"/home/alice","shell":"/bin/sh",
           "state":"active","role":"user"},
          {"name":"bob","uid":10002,"gid":10002,"home":"/home/bob","shell":"/bin/sh",
           "state":"active","role":"user"}],
        "groups":[{"name":"web","gid":10010,"members":["alice","bob"]},
                  {"name":"ops","gid":10011,"members":["alice"]},
                  {"name":"db","gid":10012,"members":[]}],
        "sudo":[
          {"group":"web","commands":["/usr/bin/id -u","/usr/bin/journalctl"]},
          {"group":"ops","commands":["/usr/bin/env"],"root_equivalent":true},
          {"group":"db","commands":["/usr/bin/psql"],"runas":"postgres","setenv":true,
           "root_equivalent":true}]}"#;
    let local = LocalTables::parse("", "", "/bin/sh\n");
    let s = validate(json.as_bytes(), &Policy::default(), &local, 0).unwrap();
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    let bytes = compile(&s, &HostPolicy::with_defaults("h"), 0).unwrap();
    let view = View::open(&bytes).unwrap();
    let lines = |name: &str| {
        let user = view.user_by_name(name.as_bytes()).unwrap().unwrap();
        sudo_rule_lines(&view, &user)
    };
    assert_eq!(
        lines("alice"),
        [
            Ok("%web as root: /usr/bin/id -u, /usr/bin/journalctl".to_owned()),
            Ok(
                "%ops as root: /usr/bin/env (root-equivalent: in effect a shell as root)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(
        lines("bob"),
        [Ok(
            "%web as root: /usr/bin/id -u, /usr/bin/journalctl".to_owned()
        )]
    );
}

#[test]
fn explain_words_a_refusal_exactly_as_the_login_refuses_it() {
    let w = world("");
    let view = View::open(&w.bytes).unwrap();
    let later = NOW + 40 * 86_400;
    for (account, now, step) in [
        ("carol", NOW, "state"),
        ("nora", NOW, "role"),
        ("bob", later, "snapshot"),
    ] {
        let refused = check_account(&view, account, now).unwrap_err().to_string();
        let x = explain(&view, account, None, None, now);
        let failed: Vec<(&str, &str)> = x
            .steps
            .iter()
            .filter(|s| !s.ok && s.step != "sudo")
            .map(|s| (s.step.as_str(), s.detail.as_str()))
            .collect();
        assert_eq!(failed, [(step, refused.as_str())], "{account}");
        assert!(!x.allowed);
    }
    let no_sudo = check_sudo(&view, "bob", &[], NOW).unwrap_err().to_string();
    let x = explain(&view, "bob", None, None, NOW);
    let sudo = x.steps.iter().find(|s| s.step == "sudo").unwrap();
    assert_eq!((sudo.ok, sudo.detail.as_str()), (false, no_sudo.as_str()));
}
