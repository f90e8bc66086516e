//! People and teams as SCIM resources, and back.

use super::filter::{AttrPath, get_ci, parse_attr_path};
use super::schema::{self, COMMON_ATTRS, Mutability, ResourceSchema, find};
use super::values::{canon, clean};
use super::{Projection, ScimError, etag};
use moat_domain::{UnixTime, UserId, UserStatus};
use moat_store::{ScimUser, Team};
use serde_json::{Map, Value, json};

/// Keys a resource's representation has that are not kept as attributes.
const SERVER_KEYS: &[&str] = &["schemas", "id", "meta", "userName", "externalId", "groups"];

fn meta(
    kind: &str,
    base: &str,
    endpoint: &str,
    id: &str,
    created: UnixTime,
    modified: UnixTime,
    version: u64,
) -> Value {
    json!({
        "resourceType": kind,
        "created": created.to_rfc3339(),
        "lastModified": modified.to_rfc3339(),
        "location": format!("{base}{endpoint}/{id}"),
        "version": etag(version),
    })
}

/// A person as a SCIM User. `groups`: the teams they are in, `(id, name)`.
pub fn render_user(scim: &ScimUser, groups: &[(String, String)], base: &str) -> Value {
    let user = &scim.user;
    let mut doc = match &scim.attributes {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    // People added by hand have no SCIM attributes: show what Moat knows.
    let by_hand = doc.is_empty();
    if by_hand {
        doc.insert(
            "emails".into(),
            json!([{"value": user.email, "type": "work", "primary": true}]),
        );
        doc.insert("displayName".into(), json!(user.name));
    }
    let mut schemas = vec![json!(schema::USER)];
    for (urn, _) in schema::USER_RESOURCE.extensions {
        if doc.contains_key(*urn) {
            schemas.push(json!(urn));
        }
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), json!(user.id.0));
    if let Some(external) = &user.external.scim_id {
        doc.insert("externalId".into(), json!(external));
    }
    doc.insert("userName".into(), json!(scim.user_name));
    // `active` is the status; it is left out only while the identity provider has left
    // it out and the person is active (the default).
    if user.status != UserStatus::Active || by_hand || doc.contains_key("active") {
        doc.insert("active".into(), json!(user.status == UserStatus::Active));
    }
    if !groups.is_empty() {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(id, name)| json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name, "type": "direct"}))
            .collect();
        doc.insert("groups".into(), Value::Array(groups));
    }
    doc.insert(
        "meta".into(),
        meta(
            "User",
            base,
            "/Users",
            &user.id.0,
            user.created_at,
            scim.updated_at,
            scim.version,
        ),
    );
    Value::Object(doc)
}

/// A team as a SCIM Group.
pub fn render_group(team: &Team, base: &str) -> Value {
    let mut doc = json!({
        "schemas": [schema::GROUP],
        "id": team.id,
        "displayName": team.name,
        "members": team.members.iter().map(|m| json!({"value": m.0, "$ref": format!("{base}/Users/{}", m.0), "type": "User"})).collect::<Vec<_>>(),
        "meta": meta("Group", base, "/Groups", &team.id, team.created_at, team.updated_at, team.version),
    });
    if let Some(external) = &team.external_id {
        doc["externalId"] = json!(external);
    }
    clean(&mut doc);
    doc
}

/// A request body as `resource` keeps it: canonical names, known attributes only,
/// read-only ones dropped.
pub fn canonical(body: Value, resource: &ResourceSchema) -> Result<Value, ScimError> {
    let Value::Object(fields) = body else {
        return Err(ScimError::bad_request(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    };
    let mut out = Map::new();
    for (key, value) in fields {
        if let Some((urn, attrs)) = resource.extension(&key) {
            let Value::Object(inner) = value else {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("`{urn}` must be an object"),
                ));
            };
            let mut ext = Map::new();
            for (name, value) in inner {
                if let Some(attr) = find(attrs, &name)
                    && attr.mutability != Mutability::ReadOnly
                {
                    ext.insert(attr.name.to_string(), canon(attr, value)?);
                }
            }
            out.insert(urn.to_string(), Value::Object(ext));
            continue;
        }
        let attr = find(resource.attrs, &key).or_else(|| find(COMMON_ATTRS, &key));
        if let Some(attr) = attr
            && attr.mutability != Mutability::ReadOnly
        {
            out.insert(attr.name.to_string(), canon(attr, value)?);
        }
    }
    let mut out = Value::Object(out);
    clean(&mut out);
    Ok(out)
}

