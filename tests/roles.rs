//! Roles, sudo, offboarding, shared and service accounts and `roster explain`, through a
//! real OpenSSH sshd, Linux-PAM, glibc and Debian's sudo.
//!
//! Every test starts its own host (`common::sshd`) wired as the package does it:
//! `pam-auth-update` with `debian/pam-configs/roster` (so sudo's stack gets roster's account
//! line through `@include common-account`), `debian/sudoers.d/roster` installed as
//! `/etc/sudoers.d/roster` (0440), and the snapshot installed by `roster sync`. Each test
//! asserts what the user sees (ssh's exit status, the session's output, sudo's words) and
//! why (roster's events file, syslog, `roster status`).
//!
//! Needs root, `ssh`, `ssh-keygen`, Debian's `openssh-server`, `sudo` and `ip`
//! (`scripts/install-deps.sh`). Run: `cargo test --test roles -- --nocapture` (the
//! offboarding test prints the time it measured).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::sshd::{Background, Cert, Key, Setup, SshHost, assert_session, live};
use common::{group, json_str, sh_quote, snapshot_json_with, workspace_dir};

const VALID_UNTIL: &str = "2099-01-01T00:00:00Z";
/// `[sync] offboard_grace`'s default, which the test host keeps.
const OFFBOARD_GRACE: Duration = Duration::from_secs(5);
/// roster's reason when its account check in sudo's PAM stack refuses.
const NO_SUDO_REASON: &str = "no sudo: neither the admin role nor a sudo rule applies";
/// What sudo -n prints when roster's account check refuses.
const SUDO_REFUSED_BY_ROSTER: &str =
    "sudo: PAM account management error: Permission denied\nsudo: a password is required\n";

// --- The snapshot ---

fn account(name: &str, uid: u64, state: &str, role: &str, kind: &str) -> String {
    format!(
        r#"{{"name":{},"uid":{uid},"gid":{uid},"gecos":"","home":{},"shell":"/bin/bash","state":{},"role":{},"kind":{}}}"#,
        json_str(name),
        json_str(&format!("/home/{name}")),
        json_str(state),
        json_str(role),
        json_str(kind)
    )
}

/// Who is on the host, and as what.
#[derive(Clone)]
struct People {
    alice_role: &'static str,
    erin_state: &'static str,
}

impl Default for People {
    fn default() -> Self {
        People {
            alice_role: "admin",
            erin_state: "active",
        }
    }
}

/// alice (admin), bob (user), wendy (user, in group `web`), erin (user), dora (disabled),
/// the shared account deploy (granted to alice) and the service account backup.
fn users(p: &People) -> Vec<String> {
    vec![
        account("alice", 10001, "active", p.alice_role, "person"),
        account("bob", 10002, "active", "user", "person"),
        account("dora", 10003, "disabled", "user", "person"),
        account("wendy", 10005, "active", "user", "person"),
        account("erin", 10006, p.erin_state, "user", "person"),
        account("deploy", 10050, "active", "user", "shared"),
        account("backup", 10060, "active", "user", "service"),
    ]
}

/// The rule of test 4: group web may run exactly `/usr/bin/id -u` as root.
const WEB_ID_RULE: &str =
    r#"{"group":"web","commands":["/usr/bin/id -u"],"runas":"root","nopasswd":true}"#;

fn snapshot(serial: u64, ca: &Key, people: &People, sudo_rules: &[&str]) -> String {
    let groups = [
        group("alice", 10001, &[]),
        group("bob", 10002, &[]),
        group("dora", 10003, &[]),
        group("wendy", 10005, &[]),
        group("erin", 10006, &[]),
        group("deploy", 10050, &[]),
        group("backup", 10060, &[]),
        group("web", 10020, &["wendy"]),
    ];
    snapshot_json_with(
        serial,
        VALID_UNTIL,
        &users(people),
        &groups,
        &[
            ("user_cas", format!("[{}]", json_str(&ca.public_line()))),
            (
                "grants",
                r#"[{"account":"deploy","persons":["alice"]}]"#.into(),
            ),
            ("sudo", format!("[{}]", sudo_rules.join(","))),
        ],
    )
}

// --- The host under test ---

