use super::*;
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::json;

fn user() -> Value {
    json!({
        "id": "usr_1",
        "userName": "Ada.Lovelace@example.com",
        "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": "ada@example.com", "type": "work", "primary": true},
            {"value": "ada@home.example", "type": "home"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Claims", "manager": {"value": "usr_9"}
        },
        "meta": {"lastModified": "2026-12-04T10:00:00Z"}
    })
}

fn matches(filter: &str) -> bool {
    parse(filter)
        .unwrap_or_else(|e| panic!("{filter}: {}", e.detail))
        .matches(&user(), Scope::Resource(&USER_RESOURCE))
}

#[test]
fn comparisons_follow_case_rules() {
    assert!(
        matches(r#"userName eq "ada.lovelace@EXAMPLE.com""#),
        "userName is not case-exact"
    );
    assert!(!matches(r#"id eq "USR_1""#), "id is case-exact");
    assert!(matches(r#"id eq "usr_1""#));
    assert!(
        matches(r#"USERNAME sw "ada""#),
        "attribute names are case-insensitive"
    );
    assert!(matches(r#"userName ew "example.com""#));
    assert!(matches(r#"userName co "lovelace""#));
    assert!(matches(r#"userName ne "someone""#));
    assert!(matches("active eq true"));
    assert!(!matches("active eq false"));
    assert!(matches(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#));
    assert!(!matches(r#"meta.lastModified lt "2026-01-01T00:00:00Z""#));
}

#[test]
fn multi_valued_and_complex_attributes() {
    assert!(
        matches(r#"emails co "home.example""#),
        "a complex attribute compares its value"
    );
    assert!(matches(r#"emails.value eq "ada@home.example""#));
    assert!(matches(
        r#"emails[type eq "work" and value co "@example.com"]"#
    ));
    assert!(!matches(r#"emails[type eq "home" and primary eq true]"#));
    assert!(matches(r#"name.familyName eq "lovelace""#));
    assert!(matches("emails pr"));
    assert!(!matches("title pr"));
}

#[test]
fn extension_attributes_keep_the_dots_of_their_urn() {
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "claims""#
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "usr_9""#
    ));
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ADA""#
    ));
}

#[test]
fn logic_and_precedence() {
    // and binds tighter than or.
    assert!(matches(
        r#"userName eq "x" and active eq false or id eq "usr_1""#
    ));
    assert!(!matches(
        r#"userName eq "x" and (active eq false or id eq "usr_1")"#
    ));
    assert!(matches(r#"not (userName eq "x")"#));
    assert!(!matches(r#"not(id eq "usr_1")"#));
    assert!(matches(r#"title eq null"#));
}

#[test]
fn strings_keep_their_escapes_and_brackets() {
    let filter = parse(r#"displayName eq "R&D \"core\" [team] (a) and b""#).unwrap();
    let group = json!({"displayName": "r&d \"core\" [team] (a) and b"});
    assert!(filter.matches(&group, Scope::Resource(&GROUP_RESOURCE)));
    let member = parse(r#"members[value eq "usr_2"]"#).unwrap();
    assert!(member.matches(
        &json!({"members": [{"value": "usr_1"}, {"value": "usr_2"}]}),
        Scope::Resource(&GROUP_RESOURCE)
    ));
}

#[test]
fn malformed_filters_are_refused_with_invalid_filter() {
    for bad in [
        "userName",
        r#"userName xx "a""#,
        r#"userName eq "open"#,
        r#"(userName eq "a""#,
        r#"emails[type eq "work""#,
        r#"userName eq unquoted"#,
        r#"user..name eq "a""#,
        r#"userName eq "a" trailing"#,
    ] {
        let error = parse(bad).expect_err(bad);
        assert_eq!(
            (error.status, error.scim_type),
            (400, Some("invalidFilter")),
            "{bad}"
        );
    }
}

#[test]
fn sort_keys_prefer_the_primary_value() {
    let path = parse_attr_path("emails").unwrap();
    assert_eq!(
        sort_key(&user(), &path, &USER_RESOURCE).as_deref(),
        Some("ada@example.com")
    );
    let path = parse_attr_path("userName").unwrap();
    assert_eq!(
        sort_key(&user(), &path, &USER_RESOURCE).as_deref(),
        Some("ada.lovelace@example.com")
    );
}
