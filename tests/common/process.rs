//! Running a child with a deadline: the one loop every part of the harness waits with
//! (a namespace run, a command entered with nsenter, a step in a throwaway root or in a
//! booted container).

use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `PATH` of every command the harness runs in a namespace, root or container (sshd clears
/// the environment anyway).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Waits for `child` up to `timeout`, calling `tick` between polls (the sshd host drains
/// its /dev/log there). Returns None on timeout, leaving the child running: the caller
/// knows whether to kill it or its whole process group.
pub fn wait_timeout(child: &mut Child, timeout: Duration, tick: impl Fn()) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        tick();
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `command` (`nsenter … --`, a chroot) with `/bin/sh -c script` appended, as root
/// with a clean environment (and `DEBIAN_FRONTEND=noninteractive`), both streams in one
/// file `log` (so lines interleave in the order written). Kills it and panics with what
/// it printed after `timeout`. Returns (exit status or -1, output).
pub fn run_logged(
    command: &mut Command,
    script: &str,
    log: &Path,
    timeout: Duration,
) -> (i32, String) {
    let output = fs::File::create(log).unwrap();
    let mut child = command
        .args(["/bin/sh", "-c", script])
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/root")
        .env("LANG", "C")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let Some(status) = wait_timeout(&mut child, timeout, || {}) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "step timed out after {timeout:?}:\n{script}\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
    };
    (
        status.code().unwrap_or(-1),
        fs::read_to_string(log).unwrap(),
    )
}

/// Panics unless the tests run as root (real, effective, saved and file-system uid 0):
/// they mount inside private namespaces. They fail, never skip.
pub fn require_root() {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let uids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("Uid: line in /proc/self/status");
    assert!(
        uids.split_whitespace().all(|id| id == "0"),
        "the system tests must run as root (they mount inside private namespaces); run \
         them with sudo or as root. Uid: {uids}"
    );
}