struct World {
    host: SshHost,
    ca: Key,
}

impl World {
    /// The packaged wiring, roster's sudoers drop-in, and serial 1 with [`People::default`]
    /// and the web rule.
    fn new() -> World {
        let host = SshHost::start(Setup::packaged());
        let dropin = workspace_dir().join("debian/sudoers.d/roster");
        let out = host.run(&format!(
            "install -m 0440 -o root -g root {} /etc/sudoers.d/roster && \
             visudo -cf /etc/sudoers.d/roster",
            sh_quote(dropin.to_str().unwrap())
        ));
        assert_eq!(out.status, 0, "installing the sudoers drop-in: {out:#?}");
        let w = World {
            ca: host.key("user-ca"),
            host,
        };
        w.host
            .install(&snapshot(1, &w.ca, &People::default(), &[WEB_ID_RULE]));
        w
    }

    /// A key for `name` and a certificate of it (principal `name`, serial `serial`).
    fn person(&self, name: &str, serial: u64) -> (Key, PathBuf) {
        let key = self.host.key(name);
        let cert = self.host.certify(
            &self.ca,
            &key,
            &Cert::new(&format!("{name}@laptop"), name).serial(serial),
        );
        (key, cert)
    }

    fn events_from(&self, from: u64) -> Vec<serde_json::Value> {
        self.host.events_from(from)
    }

    fn events_len(&self) -> u64 {
        self.host.events_len()
    }

    /// A local sudoers line granting bob everything, so that sudo's PAM stack (and
    /// roster's account check in it) decides.
    fn grant_bob_sudo_locally(&self) {
        let out = self.host.run(
            "echo 'bob ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/local-bob && \
             chmod 0440 /etc/sudoers.d/local-bob && visudo -cf /etc/sudoers.d/local-bob",
        );
        assert_eq!(out.status, 0, "{out:#?}");
    }

    /// Publishes serial 2, where alice has no role: the next sync offboards her.
    fn publish_alice_without_role(&self) {
        let people = People {
            alice_role: "none",
            ..People::default()
        };
        self.host
            .publish(&snapshot(2, &self.ca, &people, &[WEB_ID_RULE]));
    }

    fn background(
        &self,
        name: &str,
        user: &str,
        key: &Key,
        cert: &Path,
        command: &str,
    ) -> Background {
        self.host.background(name, user, key, cert, command)
    }
}

fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One `login_denied` event from sudo's account phase for `account`, with `reason`.
#[track_caller]
fn assert_sudo_denied(events: &[serde_json::Value], account: &str, reason: &str, context: &str) {
    let denied: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "login_denied")
        .collect();
    assert!(
        denied.len() == 1
            && denied[0]["account"] == account
            && denied[0]["service"] == "sudo"
            && denied[0]["reason"] == reason,
        "expected one login_denied event for {account} from sudo with reason {reason:?}, \
         got {events:#?}\n{context}"
    );
}

// --- 1. The admin role gives sudo; the user role does not ---

#[test]
fn admin_gets_sudo_and_a_user_role_account_is_refused() {
    let w = World::new();
    let (alice, alice_cert) = w.person("alice", 101);
    let login = w.host.ssh(
        "alice",
        &alice,
        Some(&alice_cert),
        "sudo -n true && echo sudo ok",
    );
    assert_session(&login, "sudo ok\n");
    assert!(login.events_of("login_denied").is_empty(), "{login}");

    let (bob, bob_cert) = w.person("bob", 102);
    let login = w.host.ssh(
        "bob",
        &bob,
        Some(&bob_cert),
        "sudo -n true; echo \"sudo exit $?\"",
    );
    // bob is in no sudoers rule: sudo's policy refuses before PAM's account phase, so
    // roster records nothing.
    assert_eq!(
        (login.status, login.stdout.as_str(), login.stderr.as_str()),
        (0, "sudo exit 1\n", "sudo: a password is required\n"),
        "{login}"
    );
    assert!(login.events_of("login_denied").is_empty(), "{login}");

    // A local sudoers line granting bob everything: roster's account check in sudo's PAM
    // stack still refuses him, with the reason.
    w.grant_bob_sudo_locally();
    let login = w.host.ssh(
        "bob",
        &bob,
        Some(&bob_cert),
        "sudo -n true; echo \"sudo exit $?\"",
    );
    assert_eq!(
        (login.status, login.stdout.as_str(), login.stderr.as_str()),
        (0, "sudo exit 1\n", SUDO_REFUSED_BY_ROSTER),
        "{login}"
    );
    assert_sudo_denied(&login.events, "bob", NO_SUDO_REASON, &login.to_string());
    login.assert_syslogged("pam_roster(sudo:account): login_denied account=bob ");
}

