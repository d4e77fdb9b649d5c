//! The hardened agent under a real systemd: a Debian 12 root made with debootstrap, booted
//! with `systemd-nspawn --boot` (systemd as PID 1, journald, logind, D-Bus), the packages
//! from `make deb` installed into it with apt, and `roster.service` exactly as shipped
//! (`debian/systemd/roster.service`: ProtectSystem=strict, the two capabilities, the
//! system call filter) doing the work: a snapshot synced from a source on the container's
//! loopback, an ssh login with a certificate from `roster ca sign` (a logind session), then
//! an offboarding that ends that session and a process the removed person left running.
//! `systemd-analyze security` reports the unit's exposure, which SECURITY.md must state.
//!
//! Nothing leaves the container and nothing of it stays on the machine: the network is
//! private (`--private-network`: a loopback only), the booted root is an overlay whose
//! writes go to a tmpfs, and nspawn runs in a private mount namespace whose /run and /tmp
//! are tmpfs too (nspawn keeps its own state under /run/systemd/nspawn). The container is
//! stopped by SIGTERM to the nspawn process this test started.
//!
//! The debootstrapped root (about 270 MB, a minute or more to make) is kept in the target
//! folder between runs and remade when the debootstrap command line (suite, variant,
//! packages, the machine's own Debian mirror) differs from the one that made it, or when it
//! is older than a week. It is never booted itself, only through the overlay, so a run
//! cannot change it. Needs root, debootstrap and systemd-container
//! (`scripts/install-deps.sh`) and the packages (`make deb`; `make test` runs it first).
//! Fails, never skips.

mod common;

use common::process::{PATH, require_root, run_logged};
use common::{debs, sh_quote, workspace_dir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const SUITE: &str = "bookworm";
/// What debootstrap adds to minbase: systemd as PID 1 (systemd, systemd-sysv, dbus) and
/// libpam-systemd (which systemd recommends, as a server has it: logins are logind
/// sessions); what the packages depend on or recommend beyond minbase, so that apt inside
/// needs no network (openssh-server, sudo); busybox for its httpd, the snapshot source on
/// the container's loopback; procps. adduser and libpam-runtime are in minbase.
const INCLUDE: [&str; 8] = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "sudo",
    "busybox",
    "procps",
];
/// A kept root older than this is made again (it picks up the mirror's updates).
const ROOT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(900);
/// Longest one command in the container may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// The snapshot source inside the container: busybox httpd on its private loopback.
const SOURCE: &str = "http://127.0.0.1:8080/snapshot.json";

