//! SCIM PATCH (RFC 7644 §3.5.2) over a resource as JSON, in the forms Okta and Entra
//! send: `add`/`replace`/`remove` in any letter case, with or without a path, paths
//! qualified by an extension URN, `attr[filter]` and `attr[filter].sub`, Entra's
//! `remove` of `members` with a value list, and booleans sent as strings.
//!
//! Attributes Moat does not keep are skipped, so an identity provider's default
//! attribute mappings work; read-only attributes named by a path are refused.

use super::ScimError;
use super::filter::{self, AttrPath, Filter, Op, Scope};
use super::schema::{Attr, Kind, Mutability, ResourceSchema, find};
use super::values::{canon, clean, value_key};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Add,
    Replace,
    Remove,
}

impl PatchKind {
    pub fn parse(op: &str) -> Result<PatchKind, ScimError> {
        match op.to_ascii_lowercase().as_str() {
            "add" => Ok(PatchKind::Add),
            "replace" => Ok(PatchKind::Replace),
            "remove" => Ok(PatchKind::Remove),
            other => Err(ScimError::bad_request(
                "invalidSyntax",
                format!("`{other}` is not a PATCH op; use add, replace or remove"),
            )),
        }
    }
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidPath", detail)
}

pub(super) fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidValue", detail)
}

/// Where an operation lands.
struct Target {
    /// The extension URN holding the attribute, `None` for the core schema.
    extension: Option<&'static str>,
    attr: &'static Attr,
    filter: Option<Filter>,
    sub: Option<&'static Attr>,
}

/// Parses a PATCH path. `Ok(None)`: an attribute Moat does not keep. A path that is an
/// extension's URN alone names the whole extension (`Err` never; see `apply`).
fn target(schema: &ResourceSchema, path: &str) -> Result<Option<Target>, ScimError> {
    let (head, filter, tail) = match path.find('[') {
        Some(open) => {
            let close = path
                .rfind(']')
                .filter(|&c| c > open)
                .ok_or_else(|| invalid_path(format!("`{path}`: `[` is not closed")))?;
            let inner = filter::parse(&path[open + 1..close])
                .map_err(|e| invalid_path(format!("`{path}`: {}", e.detail)))?;
            let tail = &path[close + 1..];
            let sub = match tail {
                "" => None,
                t if t.starts_with('.') && t.len() > 1 => Some(&t[1..]),
                t => return Err(invalid_path(format!("`{path}`: unexpected `{t}`"))),
            };
            (&path[..open], Some(inner), sub)
        }
        None => (path, None, None),
    };
    let parsed: AttrPath =
        filter::parse_attr_path(head).map_err(|e| invalid_path(e.detail.clone()))?;
    let extension = match &parsed.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(schema.schema) => match schema.extension(urn) {
            Some((canonical, _)) => Some(canonical),
            None => return Ok(None),
        },
        _ => None,
    };
    let Some(attr) = schema.attr(extension, &parsed.attr) else {
        return Ok(None);
    };
    let sub_name = match (parsed.sub.as_deref(), tail) {
        (Some(_), Some(_)) => return Err(invalid_path(format!("`{path}` has two sub-attributes"))),
        (sub, tail) => sub.or(tail),
    };
    let sub = match sub_name {
        Some(name) => match find(attr.subs, name) {
            Some(sub) => Some(sub),
            None => return Ok(None),
        },
        None => None,
    };
    if filter.is_some() && !(attr.multi || attr.kind == Kind::Complex) {
        return Err(invalid_path(format!(
            "`{path}`: a filter needs a multi-valued attribute"
        )));
    }
    Ok(Some(Target {
        extension,
        attr,
        filter,
        sub,
    }))
}

