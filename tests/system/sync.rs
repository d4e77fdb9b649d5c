//! `roster sync` against a loopback HTTPS source: what the operator sees when the source
//! misbehaves, and what the host keeps serving meanwhile.
//!
//! Each test builds a `common::source::SourceHost`: its own scripted HTTPS server
//! (`tests/support/https.rs`, certificates from a private CA made at start-up), signing
//! keys from `ssh-keygen`, and `roster sync` run inside the harness's private mount
//! namespace (`tests/common`) with
//! `state_dir = /var/lib/roster`, where the NSS module reads the snapshot. A refusal case
//! first installs a good serial 1, then checks the exit status, the one-line reason on
//! stderr, that nothing was installed (same snapshot and user_ca_keys inode, size, mtime
//! and content; no temporary file left), what `roster status --json` reports, and that
//! `getent passwd alice` still answers from serial 1. Needs root, `ssh-keygen` and `cc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::https::{Identity, Route, Server};
use crate::common::key::Key;
use crate::common::source::{
    Attempt, Files, PROBE, SourceHost, assert_installed_files, files, quote, toml_str,
};
use crate::common::{
    Output, agent_setpriv, artifacts, group, json_str, snapshot_json_with, user, workspace_dir,
};

/// Far enough in the future for every snapshot that is meant to be valid.
const VALID_UNTIL: &str = "2099-01-01T00:00:00Z";

// --- Snapshots: alice's gecos says which serial answers ---

fn alice_gecos(serial: u64) -> String {
    match serial {
        1 => "Alice Liddell".into(),
        n => format!("Alice Liddell serial {n}"),
    }
}

/// What `getent passwd alice` prints while `serial` is installed.
fn alice_line(serial: u64) -> String {
    format!(
        "alice:*:10001:10001:{}:/home/alice:/bin/bash\n",
        alice_gecos(serial)
    )
}

/// The source snapshot at `serial`, trusting `user_cas`, with `extra_users` more users.
fn snapshot_with(serial: u64, user_cas: &[&str], extra_users: usize) -> String {
    let mut users = vec![
        user("alice", 10001, 10001, &alice_gecos(serial), "/bin/bash"),
        user("bob", 10002, 10002, "Bob Builder", "/bin/dash"),
    ];
    users.extend((0..extra_users as u64).map(|i| {
        let name = format!("user{i:05}");
        user(&name, 20000 + i, 20000 + i, "Extra User", "/bin/sh")
    }));
    let groups = [
        group("alice", 10001, &[]),
        group("bob", 10002, &[]),
        group("devs", 10010, &["alice", "bob"]),
    ];
    let cas: Vec<String> = user_cas.iter().map(|c| json_str(c)).collect();
    snapshot_json_with(
        serial,
        VALID_UNTIL,
        &users,
        &groups,
        &[("user_cas", format!("[{}]", cas.join(",")))],
    )
}

fn snapshot(serial: u64) -> String {
    snapshot_with(serial, &[], 0)
}

// --- Signatures ---

/// The armored signature with one base64 character changed, 10 characters before the end
/// of the body: inside the signature bytes, which end the SSHSIG blob.
pub(crate) fn flip_signature_byte(sig: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(sig).unwrap();
    let mut i = text.find("-----END").expect("armored signature");
    let mut bytes = sig.to_vec();
    let mut counted = 0;
    while counted < 10 {
        i -= 1;
        if !matches!(bytes[i], b'\n' | b'=') {
            counted += 1;
        }
    }
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    bytes
}

/// The JSON with its serial raised by one: a one-byte change an attacker would like.
fn bump_serial(json: &str, serial: u64) -> String {
    let (from, to) = (
        format!("\"serial\":{serial}"),
        format!("\"serial\":{}", serial + 1),
    );
    assert!(json.contains(&from) && from.len() == to.len());
    json.replacen(&from, &to, 1)
}

// --- The host under test ---

/// A host whose HTTPS source serves serial 1 at `/base`, trusting the host's user CA.
fn host() -> SourceHost {
    SourceHost::serving(|user_ca| snapshot_with(1, &[&user_ca.public_line()], 0))
}

/// Does `text` match `pattern`, where `…` in the pattern stands for any text?
fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// `roster sync` exited `code` with exactly one stderr line matching `reason` (`…` for any
/// text), installed nothing, recorded the reason, and `serving` still answers.
#[track_caller]
fn assert_refused(a: &Attempt, code: i32, reason: &str, serving: u64) {
    let s = &a.sync;
    assert_eq!(s.status, code, "exit status of `{}`: {s:#?}", s.script);
    assert_eq!(s.stdout, "", "{s:#?}");
    let line = s.stderr.strip_suffix('\n').unwrap_or(&s.stderr);
    assert!(
        !line.contains('\n') && s.stderr.ends_with('\n'),
        "the reason should be one line:\n{}",
        s.stderr
    );
    println!("refused: {line}"); // Shown with --nocapture.
    assert!(
        matches(reason, line),
        "reason on stderr\n  is:       {line}\n  expected: {reason}"
    );
    assert_nothing_installed(a);
    let st = &a.status;
    assert_eq!(st["installed_serial"], serving, "status: {st:#}");
    assert_eq!(st["serial"], serving, "status: {st:#}");
    assert_eq!(
        st["last_error"].as_str(),
        line.strip_prefix("roster: "),
        "status should record the reason: {st:#}"
    );
    assert!(
        st["consecutive_failures"].as_u64() >= Some(1),
        "status: {st:#}"
    );
    assert_serves(a, serving);
}

