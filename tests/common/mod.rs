//! Harness for tests that load the built NSS module into the real glibc.
//!
//! Every system-level change happens inside `unshare --mount --propagation private`, so it
//! vanishes with the child process; the machine's own /etc, /usr/lib, /var, /run and /tmp are
//! never written (in each namespace /etc and /var are overlays whose upper layers are in the
//! sandbox, /run and /tmp are tmpfs; `scripts/leak-check.sh` checks it around `make test`). A [`Sandbox`] is a root-owned temporary folder holding the module copy, the test
//! `nsswitch.conf`, the local tables, compiled snapshots and compiled C helpers; each
//! [`Sandbox::run`] builds a fresh namespace from it and runs a shell script there.
//!
//! The tests need root and refuse to run (they fail, never skip) without it, or when a
//! caching daemon would answer lookups from outside the namespace.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

pub mod events;
pub mod host;
#[path = "../support/https.rs"]
pub mod https;
pub mod key;
pub mod process;
pub mod scim;
pub mod source;
pub mod sshd;

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The directory glibc searches for `libnss_roster.so.2` when it is not in ld.so.cache.
const SYSTEM_LIB_DIR: &str = "/usr/lib/x86_64-linux-gnu";
const MODULE_FILE: &str = "libnss_roster.so.2";
/// Longest a namespace run may take before its processes are killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Root of the workspace (the `roster` package is the workspace root).
pub fn workspace_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    workspace_dir().join("tests/fixtures").join(name)
}

/// `setpriv` arguments that run a command as root with only the capabilities
/// `debian/systemd/roster.service` leaves the agent (its `CapabilityBoundingSet`),
/// so that the tests' syncs and offboardings prove the unit's set is enough.
pub fn agent_setpriv() -> String {
    let unit = fs::read_to_string(workspace_dir().join("debian/systemd/roster.service")).unwrap();
    let caps: Vec<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit sets CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| format!(",+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    format!("setpriv --bounding-set=-all{}", caps.concat())
}

pub fn read_fixture(name: &str) -> String {
    fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Built artifacts the tests load.
pub struct Artifacts {
    /// `target/debug/roster`, the CLI that compiles snapshots.
    pub roster: PathBuf,
    /// `target/debug/libnss_roster.so`.
    pub nss_module: PathBuf,
}

/// The target directory of this `cargo test` run: `CARGO_TARGET_TMPDIR` is `<target>/tmp`.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf()
}

fn cargo_build(args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    // `cargo test` runs us with the variables it sets for a crate (CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, …). ring's build script declares rerun-if-env-changed on those, so
    // passing them on would rebuild ring and everything above it (rustls, ureq, roster)
    // here, and again at the next `cargo test`: about 15 s each way on 2 cores.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR"
            )
        {
            command.env_remove(name.as_ref());
        }
    }
    let out = command
        .arg("build")
        .args(args)
        .current_dir(workspace_dir())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks the preconditions and builds the workspace, once per test binary.
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| {
        process::require_root();
        refuse_caching_daemons();
        let target = target_dir();
        cargo_build(&["--workspace", "--target-dir", target.to_str().unwrap()]);
        let debug = target.join("debug");
        let artifacts = Artifacts {
            roster: debug.join("roster"),
            // scripts/sanitize.sh runs the module-in-glibc tests with a build under
            // AddressSanitizer or ThreadSanitizer.
            nss_module: std::env::var_os("ROSTER_TEST_NSS_MODULE")
                .map_or_else(|| debug.join("libnss_roster.so"), PathBuf::from),
        };
        for path in [&artifacts.roster, &artifacts.nss_module] {
            assert!(
                path.is_file(),
                "cargo build did not produce {}",
                path.display()
            );
        }
        artifacts
    })
}

/// The NSS module built with the `test-panic` feature, in its own target directory.
pub fn panic_module() -> &'static Path {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        artifacts();
        let target = target_dir().join("test-panic");
        cargo_build(&[
            "-p",
            "nss-roster",
            "--features",
            "test-panic",
            "--target-dir",
            target.to_str().unwrap(),
        ]);
        let module = target.join("debug/libnss_roster.so");
        assert!(module.is_file(), "no {}", module.display());
        module
    })
}

/// nscd/unscd/sssd would answer lookups from the host's tables, outside our namespace,
/// making tests pass or fail for the wrong reason.
fn refuse_caching_daemons() {
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let pid = entry.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(comm) = fs::read_to_string(entry.path().join("comm")) else {
            continue; // The process exited meanwhile.
        };
        let comm = comm.trim_end();
        assert!(
            !(comm == "nscd" || comm == "unscd" || comm.starts_with("sssd")),
            "{comm} (pid {}) is running: it would answer NSS lookups from outside the test \
             namespace. Stop it before running these tests.",
            pid.to_string_lossy()
        );
    }
}

