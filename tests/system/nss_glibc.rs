//! The NSS module loaded into the real glibc: what `getent`, `id` and C programs see.
//!
//! Each test builds a private mount namespace (see `common`) where `passwd` and `group`
//! are served by `files roster`, the local tables are `tests/fixtures/{passwd,group}` and
//! the snapshot is compiled from JSON with `roster snapshot compile`. Needs root.

use crate::common::{Output, Sandbox, group, read_fixture, sh_quote, snapshot_json, user};

// Golden lines for tests/fixtures/basic.json compiled against the fixture tables.
const ALICE: &str = "alice:*:10001:10001:Alice Liddell:/home/alice:/bin/bash";
const BOB: &str = "bob:*:10002:10002:Bob Builder:/home/bob:/bin/dash";
const DAVE: &str = "dave:*:10004:10004:Dave Zsh:/home/dave:/bin/sh";
const DEVS: &str = "devs:*:10010:alice,bob";
const OPS: &str = "ops:*:10011:dave,alice";
const SNAPSHOT_GROUPS: [&str; 5] = ["alice:*:10001:", "bob:*:10002:", "dave:*:10004:", DEVS, OPS];
const ROOT: &str = "root:x:0:0:root:/root:/bin/bash";
const LOCAL_CAROL: &str = "carol:x:1001:1001:Carol Local:/home/carol:/bin/bash";

fn basic() -> Sandbox {
    Sandbox::with_snapshot(&read_fixture("basic.json"))
}

fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Asserts a command succeeded and printed exactly `expected`.
#[track_caller]
fn assert_prints(out: Output, expected: &str) {
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (0, expected),
        "stderr: {}",
        out.stderr
    );
}

/// `getent ARGS` prints exactly these lines.
#[track_caller]
fn assert_getent(sandbox: &Sandbox, args: &str, expected: &[&str]) {
    assert_prints(sandbox.getent(args), &lines(expected));
}

/// What enumerating `table` prints: the local fixture's lines, then `snapshot`'s.
fn local_then(table: &str, snapshot: &[&str]) -> String {
    read_fixture(table) + &lines(snapshot)
}

/// `getent ARGS` finds nothing: exit status 2 and no output.
#[track_caller]
fn assert_not_found(sandbox: &Sandbox, args: &str) {
    let out = sandbox.getent(args);
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (2, ""),
        "getent {args}: stderr: {}",
        out.stderr
    );
}

// --- Lookups ---

#[test]
fn snapshot_user_resolves_by_name() {
    assert_getent(&basic(), "passwd alice", &[ALICE]);
}

#[test]
fn snapshot_user_resolves_by_uid() {
    assert_getent(&basic(), "passwd 10001", &[ALICE]);
}

#[test]
fn snapshot_group_resolves_by_name_with_members_in_snapshot_order() {
    let sandbox = basic();
    assert_getent(&sandbox, "group devs", &[DEVS]);
    assert_getent(&sandbox, "group ops", &[OPS]);
}

#[test]
fn snapshot_group_resolves_by_gid() {
    assert_getent(&basic(), "group 10010", &[DEVS]);
}

#[test]
fn group_without_members_resolves() {
    assert_getent(&basic(), "group alice", &["alice:*:10001:"]);
}

#[test]
fn initgroups_merges_local_and_snapshot_groups() {
    // getent passes no primary group, so only memberships count; the local group `users`
    // lists alice too. getent pads the name to 21 columns.
    assert_getent(
        &basic(),
        "initgroups alice",
        &["alice                 100 10010 10011"],
    );
}

#[test]
fn id_shows_snapshot_user_and_groups() {
    assert_prints(
        basic().run("exec id alice"),
        "uid=10001(alice) gid=10001(alice) groups=10001(alice),100(users),10010(devs),10011(ops)\n",
    );
}

#[test]
fn shell_not_in_shells_file_is_served_as_bin_sh() {
    assert_getent(&basic(), "passwd dave", &[DAVE]);
}