/// A refused sync may record the failure in state.json and nothing else: every other file
/// in the state directory is the very same file as before (inode, size, mtime, content),
/// and nothing new appeared — no temporary file left behind.
#[track_caller]
fn assert_nothing_installed(a: &Attempt) {
    assert_same_names(a);
    for (name, facts) in &a.before {
        if name != "state.json" {
            assert_eq!(
                &a.after[name], facts,
                "{name} was rewritten (inode size mtime sha256) by `{}`",
                a.sync.script
            );
        }
    }
}

/// A sync that found nothing new rewrote neither the snapshot nor user_ca_keys, and left
/// no new file behind.
#[track_caller]
fn assert_not_rewritten(a: &Attempt) {
    assert_same_names(a);
    for name in ["snapshot", "user_ca_keys"] {
        assert_eq!(
            a.after[name], a.before[name],
            "{name} was rewritten (inode size mtime sha256) by `{}`",
            a.sync.script
        );
    }
}

#[track_caller]
fn assert_same_names(a: &Attempt) {
    let names = |f: &Files| f.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&a.after),
        names(&a.before),
        "files in the state directory after `{}`",
        a.sync.script
    );
}

#[track_caller]
fn assert_serves(a: &Attempt, serial: u64) {
    assert_eq!(
        (a.alice.status, a.alice.stdout.as_str()),
        (0, alice_line(serial).as_str()),
        "getent passwd alice after `{}`: {:#?}",
        a.sync.script,
        a.alice
    );
}

/// `roster sync` installed `serial` over `previous`, and it answers.
#[track_caller]
fn assert_installed(a: &Attempt, serial: u64, previous: u64) {
    let s = &a.sync;
    assert_eq!(
        (s.status, s.stdout.as_str(), s.stderr.as_str()),
        (
            0,
            format!("roster: installed snapshot serial {serial} (was {previous})\n").as_str(),
            ""
        ),
        "`{}`",
        s.script
    );
    assert_installed_files(&a.after);
    assert_eq!(a.status["installed_serial"], serial, "{:#}", a.status);
    assert_eq!(a.status["last_error"], serde_json::Value::Null);
    assert_serves(a, serial);
}

// --- Signatures ---

#[test]
fn snapshot_with_one_byte_changed_is_refused() {
    let host = host();
    let json = snapshot(2);
    let sig = host.sign(&json);
    let changed_json = host.serve(
        "/json",
        Route::ok(bump_serial(&json, 2)),
        Route::ok(sig.clone()),
    );
    let changed_sig = host.serve(
        "/sig",
        Route::ok(json),
        Route::ok(flip_signature_byte(&sig)),
    );
    let attempts = host.attempts(
        &[],
        &[
            &host.config("json", &changed_json, &[]),
            &host.config("sig", &changed_sig, &[]),
        ],
    );
    for a in &attempts {
        assert_refused(
            a,
            4,
            "roster: refused: signature does not match the snapshot",
            1,
        );
    }
}

#[test]
fn snapshot_signed_by_an_unpinned_key_is_refused() {
    let host = host();
    let json = snapshot(2);
    let url = host.serve(
        "/stranger",
        Route::ok(json.clone()),
        Route::ok(host.roster_sign(&host.stranger, &json)),
    );
    let a = host.attempt(&host.config("stranger", &url, &[]));
    let reason = format!(
        "roster: refused: signed by {}, which is not a pinned signing key",
        host.stranger.fingerprint()
    );
    assert_refused(&a, 4, &reason, 1);
}

#[test]
fn missing_signature_is_refused() {
    let host = host();
    let url = host.serve("/nosig", Route::ok(snapshot(2)), Route::status(404));
    let a = host.attempt(&host.config("nosig", &url, &[]));
    assert_refused(
        &a,
        3,
        &format!("roster: fetch failed: {url}.sig: HTTP status 404"),
        1,
    );
    assert_eq!(
        host.server.paths()[2..],
        ["/nosig/snapshot.json", "/nosig/snapshot.json.sig"]
    );
}

#[test]
fn html_page_instead_of_the_snapshot_is_refused() {
    // A captive portal or a misconfigured CDN answering 200 with a web page.
    let host = host();
    let html = "<!DOCTYPE html>\n<html><body><h1>Please log in</h1></body></html>\n";
    let real_sig = host.sign(&snapshot(2));
    let no_sig = host.serve("/portal-404", Route::ok(html), Route::status(404));
    let other_sig = host.serve("/portal-sig", Route::ok(html), Route::ok(real_sig));
    let html_sig = host.serve("/portal-html", Route::ok(html), Route::ok(html));
    let attempts = host.attempts(
        &[],
        &[
            &host.config("a", &no_sig, &[]),
            &host.config("b", &other_sig, &[]),
            &host.config("c", &html_sig, &[]),
        ],
    );
    assert_refused(
        &attempts[0],
        3,
        &format!("roster: fetch failed: {no_sig}.sig: HTTP status 404"),
        1,
    );
    assert_refused(
        &attempts[1],
        4,
        "roster: refused: signature does not match the snapshot",
        1,
    );
    assert_refused(
        &attempts[2],
        4,
        "roster: refused: signature file is not an SSH signature: …",
        1,
    );
}