/// Applies one operation to `doc`.
pub fn apply(
    doc: &mut Value,
    schema: &ResourceSchema,
    kind: PatchKind,
    path: Option<&str>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let path = path.map(str::trim).filter(|p| !p.is_empty());
    let Some(path) = path else {
        if kind == PatchKind::Remove {
            return Err(ScimError::bad_request(
                "noTarget",
                "a remove operation needs a path",
            ));
        }
        let Some(Value::Object(values)) = value else {
            return Err(invalid_value(
                "an operation without a path needs an object of attributes as its value",
            ));
        };
        for (key, value) in values {
            if let Some((urn, _)) = schema.extension(&key) {
                let Value::Object(inner) = value else {
                    return Err(invalid_value(format!("`{key}` must be an object")));
                };
                for (name, value) in inner {
                    apply_to(
                        doc,
                        schema,
                        kind,
                        &format!("{urn}:{name}"),
                        Some(value),
                        true,
                    )?;
                }
                continue;
            }
            apply_to(doc, schema, kind, &key, Some(value), true)?;
        }
        return Ok(());
    };
    if let Some((urn, attrs)) = schema.extension(path) {
        // The whole extension.
        return match (kind, value) {
            (PatchKind::Remove, _) => {
                if let Some(map) = doc.as_object_mut() {
                    map.retain(|k, _| !k.eq_ignore_ascii_case(urn));
                }
                Ok(())
            }
            (_, Some(Value::Object(values))) => {
                for (name, value) in values {
                    if find(attrs, &name).is_some() {
                        apply_to(
                            doc,
                            schema,
                            kind,
                            &format!("{urn}:{name}"),
                            Some(value),
                            true,
                        )?;
                    }
                }
                Ok(())
            }
            _ => Err(invalid_value(format!(
                "`{path}` needs an object as its value"
            ))),
        };
    }
    apply_to(doc, schema, kind, path, value, false)
}

/// One attribute's change. `implicit`: the attribute was named by a key of a value
/// object rather than by the path, so read-only ones (Okta sends `id`) are skipped.
fn apply_to(
    doc: &mut Value,
    schema: &ResourceSchema,
    kind: PatchKind,
    path: &str,
    value: Option<Value>,
    implicit: bool,
) -> Result<(), ScimError> {
    if implicit && path.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    let Some(target) = target(schema, path)? else {
        return Ok(());
    };
    let read_only = target.attr.mutability == Mutability::ReadOnly
        || target
            .sub
            .is_some_and(|s| s.mutability == Mutability::ReadOnly);
    if read_only {
        return if implicit {
            Ok(())
        } else {
            Err(ScimError::bad_request(
                "mutability",
                format!("`{path}` is read-only"),
            ))
        };
    }
    if kind == PatchKind::Remove
        && target.attr.required
        && target.sub.is_none()
        && target.filter.is_none()
    {
        return Err(ScimError::bad_request(
            "mutability",
            format!("`{}` is required and cannot be removed", target.attr.name),
        ));
    }
    let value = match (kind, value) {
        (PatchKind::Remove, value) => value,
        (_, None) => return Err(invalid_value(format!("`{path}` needs a value"))),
        (_, Some(value)) => Some(value),
    };
    let root = doc
        .as_object_mut()
        .ok_or_else(|| invalid_value("the resource is not an object"))?;
    let container = match target.extension {
        Some(urn) => {
            let key = root
                .keys()
                .find(|k| k.eq_ignore_ascii_case(urn))
                .cloned()
                .unwrap_or_else(|| urn.to_string());
            root.entry(key)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .ok_or_else(|| invalid_value(format!("`{urn}` is not an object")))?
        }
        None => root,
    };
    change(container, &target, kind, value)?;
    clean(doc);
    Ok(())
}

