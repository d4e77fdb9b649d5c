//! A real OpenSSH sshd in a private namespace, for end-to-end login tests.
//!
//! [`SshHost::start`] takes a [`Sandbox`] (a root-owned temporary folder holding the NSS
//! module, after the root and caching-daemon checks) and builds one long-lived namespace
//! with `unshare --mount --propagation private --pid --fork --kill-child --net`:
//!
//! - **mount**: read-only overlays put `libnss_roster.so.2` and `security/pam_roster.so`
//!   into `/usr/lib/x86_64-linux-gnu` (so processes sshd starts with a cleared environment
//!   load them too) and `roster` into `/usr/sbin` (an `AuthorizedPrincipalsCommand` must sit
//!   on a root-owned path that is not group/world-writable). Writable overlays whose upper
//!   layers live in the sandbox cover `/etc` (the test `passwd`, `group`, `shadow`,
//!   `nsswitch.conf`, `pam.d` and `roster/roster.toml`), `/var` (roster's state and events,
//!   debconf for `pam-auth-update`) and `/home` (homes made at login). `/run` is a tmpfs
//!   (sshd needs `/run/sshd`; it also hides the host's D-Bus socket from `pam_systemd`), and
//!   so is `/tmp`, with the sandbox folder bound back at its own path (sshd's
//!   `/tmp/sshauth.*` of the sessions a test ends never reach the machine's /tmp).
//!   `/dev` is an overlay whose `/dev/log` is a socket the test reads: PAM modules and
//!   `roster principals` log to syslog, and nothing reaches the host's logger.
//! - **pid**: the namespace's init is `tests/c/reaper.c`, which reaps every orphan of the
//!   namespace, so a process that ended is gone from `/proc` rather than a zombie. On drop
//!   it is killed by its host PID, and the kernel then kills every other process of the
//!   namespace (sshd, its connection processes, sessions) before the kill completes:
//!   nothing outlives the test.
//! - **net**: a private loopback, so parallel tests never compete for a port and nothing
//!   listens outside.
//!
//! sshd is Debian's `/usr/sbin/sshd -D -e -f CONFIG -E LOG` with the package's pristine
//! `/usr/share/openssh/sshd_config`, test lines (listen address, port, host key) and, with
//! roster, the repository's drop-in `debian/sshd_config.d/roster.conf`. PAM is the host's
//! stock `/etc/pam.d` plus the lines of `debian/pam-configs/roster`, placed as [`Wiring`]
//! says. Commands (sshd, `roster sync`, the ssh client) enter the namespace with
//! `nsenter`.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::events::{Events, Mark};
use super::process::{PATH, wait_timeout};
use super::{
    Output, SYSTEM_LIB_DIR, Sandbox, agent_setpriv, artifacts, fixture, sh_quote, target_dir,
    to_output,
};

/// Longest a command in the namespace may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest sshd may take to listen, and a finished login's sshd processes to exit.
const SSHD_TIMEOUT: Duration = Duration::from_secs(10);
/// Any port works: the namespace has its own loopback.
pub const PORT: u16 = 2222;
/// Where sshd's `TrustedUserCAKeys` and the PAM module find roster's state.
pub const STATE_DIR: &str = "/var/lib/roster";
/// roster's events file, where the PAM module appends.
pub const EVENTS: &str = "/var/log/roster/events.jsonl";

/// How roster is wired into sshd and PAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wiring {
    /// Not at all: Debian's stock sshd configuration and PAM stack.
    Stock,
    /// roster's sshd drop-in, and the lines of `debian/pam-configs/roster` in
    /// `/etc/pam.d/sshd`: the account line before `@include common-account` (roster decides
    /// for its users before pam_unix runs), the session line after `@include
    /// common-session`.
    SshdPamFile,
    /// What the package does: roster's sshd drop-in, and `pam-auth-update --package` with
    /// `debian/pam-configs/roster`, which appends the lines to `common-account` (after
    /// pam_unix) and `common-session`, for every PAM service.
    PamAuthUpdate,
}

/// `roster.toml` facts a test may vary. The source and signing key are the host's own.
#[derive(Clone, Debug)]
pub struct RosterConfig {
    pub host_name: String,
    pub labels: Vec<String>,
    pub require_host_binding: bool,
    pub max_lifetime: String,
    pub max_age: String,
    /// `[sync] offboard_grace`: how long an ended session's processes have after SIGHUP.
    pub offboard_grace: String,
    /// The pinned snapshot signing key (an OpenSSH public key line); `None` pins the
    /// host's own, which [`SshHost::publish`] signs with.
    pub signing_key: Option<String>,
}

impl Default for RosterConfig {
    fn default() -> Self {
        RosterConfig {
            host_name: "web-01".into(),
            labels: vec!["dc1".into()],
            require_host_binding: false,
            max_lifetime: "16h".into(),
            max_age: "24h".into(),
            offboard_grace: "5s".into(),
            signing_key: None,
        }
    }
}

