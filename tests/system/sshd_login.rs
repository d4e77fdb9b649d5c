//! Certificate logins through a real OpenSSH sshd, Linux-PAM and glibc.
//!
//! Each test starts its own host (`common::sshd`): Debian's sshd on 127.0.0.1 in a private
//! mount, PID and network namespace, Debian's stock PAM stack with roster's two lines, the
//! NSS module, and the snapshot installed by `roster sync` from a signed `file://` source.
//! Keys, CAs and certificates are made with `ssh-keygen` when the test runs. Each test
//! asserts what the user sees (ssh's exit status, the session's output) and why: sshd's log
//! lines, roster's syslog message and roster's events file.
//!
//! Where refusals are recorded: sshd consults `roster principals` (the gate) for every
//! certificate signed by a trusted CA; the gate runs unprivileged, so its refusals go to
//! syslog only (`principals_denied …`) and sshd logs `Certificate does not contain an
//! authorized principal`. sshd refuses by itself a CA it does not trust and a
//! `source-address` the client is not in. PAM (account, then session) refuses what gets
//! past sshd, and writes `login_denied` events.
//!
//! Most tests wire roster's PAM lines into `/etc/pam.d/sshd` around Debian's `@include`s;
//! the `…packaged_pam_stack` ones run `pam-auth-update` with the shipped profile instead,
//! as the package will. Needs root, `ssh`, `ssh-keygen`, Debian's `openssh-server` and
//! `ip` (`scripts/install-deps.sh`). Run: `cargo test --test system sshd_login::`; add
//! `ROSTER_SHOW_LOGINS=1` and `-- --nocapture` to print every login with sshd's log, the
//! syslog messages and roster's events.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::host::{Host, HostBuilder};
use crate::common::sshd::{Cert, Key, Login, PORT, STATE_DIR, alive, assert_session};
use crate::common::{account, group, json_str, snapshot_json_with};

const VALID_UNTIL: &str = "2099-01-01T00:00:00Z";

// --- The snapshot ---

/// alice and bob (persons, role user), dora (disabled), nina (role none), and the shared
/// account deploy, which alice is granted.
fn users() -> Vec<String> {
    vec![
        account("alice", 10001, "active", "user", "person"),
        account("bob", 10002, "active", "user", "person"),
        account("dora", 10003, "disabled", "user", "person"),
        account("nina", 10004, "active", "none", "person"),
        account("deploy", 10050, "active", "user", "shared"),
    ]
}