#[test]
fn a_hostile_environment_through_sudo_changes_nothing() {
    // bob (no admin role), with a local sudoers line so that PAM decides, runs sudo
    // with a forged SSH_AUTH_INFO_0 holding alice's certificate, forged ROSTER_*
    // variables, LD_PRELOAD and a 100 kB variable: pam_roster reads PAM's environment,
    // never the process's, so it refuses him exactly as without them.
    let w = World::new();
    let (_, alice_cert) = w.person("alice", 103);
    let (bob, bob_cert) = w.person("bob", 104);
    w.grant_bob_sudo_locally();
    let alice_line = std::fs::read_to_string(&alice_cert).unwrap();
    let mut words = alice_line.split_whitespace();
    let (cert_type, blob) = (words.next().unwrap(), words.next().unwrap());
    let login = w.host.ssh(
        "bob",
        &bob,
        Some(&bob_cert),
        &format!(
            "SSH_AUTH_INFO_0='publickey {cert_type} {blob}' ROSTER_USER=alice \
             ROSTER_ACCOUNT=alice LD_PRELOAD=/nonexistent.so \
             BIG=$(head -c 100000 /dev/zero | tr '\\0' x) sudo -n true; echo \"sudo exit $?\""
        ),
    );
    // ld.so ignores the preload for the setuid sudo, and says so.
    let preload = "ERROR: ld.so: object '/nonexistent.so' from LD_PRELOAD cannot be preloaded \
                   (cannot open shared object file): ignored.\n";
    assert_eq!(
        (login.status, login.stdout.as_str(), login.stderr.as_str()),
        (
            0,
            "sudo exit 1\n",
            format!("{preload}{SUDO_REFUSED_BY_ROSTER}").as_str()
        ),
        "{login}"
    );
    assert_sudo_denied(&login.events, "bob", NO_SUDO_REASON, &login.to_string());
}

#[test]
fn huge_and_odd_user_names_through_pam_and_the_sshd_gate() {
    // A 100 kB name and names that are not UTF-8 or hold a newline, through sshd's and
    // sudo's PAM account stack (pam_unix, then pam_roster) and `roster principals`:
    // refused or not found, never a crash.
    let w = World::new();
    let out = w.host.run(
        "big=$(head -c 100000 /dev/zero | tr '\\0' a)\n\
         for name in \"$big\" \"$(printf 'al\\377ice')\" \"$(printf 'alice\\nroot')\"; do\n\
           for service in sshd sudo; do\n\
             pamtester $service \"$name\" acct_mgmt >/dev/null 2>&1; echo \"pam $?\"\n\
           done\n\
           /usr/sbin/roster principals \"$name\" ssh-ed25519-cert-v01@openssh.com AAAA; \
           echo \"gate $?\"\n\
         done",
    );
    // The gate prints no principal (exit 0, logged with the name cut to size), and
    // refuses arguments that are not UTF-8 outright (exit 1: sshd denies).
    assert_eq!(
        out.stdout, "pam 1\npam 1\ngate 0\npam 1\npam 1\ngate 1\npam 1\npam 1\ngate 0\n",
        "{out:#?}"
    );
    assert!(
        out.stderr.lines().all(|l| l.len() < 1024),
        "an unbounded log line: {out:#?}"
    );
}

// --- 2. A role removed while the session is open ---