/// How the host is set up ([`super::host::HostBuilder`] says it).
#[derive(Clone, Debug)]
pub(super) struct Setup {
    pub wiring: Wiring,
    pub config: RosterConfig,
    /// More sshd configuration, in a drop-in read before roster's (first value wins).
    pub sshd_config: Vec<String>,
}

impl Setup {
    /// roster wired in with its lines in `/etc/pam.d/sshd`, and the default
    /// [`RosterConfig`].
    pub(super) fn roster() -> Setup {
        Setup {
            wiring: Wiring::SshdPamFile,
            config: RosterConfig::default(),
            sshd_config: Vec::new(),
        }
    }
}

pub use super::key::Key;

/// What `ssh-keygen -s` is asked to certify.
#[derive(Clone, Debug)]
pub struct Cert {
    pub key_id: String,
    /// `-n`; `None` leaves it out, and ssh-keygen then certifies any principal.
    pub principals: Option<String>,
    /// `-V`.
    pub validity: String,
    /// `-z`.
    pub serial: u64,
    /// `-h`: a host certificate.
    pub host: bool,
    /// `-O` options, e.g. `source-address=127.0.0.1/32`, `critical:foo@example.com=bar`,
    /// `extension:hosts@roster=web-01`.
    pub options: Vec<String>,
}

impl Cert {
    /// A user certificate for `principals`, valid for five minutes from now, serial 1.
    pub fn new(key_id: &str, principals: &str) -> Cert {
        Cert {
            key_id: key_id.into(),
            principals: Some(principals.into()),
            validity: "+5m".into(),
            serial: 1,
            host: false,
            options: Vec::new(),
        }
    }

    pub fn validity(mut self, validity: &str) -> Cert {
        self.validity = validity.into();
        self
    }

    pub fn serial(mut self, serial: u64) -> Cert {
        self.serial = serial;
        self
    }

    pub fn option(mut self, option: &str) -> Cert {
        self.options.push(option.into());
        self
    }

    pub fn without_principals(mut self) -> Cert {
        self.principals = None;
        self
    }

    pub fn host_certificate(mut self) -> Cert {
        self.host = true;
        self
    }
}

/// One `ssh` run against the host, and what the host recorded while it ran.
#[derive(Debug)]
pub struct Login {
    /// ssh's exit status: the remote command's, or 255 when ssh itself failed.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// sshd's log lines written during this login (its connection processes had all
    /// exited when they were read).
    pub sshd_log: String,
    /// roster's event lines written during this login, parsed.
    pub events: Events,
    /// Syslog messages sent during this login (PAM modules, `roster principals`), one a
    /// line, as glibc sends them: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE`.
    pub syslog: String,
}

impl Login {
    /// Panics, showing everything, unless sshd logged a line containing `text`.
    #[track_caller]
    pub fn assert_logged(&self, text: &str) {
        assert!(
            self.sshd_log.lines().any(|l| l.contains(text)),
            "sshd logged no line containing {text:?}:\n{self}"
        );
    }

    /// Panics unless sshd logged no line containing `text`.
    #[track_caller]
    pub fn assert_not_logged(&self, text: &str) {
        assert!(
            !self.sshd_log.lines().any(|l| l.contains(text)),
            "sshd logged a line containing {text:?}:\n{self}"
        );
    }

    /// Panics unless a syslog message contains `text`.
    #[track_caller]
    pub fn assert_syslogged(&self, text: &str) {
        assert!(
            self.syslog.lines().any(|l| l.contains(text)),
            "no syslog message containing {text:?}:\n{self}"
        );
    }

    /// The events of this login whose `"event"` is `kind`.
    pub fn events_of(&self, kind: &str) -> Events {
        self.events.of_kind(kind)
    }

    /// The one event of kind `kind` in this login; panics, showing the whole login, if
    /// there is not exactly one.
    #[track_caller]
    pub fn event(&self, kind: &str) -> &serde_json::Value {
        let n = self.events_of(kind).len();
        assert_eq!(n, 1, "expected one {kind:?} event, found {n}:\n{self}");
        self.events.one(kind)
    }
}

impl std::fmt::Display for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "ssh exit status {}", self.status)?;
        writeln!(f, "--- stdout\n{}", self.stdout)?;
        writeln!(f, "--- stderr\n{}", self.stderr)?;
        writeln!(f, "--- sshd log\n{}", self.sshd_log)?;
        writeln!(f, "--- syslog\n{}", self.syslog)?;
        write!(f, "--- roster events\n{}", self.events)
    }
}

/// A running namespace with sshd listening on 127.0.0.1:[`PORT`]; everything in it is
/// killed on drop, then the sandbox is removed.
pub struct SshHost {
    /// The namespace's `unshare`; it exits once every process of the namespace is gone.
    unshare: Child,
    /// Host PID of the namespace's init (`tests/c/reaper.c`).
    init_pid: u32,
    /// Host PID of the listening sshd.
    sshd_pid: u32,
    dir: PathBuf,
    /// `roster.toml`'s `signing_keys` entry.
    signer: Key,
    /// The namespace's /dev/log.
    syslog: UnixDatagram,
    /// Every syslog message received so far, one a line.
    syslog_text: RefCell<String>,
    counter: Cell<u32>,
    // Dropped last: removes the folder the namespace's mounts come from.
    sandbox: Sandbox,
}