#[test]
fn the_shipped_unit_syncs_and_offboards_under_a_real_systemd() {
    require_root();
    let debs = debs();
    let root = debian_root();
    let c = Container::boot(&root, &debs);

    // systemd came up with no failed unit.
    c.wait_for("systemd listens", "test -S /run/systemd/private");
    let state = c.run("systemctl is-system-running --wait").1;
    assert_eq!(
        state,
        "running\n",
        "systemd in the container is not running cleanly:\n{}\nconsole:\n{}",
        c.run("systemctl --failed --no-pager --no-legend").1,
        c.console()
    );

    // apt installs the four packages with what debootstrap put in: no network needed.
    let install = c.ok(
        "echo 'man-db man-db/auto-update boolean false' | debconf-set-selections\n\
         apt-get install -y --no-install-recommends /root/debs/*.deb",
    );
    assert!(
        !install.contains("roster: sshd"),
        "sshd validation complained:\n{install}"
    );
    // The package enabled and started the agent, which waits for a configuration.
    assert_eq!(
        c.ok("systemctl is-enabled roster; systemctl is-active roster"),
        "enabled\nactive\n"
    );
    c.wait_for(
        "the unconfigured agent says it waits",
        "journalctl -u roster -o cat | grep -q 'waiting for a usable configuration'",
    );

    // The operator's side: a CA, a signing key, alice (admin) and bob, served on loopback.
    c.ok(OPERATOR);
    c.ok(&build(&["alice", "bob"]));
    c.ok("systemd-run --quiet --unit=snapshot-source \
          busybox httpd -f -p 127.0.0.1:8080 -h /srv/public");
    c.wait_for(
        "the snapshot source serves",
        &format!("busybox wget -q -O /dev/null {SOURCE}"),
    );
    c.ok(&format!(
        "cat > /etc/roster/roster.toml <<EOF\n\
         [source]\nurl = \"{SOURCE}\"\nsigning_keys = [\"$(cat /srv/op/signing.pub)\"]\n\
         [sync]\noffboard_grace = \"2s\"\nEOF"
    ));

    // `systemctl reload roster` (SIGHUP): the agent syncs now, under the unit's sandbox.
    c.ok("systemctl reload roster");
    c.wait_for(
        "the agent installs serial 1",
        "journalctl -u roster -o cat | grep -q 'installed snapshot serial 1$'",
    );
    assert_eq!(
        c.ok("getent passwd alice bob; getent group roster-admins"),
        "alice:*:10000:10000:Alice Liddell:/home/alice:/bin/bash\n\
         bob:*:10001:10001:Bob Builder:/home/bob:/bin/bash\n\
         roster-admins:*:9999:alice\n"
    );
    let status = c.ok("roster status");
    for line in [
        "health:        fresh",
        "serial:        1, 2 users",
        "last error:    none",
    ] {
        assert!(status.contains(line), "{line:?} not in:\n{status}");
    }
    assert!(
        !status.contains("sudo rules:"),
        "the unit kept the agent from its sudoers file:\n{status}"
    );
    // Written through ReadWritePaths=/etc/sudoers.d, past ProtectSystem=strict.
    assert!(
        c.ok("cat /etc/sudoers.d/roster-entitlements")
            .starts_with("# Generated by roster from snapshot serial 1."),
    );

    // alice logs in over ssh with a certificate from `roster ca sign` (the container's sshd
    // with roster's drop-in; PAM with pam_roster and pam_systemd, so logind has the
    // session) and leaves the session open.
    c.ok(
        "set -e\ncd /srv/op\nssh-keygen -q -t ed25519 -N '' -C alice -f alice\n\
          roster ca sign --ca ca --user alice --pubkey alice.pub --ttl 10m >/dev/null",
    );
    c.ok(
        "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
          -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i /srv/op/alice \
          -o CertificateFile=/srv/op/alice-cert.pub alice@127.0.0.1 'id -un; exec sleep 600' \
          </dev/null >/srv/op/ssh.out 2>&1 &",
    );
    c.wait_for("alice's ssh session runs", "grep -qx alice /srv/op/ssh.out");
    c.wait_for(
        "logind has alice's session",
        "loginctl list-sessions --no-legend | grep -q ' alice '",
    );
    // And a process outside any session, as alice.
    let pid = c.ok(
        "setpriv --reuid=alice --regid=alice --clear-groups -- sleep 600 \
         </dev/null >/dev/null 2>&1 &\necho $!",
    );
    let pid = pid.trim();
    assert_eq!(
        c.ok(&format!("stat -c %U /proc/{pid}; cat /proc/{pid}/comm")),
        "alice\nsleep\n"
    );
    c.ok(&build(&["bob"]));
    c.ok("systemctl reload roster");
    c.wait_for(
        "the agent records alice's offboarding",
        "grep -q '\"event\":\"offboarded\"' /var/log/roster/events.jsonl",
    );
    let events = c.ok("cat /var/log/roster/events.jsonl");
    let offboarded: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .filter(|e: &serde_json::Value| e["event"] == "offboarded")
        .collect();
    assert_eq!(offboarded.len(), 1, "{events}");
    assert_eq!(offboarded[0]["account"], "alice", "{events}");
    let reason = offboarded[0]["reason"].as_str().unwrap_or_default();
    println!("offboarded alice: {reason}");
    assert!(
        reason.starts_with("removed from the snapshot: ended ")
            && reason.contains(", logind asked to terminate the user"),
        "{events}"
    );
    assert!(
        events.contains(r#""event":"session_start""#),
        "pam_roster recorded no session_start:\n{events}"
    );
    // Gone, not zombies: the container's systemd reaps what it inherits.
    c.wait_for("alice's sleep ends", &format!("! test -e /proc/{pid}"));
    c.wait_for("alice's processes end", "! pgrep -U 10000 >/dev/null");
    c.wait_for(
        "logind ends alice's session",
        "! loginctl list-users --no-legend | grep -q '^ *10000 '",
    );
    c.wait_for("alice's ssh client exits", "! pgrep -x ssh >/dev/null");
    assert_eq!(c.run("getent passwd alice").0, 2, "alice still resolves");
    let journal = c.ok("journalctl -u roster -o cat");
    assert!(
        journal.contains("roster agent: installed snapshot serial 2 (was 1)")
            && journal.contains("offboarded account=alice"),
        "{journal}"
    );
    // The agent never crashed or restarted.
    assert_eq!(
        c.ok("systemctl show roster -p ActiveState -p SubState -p NRestarts -p Result"),
        "Result=success\nNRestarts=0\nActiveState=active\nSubState=running\n"
    );

    // The unit's exposure, as systemd rates it, is what SECURITY.md says.
    let security = c.ok("systemd-analyze security --no-pager roster.service");
    let overall = security
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for roster.service: ")
                .nth(1)
        })
        .map(|rest| {
            rest.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{security}"));
    println!("systemd-analyze security roster.service: {overall}");
    let documented = fs::read_to_string(workspace_dir().join("SECURITY.md")).unwrap();
    let claim = format!("exposure level {overall}");
    assert!(
        documented.contains(&claim),
        "SECURITY.md must state the unit's measured exposure (\"{claim}\"):\n{security}"
    );
}

/// The operator's tools, inside the container: a user CA and a snapshot signing key.
const OPERATOR: &str = "set -e\nmkdir -p /srv/op /srv/public\ncd /srv/op\n\
     roster ca init ca >/dev/null\n\
     ssh-keygen -q -t ed25519 -N '' -C snapshot-signing -f signing";

/// Builds and signs the next snapshot (its ledger numbers them 1, 2, …) with `people`
/// (alice is an admin) into /srv/public.
fn build(people: &[&str]) -> String {
    let mut toml = String::from(
        "[snapshot]\nsigning_key = \"signing\"\nuser_cas = [\"ca/ca.pub\"]\nvalid_for = \"1d\"\n",
    );
    for name in people {
        let (full, role) = match *name {
            "alice" => ("Alice Liddell", "admin"),
            "bob" => ("Bob Builder", "user"),
            other => panic!("no such person {other}"),
        };
        toml += &format!(
            "\n[[person]]\nname = \"{name}\"\nfull_name = \"{full}\"\nrole = \"{role}\"\n"
        );
    }
    format!(
        "set -e\ncd /srv/op\ncat > people.toml <<'EOF'\n{toml}EOF\n\
         roster snapshot build people.toml --output /srv/public"
    )
}

/// A Debian 12 root booted with systemd-nspawn over an overlay of the kept root.
struct Container {
    /// `unshare` exec'd into `systemd-nspawn`: stopped with SIGTERM.
    nspawn: Child,
    /// Host PID of the container's systemd, whose namespaces commands enter.
    init: u32,
    dir: PathBuf,
}

impl Container {
    fn boot(root: &Path, debs: &[PathBuf]) -> Container {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("systemd-{}", std::process::id()));
        let _ = roster::install::remove_tree(&dir);
        for sub in ["layer", "merged"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let q = |p: &Path| sh_quote(p.to_str().expect("UTF-8 path"));
        let copy_debs: String = debs
            .iter()
            .map(|d| format!("cp {} \"$m/root/debs/\"\n", q(d)))
            .collect();
        let setup = format!(
            "set -e\nd={dir}\nm=\"$d/merged\"\n\
             mount -t tmpfs -o mode=0755 roster-systemd-layer \"$d/layer\"\n\
             mkdir \"$d/layer/upper\" \"$d/layer/work\"\n\
             mount -t overlay roster-systemd -o \"lowerdir={root},upperdir=$d/layer/upper,workdir=$d/layer/work\" \"$m\"\n\
             mkdir -p \"$m/root/debs\"\n{copy_debs}\
             # nspawn's own state (/run/systemd/nspawn) and anything else stays in here.\n\
             mount -t tmpfs -o mode=0755 roster-systemd-run /run\n\
             mount -t tmpfs -o mode=1777 roster-systemd-tmp /tmp\n\
             exec systemd-nspawn -q --register=no --keep-unit --private-network \
             --link-journal=no -D \"$m\" --boot --console=pipe",
            dir = q(&dir),
            root = root.to_str().unwrap(),
        );
        let console = fs::File::create(dir.join("console.log")).unwrap();
        let nspawn = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(setup)
            .env_clear()
            .env("PATH", PATH)
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            .spawn()
            .expect("run unshare and systemd-nspawn");
        let mut c = Container {
            init: 0,
            nspawn,
            dir,
        };
        // systemd is the child of the nspawn process.
        let deadline = Instant::now() + Duration::from_secs(60);
        c.init = loop {
            if let Some(pid) = child_named(c.nspawn.id(), "systemd") {
                break pid;
            }
            let exited = c.nspawn.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "systemd-nspawn did not boot the root ({exited:?}):\n{}",
                c.console()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        c
    }

    fn console(&self) -> String {
        fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    /// Runs `script` with /bin/sh as root in the container (its mount, UTS, IPC, network
    /// and PID namespaces); returns (status, stdout and stderr).
    fn run(&self, script: &str) -> (i32, String) {
        let mut nsenter = Command::new("nsenter");
        nsenter
            .args(["--target", &self.init.to_string()])
            .args(["--mount", "--uts", "--ipc", "--net", "--pid", "--"]);
        run_logged(
            &mut nsenter,
            script,
            &self.dir.join("step.log"),
            STEP_TIMEOUT,
        )
    }

    /// Runs `script` and demands exit status 0; returns its output.
    #[track_caller]
    fn ok(&self, script: &str) -> String {
        let (status, out) = self.run(script);
        assert_eq!(status, 0, "`{script}` failed:\n{out}");
        out
    }

    /// Runs `script` until it succeeds, for 30 s at most.
    #[track_caller]
    fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.run(script).0 == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: `{script}` did not succeed in 30 s.\njournal of roster:\n{}",
                self.run("journalctl -u roster --no-pager -o short-monotonic")
                    .1
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM: nspawn asks the container's systemd to power off, and exits after it.
        // If that hangs, killing the container's init kills every process in it.
        if let Ok(None) = self.nspawn.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.nspawn.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.nspawn.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = self.nspawn.try_wait() {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.init.to_string()])
                    .status();
            }
        }
        let _ = self.nspawn.wait();
        // The overlay and its tmpfs went with nspawn's mount namespace.
        let _ = roster::install::remove_tree(&self.dir);
    }
}

