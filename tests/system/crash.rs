//! `kill -9` during `roster sync`, at many moments: the installed snapshot is
//! always whole (header and body checksums) and either the old or the new
//! one, and the next sync sweeps what the killed one left behind.
//!
//! Runs as root (the installed files must be root-owned), with a file://
//! source in a temporary folder: no namespace is needed, because `[paths]`
//! puts everything the agent writes (state, sudoers rules, events) there too.

use std::path::{Path, PathBuf};
use std::process::Command;

use roster::host::compiled::View;

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A snapshot big enough that an install takes a few milliseconds.
fn publish(source: &Path, key: &Path, serial: u64) {
    let users: Vec<String> = (0..4000)
        .map(|i| {
            format!(
                r#"{{"name":"u{i}","uid":{},"gid":{},"home":"/home/u{i}","shell":"/bin/sh","state":"active","role":"user"}}"#,
                100_000 + i,
                100_000 + i
            )
        })
        .collect();
    let json = format!(
        r#"{{"format":"roster-snapshot/1","serial":{serial},"issued_at":"2026-01-01T00:00:00Z",
        "valid_until":"2099-01-01T00:00:00Z","groups":[],"users":[{}]}}"#,
        users.join(",")
    );
    std::fs::write(source, json).unwrap();
    run(Command::new(ROSTER)
        .args(["snapshot", "sign", "--key"])
        .arg(key)
        .arg(source));
}

fn installed(state: &Path) -> u64 {
    let bytes = std::fs::read(state.join("snapshot")).expect("a snapshot is installed");
    let view = View::open(&bytes).expect("the installed snapshot is whole");
    view.verify_body().expect("its body checksum holds");
    view.header().serial
}

#[test]
fn sync_killed_at_any_moment_leaves_a_whole_snapshot() {
    assert!(
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")),
        "this test must run as root (installed snapshots must be root-owned)"
    );
    let dir: PathBuf = std::env::temp_dir().join(format!("roster-crash-{}", std::process::id()));
    let _ = roster::install::remove_tree(&dir);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A sudoers folder of its own: a sync killed while staging the rules
    // leaves its temporary file here, never in the machine's /etc/sudoers.d.
    let sudoers_d = dir.join("sudoers.d");
    std::fs::create_dir_all(&sudoers_d).unwrap();
    let key = dir.join("signkey");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(dir.join("signkey.pub")).unwrap();
    let source = dir.join("snapshot.json");
    let config = dir.join("roster.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nurl = \"file://{}\"\nsigning_keys = [\"{}\"]\n[paths]\nstate_dir = \"{}\"\n\
             sudoers = \"{}\"\nevents = \"{}\"\nmetrics = \"{}\"\n",
            source.display(),
            public.trim(),
            state.display(),
            sudoers_d.join("roster-entitlements").display(),
            dir.join("events.jsonl").display(),
            dir.join("roster.prom").display(),
        ),
    )
    .unwrap();

    publish(&source, &key, 1);
    run(Command::new(ROSTER)
        .arg("--config")
        .arg(&config)
        .arg("sync"));
    // A sync over an installed snapshot (it also compares them, for
    // offboarding) sets the time scale: kills are spread from its start to
    // a bit past its end.
    publish(&source, &key, 2);
    let started = std::time::Instant::now();
    run(Command::new(ROSTER)
        .arg("--config")
        .arg(&config)
        .arg("sync"));
    let full = started.elapsed();
    let mut last = installed(&state);
    let (mut old, mut new) = (0, 0);
    for serial in 3..=41u64 {
        publish(&source, &key, serial);
        let mut sync = Command::new(ROSTER)
            .arg("--config")
            .arg(&config)
            .arg("sync")
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64((serial - 3) as f64 / 30.0));
        let _ = sync.kill(); // SIGKILL
        let _ = sync.wait();
        let now = installed(&state);
        assert!(
            now == last || now == serial,
            "serial {now} after installing {serial} over {last}"
        );
        if now == last {
            old += 1
        } else {
            new += 1
        }
        last = now;
    }
    println!("killed 39 syncs: {old} left the previous snapshot, {new} the new one");
    assert!(
        old > 0 && new > 0,
        "the kills did not cover both sides of the install"
    );

    // A sync that completes sweeps the temporary files of the killed ones,
    // in the state folder and beside the sudoers file (whether a kill landed
    // while the rules were staged is chance: one is planted, for a process
    // that cannot exist, above any pid_max).
    let planted = sudoers_d.join(".roster-entitlements.tmp99999999");
    std::fs::write(&planted, "").unwrap();
    publish(&source, &key, 42);
    run(Command::new(ROSTER)
        .arg("--config")
        .arg(&config)
        .arg("sync"));
    assert_eq!(installed(&state), 42);
    for folder in [&state, &sudoers_d] {
        let leftovers: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{}: {leftovers:?}", folder.display());
    }
    let rules = std::fs::read_to_string(sudoers_d.join("roster-entitlements")).unwrap();
    assert!(
        rules.starts_with("# Generated by roster from snapshot serial 42."),
        "{rules}"
    );
    // The installed snapshot is immutable, as the agent leaves it.
    roster::install::remove_tree(&dir).unwrap();
}