fn without(users: Vec<String>, name: &str) -> Vec<String> {
    let prefix = format!(r#"{{"name":{},"#, json_str(name));
    let before = users.len();
    let kept: Vec<String> = users
        .into_iter()
        .filter(|u| !u.starts_with(&prefix))
        .collect();
    assert_eq!(kept.len(), before - 1, "no user {name} to remove");
    kept
}

/// The source snapshot: `users`, one group per user plus `devs` (alice, bob), the user
/// CAs, `revoked` (a JSON object) and alice's grant to deploy.
fn snapshot(serial: u64, cas: &[&Key], users: &[String], revoked: &str) -> String {
    let groups = [
        group("alice", 10001, &[]),
        group("bob", 10002, &[]),
        group("dora", 10003, &[]),
        group("nina", 10004, &[]),
        group("deploy", 10050, &[]),
        group("devs", 10010, &["alice", "bob"]),
    ];
    let cas: Vec<String> = cas.iter().map(|ca| json_str(&ca.public_line())).collect();
    snapshot_json_with(
        serial,
        VALID_UNTIL,
        users,
        &groups,
        &[
            ("user_cas", format!("[{}]", cas.join(","))),
            ("revoked", revoked.to_owned()),
            (
                "grants",
                r#"[{"account":"deploy","persons":["alice"]}]"#.into(),
            ),
        ],
    )
}

const NOTHING_REVOKED: &str = r#"{"serials":[],"key_ids":[],"keys":[]}"#;

// --- The host under test ---

/// A host with roster wired in and serial 1 installed: [`users`], trusting `host.ca`.
struct World {
    host: Host,
    alice: Key,
    bob: Key,
}

impl World {
    fn new() -> World {
        World::with(Host::new())
    }

    fn with(host: HostBuilder) -> World {
        let host = host
            .snapshot(|ca| snapshot(1, &[ca], &users(), NOTHING_REVOKED))
            .build();
        World {
            alice: host.key("alice"),
            bob: host.key("bob"),
            host,
        }
    }

    /// `key` certified by the trusted CA.
    fn cert(&self, key: &Key, cert: &Cert) -> PathBuf {
        self.host.cert(key, cert)
    }

    /// `user` logs in (`id; pwd`) with `key`, certified by the trusted CA as `cert` says.
    fn logs_in(&self, user: &str, key: &Key, cert: &Cert) -> Login {
        let path = self.cert(key, cert);
        self.login(user, key, &path)
    }

    /// alice logs in (`id; pwd`) with her key, certified by the trusted CA as `cert` says.
    fn alice_logs_in_with(&self, cert: &Cert) -> Login {
        self.logs_in("alice", &self.alice, cert)
    }

    /// How sshd describes `key` certified by the trusted CA as `cert` says.
    fn described(&self, key: &Key, cert: &Cert) -> String {
        cert_in_log(key, &cert.key_id, cert.serial, &self.host.ca)
    }

    /// alice's session ran as her snapshot identity in her home ([`ALICE_SESSION`]), and
    /// sshd accepted her key certified by the trusted CA as `cert` says.
    #[track_caller]
    fn assert_alice_in(&self, login: &Login, cert: &Cert) {
        assert_session(login, ALICE_SESSION);
        assert_accepted(login, "alice", &self.described(&self.alice, cert));
    }

    /// [`assert_gate_refused`] for `user`'s `key` certified as `cert` says.
    #[track_caller]
    fn assert_gate_refused(&self, login: &Login, user: &str, key: &Key, cert: &Cert, reason: &str) {
        let described = self.described(key, cert);
        assert_gate_refused(login, user, &described, &cert.key_id, cert.serial, reason);
    }

    /// alice logs in with her key certified as `cert` says, and the gate refuses it for
    /// `reason` ([`assert_gate_refused`]). Returns the login.
    #[track_caller]
    fn assert_gate_refuses_alice(&self, cert: &Cert, reason: &str) -> Login {
        let login = self.alice_logs_in_with(cert);
        self.assert_gate_refused(&login, "alice", &self.alice, cert, reason);
        login
    }

    /// `ssh USER@127.0.0.1 'id; pwd'` with `key` and `cert`.
    fn login(&self, user: &str, key: &Key, cert: &Path) -> Login {
        self.host.ssh(user, key, Some(cert), "id; pwd")
    }

    /// Installs `serial` of the snapshot with this world's users and CA, revoking `revoked`.
    fn revoke(&self, serial: u64, revoked: &str) {
        self.host
            .install(&snapshot(serial, &[&self.host.ca], &users(), revoked));
    }
}

/// How sshd describes a certificate after `… for USER from 127.0.0.1 port N `.
fn cert_in_log(key: &Key, key_id: &str, serial: u64, ca: &Key) -> String {
    format!(
        "ssh2: ED25519-CERT {} ID {key_id} (serial {serial}) CA ED25519 {}",
        key.fingerprint(),
        ca.fingerprint()
    )
}

/// What `id; pwd` prints in alice's session: her snapshot groups and the local `users`
/// group, which lists her in the fixture `/etc/group`.
const ALICE_SESSION: &str = "uid=10001(alice) gid=10001(alice) \
                             groups=10001(alice),100(users),10010(devs)\n/home/alice\n";
const CAROL_SESSION: &str =
    "uid=1001(carol) gid=1001(carol) groups=1001(carol),100(users)\n/home/carol\n";

// --- Assertions ---

/// sshd logged `VERDICT publickey for USER from 127.0.0.1 port N <cert>`.
#[track_caller]
fn assert_logged_about(login: &Login, verdict: &str, user: &str, cert: &str) {
    let prefix = format!("{verdict} publickey for {user} from 127.0.0.1 port ");
    assert!(
        login
            .sshd_log
            .lines()
            .any(|l| l.starts_with(&prefix) && l.ends_with(cert)),
        "sshd logged no {prefix:?}… line ending {cert:?}:\n{login}"
    );
}

/// sshd logged `Accepted publickey for USER from 127.0.0.1 port N <cert>`.
#[track_caller]
fn assert_accepted(login: &Login, user: &str, cert: &str) {
    assert_logged_about(login, "Accepted", user, cert);
}

/// Authentication failed: ssh says "Permission denied", no command ran, sshd logged
/// `Failed publickey for USER … <cert>` and accepted nothing, and no session was recorded.
#[track_caller]
fn assert_refused(login: &Login, user: &str, cert: &str) {
    assert!(
        login.status == 255
            && login.stdout.is_empty()
            && login
                .stderr
                .contains(&format!("{user}@127.0.0.1: Permission denied (publickey).")),
        "the login should have been refused:\n{login}"
    );
    login.assert_not_logged("Accepted publickey");
    assert_logged_about(login, "Failed", user, cert);
    assert!(
        login.events_of("session_start").is_empty(),
        "a refused login started a session:\n{login}"
    );
}

/// The gate refused the certificate (`cert`, as sshd describes it): sshd found no
/// authorized principal, roster logged `principals_denied account=USER key_id=KEY_ID
/// reason="REASON" serial=SERIAL` to syslog, and wrote no event (it runs unprivileged).
#[track_caller]
fn assert_gate_refused(
    login: &Login,
    user: &str,
    cert: &str,
    key_id: &str,
    serial: u64,
    reason: &str,
) {
    assert_refused(login, user, cert);
    login.assert_logged("Certificate does not contain an authorized principal");
    let message = format!(
        "principals_denied account={user} key_id={key_id} reason=\"{reason}\" serial={serial}"
    );
    assert!(
        login
            .syslog
            .lines()
            .any(|l| l.contains(" roster[") && l.ends_with(&format!("]: {message}"))),
        "roster logged no {message:?}:\n{login}"
    );
    assert!(login.events.is_empty(), "the gate wrote events:\n{login}");
}

/// sshd refused without asking roster: no roster message, no event.
#[track_caller]
fn assert_sshd_refused(login: &Login, user: &str, cert: &str) {
    assert_refused(login, user, cert);
    assert!(
        !login.syslog.contains("roster[") && login.events.is_empty(),
        "roster was consulted:\n{login}"
    );
}

/// roster recorded a `login_denied` event for `account` with exactly `reason`.
#[track_caller]
fn assert_denied_event(login: &Login, account: &str, reason: &str) {
    let denied = login.event("login_denied");
    assert_eq!(
        (&denied["account"], &denied["reason"], &denied["source"]),
        (&account.into(), &reason.into(), &"127.0.0.1".into()),
        "{login}"
    );
}

// --- Accepted ---

#[test]
fn good_certificate_logs_in_with_snapshot_identity_and_a_new_private_home() {
    good_certificate_logs_in(Host::new());
}

#[test]
fn good_certificate_logs_in_through_the_packaged_pam_stack() {
    good_certificate_logs_in(Host::new().packaged());
}

fn good_certificate_logs_in(host: HostBuilder) {
    let w = World::with(host);
    let cert = Cert::new("alice@laptop", "alice").serial(101);
    let login = w.alice_logs_in_with(&cert);
    w.assert_alice_in(&login, &cert);
    let start = login.event("session_start");
    let end = login.event("session_end");
    for (event, e) in [("session_start", start), ("session_end", end)] {
        assert_eq!(
            (
                &e["account"],
                &e["person"],
                &e["key_id"],
                &e["serial"],
                &e["source"],
                &e["host"]
            ),
            (
                &"alice".into(),
                &"alice".into(),
                &"alice@laptop".into(),
                &101.into(),
                &"127.0.0.1".into(),
                &"web-01".into()
            ),
            "{event}:\n{login}"
        );
    }
    assert_eq!(start["session"], end["session"], "{login}");
    assert_eq!(start["ca"], w.host.ca.fingerprint().as_str(), "{login}");
    login.assert_syslogged("pam_roster(sshd:session): session_start account=alice person=alice");
    // The audit trail as an operator reads it: a header, then the two events.
    let table = w.host.run("roster events --user alice --since 1h");
    let rows: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(table.status, 0, "{table:#?}");
    assert_eq!(
        rows.first().map(|r| r[..4].to_vec()),
        Some(vec!["TIME", "EVENT", "ACCOUNT", "PERSON"]),
        "{table:#?}"
    );
    let session = start["session"].as_str().unwrap_or_default();
    assert_eq!(rows.len(), 3, "{table:#?}");
    // EVENT, then ACCOUNT PERSON FROM KEY_ID SERIAL SESSION, the same in both rows.
    let row = [
        "alice",
        "alice",
        "127.0.0.1",
        "alice@laptop",
        "101",
        session,
    ];
    assert_eq!(
        (rows[1][1], &rows[1][2..]),
        ("session_start", &row[..]),
        "{table:#?}"
    );
    assert_eq!(
        (rows[2][1], &rows[2][2..8]),
        ("session_end", &row[..]),
        "{table:#?}"
    );
    assert_eq!(rows[2][8], "after", "{table:#?}");
    let future = w.host.run("roster events --user bob");
    assert_eq!(
        future.stdout.lines().count(),
        1,
        "only the header: {future:#?}"
    );
    let home = w.host.run("stat -c '%a %U:%G' /home/alice");
    assert_eq!(home.stdout, "700 alice:alice\n", "{home:#?}");
    // What `roster sync` installed and sshd and PAM read.
    let state = w.host.run(&format!(
        "cd {STATE_DIR} && stat -c '%n %a %U' snapshot user_ca_keys && cat user_ca_keys"
    ));
    assert_eq!(
        state.stdout,
        format!(
            "snapshot 644 root\nuser_ca_keys 644 root\n{}\n",
            w.host.ca.public_line()
        ),
        "{state:#?}"
    );
}

// --- Certificates the gate refuses ---

#[test]
fn expired_certificate_is_refused() {
    let w = World::new();
    let cert = Cert::new("alice-old", "alice")
        .validity("20200101000000Z:20200101010000Z")
        .serial(7);
    w.assert_gate_refuses_alice(
        &cert,
        "certificate refused: expired at 2020-01-01T01:00:00Z",
    );
}

#[test]
fn not_yet_valid_certificate_is_refused() {
    let w = World::new();
    let cert = Cert::new("alice-future", "alice")
        .validity("20990101000000Z:20990101010000Z")
        .serial(8);
    w.assert_gate_refuses_alice(
        &cert,
        "certificate refused: not valid before 2099-01-01T00:00:00Z",
    );
}

#[test]
fn certificate_living_longer_than_max_lifetime_is_refused() {
    // 17h01m against the host's 16h.
    let w = World::new();
    let cert = Cert::new("alice-long", "alice")
        .validity("-1m:+17h")
        .serial(9);
    w.assert_gate_refuses_alice(
        &cert,
        "certificate refused: lifetime 61260s is over this host's limit of 57600s",
    );
}

#[test]
fn revoked_serial_is_refused() {
    let w = World::new();
    w.revoke(2, r#"{"serials":[13],"key_ids":[],"keys":[]}"#);
    let cert = Cert::new("alice-stolen", "alice").serial(13);
    w.assert_gate_refuses_alice(&cert, "certificate refused: revoked");
}

#[test]
fn revoked_key_id_is_refused() {
    let w = World::new();
    w.revoke(
        2,
        r#"{"serials":[],"key_ids":["alice@lost-laptop"],"keys":[]}"#,
    );
    let cert = Cert::new("alice@lost-laptop", "alice").serial(14);
    w.assert_gate_refuses_alice(&cert, "certificate refused: revoked");
}

/// The key IDs `roster ca sign` writes carry the signing time, colons and all:
/// revoking one must refuse it (validation once dropped such an entry as a bad field,
/// so no certificate roster issued could be revoked by key ID).
#[test]
fn revoked_key_id_as_roster_ca_writes_it_is_refused() {
    let w = World::new();
    let key_id = "alice@2026-11-25T10:00:00Z#5e1f00d2";
    w.revoke(
        2,
        &format!(
            r#"{{"serials":[],"key_ids":[{}],"keys":[]}}"#,
            json_str(key_id)
        ),
    );
    let cert = Cert::new(key_id, "alice").serial(15);
    w.assert_gate_refuses_alice(&cert, "certificate refused: revoked");
}

#[test]
fn revoked_key_is_refused_whatever_certificate_carries_it() {
    let w = World::new();
    w.revoke(
        2,
        &format!(
            r#"{{"serials":[],"key_ids":[],"keys":[{}]}}"#,
            json_str(&w.alice.fingerprint())
        ),
    );
    let cert = Cert::new("alice-fresh", "alice").serial(15);
    w.assert_gate_refuses_alice(&cert, "certificate refused: revoked");
}

#[test]
fn certificate_for_another_person_is_refused() {
    let w = World::new();
    let cert = Cert::new("bob@laptop", "bob").serial(16);
    w.assert_gate_refuses_alice(&cert, "certificate does not name this account");
}

#[test]
fn certificate_without_principals_is_refused() {
    // Without -n, ssh-keygen certifies the key for every principal.
    let w = World::new();
    let cert = Cert::new("anyone", "").without_principals().serial(17);
    w.assert_gate_refuses_alice(
        &cert,
        "certificate refused: no principals (valid for anyone)",
    );
}

#[test]
fn certificate_naming_alice_and_root_logs_in_as_alice_but_not_as_root() {
    let w = World::new();
    let cert = w.cert(&w.alice, &Cert::new("alice+root", "alice,root").serial(18));
    let described = cert_in_log(&w.alice, "alice+root", 18, &w.host.ca);
    let login = w.login("alice", &w.alice, &cert);
    assert_session(&login, ALICE_SESSION);
    assert_accepted(&login, "alice", &described);

    // root is a local account: the gate lists no principal for it.
    let login = w.login("root", &w.alice, &cert);
    assert_gate_refused(
        &login,
        "root",
        &described,
        "alice+root",
        18,
        "root is a local account: the snapshot does not decide for it",
    );
}

#[test]
fn host_certificate_is_refused_as_user_certificate() {
    // ssh will not offer a host certificate from a file ("not a user certificate"), but it
    // offers whatever an agent holds: the plain key first, then the certificate.
    let w = World::new();
    let key = w.host.key("alice-agent");
    let cert = w.cert(
        &key,
        &Cert::new("web-01-host", "alice")
            .host_certificate()
            .serial(19),
    );
    std::fs::copy(&cert, format!("{}-cert.pub", key.private.display())).unwrap();
    let ssh: Vec<String> = crate::common::sshd::ssh_argv(
        "alice",
        &[
            "-o",
            "IdentitiesOnly=no",
            "-i",
            key.private.to_str().unwrap(),
        ],
        "id; pwd",
    )
    .iter()
    .map(|a| crate::common::sh_quote(a))
    .collect();
    let script = format!(
        "eval \"$(ssh-agent -s)\" >/dev/null\nssh-add -q {}\n{}\nstatus=$?\n\
         ssh-agent -k >/dev/null\nexit $status",
        crate::common::sh_quote(key.private.to_str().unwrap()),
        ssh.join(" ")
    );
    let login = w.host.observe(&["/bin/sh", "-c", &script]);
    assert_gate_refused(
        &login,
        "alice",
        &cert_in_log(&key, "web-01-host", 19, &w.host.ca),
        "web-01-host",
        19,
        "certificate refused: a host certificate, not a user certificate",
    );
}

#[test]
fn unknown_critical_option_is_refused() {
    let w = World::new();
    let cert = Cert::new("alice-critical", "alice")
        .option("critical:foo@example.com=bar")
        .serial(20);
    w.assert_gate_refuses_alice(
        &cert,
        r#"certificate refused: unknown critical option \"foo@example.com\""#,
    );
}

// --- Certificates sshd refuses by itself ---

#[test]
fn certificate_from_a_ca_not_in_the_snapshot_is_refused() {
    let w = World::new();
    let stranger = w.host.key("stranger-ca");
    let cert = w.host.certify(
        &stranger,
        &w.alice,
        &Cert::new("alice-forged", "alice").serial(10),
    );
    let login = w.login("alice", &w.alice, &cert);
    assert_sshd_refused(
        &login,
        "alice",
        &cert_in_log(&w.alice, "alice-forged", 10, &stranger),
    );
}

#[test]
fn rotated_out_ca_is_refused_and_its_replacement_accepted() {
    let w = World::new();
    let new_ca = w.host.key("new-user-ca");
    let old = w.cert(&w.alice, &Cert::new("alice-old-ca", "alice").serial(11));
    let new = w.host.certify(
        &new_ca,
        &w.alice,
        &Cert::new("alice-new-ca", "alice").serial(12),
    );
    assert_session(&w.login("alice", &w.alice, &old), ALICE_SESSION);

    // Serial 2 trusts only the new CA.
    w.host
        .install(&snapshot(2, &[&new_ca], &users(), NOTHING_REVOKED));
    let login = w.login("alice", &w.alice, &old);
    assert_sshd_refused(
        &login,
        "alice",
        &cert_in_log(&w.alice, "alice-old-ca", 11, &w.host.ca),
    );
    let login = w.login("alice", &w.alice, &new);
    assert_session(&login, ALICE_SESSION);
    assert_accepted(
        &login,
        "alice",
        &cert_in_log(&w.alice, "alice-new-ca", 12, &new_ca),
    );
}

#[test]
fn certificate_for_another_source_address_is_refused() {
    let w = World::new();
    let cert = w.cert(
        &w.alice,
        &Cert::new("alice-office", "alice")
            .option("source-address=10.1.2.3/32")
            .serial(21),
    );
    let login = w.login("alice", &w.alice, &cert);
    // The gate is not told the client's address; sshd enforces the option.
    assert_sshd_refused(
        &login,
        "alice",
        &cert_in_log(&w.alice, "alice-office", 21, &w.host.ca),
    );
    login.assert_logged(
        "cert: Authentication tried for alice with valid certificate but not from a \
         permitted source address (127.0.0.1).",
    );
    login.assert_logged("Refused by certificate options");
}

// --- Host binding ---

fn binding_required() -> World {
    World::with(Host::new().config(|c| c.require_host_binding = true))
}

#[test]
fn certificate_bound_to_another_host_is_refused_when_binding_is_required() {
    let w = binding_required();
    let cert = Cert::new("alice-db", "alice")
        .option("extension:hosts@roster=db-07")
        .serial(22);
    w.assert_gate_refuses_alice(&cert, "certificate refused: bound to other hosts (db-07)");
}

#[test]
fn certificate_bound_to_this_host_logs_in_when_binding_is_required() {
    let w = binding_required();
    let cert = Cert::new("alice-web", "alice")
        .option("extension:hosts@roster=web-01")
        .serial(23);
    let login = w.alice_logs_in_with(&cert);
    w.assert_alice_in(&login, &cert);
}

#[test]
fn certificate_bound_to_a_label_of_this_host_logs_in_when_binding_is_required() {
    let w = binding_required();
    let cert = Cert::new("alice-dc1", "alice")
        .option("extension:hosts@roster=db-07,dc1")
        .serial(24);
    let login = w.alice_logs_in_with(&cert);
    w.assert_alice_in(&login, &cert);
}

// --- Accounts ---

#[test]
fn home_owned_by_another_account_is_refused_and_left_untouched() {
    // /home/bob already exists and is alice's (uid 10001), holding her file: bob's
    // certificate passes every check, but his session must not be handed her files.
    let w = World::new();
    let out = w.host.run(
        "install -d -o 10001 -g 10001 -m 0700 /home/bob && \
         echo 'alice only' >/home/bob/notes && chown 10001:10001 /home/bob/notes && \
         chmod 0600 /home/bob/notes",
    );
    assert_eq!(out.status, 0, "{out:#?}");
    let listing = "find /home/bob -printf '%p %U:%G %m\\n' | sort; cat /home/bob/notes";
    let before = w.host.run(listing);
    assert_eq!(
        before.stdout, "/home/bob 10001:10001 700\n/home/bob/notes 10001:10001 600\nalice only\n",
        "{before:#?}"
    );
    let cert = w.cert(&w.bob, &Cert::new("bob@laptop", "bob").serial(30));
    let login = w.login("bob", &w.bob, &cert);
    // The session phase refuses: sshd has accepted the key, then runs no command and
    // exits 254.
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (254, ""),
        "bob's session ran:\n{login}"
    );
    assert_accepted(
        &login,
        "bob",
        &cert_in_log(&w.bob, "bob@laptop", 30, &w.host.ca),
    );
    login.assert_logged(
        "PAM: pam_open_session(): Cannot make/remove an entry for the specified session",
    );
    let reason = "cannot create home /home/bob: it exists and belongs to uid 10001, not 10002: \
                  another account's home is never handed over";
    assert_denied_event(&login, "bob", reason);
    assert!(login.events_of("session_start").is_empty(), "{login}");
    login.assert_syslogged(&format!("reason=\"{reason}\""));
    let after = w.host.run(listing);
    assert_eq!(
        after.stdout, before.stdout,
        "alice's files changed: {after:#?}"
    );

    // Once the directory is bob's, he logs in to it.
    let out = w.host.run("chown -R 10002:10002 /home/bob");
    assert_eq!(out.status, 0, "{out:#?}");
    let login = w.host.ssh("bob", &w.bob, Some(&cert), "pwd");
    assert_session(&login, "/home/bob\n");
}

#[test]
fn disabled_user_is_refused() {
    let w = World::new();
    let dora = w.host.key("dora");
    let cert = Cert::new("dora@laptop", "dora").serial(25);
    let login = w.logs_in("dora", &dora, &cert);
    w.assert_gate_refused(&login, "dora", &dora, &cert, "account is disabled");
}

#[test]
fn user_removed_from_the_snapshot_is_refused() {
    let w = World::new();
    let cert = w.cert(&w.alice, &Cert::new("alice@laptop", "alice").serial(26));
    assert_session(&w.login("alice", &w.alice, &cert), ALICE_SESSION);

    w.host.install(&snapshot(
        2,
        &[&w.host.ca],
        &without(users(), "alice"),
        NOTHING_REVOKED,
    ));
    let login = w.login("alice", &w.alice, &cert);
    // alice no longer resolves: sshd refuses her before any key is looked at.
    assert!(
        login.status == 255
            && login.stdout.is_empty()
            && login.stderr.contains("Permission denied (publickey)."),
        "{login}"
    );
    login.assert_logged("Invalid user alice from 127.0.0.1 port ");
    login.assert_logged("Connection closed by invalid user alice 127.0.0.1 port ");
    login.assert_not_logged("Accepted publickey");
}

#[test]
fn user_with_role_none_is_refused() {
    let w = World::new();
    let nina = w.host.key("nina");
    let cert = Cert::new("nina@laptop", "nina").serial(27);
    let login = w.logs_in("nina", &nina, &cert);
    w.assert_gate_refused(
        &login,
        "nina",
        &nina,
        &cert,
        "account has no role on this host",
    );
}

#[test]
fn a_key_id_that_looks_like_an_option_is_only_data_to_the_gate() {
    // sshd passes the certificate's key ID (%i) to `roster principals`; whoever asked
    // for the certificate chose it. `--help` and `--config FILE` are a key ID like any.
    let w = World::new();
    for (key_id, serial) in [("--help", 31), ("--config=/tmp/evil.toml", 32), ("-h", 33)] {
        let cert = Cert::new(key_id, "alice").serial(serial);
        let login = w.alice_logs_in_with(&cert);
        w.assert_alice_in(&login, &cert);
        assert_eq!(login.event("session_start")["key_id"], key_id);
    }
    // And for a person the certificate does not name, the same refusal as ever.
    let cert = w.cert(&w.bob, &Cert::new("--help", "bob").serial(34));
    let login = w.login("alice", &w.bob, &cert);
    assert_refused(
        &login,
        "alice",
        &cert_in_log(&w.bob, "--help", 34, &w.host.ca),
    );
    let gate = w.host.run(
        "/usr/sbin/roster principals alice ssh-ed25519-cert-v01@openssh.com AAAA SHA256:x \
         --help 1; echo \"exit $?\"",
    );
    assert_eq!(
        gate.stdout, "exit 0\n",
        "no usage text for sshd to read: {gate:#?}"
    );
}

#[test]
fn a_replayed_snapshot_goes_stale_however_often_it_is_served() {
    // Someone between the host and the source serves the current, correctly signed
    // snapshot again and again, withholding newer ones. It was issued two days ago;
    // max_age is 24h. Every sync succeeds (nothing newer is offered), and the host is
    // stale all the same: freshness counts from the signed issue time.
    let w = World::new();
    let issued = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 86_400;
    let issued = roster::time::format_rfc3339(issued as i64);
    let replayed = crate::common::with_issued_at(
        &snapshot(2, &[&w.host.ca], &users(), NOTHING_REVOKED),
        &issued,
    );
    w.host.install(&replayed);
    for _ in 0..3 {
        let again = w.host.sync();
        assert_eq!(
            (again.status, again.stdout.as_str()),
            (0, "roster: snapshot serial 2 is current\n"),
            "{again:#?}"
        );
    }
    let status = w.host.run("roster --config /etc/roster/roster.toml status");
    assert_eq!(status.status, 1, "{status:#?}");
    assert!(
        status.stdout.starts_with(&format!(
            "health:        stale: snapshot is stale: issued {issued}, max_age is 1d"
        )),
        "{status:#?}"
    );
    let cert = Cert::new("alice@laptop", "alice").serial(28);
    let login = w.logs_in("alice", &w.alice, &cert);
    w.assert_gate_refused(
        &login,
        "alice",
        &w.alice,
        &cert,
        &format!("snapshot is stale: issued {issued}, max_age is 1d"),
    );
}

// --- PAM, for what gets past sshd without a certificate ---

#[test]
fn disabled_user_with_an_authorized_key_is_refused_by_pam_account() {
    // roster's account line comes before Debian's common-account.
    disabled_user_with_an_authorized_key_is_refused(Host::new());
}

#[test]
fn disabled_user_with_an_authorized_key_is_refused_by_the_packaged_pam_stack() {
    // roster's account line comes after pam_unix, inside common-account.
    disabled_user_with_an_authorized_key_is_refused(Host::new().packaged());
}

/// sshd accepts the key from authorized_keys (the gate only sees certificates); PAM's
/// account phase refuses.
fn disabled_user_with_an_authorized_key_is_refused(host: HostBuilder) {
    let w = World::with(host);
    let dora = w.host.key("dora");
    w.host.authorize("dora", &dora);
    let login = w.host.ssh("dora", &dora, None, "id; pwd");
    // sshd closes the connection: ssh fails without "Permission denied".
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (255, ""),
        "dora got in:\n{login}"
    );
    login.assert_not_logged("Accepted publickey");
    login.assert_logged(&format!(
        "Accepted key ED25519 {} found at /home/dora/.ssh/authorized_keys:1",
        dora.fingerprint()
    ));
    login.assert_logged("Access denied for user dora by PAM account configuration [preauth]");
    assert_denied_event(&login, "dora", "account is disabled");
    login.assert_syslogged("pam_roster(sshd:account): login_denied account=dora ");
}