#[test]
fn unknown_names_and_ids_are_not_found() {
    let sandbox = basic();
    for args in [
        "passwd nosuchuser",
        "passwd 10099",
        "group nosuchgroup",
        "group 10099",
    ] {
        assert_not_found(&sandbox, args);
    }
}

// --- Enumeration ---

#[test]
fn user_enumeration_lists_local_users_then_snapshot_users_in_order() {
    let expected = local_then("passwd", &[ALICE, BOB, DAVE]);
    assert_prints(basic().getent("passwd"), &expected);
}

#[test]
fn group_enumeration_lists_local_groups_then_snapshot_groups_in_order() {
    let expected = local_then("group", &SNAPSHOT_GROUPS);
    assert_prints(basic().getent("group"), &expected);
}

// --- Local accounts come first ---

#[test]
fn local_user_shadows_snapshot_user() {
    // The compiler drops carol (user and group): the fixture tables have both names.
    let mut sandbox = Sandbox::new();
    let compiled = sandbox.compile(&read_fixture("basic.json"));
    assert!(
        compiled.summary.lines().any(|l| l.contains("carol")),
        "the compile summary should name the dropped carol:\n{}",
        compiled.summary
    );
    sandbox.install(&compiled.path);
    assert_getent(&sandbox, "passwd carol", &[LOCAL_CAROL]);
    assert_not_found(&sandbox, "passwd 10003");
    assert_getent(&sandbox, "group carol", &["carol:x:1001:"]);
    let users = sandbox.getent("passwd").stdout;
    assert_eq!(users.matches("\ncarol:").count(), 1, "{users}");
}

