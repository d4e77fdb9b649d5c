//! `make demo` runs `roster demo`: the whole story on one machine, in private
//! namespaces, checked step by step by the command itself. This test runs it
//! as the README says and checks what an operator would read in its output.

use crate::common::artifacts;
use std::process::{Command, Stdio};

#[test]
fn roster_demo_tells_the_whole_story_and_leaves_nothing_behind() {
    let demo = Command::new(&artifacts().roster)
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run roster demo");
    let work = std::env::temp_dir().join(format!("roster-demo-{}", demo.id()));
    let out = demo.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "roster demo failed:\n{stdout}\n{stderr}"
    );
    // Each step's heading and the lines that prove it, in order.
    let expected = [
        "== 1. The operator: a user CA, a snapshot signing key, a people file",
        "built serial 1 into ",
        "(serving operator/public/ on http://127.0.0.1:8080/)",
        "== 2. The host pins the signing key and syncs the snapshot",
        "url = \"http://127.0.0.1:8080/snapshot.json\"",
        "roster: installed snapshot serial 1\n",
        "alice:*:10000:10000:Alice Liddell:/home/alice:/bin/bash\nroster-admins:*:9999:alice\n",
        "== 3. alice logs in with a 5-minute certificate, and has sudo (role admin)",
        "(exit status 0)\nuid=10000(alice) gid=10000(alice) groups=10000(alice),9999(roster-admins)\nsudo ok\n",
        "== 4. bob logs in, without sudo (role user)",
        "(exit status 0)\nuid=10001(bob) gid=10001(bob) groups=10001(bob)\nno sudo\n",
        "== 5. carol is disabled: refused, whatever her certificate",
        "carol@127.0.0.1 'id'   (exit status 255)",
        "sshd's log: roster: principals_denied account=carol ",
        "reason=\"account is disabled\"",
        "  ✗ state     account is disabled\n",
        "== 6. An expired certificate is refused",
        "alice@127.0.0.1 'id'   (exit status 255)",
        "reason=\"certificate refused: expired at ",
        "== 7. alice enters the shared account deploy with her own certificate",
        "(exit status 0)\ndeploy\nROSTER_USER=alice\n",
        "== 8. alice leaves: her open sessions end, her next login is refused",
        "built serial 2 into ",
        "roster: installed snapshot serial 2 (was 1)\n",
        "roster: offboarded account=alice reason=\"removed from the snapshot: ended ",
        "alice's session as alice ended ",
        "alice's session as deploy ended ",
        "alice@127.0.0.1 'id'   (exit status 255)",
        "Invalid user alice from 127.0.0.1",
        "== 9. The identity provider takes over: Okta provisions alice and bob over SCIM",
        "(roster-scim serves SCIM 2.0 on http://127.0.0.1:8441/scim/v2",
        "IdP → POST /scim/v2/Users {",
        "     ← 201",
        "IdP → POST /scim/v2/Groups {",
        "roster-scim published serial ",
        "roster: installed snapshot serial ",
        "(exit status 0)\nuid=10000(alice) gid=10000(alice) groups=10000(alice),9999(roster-admins)\nsudo ok\n",
        "(exit status 0)\nno sudo\n",
        "== 10. Okta adds bob to SRE and deactivates alice: the host follows within seconds",
        "IdP → PATCH /scim/v2/Groups/",
        "\"op\":\"add\"",
        "IdP → PATCH /scim/v2/Users/",
        "\"value\":{\"active\":false}",
        "roster: offboarded account=alice reason=\"disabled: ended ",
        "alice's session ended ",
        "(exit status 0)\nsudo ok\n",
        "alice@127.0.0.1 'id'   (exit status 255)",
        "reason=\"account is disabled\"",
        "== 11. The audit trail",
        "session_start    alice    alice   127.0.0.1",
        "session_start    deploy   alice   127.0.0.1",
        "offboarded       alice ",
        "The whole story took ",
    ];
    let mut rest: &str = &stdout;
    for line in expected {
        let at = rest.find(line).unwrap_or_else(|| {
            panic!("{line:?} missing (or out of order) in what followed:\n{rest}")
        });
        rest = &rest[at + line.len()..];
    }
    assert!(!work.exists(), "{} was left behind", work.display());
    assert_events_are_true(&stdout);
}

/// The events table tells no false line: every session ends at most once, as the
/// account it started as, for the person it started for, and only after it started —
/// never, say, a `session_end account=root` from sudo inside alice's session.
fn assert_events_are_true(stdout: &str) {
    let table = stdout
        .split("$ roster events\n")
        .nth(1)
        .expect("the events table");
    let mut open: Vec<(String, String, String)> = Vec::new();
    let (mut starts, mut ends) = (0, 0);
    for line in table.lines().skip(1).take_while(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let (event, account, person) = (cells[1], cells[2], cells[3]);
        match event {
            "session_start" => {
                starts += 1;
                open.push((account.into(), person.into(), cells[7].into()));
            }
            "session_end" => {
                ends += 1;
                let session = (account.to_owned(), person.to_owned(), cells[7].to_owned());
                let at = open.iter().position(|s| *s == session);
                assert!(
                    at.is_some(),
                    "a session_end no session_start opened: {line}\n{table}"
                );
                open.remove(at.unwrap());
            }
            _ => {}
        }
    }
    // alice ×2, bob, deploy ×2 from the people file; then through roster-scim alice
    // ×2 and bob ×2: each started and ended once.
    assert_eq!((starts, ends, open.len()), (9, 9, 0), "{table}");
}