#[test]
fn snapshot_user_with_an_authorized_key_and_no_certificate_gets_no_session() {
    snapshot_user_without_certificate_gets_no_session(Host::new());
}

#[test]
fn snapshot_user_without_certificate_gets_no_session_from_the_packaged_pam_stack() {
    snapshot_user_without_certificate_gets_no_session(Host::new().packaged());
}

/// sshd accepts the key and PAM's account phase passes (alice is active); roster's
/// session line finds no certificate, so sshd runs no command and exits 254.
fn snapshot_user_without_certificate_gets_no_session(host: HostBuilder) {
    let w = World::with(host);
    w.host.authorize("alice", &w.alice);
    let login = w.host.ssh("alice", &w.alice, None, "id; pwd");
    assert_eq!(login.status, 254, "{login}");
    assert!(!login.stdout.contains("uid="), "the command ran:\n{login}");
    assert_accepted(
        &login,
        "alice",
        &format!("ssh2: ED25519 {}", w.alice.fingerprint()),
    );
    login.assert_logged(
        "PAM: pam_open_session(): Cannot make/remove an entry for the specified session",
    );
    assert_denied_event(
        &login,
        "alice",
        "certificate refused: certificate cannot be parsed: no certificate among the \
         methods sshd used",
    );
    assert!(login.events_of("session_start").is_empty(), "{login}");
}

