//! The PAM phases against a fake PAM handle and files in a temporary folder.

use super::*;
use crate::host::compiled::{HostPolicy, compile};
use crate::local::LocalTables;
use crate::snapshot::{Policy, validate};
use ssh_key::certificate::Builder;
use ssh_key::{Algorithm, PrivateKey};
use std::cell::RefCell;
use std::collections::BTreeMap;

const NOW: i64 = 1_795_600_800;

#[derive(Default)]
struct FakePam {
    user: String,
    service: String,
    rhost: Option<String>,
    audit_session: Option<u32>,
    groups: Vec<u32>,
    kept: Option<String>,
    env: BTreeMap<String, String>,
    log: RefCell<Vec<String>>,
}

impl Pam for FakePam {
    fn user(&mut self) -> Option<String> {
        Some(self.user.clone())
    }
    fn service(&self) -> Option<String> {
        Some(self.service.clone())
    }
    fn remote_host(&self) -> Option<String> {
        self.rhost.clone()
    }
    fn audit_session(&self) -> Option<u32> {
        self.audit_session
    }
    fn process_groups(&self) -> Vec<u32> {
        self.groups.clone()
    }
    fn keep(&mut self, value: String) -> bool {
        self.kept = Some(value);
        true
    }
    fn kept(&self) -> Option<String> {
        self.kept.clone()
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn putenv(&mut self, name: &str, value: &str) -> bool {
        self.env.insert(name.into(), value.into());
        true
    }
    fn log(&self, _: Priority, line: &str) {
        self.log.borrow_mut().push(line.to_owned());
    }
}

struct Setup {
    dir: PathBuf,
    paths: Paths,
    ca: PrivateKey,
}

fn key() -> PrivateKey {
    let mut rng = ssh_key::rand_core::UnwrapErr(ssh_key::getrandom::SysRng);
    PrivateKey::random(&mut rng, Algorithm::Ed25519).unwrap()
}

fn setup(name: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("roster-login-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = key();
    let json = format!(
        r#"{{"format":"roster-snapshot/1","serial":9,"issued_at":"2026-11-25T00:00:00Z",
        "valid_until":"2026-12-25T00:00:00Z","user_cas":["{}"],
        "groups":[{{"name":"web","gid":10020,"members":["alice"]}},
                  {{"name":"ops","gid":10021,"members":["carol"]}}],
        "grants":[{{"account":"deploy","persons":["alice"]}}],
        "users":[
          {{"name":"alice","uid":10001,"gid":10001,"home":"/home/alice","shell":"/bin/sh",
            "state":"active","role":"admin"}},
          {{"name":"carol","uid":10003,"gid":10003,"home":"/home/carol","shell":"/bin/sh",
            "state":"disabled","role":"user"}},
          {{"name":"deploy","uid":10100,"gid":10100,"home":"/home/deploy","shell":"/bin/sh",
            "state":"active","role":"user","kind":"shared"}}]}}"#,
        ca.public_key().to_openssh().unwrap()
    );
    let local = LocalTables::parse("", "", "/bin/sh\n");
    let s = validate(json.as_bytes(), &Policy::default(), &local, NOW).unwrap();
    let bytes = compile(&s, &HostPolicy::with_defaults("web-01"), NOW).unwrap();
    let paths = Paths {
        snapshot: dir.join("snapshot"),
        passwd: dir.join("passwd"),
        events: dir.join("events.jsonl"),
        skel: dir.join("skel"),
        sessions: dir.join("run/sessions"),
    };
    std::fs::write(&paths.snapshot, bytes).unwrap();
    std::fs::write(&paths.passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    Setup { dir, paths, ca }
}

fn auth_info(ca: &PrivateKey, principal: &str) -> String {
    let user = key();
    let mut b = Builder::new(
        vec![5; 32],
        user.public_key().key_data().clone(),
        NOW as u64 - 30,
        NOW as u64 + 270,
    )
    .unwrap();
    b.serial(7)
        .unwrap()
        .key_id("alice@laptop")
        .unwrap()
        .valid_principal(principal)
        .unwrap();
    let line = b.sign(ca).unwrap().to_openssh().unwrap();
    format!("publickey {line}\n")
}

fn pam(user: &str) -> FakePam {
    FakePam {
        user: user.into(),
        service: "sshd".into(),
        rhost: Some("127.0.0.1".into()),
        ..FakePam::default()
    }
}

const NO_HOME: Options = Options {
    debug: false,
    mkhomedir: false,
};

fn run(s: &Setup, pam: &mut FakePam, phase: fn(&mut Login<'_>) -> Verdict) -> Verdict {
    let mut login = Login {
        pam,
        options: &NO_HOME,
        paths: &s.paths,
        now: NOW,
    };
    phase(&mut login)
}

fn events(s: &Setup) -> Vec<Event> {
    audit::read(&s.paths.events).unwrap_or_default()
}

#[test]
fn account_phase_judges_only_snapshot_users() {
    let s = setup("account");
    assert_eq!(run(&s, &mut pam("alice"), account), Verdict::Success);
    assert_eq!(run(&s, &mut pam("root"), account), Verdict::UserUnknown);
    assert_eq!(run(&s, &mut pam("carol"), account), Verdict::Denied);
    let e = events(&s);
    assert_eq!(
        (e.len(), e[0].event, e[0].account.as_str()),
        (1, EventKind::LoginDenied, "carol")
    );
    assert_eq!(e[0].reason.as_deref(), Some("account is disabled"));
    // sudo needs the admin role now: alice has it, deploy (user role) not.
    let sudo = |user: &str| {
        let mut p = pam(user);
        p.service = "sudo".into();
        p
    };
    assert_eq!(run(&s, &mut sudo("alice"), account), Verdict::Success);
    assert_eq!(run(&s, &mut sudo("deploy"), account), Verdict::Denied);
    assert_eq!(run(&s, &mut sudo("root"), account), Verdict::UserUnknown);
    assert_eq!(
        events(&s)[1].reason.as_deref(),
        Some("no sudo: neither the admin role nor a sudo rule applies")
    );
    // A process still holding a snapshot group alice does not hold now (ops,
    // say, from before a change) gets no sudo; her own groups and local ones
    // are fine.
    let mut holding = sudo("alice");
    holding.groups = vec![10001, 10020, 27];
    assert_eq!(run(&s, &mut holding, account), Verdict::Success);
    holding.groups.push(10021);
    assert_eq!(run(&s, &mut holding, account), Verdict::Denied);
    assert_eq!(
        events(&s)[2].reason.as_deref(),
        Some(
            "no sudo: this session holds group ops, which the snapshot no longer gives: log in again"
        )
    );
    // Stale: issued 2026-11-25T00:00:00Z, max_age 24h, however recent the sync.
    let mut login = Login {
        pam: &mut pam("alice"),
        options: &NO_HOME,
        paths: &s.paths,
        now: 1_795_564_800 + 86_401,
    };
    assert_eq!(account(&mut login), Verdict::Denied);
    assert_eq!(
        events(&s)[3].reason.as_deref(),
        Some("snapshot is stale: issued 2026-11-25T00:00:00Z, max_age is 1d")
    );
    // No snapshot at all: nobody is ours, local accounts fall through.
    std::fs::remove_file(&s.paths.snapshot).unwrap();
    assert_eq!(run(&s, &mut pam("alice"), account), Verdict::UserUnknown);
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn a_session_is_bound_to_its_certificate() {
    let s = setup("session");
    let mut p = pam("deploy");
    p.env.insert(AUTH_INFO.into(), auth_info(&s.ca, "alice"));
    p.audit_session = Some(41);
    assert_eq!(run(&s, &mut p, open_session), Verdict::Success);
    // Offboarding finds alice's processes in deploy by this record, and each
    // sync judges the session again from it.
    let recorded = crate::host::sessions::all(&s.paths.sessions);
    let (id, recorded) = &recorded[0];
    assert_eq!(
        (
            *id,
            recorded.person.as_str(),
            recorded.serial,
            recorded.start
        ),
        (41, "alice", 7, NOW)
    );
    let view_bytes = std::fs::read(&s.paths.snapshot).unwrap();
    let view = View::open(&view_bytes).unwrap();
    assert_eq!(access::still_admitted(&view, recorded), Ok(()));
    // The same record, kept with the PAM handle for close_session.
    assert_eq!(p.kept.as_deref(), Some(recorded.to_json().as_str()));
    assert_eq!(p.env["ROSTER_USER"], "alice");
    assert_eq!(p.env["ROSTER_ACCOUNT"], "deploy");
    assert_eq!(p.env["ROSTER_KEY_ID"], "alice@laptop");
    assert_eq!(p.env["ROSTER_CERT_SERIAL"], "7");
    let start = &events(&s)[0];
    assert_eq!(
        (start.event, start.account.as_str()),
        (EventKind::SessionStart, "deploy")
    );
    assert_eq!(start.person.as_deref(), Some("alice"));
    assert_eq!((start.serial, start.snapshot_serial), (Some(7), Some(9)));
    assert_eq!(start.source.as_deref(), Some("127.0.0.1"));

    // sudo or su inside the session share its audit session id, and their
    // own PAM handles hold no record: they end nothing.
    let mut inner = pam("root");
    inner.service = "sudo".into();
    inner.audit_session = Some(41);
    inner.env = p.env.clone();
    assert_eq!(run(&s, &mut inner, close_session), Verdict::Ignore);
    assert_eq!(events(&s).len(), 1);
    // pam_env (user_readenv=1, after roster in Debian's sshd stack) or the
    // user may rewrite the environment: the end is told from the record.
    p.env.insert("ROSTER_USER".into(), "mallory".into());
    p.env.insert("ROSTER_SESSION_START".into(), "0".into());
    let mut login = Login {
        pam: &mut p,
        options: &NO_HOME,
        paths: &s.paths,
        now: NOW + 65,
    };
    assert_eq!(close_session(&mut login), Verdict::Success);
    let end = &events(&s)[1];
    assert_eq!(
        (end.event, end.duration_secs, end.session.clone()),
        (EventKind::SessionEnd, Some(65), start.session.clone())
    );
    assert_eq!(end.person.as_deref(), Some("alice"));
    assert_eq!(
        (end.ca.clone(), end.snapshot_serial),
        (start.ca.clone(), Some(9))
    );
    // No process runs in audit session 41: its record is gone.
    assert!(!s.paths.sessions.join("41").exists());
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn a_shared_account_session_needs_an_audit_session_id() {
    let s = setup("no-audit");
    // Without one, what alice starts in deploy could not be found when she
    // leaves: refused, and said why.
    let mut p = pam("deploy");
    p.env.insert(AUTH_INFO.into(), auth_info(&s.ca, "alice"));
    assert_eq!(run(&s, &mut p, open_session), Verdict::SessionError);
    let reason = events(&s)[0].reason.clone().unwrap();
    assert!(reason.starts_with("no audit session id"), "{reason}");
    // Her own account's processes are found by uid: no id needed, and the
    // events say there was none.
    let mut own = pam("alice");
    own.env.insert(AUTH_INFO.into(), auth_info(&s.ca, "alice"));
    assert_eq!(run(&s, &mut own, open_session), Verdict::Success);
    assert_eq!(run(&s, &mut own, close_session), Verdict::Success);
    let e = events(&s);
    for e in &e[1..3] {
        assert_eq!(e.audit_session, None);
        assert!(
            e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("no audit session id")),
            "{e:?}"
        );
    }
    // Without a record kept by open_session, ROSTER_* in the environment
    // (the user's to set) tell nothing: no session_end.
    let mut forged = pam("alice");
    forged.env = own.env.clone();
    assert_eq!(run(&s, &mut forged, close_session), Verdict::Ignore);
    assert_eq!(events(&s).len(), 3);
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn a_session_without_a_valid_certificate_is_refused() {
    let s = setup("refused");
    // sshd without ExposeAuthInfo: fail closed.
    assert_eq!(
        run(&s, &mut pam("alice"), open_session),
        Verdict::SessionError
    );
    // bob is not granted deploy.
    let mut p = pam("deploy");
    p.env.insert(AUTH_INFO.into(), auth_info(&s.ca, "bob"));
    assert_eq!(run(&s, &mut p, open_session), Verdict::SessionError);
    assert!(!p.env.contains_key("ROSTER_USER"));
    // A certificate from another CA.
    let mut p = pam("alice");
    p.env.insert(AUTH_INFO.into(), auth_info(&key(), "alice"));
    assert_eq!(run(&s, &mut p, open_session), Verdict::SessionError);
    let reasons: Vec<String> = events(&s).into_iter().filter_map(|e| e.reason).collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons[0].contains("ExposeAuthInfo"), "{reasons:?}");
    assert!(reasons[1].contains("granted"), "{reasons:?}");
    assert!(reasons[2].contains("not a trusted user CA"), "{reasons:?}");
    // Local users and other services are not ours.
    assert_eq!(run(&s, &mut pam("root"), open_session), Verdict::Ignore);
    let mut su = pam("alice");
    su.service = "su".into();
    assert_eq!(run(&s, &mut su, open_session), Verdict::Ignore);
    // With no usable snapshot, a certificate login is refused; other
    // sessions (cron, su, a directory user with a plain key) are not ours.
    std::fs::remove_file(&s.paths.snapshot).unwrap();
    assert_eq!(run(&s, &mut pam("root"), open_session), Verdict::Ignore);
    let mut certified = pam("alice");
    certified
        .env
        .insert(AUTH_INFO.into(), auth_info(&s.ca, "alice"));
    assert_eq!(run(&s, &mut certified, open_session), Verdict::SessionError);
    let mut plain_key = pam("ldapuser");
    plain_key.env.insert(
        AUTH_INFO.into(),
        "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6\n".into(),
    );
    assert_eq!(run(&s, &mut plain_key, open_session), Verdict::Ignore);
    let mut cron = pam("ldapuser");
    cron.service = "cron".into();
    assert_eq!(run(&s, &mut cron, open_session), Verdict::Ignore);
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn auth_info_must_hold_exactly_one_certificate() {
    let s = setup("info");
    let one = auth_info(&s.ca, "alice");
    assert!(parse_auth_info(&one).is_ok());
    assert!(parse_auth_info("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6\n").is_err());
    assert!(parse_auth_info(&format!("{one}{one}")).is_err());
    assert!(parse_auth_info("").is_err());
    assert!(parse_auth_info("publickey ssh-ed25519-cert-v01@openssh.com !!!!\n").is_err());
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn options_are_parsed() {
    let (o, unknown) = Options::parse(["debug", "mkhomedir=no", "bogus"]);
    assert_eq!(
        o,
        Options {
            debug: true,
            mkhomedir: false
        }
    );
    assert_eq!(unknown, ["bogus"]);
}
