use serde_json::{Value, json};

use super::*;

/// RFC 7643 §4.1: `id` and `externalId` are caseExact, and so (in this
/// test's table) the enterprise `employeeNumber`.
fn case_exact(path: &str) -> bool {
    matches!(
        path,
        "id" | "externalid"
            | "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber"
    )
}

fn alice() -> Value {
    json!({
        "schemas": [schema::USER, schema::ENTERPRISE_USER],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "58342554-38d6-4ec8-948c-50044d0a33fd",
        "userName": "Alice@Example.com",
        "name": {"familyName": "Jensen", "givenName": "Alice"},
        "displayName": "Alice Jensen",
        "title": "",
        "nickName": null,
        "active": true,
        "loginCount": 42,
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": true},
            {"value": "alice@home.example.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Engineering",
            "employeeNumber": "E701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z"
        }
    })
}

fn engineering() -> Value {
    json!({
        "schemas": [schema::GROUP],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Engineering",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Alice Jensen"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Bob"}
        ]
    })
}

#[track_caller]
fn matches(filter: &str, resource: &Value) -> bool {
    parse(filter)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(resource, &case_exact)
}

#[track_caller]
fn refused(filter: &str) -> String {
    let e = parse(filter).expect_err(filter);
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{filter}");
    assert_eq!(e.status, 400);
    e.detail
}

// --- What the identity providers send ---