// --- Shared accounts ---

#[test]
fn granted_person_enters_a_shared_account_with_her_own_certificate() {
    granted_person_enters_a_shared_account(Host::new());
}

#[test]
fn granted_person_enters_a_shared_account_through_the_packaged_pam_stack() {
    granted_person_enters_a_shared_account(Host::new().packaged());
}

fn granted_person_enters_a_shared_account(host: HostBuilder) {
    let w = World::with(host);
    let cert = w.cert(&w.alice, &Cert::new("alice@laptop", "alice").serial(29));
    let login = w.host.ssh(
        "deploy",
        &w.alice,
        Some(&cert),
        "id -un; pwd; echo \"$ROSTER_USER\"",
    );
    assert_session(&login, "deploy\n/home/deploy\nalice\n");
    assert_accepted(
        &login,
        "deploy",
        &cert_in_log(&w.alice, "alice@laptop", 29, &w.host.ca),
    );
    for kind in ["session_start", "session_end"] {
        let e = login.event(kind);
        assert_eq!(
            (&e["account"], &e["person"], &e["key_id"], &e["serial"]),
            (
                &"deploy".into(),
                &"alice".into(),
                &"alice@laptop".into(),
                &29.into()
            ),
            "{kind}:\n{login}"
        );
    }
}

