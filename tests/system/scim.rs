//! The identity provider's changes on a host, end to end: SCIM requests in Okta's and
//! in Entra ID's dialect (docs/scim-dialects.md) → roster-scim (SQLite) → the signed
//! snapshot it publishes → `roster sync` on a host in its own namespaces → logins
//! through the real sshd and sudo, and the sessions of people who left ended.

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

/// How an identity provider says each change of the story.
struct Dialect {
    name: &'static str,
    /// A group membership added: the PATCH body.
    add_member: fn(&str) -> Value,
    /// The person who leaves: method, and the body if any.
    leave: (&'static str, fn() -> Option<Value>),
    /// What the host shows of the person who left: their state in the snapshot
    /// (`None`: absent) and the offboarding's reason.
    left: (Option<&'static str>, &'static str),
}

const OKTA: Dialect = Dialect {
    name: "okta",
    add_member: |id| {
        patch_op(json!([{"op": "add", "path": "members",
                         "value": [{"value": id, "display": "bob@example.com"}]}]))
    },
    // Okta never DELETEs a user: it deactivates with a replace without a path.
    leave: ("PATCH", || {
        Some(patch_op(
            json!([{"op": "replace", "value": {"active": false}}]),
        ))
    }),
    left: (Some("disabled"), "disabled: ended "),
};

const ENTRA: Dialect = Dialect {
    name: "entra",
    add_member: |id| patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}])),
    // Entra ID deletes (after its soft-delete period, or a hard delete).
    leave: ("DELETE", || None),
    left: (None, "removed from the snapshot: ended "),
};

/// Entra ID without `?aadOptscim062020`: capitalised ops and booleans as strings.
const ENTRA_DISABLING: Dialect = Dialect {
    name: "entra (disabling)",
    add_member: |id| patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}])),
    // Blocked sign-in, or the soft delete: `"Replace"` `active` `"False"`.
    leave: ("PATCH", || {
        Some(patch_op(
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        ))
    }),
    left: (Some("disabled"), "disabled: ended "),
};

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

#[test]
fn okta_adds_bob_to_the_admins_and_deactivating_alice_ends_her_session() {
    the_idp_adds_bob_to_the_admins_and_alice_leaves(&OKTA);
}

#[test]
fn entra_adds_bob_to_the_admins_and_deleting_alice_ends_her_session() {
    the_idp_adds_bob_to_the_admins_and_alice_leaves(&ENTRA);
}

#[test]
fn entra_adds_bob_to_the_admins_and_disabling_alice_with_a_string_false_ends_her_session() {
    the_idp_adds_bob_to_the_admins_and_alice_leaves(&ENTRA_DISABLING);
}

fn the_idp_adds_bob_to_the_admins_and_alice_leaves(idp: &Dialect) {
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
        assert_eq!(
            out.status, 0,
            "{}: roster sync after {what}:\n{out:#?}",
            idp.name
        );
    };

    // The IdP creates alice and bob and pushes the SRE group with alice.
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

    // The IdP adds bob to SRE, and alice leaves.
    let (status, body) = scim.patch(&format!("/Groups/{sre}"), &(idp.add_member)(&bob));
    assert_eq!(status, 200, "{}: {body}", idp.name);
    let (method, body) = idp.leave;
    let (status, answer) = scim.request(method, &format!("/Users/{alice}"), body().as_ref());
    assert!(
        status == 200 || status == 204,
        "{}: {status} {answer}",
        idp.name
    );
    let (state, reason) = idp.left;
    let published = scim.published_when("web", "bob as admin and alice gone", |s| {
        let users = s["users"].as_array().unwrap();
        let alice = users.iter().find(|u| u["name"] == "alice");
        let bob = users.iter().find(|u| u["name"] == "bob");
        alice.map(|a| a["state"].as_str().unwrap()) == state
            && bob.is_some_and(|b| b["role"] == "admin")
    });
    assert_eq!(
        published["users"].as_array().unwrap().len(),
        1 + state.iter().count()
    );
    let mark = host.events_mark();
    sync("bob joined and alice left");

    // alice's open session ends; bob logs in and gets sudo; alice cannot log in again.
    let (rc, _) = session.wait(&host, Duration::from_secs(30));
    assert_ne!(
        rc,
        0,
        "{}: alice's session ended normally:\n{}",
        idp.name,
        session.stderr()
    );
    let login = host.login("bob", &bob_key, "sudo -n true && echo sudo ok");
    assert_session(&login, "sudo ok\n");
    let again = host.login("alice", &alice_key, "true");
    assert_eq!(again.status, 255, "{again}");
    let offboarded = host.events_since(mark).of_kind("offboarded");
    assert!(
        offboarded.iter().any(|e| e["account"] == "alice"
            && e["reason"].as_str().is_some_and(|r| r.starts_with(reason))),
        "{}: {offboarded:#?}",
        idp.name
    );
}
