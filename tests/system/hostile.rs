//! The hostile snapshot campaign: a signed snapshot is still untrusted input. One
//! snapshot carries, beside a legitimate alice and her group, entries that try uid 0,
//! reserved and system ids, local names, case and Unicode look-alikes, sudoers
//! injection, home traversal, shells with arguments, 1 MB fields and a group of 10
//! million members; each must be dropped (or, for a shell, adjusted) with its reason,
//! and the rest must still be served through the real glibc. JSON nested a million deep
//! is skipped or drops its entry; a document that is not a v1 snapshot is refused whole
//! with a reason (`roster sync` then keeps the last good snapshot, and caps the size of
//! what it fetches: tests/system/sync.rs).

use crate::common::{Sandbox, artifacts, group, json_str};
use std::fmt::Write as _;
use std::process::Command;

/// A user entry as the schema has it, with every field given.
fn entry(name: &str, uid: u64, gid: u64, gecos: &str, home: &str, shell: &str) -> String {
    format!(
        r#"{{"name":{},"uid":{uid},"gid":{gid},"gecos":{},"home":{},"shell":{},"state":"active","role":"user","kind":"person"}}"#,
        json_str(name),
        json_str(gecos),
        json_str(home),
        json_str(shell)
    )
}

fn person(name: &str, uid: u64) -> String {
    entry(name, uid, uid, "", &format!("/home/{name}"), "/bin/bash")
}

fn document(users: &[String], groups: &[String], sudo: &[String]) -> String {
    format!(
        r#"{{"format":"roster-snapshot/1","serial":7,"issued_at":"2026-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","users":[{}],"groups":[{}],"sudo":[{}]}}"#,
        users.join(","),
        groups.join(","),
        sudo.join(",")
    )
}

fn sudo_rule(group: &str, command: &str, runas: &str) -> String {
    format!(
        r#"{{"group":{},"commands":[{}],"runas":{}}}"#,
        json_str(group),
        json_str(command),
        json_str(runas)
    )
}

