//! The Debian packages, installed for real into a throwaway copy of this
//! machine: an overlay of `/` (writes go to a tmpfs) inside a private mount
//! namespace, entered with `chroot`. dpkg, apt, the maintainer scripts,
//! pam-auth-update, ldconfig, sshd -t, systemd-analyze, getent and pamtester
//! are the machine's own; nothing outside the namespace changes, and service
//! starts are refused by a policy-rc.d (no daemon is started).
//!
//! The packages come from `make deb` (target/debian/); the test fails, never
//! skips, without them.

mod common;

use common::process::run_logged;
use common::{debs, sh_quote};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one step in the throwaway root may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// What must come back byte for byte after a purge: every path under these,
/// with its type, mode, owner, link target and content hash.
const LISTING: &str = r#"find /etc/nsswitch.conf /etc/pam.d /etc/ssh \
    -printf '%y %m %u:%g %p -> %l\n' | sort
find /etc/nsswitch.conf /etc/pam.d /etc/ssh -type f -exec sha256sum {} + | sort -k 2"#;

/// A copy-on-write copy of `/`, held open by a `sleep` in its own mount namespace.
struct Throwaway {
    dir: PathBuf,
    holder: Child,
}

impl Throwaway {
    /// `name` makes the folder unique among the tests running at once.
    fn new(name: &str, debs: &[PathBuf]) -> Throwaway {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("install-{name}-{}", std::process::id()));
        let _ = roster::install::remove_tree(&dir);
        fs::create_dir_all(dir.join("layer")).unwrap();
        fs::create_dir_all(dir.join("root")).unwrap();
        let copy_debs: String = debs
            .iter()
            .map(|d| format!("cp {} \"$root/tmp/debs/\"\n", sh_quote(d.to_str().unwrap())))
            .collect();
        let setup = format!(
            r#"set -e
d={dir}
root="$d/root"
mount -t tmpfs -o mode=0755 tmpfs "$d/layer"
mkdir "$d/layer/upper" "$d/layer/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/layer/upper,workdir=$d/layer/work" "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mkdir "$root/tmp/debs"
{copy_debs}
# A chroot starts no services: invoke-rc.d and deb-systemd-invoke ask this.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
touch "$d/ready"
exec sleep infinity
"#,
            dir = sh_quote(dir.to_str().unwrap())
        );
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(setup)
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare");
        let throwaway = Throwaway { dir, holder };
        let started = Instant::now();
        while !throwaway.dir.join("ready").exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the throwaway root was not ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // man-db's trigger would rebuild the whole manual index on every install.
        throwaway.ok("echo 'man-db man-db/auto-update boolean false' | debconf-set-selections");
        throwaway
    }

    /// Runs `script` with /bin/sh inside the throwaway root; returns (status, stdout+stderr).
    fn run(&self, script: &str) -> (i32, String) {
        let mut nsenter = Command::new("nsenter");
        nsenter
            .args(["--target", &self.holder.id().to_string(), "--mount", "--"])
            .args(["chroot", self.dir.join("root").to_str().unwrap()]);
        run_logged(
            &mut nsenter,
            script,
            &self.dir.join("step.log"),
            STEP_TIMEOUT,
        )
    }

    /// Runs `script` and demands exit status 0; returns its output.
    fn ok(&self, script: &str) -> String {
        let (status, out) = self.run(script);
        assert_eq!(status, 0, "`{script}` failed:\n{out}");
        out
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        // The namespace, its mounts and the tmpfs holding every write go with
        // the last process in it.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = roster::install::remove_tree(&self.dir);
    }
}

/// The `passwd:` and `group:` lines of this machine's nsswitch.conf with
/// roster after `files`, as the package must leave them.
fn expected_nsswitch_lines() -> String {
    let stock = fs::read_to_string("/etc/nsswitch.conf").unwrap();
    stock
        .lines()
        .filter(|l| l.starts_with("passwd:") || l.starts_with("group:"))
        .map(|l| {
            let (key, services) = l.split_once(':').unwrap();
            let spaced = format!("{services} ").replacen(" files ", " files roster ", 1);
            format!("{key}:{}\n", spaced.trim_end())
        })
        .collect()
}

/// The operator's side, inside the root: a user CA, a signing key, a people
/// file with alice (admin) and bob, the signed snapshot in /srv/public, and
/// roster.toml pointing at it with file://.
const CONFIGURE: &str = r#"set -e
mkdir -p /srv/op && cd /srv/op
roster ca init ca >/dev/null
ssh-keygen -q -t ed25519 -N '' -C snapshot-signing -f signing
cat > people.toml <<'EOF'
[snapshot]
signing_key = "signing"
user_cas = ["ca/ca.pub"]
valid_for = "1d"