/// Host PID of a child of `parent` whose command is `comm`.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && name == comm).then_some(pid)
    })
}

/// The Debian mirror the machine's own apt sources use for `SUITE`.
fn mirror() -> String {
    let mut texts: Vec<String> = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "sources" || e == "list") {
                texts.push(fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    texts.push(fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    for text in &texts {
        // deb822: stanzas separated by blank lines.
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|v| v.strip_prefix(':'))
                        .map(str::trim)
                })
            };
            let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
            let ours = field("Suites").is_some_and(|s| s.split_whitespace().any(|s| s == SUITE));
            if is_deb
                && ours
                && field("Enabled") != Some("no")
                && let Some(uri) = field("URIs").and_then(|u| u.split_whitespace().next())
            {
                return uri.to_owned();
            }
        }
        // One-line format: deb [options] URI SUITE COMPONENTS…
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("deb") {
                continue;
            }
            let mut words = words.peekable();
            if words.peek().is_some_and(|w| w.starts_with('[')) {
                // Options may span words: `[arch=amd64 signed-by=…]`.
                for w in words.by_ref() {
                    if w.ends_with(']') {
                        break;
                    }
                }
            }
            let (uri, suite) = (words.next(), words.next());
            if let (Some(uri), Some(SUITE)) = (uri, suite) {
                return uri.to_owned();
            }
        }
    }
    panic!("no Debian mirror for {SUITE} in /etc/apt/sources.list{{,.d/*}}");
}