/// What a command run in the namespace printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// Exit code, or 128 + signal number when killed by a signal (as the shell reports it).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One step of [`Sandbox::run_steps`].
#[derive(Debug)]
pub struct Step {
    pub script: String,
    /// Exit code, or 128 + signal number (as the shell reports it).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// Wall-clock time the step took.
    pub elapsed: Duration,
}

/// A compiled snapshot and what `roster snapshot compile` printed about it.
pub struct Compiled {
    pub path: PathBuf,
    pub summary: String,
}

/// A root-owned temporary folder from which namespaces are built; removed on drop.
pub struct Sandbox {
    dir: PathBuf,
    /// NSS sources for the `passwd` and `group` databases.
    sources: String,
    /// Whether the fixture passwd/group are bound over /etc (otherwise the host's are used).
    local_tables: bool,
    /// Installed as /var/lib/roster/snapshot at the start of each run.
    snapshot: Option<PathBuf>,
    counter: Cell<u32>,
}

impl Sandbox {
    /// A sandbox with the fixture local tables, `files roster` sources and no snapshot.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let artifacts = artifacts();
        let dir = std::env::temp_dir().join(format!(
            "roster-nss-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // Left over by a killed earlier run with our pid.
        let _ = roster::install::remove_tree(&dir);
        for sub in ["lib", "etc"] {
            fs::create_dir_all(dir.join(sub)).expect("create sandbox dir");
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let sandbox = Sandbox {
            dir,
            sources: "files roster".into(),
            local_tables: true,
            snapshot: None,
            counter: Cell::new(0),
        };
        sandbox.set_module(&artifacts.nss_module);
        for table in ["passwd", "group", "shells"] {
            fs::copy(fixture(table), sandbox.dir.join("etc").join(table)).unwrap();
        }
        sandbox
    }

    /// A sandbox with `json` compiled against the fixture tables and installed.
    pub fn with_snapshot(json: &str) -> Self {
        let mut sandbox = Sandbox::new();
        let compiled = sandbox.compile(json);
        sandbox.install(&compiled.path);
        sandbox
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn next(&self) -> u32 {
        let n = self.counter.get();
        self.counter.set(n + 1);
        n
    }

    /// Loads the `test-panic` build of the module instead of the normal one.
    pub fn use_panic_module(&mut self) {
        self.set_module(panic_module());
    }

    fn set_module(&self, module: &Path) {
        fs::copy(module, self.dir.join("lib").join(MODULE_FILE)).expect("copy NSS module");
    }

    /// Sets the NSS sources of `passwd` and `group`, e.g. `"roster"` to reach the module
    /// without `files` answering (or failing) first.
    pub fn set_sources(&mut self, sources: &str) {
        self.sources = sources.into();
    }

    /// Leaves the host's own /etc/passwd and /etc/group in place.
    pub fn use_host_tables(&mut self) {
        self.local_tables = false;
    }

    /// Installs `compiled` as /var/lib/roster/snapshot (root:root 0644) in later runs.
    pub fn install(&mut self, compiled: &Path) {
        self.snapshot = Some(compiled.to_path_buf());
    }

    /// Installs these bytes as the snapshot in later runs.
    pub fn install_bytes(&mut self, bytes: &[u8]) {
        let path = self.dir.join(format!("installed-{}", self.next()));
        fs::write(&path, bytes).unwrap();
        self.install(&path);
    }

    /// Compiles `json` against the fixture passwd/group/shells; panics if it is rejected.
    pub fn compile(&self, json: &str) -> Compiled {
        let etc = self.dir.join("etc");
        self.compile_against(json, &etc.join("passwd"), &etc.join("group"))
    }

    /// Compiles `json` against the given local tables (and the fixture shells).
    pub fn compile_against(&self, json: &str, passwd: &Path, group: &Path) -> Compiled {
        let n = self.next();
        let (path, out) = self.try_compile(json, passwd, group, n);
        assert_eq!(
            out.status, 0,
            "roster snapshot compile rejected the snapshot:\n{out:#?}"
        );
        Compiled {
            path,
            summary: out.stdout + &out.stderr,
        }
    }

    /// Runs `roster snapshot compile`; returns the output path and what it printed.
    fn try_compile(&self, json: &str, passwd: &Path, group: &Path, n: u32) -> (PathBuf, Output) {
        let source = self.dir.join(format!("source-{n}.json"));
        let output = self.dir.join(format!("snapshot-{n}"));
        fs::write(&source, json).unwrap();
        let out = Command::new(&artifacts().roster)
            .args(["snapshot", "compile"])
            .arg(&source)
            .arg("--output")
            .arg(&output)
            .arg("--passwd")
            .arg(passwd)
            .arg("--group")
            .arg(group)
            .arg("--shells")
            .arg(self.dir.join("etc/shells"))
            .output()
            .expect("run roster snapshot compile");
        (output, to_output(out.status, out.stdout, out.stderr))
    }

    /// Compiles `tests/c/<name>.c` into the sandbox and returns the executable's path.
    pub fn cc(&self, name: &str) -> PathBuf {
        self.cc_file(&workspace_dir().join(format!("tests/c/{name}.c")))
    }

    /// Compiles the C program at `source` into the sandbox and returns the executable's
    /// path (named after the source file).
    pub fn cc_file(&self, source: &Path) -> PathBuf {
        let exe = self
            .dir
            .join(source.file_stem().expect("C source file name"));
        // scripts/sanitize.sh: the C programs carry the sanitizer's runtime.
        let sanitizer_flags = std::env::var("ROSTER_TEST_CFLAGS").unwrap_or_default();
        let out = Command::new("cc")
            .args(["-O1", "-Wall", "-Werror", "-pthread"])
            .args(sanitizer_flags.split_whitespace())
            .arg("-o")
            .arg(&exe)
            .arg(source)
            .output()
            .expect("run cc");
        assert!(
            out.status.success(),
            "cc {}:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    }

    /// `getent ARGS` in a fresh namespace.
    pub fn getent(&self, args: &str) -> Output {
        self.run(&format!("exec getent {args}"))
    }

    /// Runs `script` with /bin/sh in a fresh private mount namespace where glibc loads the
    /// module (see the module docs). Panics if the namespace cannot be set up.
    pub fn run(&self, script: &str) -> Output {
        let n = self.next();
        let run = self.dir.join(format!("run-{n}"));
        for sub in ["etc", "etc.work", "var", "var.work"] {
            fs::create_dir_all(run.join(sub)).unwrap();
        }
        fs::write(self.dir.join("etc/nsswitch.conf"), self.nsswitch_conf()).unwrap();
        let ready = run.join("ready");
        let setup = self.setup_script(&run, &ready);
        let (stdout, stderr) = (run.join("stdout"), run.join("stderr"));
        let mut child = Command::new("/usr/bin/unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(&setup)
            .arg("roster-sandbox")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            // Own process group, so a hung run can be killed with everything it started.
            .process_group(0)
            .spawn()
            .expect("spawn unshare");
        let Some(status) = process::wait_timeout(&mut child, RUN_TIMEOUT, || {}) else {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "namespace run timed out after {RUN_TIMEOUT:?}: {script}\nstderr:\n{}",
                fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        let out = to_output(
            status,
            fs::read(&stdout).unwrap(),
            fs::read(&stderr).unwrap(),
        );
        assert!(
            ready.exists(),
            "setting up the test namespace failed (unshare or a mount):\n{out:#?}"
        );
        out
    }

    /// Runs `steps` one after another in one namespace (so what one step installs, the
    /// next sees) and returns each step's status, output and duration. Each step is a
    /// /bin/sh script of its own with stdin from /dev/null; a step that starts a background
    /// process must redirect its output away from the step's.
    pub fn run_steps<S: AsRef<str>>(&self, steps: &[S]) -> Vec<Step> {
        let n = self.next();
        let dir = self.dir.join(format!("steps-{n}"));
        fs::create_dir_all(&dir).unwrap();
        let q = |p: &Path| sh_quote(p.to_str().expect("UTF-8 path"));
        let mut script = String::new();
        for (i, step) in steps.iter().enumerate() {
            let file = dir.join(format!("{i}.sh"));
            fs::write(&file, step.as_ref()).unwrap();
            let at = |ext: &str| q(&dir.join(format!("{i}.{ext}")));
            writeln!(
                script,
                "t0=$(date +%s%N)\n/bin/sh {} >{} 2>{} </dev/null\necho $? >{}\n\
                 echo $(($(date +%s%N) - t0)) >{}",
                q(&file),
                at("out"),
                at("err"),
                at("rc"),
                at("ns"),
            )
            .unwrap();
        }
        let out = self.run(&script);
        assert_eq!(out.status, 0, "running the steps failed: {out:#?}");
        (0..steps.len())
            .map(|i| {
                let read = |ext: &str| {
                    fs::read_to_string(dir.join(format!("{i}.{ext}")))
                        .unwrap_or_else(|e| panic!("step {i} did not run ({ext}: {e})"))
                };
                let number = |ext: &str| -> u64 {
                    read(ext).trim().parse().unwrap_or_else(|e| {
                        panic!("step {i}: bad .{ext} file {:?}: {e}", read(ext))
                    })
                };
                Step {
                    script: steps[i].as_ref().to_owned(),
                    status: number("rc") as i32,
                    stdout: read("out"),
                    stderr: read("err"),
                    elapsed: Duration::from_nanos(number("ns")),
                }
            })
            .collect()
    }

    /// The host's nsswitch.conf with `passwd` and `group` served by `self.sources`.
    fn nsswitch_conf(&self) -> String {
        let host = fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        let mut conf = String::new();
        for line in host.lines() {
            match line.split(':').next().unwrap_or("").trim() {
                // initgroups falls back to the group line when absent.
                "passwd" | "group" | "initgroups" => {}
                _ => writeln!(conf, "{line}").unwrap(),
            }
        }
        writeln!(conf, "passwd: {0}\ngroup: {0}", self.sources).unwrap();
        conf
    }

    /// Mounts the module, private /etc, /var, /run and /tmp, nsswitch.conf and the local
    /// tables, installs the snapshot in /var/lib/roster, touches `ready`, then execs the test
    /// script (`$1`).
    fn setup_script(&self, run: &Path, ready: &Path) -> String {
        let dir = &self.dir;
        let q = |p: &Path| sh_quote(p.to_str().expect("UTF-8 path"));
        let mut s = String::from("set -e\n");
        // A read-only overlay with the module folder on top: the target folder must already
        // hold a file to bind over, which libnss_roster.so.2 does not.
        writeln!(
            s,
            "mount -t overlay roster-lib -o ro,lowerdir={}:{SYSTEM_LIB_DIR} {SYSTEM_LIB_DIR}",
            q(&dir.join("lib"))
        )
        .unwrap();
        // Writable overlays over /etc and /var: what a test's `roster sync` writes with the
        // default paths (/etc/sudoers.d/roster-entitlements, /var/log/roster) lands in the
        // run folder, never on the machine.
        for name in ["etc", "var"] {
            writeln!(
                s,
                "mount -t overlay roster-{name} -o lowerdir=/{name},upperdir={},workdir={} /{name}",
                q(&run.join(name)),
                q(&run.join(format!("{name}.work")))
            )
            .unwrap();
        }
        writeln!(
            s,
            "mount --bind {} /etc/nsswitch.conf",
            q(&dir.join("etc/nsswitch.conf"))
        )
        .unwrap();
        if self.local_tables {
            for table in ["passwd", "group"] {
                let source = q(&dir.join("etc").join(table));
                writeln!(s, "mount --bind {source} /etc/{table}").unwrap();
            }
        }
        s.push_str("rm -rf /var/lib/roster\nmkdir -m 0755 /var/lib/roster\n");
        s.push_str("mount -t tmpfs -o mode=0755,size=16m roster-run /run\n");
        s.push_str(&private_tmp(dir));
        if let Some(snapshot) = &self.snapshot {
            writeln!(
                s,
                // Numeric ids: with `passwd: roster` alone, "root" may not resolve.
                "install -o 0 -g 0 -m 0644 {} /var/lib/roster/snapshot",
                q(snapshot)
            )
            .unwrap();
        }
        writeln!(s, ": > {}\nset +e\nexec /bin/sh -c \"$1\"", q(ready)).unwrap();
        s
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The agent installs the snapshot immutable (in overlay upper layers here).
        let _ = roster::install::remove_tree(&self.dir);
    }
}

fn to_output(status: std::process::ExitStatus, stdout: Vec<u8>, stderr: Vec<u8>) -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output {
        status: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Shell lines that mount a tmpfs over /tmp with `keep` (a folder of the test's, which may
/// be under /tmp) bound back at its own path, so that it stays where the test's paths say.
/// sshd, sudo and the programs they start write /tmp (sshd's `/tmp/sshauth.*` of every
/// session, removed only when the session closes normally): nothing of that may reach the
/// machine's /tmp. Needs the namespace's /run to be its own (a tmpfs) already.
pub fn private_tmp(keep: &Path) -> String {
    let keep = sh_quote(keep.to_str().expect("UTF-8 path"));
    format!(
        "mkdir /run/.roster-keep\n\
         mount --bind {keep} /run/.roster-keep\n\
         mount -t tmpfs -o mode=1777,size=64m roster-tmp /tmp\n\
         mkdir -p {keep}\n\
         mount --move /run/.roster-keep {keep}\n\
         rmdir /run/.roster-keep\n"
    )
}

pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// --- Source snapshot JSON (schema v1) for tests that need more than the fixture. ---

/// `s` as a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A user entry with `state`, `role` and `kind`, gid = uid, no gecos, home `/home/<name>`
/// and shell `/bin/bash`: the sshd-level tests' people.
pub fn account(name: &str, uid: u64, state: &str, role: &str, kind: &str) -> String {
    format!(
        r#"{{"name":{},"uid":{uid},"gid":{uid},"gecos":"","home":{},"shell":"/bin/bash","state":{},"role":{},"kind":{}}}"#,
        json_str(name),
        json_str(&format!("/home/{name}")),
        json_str(state),
        json_str(role),
        json_str(kind)
    )
}

/// A user entry with home `/home/<name>`; ids are u64 so out-of-range values can be written.
pub fn user(name: &str, uid: u64, gid: u64, gecos: &str, shell: &str) -> String {
    format!(
        r#"{{"name":{},"uid":{uid},"gid":{gid},"gecos":{},"home":{},"shell":{},"state":"active","role":"user","kind":"person"}}"#,
        json_str(name),
        json_str(gecos),
        json_str(&format!("/home/{name}")),
        json_str(shell)
    )
}

pub fn group(name: &str, gid: u64, members: &[&str]) -> String {
    let members: Vec<String> = members.iter().map(|m| json_str(m)).collect();
    format!(
        r#"{{"name":{},"gid":{gid},"members":[{}]}}"#,
        json_str(name),
        members.join(",")
    )
}

/// Now, as the `issued_at` of a snapshot: freshness counts from it (max_age).
pub fn issued_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    roster::time::format_rfc3339(now as i64)
}

/// `json` (a snapshot) with its `issued_at` replaced by `when` (RFC 3339).
pub fn with_issued_at(json: &str, when: &str) -> String {
    let key = r#""issued_at":""#;
    let start = json.find(key).expect("a snapshot with issued_at") + key.len();
    let end = start + json[start..].find('"').unwrap();
    format!("{}{when}{}", &json[..start], &json[end..])
}

/// A snapshot issued now, valid until 2099.
pub fn snapshot_json(serial: u64, users: &[String], groups: &[String]) -> String {
    format!(
        r#"{{"format":"roster-snapshot/1","serial":{serial},"issued_at":"{}","valid_until":"2099-01-01T00:00:00Z","users":[{}],"groups":[{}]}}"#,
        issued_now(),
        users.join(","),
        groups.join(",")
    )
}

/// Like [`snapshot_json`], valid until `valid_until`, with `extra` top-level members, each a
/// name and its JSON text (`("user_cas", "[…]")`); an `issued_at` among them replaces now.
pub fn snapshot_json_with(
    serial: u64,
    valid_until: &str,
    users: &[String],
    groups: &[String],
    extra: &[(&str, String)],
) -> String {
    let mut extra_members = String::new();
    let mut issued_at = json_str(&issued_now());
    for (name, value) in extra {
        if *name == "issued_at" {
            issued_at = value.clone();
            continue;
        }
        write!(extra_members, ",{}:{value}", json_str(name)).unwrap();
    }
    format!(
        r#"{{"format":"roster-snapshot/1","serial":{serial},"issued_at":{issued_at},"valid_until":{},"users":[{}],"groups":[{}]{extra_members}}}"#,
        json_str(valid_until),
        users.join(","),
        groups.join(",")
    )
}

// --- The packages `make deb` built ---

/// The binary packages roster builds.
pub const PACKAGES: [&str; 4] = ["roster", "libnss-roster", "libpam-roster", "roster-scim"];

/// The four .deb files `make deb` left in target/debian/ (not the -dbgsym ones).
pub fn debs() -> Vec<PathBuf> {
    let dir = workspace_dir().join("target/debian");
    let debs: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "deb"))
                .filter(|p| !p.to_string_lossy().contains("-dbgsym_"))
                .collect()
        })
        .unwrap_or_default();
    for package in PACKAGES {
        let prefix = format!("{package}_");
        assert!(
            debs.iter().any(|d| d
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)),
            "no {package}_*.deb in {}: run `make deb` first (`make test` does)",
            dir.display()
        );
    }
    debs
}