[[person]]
name = "alice"
full_name = "Alice Liddell"
role = "admin"

[[person]]
name = "bob"
full_name = "Bob Builder"
EOF
roster snapshot build people.toml --output /srv/public >/dev/null
sed -i -e 's|^#url = .*|url = "file:///srv/public/snapshot.json"|' \
    -e "s|^#signing_keys = \[|signing_keys = [\"$(cat signing.pub)\"]|" \
    /etc/roster/roster.toml
"#;

#[test]
fn packages_install_configure_reinstall_remove_and_purge_without_a_trace() {
    let debs = debs();
    let root = Throwaway::new("lifecycle", &debs);
    let before = root.ok(LISTING);

    // Install: dpkg -i of the four packages at once.
    let install = root.ok("dpkg -i /tmp/debs/*.deb");
    assert!(
        !install.contains("roster: sshd"),
        "sshd validation complained:\n{install}"
    );

    // nsswitch.conf: roster right after files, on passwd: and group: only.
    let lines = root.ok("grep -E '^(passwd|group):' /etc/nsswitch.conf");
    assert_eq!(lines, expected_nsswitch_lines());
    assert_eq!(root.ok("grep -c roster /etc/nsswitch.conf"), "2\n");

    // PAM: the account line after pam_unix in common-account, the session
    // line in common-session, and sshd's and sudo's stacks include them.
    let account = root.ok("grep -v '^#' /etc/pam.d/common-account | grep -E 'pam_unix|pam_roster'");
    assert_eq!(
        account,
        "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so \n\
         account\t[success=ok new_authtok_reqd=ok user_unknown=ignore ignore=ignore default=bad] pam_roster.so \n"
    );
    assert_eq!(
        root.ok("grep pam_roster /etc/pam.d/common-session"),
        "session\trequisite pam_roster.so \n"
    );
    assert_eq!(
        root.ok("grep -h -E '^@include common-(account|session)' /etc/pam.d/sshd /etc/pam.d/sudo"),
        "@include common-account\n@include common-session\n\
         @include common-account\n@include common-session-noninteractive\n"
    );

    // sshd accepts its configuration with roster's drop-in, and applies it.
    root.ok("/usr/sbin/sshd -t");
    assert_eq!(
        root.ok(
            "/usr/sbin/sshd -T -C user=alice,host=client,addr=127.0.0.1 | grep -E \
             '^(authorizedprincipalscommand|authorizedprincipalscommanduser|trustedusercakeys|exposeauthinfo) '"
        ),
        "exposeauthinfo yes\n\
         trustedusercakeys /var/lib/roster/user_ca_keys\n\
         authorizedprincipalscommand /usr/sbin/roster principals %u %t %k %f %i %s\n\
         authorizedprincipalscommanduser roster\n"
    );

    // The agent's unit: valid, enabled, not started (policy-rc.d).
    assert_eq!(
        root.ok("systemd-analyze verify /lib/systemd/system/roster.service 2>&1"),
        ""
    );
    root.ok("test -L /etc/systemd/system/multi-user.target.wants/roster.service");
    // The SCIM service's unit: valid, and neither enabled nor started (it
    // cannot run before scim.toml and its keys are set up).
    assert_eq!(
        root.ok("systemd-analyze verify /lib/systemd/system/roster-scim.service 2>&1"),
        ""
    );
    assert_eq!(
        root.run("ls /etc/systemd/system/*.wants/ | grep roster-scim")
            .0,
        1,
        "roster-scim.service is enabled"
    );

    // Files, owners and modes; the gate's system user; the ldconfig trigger ran.
    assert_eq!(
        root.ok(
            "stat -c '%a %U:%G %n' /usr/sbin/roster /lib/x86_64-linux-gnu/libnss_roster.so.2 \
             /lib/x86_64-linux-gnu/security/pam_roster.so /etc/roster/roster.toml \
             /etc/sudoers.d/roster /var/lib/roster /var/log/roster"
        ),
        "755 root:root /usr/sbin/roster\n\
         644 root:root /lib/x86_64-linux-gnu/libnss_roster.so.2\n\
         644 root:root /lib/x86_64-linux-gnu/security/pam_roster.so\n\
         644 root:root /etc/roster/roster.toml\n\
         440 root:root /etc/sudoers.d/roster\n\
         755 root:root /var/lib/roster\n\
         750 root:root /var/log/roster\n"
    );
    root.ok("visudo -c -q");
    let gate = root.ok("getent passwd roster");
    assert!(
        gate.starts_with("roster:x:")
            && gate.ends_with(":roster sshd principals gate,,,:/nonexistent:/usr/sbin/nologin\n"),
        "{gate}"
    );
    let uid: u32 = gate.split(':').nth(2).unwrap().parse().unwrap();
    assert!((100..1000).contains(&uid), "a system uid: {gate}");
    assert!(
        root.ok("ldconfig -p").contains(
            "libnss_roster.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libnss_roster.so.2"
        )
    );

    // roster-scim: its binary runs (directly and as `roster scim`), its
    // configuration is a conffile, its user exists with its state as home,
    // and the key directory is closed to all but root and that user.
    let hello = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n";
    assert_eq!(root.ok("echo hello | roster-scim hash-token"), hello);
    assert_eq!(root.ok("echo hello | roster scim hash-token"), hello);
    assert_eq!(
        root.ok(
            "stat -c '%a %U:%G %n' /usr/sbin/roster-scim /etc/roster/scim.toml \
             /lib/systemd/system/roster-scim.service /etc/roster/scim"
        ),
        "755 root:root /usr/sbin/roster-scim\n\
         644 root:root /etc/roster/scim.toml\n\
         644 root:root /lib/systemd/system/roster-scim.service\n\
         750 root:roster-scim /etc/roster/scim\n"
    );
    assert!(
        root.ok("dpkg-query -W -f '${Conffiles}' roster-scim")
            .contains(" /etc/roster/scim.toml "),
        "scim.toml is not a conffile"
    );
    let service = root.ok("getent passwd roster-scim");
    assert!(
        service.starts_with("roster-scim:x:")
            && service
                .ends_with(":roster SCIM service,,,:/var/lib/roster-scim:/usr/sbin/nologin\n"),
        "{service}"
    );
    let uid: u32 = service.split(':').nth(2).unwrap().parse().unwrap();
    assert!((100..1000).contains(&uid), "a system uid: {service}");
    root.ok("getent group roster-scim");
    // The hosts' roster holds no SCIM service: no SQLite in it. The binaries
    // are stripped, so no symbol names are left to look for; SQLite's file
    // header magic is, as the same grep on roster-scim shows.
    assert_eq!(
        root.run("grep -c 'SQLite format 3' /usr/sbin/roster"),
        (1, "0\n".into())
    );
    assert_eq!(
        root.ok("grep -c 'SQLite format 3' /usr/sbin/roster-scim"),
        "1\n"
    );
    assert_eq!(
        root.run("grep -c -e tokio -e axum /usr/sbin/roster"),
        (1, "0\n".into())
    );

    // As installed, roster is not configured and says so.
    let (status, out) = root.run("roster sync");
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("roster is not configured yet"), "{out}");

    // Configured with a file:// source: a synced snapshot resolves through
    // glibc, and sudo's PAM stack decides by role while local users keep pam_unix.
    root.ok(CONFIGURE);
    root.ok("roster sync");
    assert_eq!(
        root.ok("getent passwd alice bob; getent group roster-admins"),
        "alice:*:10000:10000:Alice Liddell:/home/alice:/bin/bash\n\
         bob:*:10001:10001:Bob Builder:/home/bob:/bin/bash\n\
         roster-admins:*:9999:alice\n"
    );
    root.ok("pamtester sudo alice acct_mgmt");
    let (status, out) = root.run("pamtester sudo bob acct_mgmt");
    assert_ne!(status, 0, "bob has no admin role:\n{out}");
    root.ok("pamtester sudo nobody acct_mgmt");

    // `roster demo` from the installed packages (their modules, not a build's).
    let demo = root.ok("roster demo");
    assert!(demo.contains("The whole story took "), "{demo}");

    // Installing the same version again changes nothing.
    let installed = root.ok(LISTING);
    root.ok("dpkg -i /tmp/debs/*.deb");
    assert_eq!(
        root.ok(LISTING),
        installed,
        "a reinstall changed the configuration"
    );
    assert_eq!(root.ok("getent passwd alice | cut -d: -f1"), "alice\n");

    // Removing (not purging) takes roster out of NSS, PAM, sshd and sudo at once.
    root.ok("dpkg -r roster libnss-roster libpam-roster roster-scim");
    assert_eq!(
        root.ok("cat /etc/nsswitch.conf"),
        fs::read_to_string("/etc/nsswitch.conf").unwrap()
    );
    assert_eq!(root.run("getent passwd alice").0, 2);
    root.ok("/usr/sbin/sshd -t");
    assert_eq!(
        root.run("/usr/sbin/sshd -T -C user=alice,host=client,addr=127.0.0.1 | grep -i roster")
            .0,
        1
    );
    assert_eq!(root.run("grep -r roster /etc/pam.d").0, 1);
    assert_eq!(
        root.run("ls /etc/sudoers.d | grep -x -e roster -e roster-entitlements")
            .0,
        1
    );

    // Installing again (apt this time) brings every piece back, snapshot included.
    let reinstall = format!(
        "apt-get install -y -q {}",
        debs.iter()
            .map(|d| format!("/tmp/debs/{}", d.file_name().unwrap().to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    root.ok(&reinstall);
    assert_eq!(
        root.ok(LISTING),
        installed,
        "install after remove differs from the first install"
    );
    assert_eq!(root.ok("getent passwd alice | cut -d: -f1"), "alice\n");

    // Purge: nsswitch.conf, /etc/pam.d and /etc/ssh are byte for byte as before,
    // and roster's and roster-scim's state, logs and configuration are gone.
    root.ok("apt-get purge -y -q roster libnss-roster libpam-roster roster-scim");
    assert_eq!(root.ok(LISTING), before, "purge left a trace in /etc");
    for gone in [
        "/etc/roster",
        "/var/lib/roster",
        "/var/log/roster",
        "/var/lib/libnss-roster",
        "/etc/sudoers.d/roster",
        "/etc/sudoers.d/roster-entitlements",
        "/usr/sbin/roster",
        "/lib/x86_64-linux-gnu/libnss_roster.so.2",
        "/usr/sbin/roster-scim",
        "/var/lib/roster-scim",
        "/lib/systemd/system/roster-scim.service",
    ] {
        assert_eq!(
            root.run(&format!("test -e {gone}")).0,
            1,
            "{gone} survived the purge"
        );
    }
}

/// An sshd that rejects roster's drop-in, or rejects its configuration
/// whatever it holds, as `sshd -t` would report a conflict. The real sshd
/// accepts the drop-in in every configuration we could build, so this
/// stand-in comes first on PATH (the maintainer scripts' PATH is the
/// caller's); everything else is the real install.
fn sshd_rejecting(when: &str) -> String {
    format!(
        "cat > /usr/local/sbin/sshd <<'EOF'\n#!/bin/sh\n\
         if [ \"$1\" = -t ] && {when}; then\n\
         echo '/etc/ssh/sshd_config.d/roster.conf line 9: conflicting option' >&2; exit 255\nfi\n\
         exec /usr/sbin/sshd \"$@\"\nEOF\n\
         chmod 0755 /usr/local/sbin/sshd"
    )
}

#[test]
fn a_drop_in_sshd_rejects_is_moved_aside_and_sshd_left_as_it_was() {
    let root = Throwaway::new("sshd-rejects-drop-in", &debs());
    root.ok(&sshd_rejecting("[ -e /etc/ssh/sshd_config.d/roster.conf ]"));
    let out = root.ok("dpkg -i /tmp/debs/*.deb");
    assert!(
        out.contains(
            "roster: sshd rejects its configuration with /etc/ssh/sshd_config.d/roster.conf:\n\
             /etc/ssh/sshd_config.d/roster.conf line 9: conflicting option\n\
             roster: moved it to /etc/ssh/sshd_config.d/roster.conf.disabled and left sshd as it was; \
             resolve the conflict, move it back and reload ssh.\n"
        ),
        "{out}"
    );
    assert_eq!(
        root.ok("ls /etc/ssh/sshd_config.d/ | grep roster"),
        "roster.conf.disabled\n"
    );
    root.ok("sshd -t");
    // Purge takes the moved file too.
    root.ok("dpkg --purge roster libnss-roster libpam-roster");
    assert_eq!(root.run("ls /etc/ssh/sshd_config.d/ | grep roster").0, 1);
}

#[test]
fn a_configuration_sshd_rejects_without_roster_is_not_blamed_on_roster() {
    let root = Throwaway::new("sshd-rejects-all", &debs());
    root.ok(&sshd_rejecting("true"));
    let out = root.ok("dpkg -i /tmp/debs/*.deb");
    assert!(
        out.contains(
            "roster: sshd -t fails even without /etc/ssh/sshd_config.d/roster.conf; not reloading ssh:\n"
        ),
        "{out}"
    );
    assert_eq!(
        root.ok("ls /etc/ssh/sshd_config.d/ | grep roster"),
        "roster.conf\n"
    );
}