#[test]
fn hostile_entries_are_dropped_with_their_reason_and_the_rest_is_served() {
    let megabyte = "x".repeat(1 << 20);
    let users = [
        person("alice", 10001),
        person("root2", 0), // uid 0 under another name
        entry("gidzero", 10002, 0, "", "/home/gidzero", "/bin/bash"),
        person("nobody2", 65534),       // the overflow id
        person("minusone", 4294967295), // (uid_t)-1
        person("dynamic", 61184),       // systemd's dynamic range
        person("negative", 2147483648), // above INT32_MAX
        person("system", 999),          // below min_uid
        person("carol", 10003),         // a local account's name
        person("root", 10004),          // a reserved name
        person("Alice", 10005),         // case look-alike
        person("\u{0430}lice", 10006),  // Cyrillic a
        person("alice\u{200b}", 10007), // zero-width space
        entry("dots", 10008, 10008, "", "/home/../etc", "/bin/bash"),
        entry(
            "deep",
            10009,
            10009,
            "",
            "/home/deep/../../root",
            "/bin/bash",
        ),
        entry("outside", 10010, 10010, "", "/etc/outside", "/bin/bash"),
        entry("relative", 10011, 10011, "", "home/relative", "/bin/bash"),
        entry(
            "shellarg",
            10012,
            10012,
            "",
            "/home/shellarg",
            "/bin/sh -c 'id>/tmp/x'",
        ),
        entry(
            "bigfield",
            10013,
            10013,
            &megabyte,
            "/home/bigfield",
            "/bin/bash",
        ),
        entry("colon", 10014, 10014, "a:b", "/home/colon", "/bin/bash"),
        entry(
            "newline",
            10015,
            10015,
            "a\nroot::0:0::/:/bin/sh",
            "/home/newline",
            "/bin/bash",
        ),
    ];
    let mut huge = String::with_capacity(120 << 20);
    huge.push_str(r#"{"name":"huge","gid":10101,"members":["#);
    for i in 0..10_000_000u32 {
        if i > 0 {
            huge.push(',');
        }
        write!(huge, "\"m{i}\"").unwrap();
    }
    huge.push_str("]}");
    let groups = [
        group("devs", 10100, &["alice"]),
        huge,
        group("wheel2", 0, &["alice"]),
    ];
    let sudo = [
        sudo_rule("devs", "/usr/bin/systemctl restart nginx", "root"),
        sudo_rule("devs", "/bin/ls\nALL ALL=(ALL) NOPASSWD: ALL", "root"),
        sudo_rule("devs", "/usr/bin/less, /bin/sh", "root"),
        sudo_rule("devs", "ALL", "root"),
        sudo_rule(
            "devs",
            "/usr/bin/vi /etc/sudoers",
            "root\nALL ALL=(ALL) ALL",
        ),
        sudo_rule("devs", "/usr/../bin/sh", "root"),
    ];
    let sandbox = Sandbox::new();
    let compiled = sandbox.compile(&document(&users, &groups, &sudo));
    let summary = compiled.summary.as_str();
    print!("{summary}");
    let expected = [
        "dropped user \"root2\" (users[1]): uid 0 is root's",
        "dropped user \"gidzero\" (users[2]): gid 0 is root's",
        "dropped user \"nobody2\" (users[3]): uid 65534 is reserved (nobody / invalid id)",
        "dropped user \"minusone\" (users[4]): uid 4294967295 is reserved (nobody / invalid id)",
        "dropped user \"dynamic\" (users[5]): uid 61184 is in systemd's dynamic range 61184-65519",
        "dropped user \"negative\" (users[6]): uid 2147483648 is above 2147483647",
        "dropped user \"system\" (users[7]): uid 999 is below the minimum 10000",
        "dropped user \"carol\" (users[8]): name belongs to a local account or group",
        "dropped user \"root\" (users[9]): name is reserved",
        "dropped user \"Alice\" (users[10]): name does not match ^[a-z_][a-z0-9_-]{0,31}$",
        "dropped user \"\u{0430}lice\" (users[11]): name does not match ^[a-z_]",
        "dropped user \"alice\\u{200b}\" (users[12]): name does not match ^[a-z_]",
        "dropped user \"dots\" (users[13]): home is not normalised",
        "dropped user \"deep\" (users[14]): home is not normalised",
        "dropped user \"outside\" (users[15]): home is not below an allowed home prefix",
        "dropped user \"relative\" (users[16]): home is not an absolute path",
        "adjusted user \"shellarg\" (users[17]): shell \"/bin/sh -c 'id>/tmp/x'\" is not allowed, serving \"/bin/sh\"",
        "dropped user \"bigfield\" (users[18]): gecos is longer than 256 bytes",
        "dropped user \"colon\" (users[19]): gecos contains ':'",
        "dropped user \"newline\" (users[20]): gecos contains a NUL, newline or control character",
        "dropped group \"huge\" (groups[1]): 10000000 members, over the limit of 100000",
        "dropped group \"wheel2\" (groups[2]): gid 0 is root's",
        "(sudo[1]): sudo rule refused: command \"/bin/ls\\nALL ALL=(ALL) NOPASSWD: ALL\" is not an absolute, plain path",
        "(sudo[2]): sudo rule refused: command \"/usr/bin/less, /bin/sh\" is not an absolute, plain path",
        "(sudo[3]): sudo rule refused: command \"ALL\" is not an absolute, plain path",
        "(sudo[4]): sudo rule refused: run-as user \"root\\nALL ALL=(ALL) ALL\" is not a valid name",
        "(sudo[5]): sudo rule refused: command \"/usr/../bin/sh\" is not an absolute, plain path",
    ];
    for line in expected {
        assert!(summary.contains(line), "no {line:?} in:\n{summary}");
    }
    assert!(
        !summary.contains("(sudo[0])"),
        "the valid rule was dropped:\n{summary}"
    );
    assert!(
        summary.contains("2 users and 1 groups kept, 26 entries dropped"),
        "alice and shellarg, devs:\n{summary}"
    );
    let mut sandbox = sandbox;
    sandbox.install(&compiled.path);
    let out = sandbox.run(
        "getent passwd alice shellarg; getent group devs; \
         for n in root2 gidzero nobody2 Alice carol dots bigfield newline huge wheel2; do \
           getent passwd $n | grep -v '^root:\\|^nobody:\\|^carol:x:1001' ; getent group $n | grep -v '^root:\\|^carol:x:1001'; \
         done; getent passwd 0 10002 10014",
    );
    assert_eq!(
        out.stdout,
        "alice:*:10001:10001::/home/alice:/bin/bash\n\
         shellarg:*:10012:10012::/home/shellarg:/bin/sh\n\
         devs:*:10100:alice\n\
         root:x:0:0:root:/root:/bin/bash\n",
        "{out:#?}"
    );
}

/// Runs `roster snapshot compile` on `json`; returns (exit status, stdout + stderr).
fn compile(sandbox: &Sandbox, json: &str) -> (i32, String) {
    let source = sandbox.dir().join("doc.json");
    std::fs::write(&source, json).unwrap();
    let etc = sandbox.dir().join("etc");
    let out = Command::new(&artifacts().roster)
        .args(["snapshot", "compile"])
        .arg(&source)
        .arg("--output")
        .arg(sandbox.dir().join("doc.out"))
        .arg("--passwd")
        .arg(etc.join("passwd"))
        .arg("--group")
        .arg(etc.join("group"))
        .arg("--shells")
        .arg(etc.join("shells"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn nesting_a_million_deep_is_skipped_or_dropped_and_broken_documents_are_refused() {
    let sandbox = Sandbox::new();
    let nest = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    // In an unknown top-level member (ignored) and inside two entries (dropped).
    let json = document(
        &[
            person("alice", 10001),
            format!(r#"{{"name":"deep","x":{nest}}}"#),
            format!(r#"{{"name":"deeper","uid":{nest}}}"#),
        ],
        &[],
        &[],
    )
    .replacen('{', &format!(r#"{{"junk":{nest},"#), 1);
    let (status, out) = compile(&sandbox, &json);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains("1 users and 0 groups kept, 2 entries dropped"),
        "{out}"
    );
    assert!(
        out.contains("dropped user \"deep\" (users[1]): malformed entry: missing field `gid`"),
        "{out}"
    );
    assert!(
        out.contains("dropped user \"deeper\" (users[2]): malformed entry: invalid type: sequence"),
        "{out}"
    );
    // Documents that are not a v1 snapshot are refused whole, and nothing is written.
    for json in [
        "\u{0}\u{1}garbage",
        "[]",
        r#"{"format":"roster-snapshot/2"}"#,
    ] {
        let _ = std::fs::remove_file(sandbox.dir().join("doc.out"));
        let (status, out) = compile(&sandbox, json);
        assert!(
            status != 0 && out.contains("refused: snapshot is not a well-formed v1 document"),
            "{json:?}: {status} {out}"
        );
        assert!(
            !sandbox.dir().join("doc.out").exists(),
            "{json:?} was compiled"
        );
    }
}

#[test]
fn a_user_with_another_users_home_is_dropped_and_only_the_first_is_served() {
    // bob copies alice's home, erin's lies inside it: each would be handed alice's files
    // (or could replace them). The later entry is dropped, naming the earlier one.
    let users = [
        person("alice", 10001),
        entry("bob", 10002, 10002, "", "/home/alice", "/bin/bash"),
        entry("erin", 10003, 10003, "", "/home/alice/erin", "/bin/bash"),
        person("dave", 10004),
    ];
    let groups = [group("devs", 10100, &["alice", "bob", "erin", "dave"])];
    let mut sandbox = Sandbox::new();
    let compiled = sandbox.compile(&document(&users, &groups, &[]));
    let dropped: Vec<&str> = compiled
        .summary
        .lines()
        .filter(|l| l.starts_with("  "))
        .collect();
    assert_eq!(
        dropped,
        [
            "  dropped user \"bob\" (users[1]): home \"/home/alice\" is already the home of user \
             \"alice\" (users[0])",
            "  dropped user \"erin\" (users[2]): home \"/home/alice/erin\" is inside the home of \
             user \"alice\" (users[0])",
            "  dropped member \"bob\" of group \"devs\": not a user of this snapshot",
            "  dropped member \"erin\" of group \"devs\": not a user of this snapshot",
        ],
        "{}",
        compiled.summary
    );
    sandbox.install(&compiled.path);
    let out = sandbox.run(
        "getent passwd alice bob erin dave; echo \"exit $?\"; \
         getent passwd 10002 10003; echo \"exit $?\"; getent group devs",
    );
    assert_eq!(
        out.stdout,
        "alice:*:10001:10001::/home/alice:/bin/bash\n\
         dave:*:10004:10004::/home/dave:/bin/bash\n\
         exit 2\n\
         exit 2\n\
         devs:*:10100:alice,dave\n",
        "{out:#?}"
    );
}