/// The person `doc` describes. `existing`: the person it replaces or changes (their
/// id, roles, training and history stay).
pub fn user_from_doc(
    doc: Value,
    existing: Option<&ScimUser>,
    id: UserId,
    now: UnixTime,
) -> Result<ScimUser, ScimError> {
    let user_name = get_ci(&doc, "userName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::bad_request("invalidValue", "`userName` is required"))?
        .to_string();
    if user_name.len() > 254 || user_name.chars().any(char::is_control) {
        return Err(ScimError::bad_request(
            "invalidValue",
            "`userName` must be at most 254 printable characters",
        ));
    }
    let active = get_ci(&doc, "active")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let external_id = get_ci(&doc, "externalId")
        .and_then(Value::as_str)
        .map(String::from);
    let email = email_of(&doc, &user_name)?;
    let name = name_of(&doc, &email);
    let mut attributes = match doc {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    attributes.retain(|k, _| !SERVER_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)));
    let mut user = match existing {
        Some(existing) => existing.user.clone(),
        None => moat_domain::User {
            id,
            email: String::new(),
            name: String::new(),
            status: UserStatus::Active,
            roles: vec![moat_domain::Role::Developer],
            teams: Vec::new(),
            external: Default::default(),
            training: None,
            created_at: now,
        },
    };
    user.email = email;
    user.name = name;
    user.status = if active {
        UserStatus::Active
    } else {
        UserStatus::Suspended
    };
    user.external.scim_id = external_id;
    Ok(ScimUser {
        user,
        user_name,
        attributes: Value::Object(attributes),
        version: existing.map_or(1, |e| e.version),
        updated_at: now,
    })
}

/// Moat knows people by email: the primary one, else the first, else an email-shaped
/// userName.
fn email_of(doc: &Value, user_name: &str) -> Result<String, ScimError> {
    let emails = get_ci(doc, "emails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let value = |e: &Value| {
        get_ci(e, "value")
            .and_then(Value::as_str)
            .map(str::trim)
            .map(String::from)
    };
    let chosen = emails
        .iter()
        .find(|e| get_ci(e, "primary") == Some(&Value::Bool(true)))
        .and_then(value)
        .or_else(|| emails.iter().find_map(value))
        .or_else(|| user_name.contains('@').then(|| user_name.to_string()));
    chosen.filter(|e| !e.is_empty()).ok_or_else(|| {
        ScimError::bad_request(
            "invalidValue",
            "Moat knows people by email: send `emails` (or an email address as `userName`)",
        )
    })
}