#[test]
fn local_user_added_after_compilation_wins_lookup_by_name() {
    // Compiled while the local tables had no carol; carol is then created locally.
    let mut sandbox = Sandbox::new();
    let dir = sandbox.dir().to_path_buf();
    let without_carol = |table: &str| {
        let text: String = read_fixture(table)
            .lines()
            .filter(|l| !l.starts_with("carol:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.join(format!("{table}-without-carol"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let (passwd, group) = (without_carol("passwd"), without_carol("group"));
    let compiled = sandbox.compile_against(&read_fixture("basic.json"), &passwd, &group);
    sandbox.install(&compiled.path);
    assert_getent(&sandbox, "passwd carol", &[LOCAL_CAROL]);
    assert_getent(&sandbox, "group carol", &["carol:x:1001:"]);
    // Nor does the local carol inherit the snapshot carol's memberships (ops).
    assert_prints(
        sandbox.run("exec id carol"),
        "uid=1001(carol) gid=1001(carol) groups=1001(carol),100(users)\n",
    );
}

// --- What a snapshot can never add ---

#[test]
fn snapshot_cannot_add_root_or_uid_0() {
    let json = snapshot_json(
        1,
        &[
            user("root", 10020, 10020, "Fake Root", "/bin/bash"),
            user("toor", 0, 0, "Uid Zero", "/bin/bash"),
            user("alice", 10001, 10001, "Alice Liddell", "/bin/bash"),
        ],
        &[
            group("root", 10020, &["alice"]),
            group("wheel0", 0, &["alice"]),
            group("alice", 10001, &[]),
        ],
    );
    let sandbox = Sandbox::with_snapshot(&json);
    assert_getent(&sandbox, "passwd root", &[ROOT]);
    assert_getent(&sandbox, "passwd 0", &[ROOT]);
    assert_not_found(&sandbox, "passwd toor");
    assert_not_found(&sandbox, "passwd 10020");
    assert_getent(&sandbox, "group root", &["root:x:0:"]);
    assert_getent(&sandbox, "group 0", &["root:x:0:"]);
    assert_not_found(&sandbox, "group wheel0");
    assert_prints(sandbox.getent("passwd"), &local_then("passwd", &[ALICE]));
    assert_prints(
        sandbox.getent("group"),
        &local_then("group", &["alice:*:10001:"]),
    );
}

#[test]
fn snapshot_entries_with_reserved_ids_are_dropped() {
    // Below the regular range, nobody, (uid_t)-1 as 16 and 32 bits, systemd's dynamic
    // range, beyond i32, and an id the local tables already use.
    let reserved: [u64; 8] = [
        999, 65534, 65535, 61184, 65519, 4294967295, 2147483648, 1001,
    ];
    let mut users: Vec<String> = reserved
        .iter()
        .map(|id| user(&format!("u{id}"), *id, 10001, "Reserved", "/bin/bash"))
        .collect();
    users.push(user("alice", 10001, 10001, "Alice Liddell", "/bin/bash"));
    let mut groups: Vec<String> = reserved
        .iter()
        .map(|id| group(&format!("g{id}"), *id, &["alice"]))
        .collect();
    groups.push(group("alice", 10001, &[]));
    let mut sandbox = Sandbox::new();
    let compiled = sandbox.compile(&snapshot_json(1, &users, &groups));
    for name in reserved
        .iter()
        .flat_map(|id| [format!("u{id}"), format!("g{id}")])
    {
        assert!(
            compiled.summary.lines().any(|l| l.contains(&name)),
            "the compile summary should name the dropped {name}:\n{}",
            compiled.summary
        );
    }
    sandbox.install(&compiled.path);
    let nobody = "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin";
    assert_getent(&sandbox, "passwd 65534", &[nobody]);
    assert_not_found(&sandbox, "passwd u65534");
    assert_not_found(&sandbox, "passwd 4294967295");
    assert_prints(sandbox.getent("passwd"), &local_then("passwd", &[ALICE]));
    assert_prints(
        sandbox.getent("group"),
        &local_then("group", &["alice:*:10001:"]),
    );
    assert_prints(
        sandbox.run("exec id alice"),
        "uid=10001(alice) gid=10001(alice) groups=10001(alice),100(users)\n",
    );
}

// --- Broken, missing or unsafe snapshot files ---

/// Lookups printed by [`transcript_script`]: snapshot names, then local ones.
const TRANSCRIPT_QUERIES: [&str; 6] = [
    "passwd alice",
    "passwd 10001",
    "group devs",
    "passwd root",
    "passwd",
    "group",
];

fn transcript_script() -> String {
    TRANSCRIPT_QUERIES
        .iter()
        .map(|q| format!("echo '== {q}'; getent {q}; echo \"-> $?\"\n"))
        .collect()
}

/// The transcript when no snapshot entry is served: only the local tables answer.
fn local_only_transcript() -> String {
    let answers = [
        ("2", String::new()),
        ("2", String::new()),
        ("2", String::new()),
        ("0", lines(&[ROOT])),
        ("0", read_fixture("passwd")),
        ("0", read_fixture("group")),
    ];
    TRANSCRIPT_QUERIES
        .iter()
        .zip(answers)
        .map(|(q, (status, out))| format!("== {q}\n{out}-> {status}\n"))
        .collect()
}

/// Checks that the basic snapshot is served, runs `change` (shell) in the namespace, then
/// asserts that no snapshot entry is served any more while local accounts still are.
#[track_caller]
fn assert_refused_after(sandbox: &Sandbox, change: &str) {
    let script = format!(
        "getent passwd alice >/dev/null || {{ echo 'alice not served before the change' >&2; exit 90; }}\n\
         {change} || exit 91\n{}",
        transcript_script()
    );
    let out = sandbox.run(&script);
    assert_eq!(out.status, 0, "after `{change}`: {out:#?}");
    assert_eq!(out.stdout, local_only_transcript(), "after `{change}`");
}

/// For each `(label, contents)`, rewrites the installed snapshot in place with those bytes
/// and asserts that no snapshot entry is served while local accounts still are. All in one
/// namespace, after checking that the original file is served.
#[track_caller]
fn assert_refused_with_contents(sandbox: &Sandbox, variants: &[(String, Vec<u8>)]) {
    let mut script = String::from(
        "getent passwd alice >/dev/null || { echo 'alice not served' >&2; exit 90; }\n",
    );
    for (i, (label, bytes)) in variants.iter().enumerate() {
        let path = sandbox.dir().join(format!("variant-{i}"));
        std::fs::write(&path, bytes).unwrap();
        let path = sh_quote(path.to_str().unwrap());
        script +=
            &format!("cat {path} > /var/lib/roster/snapshot || exit 91\necho '### {label}'\n");
        script += &transcript_script();
    }
    // From a file: one variant per byte of the header and section table makes the script
    // longer than one exec argument may be (MAX_ARG_STRLEN, 128 KiB).
    let file = sandbox.dir().join("variants.sh");
    std::fs::write(&file, script).unwrap();
    let out = sandbox.run(&format!(
        "exec /bin/sh {}",
        sh_quote(file.to_str().unwrap())
    ));
    assert_eq!(out.status, 0, "{out:#?}");
    let mut sections = out.stdout.split("### ").skip(1);
    for (label, _) in variants {
        let section = sections.next().unwrap_or_default();
        assert_eq!(
            section,
            format!("{label}\n{}", local_only_transcript()),
            "snapshot served despite: {label}"
        );
    }
}

/// The bytes of the basic fixture compiled against the fixture tables.
fn basic_bytes(sandbox: &Sandbox) -> Vec<u8> {
    std::fs::read(sandbox.compile(&read_fixture("basic.json")).path).unwrap()
}

#[test]
fn missing_snapshot_leaves_local_accounts_working() {
    let out = Sandbox::new().run(&transcript_script());
    assert_eq!(out.stdout, local_only_transcript(), "{out:#?}");
}

#[test]
fn empty_snapshot_serves_nothing() {
    assert_refused_with_contents(&basic(), &[("empty file".into(), Vec::new())]);
}

#[test]
fn truncated_snapshot_serves_nothing() {
    let sandbox = basic();
    let bytes = basic_bytes(&sandbox);
    let variants: Vec<(String, Vec<u8>)> = [1, 8, 63, 64, 100, bytes.len() / 2, bytes.len() - 1]
        .into_iter()
        .map(|len| (format!("truncated to {len} bytes"), bytes[..len].to_vec()))
        .collect();
    assert_refused_with_contents(&sandbox, &variants);
}

#[test]
fn snapshot_with_any_header_byte_flipped_serves_nothing() {
    let sandbox = basic();
    let bytes = basic_bytes(&sandbox);
    // The 64-byte header and the 24-byte section entries after it, whose count is the u32
    // at offset 12 (src/host/compiled/mod.rs); a CRC in the header covers both.
    let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let variants: Vec<(String, Vec<u8>)> = (0..64 + 24 * count)
        .map(|offset| {
            let mut corrupt = bytes.clone();
            corrupt[offset] ^= 0x01;
            (format!("byte {offset} flipped"), corrupt)
        })
        .collect();
    assert_refused_with_contents(&sandbox, &variants);
}

#[test]
fn snapshot_with_corrupt_record_never_serves_it() {
    let sandbox = basic();
    let mut bytes = basic_bytes(&sandbox);
    let needle = b"Alice Liddell";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("alice's gecos stored verbatim in the compiled snapshot");
    bytes[at + 2] ^= 0x01; // "Alice" becomes "Amice".
    let path = sandbox.dir().join("record-flip");
    std::fs::write(&path, bytes).unwrap();
    let out = sandbox.run(&format!(
        "cat {} > /var/lib/roster/snapshot\n{}",
        sh_quote(path.to_str().unwrap()),
        transcript_script()
    ));
    // The damaged record must never be served; other snapshot entries may be served (if
    // each record is checked) or not (if the whole body is), but only exactly.
    assert!(!out.stdout.contains("Amice"), "{out:#?}");
    assert!(!out.stdout.contains(ALICE), "{out:#?}");
    let allowed: Vec<&str> = [ALICE, BOB, DAVE]
        .into_iter()
        .chain(SNAPSHOT_GROUPS)
        .collect();
    let local = read_fixture("passwd") + &read_fixture("group");
    for line in out.stdout.lines() {
        assert!(
            line.starts_with("== ")
                || line.starts_with("-> ")
                || local.lines().any(|l| l == line)
                || allowed.contains(&line),
            "unexpected line {line:?} in:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("== passwd alice\n-> 2\n"), "{out:#?}");
    assert!(out.stdout.contains("== passwd 10001\n-> 2\n"), "{out:#?}");
    assert!(
        out.stdout
            .contains(&format!("== passwd root\n{ROOT}\n-> 0\n")),
        "{out:#?}"
    );
}

#[test]
fn world_writable_snapshot_is_refused() {
    assert_refused_after(&basic(), "chmod 0666 /var/lib/roster/snapshot");
}

#[test]
fn group_writable_snapshot_is_refused() {
    assert_refused_after(&basic(), "chmod 0664 /var/lib/roster/snapshot");
}

#[test]
fn snapshot_owned_by_non_root_is_refused() {
    assert_refused_after(&basic(), "chown 1000:0 /var/lib/roster/snapshot");
}

#[test]
fn symlinked_snapshot_is_refused() {
    assert_refused_after(
        &basic(),
        "mv /var/lib/roster/snapshot /var/lib/roster/real && ln -s real /var/lib/roster/snapshot",
    );
}

#[test]
fn snapshot_that_is_not_a_regular_file_is_refused() {
    // A FIFO would block a module that opened it before checking; `timeout` turns a hang
    // into a failure (exit 124) instead of stalling the suite.
    let script = "getent passwd alice >/dev/null || exit 90\n\
         rm /var/lib/roster/snapshot && mkfifo -m 0644 /var/lib/roster/snapshot || exit 91\n\
         timeout 10 getent passwd alice; echo \"-> $?\"\n\
         rmdir /var/lib/roster/snapshot 2>/dev/null; rm -f /var/lib/roster/snapshot\n\
         mkdir -m 0755 /var/lib/roster/snapshot && getent passwd alice; echo \"-> $?\"";
    assert_prints(basic().run(script), "-> 2\n-> 2\n");
}

#[test]
fn group_or_world_writable_snapshot_directory_is_refused() {
    let sandbox = basic();
    assert_refused_after(&sandbox, "chmod 0775 /var/lib/roster");
    assert_refused_after(&sandbox, "chmod 0777 /var/lib/roster");
    assert_refused_after(&sandbox, "chmod 1777 /var/lib/roster");
}

#[test]
fn snapshot_directory_owned_by_non_root_is_refused() {
    assert_refused_after(&basic(), "chown 1000:0 /var/lib/roster");
}

#[test]
fn symlinked_snapshot_directory_is_refused() {
    assert_refused_after(
        &basic(),
        "mv /var/lib/roster /var/lib/roster.real && ln -s roster.real /var/lib/roster",
    );
}

// --- The C interface under stress (programs in tests/c) ---

/// A sandbox where only the module answers `passwd`/`group`, so every buffer-size error
/// comes from it rather than from `files`, with a 300-member group and long fields.
fn sweep_sandbox() -> Sandbox {
    let members: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    let mut users = vec![
        user("alice", 10001, 10001, "Alice Liddell", "/bin/bash"),
        user("bob", 10002, 10002, "Bob Builder", "/bin/dash"),
        user("long", 10005, 10005, long_gecos().as_str(), "/bin/bash"),
    ];
    users.extend(
        members
            .iter()
            .enumerate()
            .map(|(i, m)| user(m, 11000 + i as u64, 12000, m, "/bin/sh")),
    );
    let member_refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let groups = [
        group("alice", 10001, &[]),
        group("devs", 10010, &["alice", "bob"]),
        group("crowd", 12000, &member_refs),
    ];
    let mut sandbox = Sandbox::with_snapshot(&snapshot_json(1, &users, &groups));
    sandbox.set_sources("roster");
    sandbox
}

/// 254 bytes: the compiler drops a gecos longer than 256 bytes.
fn long_gecos() -> String {
    "Long Gecos Field ".repeat(15).trim_end().to_string()
}

#[track_caller]
fn assert_sweep(sandbox: &Sandbox, function: &str, key: &str, expected: &str) {
    let exe = sandbox.cc("buffer_sweep");
    let out = sandbox.run(&format!(
        "exec {} {function} {key}",
        sh_quote(exe.to_str().unwrap())
    ));
    println!("{function} {key}:\n{}", out.stderr); // Sizes needed, shown with --nocapture.
    assert_prints(out, &format!("{expected}\n"));
}

#[test]
fn reentrant_user_lookups_report_erange_until_the_buffer_fits() {
    let sandbox = sweep_sandbox();
    assert_sweep(&sandbox, "getpwnam", "alice", ALICE);
    assert_sweep(&sandbox, "getpwuid", "10001", ALICE);
    let long = format!("long:*:10005:10005:{}:/home/long:/bin/bash", long_gecos());
    assert_sweep(&sandbox, "getpwnam", "long", &long);
}

#[test]
fn reentrant_group_lookups_report_erange_until_the_buffer_fits() {
    let sandbox = sweep_sandbox();
    assert_sweep(&sandbox, "getgrnam", "devs", DEVS);
    assert_sweep(&sandbox, "getgrgid", "10010", DEVS);
    assert_sweep(&sandbox, "getgrnam", "alice", "alice:*:10001:");
    let members: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    let crowd = format!("crowd:*:12000:{}", members.join(","));
    assert_sweep(&sandbox, "getgrnam", "crowd", &crowd);
    assert_sweep(&sandbox, "getgrgid", "12000", &crowd);
}

/// Two generations that differ consistently; see tests/c/generations.h.
fn generation(which: char) -> String {
    let (id, group_id, members): (u64, u64, &[&str]) = match which {
        'A' => (20001, 20011, &["alice", "gen"]),
        _ => (20002, 20012, &["gen"]),
    };
    snapshot_json(
        if which == 'A' { 1 } else { 2 },
        &[
            user("alice", 10001, 10001, "Alice Liddell", "/bin/bash"),
            user("bob", 10002, 10002, "Bob Builder", "/bin/dash"),
            // The primary group stays 20001: callers pass it to getgrouplist,
            // and snapshot groups apply only to the snapshot user's own gid.
            user("gen", id, 20001, &which.to_string(), "/bin/bash"),
        ],
        &[
            group("alice", 10001, &[]),
            group("bob", 10002, &[]),
            group("devs", 10010, &["alice", "bob"]),
            group("gen", id, &[]),
            group("gengrp", group_id, members),
        ],
    )
}

/// Runs tests/c/NAME.c with both generations' files (A installed) and `count`.
fn run_with_generations(name: &str, count: u32) -> Output {
    let mut sandbox = Sandbox::new();
    let a = sandbox.compile(&generation('A')).path;
    let b = sandbox.compile(&generation('B')).path;
    sandbox.install(&a);
    let exe = sandbox.cc(name);
    let arg = |p: &std::path::Path| sh_quote(p.to_str().unwrap());
    sandbox.run(&format!(
        "exec {} {} {} {count}",
        arg(&exe),
        arg(&a),
        arg(&b)
    ))
}

#[test]
fn concurrent_lookups_see_whole_generations_while_the_snapshot_is_replaced() {
    let out = run_with_generations("concurrency", 400);
    println!("{}", out.stdout); // Statistics, shown with --nocapture.
    assert_eq!(out.status, 0, "{out:#?}");
}

#[test]
fn forking_during_lookups_does_not_deadlock_the_child() {
    let out = run_with_generations("fork", 200);
    assert_eq!(out.status, 0, "{out:#?}");
}

#[test]
fn panic_inside_the_module_is_contained() {
    let mut sandbox = basic();
    sandbox.use_panic_module();
    let exe = sandbox.cc("panic");
    let out = sandbox.run(&format!("exec {}", sh_quote(exe.to_str().unwrap())));
    // The default panic hook's message is the only outside proof that the panic happened.
    assert!(
        out.stderr.contains("panicked"),
        "no panic reported: is the test-panic hook wired? {out:#?}"
    );
    assert_prints(out, "ok\n");
    assert_not_found(&sandbox, "passwd roster-test-panic");
}
