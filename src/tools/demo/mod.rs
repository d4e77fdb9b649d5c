//! `roster demo` (part of the `roster` binary, not the library): the whole
//! story on one machine, shown step by step and checked as it goes.
//!
//! The command re-runs itself as the init of private mount, pid and network
//! namespaces (`unshare`). There, overlays over /etc, /var and /home (their
//! writes land in a work folder), tmpfs on /run and /tmp and, from a source
//! tree, read-only overlays that add the modules and this binary to the system
//! folders, make a throwaway copy of the host: roster wired in exactly as the
//! packages do it (the shipped sshd drop-in, pam-auth-update profile, sudoers
//! file and nsswitch helper are compiled into this binary), Debian's sshd on
//! 127.0.0.1:22 of a private loopback, and the snapshot served over HTTP by a
//! small static server on 127.0.0.1:8080. When the init exits, the kernel ends
//! every process in the namespaces; the work folder is deleted on success and
//! kept, with its path printed, when a step fails.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod idp;

const SSHD_DROP_IN: &str = include_str!("../../../debian/sshd_config.d/roster.conf");
const PAM_PROFILE: &str = include_str!("../../../debian/pam-configs/roster");
const SUDOERS: &str = include_str!("../../../debian/sudoers.d/roster");
const NSSWITCH_HELPER: &str = include_str!("../../../debian/scripts/nsswitch-roster");

/// Debian packages the demo runs (sshd, ssh and ssh-keygen, sudo, unshare, ip).
const NEEDED: [&str; 5] = [
    "openssh-server",
    "openssh-client",
    "sudo",
    "util-linux",
    "iproute2",
];
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HTTP: &str = "127.0.0.1:8080";
/// People whose local accounts (if the machine has any) are hidden in the demo.
const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "deploy"];

/// A step that did not go as the story says: what was expected and what happened.
#[derive(Debug)]
pub struct StepFailed(pub String);

/// The outer half: checks, installs what is missing, runs the story in fresh
/// namespaces, cleans up. Returns the exit status.
pub fn run() -> Result<u8, StepFailed> {
    if rustix::process::geteuid().as_raw() != 0 {
        return Err(StepFailed(
            "roster demo needs root (it mounts inside private namespaces)".into(),
        ));
    }
    install_missing_packages()?;
    let exe = std::env::current_exe().map_err(|e| StepFailed(format!("own path: {e}")))?;
    let work = std::env::temp_dir().join(format!("roster-demo-{}", std::process::id()));
    std::fs::create_dir(&work)
        .and_then(|()| std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| StepFailed(format!("{}: {e}", work.display())))?;
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--net", "--pid"])
        .args(["--fork", "--kill-child", "--"])
        .arg(&exe)
        .arg("demo")
        .arg("--work-dir")
        .arg(&work)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .status()
        .map_err(|e| StepFailed(format!("unshare: {e}")))?;
    if status.success() {
        let _ = std::fs::remove_dir_all(&work);
        return Ok(0);
    }
    println!(
        "\nThe demo stopped. Everything it made is in {w}:\n  \
         operator/   the CA, signing key, people file and published snapshot\n  \
         people/     the users' keys and certificates\n  \
         sshd/       sshd's configuration and log (sshd.log)\n  \
         state/      roster's state.json and events.jsonl\n  \
         ns/etc ns/var ns/home   what changed in /etc, /var and /home\nRemove it with: rm -rf {w}",
        w = work.display()
    );
    Ok(1)
}

fn install_missing_packages() -> Result<(), StepFailed> {
    let missing: Vec<&str> = NEEDED
        .into_iter()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!(
        "roster demo needs these Debian packages, which are not installed: {}\n\
         Installing them with apt-get (the demo itself changes nothing on this machine).",
        missing.join(" ")
    );
    let ok = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(StepFailed(format!(
            "could not install {}; install them and run roster demo again",
            missing.join(" ")
        )))
    }
}