#[test]
fn person_not_granted_cannot_enter_a_shared_account() {
    let w = World::new();
    let cert = Cert::new("bob@laptop", "bob").serial(30);
    let login = w.logs_in("deploy", &w.bob, &cert);
    w.assert_gate_refused(
        &login,
        "deploy",
        &w.bob,
        &cert,
        "no principal of the certificate is granted this shared account",
    );
}

// --- Local accounts ---

#[test]
fn local_user_with_authorized_keys_logs_in_untouched() {
    local_user_logs_in_untouched(Host::new());
}

#[test]
fn local_user_with_authorized_keys_logs_in_untouched_by_the_packaged_pam_stack() {
    local_user_logs_in_untouched(Host::new().packaged());
}

fn local_user_logs_in_untouched(host: HostBuilder) {
    let w = World::with(host);
    let key = w.host.key("carol");
    w.host.authorize("carol", &key);
    let login = w
        .host
        .ssh("carol", &key, None, "id; pwd; echo \"[$ROSTER_USER]\"");
    assert_session(&login, &format!("{CAROL_SESSION}[]\n"));
    assert_accepted(
        &login,
        "carol",
        &format!("ssh2: ED25519 {}", key.fingerprint()),
    );
    assert!(
        login.events.is_empty() && !login.syslog.contains("roster"),
        "roster recorded a local login:\n{login}"
    );
}