#[test]
fn admin_role_removed_while_the_session_is_open_refuses_the_next_sudo() {
    let w = World::new();
    let (alice, cert) = w.person("alice", 201);
    let session = w.background(
        "alice-session",
        "alice",
        &alice,
        &cert,
        "sudo -n true && echo first; \
         i=0; until [ -e /run/roster-test-go ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; \
         sudo -n true && echo second || echo refused",
    );
    session.wait_for_line(&w.host, "first");
    let events_from = w.events_len();
    let people = People {
        alice_role: "user",
        ..People::default()
    };
    w.host.install(&snapshot(2, &w.ca, &people, &[WEB_ID_RULE]));
    let out = w.host.run("touch /run/roster-test-go");
    assert_eq!(out.status, 0, "{out:#?}");
    let (rc, _) = session.wait(&w.host, Duration::from_secs(30));
    let context = format!(
        "stdout:\n{}\nstderr:\n{}",
        session.stdout(),
        session.stderr()
    );
    assert_eq!(
        (rc, session.stdout().as_str(), session.stderr().as_str()),
        (0, "first\nrefused\n", SUDO_REFUSED_BY_ROSTER),
        "{context}"
    );
    let events = w.events_from(events_from);
    assert_sudo_denied(&events, "alice", NO_SUDO_REASON, &context);
    // Demoted to user, not offboarded: her session was left alone.
    assert!(
        !events.iter().any(|e| e["event"] == "offboarded"),
        "{events:#?}"
    );
}

// --- 3. Offboarding ends a disabled user's running session ---

#[test]
fn disabled_users_running_session_ends_within_the_grace_period() {
    let w = World::new();
    let (erin, cert) = w.person("erin", 301);
    let session = w.background(
        "erin-session",
        "erin",
        &erin,
        &cert,
        "echo started; exec sleep 60",
    );
    session.wait_for_line(&w.host, "started");
    let events_from = w.events_len();
    let people = People {
        erin_state: "disabled",
        ..People::default()
    };
    w.host.publish(&snapshot(2, &w.ca, &people, &[WEB_ID_RULE]));
    let started = epoch_nanos();
    let sync = w.host.sync();
    assert_eq!(sync.status, 0, "roster sync failed:\n{sync:#?}");
    let (rc, ended) = session.wait(&w.host, Duration::from_secs(30));
    let took = Duration::from_nanos((ended.saturating_sub(started)) as u64);
    println!("offboarding: ssh exited {took:?} after the sync started (status {rc})");
    let limit = OFFBOARD_GRACE + Duration::from_secs(2);
    assert!(
        took <= limit,
        "erin's session lasted {took:?} after the sync started (limit {limit:?}):\n\
         sync: {sync:#?}\nstderr:\n{}",
        session.stderr()
    );
    assert_eq!(session.stdout(), "started\n");
    assert_ne!(rc, 0, "the session ended normally:\n{}", session.stderr());
    assert!(
        sync.stderr
            .lines()
            .any(|l| l.starts_with("roster: offboarded account=erin")),
        "{sync:#?}"
    );
    let events = w.events_from(events_from);
    let offboarded: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "offboarded")
        .collect();
    assert!(
        offboarded.len() == 1
            && offboarded[0]["account"] == "erin"
            && offboarded[0]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("disabled: ended ")),
        "{events:#?}"
    );
}

// --- 4. Entitlement rules allow exactly their commands ---

#[test]
fn entitlement_rule_allows_exactly_the_listed_command() {
    let w = World::new();
    let (wendy, cert) = w.person("wendy", 401);
    let login = w.host.ssh(
        "wendy",
        &wendy,
        Some(&cert),
        "sudo -n /usr/bin/id -u; echo \"exit $?\"; \
         sudo -n /usr/bin/id; echo \"exit $?\"; \
         sudo -n true; echo \"exit $?\"",
    );
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (0, "0\nexit 0\nexit 1\nexit 1\n"),
        "{login}"
    );
    // sudoers refuses the other commands; roster's account phase let her through.
    assert!(login.events_of("login_denied").is_empty(), "{login}");
    let installed = w.host.run(
        "stat -c '%a %U' /etc/sudoers.d/roster-entitlements && \
              visudo -cf /etc/sudoers.d/roster-entitlements",
    );
    assert_eq!(installed.status, 0, "{installed:#?}");
    assert!(installed.stdout.starts_with("440 root\n"), "{installed:#?}");
}

// --- 5. A sudoers injection is dropped; the valid rules stay ---

