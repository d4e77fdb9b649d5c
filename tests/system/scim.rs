//! The identity provider's changes on a host, end to end: SCIM requests in Okta's
//! dialect → roster-scim (SQLite) → the signed snapshot it publishes → `roster sync` on a
//! host in its own namespaces → logins through the real sshd, sudo, and the session of a
//! deactivated person ended.

use serde_json::{Value, json};
use std::time::Duration;

use crate::common::host::Host;
use crate::common::scim::{Scim, patch_op, user};
use crate::common::sshd::assert_session;

const PROJECT: &str = r#"
[project.web]
users = ["Engineering"]
admins = ["SRE"]
"#;

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

#[test]
fn okta_adds_bob_to_the_admins_and_deactivating_alice_ends_her_session() {
    let mut scim = Scim::start(Scim::config().project(PROJECT));
    let line = scim.signer.public_line();
    let host = Host::new()
        .packaged()
        .sudo()
        .config(|c| c.signing_key = Some(line))
        .build();
    scim.trust_user_ca(&host.ca.public);
    let sync = |what: &str| {
        host.publish_signed(&scim.snapshot_path("web"));
        let out = host.sync();
        assert_eq!(out.status, 0, "roster sync after {what}:\n{out:#?}");
    };

    // Okta creates alice and bob (its POST /Users) and pushes the SRE group with alice.
    let alice = id_of(&scim.post("/Users", &user("alice@example.com")).1);
    let bob = id_of(&scim.post("/Users", &user("bob@example.com")).1);
    let (status, sre) = scim.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "SRE", "members": [{"value": alice, "display": "alice@example.com"}]}),
    );
    assert_eq!(status, 201, "{sre}");
    let sre = id_of(&sre);
    scim.published_when("web", "alice", |s| {
        s["users"].as_array().unwrap().len() == 1
    });
    sync("alice joined SRE");
    let bob_key = host.person("bob", 102);
    let refused = host.login("bob", &bob_key, "true");
    assert_eq!(refused.status, 255, "bob is in no group yet:\n{refused}");
    let alice_key = host.person("alice", 101);
    let session = host.session(
        "alice-session",
        "alice",
        &alice_key,
        "echo started; exec sleep 60",
    );
    session.wait_for_line(&host, "started");

    // Okta adds bob to SRE (PATCH add members) and deactivates alice (PATCH replace,
    // no path, {"active": false}: Okta never DELETEs a user).
    let (status, _) = scim.patch(
        &format!("/Groups/{sre}"),
        &patch_op(json!([{"op": "add", "path": "members",
                          "value": [{"value": bob, "display": "bob@example.com"}]}])),
    );
    assert_eq!(status, 200);
    let (status, _) = scim.patch(
        &format!("/Users/{alice}"),
        &patch_op(json!([{"op": "replace", "value": {"active": false}}])),
    );
    assert_eq!(status, 200);
    let published = scim.published_when("web", "bob in and alice disabled", |s| {
        let users = s["users"].as_array().unwrap();
        users.len() == 2
            && users
                .iter()
                .any(|u| u["name"] == "alice" && u["state"] == "disabled")
    });
    let bob_entry = published["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .cloned();
    assert_eq!(bob_entry.unwrap()["role"], "admin", "{published}");
    let mark = host.events_mark();
    sync("bob joined and alice was deactivated");

    // alice's open session ends; bob logs in and gets sudo; alice cannot log in again.
    let (rc, _) = session.wait(&host, Duration::from_secs(30));
    assert_ne!(
        rc,
        0,
        "alice's session ended normally:\n{}",
        session.stderr()
    );
    let login = host.login("bob", &bob_key, "sudo -n true && echo sudo ok");
    assert_session(&login, "sudo ok\n");
    let again = host.login("alice", &alice_key, "true");
    assert_eq!(again.status, 255, "{again}");
    let offboarded = host.events_since(mark).of_kind("offboarded");
    assert!(
        offboarded.iter().any(|e| e["account"] == "alice"),
        "{offboarded:#?}"
    );
}
