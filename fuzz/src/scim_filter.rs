//! `scim_filter`: text as a SCIM filter → `filter::parse`, and what it
//! accepts evaluated on a fixed User and, as a PATCH value filter
//! (`parse_within`), on each of its emails.
//!
//! Never panics (nor overflows the stack: the nesting is bounded). Refusals
//! are `invalidFilter` with a bounded detail; nothing longer than
//! `MAX_FILTER_BYTES` is accepted; evaluation is deterministic and `not`
//! negates it; and the store's index hint is sound: whenever the filter
//! matches, `hint-path eq "hint-value"` matches too (on the User, for the
//! value filter of its emails).

use std::sync::OnceLock;

use roster::scim::error::ScimType;
use roster::scim::filter::{Filter, MAX_FILTER_BYTES, parse, parse_within};
use serde_json::{Value, json};

/// RFC 7643 §4.1: `id` and `externalId` compare case-exactly.
fn case_exact(path: &str) -> bool {
    matches!(path, "id" | "externalid")
}

/// A User with every JSON type, a multi-valued complex attribute, an
/// extension, date-times and an empty and a null attribute.
fn user() -> &'static Value {
    static USER: OnceLock<Value> = OnceLock::new();
    USER.get_or_init(|| {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "58342554-38d6-4ec8-948c-50044d0a33fd",
            "userName": "Alice@Example.com",
            "name": {"familyName": "Jensen", "givenName": "Zoë"},
            "displayName": "Alice Jensen",
            "title": "",
            "nickName": null,
            "active": true,
            "loginCount": 42,
            "emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.example.org", "type": "home"}
            ],
            "groups": [{"value": "e9e30dba", "display": "Engineering", "$ref": "https://x/Groups/e9e30dba"}],
            "phoneNumbers": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Engineering",
                "manager": {"value": "26118915"}
            },
            "meta": {"created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34.5+02:00"}
        })
    })
}

/// The properties, for `f` evaluated on `resource`; the index hint names a
/// path of `whole` (the resource itself, or the User whose email it is).
fn check(f: &Filter, resource: &Value, whole: &Value, text: &str) {
    let m = f.matches(resource, &case_exact);
    assert_eq!(f.matches(resource, &case_exact), m, "not deterministic");
    let not = Filter::Not(Box::new(f.clone()));
    assert_eq!(
        not.matches(resource, &case_exact),
        !m,
        "not does not negate"
    );
    if let (true, Some((path, value))) = (m, f.equality()) {
        let hint = format!("{path} eq {}", Value::from(value));
        if let Ok(h) = parse(&hint) {
            assert!(
                h.matches(whole, &case_exact),
                "{text:?} matches but its index hint {hint:?} does not"
            );
        } else {
            assert!(
                hint.len() > MAX_FILTER_BYTES,
                "the hint {hint:?} does not parse"
            );
        }
    }
}

pub fn run(data: &[u8]) {
    let text = crate::text(data);
    let user = user();
    match parse(&text) {
        Ok(f) => {
            assert!(
                text.len() <= MAX_FILTER_BYTES,
                "{} bytes accepted",
                text.len()
            );
            check(&f, user, user, &text);
        }
        Err(e) => {
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{e}");
            assert_eq!(e.status, 400);
            assert!(e.detail.len() <= 512, "a {}-byte detail", e.detail.len());
        }
    }
    if let Ok(f) = parse_within("emails", &text) {
        assert!(text.len() <= MAX_FILTER_BYTES);
        for email in user["emails"].as_array().expect("emails") {
            check(&f, email, user, &text);
        }
    }
}