fn name_of(doc: &Value, email: &str) -> String {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let name = get_ci(doc, "name");
    text(get_ci(doc, "displayName"))
        .or_else(|| text(name.and_then(|n| get_ci(n, "formatted"))))
        .or_else(|| {
            let parts: Vec<String> = ["givenName", "familyName"]
                .iter()
                .filter_map(|p| text(name.and_then(|n| get_ci(n, p))))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string())
}

/// The team `doc` describes.
pub fn team_from_doc(
    doc: &Value,
    existing: Option<&Team>,
    id: String,
    now: UnixTime,
) -> Result<Team, ScimError> {
    let name = get_ci(doc, "displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::bad_request("invalidValue", "`displayName` is required"))?;
    if name.chars().count() > 100 {
        return Err(ScimError::bad_request(
            "invalidValue",
            "a team name is at most 100 characters",
        ));
    }
    let mut members = Vec::new();
    for member in get_ci(doc, "members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(kind) = get_ci(member, "type").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("User")
        {
            return Err(ScimError::bad_request(
                "invalidValue",
                "a team's members are people, not groups",
            ));
        }
        let id = get_ci(member, "value")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ScimError::bad_request("invalidValue", "each member needs a `value` (a user id)")
            })?;
        members.push(UserId(id.to_string()));
    }
    members.sort();
    members.dedup();
    Ok(Team {
        id,
        name: name.to_string(),
        external_id: get_ci(doc, "externalId")
            .and_then(Value::as_str)
            .map(String::from),
        members,
        created_at: existing.map_or(now, |t| t.created_at),
        updated_at: now,
        version: existing.map_or(1, |t| t.version),
    })
}

/// Applies `attributes` / `excludedAttributes` to a rendered resource. `schemas` and
/// `id` are always returned.
pub fn project(doc: &mut Value, projection: &Projection, resource: &ResourceSchema) {
    let paths = |names: &[String]| -> Vec<AttrPath> {
        names
            .iter()
            .filter_map(|n| parse_attr_path(n).ok())
            .collect()
    };
    let Some(map) = doc.as_object_mut() else {
        return;
    };
    if !projection.attributes.is_empty() {
        let wanted = paths(&projection.attributes);
        let mut kept = Map::new();
        for (key, value) in std::mem::take(map) {
            if key == "schemas" || key == "id" {
                kept.insert(key, value);
                continue;
            }
            if let Some((urn, _)) = resource.extension(&key) {
                let subs: Vec<&AttrPath> = wanted
                    .iter()
                    .filter(|p| {
                        p.urn
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(urn))
                    })
                    .collect();
                if let Value::Object(inner) = value {
                    let inner: Map<String, Value> = inner
                        .into_iter()
                        .filter(|(k, _)| subs.iter().any(|p| p.attr.eq_ignore_ascii_case(k)))
                        .collect();
                    if !inner.is_empty() {
                        kept.insert(key, Value::Object(inner));
                    }
                }
                continue;
            }
            let matching: Vec<&AttrPath> = wanted
                .iter()
                .filter(|p| {
                    p.attr.eq_ignore_ascii_case(&key)
                        && p.urn
                            .as_deref()
                            .is_none_or(|u| u.eq_ignore_ascii_case(resource.schema))
                })
                .collect();
            if matching.is_empty() {
                continue;
            }
            if matching.iter().any(|p| p.sub.is_none()) {
                kept.insert(key, value);
            } else {
                let subs: Vec<&str> = matching.iter().filter_map(|p| p.sub.as_deref()).collect();
                kept.insert(key, keep_subs(value, &subs));
            }
        }
        *map = kept;
    }
    for path in paths(&projection.excluded) {
        if path.attr.eq_ignore_ascii_case("id") || path.attr.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let holder = match &path.urn {
            Some(urn) if !urn.eq_ignore_ascii_case(resource.schema) => map
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(urn))
                .and_then(|(_, v)| v.as_object_mut()),
            _ => Some(&mut *map),
        };
        let Some(holder) = holder else { continue };
        let Some(key) = holder
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&path.attr))
            .cloned()
        else {
            continue;
        };
        match &path.sub {
            None => {
                holder.remove(&key);
            }
            Some(sub) => {
                let drop_sub = |v: &mut Value| {
                    if let Some(o) = v.as_object_mut() {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                };
                match holder.get_mut(&key) {
                    Some(Value::Array(items)) => items.iter_mut().for_each(drop_sub),
                    Some(other) => drop_sub(other),
                    None => {}
                }
            }
        }
    }
    clean(doc);
}

fn keep_subs(value: Value, subs: &[&str]) -> Value {
    let keep = |v: Value| match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        other => other,
    };
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(keep).collect()),
        other => keep(other),
    }
}
