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
//! (`scripts/install-deps.sh`). Run: `cargo test --test system roles:: -- --nocapture` (the
//! offboarding test prints the time it measured).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::events::Events;
use crate::common::host::{Host, HostBuilder};
use crate::common::sshd::{Cert, Key, assert_session, live, live_processes_of};
use crate::common::{account, agent_setpriv, group, json_str, sh_quote, snapshot_json_with};

const VALID_UNTIL: &str = "2099-01-01T00:00:00Z";
/// `[sync] offboard_grace`'s default, which the test host keeps.
const OFFBOARD_GRACE: Duration = Duration::from_secs(5);
/// roster's reason when its account check in sudo's PAM stack refuses.
const NO_SUDO_REASON: &str = "no sudo: neither the admin role nor a sudo rule applies";
/// roster's reason when sudo is asked from a session that still holds the admin group
/// its user has lost.
const STALE_ADMIN_GROUP_REASON: &str = "no sudo: this session holds group roster-admins, which \
                                        the snapshot no longer gives: log in again";
/// What sudo -n prints when roster's account check refuses.
const SUDO_REFUSED_BY_ROSTER: &str =
    "sudo: PAM account management error: Permission denied\nsudo: a password is required\n";

// --- The snapshot ---

/// Who is on the host, and as what.
#[derive(Clone)]
struct People {
    alice_role: &'static str,
    erin_state: &'static str,
    /// Members of group `ops`, which [`OPS_TRUE_RULE`] lets run `/usr/bin/true`.
    ops: &'static [&'static str],
    /// Who is granted the shared account deploy.
    deploy: &'static [&'static str],
    /// The snapshot's `revoked` object.
    revoked: &'static str,
    /// User CAs trusted besides the world's own.
    more_cas: Vec<String>,
}

impl Default for People {
    fn default() -> Self {
        People {
            alice_role: "admin",
            erin_state: "active",
            ops: &[],
            deploy: &["alice"],
            revoked: "{}",
            more_cas: Vec::new(),
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
/// Group ops may run exactly `/usr/bin/true` as root.
const OPS_TRUE_RULE: &str =
    r#"{"group":"ops","commands":["/usr/bin/true"],"runas":"root","nopasswd":true}"#;

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
        group("ops", 10021, people.ops),
    ];
    let cas: Vec<String> = std::iter::once(ca.public_line())
        .chain(people.more_cas.iter().cloned())
        .map(|l| json_str(&l))
        .collect();
    let deploy: Vec<String> = people.deploy.iter().map(|p| json_str(p)).collect();
    snapshot_json_with(
        serial,
        VALID_UNTIL,
        &users(people),
        &groups,
        &[
            ("user_cas", format!("[{}]", cas.join(","))),
            (
                "grants",
                format!(
                    r#"[{{"account":"deploy","persons":[{}]}}]"#,
                    deploy.join(",")
                ),
            ),
            ("revoked", people.revoked.into()),
            ("sudo", format!("[{}]", sudo_rules.join(","))),
        ],
    )
}

// --- The host under test ---

struct World {
    host: Host,
}

impl std::ops::Deref for World {
    type Target = Host;

    fn deref(&self) -> &Host {
        &self.host
    }
}

impl World {
    /// The packaged wiring, roster's sudoers drop-in, and serial 1 with [`People::default`]
    /// and the web rule.
    fn new() -> World {
        World::with(Host::new().packaged())
    }