#[test]
fn snapshot_signed_for_another_namespace_is_refused() {
    let host = host();
    let json = snapshot(2);
    let sig = host.keygen_sign(&host.signer, "file", &json);
    let url = host.serve("/ns", Route::ok(json), Route::ok(sig));
    let a = host.attempt(&host.config("ns", &url, &[]));
    assert_refused(
        &a,
        4,
        "roster: refused: signature namespace is \"file\", expected \"roster-snapshot\"",
        1,
    );
}

// --- Content ---

#[test]
fn older_serial_is_refused_as_rollback() {
    let host = host();
    let v2 = host.source("v2", &snapshot(2));
    // Serial 2 is installed, then the source offers serial 1 again (validly signed).
    let attempts = host.attempts(&[], &[&v2, &host.base]);
    assert_installed(&attempts[0], 2, 1);
    assert_refused(
        &attempts[1],
        4,
        "roster: refused: serial 1 is older than serial 2 already seen (rollback)",
        2,
    );
}

#[test]
fn installed_snapshot_cannot_be_truncated_under_the_processes_mapping_it() {
    // A truncated mapping kills the reader with SIGBUS, so the agent installs the
    // snapshot immutable: an operator's `cp` or `>` over it fails, a process that has
    // it mapped keeps resolving, and the next sync still replaces it (with only the
    // unit's capabilities, which include CAP_LINUX_IMMUTABLE).
    let host = host();
    let v2 = host.source("v2", &snapshot(2));
    let steps = [
        host.sync(&host.base),
        "lsattr /var/lib/roster/snapshot | cut -c5".into(), // the i flag
        "truncate -s 100 /var/lib/roster/snapshot; cp /etc/passwd /var/lib/roster/snapshot; \
         : > /var/lib/roster/snapshot"
            .into(),
        "getent passwd alice".into(),
        format!(
            "{} {} --config {} sync",
            agent_setpriv(),
            quote(&artifacts().roster),
            quote(&v2)
        ),
        "lsattr /var/lib/roster/snapshot | cut -c5".into(), // the i flag
    ];
    let out = host.sandbox.run_steps(&steps);
    assert_eq!(out[0].status, 0, "{:#?}", out[0]);
    assert_eq!(out[1].stdout, "i\n", "{:#?}", out[1]);
    assert_eq!(out[2].stdout, "", "{:#?}", out[2]);
    let refusals: Vec<&str> = out[2].stderr.lines().collect();
    assert_eq!(refusals.len(), 3, "{:#?}", out[2]);
    assert!(
        refusals
            .iter()
            .all(|l| l.contains("Operation not permitted")),
        "{:#?}",
        out[2]
    );
    assert_eq!(out[3].status, 0, "{:#?}", out[3]);
    assert!(
        out[4]
            .stdout
            .contains("installed snapshot serial 2 (was 1)"),
        "{:#?}",
        out[4]
    );
    assert_eq!(out[5].stdout, "i\n", "{:#?}", out[5]);
}

#[test]
fn rollback_is_refused_even_after_the_snapshot_file_is_lost() {
    // The highest serial seen lives in state.json, so deleting the snapshot does not
    // reopen the door to an older one.
    let host = host();
    let v2 = host.source("v2", &snapshot(2));
    let steps = [
        host.sync(&host.base),
        host.sync(&v2),
        // It is installed immutable: an operator has to mean it.
        "chattr -i /var/lib/roster/snapshot && rm /var/lib/roster/snapshot".into(),
        host.sync(&host.base),
        PROBE.into(),
        "getent passwd alice".into(),
    ];
    let out = host.sandbox.run_steps(&steps);
    assert_eq!(out[1].status, 0, "{:#?}", out[1]);
    assert_eq!(out[2].status, 0, "{:#?}", out[2]);
    assert_eq!(
        (out[3].status, out[3].stderr.as_str()),
        (
            4,
            "roster: refused: serial 1 is older than serial 2 already seen (rollback)\n"
        ),
        "{:#?}",
        out[3]
    );
    let left = files(&out[4]);
    assert!(
        !left.contains_key("snapshot") && left.keys().all(|n| !n.starts_with('.') || n == ".lock"),
        "{left:#?}"
    );
    assert_eq!(out[5].status, 2, "alice must not resolve: {:#?}", out[5]);
}

#[test]
fn expired_snapshot_is_refused() {
    let host = host();
    let json = crate::common::with_issued_at(&snapshot(2), "2020-01-01T00:00:00Z")
        .replace(VALID_UNTIL, "2020-01-02T00:00:00Z");
    let a = host.attempt(&host.source("expired", &json));
    assert_refused(
        &a,
        4,
        "roster: refused: snapshot expired at 2020-01-02T00:00:00Z (valid_until)",
        1,
    );
}

#[test]
fn malformed_json_is_refused_even_when_signed() {
    let host = host();
    let json = snapshot(2);
    let cut = &json[..json.len() / 2];
    let a = host.attempt(&host.source("cut", cut));
    assert_refused(
        &a,
        4,
        "roster: refused: snapshot is not a well-formed v1 document: EOF while parsing …",
        1,
    );
}

// --- Sizes ---