impl SshHost {
    /// Builds the namespace and starts sshd in it. Panics (with sshd's log) if it does not
    /// come up.
    pub(super) fn start(setup: Setup) -> SshHost {
        let sandbox = Sandbox::new();
        let dir = sandbox.dir().to_path_buf();
        for sub in [
            "sbin",
            "lib/security",
            "keys",
            "certs",
            "source",
            "sshd/sshd_config.d",
            "ns/etc/pam.d",
            "ns/etc/roster",
            "pam-configs",
        ] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for sub in ["sbin", "lib/security"] {
            fs::set_permissions(dir.join(sub), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let (roster, pam_module) = binaries();
        link_or_copy(roster, &dir.join("sbin/roster"));
        link_or_copy(pam_module, &dir.join("lib/security/pam_roster.so"));

        let signer = keygen(&dir.join("keys/snapshot-signer"));
        let etc = dir.join("ns/etc");
        fs::write(etc.join("nsswitch.conf"), sandbox.nsswitch_conf()).unwrap();
        for (table, mode) in [("passwd", 0o644), ("group", 0o644), ("shadow", 0o640)] {
            let path = etc.join(table);
            fs::copy(fixture(&format!("sshd/{table}")), &path).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        if setup.wiring == Wiring::SshdPamFile {
            fs::write(etc.join("pam.d/sshd"), pam_sshd()).unwrap();
        }
        fs::copy(pam_config_path(), dir.join("pam-configs").join("roster")).unwrap();
        fs::write(
            etc.join("roster/roster.toml"),
            roster_toml(&dir, &signer, &setup.config),
        )
        .unwrap();
        write_sshd_config(&dir, &setup);
        let syslog_path = dir.join("ns/syslog.sock");
        let syslog = UnixDatagram::bind(&syslog_path).expect("bind the syslog socket");
        syslog.set_nonblocking(true).unwrap();
        // Unprivileged senders (`roster principals` runs as the roster user) need write.
        fs::set_permissions(&syslog_path, fs::Permissions::from_mode(0o666)).unwrap();
        let reaper = sandbox.cc("reaper");
        let (unshare, init_pid) = enter_namespace(&dir, &syslog_path, &reaper, setup.wiring);
        let mut host = SshHost {
            unshare,
            init_pid,
            sshd_pid: 0,
            dir,
            signer,
            syslog,
            syslog_text: RefCell::new(String::new()),
            counter: Cell::new(0),
            sandbox,
        };
        if setup.wiring == Wiring::PamAuthUpdate {
            host.pam_auth_update();
        }
        host.sshd_pid = host.start_sshd();
        host
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Host PIDs of the namespace's init and of the listening sshd.
    pub fn pids(&self) -> (u32, u32) {
        (self.init_pid, self.sshd_pid)
    }

    fn unique(&self, stem: &str) -> String {
        let n = self.counter.get();
        self.counter.set(n + 1);
        format!("{stem}-{n}")
    }

    /// A new ed25519 key pair (a user key or a CA).
    pub fn key(&self, name: &str) -> Key {
        keygen(&self.dir.join("keys").join(self.unique(name)))
    }

    /// `key` certified by `ca` as `cert` says; returns the certificate file. Each
    /// certificate gets its own folder so ssh never picks one up next to a key by itself.
    pub fn certify(&self, ca: &Key, key: &Key, cert: &Cert) -> PathBuf {
        let folder = self.dir.join("certs").join(self.unique(&cert.key_id));
        fs::create_dir_all(&folder).unwrap();
        let public = folder.join("key.pub");
        fs::copy(&key.public, &public).unwrap();
        let mut cmd = Command::new("ssh-keygen");
        cmd.arg("-q")
            .arg("-s")
            .arg(&ca.private)
            .args(["-I", &cert.key_id, "-V", &cert.validity])
            .args(["-z", &cert.serial.to_string()]);
        if let Some(principals) = &cert.principals {
            cmd.args(["-n", principals]);
        }
        if cert.host {
            cmd.arg("-h");
        }
        for option in &cert.options {
            cmd.args(["-O", option]);
        }
        command_output(cmd.arg(&public));
        folder.join("key-cert.pub")
    }

    /// Publishes `json` as the source snapshot, signed with the pinned key by `ssh-keygen`.
    pub fn publish(&self, json: &str) {
        let source = self.dir.join("source/snapshot.json");
        let sig = self.dir.join("source/snapshot.json.sig");
        let _ = fs::remove_file(&sig);
        fs::write(&source, json).unwrap();
        command_output(
            Command::new("ssh-keygen")
                .args(["-q", "-Y", "sign", "-n", "roster-snapshot", "-f"])
                .arg(&self.signer.private)
                .arg(&source),
        );
        assert!(
            sig.is_file(),
            "ssh-keygen -Y sign wrote no {}",
            sig.display()
        );
    }

    /// Publishes a snapshot signed elsewhere: `json` and its `.sig` beside it, as
    /// `roster snapshot build` writes them. The host must pin their signer
    /// ([`RosterConfig::signing_key`]).
    pub fn publish_signed(&self, json: &Path) {
        let sig = PathBuf::from(format!("{}.sig", path_str(json)));
        fs::copy(json, self.dir.join("source/snapshot.json")).unwrap();
        fs::copy(&sig, self.dir.join("source/snapshot.json.sig")).unwrap();
    }

    /// `roster sync` in the namespace, with the host's `/etc/roster/roster.toml`. It runs
    /// with a `/proc` of the namespace's PID namespace (in a mount namespace of its own,
    /// which shares every other mount): offboarding reads PIDs from `/proc` and signals
    /// them, and the namespace's `/proc` is otherwise the host's, whose PIDs mean other
    /// processes (or none) inside the PID namespace.
    ///
    /// It runs with only the capabilities the shipped systemd unit gives the agent.
    pub fn sync(&self) -> Output {
        self.sync_under(&agent_setpriv())
    }

    /// [`SshHost::sync`] under `setpriv`, a command prefix that sets its privileges.
    pub fn sync_under(&self, setpriv: &str) -> Output {
        self.run(&format!(
            "exec unshare --mount --propagation private /bin/sh -c \
             'mount -t proc roster-proc /proc && exec {setpriv} roster --config /etc/roster/roster.toml sync'"
        ))
    }

    /// Publishes `json` and syncs it; panics unless the sync succeeds.
    #[track_caller]
    pub fn install(&self, json: &str) {
        self.publish(json);
        let out = self.sync();
        assert_eq!(out.status, 0, "roster sync failed:\n{out:#?}");
    }

    /// Replaces `/etc/roster/roster.toml`.
    pub fn set_config(&self, config: &RosterConfig) {
        let staged = self.dir.join(self.unique("roster.toml"));
        fs::write(&staged, roster_toml(&self.dir, &self.signer, config)).unwrap();
        let out = self.run(&format!("cat {} > /etc/roster/roster.toml", quote(&staged)));
        assert_eq!(out.status, 0, "{out:#?}");
    }

    /// Runs `script` with /bin/sh as root in the namespace.
    pub fn run(&self, script: &str) -> Output {
        self.nsenter(&["/bin/sh", "-c", script])
    }

    /// Gives `user` (as NSS resolves it) a home holding `.ssh/authorized_keys` with `key`.
    pub fn authorize(&self, user: &str, key: &Key) {
        let out = self.run(&format!(
            "set -e\nentry=$(getent passwd {u})\n\
             owner=$(echo \"$entry\" | cut -d: -f3,4)\nhome=$(echo \"$entry\" | cut -d: -f6)\n\
             install -d -o \"${{owner%:*}}\" -g \"${{owner#*:}}\" -m 0700 \"$home\" \"$home/.ssh\"\n\
             install -o \"${{owner%:*}}\" -g \"${{owner#*:}}\" -m 0600 {k} \"$home/.ssh/authorized_keys\"",
            u = sh_quote(user),
            k = quote(&key.public),
        ));
        assert_eq!(out.status, 0, "installing authorized_keys: {out:#?}");
    }

    /// Logs in as `user` with `key` (and `cert`, if any) and runs `command`.
    pub fn ssh(&self, user: &str, key: &Key, cert: Option<&Path>, command: &str) -> Login {
        let mut args: Vec<String> = vec![
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-i".into(),
            path_str(&key.private).into(),
        ];
        if let Some(cert) = cert {
            args.push("-o".into());
            args.push(format!("CertificateFile={}", path_str(cert)));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.observe(&ssh_argv(user, &args, command))
    }

    /// Runs `argv` (an ssh client, or a script around one) in the namespace and returns
    /// what it printed with what sshd, syslog and roster's events recorded meanwhile.
    pub fn observe<S: AsRef<str>>(&self, argv: &[S]) -> Login {
        let log = self.dir.join("sshd/sshd.log");
        let (log_from, events_from) = (file_len(&log), self.events_mark());
        let syslog_from = self.syslog().len();
        let out = self.nsenter(argv);
        self.wait_for_connections_to_end();
        let syslog = self.syslog()[syslog_from..].to_owned();
        let login = Login {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            sshd_log: read_from(&log, log_from),
            events: self.events_since(events_from),
            syslog,
        };
        // `ROSTER_SHOW_LOGINS=1 cargo test --test system sshd_login:: -- --nocapture` shows them all.
        if std::env::var_os("ROSTER_SHOW_LOGINS").is_some() {
            let argv: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
            eprintln!("=== {argv:?}\n{login}");
        }
        login
    }

    /// Every syslog message sent in the namespace so far, one a line.
    pub fn syslog(&self) -> String {
        let mut text = self.syslog_text.borrow_mut();
        let mut buf = vec![0; 65536];
        loop {
            match self.syslog.recv(&mut buf) {
                Ok(n) => {
                    let message = String::from_utf8_lossy(&buf[..n]);
                    writeln!(text, "{}", message.trim_end_matches(['\n', '\0'])).unwrap();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading the syslog socket: {e}"),
            }
        }
        text.clone()
    }

    /// sshd's whole log so far.
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd/sshd.log")).unwrap_or_default()
    }

    /// Runs `argv` in the namespace (mount, pid and network), with a clean environment.
    fn nsenter<S: AsRef<str>>(&self, argv: &[S]) -> Output {
        let name = self.unique("cmd");
        let (stdout, stderr) = (
            self.dir.join(format!("{name}.out")),
            self.dir.join(format!("{name}.err")),
        );
        let mut child = Command::new("/usr/bin/nsenter")
            .args(["--target", &self.init_pid.to_string()])
            .args(["--mount", "--pid", "--net", "--"])
            .args(argv.iter().map(AsRef::as_ref))
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", "/root")
            .env("LANG", "C")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn nsenter");
        // Drain /dev/log meanwhile: its queue holds only `net.unix.max_dgram_qlen` (10)
        // messages, and a sender (sshd's PAM modules, sudo) blocks when it is full.
        let Some(status) = wait_timeout(&mut child, COMMAND_TIMEOUT, || drop(self.syslog())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{:?} in the namespace timed out", argv[0].as_ref());
        };
        let out = to_output(
            status,
            fs::read(&stdout).unwrap(),
            fs::read(&stderr).unwrap(),
        );
        let _ = fs::remove_file(stdout);
        let _ = fs::remove_file(stderr);
        out
    }

    /// Runs `pam-auth-update --package` as the package's postinst would (its debconf and
    /// state writes land in the /var overlay) and checks roster's lines landed.
    fn pam_auth_update(&self) {
        let out = self.run(
            "DEBIAN_FRONTEND=noninteractive pam-auth-update --package && \
             grep -h pam_roster.so /etc/pam.d/common-account /etc/pam.d/common-session",
        );
        assert!(
            out.status == 0 && out.stdout.lines().count() == 2,
            "pam-auth-update did not add roster's account and session lines: {out:#?}"
        );
    }

    /// Starts sshd in the namespace and waits until it listens; returns its host PID.
    fn start_sshd(&self) -> u32 {
        let sshd = self.dir.join("sshd");
        let pid_file = sshd.join("sshd.pid");
        // The subshell reads its host PID (/proc is the host's) and becomes sshd. sshd's
        // parent is then the namespace's init, so it dies with the namespace.
        let script = format!(
            "( read -r pid rest </proc/self/stat; echo \"$pid\" >{pid}.tmp; mv {pid}.tmp {pid}\n\
               exec /usr/sbin/sshd -D -e -f {config} -E {log} ) </dev/null >{stderr} 2>&1 &",
            pid = quote(&pid_file),
            config = quote(&sshd.join("sshd_config")),
            log = quote(&sshd.join("sshd.log")),
            stderr = quote(&sshd.join("sshd.stderr")),
        );
        let out = self.run(&script);
        assert_eq!(out.status, 0, "starting sshd: {out:#?}");
        let listening = format!("Server listening on 127.0.0.1 port {PORT}.");
        let deadline = Instant::now() + SSHD_TIMEOUT;
        loop {
            let log = fs::read_to_string(sshd.join("sshd.log")).unwrap_or_default();
            if log.contains(&listening) {
                break;
            }
            let pid: Option<u32> = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok());
            // An sshd that exited is a zombie until the namespace's init reaps it.
            let exited = pid.is_some_and(|p| process_state(p).is_none_or(|s| s == 'Z'));
            assert!(
                !exited && Instant::now() < deadline,
                "sshd did not start listening (exited: {exited}).\nlog:\n{log}\nstderr:\n{}",
                fs::read_to_string(sshd.join("sshd.stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits until the listening sshd has no children left: every connection process (and
    /// with it PAM's close_session) has finished, so its log lines and events are written.
    fn wait_for_connections_to_end(&self) {
        let deadline = Instant::now() + SSHD_TIMEOUT;
        while !children(self.sshd_pid).is_empty() {
            self.syslog(); // A full /dev/log queue would block them (see `nsenter`).
            assert!(
                Instant::now() < deadline,
                "sshd's connection processes did not exit within {SSHD_TIMEOUT:?}:\n{}",
                self.sshd_log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        // Killing the init of a PID namespace kills every process in it; unshare (which
        // waits for init) exits only after that, so nothing of the namespace survives the
        // wait. If unshare has already exited, init is gone and its PID may be reused:
        // kill nothing.
        if let Ok(None) = self.unshare.try_wait() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.init_pid.to_string()])
                .status();
        }
        let _ = self.unshare.wait();
    }
}

/// `ssh` as every login runs it: no configuration file, no known hosts, errors only, then
/// `args` (identities) and `-p PORT user@127.0.0.1 command`.
pub fn ssh_argv(user: &str, args: &[&str], command: &str) -> Vec<String> {
    let mut argv: Vec<String> = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
    ]
    .map(String::from)
    .into();
    argv.extend(args.iter().map(|a| a.to_string()));
    argv.extend([
        "-p".into(),
        PORT.to_string(),
        format!("{user}@127.0.0.1"),
        command.into(),
    ]);
    argv
}

/// The built `roster` and `libpam_roster.so`, linked (or copied) once per test binary into
/// a root-owned folder, so a concurrent rebuild cannot change them under a running test.
fn binaries() -> &'static (PathBuf, PathBuf) {
    static BINARIES: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    BINARIES.get_or_init(|| {
        let artifacts = artifacts();
        let pam = target_dir().join("debug/libpam_roster.so");
        assert!(
            pam.is_file(),
            "cargo build did not produce {}",
            pam.display()
        );
        (artifacts.roster.clone(), pam)
    })
}

fn link_or_copy(from: &Path, to: &Path) {
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

fn keygen(path: &Path) -> Key {
    Key::generate(
        path.parent().unwrap(),
        path.file_name().unwrap().to_str().unwrap(),
        "ed25519",
    )
}

/// Runs `cmd` outside the namespace; panics unless it succeeds.
fn command_output(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let out = to_output(out.status, out.stdout, out.stderr);
    assert_eq!(out.status, 0, "{cmd:?} failed:\n{out:#?}");
    out
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn quote(p: &Path) -> String {
    sh_quote(path_str(p))
}

fn toml_str(s: &str) -> String {
    super::json_str(s) // A JSON string without control characters is a TOML basic string.
}

fn roster_toml(dir: &Path, signer: &Key, c: &RosterConfig) -> String {
    let labels: Vec<String> = c.labels.iter().map(|l| toml_str(l)).collect();
    format!(
        "[source]\nurl = {}\nsigning_keys = [{}]\n\n\
         [host]\nname = {}\nlabels = [{}]\n\n\
         [sync]\nmax_age = {}\noffboard_grace = {}\n\n\
         [certificates]\nmax_lifetime = {}\nrequire_host_binding = {}\n\n\
         [paths]\nstate_dir = {}\n",
        toml_str(&format!(
            "file://{}",
            path_str(&dir.join("source/snapshot.json"))
        )),
        toml_str(
            &c.signing_key
                .clone()
                .unwrap_or_else(|| signer.public_line())
        ),
        toml_str(&c.host_name),
        labels.join(", "),
        toml_str(&c.max_age),
        toml_str(&c.offboard_grace),
        toml_str(&c.max_lifetime),
        c.require_host_binding,
        toml_str(STATE_DIR),
    )
}

/// `debian/pam-configs/roster`, the pam-auth-update profile the package installs.
fn pam_config_path() -> PathBuf {
    super::workspace_dir().join("debian/pam-configs/roster")
}

/// The `Account:` and `Session:` lines of `debian/pam-configs/roster`, as
/// `account …` and `session …` lines of a PAM service file.
fn pam_config_lines() -> (String, String) {
    let path = pam_config_path();
    let profile =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    // pam-auth-update's format: a `Field:` line, then the field's lines, indented.
    let block = |field: &str| -> String {
        let mut lines = profile
            .lines()
            .skip_while(|l| l.trim_end() != field)
            .skip(1)
            .take_while(|l| l.starts_with([' ', '\t']));
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{}: no {field} line", path.display()));
        assert!(
            lines.next().is_none(),
            "{}: several {field} lines",
            path.display()
        );
        line.trim().to_owned()
    };
    (
        format!("account {}", block("Account:")),
        format!("session {}", block("Session:")),
    )
}

/// The host's stock `/etc/pam.d/sshd` with roster's lines (see [`Wiring::SshdPamFile`]).
fn pam_sshd() -> String {
    let stock = fs::read_to_string("/etc/pam.d/sshd").expect("read /etc/pam.d/sshd");
    let (account_line, session_line) = pam_config_lines();
    let mut out = String::new();
    let (mut account, mut session) = (false, false);
    for line in stock.lines() {
        if line.trim() == "@include common-account" {
            writeln!(out, "{account_line}").unwrap();
            account = true;
        }
        writeln!(out, "{line}").unwrap();
        if line.trim() == "@include common-session" {
            writeln!(out, "{session_line}").unwrap();
            session = true;
        }
    }
    assert!(
        account && session,
        "/etc/pam.d/sshd is not Debian's stock file (no @include common-account or \
         common-session):\n{stock}"
    );
    out
}

/// `sshd/sshd_config`: Debian's pristine configuration with its `Include` pointed at the
/// sandbox's drop-in folder, which holds the test's lines and roster's drop-in.
fn write_sshd_config(dir: &Path, setup: &Setup) {
    let sshd = dir.join("sshd");
    let drop_ins = sshd.join("sshd_config.d");
    let stock = fs::read_to_string("/usr/share/openssh/sshd_config")
        .expect("read Debian's stock /usr/share/openssh/sshd_config (openssh-server)");
    let include = "Include /etc/ssh/sshd_config.d/*.conf";
    assert!(
        stock.lines().any(|l| l == include),
        "Debian's sshd_config has no line {include:?}:\n{stock}"
    );
    let config = stock.replace(include, &format!("Include {}/*.conf", path_str(&drop_ins)));
    fs::write(sshd.join("sshd_config"), config).unwrap();

    let host_key = keygen(&sshd.join("ssh_host_ed25519_key"));
    let mut test = format!(
        "# The test host: loopback only, its own host key, no pid file. VERBOSE adds\n\
         # `Failed publickey for U … ID <key id> (serial N) CA …` for each refused key.\n\
         ListenAddress 127.0.0.1\nPort {PORT}\nHostKey {}\nPidFile none\nLogLevel VERBOSE\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\n",
        path_str(&host_key.private)
    );
    for line in &setup.sshd_config {
        writeln!(test, "{line}").unwrap();
    }
    fs::write(drop_ins.join("00-test.conf"), test).unwrap();
    if setup.wiring != Wiring::Stock {
        fs::write(drop_ins.join("roster.conf"), roster_drop_in()).unwrap();
    }
}

/// The repository's sshd drop-in, `debian/sshd_config.d/roster.conf`.
fn roster_drop_in() -> String {
    let path = super::workspace_dir().join("debian/sshd_config.d/roster.conf");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Starts the namespace with `reaper` as its init; returns its `unshare` and the host PID
/// of its init once every mount is in place.
fn enter_namespace(dir: &Path, syslog: &Path, reaper: &Path, wiring: Wiring) -> (Child, u32) {
    let ns = dir.join("ns");
    let q = |p: &Path| quote(p);
    let mut s = String::from("set -eu\nip link set lo up\n");
    // Read-only overlays: the target folders need new files, which a bind mount cannot add.
    let mut read_only = vec![("lib", SYSTEM_LIB_DIR), ("sbin", "/usr/sbin")];
    if wiring == Wiring::PamAuthUpdate {
        read_only.push(("pam-configs", "/usr/share/pam-configs"));
    }
    for (lower, target) in read_only {
        writeln!(
            s,
            "mount -t overlay roster-{lower} -o ro,lowerdir={}:{target} {target}",
            q(&dir.join(lower))
        )
        .unwrap();
    }
    for (name, target) in [("etc", "/etc"), ("var", "/var"), ("home", "/home")] {
        let (upper, work) = (ns.join(name), ns.join(format!("{name}.work")));
        fs::create_dir_all(&upper).unwrap();
        fs::create_dir_all(&work).unwrap();
        writeln!(
            s,
            "mount -t overlay roster-{} -o lowerdir={target},upperdir={},workdir={} {target}",
            name,
            q(&upper),
            q(&work)
        )
        .unwrap();
    }
    // /dev is an overlay too, so /dev/log can be a link to the host's collecting socket
    // (PAM modules and `roster principals` log to syslog; nothing reaches the host's
    // logger). The overlay hides /dev's own submounts: bind them back from a recursive
    // bind of the original taken first.
    let host_dev = ns.join("host-dev");
    let (upper, work) = (ns.join("dev"), ns.join("dev.work"));
    for d in [&host_dev, &upper, &work] {
        fs::create_dir_all(d).unwrap();
    }
    writeln!(
        s,
        "mount --rbind /dev {hd}\n\
         mount -t overlay roster-dev -o lowerdir=/dev,upperdir={},workdir={} /dev\n\
         for sub in pts shm mqueue hugepages; do\n\
         \tif mountpoint -q {hd}/$sub; then mount --rbind {hd}/$sub /dev/$sub; fi\n\
         done\n\
         umount --lazy {hd}\n\
         rm -f /dev/log\nln -s {} /dev/log",
        q(&upper),
        q(&work),
        q(syslog),
        hd = q(&host_dev),
    )
    .unwrap();
    writeln!(
        s,
        "mount -t tmpfs -o mode=0755,size=16m roster-run /run\n\
         install -d -m 0755 /run/sshd\n\
         {private_tmp}\
         rm -rf {STATE_DIR}\ninstall -d -m 0755 {STATE_DIR}\n\
         rm -rf /var/log/roster\ninstall -d -m 0750 /var/log/roster\n\
         read -r pid rest </proc/self/stat\n\
         echo \"$pid\" >{ready}.tmp\nmv {ready}.tmp {ready}\n\
         exec {reaper}",
        ready = q(&ns.join("init.pid")),
        reaper = q(reaper),
        private_tmp = super::private_tmp(dir),
    )
    .unwrap();
    let stderr = ns.join("init.stderr");
    let mut child = Command::new("/usr/bin/unshare")
        .args(["--mount", "--propagation", "private", "--pid", "--fork"])
        .args(["--kill-child", "--net", "--", "/bin/sh", "-c", &s])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("spawn unshare");
    let deadline = Instant::now() + SSHD_TIMEOUT;
    loop {
        if let Ok(pid) = fs::read_to_string(ns.join("init.pid")) {
            return (child, pid.trim().parse().expect("init PID"));
        }
        let exited = child.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "setting up the sshd namespace failed ({exited:?}):\n{}",
                fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Host PIDs of the live (not zombie) children of `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue; // Exited meanwhile.
        };
        // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if state != Some("Z") && ppid == Some(&parent.to_string()) {
            found.push(pid);
        }
    }
    found
}

/// The state letter of host PID `pid` (`R`, `S`, `Z`…), if it exists.
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether a process with host PID `pid` exists (zombies included).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether host PID `pid` is a live process: it exists and is not a zombie (one that
/// ended and that its parent has not reaped yet).
pub fn live(pid: u32) -> bool {
    process_state(pid).is_some_and(|s| s != 'Z')
}

/// The host PIDs of the live processes whose real uid is `uid`.
pub fn live_processes_of(uid: u32) -> Vec<u32> {
    let real_uid = |pid: u32| {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let ids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
        ids.split_whitespace().next()?.parse::<u32>().ok()
    };
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&pid| real_uid(pid) == Some(uid) && live(pid))
        .collect()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn read_from(path: &Path, offset: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = (offset as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

// ---- sessions kept open, and the events file ----------------------------------------

impl SshHost {
    /// Where roster's events file ends now: [`SshHost::events_since`] reads what follows.
    pub fn events_mark(&self) -> Mark {
        Mark::of(&self.events_path())
    }

    /// Everything roster appended to its events file after `mark`.
    pub fn events_since(&self, mark: Mark) -> Events {
        Events::read_since(&self.events_path(), mark)
    }

    /// Every event roster wrote on this host.
    pub fn events(&self) -> Events {
        self.events_since(Mark::START)
    }

    /// The events file, seen from outside: what the namespace writes under /var lands in
    /// the overlay's upper layer.
    fn events_path(&self) -> PathBuf {
        self.dir().join("ns").join(EVENTS.trim_start_matches('/'))
    }

    /// Starts `ssh user@… command` in the background; see [`Background`].
    pub fn background(
        &self,
        name: &str,
        user: &str,
        key: &Key,
        cert: &Path,
        command: &str,
    ) -> Background {
        let dir = self.dir().join(name);
        fs::create_dir_all(&dir).unwrap();
        let identity = [
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            key.private.to_str().unwrap(),
            "-o",
            &format!("CertificateFile={}", cert.display()),
        ];
        let argv: Vec<String> = ssh_argv(user, &identity, command)
            .iter()
            .map(|a| sh_quote(a))
            .collect();
        let q = |f: &str| sh_quote(dir.join(f).to_str().unwrap());
        let out = self.run(&format!(
            "( {ssh} </dev/null >{out} 2>{err}; rc=$?; t=$(date +%s%N); \
               echo \"$rc $t\" >{done}.tmp; mv {done}.tmp {done} ) </dev/null >/dev/null 2>&1 &",
            ssh = argv.join(" "),
            out = q("stdout"),
            err = q("stderr"),
            done = q("done"),
        ));
        assert_eq!(out.status, 0, "{out:#?}");
        Background { dir }
    }
}

/// The login succeeded and its command printed exactly `stdout`.
#[track_caller]
pub fn assert_session(login: &Login, stdout: &str) {
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (0, stdout),
        "the login should have succeeded:\n{login}"
    );
}

/// An ssh client running in the namespace: its output so far, and once it exited, its
/// exit status and when (nanoseconds since the epoch, the namespace's clock is the host's).
pub struct Background {
    dir: PathBuf,
}

impl Background {
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// What the session printed so far, both streams, for a failure message.
    pub fn transcript(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr())
    }

    /// Whether ssh has exited.
    pub fn done(&self) -> bool {
        self.dir.join("done").exists()
    }

    /// Waits until the session printed `line` (a whole line).
    #[track_caller]
    pub fn wait_for_line(&self, host: &SshHost, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.stdout().lines().any(|l| l == line) {
            host.syslog(); // Drains /dev/log, whose full queue would block the session.
            assert!(
                Instant::now() < deadline && !self.done(),
                "the session did not print {line:?}:\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for ssh to exit; returns its status and exit time.
    #[track_caller]
    pub fn wait(&self, host: &SshHost, timeout: Duration) -> (i32, u128) {
        let deadline = Instant::now() + timeout;
        loop {
            host.syslog(); // Drains /dev/log, whose full queue would block the session.
            if let Ok(text) = fs::read_to_string(self.dir.join("done")) {
                let mut fields = text.split_whitespace();
                let rc = fields.next().unwrap().parse().unwrap();
                let t = fields.next().unwrap().parse().unwrap();
                return (rc, t);
            }
            assert!(
                Instant::now() < deadline,
                "ssh did not exit within {timeout:?}:\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