fn change(
    container: &mut Map<String, Value>,
    target: &Target,
    kind: PatchKind,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let attr = target.attr;
    let key = attr.name.to_string();
    // Attribute names in a stored resource are canonical; merge any other spelling in.
    if let Some(other) = container
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&key) && **k != key)
        .cloned()
        && let Some(v) = container.remove(&other)
    {
        container.insert(key.clone(), v);
    }
    match (&target.filter, target.sub, kind) {
        (None, None, PatchKind::Remove) => {
            match (value, attr.multi) {
                // Entra removes members by listing them.
                (Some(listed), true) => {
                    let listed = canon(attr, listed)?;
                    let listed: Vec<Value> = listed.as_array().cloned().unwrap_or_default();
                    if let Some(Value::Array(items)) = container.get_mut(&key) {
                        let listed: std::collections::HashSet<String> =
                            listed.iter().map(value_key).collect();
                        items.retain(|item| !listed.contains(&value_key(item)));
                    }
                }
                _ => {
                    container.remove(&key);
                }
            }
        }
        (None, None, _) => {
            let new = canon(attr, value.unwrap_or(Value::Null))?;
            match (attr.multi, attr.kind, kind) {
                (true, _, PatchKind::Add) => {
                    let items = container
                        .entry(key)
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !items.is_array() {
                        *items = Value::Array(Vec::new());
                    }
                    let items = items.as_array_mut().expect("array");
                    // Values already there, by their `value` (a group's 10,000 members
                    // are checked in one pass, not one scan per member).
                    let mut present: std::collections::HashSet<String> =
                        items.iter().map(value_key).collect();
                    for item in new.as_array().cloned().unwrap_or_default() {
                        if present.insert(value_key(&item)) {
                            items.push(item);
                        }
                    }
                }
                (false, Kind::Complex, _) => {
                    let existing = container
                        .entry(key)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !existing.is_object() {
                        *existing = Value::Object(Map::new());
                    }
                    if let (Some(existing), Value::Object(new)) = (existing.as_object_mut(), new) {
                        existing.extend(new);
                    }
                }
                _ => {
                    container.insert(key, new);
                }
            }
        }
        (None, Some(sub), _) => {
            let new = match kind {
                PatchKind::Remove => None,
                _ => Some(canon(sub, value.unwrap_or(Value::Null))?),
            };
            let entry = container.entry(key).or_insert_with(|| {
                if attr.multi {
                    Value::Array(vec![Value::Object(Map::new())])
                } else {
                    Value::Object(Map::new())
                }
            });
            let elements: Vec<&mut Value> = match entry {
                Value::Array(items) => items.iter_mut().collect(),
                other => vec![other],
            };
            for element in elements {
                set_sub(element, sub, new.clone());
            }
        }
        (Some(filter), sub, _) => {
            let items = container
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !items.is_array() {
                *items = Value::Array(vec![items.take()]);
            }
            let items = items.as_array_mut().expect("array");
            let matching: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, i)| filter.matches(i, Scope::Within(attr)))
                .map(|(n, _)| n)
                .collect();
            match (kind, sub) {
                (PatchKind::Remove, None) => {
                    let mut n = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&n);
                        n += 1;
                        keep
                    });
                }
                (PatchKind::Remove, Some(sub)) => {
                    for n in matching {
                        set_sub(&mut items[n], sub, None);
                    }
                }
                (_, sub) => {
                    let new = match sub {
                        Some(sub) => canon(sub, value.unwrap_or(Value::Null))?,
                        None => {
                            let one = Attr {
                                multi: false,
                                ..*attr
                            };
                            canon(&one, value.unwrap_or(Value::Null))?
                        }
                    };
                    if matching.is_empty() {
                        // Entra adds `emails[type eq "work"].value` this way: a new
                        // value made of the filter's equalities and the given value.
                        let Some(mut created) = equalities(filter) else {
                            return Err(ScimError::bad_request(
                                "noTarget",
                                format!("no value of `{}` matches the filter", attr.name),
                            ));
                        };
                        match (sub, new.clone()) {
                            (Some(sub), new) => {
                                created.insert(sub.name.to_string(), new);
                            }
                            (None, Value::Object(fields)) => created.extend(fields),
                            (None, _) => return Err(invalid_value("the value must be an object")),
                        }
                        items.push(Value::Object(created));
                    }
                    for n in matching {
                        match (sub, &new) {
                            (Some(sub), new) => set_sub(&mut items[n], sub, Some(new.clone())),
                            (None, Value::Object(fields)) => {
                                if let Some(item) = items[n].as_object_mut() {
                                    item.extend(fields.clone());
                                }
                            }
                            (None, _) => return Err(invalid_value("the value must be an object")),
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn set_sub(element: &mut Value, sub: &Attr, value: Option<Value>) {
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    let map = element.as_object_mut().expect("object");
    map.retain(|k, _| !k.eq_ignore_ascii_case(sub.name) || k == sub.name);
    match value {
        Some(value) => {
            map.insert(sub.name.to_string(), value);
        }
        None => {
            map.remove(sub.name);
        }
    }
}

/// `a eq "x" and b eq "y"` as `{a: "x", b: "y"}`; `None` for any other filter.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare(path, Op::Eq, value) if path.urn.is_none() && path.sub.is_none() => {
            let mut map = Map::new();
            map.insert(path.attr.clone(), value.clone());
            Some(map)
        }
        Filter::And(a, b) => {
            let mut map = equalities(a)?;
            map.extend(equalities(b)?);
            Some(map)
        }
        _ => None,
    }
}