    /// Like [`World::new`], on a host built from `host`.
    fn with(host: HostBuilder) -> World {
        let host = host
            .sudo()
            .snapshot(|ca| snapshot(1, ca, &People::default(), &[WEB_ID_RULE]))
            .build();
        World { host }
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

    /// Publishes serial 2, where erin is disabled: the next sync offboards her.
    fn publish_erin_disabled(&self) {
        let people = People {
            erin_state: "disabled",
            ..People::default()
        };
        self.host
            .publish(&snapshot(2, &self.host.ca, &people, &[WEB_ID_RULE]));
    }

    /// Publishes serial 2, where alice has no role: the next sync offboards her.
    fn publish_alice_without_role(&self) {
        let people = People {
            alice_role: "none",
            ..People::default()
        };
        self.host
            .publish(&snapshot(2, &self.host.ca, &people, &[WEB_ID_RULE]));
    }
}

/// What `roster status` prints from its `dropped:` line on.
fn dropped_lines(status: &str) -> Vec<&str> {
    status
        .lines()
        .skip_while(|l| !l.starts_with("dropped:"))
        .collect()
}

fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One `login_denied` event from sudo's account phase for `account`, with `reason`.
#[track_caller]
fn assert_sudo_denied(events: &Events, account: &str, reason: &str, context: &str) {
    let denied = events.of_kind("login_denied");
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
    let alice = w.person("alice", 101);
    let login = w.login("alice", &alice, "sudo -n true && echo sudo ok");
    assert_session(&login, "sudo ok\n");
    assert!(login.events_of("login_denied").is_empty(), "{login}");

    let bob = w.person("bob", 102);
    let login = w.login("bob", &bob, "sudo -n true; echo \"sudo exit $?\"");
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
    let login = w.login("bob", &bob, "sudo -n true; echo \"sudo exit $?\"");
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
    let bob = w.person("bob", 104);
    w.grant_bob_sudo_locally();
    let alice_line = std::fs::read_to_string(&alice_cert).unwrap();
    let mut words = alice_line.split_whitespace();
    let (cert_type, blob) = (words.next().unwrap(), words.next().unwrap());
    let login = w.login(
        "bob",
        &bob,
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
    let alice = w.person("alice", 201);
    let session = w.session(
        "alice-session",
        "alice",
        &alice,
        "sudo -n true && echo first; \
         i=0; until [ -e /run/roster-test-go ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; \
         sudo -n true && echo second || echo refused",
    );
    session.wait_for_line(&w.host, "first");
    let mark = w.host.events_mark();
    let people = People {
        alice_role: "user",
        ..People::default()
    };
    w.host
        .install(&snapshot(2, &w.host.ca, &people, &[WEB_ID_RULE]));
    let out = w.host.run("touch /run/roster-test-go");
    assert_eq!(out.status, 0, "{out:#?}");
    let (rc, _) = session.wait(&w.host, Duration::from_secs(30));
    let context = session.transcript();
    assert_eq!(
        (rc, session.stdout().as_str(), session.stderr().as_str()),
        (0, "first\nrefused\n", SUDO_REFUSED_BY_ROSTER),
        "{context}"
    );
    let events = w.host.events_since(mark);
    assert_sudo_denied(&events, "alice", STALE_ADMIN_GROUP_REASON, &context);
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
    let erin = w.person("erin", 301);
    let session = w.session("erin-session", "erin", &erin, "echo started; exec sleep 60");
    session.wait_for_line(&w.host, "started");
    let mark = w.host.events_mark();
    w.publish_erin_disabled();
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
    let events = w.host.events_since(mark);
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
    // The sync wrote the default metrics path, inside the namespace's /var overlay: its
    // upper layer is what node_exporter reads here.
    let textfile = w.host.dir().join("ns/var/lib/prometheus/node-exporter");
    let samples = crate::metrics::scrape_roster(&textfile);
    assert_eq!(
        (
            samples["roster_snapshot_serial"],
            samples["roster_offboard_events_total{event=\"offboarded\"}"],
            samples["roster_offboard_events_total{event=\"session_revoked\"}"],
        ),
        (2.0, 1.0, 0.0),
        "{samples:#?}"
    );
}

// --- 4. Entitlement rules allow exactly their commands ---

#[test]
fn entitlement_rule_allows_exactly_the_listed_command() {
    let w = World::new();
    let wendy = w.person("wendy", 401);
    let login = w.login(
        "wendy",
        &wendy,
        "sudo -n /usr/bin/id -u; echo \"exit $?\"; \
         sudo -n /usr/bin/id; echo \"exit $?\"; \
         sudo -n true; echo \"exit $?\"",
    );
    assert_session(&login, "0\nexit 0\nexit 1\nexit 1\n");
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
        &w.host.ca,
        &People::default(),
        &[injections[0], WEB_ID_RULE, injections[1]],
    ));
    let status = w.host.run("roster --config /etc/roster/roster.toml status");
    assert_eq!(status.status, 0, "{status:#?}");
    let dropped = dropped_lines(&status.stdout);
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
    let wendy = w.person("wendy", 501);
    let login = w.login(
        "wendy",
        &wendy,
        "sudo -n /usr/bin/id -u; echo \"exit $?\"; \
         sudo -n /bin/sh -c 'echo shell'; echo \"exit $?\"; \
         sudo -n /usr/bin/whoami; echo \"exit $?\"",
    );
    assert_session(&login, "0\nexit 0\nexit 1\nexit 1\n");
}

// --- 6. Shared accounts ---

#[test]
fn granted_person_enters_a_shared_account_and_others_do_not() {
    let w = World::new();
    let alice = w.person("alice", 601);
    let login = w.login("deploy", &alice, "id -un; echo \"$ROSTER_USER\"");
    assert_session(&login, "deploy\nalice\n");
    let start = login.event("session_start");
    assert_eq!(
        (&start["account"], &start["person"], &start["serial"]),
        (&"deploy".into(), &"alice".into(), &601.into()),
        "{login}"
    );

    let login = w.login("deploy", &w.person("bob", 602), "id -un");
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
fn alice_in_deploy_loses_her_role(w: &World) -> crate::common::sshd::Background {
    let alice = w.person("alice", 611);
    let session = w.session(
        "alice-deploy",
        "deploy",
        &alice,
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
    let alice = w.person("alice", 612);
    let login = w.login(
        "deploy",
        &alice,
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
    let bare = w.host.certify(
        &w.host.ca,
        &key,
        &Cert::new("backup@cron", "backup").serial(701),
    );
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
        &w.host.ca,
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
            &w.host.ca,
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
        w.host.ca.fingerprint()
    );
    assert_lines(
        &text,
        &[
            "roster explain alice on web-01 at …",
            "  ✓ snapshot                      serial 1, issued …",
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
            "  ✓ snapshot  serial 1, issued …",
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
        &w.host.ca,
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

// --- Every lifecycle promise, the way an attacker would break it ---

/// A session that waits for `/run/roster-test-go`, then runs `then`.
fn after_go(then: &str) -> String {
    format!(
        "echo started; \
         i=0; until [ -e /run/roster-test-go ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; \
         {then}"
    )
}

#[test]
fn a_demoted_admin_gets_no_root_in_her_open_session_even_with_a_sudo_rule() {
    // alice is an admin and in ops, whose rule allows /usr/bin/true. Her open session
    // still carries roster-admins in its kernel groups after she is made a plain user,
    // and sudoers grants %roster-admins ALL: the live snapshot must refuse.
    let w = World::new();
    let people = People {
        ops: &["alice"],
        ..People::default()
    };
    w.host
        .install(&snapshot(2, &w.host.ca, &people, &[OPS_TRUE_RULE]));
    let alice = w.person("alice", 1101);
    // What her first session leaves running, detached, tries sudo after the change.
    let left = w.login(
        "alice",
        &alice,
        &format!(
            "setsid sh -c {} </dev/null >/dev/null 2>&1 & echo left",
            sh_quote(&after_go(
                "sudo -n id -u >/home/alice/left.out 2>&1; echo rc=$? >>/home/alice/left.out"
            ))
        ),
    );
    assert_session(&left, "left\n");
    let session = w.session(
        "alice-session",
        "alice",
        &alice,
        &format!(
            "sudo -n id -u; {}",
            after_go("id -Gn; sudo -n id -u; echo root=$?; sudo -n /usr/bin/true; echo true=$?")
        ),
    );
    session.wait_for_line(&w.host, "started");
    assert_eq!(session.stdout(), "0\nstarted\n", "{}", session.stderr());
    let mark = w.host.events_mark();
    let demoted = People {
        alice_role: "user",
        ..people
    };
    w.host
        .install(&snapshot(3, &w.host.ca, &demoted, &[OPS_TRUE_RULE]));
    assert_eq!(w.host.run("touch /run/roster-test-go").status, 0);
    let (rc, _) = session.wait(&w.host, Duration::from_secs(30));
    let context = session.transcript();
    assert_eq!(
        (rc, session.stdout().as_str()),
        (
            0,
            "0\nstarted\nalice users roster-admins ops\nroot=1\ntrue=1\n"
        ),
        "{context}"
    );
    let left = w.host.run(
        "i=0; until grep -q rc= /home/alice/left.out 2>/dev/null || [ $i -ge 100 ]; do \
           sleep 0.1; i=$((i+1)); done; cat /home/alice/left.out",
    );
    assert_eq!(
        left.stdout,
        format!("{SUDO_REFUSED_BY_ROSTER}rc=1\n"),
        "what she left running got root: {left:#?}"
    );
    let denied = w.host.events_since(mark).of_kind("login_denied");
    assert!(
        denied.len() == 3
            && denied
                .iter()
                .all(|e| e["service"] == "sudo" && e["reason"] == STALE_ADMIN_GROUP_REASON),
        "{denied:#?}\n{context}"
    );
    // A new login has her groups as they are now: her rule, and no root.
    let login = w.login(
        "alice",
        &alice,
        "id -Gn; sudo -n /usr/bin/true && echo true-ok; sudo -n id -u || echo no-root",
    );
    assert_session(&login, "alice users ops\ntrue-ok\nno-root\n");
}

#[test]
fn after_a_sync_every_open_session_is_one_that_would_be_admitted_now() {
    // Four sessions lose what admitted them in one sync: alice's certificate is revoked
    // by serial, bob's by key ID, wendy's CA is no longer trusted, and alice's grant to
    // the shared account deploy is withdrawn. erin's session is untouched and stays.
    let w = World::new();
    let second_ca = w.host.key("second-ca");
    let with_second_ca = People {
        more_cas: vec![second_ca.public_line()],
        ..People::default()
    };
    w.host
        .install(&snapshot(2, &w.host.ca, &with_second_ca, &[WEB_ID_RULE]));
    let (alice, alice_cert) = w.person("alice", 1201);
    let bob = w.host.key("bob");
    let bob_cert = w.host.certify(
        &w.host.ca,
        &bob,
        &Cert::new("bob@stolen-laptop", "bob").serial(1202),
    );
    let wendy = w.host.key("wendy");
    let wendy_cert = w.host.certify(
        &second_ca,
        &wendy,
        &Cert::new("wendy@laptop", "wendy").serial(1203),
    );
    let (erin, erin_cert) = w.person("erin", 1204);
    let alice_deploy = w.host.certify(
        &w.host.ca,
        &alice,
        &Cert::new("alice@deploy", "alice").serial(1205),
    );
    let sessions = [
        ("alice", "alice", &alice, &alice_cert),
        ("bob", "bob", &bob, &bob_cert),
        ("wendy", "wendy", &wendy, &wendy_cert),
        ("deploy", "deploy", &alice, &alice_deploy),
        ("erin", "erin", &erin, &erin_cert),
    ]
    .map(|(name, user, key, cert)| {
        let s = w.host.background(
            name,
            user,
            key,
            cert,
            &after_go("echo still-here; exec sleep 60"),
        );
        s.wait_for_line(&w.host, "started");
        (name, s)
    });
    let mark = w.host.events_mark();
    let changed = People {
        deploy: &[],
        revoked: r#"{"serials":[1201],"key_ids":["bob@stolen-laptop"]}"#,
        ..People::default()
    };
    w.host
        .publish(&snapshot(3, &w.host.ca, &changed, &[WEB_ID_RULE]));
    let sync = w.host.sync();
    assert_eq!(sync.status, 0, "{sync:#?}");
    for (name, session) in &sessions[..4] {
        let (rc, _) = session.wait(&w.host, Duration::from_secs(15));
        assert_ne!(
            rc,
            0,
            "{name}'s session ended normally: {}",
            session.stderr()
        );
        assert_eq!(session.stdout(), "started\n", "{name}");
    }
    assert!(
        !sessions[4].1.done(),
        "erin's session was ended:\n{sync:#?}"
    );
    let revoked = w.host.events_since(mark).of_kind("session_revoked");
    let mut seen: Vec<(String, String, String)> = revoked
        .iter()
        .map(|e| {
            let reason = e["reason"].as_str().unwrap();
            let (why, what) = reason.split_once(": ended ").unwrap_or((reason, ""));
            assert!(what.starts_with(|c: char| c.is_ascii_digit()), "{reason}");
            (
                e["account"].as_str().unwrap().to_owned(),
                e["person"].as_str().unwrap().to_owned(),
                why.to_owned(),
            )
        })
        .collect();
    seen.sort();
    let untrusted = format!(
        "certificate refused: signed by CA {}, which is not a trusted user CA",
        second_ca.fingerprint()
    );
    let expected = [
        ("alice", "alice", "certificate refused: revoked"),
        ("bob", "bob", "certificate refused: revoked"),
        (
            "deploy",
            "alice",
            "no principal of the certificate is granted this shared account",
        ),
        ("wendy", "wendy", untrusted.as_str()),
    ]
    .map(|(a, p, r)| (a.to_owned(), p.to_owned(), r.to_owned()));
    assert_eq!(seen, expected, "{revoked:#?}\n{sync:#?}");
    assert_eq!(w.host.run("touch /run/roster-test-go").status, 0);
    sessions[4].1.wait_for_line(&w.host, "still-here");
}

#[test]
fn offboarding_a_person_whose_shell_forks_while_it_is_killed_leaves_nothing_running() {
    // erin leaves a loop running, detached from her session, that ignores SIGHUP and
    // SIGTERM and forks as fast as it can, each child ignoring them too. After the sync
    // nothing of hers runs, and the event counts what ended.
    let w = World::with(
        Host::new()
            .packaged()
            .config(|c| c.offboard_grace = "1s".into()),
    );
    let forker = "trap '' HUP TERM INT PIPE\n\
                  while :; do sh -c 'trap \"\" HUP TERM; exec sleep 300' & done\n";
    let out = w.host.run(&format!(
        "printf %s {} >/run/forker.sh && chmod 0644 /run/forker.sh",
        sh_quote(forker)
    ));
    assert_eq!(out.status, 0, "{out:#?}");
    let erin = w.person("erin", 1301);
    let login = w.login(
        "erin",
        &erin,
        "setsid sh /run/forker.sh </dev/null >/dev/null 2>&1 & echo started",
    );
    assert_session(&login, "started\n");
    std::thread::sleep(Duration::from_millis(300));
    let before = live_processes_of(10006);
    assert!(before.len() > 10, "the loop is not forking: {before:?}");
    let mark = w.host.events_mark();
    w.publish_erin_disabled();
    let sync = w.host.sync();
    assert_eq!(sync.status, 0, "{sync:#?}");
    let left = live_processes_of(10006);
    assert!(
        left.is_empty(),
        "erin's processes survived: {left:?}\n{sync:#?}"
    );
    let offboarded = w.host.events_since(mark).of_kind("offboarded");
    assert_eq!(offboarded.len(), 1, "{offboarded:#?}");
    let reason = offboarded[0]["reason"].as_str().unwrap();
    let counts = reason
        .strip_prefix("disabled: ended ")
        .and_then(|r| r.split_once(" processes ("))
        .and_then(|(n, r)| Some((n.parse::<usize>().ok()?, r.strip_suffix(" after SIGKILL)")?)))
        .and_then(|(n, k)| Some((n, k.parse::<usize>().ok()?)));
    let Some((ended, killed)) = counts else {
        panic!("{reason:?}: not `disabled: ended N processes (K after SIGKILL)`");
    };
    // The loop and the children it forked, all of which ignored SIGHUP.
    assert!(ended >= 10 && killed == ended, "{reason}");
}

#[test]
fn sudo_and_su_inside_a_session_write_no_session_end() {
    // Only the session that opened a record may close it: sudo and su inside alice's
    // ssh session share its audit session id, and must not end it in the events.
    let w = World::new();
    let alice = w.person("alice", 1401);
    let mark = w.host.events_mark();
    let login = w.login(
        "alice",
        &alice,
        "sudo -n true && sudo -n su -s /bin/sh -c true bob && sudo -n su -s /bin/sh -c true root \
         && echo done",
    );
    assert_session(&login, "done\n");
    let events = w.host.events_since(mark);
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["account"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("session_start", "alice"), ("session_end", "alice")],
        "{events:#?}"
    );
    assert_eq!(events[1]["session"], events[0]["session"]);
    assert_eq!(events[1]["person"], "alice");
    assert_eq!(events[1]["service"], "sshd");
    assert!(events[0]["audit_session"].is_u64(), "{events:#?}");
    assert_eq!(events[1]["audit_session"], events[0]["audit_session"]);
}

#[test]
fn an_offboarding_survives_a_failure_at_each_step_after_the_install() {
    // erin (user) ignores SIGHUP, so ending her session takes the grace period, and a
    // sync killed in it has installed the snapshot but not ended her session.
    let w = World::new();
    let erin = w.person("erin", 1501);
    let session = w.session(
        "erin-session",
        "erin",
        &erin,
        "trap '' HUP; echo started; while :; do sleep 1; done",
    );
    session.wait_for_line(&w.host, "started");
    w.publish_erin_disabled();
    // 1. The sync is killed (kill -9) after installing, during the grace period.
    let killed = w.host.run(&format!(
        "{} roster --config /etc/roster/roster.toml sync >/run/sync.out 2>&1 & pid=$!; \
         i=0; until grep -q 'serial 2' /run/sync.out 2>/dev/null \
           || [ \"$(roster --config /etc/roster/roster.toml status --json | grep -c '\"serial\": 2')\" = 1 ] \
           || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done; \
         sleep 0.5; kill -9 $pid; wait $pid; echo killed=$?",
        agent_setpriv()
    ));
    assert_eq!(killed.stdout, "killed=137\n", "{killed:#?}");
    assert!(
        !session.done(),
        "erin's session ended before the kill: {killed:#?}"
    );
    // 2. The events log cannot be written at the next run.
    let ro = w
        .host
        .run("mount --bind -o ro /var/log/roster /var/log/roster");
    assert_eq!(ro.status, 0, "{ro:#?}");
    // The source has nothing new: the next sync finishes the offboarding first.
    let next = w.host.sync();
    assert_eq!(next.status, 0, "{next:#?}");
    let (rc, _) = session.wait(&w.host, Duration::from_secs(15));
    assert_ne!(rc, 0, "{}", session.stderr());
    assert!(
        next.stderr
            .contains("roster: offboarded account=erin reason=\"disabled: ended ")
            && next
                .stderr
                .contains("cannot write /var/log/roster/events.jsonl"),
        "{next:#?}"
    );
    assert_eq!(w.host.run("umount /var/log/roster").status, 0);
    // Done once: the run after that ends nothing again.
    let after = w.host.sync();
    assert!(!after.stderr.contains("offboarded"), "{after:#?}");
}

// --- 9. Root-equivalent sudo rules ---

/// Group web may run `printenv ROSTER_PROBE` as root with SETENV: its members may pass the
/// command any variable, LD_PRELOAD included, which makes the rule root.
const WEB_SETENV_RULE: &str = r#"{"group":"web","commands":["/usr/bin/printenv ROSTER_PROBE"],"runas":"root","nopasswd":true,"setenv":true}"#;

/// What wendy tries: the SETENV command with a variable, the plain rule's command with
/// LD_PRELOAD, and the SETENV command with LD_PRELOAD.
const SETENV_PROBE: &str = "sudo -n ROSTER_PROBE=passed /usr/bin/printenv ROSTER_PROBE; \
                            echo \"exit $?\"; \
                            sudo -n LD_PRELOAD=/nonexistent.so /usr/bin/id -u; echo \"exit $?\"; \
                            sudo -n LD_PRELOAD=/nonexistent.so ROSTER_PROBE=preloaded \
                            /usr/bin/printenv ROSTER_PROBE; echo \"exit $?\"";

#[test]
fn setenv_rule_is_dropped_unless_marked_root_equivalent() {
    let w = World::new();
    w.host.install(&snapshot(
        2,
        &w.host.ca,
        &People::default(),
        &[WEB_ID_RULE, WEB_SETENV_RULE],
    ));
    let status = w.host.run("roster --config /etc/roster/roster.toml status");
    let dropped = dropped_lines(&status.stdout);
    assert_eq!(
        dropped,
        [
            "dropped:       1 entries",
            "  dropped sudo rule for \"web\" (sudo[1]): root-equivalent but not marked \
             \"root_equivalent\": the SETENV tag lets its users set any variable, LD_PRELOAD \
             included",
        ],
        "roster status:\n{}",
        status.stdout
    );
    let file = w.host.run("cat /etc/sudoers.d/roster-entitlements");
    assert_eq!(
        file.stdout.lines().skip(2).collect::<Vec<_>>(),
        ["%web ALL=(root) NOPASSWD: /usr/bin/id -u"],
        "{file:#?}"
    );
    let wendy = w.person("wendy", 901);
    let login = w.login("wendy", &wendy, SETENV_PROBE);
    // Through Debian's sudo: the dropped rule's command is not wendy's to run, and the
    // plain rule passes no LD_PRELOAD.
    assert_eq!(
        (login.status, login.stdout.as_str(), login.stderr.as_str()),
        (
            0,
            "exit 1\nexit 1\nexit 1\n",
            "sudo: a password is required\n\
             sudo: sorry, you are not allowed to set the following environment variables: \
             LD_PRELOAD\n\
             sudo: a password is required\n"
        ),
        "{login}"
    );

    // Marked root-equivalent, the same rule is installed, and it is root: LD_PRELOAD
    // reaches the command sudo runs as root (ld.so says it tried).
    let marked = WEB_SETENV_RULE.replace("}", r#","root_equivalent":true}"#);
    w.host.install(&snapshot(
        3,
        &w.host.ca,
        &People::default(),
        &[WEB_ID_RULE, &marked],
    ));
    let file = w.host.run(
        "cat /etc/sudoers.d/roster-entitlements && visudo -cf /etc/sudoers.d/roster-entitlements",
    );
    assert_eq!(file.status, 0, "{file:#?}");
    assert_eq!(
        file.stdout.lines().skip(2).collect::<Vec<_>>(),
        [
            "%web ALL=(root) NOPASSWD: /usr/bin/id -u",
            "# root-equivalent (marked in the snapshot): its users can become root",
            "%web ALL=(root) NOPASSWD: SETENV: /usr/bin/printenv ROSTER_PROBE",
            "/etc/sudoers.d/roster-entitlements: parsed OK",
        ],
        "{file:#?}"
    );
    let login = w.login("wendy", &wendy, SETENV_PROBE);
    assert_eq!(
        (login.status, login.stdout.as_str(), login.stderr.as_str()),
        (
            0,
            "passed\nexit 0\nexit 1\npreloaded\nexit 0\n",
            "sudo: sorry, you are not allowed to set the following environment variables: \
             LD_PRELOAD\n\
             ERROR: ld.so: object '/nonexistent.so' from LD_PRELOAD cannot be preloaded \
             (cannot open shared object file): ignored.\n"
        ),
        "{login}"
    );
    let (status, text) = explain(&w, "wendy");
    assert_eq!(status, 0, "{text}");
    assert_lines(
        &text,
        &[
            "roster explain wendy on web-01 at …",
            "  ✓ snapshot   serial 3, issued …",
            "  ✓ account    wendy: person, uid 10005",
            "  ✓ state      active",
            "  ✓ role       user",
            "  ✓ sudo       sudo rules of the snapshot apply: only their commands",
            "  ✓ sudo rule  %web as root: /usr/bin/id -u",
            "  ✓ sudo rule  %web as root: /usr/bin/printenv ROSTER_PROBE (root-equivalent: in \
             effect a shell as root)",
            "wendy may log in with a valid certificate (check one with --cert FILE); sudo: yes",
        ],
    );
}