#[test]
fn okta_and_entra_lookups_match_the_user_or_group_they_name() {
    let (a, g) = (alice(), engineering());
    assert!(matches(r#"userName eq "alice@example.com""#, &a));
    assert!(!matches(r#"userName eq "bob@example.com""#, &a));
    assert!(matches(
        r#"externalId eq "58342554-38d6-4ec8-948c-50044d0a33fd""#,
        &a
    ));
    assert!(matches(r#"displayName eq "Engineering""#, &g));
    assert!(!matches(r#"displayName eq "Engineering""#, &a));
    assert!(matches(
        r#"emails[type eq "work"].value eq "alice@example.com""#,
        &a
    ));
    assert!(!matches(
        r#"emails[type eq "home"].value eq "alice@example.com""#,
        &a
    ));
}

#[test]
fn the_lookups_give_the_store_an_index_hint() {
    let hint = |f: &str| {
        parse(f)
            .unwrap()
            .equality()
            .map(|(p, v)| (p.to_owned(), v.to_owned()))
    };
    let pair = |p: &str, v: &str| Some((p.to_owned(), v.to_owned()));
    assert_eq!(
        hint(r#"userName eq "alice@example.com""#),
        pair("username", "alice@example.com")
    );
    assert_eq!(
        hint(r#"externalId eq "58342554""#),
        pair("externalid", "58342554")
    );
    assert_eq!(
        hint(r#"displayName eq "Engineering""#),
        pair("displayname", "Engineering")
    );
    assert_eq!(
        hint(r#"emails[type eq "work"].value eq "x""#),
        pair("emails.value", "x")
    );
    assert_eq!(
        hint(r#"emails[type pr and value eq "x"]"#),
        pair("emails.value", "x")
    );
    assert_eq!(
        hint(r#"members[value eq "2819c223"]"#),
        pair("members.value", "2819c223")
    );
    assert_eq!(
        hint(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#),
        pair("username", "a")
    );
    assert_eq!(hint(r#"active eq true and (id eq "7")"#), pair("id", "7"));
    assert_eq!(hint(r#"userName eq "a" or id eq "7""#), None);
    assert_eq!(hint(r#"not (userName eq "a")"#), None);
    assert_eq!(hint(r#"userName ne "a""#), None);
    assert_eq!(hint(r#"userName co "a""#), None);
    assert_eq!(hint("loginCount eq 42"), None);
}

// --- Operators ---

#[test]
fn every_operator_on_strings() {
    let a = alice();
    assert!(matches(r#"userName eq "ALICE@example.COM""#, &a));
    assert!(matches(r#"userName ne "bob""#, &a));
    assert!(!matches(r#"userName ne "alice@example.com""#, &a));
    assert!(matches(r#"userName co "@EXAMPLE""#, &a));
    assert!(!matches(r#"userName co "@example.org""#, &a));
    assert!(matches(r#"userName sw "alice""#, &a));
    assert!(!matches(r#"userName sw "example""#, &a));
    assert!(matches(r#"userName ew ".com""#, &a));
    assert!(!matches(r#"userName ew "alice""#, &a));
    assert!(matches(r#"displayName gt "Alice""#, &a));
    assert!(matches(r#"displayName ge "alice jensen""#, &a));
    assert!(!matches(r#"displayName gt "alice jensen""#, &a));
    assert!(matches(r#"displayName lt "Bob""#, &a));
    assert!(matches(r#"displayName le "ALICE JENSEN""#, &a));
    assert!(!matches(r#"displayName lt "Aa""#, &a));
}

#[test]
fn operators_are_case_insensitive_keywords() {
    let a = alice();
    assert!(matches(r#"userName EQ "alice@example.com""#, &a));
    assert!(matches(r#"USERNAME Sw "alice" AND Active Eq TRUE"#, &a));
    assert!(matches("nickName EQ NULL", &a));
}

#[test]
fn case_exact_attributes_compare_case_exactly() {
    let a = alice();
    assert!(matches(
        r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
        &a
    ));
    assert!(!matches(
        r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
        &a
    ));
    assert!(!matches(r#"externalId sw "58342554-38D6""#, &a));
    assert!(matches(r#"externalId sw "58342554-38d6""#, &a));
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    assert!(matches(
        &format!(r#"{enterprise}:employeeNumber eq "E701984""#),
        &a
    ));
    assert!(!matches(
        &format!(r#"{enterprise}:employeeNumber eq "e701984""#),
        &a
    ));
}

#[test]
fn the_case_exact_question_names_the_canonical_path() {
    let asked = std::cell::RefCell::new(Vec::new());
    let record = |p: &str| {
        asked.borrow_mut().push(p.to_owned());
        false
    };
    let a = alice();
    for f in [
        r#"userName eq "x""#,
        r#"emails co "x""#,
        r#"emails[type eq "x"]"#,
        r#"emails[type eq "work"].value eq "x""#,
        r#"name.familyName eq "x""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
    ] {
        parse(f).unwrap().matches(&a, &record);
    }
    // Asked once per element a value filter is evaluated on.
    let asked: std::collections::BTreeSet<String> = asked.into_inner().into_iter().collect();
    assert_eq!(
        asked.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "emails.type",
            "emails.value",
            "name.familyname",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department",
            "username",
        ]
    );
}

#[test]
fn present_means_a_non_empty_value() {
    let a = alice();
    assert!(matches("userName pr", &a));
    assert!(matches("emails pr", &a));
    assert!(matches("name pr", &a));
    assert!(matches("name.givenName pr", &a));
    assert!(!matches("title pr", &a), "an empty string");
    assert!(!matches("nickName pr", &a), "null");
    assert!(!matches("phoneNumbers pr", &a), "an empty array");
    assert!(!matches("addresses pr", &a), "absent");
    assert!(!matches("name.middleName pr", &a));
    assert!(matches("active pr", &a));
}

#[test]
fn null_compares_as_absence() {
    let a = alice();
    assert!(matches("nickName eq null", &a));
    assert!(matches("addresses eq null", &a));
    assert!(!matches("userName eq null", &a));
    assert!(matches("userName ne null", &a));
    assert!(!matches("nickName ne null", &a));
}

#[test]
fn numbers_compare_numerically() {
    let a = alice();
    assert!(matches("loginCount eq 42", &a));
    assert!(matches("loginCount eq 42.0", &a));
    assert!(matches("loginCount gt 9", &a), "not lexicographically");
    assert!(matches("loginCount ge 42", &a));
    assert!(matches("loginCount lt 1e3", &a));
    assert!(matches("loginCount le 42", &a));
    assert!(matches("loginCount gt -1", &a));
    assert!(!matches("loginCount lt 42", &a));
    assert!(matches("loginCount ne 41", &a));
}

#[test]
fn booleans_compare_only_for_equality() {
    let a = alice();
    assert!(matches("active eq true", &a));
    assert!(!matches("active eq false", &a));
    assert!(matches("active ne false", &a));
    assert!(matches("emails[primary eq true].type eq \"work\"", &a));
}

#[test]
fn a_value_of_another_type_never_matches() {
    let a = alice();
    assert!(!matches(r#"loginCount eq "42""#, &a));
    assert!(!matches(r#"active eq "true""#, &a));
    assert!(!matches("userName eq 42", &a));
    assert!(!matches(r#"name eq "Jensen""#, &a), "a complex attribute");
}

#[test]
fn date_times_compare_chronologically() {
    let a = alice();
    assert!(matches(
        r#"meta.lastModified gt "2011-05-13T04:42:33Z""#,
        &a
    ));
    assert!(!matches(
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        &a
    ));
    assert!(matches(
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        &a
    ));
    // 06:42:34+02:00 is 04:42:34Z: the offset counts, not the text.
    assert!(matches(
        r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#,
        &a
    ));
    assert!(matches(
        r#"meta.lastModified lt "2011-05-13T06:42:35+02:00""#,
        &a
    ));
    assert!(!matches(
        r#"meta.lastModified lt "2011-05-13T05:42:34+02:00""#,
        &a
    ));
    assert!(matches(r#"meta.created lt "2010-01-23T04:56:22.5Z""#, &a));
    assert!(matches(
        r#"meta.created gt "2009-12-31T23:59:59-23:59""#,
        &a
    ));
    assert_eq!(instant("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(
        instant("2000-03-01T00:00:00.25Z"),
        Some((951_868_800, 250_000_000))
    );
    assert_eq!(instant("2001-02-29T00:00:00Z"), None);
    assert_eq!(instant("2011-05-13 04:42:34Z"), None);
    assert_eq!(instant("2011-05-13T04:42:34"), None);
}

// --- Multi-valued and complex attributes ---

#[test]
fn a_multi_valued_attribute_matches_if_any_value_does() {
    let a = alice();
    assert!(matches(r#"emails.value eq "alice@home.example.org""#, &a));
    assert!(matches(r#"emails.type eq "home""#, &a));
    assert!(!matches(r#"emails.type eq "other""#, &a));
    // Without a sub-attribute, a multi-valued complex attribute compares
    // its "value".
    assert!(matches(r#"emails co "home.example""#, &a));
    assert!(matches(r#"emails eq "alice@example.com""#, &a));
    assert!(matches(
        r#"members eq "902c246b-6245-4190-8e05-00816be7344a""#,
        &engineering()
    ));
    // `ne` is `not eq`: Alice has a work email.
    assert!(!matches(r#"emails.type ne "work""#, &a));
}

#[test]
fn value_paths_hold_one_element_to_all_their_conditions() {
    let a = alice();
    assert!(matches(
        r#"emails[type eq "work" and value co "@example.com"]"#,
        &a
    ));
    // Both conditions hold, but on different elements.
    assert!(!matches(
        r#"emails[type eq "home" and value co "@example.com"]"#,
        &a
    ));
    assert!(!matches(
        r#"emails[type eq "work" and value co "@home"]"#,
        &a
    ));
    assert!(matches(
        r#"emails[type eq "other" or (type eq "home" and value ew ".org")]"#,
        &a
    ));
    assert!(matches(r#"emails[not (type eq "work")]"#, &a));
    assert!(matches(r#"emails[primary pr]"#, &a));
    assert!(!matches(r#"phoneNumbers[type eq "work"]"#, &a));
    assert!(matches(
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        &engineering()
    ));
    // A single complex attribute is its one element.
    assert!(matches(r#"name[familyName eq "jensen"]"#, &a));
}

#[test]
fn a_patch_value_filter_matches_elements() {
    let g = engineering();
    let f = parse_within(
        "members",
        r#"value eq "902c246b-6245-4190-8e05-00816be7344a""#,
    )
    .unwrap();
    let hits: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| f.matches(m, &case_exact))
        .map(|m| m["display"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["Bob"]);
    assert_eq!(
        f.equality(),
        Some(("members.value", "902c246b-6245-4190-8e05-00816be7344a"))
    );
    // parse() works on an element too, with paths relative to it.
    let f = parse(r#"display sw "alice""#).unwrap();
    assert!(f.matches(&g["members"][0], &case_exact));
    assert!(!f.matches(&g["members"][1], &case_exact));
    assert!(
        parse_within("members", r#"value[x eq "y"]"#).is_err(),
        "no nested value path"
    );
}

#[test]
fn schema_urns_prefix_core_and_extension_attributes() {
    let a = alice();
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice@example.com""#,
        &a
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "Jensen""#,
        &a
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engineering""#,
        &a
    ));
    assert!(matches(
        r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "Engineering""#,
        &a
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        &a
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        &a
    ));
    // The department is the extension's, not a top-level attribute.
    assert!(!matches(r#"department eq "Engineering""#, &a));
    assert!(!matches(
        r#"urn:example:other:department eq "Engineering""#,
        &a
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Engineering""#,
        &engineering()
    ));
}

#[test]
fn attribute_names_are_case_insensitive() {
    let a = alice();
    assert!(matches(r#"USERNAME eq "alice@example.com""#, &a));
    assert!(matches(r#"Name.FamilyName eq "jensen""#, &a));
    assert!(matches(
        r#"EMAILS[TYPE eq "work"].VALUE eq "alice@example.com""#,
        &a
    ));
    let r = json!({"$ref": "https://x/Users/7", "a-b_c1": "v"});
    assert!(matches(r#"$ref ew "/Users/7""#, &r));
    assert!(matches(r#"a-b_c1 eq "v""#, &r));
}

// --- Structure ---

fn p(name: &str) -> AttrPath {
    AttrPath {
        urn: None,
        name: name.into(),
        sub: None,
        canonical: name.to_ascii_lowercase(),
    }
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        parse("a pr or b pr and c pr").unwrap(),
        Filter::Or(vec![
            Filter::Present(p("a")),
            Filter::And(vec![Filter::Present(p("b")), Filter::Present(p("c"))]),
        ])
    );
    assert_eq!(
        parse("a pr and b pr or c pr").unwrap(),
        Filter::Or(vec![
            Filter::And(vec![Filter::Present(p("a")), Filter::Present(p("b"))]),
            Filter::Present(p("c")),
        ])
    );
    assert_eq!(
        parse("(a pr or b pr) and c pr").unwrap(),
        Filter::And(vec![
            Filter::Or(vec![Filter::Present(p("a")), Filter::Present(p("b"))]),
            Filter::Present(p("c")),
        ])
    );
    let a = alice();
    // true or (false and false) = true; (true or false) and false = false.
    assert!(matches("userName pr or title pr and nickName pr", &a));
    assert!(!matches("(userName pr or title pr) and nickName pr", &a));
}

#[test]
fn not_negates_its_group() {
    let a = alice();
    assert!(!matches(r#"not (userName pr)"#, &a));
    assert!(matches(r#"not(title pr)"#, &a));
    assert!(matches(r#"NOT (userName eq "bob")"#, &a));
    assert!(matches(r#"not (not (userName pr))"#, &a));
    assert!(matches(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org") or active eq true"#,
        &a
    ));
    // "not" not followed by "(" is an attribute name.
    assert!(matches(r#"not eq "x""#, &json!({"not": "X"})));
    assert!(matches(r#"and pr and or pr"#, &json!({"and": 1, "or": 2})));
}

#[test]
fn parentheses_nest() {
    let a = alice();
    assert!(matches(
        r#"((userName sw "alice") and ((active eq true) or (loginCount lt 3)))"#,
        &a
    ));
    let deep = format!(
        "{}userName pr{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert!(matches(&deep, &a));
    let nots = format!(
        "{}userName pr{}",
        "not (".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert!(matches(&nots, &a), "32 negations");
}

#[test]
fn whitespace_and_json_strings() {
    let a = alice();
    assert!(matches("  userName   eq\t\"alice@example.com\"  ", &a));
    assert!(matches(r#"(userName pr)and(active eq true)"#, &a));
    let r = json!({"displayName": "Zoë \"Z\" O'Brien\\"});
    assert!(matches(r#"displayName eq "Zo\u00eb \"Z\" O'Brien\\""#, &r));
    assert!(
        matches(r#"displayName sw "ZOË""#, &r),
        "Unicode case folding"
    );
}

// --- Refusals, with the detail the client reads ---

#[test]
fn refusals_say_where_and_what() {
    assert_eq!(
        refused(r#"userName eq "alice"#),
        "unterminated string starting at offset 12"
    );
    assert_eq!(
        refused(r#"userName eqq "x""#),
        r#"unknown operator "eqq" at offset 9"#
    );
    assert_eq!(
        refused("userName"),
        r#"expected an operator after "userName" at offset 8"#
    );
    assert_eq!(
        refused(r#"userName "x""#),
        r#"expected an operator after "userName" at offset 9"#
    );
    assert_eq!(
        refused(r#"userName eq "x" extra"#),
        r#"unexpected "extra" at offset 16 after a complete filter"#
    );
    assert_eq!(
        refused(r#"userName eq "x")"#),
        r#"unexpected ")" at offset 15 after a complete filter"#
    );
    assert_eq!(
        refused("userName eq"),
        "expected a value (a string, number, true, false or null) after \"eq\", \
         found the end of the filter at offset 11"
    );
    assert_eq!(
        refused("userName eq alice"),
        "expected a value (a string, number, true, false or null) after \"eq\", \
         found \"alice\" at offset 12"
    );
    assert_eq!(
        refused("(userName pr"),
        r#"expected ")" to close the "(" at offset 0, found the end of the filter at offset 12"#
    );
    assert_eq!(
        refused(r#"emails[type eq "work""#),
        r#"expected "]" to close the "[" at offset 6, found the end of the filter at offset 21"#
    );
    assert_eq!(
        refused("userName pr and"),
        r#"expected an attribute, "(" or "not", found the end of the filter at offset 15"#
    );
    assert_eq!(refused(""), "the filter is empty");
    assert_eq!(refused(" \t"), "the filter is empty");
    assert_eq!(
        refused(r#"1abc eq "x""#),
        r#"invalid attribute path "1abc" at offset 0: an attribute name is a letter followed by letters, digits, "-" or "_""#
    );
    assert_eq!(
        refused(r#"name.familyName.x eq "x""#),
        r#"invalid attribute path "name.familyName.x" at offset 0: a sub-attribute name is a letter followed by letters, digits, "-" or "_""#
    );
    assert_eq!(
        refused(r#"schemas:userName eq "x""#),
        r#"invalid attribute path "schemas:userName" at offset 0: a schema prefix is a URN ("urn:…")"#
    );
    assert_eq!(
        refused(r#"emails[type[value eq "x"] pr]"#),
        r#"a value filter cannot hold another value path ("[" at offset 11)"#
    );
    assert_eq!(
        refused(r#"emails[value.x eq "y"]"#),
        r#"invalid attribute path "value.x" at offset 7: a value filter names sub-attributes, which have none"#
    );
    assert_eq!(
        refused(r#"emails.value[type eq "work"]"#),
        r#"a value path's attribute has no sub-attribute: "emails.value[" at offset 12"#
    );
    assert_eq!(
        refused(r#"emails[type eq "work"]. eq "x""#),
        r#"expected a sub-attribute after "emails[…]." at offset 23, found """#
    );
    assert_eq!(
        refused(r#"emails[type eq "work"].value"#),
        r#"expected an operator after "emails[…].value" at offset 28"#
    );
    assert_eq!(
        refused("active gt true"),
        r#""gt" cannot compare with a boolean (offset 10)"#
    );
    assert_eq!(
        refused("title co null"),
        r#""co" cannot compare with null (offset 9)"#
    );
    assert_eq!(
        refused("loginCount sw 4"),
        r#""sw" cannot compare with a number (offset 14)"#
    );
    assert_eq!(
        refused("loginCount eq 01"),
        r#"invalid number "01" at offset 14"#
    );
    assert_eq!(
        refused("loginCount eq 1-"),
        r#"invalid number "1-" at offset 14"#
    );
    assert!(
        refused(r#"userName eq "\q""#).starts_with(r#"invalid string "\"\\q\"" at offset 12: "#),
        "a bad escape"
    );
}

#[test]
fn too_deep_is_refused_without_exhausting_the_stack() {
    let deep = format!(
        "{}userName pr{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        refused(&deep),
        "the filter nests deeper than 32 levels at offset 32"
    );
    let nots = "not (".repeat(MAX_FILTER_BYTES / 5);
    assert_eq!(
        refused(&nots),
        "the filter nests deeper than 32 levels at offset 164"
    );
    let opens = "(".repeat(MAX_FILTER_BYTES);
    assert_eq!(
        refused(&opens),
        "the filter nests deeper than 32 levels at offset 32"
    );
}

#[test]
fn too_long_is_refused_before_parsing() {
    let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_BYTES));
    assert_eq!(
        refused(&long),
        format!("the filter is {} bytes long; the limit is 4096", long.len())
    );
    let just = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_BYTES - 14));
    assert_eq!(just.len(), MAX_FILTER_BYTES);
    assert!(parse(&just).is_ok());
}

#[test]
fn long_flat_chains_parse_and_evaluate() {
    let chain = vec!["userName pr"; MAX_FILTER_BYTES / 16].join(" or ");
    assert!(chain.len() <= MAX_FILTER_BYTES);
    assert!(matches(&chain, &alice()));
}