/// The inner half, as the init of the demo's namespaces.
pub fn inside(work: &Path) -> Result<u8, StepFailed> {
    if std::process::id() != 1 {
        return Err(StepFailed(
            "--work-dir is roster demo's own: it runs only as the init of the demo's namespaces"
                .into(),
        ));
    }
    let demo = Demo::set_up(work)?;
    let result = demo.story();
    if let Err(StepFailed(why)) = &result {
        println!("\nFAILED: {why}");
        // roster's state and events live on the namespace's tmpfs: keep a copy.
        let kept = work.join("state");
        let _ = std::fs::create_dir_all(&kept);
        for file in ["/var/lib/roster/state.json", "/var/log/roster/events.jsonl"] {
            let name = Path::new(file).file_name().unwrap_or_default();
            let _ = std::fs::copy(file, kept.join(name));
        }
    }
    result.map(|()| 0)
}

struct Demo {
    work: PathBuf,
    exe: PathBuf,
    started: Instant,
}

/// What a command printed, and how it ended.
struct Ran {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Demo {
    fn set_up(work: &Path) -> Result<Demo, StepFailed> {
        let demo = Demo {
            work: work.to_owned(),
            exe: std::env::current_exe().map_err(|e| StepFailed(format!("own path: {e}")))?,
            started: Instant::now(),
        };
        demo.mount()?;
        demo.wire()?;
        Ok(demo)
    }

    fn path(&self, p: &str) -> String {
        self.work.join(p).display().to_string()
    }

    /// Runs `script` with /bin/sh; its output is returned, not shown.
    fn sh(&self, script: &str) -> Ran {
        let out = Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => Ran {
                status: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Ran {
                status: -1,
                stdout: String::new(),
                stderr: e.to_string(),
            },
        }
    }

    /// [`Demo::sh`] that must succeed.
    fn must(&self, what: &str, script: &str) -> Result<Ran, StepFailed> {
        let ran = self.sh(script);
        if ran.status == 0 {
            Ok(ran)
        } else {
            Err(StepFailed(format!(
                "{what} (exit status {}):\n{}{}",
                ran.status, ran.stdout, ran.stderr
            )))
        }
    }

    /// The throwaway copy of the host.
    fn mount(&self) -> Result<(), StepFailed> {
        let w = sh_quote(&self.work.display().to_string());
        let mut s = format!("set -eu\nip link set lo up\nw={w}\n");
        for dir in ["etc", "var", "home"] {
            writeln!(
                s,
                "mkdir -p $w/ns/{dir} $w/ns/{dir}.work\n\
                 mount -t overlay roster-demo-{dir} -o lowerdir=/{dir},upperdir=$w/ns/{dir},workdir=$w/ns/{dir}.work /{dir}"
            )
            .unwrap();
        }
        s.push_str(
            "# This namespace's own processes, for offboarding to find and signal.\n\
             mount -t proc roster-demo-proc /proc\n\
             mount -t tmpfs -o mode=0755,size=16m roster-demo-run /run\n\
             install -d -m 0755 /run/sshd\n\
             # A private /tmp too: sshd writes /tmp/sshauth.* for every session and\n\
             # removes it only when the session closes normally, not when offboarding\n\
             # ends it. The work folder, which may be in /tmp, is bound back in place.\n\
             mkdir /run/roster-demo-work\n\
             mount --bind \"$w\" /run/roster-demo-work\n\
             mount -t tmpfs -o mode=1777,size=64m roster-demo-tmp /tmp\n\
             mkdir -p \"$w\"\n\
             mount --move /run/roster-demo-work \"$w\"\n\
             rmdir /run/roster-demo-work\n\
             # syslog: a /dev/log that is a socket of the host's logger gets nothing from here.\n\
             if [ -S /dev/log ] && [ ! -L /dev/log ]; then mount --bind /dev/null /dev/log; fi\n",
        );
        // From a source tree (cargo build), the modules sit beside this binary:
        // add them, and the binary, to the system folders, read-only.
        let beside = self.exe.parent().unwrap_or(Path::new("."));
        if beside.join("libnss_roster.so").is_file() {
            let lib = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
            writeln!(
                s,
                "mkdir -p $w/add/lib/security $w/add/sbin $w/add/pam-configs\n\
                 cp {nss} $w/add/lib/libnss_roster.so.2\n\
                 cp {pam} $w/add/lib/security/pam_roster.so\n\
                 cp {exe} $w/add/sbin/roster\n\
                 chmod -R go-w $w/add\n\
                 mount -t overlay roster-demo-lib -o ro,lowerdir=$w/add/lib:{lib} {lib}\n\
                 mount -t overlay roster-demo-sbin -o ro,lowerdir=$w/add/sbin:/usr/sbin /usr/sbin\n\
                 cat > $w/add/pam-configs/roster <<'EOF'\n{PAM_PROFILE}EOF\n\
                 mount -t overlay roster-demo-pam -o ro,lowerdir=$w/add/pam-configs:/usr/share/pam-configs /usr/share/pam-configs",
                nss = sh_quote(&beside.join("libnss_roster.so").display().to_string()),
                pam = sh_quote(&beside.join("libpam_roster.so").display().to_string()),
                exe = sh_quote(&self.exe.display().to_string()),
            )
            .unwrap();
        } else if !Path::new("/usr/share/pam-configs/roster").is_file() {
            return Err(StepFailed(
                "roster's modules are neither beside this binary (a cargo build) nor \
                 installed (the libnss-roster and libpam-roster packages)"
                    .into(),
            ));
        }
        self.must("setting up the demo's namespaces", &s)?;
        Ok(())
    }