#[test]
fn local_account_created_after_the_sync_is_not_the_snapshots() {
    // bob is a snapshot person; then a local bob (another uid) is created by hand.
    // Local accounts win: bob's certificate must not open the local account, and the
    // local bob logs in with his key, untouched by the snapshot bob's rules.
    let w = World::new();
    let out = w.host.run(
        "echo 'bob:x:1500:1500:Local Bob:/home/local-bob:/bin/bash' >> /etc/passwd && \
         echo 'bob:x:1500:' >> /etc/group && echo 'bob:*:19000:0:99999:7:::' >> /etc/shadow",
    );
    assert_eq!(out.status, 0, "{out:#?}");
    let cert = Cert::new("bob@laptop", "bob").serial(77);
    let login = w.logs_in("bob", &w.bob, &cert);
    w.assert_gate_refused(
        &login,
        "bob",
        &w.bob,
        &cert,
        "bob is a local account: the snapshot does not decide for it",
    );

    let key = w.host.key("local-bob");
    w.host.authorize("bob", &key);
    let login = w
        .host
        .ssh("bob", &key, None, "id; pwd; echo \"[$ROSTER_USER]\"");
    assert_session(
        &login,
        "uid=1500(bob) gid=1500(bob) groups=1500(bob)\n/home/local-bob\n[]\n",
    );
    assert!(
        login.events.is_empty() && !login.syslog.contains("roster"),
        "roster recorded a local login:\n{login}"
    );
}

#[test]
fn without_a_snapshot_snapshot_users_are_refused_and_local_users_log_in() {
    let host = Host::new().build();
    let (alice, carol) = (host.key("alice"), host.key("carol"));
    let out = host.run(&format!("ls -A {STATE_DIR}"));
    assert_eq!((out.status, out.stdout.as_str()), (0, ""), "{out:#?}");
    host.authorize("carol", &carol);
    let cert = host.cert(&alice, &Cert::new("alice@laptop", "alice").serial(31));
    let login = host.ssh("alice", &alice, Some(&cert), "id; pwd");
    assert!(
        login.status == 255 && login.stdout.is_empty(),
        "alice got in:\n{login}"
    );
    login.assert_logged("Invalid user alice from 127.0.0.1 port ");

    let login = host.ssh("carol", &carol, None, "id; pwd");
    assert_session(&login, CAROL_SESSION);
}

// --- The harness itself, against stock sshd and PAM ---

#[test]
fn local_user_with_authorized_keys_logs_in_to_stock_sshd() {
    let host = Host::new().stock().build();
    let key = host.key("carol");
    host.authorize("carol", &key);
    let login = host.ssh("carol", &key, None, "id; pwd");
    assert_session(&login, CAROL_SESSION);
    assert_accepted(
        &login,
        "carol",
        &format!("ssh2: ED25519 {}", key.fingerprint()),
    );
}

#[test]
fn certificate_with_authorized_principals_file_logs_in_to_stock_sshd() {
    // sshd reads both files at each login, so they can be written after it starts.
    let host = Host::new()
        .stock()
        .sshd_config("TrustedUserCAKeys /etc/ssh/test_user_ca.pub")
        .sshd_config("AuthorizedPrincipalsFile /etc/ssh/principals/%u")
        .build();
    let key = host.key("carol");
    let cert = host.cert(&key, &Cert::new("carol@test", "carol-person").serial(42));
    let out = host.run(&format!(
        "set -e\ncp {} /etc/ssh/test_user_ca.pub\nmkdir /etc/ssh/principals\n\
         echo carol-person >/etc/ssh/principals/carol\n\
         install -d -o carol -g carol -m 0700 /home/carol",
        host.ca.public.display()
    ));
    assert_eq!(out.status, 0, "{out:#?}");
    let login = host.ssh("carol", &key, Some(&cert), "id -un; pwd");
    assert_session(&login, "carol\n/home/carol\n");
    assert_accepted(
        &login,
        "carol",
        &cert_in_log(&key, "carol@test", 42, &host.ca),
    );
}

