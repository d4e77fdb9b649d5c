//! What roster adds to an SSH login's wall time, against one real sshd.
//!
//! One host (`common::sshd`, roster wired into `/etc/pam.d/sshd`) and two kinds of login,
//! interleaved: a snapshot user with a roster certificate (TrustedUserCAKeys, the
//! `roster principals` gate, pam_roster account and session, home already made) and the
//! local user carol with a plain `authorized_keys` entry. Each login is `ssh … true`, timed
//! inside the namespace from the client's start to its exit. A benchmark run as a test:
//!
//! - `ROSTER_BENCH_LOGINS` logins of each kind (default 5, a smoke test);
//! - `ROSTER_BENCH_MODULES=DIR` binds `DIR`'s `roster`, `libpam_roster.so` and
//!   `libnss_roster.so` over the harness's (debug) builds in the namespace;
//! - `ROSTER_BENCH_OUTPUT=FILE` writes the section into `FILE` between its markers.
//!
//! `bench/login.sh` runs it in release with all three set.

mod common;

use std::fs;
use std::path::Path;

use common::host::Host;
use common::sshd::{Cert, Key, SshHost, ssh_argv};
use common::{group, json_str, sh_quote, snapshot_json_with, user};

const BEGIN: &str = "<!-- ssh login: written by bench/login.sh -->";
const END: &str = "<!-- /ssh login -->";
const LIB_DIR: &str = "/usr/lib/x86_64-linux-gnu";

#[test]
fn login_overhead_is_measured() {
    let n: usize = std::env::var("ROSTER_BENCH_LOGINS")
        .map_or(5, |v| v.parse().expect("ROSTER_BENCH_LOGINS is a number"));
    assert!(n > 0, "ROSTER_BENCH_LOGINS must be at least 1");
    let host = Host::new().build();
    let modules = std::env::var("ROSTER_BENCH_MODULES").ok();
    if let Some(dir) = &modules {
        bind_modules(&host, Path::new(dir));
    }
    let (alice, carol) = (host.key("alice"), host.key("carol"));
    host.install(&snapshot_json_with(
        1,
        "2099-01-01T00:00:00Z",
        &[user("alice", 10001, 10001, "", "/bin/bash")],
        &[group("alice", 10001, &[])],
        &[(
            "user_cas",
            format!("[{}]", json_str(&host.ca.public_line())),
        )],
    ));
    let cert = host.cert(&alice, &Cert::new("alice@bench", "alice").validity("+1h"));
    host.authorize("carol", &carol);
    let kinds: [(&str, &Key, Option<&Path>); 2] =
        [("alice", &alice, Some(&cert)), ("carol", &carol, None)];

    // One untimed login each: pam_roster makes alice's home, and caches warm up.
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..=n {
        for (k, (user, key, cert)) in kinds.iter().enumerate() {
            let ms = timed_login(&host, user, key, *cert);
            if round > 0 {
                times[k].push(ms);
            }
        }
    }

    let section = section(n, modules.as_deref(), &mut times);
    println!("{section}");
    if let Ok(path) = std::env::var("ROSTER_BENCH_OUTPUT") {
        write_section(Path::new(&path), &section);
    }
}

/// Binds `dir`'s builds over the ones the harness installed in the namespace.
fn bind_modules(host: &SshHost, dir: &Path) {
    let mut script = String::from("set -e\n");
    for (file, target) in [
        ("roster", "/usr/sbin/roster".to_owned()),
        (
            "libpam_roster.so",
            format!("{LIB_DIR}/security/pam_roster.so"),
        ),
        ("libnss_roster.so", format!("{LIB_DIR}/libnss_roster.so.2")),
    ] {
        let source = dir.join(file);
        assert!(source.is_file(), "no {}", source.display());
        let source = sh_quote(source.to_str().unwrap());
        script += &format!("mount --bind {source} {target}\n");
    }
    let out = host.run(&script);
    assert_eq!(out.status, 0, "binding {}: {out:#?}", dir.display());
}

/// `ssh USER@127.0.0.1 true`; returns the client's wall time in milliseconds.
fn timed_login(host: &SshHost, user: &str, key: &Key, cert: Option<&Path>) -> f64 {
    let mut args = vec![
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        key.private.to_str().unwrap(),
    ];
    let cert_option = cert.map(|c| format!("CertificateFile={}", c.to_str().unwrap()));
    if let Some(option) = &cert_option {
        args.extend(["-o", option]);
    }
    let mut argv: Vec<String> = [
        "bash",
        "-c",
        r#"s=$EPOCHREALTIME; "$@"; rc=$?; e=$EPOCHREALTIME; echo "$s $e"; exit $rc"#,
        "bash",
    ]
    .map(String::from)
    .into();
    argv.extend(ssh_argv(user, &args, "true"));
    let login = host.observe(&argv);
    let times: Vec<f64> = login
        .stdout
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let accepted = format!("Accepted publickey for {user} ");
    assert!(
        login.status == 0 && times.len() == 2 && login.sshd_log.contains(&accepted),
        "{user}'s login failed:\n{login}"
    );
    (times[1] - times[0]) * 1000.0
}

/// The `q` quantile of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn section(n: usize, modules: Option<&str>, times: &mut [Vec<f64>; 2]) -> String {
    for t in times.iter_mut() {
        t.sort_by(f64::total_cmp);
    }
    let [a, b] = &*times;
    let row = |name: &str, v: &[f64]| {
        format!(
            "| {name} | {:.1} | {:.1} |\n",
            quantile(v, 0.5),
            quantile(v, 0.9)
        )
    };
    let build = match modules {
        Some(dir) => format!("roster, pam_roster and libnss_roster from `{dir}`"),
        None => "the harness's debug builds of roster, pam_roster and libnss_roster".into(),
    };
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{BEGIN}\n## A whole SSH login: roster's certificate path against authorized_keys\n\n\
         `tests/login_bench.rs` (load {}): wall time of `ssh -p 2222 USER@127.0.0.1 true`, client \
         start to exit,\nagainst Debian's sshd in a private namespace (tests/common/sshd.rs) \
         with roster's drop-in and PAM lines;\n{build}. {n} logins of each kind, interleaved, \
         after one untimed login each.\n\n\
         | login | median (ms) | p90 (ms) |\n|---|---|---|\n{}{}\
         | roster's cost (difference) | {:.1} | {:.1} |\n\n\
         The certificate login runs everything roster adds: sshd checks the certificate \
         against\nTrustedUserCAKeys, runs `roster principals` (as the roster user), and \
         pam_roster's account\nand session steps read the snapshot, record the audit \
         session (/run/roster/sessions) and append\nevents, and at logout look for \
         processes left in the session; the home already exists.\ncarol's login passes \
         the same sshd and PAM stack, where roster's modules only see a local user.\n{END}\n",
        load.join(" "),
        row("certificate (alice, snapshot user)", a),
        row("authorized_keys (carol, local user)", b),
        quantile(a, 0.5) - quantile(b, 0.5),
        quantile(a, 0.9) - quantile(b, 0.9),
    )
}

/// Replaces the block between the markers in `path`, or appends the section.
fn write_section(path: &Path, section: &str) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let text = match (text.find(BEGIN), text.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let end = end + END.len();
            let end = end + usize::from(text[end..].starts_with('\n'));
            format!("{}{section}{}", &text[..begin], &text[end..])
        }
        _ if text.is_empty() => section.to_owned(),
        _ => format!("{}\n\n{section}", text.trim_end_matches('\n')),
    };
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