#[test]
fn snapshot_over_the_size_cap_is_refused() {
    let host = host();
    let json = snapshot_with(2, &[], 50);
    let len = json.len();
    let url = host.publish("/big", &json);
    let over = host.config(
        "over",
        &url,
        &[("max_snapshot_bytes", &(len - 1).to_string())],
    );
    let exact = host.config("exact", &url, &[("max_snapshot_bytes", &len.to_string())]);
    let big_sig = host.serve(
        "/bigsig",
        Route::ok(snapshot(2)),
        Route::ok(vec![b'A'; (64 << 10) + 1]),
    );
    let attempts = host.attempts(&[], &[&over, &host.config("bigsig", &big_sig, &[]), &exact]);
    assert_refused(
        &attempts[0],
        3,
        &format!(
            "roster: fetch failed: {url}: body is over the {}-byte limit",
            len - 1
        ),
        1,
    );
    assert_refused(
        &attempts[1],
        3,
        &format!("roster: fetch failed: {big_sig}.sig: body is over the 65536-byte limit"),
        1,
    );
    // A body of exactly the cap is accepted.
    assert_installed(&attempts[2], 2, 1);
}

#[test]
fn gzip_encoded_snapshot_is_decoded_and_capped_after_decoding() {
    let host = host();
    let json = snapshot_with(2, &[], 200);
    let gz = crate::common::https::gzip(json.as_bytes());
    let cap = json.len() - 1;
    assert!(gz.len() < cap, "the compressed body must fit under the cap");
    let url = host.serve(
        "/gz",
        Route::Respond {
            status: 200,
            headers: vec![("Content-Encoding".into(), "gzip".into())],
            body: gz,
        },
        Route::ok(host.sign(&json)),
    );
    let capped = host.config("capped", &url, &[("max_snapshot_bytes", &cap.to_string())]);
    let attempts = host.attempts(&[], &[&capped, &host.config("gz", &url, &[])]);
    assert_refused(
        &attempts[0],
        3,
        &format!("roster: fetch failed: {url}: body is over the {cap}-byte limit"),
        1,
    );
    assert_installed(&attempts[1], 2, 1);
}

#[test]
fn gzip_bomb_is_stopped_at_the_size_cap() {
    let host = host();
    let bomb = crate::common::https::gzip_bomb(1); // About 1 MB on the wire, 1 GiB of zeros decoded.
    let cap: usize = 4 << 20;
    assert!(bomb.len() < cap, "the bomb itself must fit under the cap");
    let url = host.serve(
        "/bomb",
        Route::Respond {
            status: 200,
            headers: vec![("Content-Encoding".into(), "gzip".into())],
            body: bomb,
        },
        Route::ok(host.sign(&snapshot(2))),
    );
    let a = host.attempt(&host.config("bomb", &url, &[("max_snapshot_bytes", &cap.to_string())]));
    assert_refused(
        &a,
        3,
        &format!("roster: fetch failed: {url}: body is over the {cap}-byte limit"),
        1,
    );
    println!("gzip bomb refused in {:?}", a.sync.elapsed);
    assert!(a.sync.elapsed < Duration::from_secs(10), "{a:#?}");
}

// --- Transport ---

#[test]
fn source_that_never_answers_times_out() {
    let host = host();
    // One server accepts connections and never says a word; the other sends headers and
    // the first bytes of the body, then nothing.
    let silent = Server::start_silent();
    let stalled = host.serve(
        "/stall",
        Route::StallBody { declared: 4096 },
        Route::status(404),
    );
    let timeout = [("timeout", "\"2s\"")];
    let attempts = host.attempts(
        &[],
        &[
            &host.config("silent", &silent.url("/snapshot.json"), &timeout),
            &host.config("stalled", &stalled, &timeout),
        ],
    );
    for (a, url) in attempts.iter().zip([silent.url("/snapshot.json"), stalled]) {
        println!("{url}: gave up after {:?}", a.sync.elapsed);
        assert_refused(a, 3, &format!("roster: fetch failed: {url}: …timeout…"), 1);
        assert!(
            a.sync.elapsed >= Duration::from_millis(1900)
                && a.sync.elapsed < Duration::from_secs(5),
            "a 2 s timeout took {:?}",
            a.sync.elapsed
        );
    }
    assert!(
        silent.connections() >= 1,
        "the silent server was never reached"
    );
}

#[test]
fn server_error_is_refused() {
    let host = host();
    let url = host.serve("/err", Route::status(500), Route::status(500));
    let a = host.attempt(&host.config("err", &url, &[]));
    assert_refused(
        &a,
        3,
        &format!("roster: fetch failed: {url}: HTTP status 500"),
        1,
    );
}

#[test]
fn truncated_body_is_refused() {
    // The whole, validly signed serial 2 arrives, but the server announced more bytes and
    // closed the connection: the transfer is incomplete and must not be trusted, whether
    // the TLS session ended cleanly or not.
    let host = host();
    let json = snapshot(2);
    let sig = host.sign(&json);
    let urls: Vec<String> = [false, true]
        .into_iter()
        .map(|close_notify| {
            let route = Route::Truncated {
                declared: json.len() + 100,
                body: json.clone().into_bytes(),
                close_notify,
            };
            host.serve(
                &format!("/short-{close_notify}"),
                route,
                Route::ok(sig.clone()),
            )
        })
        .collect();
    let configs: Vec<PathBuf> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| host.config(&format!("short{i}"), url, &[]))
        .collect();
    let attempts = host.attempts(&[], &[&configs[0], &configs[1]]);
    for (a, url) in attempts.iter().zip(&urls) {
        assert_refused(a, 3, &format!("roster: fetch failed: {url}: …"), 1);
    }
}

#[test]
fn certificate_for_another_name_is_refused() {
    let host = host();
    let other = host.other_server(Identity::OtherName, &snapshot(2));
    let url = other.url("/snapshot.json");
    let a = host.attempt(&host.config("other-name", &url, &[]));
    assert_refused(
        &a,
        3,
        &format!("roster: fetch failed: {url}: …certificate not valid for name \"127.0.0.1\"…"),
        1,
    );
    assert!(
        other.requests().is_empty(),
        "a request got through: {:?}",
        other.requests()
    );
}

