//! Attribute values as the schema holds them: canonical names and types, one value
//! wrapped for a multi-valued attribute, empty values removed, and what makes two
//! values of a multi-valued attribute the same.

use super::ScimError;
use super::filter::get_ci;
use super::patch::invalid_value;
use super::schema::{Attr, Kind, Mutability, find};
use serde_json::{Map, Value};

/// What makes a value of a multi-valued attribute the same value: its `value` when
/// it has one (members, emails), else the whole of it.
pub(super) fn value_key(item: &Value) -> String {
    match get_ci(item, "value") {
        Some(v) => format!("v:{v}"),
        None => format!("w:{item}"),
    }
}

/// `value` as `attr` holds it: canonical attribute names, unknown and read-only
/// sub-attributes dropped, booleans from strings, a single value wrapped for a
/// multi-valued attribute.
pub fn canon(attr: &Attr, value: Value) -> Result<Value, ScimError> {
    if attr.multi {
        let items = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            single => vec![single],
        };
        let one = Attr {
            multi: false,
            ..*attr
        };
        return items
            .into_iter()
            .map(|item| canon(&one, item))
            .filter(|v| !matches!(v, Ok(Value::Null)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    match (attr.kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Kind::Complex, Value::Object(fields)) => {
            let mut out = Map::new();
            for (key, value) in fields {
                let Some(sub) = find(attr.subs, &key) else {
                    continue;
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                let value = canon(sub, value)?;
                if !value.is_null() {
                    out.insert(sub.name.to_string(), value);
                }
            }
            Ok(Value::Object(out))
        }
        // Entra sends a manager as its id alone.
        (Kind::Complex, Value::String(id)) if find(attr.subs, "value").is_some() => {
            let mut out = Map::new();
            out.insert("value".into(), Value::String(id));
            Ok(Value::Object(out))
        }
        (Kind::Complex, other) => Err(invalid_value(format!(
            "`{}` must be an object, not {other}",
            attr.name
        ))),
        (Kind::Boolean, Value::Bool(b)) => Ok(Value::Bool(b)),
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Value::Bool(true))
        }
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Value::Bool(false))
        }
        (Kind::Boolean, other) => Err(invalid_value(format!(
            "`{}` must be true or false, not {other}",
            attr.name
        ))),
        (_, Value::String(s)) => Ok(Value::String(s)),
        (_, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (_, other) => Err(invalid_value(format!(
            "`{}` must be a string, not {other}",
            attr.name
        ))),
    }
}

/// Drops nulls, empty objects and empty lists, so an attribute removed is absent.
pub fn clean(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                clean(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                clean(v);
            }
            items.retain(|v| !is_empty(v));
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}
