//! PATCH in the forms identity providers send, on resources as JSON.

use super::patch::{PatchKind, apply};
use super::schema::{ENTERPRISE, GROUP_RESOURCE, USER_RESOURCE};
use super::*;
use serde_json::json;

fn patch(
    doc: &mut Value,
    resource: &schema::ResourceSchema,
    op: &str,
    path: Option<&str>,
    value: Value,
) -> Result<(), ScimError> {
    let value = (!value.is_null()).then_some(value);
    apply(doc, resource, PatchKind::parse(op)?, path, value)
}

fn user() -> Value {
    json!({
        "id": "usr_1",
        "userName": "ada@example.com",
        "active": true,
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}]
    })
}

#[test]
fn okta_deactivates_with_a_pathless_replace_that_names_the_id() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER_RESOURCE,
        "replace",
        None,
        json!({"id": "usr_1", "active": false}),
    )
    .unwrap();
    assert_eq!(doc["active"], false);
    assert_eq!(
        doc["id"], "usr_1",
        "read-only keys in a value object are skipped"
    );
}

#[test]
fn entra_sends_capitalised_ops_string_booleans_and_filtered_paths() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER_RESOURCE,
        "Replace",
        Some("active"),
        json!("False"),
    )
    .unwrap();
    assert_eq!(doc["active"], false);
    patch(
        &mut doc,
        &USER_RESOURCE,
        "Replace",
        Some(r#"emails[type eq "work"].value"#),
        json!("ada@new.example"),
    )
    .unwrap();
    assert_eq!(
        doc["emails"],
        json!([{"value": "ada@new.example", "type": "work", "primary": true}])
    );
    // No home email yet: Entra's add creates it from the filter.
    patch(
        &mut doc,
        &USER_RESOURCE,
        "Add",
        Some(r#"emails[type eq "home"].value"#),
        json!("ada@home.example"),
    )
    .unwrap();
    assert_eq!(
        doc["emails"][1],
        json!({"type": "home", "value": "ada@home.example"})
    );
    patch(
        &mut doc,
        &USER_RESOURCE,
        "Add",
        Some(&format!("{ENTERPRISE}:department")),
        json!("Claims"),
    )
    .unwrap();
    patch(
        &mut doc,
        &USER_RESOURCE,
        "Replace",
        Some(&format!("{ENTERPRISE}:manager")),
        json!({"value": "usr_9"}),
    )
    .unwrap();
    assert_eq!(
        doc[ENTERPRISE],
        json!({"department": "Claims", "manager": {"value": "usr_9"}})
    );
    patch(
        &mut doc,
        &USER_RESOURCE,
        "Remove",
        Some(&format!("{ENTERPRISE}:manager")),
        Value::Null,
    )
    .unwrap();
    assert_eq!(doc[ENTERPRISE], json!({"department": "Claims"}));
}

#[test]
fn attributes_moat_does_not_keep_are_skipped_not_refused() {
    let mut doc = user();
    let before = doc.clone();
    patch(
        &mut doc,
        &USER_RESOURCE,
        "add",
        Some(r#"addresses[type eq "work"].formatted"#),
        json!("1 Main St"),
    )
    .unwrap();
    patch(
        &mut doc,
        &USER_RESOURCE,
        "replace",
        None,
        json!({"password": "hunter2", "phoneNumbers": [{"value": "1"}]}),
    )
    .unwrap();
    assert_eq!(
        doc, before,
        "nothing Moat does not keep (a password least of all) is stored"
    );
}

#[test]
fn read_only_and_required_attributes_are_refused_by_path() {
    let mut doc = user();
    let error = patch(
        &mut doc,
        &USER_RESOURCE,
        "replace",
        Some("id"),
        json!("usr_2"),
    )
    .unwrap_err();
    assert_eq!(error.scim_type, Some("mutability"));
    let error = patch(
        &mut doc,
        &USER_RESOURCE,
        "remove",
        Some("userName"),
        Value::Null,
    )
    .unwrap_err();
    assert_eq!(error.scim_type, Some("mutability"));
    let error = patch(&mut doc, &USER_RESOURCE, "remove", None, Value::Null).unwrap_err();
    assert_eq!(error.scim_type, Some("noTarget"));
    let error = patch(&mut doc, &USER_RESOURCE, "move", Some("title"), json!("x")).unwrap_err();
    assert_eq!(error.scim_type, Some("invalidSyntax"));
    let error = patch(
        &mut doc,
        &USER_RESOURCE,
        "replace",
        Some(r#"emails[type eq "home"]"#),
        json!({"value": "x"}),
    )
    .map(|_| ());
    assert!(
        error.is_ok(),
        "a filter of equalities creates the value it names"
    );
    let error = patch(
        &mut doc,
        &USER_RESOURCE,
        "replace",
        Some(r#"emails[value co "zzz"]"#),
        json!({"value": "x"}),
    )
    .unwrap_err();
    assert_eq!(error.scim_type, Some("noTarget"));
}

#[test]
fn group_members_are_added_once_and_removed_in_every_form() {
    let mut group = json!({"displayName": "claims", "members": [{"value": "usr_1"}]});
    patch(
        &mut group,
        &GROUP_RESOURCE,
        "add",
        Some("members"),
        json!([{"value": "usr_2"}, {"value": "usr_1"}]),
    )
    .unwrap();
    assert_eq!(
        group["members"],
        json!([{"value": "usr_1"}, {"value": "usr_2"}])
    );
    // Okta: a filtered path.
    patch(
        &mut group,
        &GROUP_RESOURCE,
        "remove",
        Some(r#"members[value eq "usr_1"]"#),
        Value::Null,
    )
    .unwrap();
    assert_eq!(group["members"], json!([{"value": "usr_2"}]));
    // Entra: the members listed as the value of a remove.
    patch(
        &mut group,
        &GROUP_RESOURCE,
        "add",
        Some("members"),
        json!([{"value": "usr_3"}]),
    )
    .unwrap();
    patch(
        &mut group,
        &GROUP_RESOURCE,
        "Remove",
        Some("members"),
        json!([{"value": "usr_2"}]),
    )
    .unwrap();
    assert_eq!(group["members"], json!([{"value": "usr_3"}]));
    // Without a value, remove takes them all.
    patch(
        &mut group,
        &GROUP_RESOURCE,
        "remove",
        Some("members"),
        Value::Null,
    )
    .unwrap();
    assert!(group.get("members").is_none());
    patch(
        &mut group,
        &GROUP_RESOURCE,
        "replace",
        None,
        json!({"displayName": "Claims Ops"}),
    )
    .unwrap();
    assert_eq!(group["displayName"], "Claims Ops");
}

#[test]
fn if_match_accepts_weak_strong_and_any() {
    assert!(if_match_admits("W/\"3\"", 3));
    assert!(if_match_admits("\"3\"", 3));
    assert!(if_match_admits("W/\"2\", W/\"3\"", 3));
    assert!(if_match_admits("*", 9));
    assert!(!if_match_admits("W/\"2\"", 3));
    assert!(check_if_match(Some("W/\"2\""), 3, "usr_1").is_err_and(|e| e.status == 412));
}

#[test]
fn the_scim_token_is_compared_whole() {
    let token = ScimToken::new("0123456789abcdef0123456789abcdef");
    assert!(token.admits("0123456789abcdef0123456789abcdef"));
    assert!(!token.admits("0123456789abcdef0123456789abcde"));
    assert!(!token.admits(""));
}