/// The kept Debian root, made again when its debootstrap command line changed or it is
/// older than [`ROOT_MAX_AGE`]. `params` holds the command line that made it and is written
/// last, so a root whose making was interrupted is never used.
fn debian_root() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("systemd-root");
    let (root, params) = (cache.join("root"), cache.join("params"));
    let args = vec![
        "--variant=minbase".to_owned(),
        format!("--include={}", INCLUDE.join(",")),
        SUITE.to_owned(),
        root.to_str().unwrap().to_owned(),
        mirror(),
    ];
    let line = format!("debootstrap {}\n", args.join(" "));
    let young = fs::metadata(&params)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .is_ok_and(|age| age < ROOT_MAX_AGE)
        });
    if young && fs::read_to_string(&params).is_ok_and(|p| p == line) && root.is_dir() {
        return root;
    }
    let _ = fs::remove_file(&params);
    roster::install::remove_tree(&cache).unwrap();
    fs::create_dir_all(&cache).unwrap();
    let log = cache.join("debootstrap.log");
    let output = fs::File::create(&log).unwrap();
    let started = Instant::now();
    let mut child = Command::new("debootstrap")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .expect("run debootstrap (scripts/install-deps.sh installs it)");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEBOOTSTRAP_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("debootstrap timed out after {DEBOOTSTRAP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{line}failed:\n{text}");
    println!("{line}took {:?}", started.elapsed());
    fs::write(&params, &line).unwrap();
    root
}
