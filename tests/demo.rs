//! `make demo`: the whole story on one machine, shown step by step and
//! checked line by line. A private namespace holds Debian's real sshd with
//! roster's drop-in and PAM lines, the NSS module, real sudo and a snapshot
//! synced by `roster sync` (see tests/common/sshd.rs); nothing on the machine
//! itself changes, and nothing outlives the run. The operator's side uses
//! roster's own tools: `roster ca`, `roster snapshot build`, `roster events`.

mod common;

use common::sshd::{Key, Login, RosterConfig, Setup, SshHost};
use common::{Output, artifacts, sh_quote, workspace_dir};
use std::io::IsTerminal;
use std::process::Command;
use std::time::{Duration, Instant};

fn heading(title: &str) {
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1m== {title}\x1b[0m");
    } else {
        println!("\n== {title}");
    }
}

/// Runs the roster CLI (outside the namespace, on the demo's files).
fn roster(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(&artifacts().roster)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("roster runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "roster {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("$ roster {}\n{}", args.join(" "), text.trim_end());
    text
}

fn show(command: &str, out: &Output) {
    println!("$ {command}\n{}{}", out.stdout, out.stderr);
}

fn show_login(who: &str, login: &Login) {
    println!(
        "$ ssh {who}@127.0.0.1 …   (exit status {})\n{}{}",
        login.status, login.stdout, login.stderr
    );
}

/// A people file: alice (admin), bob (user), carol (disabled) and the shared
/// account deploy that alice may enter — or, after she leaves, without her.
fn people_file(with_alice: bool) -> String {
    let alice = r#"
[[person]]
name = "alice"
full_name = "Alice Liddell"
role = "admin"
groups = ["developers"]
"#;
    format!(
        r#"[snapshot]
signing_key = "signing"
user_cas = ["ca/ca.pub"]
valid_for = "1d"
{}
[[person]]
name = "bob"
full_name = "Bob Builder"
groups = ["developers"]

[[person]]
name = "carol"
full_name = "Carol (left the team)"
state = "disabled"

[[shared]]
name = "deploy"
full_name = "Deployments"
persons = [{}]
"#,
        if with_alice { alice } else { "" },
        if with_alice { "\"alice\"" } else { "" }
    )
}

#[test]
fn demo() {
    let started = Instant::now();
    let host = SshHost::start(Setup::packaged());
    let dropin = workspace_dir().join("debian/sudoers.d/roster");
    let out = host.run(&format!(
        "install -m 0440 -o root -g root {} /etc/sudoers.d/roster && visudo -cf /etc/sudoers.d/roster",
        sh_quote(dropin.to_str().unwrap())
    ));
    assert_eq!(out.status, 0, "the sudoers drop-in: {out:#?}");
    // The demo host's local files (shared with the login tests) have a local
    // carol, and a local account always wins: remove her, so that the
    // snapshot's carol is the one the story is about.
    let out = host.run(
        "sed -i '/^carol:/d' /etc/passwd /etc/shadow /etc/group && sed -i 's/carol,//; s/,carol//' /etc/group",
    );
    assert_eq!(out.status, 0, "{out:#?}");
    let dir = host.dir().join("operator");
    std::fs::create_dir_all(&dir).unwrap();
    let path = |p: &str| dir.join(p).to_str().unwrap().to_owned();

    heading("1. The operator: a user CA, a signing key, a people file");
    roster(&["ca", "init", &path("ca")], &[]);
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "snapshot-signing",
            "-f",
            &path("signing"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(dir.join("people.toml"), people_file(true)).unwrap();
    let built = roster(
        &[
            "snapshot",
            "build",
            &path("people.toml"),
            "--output",
            &path("public"),
        ],
        &[],
    );
    assert!(built.starts_with("built serial 1 "), "{built}");

    heading("2. The host pins the signing key and syncs the signed snapshot");
    let signing_key = std::fs::read_to_string(dir.join("signing.pub")).unwrap();
    host.set_config(&RosterConfig {
        signing_key: Some(signing_key.trim().to_owned()),
        ..RosterConfig::default()
    });
    println!("(/etc/roster/roster.toml: signing_keys = [signing.pub])");
    let publish = |host: &SshHost| {
        // The source serves public/ exactly as `roster snapshot build` wrote it.
        host.publish_signed(&dir.join("public/snapshot.json"));
        let out = host.sync();
        show("roster sync", &out);
        assert_eq!(out.status, 0, "{out:#?}");
        out
    };
    publish(&host);
    let getent = host.run("getent passwd alice; getent group developers roster-admins");
    show(
        "getent passwd alice; getent group developers roster-admins",
        &getent,
    );
    assert_eq!(
        getent.stdout,
        "alice:*:10000:10000:Alice Liddell:/home/alice:/bin/bash\n\
         developers:*:10004:alice,bob\n\
         roster-admins:*:9999:alice\n"
    );

    let ca = Key {
        private: dir.join("ca/ca"),
        public: dir.join("ca/ca.pub"),
    };
    let certify = |name: &str, ttl: &str| -> (Key, std::path::PathBuf) {
        let key = host.key(name);
        let cert = dir.join(format!("{name}-{ttl}-cert.pub"));
        roster(
            &[
                "ca",
                "sign",
                "--ca",
                &path("ca"),
                "--user",
                name,
                "--pubkey",
                key.public.to_str().unwrap(),
                "--ttl",
                ttl,
                "--output",
                cert.to_str().unwrap(),
            ],
            &[],
        );
        (key, cert)
    };

    heading("3. alice logs in with a 5-minute certificate, and has sudo (role admin)");
    let (alice, alice_cert) = certify("alice", "5m");
    let login = host.ssh(
        "alice",
        &alice,
        Some(&alice_cert),
        "id; sudo -n true && echo sudo ok",
    );
    show_login("alice", &login);
    assert_eq!(
        (login.status, login.stdout.as_str()),
        // 100(users): the demo host's local /etc/group lists alice there.
        (
            0,
            "uid=10000(alice) gid=10000(alice) groups=10000(alice),100(users),9999(roster-admins),10004(developers)\nsudo ok\n"
        )
    );

    heading("4. bob logs in, without sudo (role user)");
    let (bob, bob_cert) = certify("bob", "5m");
    let login = host.ssh(
        "bob",
        &bob,
        Some(&bob_cert),
        "id; sudo -n true 2>/dev/null && echo sudo ok || echo no sudo",
    );
    show_login("bob", &login);
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (
            0,
            "uid=10001(bob) gid=10001(bob) groups=10001(bob),10004(developers)\nno sudo\n"
        )
    );

    heading("5. carol is disabled: refused, whatever her certificate");
    let (carol, carol_cert) = certify("carol", "5m");
    let login = host.ssh("carol", &carol, Some(&carol_cert), "id");
    show_login("carol", &login);
    assert_eq!(login.status, 255);
    let reason = "principals_denied account=carol";
    assert!(
        login.syslog.contains("reason=\"account is disabled\""),
        "{login}"
    );
    login.assert_syslogged(reason);
    println!(
        "syslog: {}",
        login
            .syslog
            .lines()
            .find(|l| l.contains(reason))
            .unwrap_or_default()
    );

    heading("6. An expired certificate is refused");
    let expired = host.certify(
        &ca,
        &alice,
        &common::sshd::Cert::new("alice@yesterday", "alice").validity("-2d:-1d"),
    );
    let login = host.ssh("alice", &alice, Some(&expired), "id");
    show_login("alice (expired certificate)", &login);
    assert_eq!(login.status, 255);

    heading("7. alice enters the shared account deploy with her own certificate");
    let login = host.ssh(
        "deploy",
        &alice,
        Some(&alice_cert),
        "id -un; echo \"ROSTER_USER=$ROSTER_USER\"",
    );
    show_login("deploy", &login);
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (0, "deploy\nROSTER_USER=alice\n")
    );

    heading("8. alice leaves: her open sessions end, her next login is refused");
    let sessions = ["alice", "deploy"].map(|account| {
        let session = host.background(
            &format!("{account}-session"),
            account,
            &alice,
            &alice_cert,
            "echo started; exec sleep 120",
        );
        session.wait_for_line(&host, "started");
        session
    });
    println!("(alice has two sessions open, as alice and as deploy: sleep 120)");
    std::fs::write(dir.join("people.toml"), people_file(false)).unwrap();
    let built = roster(
        &[
            "snapshot",
            "build",
            &path("people.toml"),
            "--output",
            &path("public"),
        ],
        &[],
    );
    assert!(built.starts_with("built serial 2 "), "{built}");
    let sync_started = Instant::now();
    let sync = publish(&host);
    assert!(
        sync.stderr.contains("offboarded account=alice"),
        "{sync:#?}"
    );
    for (account, session) in ["alice", "deploy"].iter().zip(&sessions) {
        let (rc, _) = session.wait(&host, Duration::from_secs(30));
        let took = sync_started.elapsed();
        println!(
            "alice's session as {account} ended {took:?} after the sync started (ssh exit status {rc})"
        );
        assert_ne!(rc, 0);
        // SIGHUP ends it; SIGKILL would come only after the 5 s grace.
        assert!(took < Duration::from_secs(4), "{took:?}");
    }
    assert!(!sync.stderr.contains("after SIGKILL"), "{sync:#?}");
    // With the unit's capabilities every process was inspected and signalled.
    assert!(
        !sync.stderr.contains("unreadable") && !sync.stderr.contains("could not be signalled"),
        "{sync:#?}"
    );
    let login = host.ssh("alice", &alice, Some(&alice_cert), "id");
    show_login("alice (removed)", &login);
    assert_eq!(login.status, 255);

    heading("9. The audit trail");
    let events = host.run("roster events");
    show("roster events", &events);
    let rows: Vec<&str> = events.stdout.lines().collect();
    for expected in [
        ["session_start", "alice", "alice"],
        ["session_start", "deploy", "alice"],
        ["session_start", "bob", "bob"],
        ["offboarded", "alice", ""],
    ] {
        let found = rows.iter().any(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            f.get(1..3) == Some(&expected[..2])
                && (expected[2].is_empty() || f.get(3) == Some(&expected[2]))
        });
        assert!(found, "no {expected:?} row in:\n{}", events.stdout);
    }
    println!("\nThe whole story took {:?}.", started.elapsed());
}