#[test]
fn sudoers_injection_is_dropped_and_the_valid_rules_still_apply() {
    let w = World::new();
    let before = w.host.run("cat /etc/sudoers.d/roster-entitlements");
    assert!(
        before.status == 0 && before.stdout.contains("/usr/bin/id -u"),
        "{before:#?}"
    );
    let injections = [
        r#"{"group":"web","commands":["/usr/bin/id -u, /bin/sh"],"runas":"root","nopasswd":true}"#,
        r#"{"group":"web","commands":["/usr/bin/whoami"],"runas":"root) ALL","nopasswd":true}"#,
    ];
    w.host.install(&snapshot(
        2,
        &w.ca,
        &People::default(),
        &[injections[0], WEB_ID_RULE, injections[1]],
    ));
    let status = w.host.run("roster --config /etc/roster/roster.toml status");
    assert_eq!(status.status, 0, "{status:#?}");
    let dropped: Vec<&str> = status
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("dropped:"))
        .collect();
    assert_eq!(
        dropped,
        [
            "dropped:       2 entries",
            "  dropped sudo rule for \"web\" (sudo[0]): sudo rule refused: command \
             \"/usr/bin/id -u, /bin/sh\" has arguments sudoers would interpret",
            "  dropped sudo rule for \"web\" (sudo[2]): sudo rule refused: run-as user \
             \"root) ALL\" is not a valid name",
        ],
        "roster status:\n{}",
        status.stdout
    );
    let file = w.host.run(
        "cat /etc/sudoers.d/roster-entitlements && visudo -cf /etc/sudoers.d/roster-entitlements",
    );
    assert_eq!(
        file.status, 0,
        "visudo refuses the installed file: {file:#?}"
    );
    assert!(
        file.stdout.contains("/usr/bin/id -u")
            && !file.stdout.contains("/bin/sh")
            && !file.stdout.contains("whoami"),
        "{file:#?}"
    );
    let (wendy, cert) = w.person("wendy", 501);
    let login = w.host.ssh(
        "wendy",
        &wendy,
        Some(&cert),
        "sudo -n /usr/bin/id -u; echo \"exit $?\"; \
         sudo -n /bin/sh -c 'echo shell'; echo \"exit $?\"; \
         sudo -n /usr/bin/whoami; echo \"exit $?\"",
    );
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (0, "0\nexit 0\nexit 1\nexit 1\n"),
        "{login}"
    );
}

// --- 6. Shared accounts ---

#[test]
fn granted_person_enters_a_shared_account_and_others_do_not() {
    let w = World::new();
    let (alice, cert) = w.person("alice", 601);
    let login = w.host.ssh(
        "deploy",
        &alice,
        Some(&cert),
        "id -un; echo \"$ROSTER_USER\"",
    );
    assert_session(&login, "deploy\nalice\n");
    let start = login.event("session_start");
    assert_eq!(
        (&start["account"], &start["person"], &start["serial"]),
        (&"deploy".into(), &"alice".into(), &601.into()),
        "{login}"
    );

    let (bob, cert) = w.person("bob", 602);
    let login = w.host.ssh("deploy", &bob, Some(&cert), "id -un");
    assert!(
        login.status == 255 && login.stdout.is_empty(),
        "bob entered deploy:\n{login}"
    );
    login.assert_syslogged(
        "principals_denied account=deploy key_id=bob@laptop \
         reason=\"no principal of the certificate is granted this shared account\" serial=602",
    );
    assert!(login.events_of("session_start").is_empty(), "{login}");
}

// --- 7. Service accounts ---

/// alice holds a session in the shared account deploy; a new snapshot takes
/// her role away. Returns her session, still open, for the sync to end.
fn alice_in_deploy_loses_her_role(w: &World) -> common::sshd::Background {
    let (alice, cert) = w.person("alice", 611);
    let session = w.background(
        "alice-deploy",
        "deploy",
        &alice,
        &cert,
        "echo started; exec sleep 60",
    );
    session.wait_for_line(&w.host, "started");
    w.publish_alice_without_role();
    session
}