#[test]
fn certificate_from_an_unknown_ca_is_refused() {
    let host = host();
    let other = host.other_server(Identity::UnknownCa, &snapshot(2));
    let url = other.url("/snapshot.json");
    let a = host.attempt(&host.config("unknown-ca", &url, &[]));
    assert_refused(
        &a,
        3,
        &format!("roster: fetch failed: {url}: …UnknownIssuer…"),
        1,
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

// --- Redirects ---

#[test]
fn redirect_to_another_host_is_refused() {
    let host = host();
    let other = host.other_server(Identity::Loopback, &snapshot(2));
    let port = host.server.port();
    // Another name for the same server, another port on the same address, plain http,
    // and a scheme-relative reference to another name.
    let locations = [
        format!("https://localhost:{port}/base/snapshot.json"),
        other.url("/snapshot.json"),
        format!("http://127.0.0.1:{port}/base/snapshot.json"),
        format!("//localhost:{port}/base/snapshot.json"),
    ];
    let configs: Vec<PathBuf> = locations
        .iter()
        .enumerate()
        .map(|(i, location)| {
            let path = format!("/away{i}/snapshot.json");
            host.server.route(&path, Route::redirect(302, location));
            host.config(&format!("away{i}"), &host.server.url(&path), &[])
        })
        .collect();
    let refs: Vec<&Path> = configs.iter().map(PathBuf::as_path).collect();
    let attempts = host.attempts(&[], &refs);
    for (i, (a, location)) in attempts.iter().zip(&locations).enumerate() {
        let url = host.server.url(&format!("/away{i}/snapshot.json"));
        assert_refused(
            a,
            3,
            &format!(
                "roster: fetch failed: {url}: refused redirect to \"{location}\" (another host or scheme)"
            ),
            1,
        );
    }
    assert_eq!(other.connections(), 0, "the other host was contacted");
    // Nothing but the redirecting requests themselves reached our server.
    let paths = host.server.paths();
    assert!(
        paths[2..].iter().all(|p| p.starts_with("/away")),
        "{paths:?}"
    );
}

#[test]
fn same_host_redirect_is_followed() {
    let host = host();
    host.publish("/new", &snapshot(2));
    host.server.redirect_prefix("/moved/", "/new/", 301);
    let absolute = host.server.url("/new/");
    host.server.redirect_prefix("/abs/", &absolute, 307);
    let attempts = host.attempts(
        &[],
        &[
            &host.config("moved", &host.server.url("/moved/snapshot.json"), &[]),
            &host.config("abs", &host.server.url("/abs/snapshot.json"), &[]),
        ],
    );
    assert_installed(&attempts[0], 2, 1);
    // The same serial through the absolute redirect: current, nothing rewritten.
    let s = &attempts[1].sync;
    assert_eq!(
        (s.status, s.stdout.as_str(), s.stderr.as_str()),
        (0, "roster: snapshot serial 2 is current\n", ""),
        "{s:#?}"
    );
    assert_not_rewritten(&attempts[1]);
    // The signature is fetched beside the snapshot, where the redirect led.
    assert_eq!(
        host.server.paths()[2..],
        [
            "/moved/snapshot.json",
            "/new/snapshot.json",
            "/new/snapshot.json.sig",
            "/abs/snapshot.json",
            "/new/snapshot.json",
            "/new/snapshot.json.sig",
        ]
    );
}

#[test]
fn redirect_loop_is_refused() {
    let host = host();
    host.server.redirect_prefix("/loop/", "/loop/", 302);
    let url = host.server.url("/loop/snapshot.json");
    let a = host.attempt(&host.config("loop", &url, &[]));
    assert_refused(
        &a,
        3,
        &format!("roster: fetch failed: {url}: too many redirects"),
        1,
    );
    // The first request and 3 redirects followed.
    assert_eq!(host.server.paths()[2..], ["/loop/snapshot.json"; 4]);
}

// --- Unchanged sources ---

#[test]
fn unchanged_source_answers_304_and_nothing_is_rewritten() {
    let host = host();
    let json = snapshot(1);
    let etag = "\"v1\"";
    let last_modified = "Wed, 01 Jan 2026 00:00:00 GMT";
    host.server.route(
        "/static/snapshot.json",
        Route::Static {
            etag: etag.into(),
            last_modified: last_modified.into(),
            body: json.clone().into_bytes(),
        },
    );
    host.server
        .route("/static/snapshot.json.sig", Route::ok(host.sign(&json)));
    let config = host.config("static", &host.server.url("/static/snapshot.json"), &[]);
    let out = host.sandbox.run_steps(&[
        host.sync(&config),
        PROBE.into(),
        host.sync(&config),
        PROBE.into(),
    ]);
    assert_eq!(
        (out[0].status, out[0].stdout.as_str()),
        (0, "roster: installed snapshot serial 1\n"),
        "{:#?}",
        out[0]
    );
    assert_eq!(
        (
            out[2].status,
            out[2].stdout.as_str(),
            out[2].stderr.as_str()
        ),
        (0, "roster: snapshot serial 1 is current\n", ""),
        "{:#?}",
        out[2]
    );
    let (before, after) = (files(&out[1]), files(&out[3]));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for name in ["snapshot", "user_ca_keys"] {
        assert_eq!(
            after[name], before[name],
            "{name} was rewritten after a 304"
        );
    }
    let requests = host.server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    // The second sync is one conditional request: no signature fetch.
    assert_eq!(
        paths,
        [
            "/static/snapshot.json",
            "/static/snapshot.json.sig",
            "/static/snapshot.json"
        ]
    );
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[2].header("if-none-match"), Some(etag));
    assert_eq!(requests[2].header("if-modified-since"), Some(last_modified));
    // Each request says which host asks, with what installed: the origin's
    // access log is a record of the fleet (`roster fleet report`).
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let agent = |serial: &str| {
        format!(
            "roster/{} host={} serial={serial}",
            env!("CARGO_PKG_VERSION"),
            host_name.trim()
        )
    };
    let user_agents: Vec<&str> = requests
        .iter()
        .map(|r| r.header("user-agent").unwrap_or("-"))
        .collect();
    assert_eq!(
        user_agents,
        [agent("none"), agent("none"), agent("1")],
        "before the first install there is no serial, and the .sig goes with its snapshot's request"
    );
}

#[test]
fn same_serial_without_validators_is_current_and_nothing_is_rewritten() {
    let host = host();
    let a = host.attempt(&host.base);
    let s = &a.sync;
    assert_eq!(
        (s.status, s.stdout.as_str(), s.stderr.as_str()),
        (0, "roster: snapshot serial 1 is current\n", ""),
        "{s:#?}"
    );
    assert_not_rewritten(&a);
    assert_serves(&a, 1);
}

// --- Installing ---

#[test]
fn new_serial_reaches_a_running_process_within_a_second() {
    let host = host();
    let v2 = host.source("v2", &snapshot(2));
    let watch = host
        .sandbox
        .cc_file(&workspace_dir().join("tests/support/watch_user.c"));
    let steps = [
        host.sync(&host.base),
        format!(
            "exec {} alice 5000 {} --config {} sync",
            quote(&watch),
            quote(&artifacts().roster),
            quote(&v2)
        ),
        "exec getent passwd alice".into(),
    ];
    let out = host.sandbox.run_steps(&steps);
    assert_eq!(out[0].status, 0, "{:#?}", out[0]);
    let w = &out[1];
    println!("{}", w.stdout);
    let facts: BTreeMap<&str, &str> = w.stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let ms = |key: &str| -> f64 { facts[key].parse().unwrap() };
    assert_eq!(
        w.status, 0,
        "the running process never saw serial 2: {w:#?}"
    );
    assert_eq!(facts["before"], alice_gecos(1));
    assert_eq!(facts["after"], alice_gecos(2));
    assert_eq!(facts["command_status"], "0", "{w:#?}");
    assert_eq!(
        facts["missing"], "0",
        "alice vanished during the swap: {w:#?}"
    );
    let latency = ms("latency_ms");
    println!(
        "new snapshot renamed into place {:.0} ms after sync started; seen by the running \
         process {latency:.1} ms later",
        ms("renamed_ms")
    );
    // The module re-checks the file once a second; 50 ms for the watcher's polling and scheduling.
    assert!(
        latency <= 1050.0,
        "the running process saw serial 2 after {latency} ms"
    );
    assert_eq!(out[2].stdout, alice_line(2));
}

#[test]
fn full_disk_fails_the_install_and_keeps_the_old_snapshot() {
    // /var/lib/roster is a 64 KiB tmpfs: serial 1 fits, serial 2 (3000 more users) does
    // not. Serial 2 also trusts another user CA, so the check that user_ca_keys is
    // untouched means something: sshd must not trust serial 2's CAs while serial 1's
    // accounts are served.
    let host = host();
    let other_ca = Key::generate(host.sandbox.dir(), "user-ca-2", "ed25519");
    let big = snapshot_with(2, &[&other_ca.public_line()], 3000);
    let v2 = host.source("big", &big);
    let attempts = host.attempts(
        &["mount -t tmpfs -o size=64k,mode=0755 roster-full /var/lib/roster".into()],
        &[&v2],
    );
    assert_refused(
        &attempts[0],
        5,
        "roster: install failed: /var/lib/roster/snapshot: No space left on device (os error 28)",
        1,
    );
}

// --- Interoperability with OpenSSH ---

#[test]
fn roster_signatures_verify_with_ssh_keygen() {
    let host = host();
    let json = snapshot(2);
    let sig = host.sign(&json);
    let allowed = host.path("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "publisher namespaces=\"roster-snapshot\" {}\n",
            host.signer.public_line()
        ),
    )
    .unwrap();
    let verify = |data: &[u8], sig: &[u8]| {
        let (d, s) = (host.unique("data"), host.unique("sig"));
        std::fs::write(&d, data).unwrap();
        std::fs::write(&s, sig).unwrap();
        let out = Command::new("ssh-keygen")
            .args([
                "-Y",
                "verify",
                "-n",
                "roster-snapshot",
                "-I",
                "publisher",
                "-f",
            ])
            .arg(&allowed)
            .arg("-s")
            .arg(&s)
            .stdin(std::fs::File::open(&d).unwrap())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = verify(json.as_bytes(), &sig);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        stdout,
        format!(
            "Good \"roster-snapshot\" signature for publisher with ED25519 key {}\n",
            host.signer.fingerprint()
        )
    );
    let (code, _) = verify(bump_serial(&json, 2).as_bytes(), &sig);
    assert_ne!(code, Some(0), "ssh-keygen accepted a changed snapshot");
    let (code, _) = verify(json.as_bytes(), &flip_signature_byte(&sig));
    assert_ne!(code, Some(0), "ssh-keygen accepted a changed signature");
}