    /// roster wired in as the packages do it, in the throwaway /etc and /var.
    fn wire(&self) -> Result<(), StepFailed> {
        let mut s = String::from("set -eu\n");
        // Local accounts always win: hide any the machine has with the demo's names.
        for name in PEOPLE {
            writeln!(
                s,
                "for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow; do\n\
                 \t[ -e \"$f\" ] && sed -i '/^{name}:/d' \"$f\"\n\
                 done\n\
                 for f in /etc/group /etc/gshadow; do\n\
                 \t[ -e \"$f\" ] && sed -i -E 's/([:,]){name}(,|$)/\\1/; s/,$//' \"$f\"\n\
                 done"
            )
            .unwrap();
        }
        write!(
            s,
            "getent passwd roster >/dev/null || useradd --system --no-create-home \
               --home-dir /nonexistent --shell /usr/sbin/nologin roster\n\
             sh -c {nsswitch} nsswitch-roster add >/dev/null\n\
             DEBIAN_FRONTEND=noninteractive pam-auth-update --package\n\
             # On a host that runs roster already, the demo starts from no state of its\n\
             # own (the host's installed snapshot is immutable: hidden, not removed).\n\
             rm -f /etc/sudoers.d/roster-entitlements\n\
             install -d -m 0755 /etc/ssh/sshd_config.d /etc/roster /var/lib/roster /var/log/roster\n\
             mount -t tmpfs -o mode=0755,size=64m roster-demo-state /var/lib/roster\n\
             mount -t tmpfs -o mode=0750,size=16m roster-demo-log /var/log/roster\n\
             cat > /etc/ssh/sshd_config.d/roster.conf <<'EOF'\n{SSHD_DROP_IN}EOF\n\
             cat > /etc/sudoers.d/roster <<'EOF'\n{SUDOERS}EOF\n\
             chmod 0440 /etc/sudoers.d/roster\n\
             visudo -cq\n",
            nsswitch = sh_quote(NSSWITCH_HELPER),
        )
        .unwrap();
        self.must("wiring roster into the demo's /etc", &s)?;
        Ok(())
    }

    /// Runs this binary with `args`, shows the command and what it printed.
    fn roster(&self, args: &[&str]) -> Result<Ran, StepFailed> {
        let out = Command::new(&self.exe)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| StepFailed(format!("roster {args:?}: {e}")))?;
        let ran = Ran {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        println!("$ roster {}", args.join(" "));
        print!("{}{}", ran.stdout, ran.stderr);
        Ok(ran)
    }

    fn roster_ok(&self, args: &[&str]) -> Result<Ran, StepFailed> {
        let ran = self.roster(args)?;
        if ran.status != 0 {
            return Err(StepFailed(format!(
                "roster {} exited {}",
                args.join(" "),
                ran.status
            )));
        }
        Ok(ran)
    }