#[test]
fn offboarding_ends_a_persons_shared_account_session_with_the_units_capabilities() {
    // sync() runs with exactly the shipped unit's CapabilityBoundingSet: enough to read
    // deploy's session environment (ROSTER_USER=alice) and signal it.
    let w = World::new();
    let session = alice_in_deploy_loses_her_role(&w);
    let started = std::time::Instant::now();
    let sync = w.host.sync();
    assert_eq!(sync.status, 0, "roster sync failed:\n{sync:#?}");
    assert!(
        !sync.stderr.contains("unreadable") && !sync.stderr.contains("could not be signalled"),
        "{sync:#?}"
    );
    let (status, _) = session.wait(&w.host, std::time::Duration::from_secs(30));
    // SIGHUP ends it; SIGKILL would come only after the grace period.
    assert!(
        status != 0 && started.elapsed() < std::time::Duration::from_secs(4),
        "status {status} after {:?}",
        started.elapsed()
    );
}

#[test]
fn offboarding_ends_what_a_person_left_running_in_a_shared_account_without_roster_user() {
    // alice's session in deploy starts a detached process with ROSTER_USER stripped from
    // its environment, then ends. The environment is the user's to change; the audit
    // session id (pam_loginuid) is not, and pam_roster records whose session it is.
    let w = World::new();
    let (alice, cert) = w.person("alice", 612);
    let login = w.host.ssh(
        "deploy",
        &alice,
        Some(&cert),
        // /proc is the host's: /proc/self/stat gives the host PID.
        "env -u ROSTER_USER setsid sh -c 'read -r p _ < /proc/self/stat; echo $p > left.pid; \
           exec sleep 300' </dev/null >/dev/null 2>&1 & \
         sleep 0.3; cat left.pid",
    );
    assert_eq!(login.status, 0, "{login}");
    let pid: u32 = login.stdout.trim().parse().unwrap();
    let alive =
        format!("tr '\\0' '\\n' < /proc/{pid}/environ | grep -c ROSTER_USER; ps -o comm= -p {pid}");
    let running = w.host.run(&alive);
    assert_eq!(
        running.stdout, "0\nsleep\n",
        "the detached sleep: {running:#?}"
    );
    w.publish_alice_without_role();
    let sync = w.host.sync();
    assert_eq!(sync.status, 0, "roster sync failed:\n{sync:#?}");
    // The sync returns once its signals are sent; the kernel may take a moment to end the
    // process. Only a live process counts: a zombie has ended (the namespace's init reaps
    // it, but perhaps not yet).
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while live(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !live(pid),
        "alice's detached process in deploy (pid {pid}) survived her offboarding:\n{sync:#?}"
    );
}

#[test]
fn service_account_needs_a_source_address_and_gets_no_home() {
    let w = World::new();
    let key = w.host.key("backup");
    let bare = w
        .host
        .certify(&w.ca, &key, &Cert::new("backup@cron", "backup").serial(701));
    let login = w.host.ssh("backup", &key, Some(&bare), "id -un; pwd");
    assert!(
        login.status == 255 && login.stdout.is_empty(),
        "backup logged in without source-address:\n{login}"
    );
    login.assert_syslogged(
        "principals_denied account=backup key_id=backup@cron \
         reason=\"service account certificate has no source-address\" serial=701",
    );
    login.assert_logged("Certificate does not contain an authorized principal");

    let bound = w.host.certify(
        &w.ca,
        &key,
        &Cert::new("backup@cron", "backup")
            .serial(702)
            .option("source-address=127.0.0.1/32"),
    );
    let login = w.host.ssh("backup", &key, Some(&bound), "id -un; pwd");
    assert_session(&login, "backup\n/\n");
    assert_eq!(login.event("session_start")["account"], "backup", "{login}");
    let home = w.host.run("test -e /home/backup; echo $?");
    assert_eq!(home.stdout, "1\n", "a home was made for backup: {home:#?}");
}

// --- 8. roster explain ---

/// `roster explain ARGS` in the namespace: exit status and stdout.
fn explain(w: &World, args: &str) -> (i32, String) {
    let out = w.host.run(&format!("exec roster explain {args}"));
    assert!(out.stderr.is_empty(), "{out:#?}");
    (out.status, out.stdout)
}