#[test]
fn sshd_and_its_sessions_die_with_the_host() {
    let host = Host::new().stock().build();
    let key = host.key("carol");
    host.authorize("carol", &key);
    let (init, sshd) = host.pids();
    // A session that would outlive the test: it prints its host PID, then sleeps.
    let pid_file = host.dir().join("session.pid");
    let out = host.run(&format!(
        "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i {} -p {PORT} \
         carol@127.0.0.1 'read -r pid rest </proc/self/stat; echo $pid; exec sleep 600' \
         >{} 2>/dev/null &",
        key.private.display(),
        pid_file.display()
    ));
    assert_eq!(out.status, 0, "{out:#?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let session: u32 = loop {
        let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if let Ok(pid) = text.trim().parse() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no session started: {text:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(alive(init) && alive(sshd) && alive(session));
    drop(host);
    for (what, pid) in [("init", init), ("sshd", sshd), ("session", session)] {
        assert!(!alive(pid), "{what} (pid {pid}) outlived the host");
    }
}

#[test]
#[should_panic(expected = "sshd did not start listening (exited: true)")]
fn sshd_that_cannot_start_fails_the_test_with_its_log() {
    Host::new().stock().sshd_config("NoSuchOption yes").build();
}

// --- roster's own CA (`roster ca init`, `roster ca sign`) ---

/// What a `roster` command run on the host (outside the namespace) printed and how it
/// ended.
struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the built `roster` with `args`, outside the namespace.
fn roster(args: &[&str]) -> Ran {
    let out = std::process::Command::new(&crate::common::artifacts().roster)
        .args(args)
        .output()
        .expect("run roster");
    Ran {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `roster ca init DIR`; panics unless it succeeds and creates `ca` (0600) and `ca.pub`,
/// whose line it prints. The CA as a [`Key`].
fn roster_ca_init(dir: &Path) -> Key {
    use std::os::unix::fs::PermissionsExt;
    let ran = roster(&["ca", "init", path(dir)]);
    let ca = Key {
        private: dir.join("ca"),
        public: dir.join("ca.pub"),
    };
    assert_eq!(ran.status, Some(0), "roster ca init failed: {}", ran.stderr);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ca.private), 0o600, "mode of {}", ca.private.display());
    assert!(
        ran.stdout.lines().any(|l| l == ca.public_line()),
        "roster ca init did not print ca.pub ({}):\n{}",
        ca.public_line(),
        ran.stdout
    );
    ca
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `t` as `date -u` prints it with `FORMAT`.
fn utc(t: u64, format: &str) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), &format!("+{format}")])
        .output()
        .expect("run date");
    assert!(out.status.success(), "date failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// A certificate `roster ca sign` made, and when.
struct Signed {
    cert: PathBuf,
    /// `alice@2026-…Z`.
    key_id: String,
    serial: u64,
    /// When it was signed (Unix seconds), as its key ID says.
    signed_at: u64,
    /// `ssh-keygen -L -f CERT`, in UTC.
    listing: String,
}

/// `roster ca sign --ca DIR --user USER --pubkey KEY.pub --output … ARGS`; panics unless it
/// succeeds. The key ID must name `user` and a second between the command's start and end.
fn roster_ca_sign(ca_dir: &Path, user: &str, key: &Key, args: &[&str]) -> Signed {
    let folder = ca_dir
        .parent()
        .unwrap()
        .join(format!("roster-certs/{}", unix_now_nanos()));
    std::fs::create_dir_all(&folder).unwrap();
    let cert = folder.join("key-cert.pub");
    let before = unix_now();
    let mut argv = vec![
        "ca",
        "sign",
        "--ca",
        path(ca_dir),
        "--user",
        user,
        "--pubkey",
        path(&key.public),
        "--output",
        path(&cert),
    ];
    argv.extend_from_slice(args);
    let ran = roster(&argv);
    let after = unix_now();
    assert_eq!(
        ran.status,
        Some(0),
        "roster {argv:?} failed:\n{}{}",
        ran.stdout,
        ran.stderr
    );
    let out = std::process::Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .arg("-L")
        .arg("-f")
        .arg(&cert)
        .output()
        .expect("run ssh-keygen -L");
    assert!(out.status.success(), "ssh-keygen -L failed: {out:?}");
    let listing = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| -> String {
        listing
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in ssh-keygen -L:\n{listing}"))
            .to_owned()
    };
    let key_id = field("Key ID: ").trim_matches('"').to_owned();
    let serial: u64 = field("Serial: ").parse().expect("a numeric serial");
    let signed_at = (before..=after)
        // `NAME@TIME#HEX`: the person, the time, and the serial's high
        // 32 bits, which keep key IDs unique within a second.
        .find(|&t| key_id == format!("{user}@{}#{:x}", utc(t, "%Y-%m-%dT%H:%M:%SZ"), serial >> 32))
        .unwrap_or_else(|| {
            panic!(
                "key ID {key_id:?} is not {user}@<a time between {} and {}>:\n{listing}",
                utc(before, "%FT%TZ"),
                utc(after, "%FT%TZ")
            )
        });
    assert_eq!(
        ran.stdout,
        format!(
            "wrote {}: {key_id} (serial {serial}), valid until {}\n",
            cert.display(),
            // The lifetime is the ttl (default 10 minutes), starting a minute
            // before signing; callers giving --ttl check the listing.
            utc(signed_at - 60 + ttl_of(args), "%FT%TZ")
        ),
        "what roster ca sign printed"
    );
    Signed {
        cert,
        key_id,
        serial,
        signed_at,
        listing,
    }
}

fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The `--ttl` among `args` in seconds (only the forms these tests use), else the
/// default 10 minutes.
fn ttl_of(args: &[&str]) -> u64 {
    let Some(i) = args.iter().position(|a| *a == "--ttl") else {
        return 600;
    };
    let ttl = args[i + 1];
    let (n, unit) = ttl.split_at(ttl.len() - 1);
    let n: u64 = n.parse().expect("a ttl like 17m");
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        other => panic!("unit {other:?}"),
    }
}

/// A host with roster wired in, trusting only a CA made by `roster ca init` (serial 1 of
/// the snapshot lists its `ca.pub` in `user_cas`).
struct RosterCaWorld {
    host: Host,
    ca_dir: PathBuf,
    ca: Key,
    alice: Key,
}

impl RosterCaWorld {
    fn with(host: HostBuilder) -> RosterCaWorld {
        let host = host.build();
        let ca_dir = host.dir().join("roster-ca");
        let ca = roster_ca_init(&ca_dir);
        let alice = host.key("alice");
        host.install(&snapshot(1, &[&ca], &users(), NOTHING_REVOKED));
        RosterCaWorld {
            host,
            ca_dir,
            ca,
            alice,
        }
    }

    fn sign(&self, args: &[&str]) -> Signed {
        roster_ca_sign(&self.ca_dir, "alice", &self.alice, args)
    }

    fn login(&self, signed: &Signed) -> Login {
        self.host
            .ssh("alice", &self.alice, Some(&signed.cert), "id; pwd")
    }

    fn in_log(&self, signed: &Signed) -> String {
        cert_in_log(&self.alice, &signed.key_id, signed.serial, &self.ca)
    }
}