    fn story(&self) -> Result<(), StepFailed> {
        heading("1. The operator: a user CA, a snapshot signing key, a people file");
        std::fs::create_dir_all(self.work.join("operator")).map_err(io)?;
        std::fs::create_dir_all(self.work.join("people")).map_err(io)?;
        self.roster_ok(&["ca", "init", &self.path("operator/ca")])?;
        self.must(
            "ssh-keygen",
            &format!(
                "ssh-keygen -q -t ed25519 -N '' -C snapshot-signing -f {}",
                self.path("operator/signing")
            ),
        )?;
        self.publish(true, "built serial 1 ")?;
        println!("(serving operator/public/ on http://{HTTP}/)");
        serve(self.work.join("operator/public"))?;

        heading("2. The host pins the signing key and syncs the snapshot");
        let key = std::fs::read_to_string(self.work.join("operator/signing.pub")).map_err(io)?;
        let config = format!(
            "[source]\nurl = \"http://{HTTP}/snapshot.json\"\nsigning_keys = [\"{}\"]\n\
             [sync]\noffboard_grace = \"5s\"\n",
            key.trim()
        );
        std::fs::write("/etc/roster/roster.toml", &config).map_err(io)?;
        print!("/etc/roster/roster.toml:\n{config}");
        self.roster_ok(&["sync"])?;
        let getent = self.sh("getent passwd alice; getent group roster-admins");
        println!(
            "$ getent passwd alice; getent group roster-admins\n{}",
            getent.stdout.trim_end()
        );
        expect(
            "alice resolves through glibc",
            &getent.stdout,
            "alice:*:10000:10000:Alice Liddell:/home/alice:/bin/bash\nroster-admins:*:9999:alice\n",
        )?;
        self.start_sshd()?;

        heading("3. alice logs in with a 5-minute certificate, and has sudo (role admin)");
        let alice = self.certify("alice", "5m")?;
        let login = self.ssh("alice", &alice, "id; sudo -n true && echo sudo ok")?;
        expect_login(&login, 0, "uid=10000(alice) gid=10000(alice)")?;
        expect_login(&login, 0, "sudo ok")?;

        heading("4. bob logs in, without sudo (role user)");
        let bob = self.certify("bob", "5m")?;
        let login = self.ssh(
            "bob",
            &bob,
            "id; sudo -n true 2>/dev/null && echo sudo ok || echo no sudo",
        )?;
        expect_login(&login, 0, "uid=10001(bob) gid=10001(bob)")?;
        expect_login(&login, 0, "no sudo")?;

        heading("5. carol is disabled: refused, whatever her certificate");
        let carol = self.certify("carol", "5m")?;
        let login = self.ssh("carol", &carol, "id")?;
        expect_login(&login, 255, "")?;
        self.sshd_said("principals_denied", "reason=\"account is disabled\"")?;
        let why = self.roster(&["explain", "carol"])?;
        expect("roster explain carol", &why.stdout, "disabled")?;

        heading("6. An expired certificate is refused");
        let expired = self.work.join("people/alice-expired-cert.pub");
        let listed = self.must(
            "ssh-keygen -s",
            &format!(
                "cp {key}.pub {key}-expired.pub && \
                 ssh-keygen -q -s {ca} -I alice@yesterday -n alice -V -2d:-1d {key}-expired.pub && \
                 ssh-keygen -L -f {cert} | grep Valid:",
                ca = self.path("operator/ca/ca"),
                key = self.path("people/alice"),
                cert = expired.display()
            ),
        )?;
        print!("(signed by ssh-keygen:){}", listed.stdout);
        let login = self.ssh_with("alice", "alice", &expired, "id")?;
        expect_login(&login, 255, "")?;
        self.sshd_said(
            "principals_denied",
            "reason=\"certificate refused: expired at",
        )?;

        heading("7. alice enters the shared account deploy with her own certificate");
        let login = self.ssh_with(
            "deploy",
            "alice",
            &alice,
            "id -un; echo \"ROSTER_USER=$ROSTER_USER\"",
        )?;
        expect_login(&login, 0, "deploy\nROSTER_USER=alice\n")?;

        heading("8. alice leaves: her open sessions end, her next login is refused");
        let mut sessions = Vec::new();
        for account in ["alice", "deploy"] {
            sessions.push((account, self.open_session(account, &alice)?));
        }
        println!("(alice has two sessions open, as alice and as deploy: sleep 120)");
        self.publish(false, "built serial 2 ")?;
        let synced = Instant::now();
        let sync = self.roster_ok(&["sync"])?;
        expect("the sync", &sync.stderr, "offboarded account=alice")?;
        for (account, mut session) in sessions {
            let status = wait(&mut session, Duration::from_secs(30))
                .ok_or_else(|| StepFailed(format!("alice's session as {account} is still open")))?;
            println!(
                "alice's session as {account} ended {:.0?} after the sync (ssh exit status {status})",
                synced.elapsed()
            );
        }
        let login = self.ssh("alice", &alice, "id")?;
        expect_login(&login, 255, "")?;
        // alice no longer resolves: sshd refuses before it asks roster's gate.
        self.sshd_said("Invalid user", "Invalid user alice from 127.0.0.1")?;

        heading("9. The identity provider takes over: Okta provisions alice and bob over SCIM");
        let idp = idp::Idp::start(
            &self.exe,
            &self.work.join("operator/scim"),
            &self.work.join("operator/signing"),
            &self.work.join("operator/ca/ca.pub"),
        )?;
        // roster-scim's id ledger starts where the people file's did, and alice and
        // bob come in the same order: they get their ids, and homes, back.
        let alice_id = idp.create_user("alice@example.com", "Alice", "Liddell")?;
        let bob_id = idp.create_user("bob@example.com", "Bob", "Builder")?;
        let sre = idp.create_group("SRE", &[(&alice_id, "alice@example.com")])?;
        idp.create_group("Engineering", &[(&bob_id, "bob@example.com")])?;
        let (serial, took) = idp.published("alice and bob", |s| {
            idp::user(s, "alice").is_some() && idp::user(s, "bob").is_some()
        })?;
        println!("roster-scim published serial {serial} {took:.0?} after the last request");
        let key = std::fs::read_to_string(self.work.join("operator/signing.pub")).map_err(io)?;
        let config = format!(
            "[source]\nurl = \"file://{}\"\nsigning_keys = [\"{}\"]\n\
             [sync]\noffboard_grace = \"5s\"\n",
            idp.snapshot.display(),
            key.trim()
        );
        std::fs::write("/etc/roster/roster.toml", &config).map_err(io)?;
        print!(
            "/etc/roster/roster.toml (the source is now roster-scim's, same signing key):\n{config}"
        );
        let sync = self.roster_ok(&["sync"])?;
        expect("the sync", &sync.stdout, "installed snapshot serial")?;
        let login = self.ssh("alice", &alice, "id; sudo -n true && echo sudo ok")?;
        expect_login(&login, 0, "uid=10000(alice) gid=10000(alice)")?;
        expect_login(&login, 0, "sudo ok")?;
        let login = self.ssh(
            "bob",
            &bob,
            "sudo -n true 2>/dev/null && echo sudo ok || echo no sudo",
        )?;
        expect_login(&login, 0, "no sudo")?;

        heading("10. Okta adds bob to SRE and deactivates alice: the host follows within seconds");
        let session = self.open_session("alice", &alice)?;
        println!("(alice has a session open: sleep 120)");
        let asked = Instant::now();
        idp.add_member(&sre, &bob_id, "bob@example.com")?;
        idp.deactivate(&alice_id)?;
        let (serial, took) = idp.published("bob as admin and alice disabled", |s| {
            idp::user(s, "bob").is_some_and(|u| u["role"] == "admin")
                && idp::user(s, "alice").is_some_and(|u| u["state"] == "disabled")
        })?;
        println!("roster-scim published serial {serial} {took:.0?} after the last request");
        let sync = self.roster_ok(&["sync"])?;
        expect("the sync", &sync.stderr, "offboarded account=alice")?;
        let mut session = session;
        let status = wait(&mut session, Duration::from_secs(30))
            .ok_or_else(|| StepFailed("alice's session is still open".into()))?;
        println!(
            "alice's session ended {:.1?} after Okta's requests (ssh exit status {status})",
            asked.elapsed()
        );
        let login = self.ssh("bob", &bob, "sudo -n true && echo sudo ok")?;
        expect_login(&login, 0, "sudo ok")?;
        let login = self.ssh("alice", &alice, "id")?;
        expect_login(&login, 255, "")?;
        self.sshd_said("principals_denied", "reason=\"account is disabled\"")?;
        drop(idp);

        heading("11. The audit trail");
        let events = self.roster_ok(&["events"])?;
        for row in [
            "session_start alice",
            "session_start deploy",
            "offboarded    alice",
        ] {
            let words: Vec<&str> = row.split_whitespace().collect();
            let found = events.stdout.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1..3) == Some(&words[..])
            });
            if !found {
                return Err(StepFailed(format!("no {row:?} event in roster events")));
            }
        }
        println!(
            "\nThe whole story took {:.1?}. Nothing on this machine changed.",
            self.started.elapsed()
        );
        Ok(())
    }

    /// Writes the people file (with or without alice) and builds the signed
    /// snapshot into operator/public.
    fn publish(&self, with_alice: bool, expect_built: &str) -> Result<(), StepFailed> {
        let people = self.work.join("operator/people.toml");
        std::fs::write(&people, people_file(with_alice)).map_err(io)?;
        println!(
            "operator/people.toml: alice (admin){}, bob, carol (disabled), shared deploy{}",
            if with_alice { "" } else { " — removed" },
            if with_alice { " (alice may enter)" } else { "" }
        );
        let built = self.roster_ok(&[
            "snapshot",
            "build",
            &people.display().to_string(),
            "--output",
            &self.path("operator/public"),
        ])?;
        expect("roster snapshot build", &built.stdout, expect_built)
    }

    fn start_sshd(&self) -> Result<(), StepFailed> {
        let dir = self.work.join("sshd");
        std::fs::create_dir_all(&dir).map_err(io)?;
        let stock = ["/usr/share/openssh/sshd_config", "/etc/ssh/sshd_config"]
            .into_iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .ok_or_else(|| StepFailed("no sshd_config to start from".into()))?;
        let config = format!(
            "ListenAddress 127.0.0.1:22\nHostKey {key}\nPidFile {pid}\n{stock}",
            key = self.path("sshd/host_ed25519"),
            pid = self.path("sshd/sshd.pid"),
        );
        std::fs::write(dir.join("sshd_config"), config).map_err(io)?;
        self.must(
            "sshd -t",
            &format!(
                "ssh-keygen -q -t ed25519 -N '' -f {key} && /usr/sbin/sshd -t -f {config}",
                key = self.path("sshd/host_ed25519"),
                config = self.path("sshd/sshd_config"),
            ),
        )?;
        // sshd's log, and what the principals command says on stderr when it
        // cannot reach syslog (the demo has none), go to sshd/sshd.log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("sshd.log"))
            .map_err(io)?;
        Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", &self.path("sshd/sshd_config")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io)?)
            .stderr(log)
            .spawn()
            .map_err(|e| StepFailed(format!("sshd: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect("127.0.0.1:22").is_err() {
            if Instant::now() > deadline {
                return Err(StepFailed(
                    "sshd did not listen on 127.0.0.1:22 within 10 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("(sshd listens on 127.0.0.1:22 with roster's drop-in and PAM lines)");
        Ok(())
    }

    /// Shows the last line of sshd's log that holds `marker` (roster's gate
    /// logs its refusals there, with their reason), and checks it says `wanted`.
    fn sshd_said(&self, marker: &str, wanted: &str) -> Result<(), StepFailed> {
        let log = std::fs::read_to_string(self.work.join("sshd/sshd.log")).map_err(io)?;
        let line = log
            .lines()
            .rfind(|l| l.contains(marker))
            .unwrap_or_default();
        println!("sshd's log: {line}");
        expect("sshd's log", line, wanted)
    }

    /// A key for `name` and a certificate from `roster ca sign`; returns the key's path.
    fn certify(&self, name: &str, ttl: &str) -> Result<PathBuf, StepFailed> {
        let key = self.work.join("people").join(name);
        if !key.exists() {
            self.must(
                "ssh-keygen",
                &format!(
                    "ssh-keygen -q -t ed25519 -N '' -C {name} -f {}",
                    key.display()
                ),
            )?;
        }
        self.roster_ok(&[
            "ca",
            "sign",
            "--ca",
            &self.path("operator/ca"),
            "--user",
            name,
            "--pubkey",
            &format!("{}.pub", key.display()),
            "--ttl",
            ttl,
        ])?;
        Ok(key.with_file_name(format!("{name}-cert.pub")))
    }

    fn ssh_command(&self, account: &str, person: &str, cert: &Path, command: &str) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.args(["-F", "none", "-i", &self.path(&format!("people/{person}"))])
            .arg("-o")
            .arg(format!("CertificateFile={}", cert.display()))
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"])
            .arg(format!("{account}@127.0.0.1"))
            .arg(command)
            .stdin(Stdio::null());
        ssh
    }

    /// Logs in as `account` with the certificate of the same person.
    fn ssh(&self, account: &str, cert: &Path, command: &str) -> Result<Ran, StepFailed> {
        self.ssh_with(account, account, cert, command)
    }

    fn ssh_with(
        &self,
        account: &str,
        person: &str,
        cert: &Path,
        command: &str,
    ) -> Result<Ran, StepFailed> {
        let out = self
            .ssh_command(account, person, cert, command)
            .output()
            .map_err(|e| StepFailed(format!("ssh: {e}")))?;
        let ran = Ran {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let name = cert.file_name().unwrap_or_default().to_string_lossy();
        println!(
            "$ ssh -o CertificateFile={name} {account}@127.0.0.1 '{command}'   (exit status {})\n{}{}",
            ran.status, ran.stdout, ran.stderr
        );
        Ok(ran)
    }

    /// A session of alice's as `account` that stays open until ended.
    fn open_session(&self, account: &str, cert: &Path) -> Result<Child, StepFailed> {
        let mut child = self
            .ssh_command(account, "alice", cert, "echo started; exec sleep 120")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| StepFailed(format!("ssh: {e}")))?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line).map_err(io)?;
        if line != "started\n" {
            return Err(StepFailed(format!(
                "alice's session as {account} did not start"
            )));
        }
        Ok(child)
    }
}

/// The demo's people file: alice (admin), bob (user), carol (disabled) and the
/// shared account deploy that alice may enter — or, after she leaves, no alice.
fn people_file(with_alice: bool) -> String {
    let alice = "[[person]]\nname = \"alice\"\nfull_name = \"Alice Liddell\"\nrole = \"admin\"\n\n";
    format!(
        "[snapshot]\nsigning_key = \"signing\"\nuser_cas = [\"ca/ca.pub\"]\nvalid_for = \"1d\"\n\n\
         {}[[person]]\nname = \"bob\"\nfull_name = \"Bob Builder\"\n\n\
         [[person]]\nname = \"carol\"\nfull_name = \"Carol (left the team)\"\nstate = \"disabled\"\n\n\
         [[shared]]\nname = \"deploy\"\nfull_name = \"Deployments\"\npersons = [{}]\n",
        if with_alice { alice } else { "" },
        if with_alice { "\"alice\"" } else { "" }
    )
}

/// A static file server for `dir` on 127.0.0.1:8080 (GET only, one
/// connection at a time), on a thread of the demo's init.
fn serve(dir: PathBuf) -> Result<(), StepFailed> {
    let listener = TcpListener::bind(HTTP).map_err(|e| StepFailed(format!("{HTTP}: {e}")))?;
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or("/");
            let file = path
                .strip_prefix('/')
                .filter(|name| !name.is_empty() && !name.contains('/') && !name.starts_with('.'))
                .and_then(|name| std::fs::read(dir.join(name)).ok());
            let (status, body) = match file {
                Some(body) => ("200 OK", body),
                None => ("404 Not Found", Vec::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    Ok(())
}

fn heading(title: &str) {
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1;34m== {title}\x1b[0m");
    } else {
        println!("\n== {title}");
    }
}

fn expect(what: &str, got: &str, wanted: &str) -> Result<(), StepFailed> {
    if got.contains(wanted) {
        Ok(())
    } else {
        Err(StepFailed(format!(
            "{what}: expected {wanted:?} in:\n{got}"
        )))
    }
}

fn expect_login(login: &Ran, status: i32, stdout: &str) -> Result<(), StepFailed> {
    if login.status != status {
        return Err(StepFailed(format!(
            "ssh exited {} instead of {status}:\n{}{}",
            login.status, login.stdout, login.stderr
        )));
    }
    expect("the session's output", &login.stdout, stdout)
}

/// Waits up to `timeout` for `child` to exit; its exit status, or None.
fn wait(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn io(e: std::io::Error) -> StepFailed {
    StepFailed(e.to_string())
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