/// Checks `text` line by line: each expected line is either exact or, ending in `…`, a
/// prefix.
#[track_caller]
fn assert_lines(text: &str, expected: &[&str]) {
    let lines: Vec<&str> = text.lines().collect();
    let ok = lines.len() == expected.len()
        && lines
            .iter()
            .zip(expected)
            .all(|(l, e)| match e.strip_suffix('…') {
                Some(prefix) => l.starts_with(prefix),
                None => l == e,
            });
    assert!(ok, "expected:\n{}\ngot:\n{text}", expected.join("\n"));
}

#[test]
fn explain_tells_why_step_by_step() {
    let w = World::new();
    let cert_path = |name: &str, serial: u64| -> (String, Key) {
        let key = w.host.key(name);
        let cert = w.host.certify(
            &w.ca,
            &key,
            &Cert::new(&format!("{name}@laptop"), name).serial(serial),
        );
        (sh_quote(cert.to_str().unwrap()), key)
    };
    let (alice_cert, _) = cert_path("alice", 801);
    let (status, text) = explain(&w, &format!("alice --cert {alice_cert} --from 127.0.0.1"));
    assert_eq!(status, 0, "{text}");
    assert!(!text.contains('✗'), "{text}");
    let key_line = format!(
        "  ✓ certificate CA                {} is trusted (user_cas[0])",
        w.ca.fingerprint()
    );
    assert_lines(
        &text,
        &[
            "roster explain alice on web-01 at …",
            "  ✓ snapshot                      serial 1, last sync …",
            "  ✓ account                       alice: person, uid 10001",
            "  ✓ state                         active",
            "  ✓ role                          admin",
            "  ✓ certificate type              user certificate",
            &key_line,
            "  ✓ certificate signature         ssh-ed25519, verified",
            "  ✓ certificate validity          …",
            "  ✓ certificate lifetime          …",
            "  ✓ certificate principals        alice",
            "  ✓ certificate critical options  none",
            "  ✓ certificate source address    not restricted",
            "  ✓ certificate revocation        serial, key ID and key not revoked",
            "  ✓ certificate host binding      not bound to hosts (not required here)",
            "  ✓ logs in as                    alice",
            "  ✓ sudo                          admin role: sudo allowed, re-checked on every sudo",
            "alice may log in with this certificate; sudo: yes",
        ],
    );

    let (status, text) = explain(&w, "dora");
    assert_eq!(status, 1, "{text}");
    assert_lines(
        &text,
        &[
            "roster explain dora on web-01 at …",
            "  ✓ snapshot  serial 1, last sync …",
            "  ✓ account   dora: person, uid 10003",
            "  ✗ state     account is disabled",
            "  ✓ role      user",
            &format!("  ✗ sudo      {NO_SUDO_REASON}"),
            "dora may not log in",
        ],
    );

    let (bob_cert, _) = cert_path("bob", 802);
    let (status, text) = explain(&w, &format!("bob --cert {bob_cert} --from 127.0.0.1"));
    assert_eq!(status, 0, "{text}");
    assert!(
        text.contains("  ✓ logs in as                    bob\n")
            && text.contains(&format!(
                "  ✗ sudo                          {NO_SUDO_REASON}\n"
            ))
            && text.ends_with("\nbob may log in with this certificate; sudo: no\n"),
        "{text}"
    );

    let key = w.host.key("bob");
    let expired = w.host.certify(
        &w.ca,
        &key,
        &Cert::new("bob@laptop", "bob")
            .serial(803)
            .validity("20200101:20200102"),
    );
    let (status, text) = explain(
        &w,
        &format!(
            "bob --cert {} --from 127.0.0.1",
            sh_quote(expired.to_str().unwrap())
        ),
    );
    assert_eq!(status, 1, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("  ✗ certificate validity")
                && l.contains("  expired at 2020-01-02")),
        "{text}"
    );
    assert!(text.ends_with("\nbob may not log in\n"), "{text}");

    // carol is in the host's own /etc/passwd.
    assert_eq!(
        explain(&w, "carol"),
        (
            1,
            "carol is a local account (/etc/passwd): roster does not decide for it, and no \
             certificate logs in to it\n"
                .into()
        )
    );
}