#[test]
fn certificate_from_roster_ca_sign_logs_in() {
    let w = RosterCaWorld::with(Host::new());
    let signed = w.sign(&[]);
    let login = w.login(&signed);
    assert_session(&login, ALICE_SESSION);
    assert_accepted(&login, "alice", &w.in_log(&signed));
    let start = login.event("session_start");
    assert_eq!(
        (&start["key_id"], &start["serial"], &start["ca"]),
        (
            &signed.key_id.as_str().into(),
            &signed.serial.into(),
            &w.ca.fingerprint().as_str().into()
        ),
        "{login}"
    );
}

#[test]
fn roster_ca_sign_writes_exactly_the_requested_certificate() {
    let w = RosterCaWorld::with(Host::new());
    let signed = w.sign(&[
        "--host",
        "web-01",
        "--host",
        "dc1",
        "--ttl",
        "17m",
        "--source-address",
        "127.0.0.1/32",
        "--force-command",
        "echo forced; id",
    ]);
    let hosts = "web-01,dc1";
    // ssh-keygen prints an extension it does not know as the hex of its data: the value as
    // an SSH string (length, bytes), as `ssh-keygen -O extension:hosts@roster=…` encodes it.
    let hex: String = format!("{:08x}", hosts.len())
        .chars()
        .chain(
            hosts
                .bytes()
                .flat_map(|b| format!("{b:02x}").chars().collect::<Vec<_>>()),
        )
        .collect();
    let t = signed.signed_at;
    let expected = format!(
        "{cert}:\n\
         \x20       Type: ssh-ed25519-cert-v01@openssh.com user certificate\n\
         \x20       Public key: ED25519-CERT {key}\n\
         \x20       Signing CA: ED25519 {ca} (using ssh-ed25519)\n\
         \x20       Key ID: \"{key_id}\"\n\
         \x20       Serial: {serial}\n\
         \x20       Valid: from {from} to {to}\n\
         \x20       Principals: \n\
         \x20               alice\n\
         \x20       Critical Options: \n\
         \x20               force-command echo forced; id\n\
         \x20               source-address 127.0.0.1/32\n\
         \x20       Extensions: \n\
         \x20               hosts@roster UNKNOWN OPTION: {hex} (len {len})\n\
         \x20               permit-X11-forwarding\n\
         \x20               permit-agent-forwarding\n\
         \x20               permit-port-forwarding\n\
         \x20               permit-pty\n\
         \x20               permit-user-rc\n",
        cert = signed.cert.display(),
        key = w.alice.fingerprint(),
        ca = w.ca.fingerprint(),
        key_id = signed.key_id,
        serial = signed.serial,
        // A minute backdated, then the ttl.
        from = utc(t - 60, "%FT%T"),
        to = utc(t - 60 + 17 * 60, "%FT%T"),
        len = 4 + hosts.len(),
    );
    assert_eq!(signed.listing, expected, "ssh-keygen -L");
    // sshd honours the options: from 127.0.0.1 the forced command runs instead of ours.
    let login = w.login(&signed);
    assert_session(
        &login,
        "forced\nuid=10001(alice) gid=10001(alice) groups=10001(alice),100(users),10010(devs)\n",
    );
    assert_accepted(&login, "alice", &w.in_log(&signed));
}

fn roster_ca_host_binding(require_host_binding: bool) {
    let w =
        RosterCaWorld::with(Host::new().config(|c| c.require_host_binding = require_host_binding));
    let db = w.sign(&["--host", "db-07"]);
    let login = w.login(&db);
    assert_gate_refused(
        &login,
        "alice",
        &w.in_log(&db),
        &db.key_id,
        db.serial,
        "certificate refused: bound to other hosts (db-07)",
    );
    let web = w.sign(&["--host", "web-01"]);
    let login = w.login(&web);
    assert_session(&login, ALICE_SESSION);
    assert_accepted(&login, "alice", &w.in_log(&web));
}

#[test]
fn roster_ca_certificate_for_another_host_is_refused_and_for_this_host_accepted() {
    roster_ca_host_binding(false);
}

#[test]
fn roster_ca_certificate_for_another_host_is_refused_and_for_this_host_accepted_when_binding_is_required()
 {
    roster_ca_host_binding(true);
}

/// A sandbox folder (root-owned, removed on drop) with a CA made by `roster ca init`.
fn sandbox_ca() -> (crate::common::Sandbox, PathBuf, Key) {
    let sandbox = crate::common::Sandbox::new();
    let dir = sandbox.dir().join("roster-ca");
    let ca = roster_ca_init(&dir);
    (sandbox, dir, ca)
}

#[track_caller]
fn assert_one_line_refusal(ran: &Ran, what: &str) {
    assert!(
        ran.status == Some(1)
            && ran.stdout.is_empty()
            && ran.stderr.starts_with("roster: ")
            && ran.stderr.ends_with('\n')
            && ran.stderr.lines().count() == 1,
        "{what} should fail with exit 1 and one line on stderr; status {:?}\n--- stdout\n{}--- stderr\n{}",
        ran.status,
        ran.stdout,
        ran.stderr
    );
}

#[test]
fn roster_ca_sign_refuses_a_ttl_beyond_the_hosts_lifetime_cap() {
    let (sandbox, dir, _ca) = sandbox_ca();
    let user_key = sandbox.dir().join("alice");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", path(&user_key)])
        .status()
        .unwrap();
    assert!(keygen.success());
    let cert = sandbox.dir().join("alice-cert.pub");
    let ran = roster(&[
        "ca",
        "sign",
        "--ca",
        path(&dir),
        "--user",
        "alice",
        "--pubkey",
        path(&user_key.with_extension("pub")),
        "--ttl",
        "17h",
        "--output",
        path(&cert),
    ]);
    assert_one_line_refusal(&ran, "roster ca sign --ttl 17h");
    assert!(
        ran.stderr.contains("ttl"),
        "the message should name the ttl: {}",
        ran.stderr
    );
    assert!(!cert.exists(), "a refused signing wrote {}", cert.display());
}

#[test]
fn roster_ca_init_refuses_an_existing_ca_and_leaves_it_unchanged() {
    let (_sandbox, dir, ca) = sandbox_ca();
    let private = std::fs::read(&ca.private).unwrap();
    let public = std::fs::read(&ca.public).unwrap();
    let ran = roster(&["ca", "init", path(&dir)]);
    assert_one_line_refusal(&ran, "roster ca init on an existing CA");
    assert_eq!(
        (
            std::fs::read(&ca.private).unwrap(),
            std::fs::read(&ca.public).unwrap()
        ),
        (private, public),
        "roster ca init changed the existing CA"
    );
}