#[test]
fn ssh_keygen_signatures_are_accepted() {
    let host = host();
    let dir = host.sandbox.dir();
    let ecdsa = Key::generate(dir, "ecdsa", "ecdsa");
    let rsa = Key::generate(dir, "rsa", "rsa");
    let pinned = format!(
        "[{}]",
        [&host.signer, &ecdsa, &rsa]
            .iter()
            .map(|k| toml_str(&k.public_line()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let config = |name: &str, json: &str, sig: Vec<u8>| {
        let url = host.serve(&format!("/{name}"), Route::ok(json), Route::ok(sig));
        host.config(name, &url, &[("signing_keys", &pinned)])
    };
    let json2 = snapshot(2);
    let sig2 = host.keygen_sign(&host.signer, "roster-snapshot", &json2);
    let configs = [
        config("flipped-json", &bump_serial(&json2, 2), sig2.clone()),
        config("flipped-sig", &json2, flip_signature_byte(&sig2)),
        config("ed25519", &json2, sig2),
        config(
            "ecdsa",
            &snapshot(3),
            host.keygen_sign(&ecdsa, "roster-snapshot", &snapshot(3)),
        ),
        config(
            "rsa",
            &snapshot(4),
            host.keygen_sign(&rsa, "roster-snapshot", &snapshot(4)),
        ),
    ];
    let refs: Vec<&Path> = configs.iter().map(PathBuf::as_path).collect();
    let attempts = host.attempts(&[], &refs);
    for a in &attempts[..2] {
        assert_refused(
            a,
            4,
            "roster: refused: signature does not match the snapshot",
            1,
        );
    }
    assert_installed(&attempts[2], 2, 1);
    assert_installed(&attempts[3], 3, 2);
    assert_installed(&attempts[4], 4, 3);
}

// --- Configuration ---

/// Runs `roster --config CONFIG sync` outside any namespace (these fail before touching
/// the state directory, which the configurations point into the sandbox anyway).
fn sync_outside(config: &Path) -> (i32, String, String) {
    let out = Command::new(&artifacts().roster)
        .arg("--config")
        .arg(config)
        .arg("sync")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A configuration with `source` lines, the state directory in the sandbox.
fn write_config(host: &SourceHost, name: &str, source: &str, rest: &str) -> PathBuf {
    let dir = host.sandbox.dir();
    let path = host.path(&format!("{name}.toml"));
    let text = format!(
        // No metrics file: outside a namespace it would be the machine's.
        "[source]\n{source}signing_keys = [{}]\n\n[paths]\nstate_dir = {}\nmetrics = \"\"\n{rest}",
        toml_str(&host.signer.public_line()),
        toml_str(dir.join("state").to_str().unwrap())
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[track_caller]
fn assert_config_error(config: &Path, code: i32, expected: &str) {
    let (status, stdout, stderr) = sync_outside(config);
    assert_eq!((status, stdout.as_str()), (code, ""), "{stderr}");
    let line = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(!line.contains('\n'), "one line expected:\n{stderr}");
    println!("refused: {line}"); // Shown with --nocapture.
    assert!(
        matches(expected, line),
        "\n  is:       {line}\n  expected: {expected}"
    );
}

#[test]
fn unknown_config_key_is_named_with_its_line() {
    let host = host();
    let config = write_config(
        &host,
        "typo",
        "url = \"https://127.0.0.1/s.json\"\n",
        "\n[sync]\ninterval = \"5m\"\njitter = \"1m\"\nmax_age = \"24h\"\nintervall = \"1m\"\n",
    );
    // Line 13 is `intervall = "1m"`.
    let expected = format!("roster: {}: …line 13…intervall…", config.display());
    assert_config_error(&config, 1, &expected);
}

#[test]
fn source_url_must_be_https_file_or_loopback_http() {
    let host = host();
    for url in [
        "http://10.0.0.1/s.json",
        "http://127.0.0.1.example.com/s.json",
        "ftp://127.0.0.1/s.json",
    ] {
        let config = write_config(&host, "url", &format!("url = \"{url}\"\n"), "");
        let expected = format!(
            "roster: {}: source.url = \"{url}\": must start with https:// or file:/// \
             (http:// only to this host: 127.0.0.1, [::1] or localhost)",
            config.display()
        );
        assert_config_error(&config, 1, &expected);
    }
}

#[test]
fn token_file_readable_by_others_is_refused() {
    // A configuration error: exit 1, before anything is fetched.
    let host = host();
    let token = host.path("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let config = write_config(
        &host,
        "token",
        &format!(
            "url = \"https://127.0.0.1/s.json\"\ntoken_file = {}\n",
            toml_str(token.to_str().unwrap())
        ),
        "",
    );
    let expected = format!(
        "roster: bearer token: {} must be a regular file owned by root with mode 0600 (is 644, uid 0)",
        token.display()
    );
    assert_config_error(&config, 1, &expected);
    assert!(
        !host.path("state").exists(),
        "the state directory was touched"
    );
}

#[test]
fn missing_config_names_the_file() {
    let host = host();
    let absent = host.path("absent.toml");
    assert_config_error(
        &absent,
        1,
        &format!(
            "roster: no configuration at {} (see roster.toml(5))",
            absent.display()
        ),
    );
}

#[test]
fn bearer_token_is_sent_with_both_requests() {
    let host = host();
    let token = host.path("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let url = host.publish("/private", &snapshot(2));
    let config = host.config(
        "token",
        &url,
        &[("token_file", &toml_str(token.to_str().unwrap()))],
    );
    let a = host.attempt(&config);
    assert_installed(&a, 2, 1);
    let requests = host.server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].header("authorization"), None);
    for r in &requests[2..] {
        assert_eq!(
            r.header("authorization"),
            Some("Bearer s3cret-token"),
            "{r:?}"
        );
    }
}

// --- The agent ---

/// Runs a script in the sandbox that starts `roster agent` with `config` (and only the
/// unit's capabilities) in the background as `$pid`, its stderr in a log, defines
/// `wait_for TEXT` (up to 10 s for TEXT in the log), runs `steps`, stops the agent with
/// SIGTERM and prints its exit status, then the log.
fn run_agent(host: &SourceHost, config: &Path, steps: &str) -> Output {
    let log = quote(&host.path("agent.log"));
    host.sandbox.run(&format!(
        "{setpriv} {roster} --config {config} agent 2>{log} & pid=$!\n\
         wait_for() {{\n\
           i=0\n\
           until grep -q \"$1\" {log}; do\n\
             i=$((i+1)); [ $i -lt 100 ] || {{ echo \"no '$1' within 10 s\"; kill $pid; exit 1; }}\n\
             sleep 0.1\n\
           done\n\
         }}\n\
         {steps}\
         kill -TERM $pid; wait $pid; echo \"agent exited $?\"\n\
         cat {log}\n",
        setpriv = agent_setpriv(),
        roster = quote(&artifacts().roster),
        config = quote(config),
    ))
}

#[test]
fn agent_syncs_at_start_then_at_once_on_sighup_and_stops_on_sigterm() {
    // A file:// source the script itself replaces; the interval is the default 5 minutes,
    // so serial 2 arriving within seconds is the SIGHUP's doing. The agent has only the
    // capabilities the shipped unit leaves it.
    let host = host();
    let source = host.write_signed("source.json", &snapshot(1));
    let next = host.write_signed("next.json", &snapshot(2));
    let url = format!("file://{}", source.display());
    let config = host.config("agent", &url, &[]);
    let steps = format!(
        "wait_for 'serial 1'\n\
         cp {next} {source}; cp {next}.sig {source}.sig\n\
         kill -HUP $pid\n\
         wait_for 'serial 2'\n",
        next = quote(&next),
        source = quote(&source),
    );
    let out = run_agent(&host, &config, &steps);
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (
            0,
            format!(
                "agent exited 0\n\
                 roster agent: syncing {url} every 5m\n\
                 roster agent: installed snapshot serial 1\n\
                 roster agent: SIGHUP, syncing now\n\
                 roster agent: installed snapshot serial 2 (was 1)\n\
                 roster agent: stopping\n"
            )
            .as_str()
        ),
        "{out:#?}"
    );
}

#[test]
fn agent_installed_unconfigured_waits_for_its_configuration() {
    // The package installs docs/examples/roster.toml with the source commented out and
    // starts the agent: it must wait (not exit, which systemd would restart in a loop),
    // and start syncing on the SIGHUP of `systemctl reload roster` once configured.
    let host = host();
    let source = host.write_signed("source.json", &snapshot(1));
    let url = format!("file://{}", source.display());
    let configured = host.config("configured", &url, &[]);
    let config = host.path("roster.toml");
    std::fs::copy(workspace_dir().join("docs/examples/roster.toml"), &config).unwrap();
    let steps = format!(
        "wait_for 'waiting for a usable configuration'\n\
         cp {configured} {config}\n\
         kill -HUP $pid\n\
         wait_for 'serial 1'\n",
        config = quote(&config),
        configured = quote(&configured),
    );
    let out = run_agent(&host, &config, &steps);
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (
            0,
            format!(
                "agent exited 0\n\
                 roster agent: waiting for a usable configuration (`systemctl reload roster` \
                 after editing it): {config}: source.url is not set: roster is not configured \
                 yet (set [source] url and signing_keys; see roster.toml(5))\n\
                 roster agent: SIGHUP, syncing now\n\
                 roster agent: syncing {url} every 5m\n\
                 roster agent: installed snapshot serial 1\n\
                 roster agent: stopping\n",
                config = config.display()
            )
            .as_str()
        ),
        "{out:#?}"
    );
}

#[test]
fn shipped_systemd_unit_verifies() {
    // systemd-analyze checks the unit's keys and that ExecStart's /usr/sbin/roster is
    // executable: an overlay puts the built binary there, in the sandbox's namespace only.
    // Its Documentation= page is checked where it is installed (tests/install.rs): the
    // sandbox's test passwd has no `man` user for man-db.
    let host = host();
    let sbin = host.path("sbin");
    std::fs::create_dir(&sbin).unwrap();
    std::fs::copy(&artifacts().roster, sbin.join("roster")).unwrap();
    let out = host.sandbox.run(&format!(
        "mount -t overlay roster-sbin -o ro,lowerdir={}:/usr/sbin /usr/sbin && \
         exec systemd-analyze verify --man=no {}",
        quote(&sbin),
        quote(&workspace_dir().join("debian/systemd/roster.service"))
    ));
    // A misspelt key is only a warning (exit 0): any output at all fails.
    assert_eq!(
        (out.status, out.stdout.as_str(), out.stderr.as_str()),
        (0, "", ""),
        "{out:#?}"
    );
}
