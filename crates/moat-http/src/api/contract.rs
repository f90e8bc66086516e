//! What utoipa's derives cannot say about the admin API, added to the document it
//! generates: the errors every operation can answer (so a client generated from the
//! document handles them) and the constraints the server enforces on request bodies
//! and queries (so what the document calls valid is exactly what the server accepts —
//! schemathesis `--checks all` holds the two to each other in CI). Enumerations come from
//! the domain types, limits from the deployment's own settings.

use moat_domain::{Role, Scope};
use serde_json::{Value, json};

/// Characters an email address may hold: none of `@`, whitespace or control
/// characters (Rust's `char::is_whitespace` and `is_control`, spelled out so every
/// JSON Schema dialect reads the class alike).
const EMAIL_CHAR: &str =
    r"[^@\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// The same without `.`, for a domain's first and last character.
const DOMAIN_EDGE: &str =
    r"[^@.\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// At least one character that is not whitespace (what `str::trim` keeps).
const NOT_BLANK: &str =
    r"[^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// The document as served: utoipa's, completed.
pub fn document(token_max_ttl_seconds: i64) -> Value {
    let mut doc = serde_json::to_value(super::openapi()).unwrap_or_else(|_| json!({}));
    constrain_bodies(&mut doc, token_max_ttl_seconds);
    constrain_queries(&mut doc);
    doc["paths"]["/api/v1/evidence"]["post"]["responses"]["200"]["content"] =
        json!({"application/zip": {"schema": {"type": "string", "format": "binary"}}});
    add_error_responses(&mut doc);
    doc
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Value {
    Value::from(all.iter().map(|v| name(*v)).collect::<Vec<_>>())
}

fn constrain_bodies(doc: &mut Value, token_max_ttl_seconds: i64) {
    let schemas = &mut doc["components"]["schemas"];
    let user = &mut schemas["NewUserRequest"]["properties"];
    user["email"] = json!({
        "type": "string",
        "maxLength": 254,
        "pattern": format!("^{EMAIL_CHAR}+@{DOMAIN_EDGE}{EMAIL_CHAR}*\\.{EMAIL_CHAR}*{DOMAIN_EDGE}$"),
        "description": "An email address (the organisation's domains only, when `[org] email_domains` is set).",
        "example": "ada@example.com",
    });
    user["roles"] = json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": names(Role::ALL, Role::as_str)},
        "example": ["developer"],
    });
    user["teams"] = json!({
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK},
    });
    let token = &mut schemas["IssueTokenRequest"]["properties"];
    token["name"] = json!({"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK, "example": "laptop"});
    token["scopes"] = json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": names(Scope::ALL, Scope::as_str)},
        "example": ["mcp", "gateway"],
    });
    token["ttl_seconds"]["minimum"] = json!(1);
    token["ttl_seconds"]["maximum"] = json!(token_max_ttl_seconds);
    // An exception is for a repository, a model, a tier or a vendor: exactly one is
    // named (the others absent or null, as the server reads them).
    let targets = ["repo", "model", "tier", "vendor"];
    let branches: Vec<Value> = targets
        .iter()
        .map(|named| {
            let mut properties = serde_json::Map::new();
            for other in targets {
                let kind = if other == *named { "string" } else { "null" };
                properties.insert(other.to_string(), json!({"type": kind}));
            }
            json!({"required": [named], "properties": properties})
        })
        .collect();
    schemas["ExceptionRequest"]["oneOf"] = Value::Array(branches);
    // The evidence pack: a start date and whole days, so every valid request names a
    // non-empty period; the answer is the zip itself.
    let evidence = &mut schemas["EvidenceRequest"]["properties"];
    evidence["from"] = json!({"type": "string", "format": "date", "example": "2026-10-01"});
    evidence["days"] = json!({"type": "integer", "minimum": 1, "maximum": super::evidence::MAX_DAYS, "example": 92});

    let rotate = &mut schemas["RotateTokenRequest"]["properties"];
    rotate["grace_seconds"]["minimum"] = json!(0);
    rotate["grace_seconds"]["maximum"] = json!(30 * 86_400);
    // No body rotates with the default grace period.
    if let Some(body) = doc["paths"]["/api/v1/tokens/{token}/rotate"]["post"].get_mut("requestBody")
    {
        body["required"] = json!(false);
        body["description"] =
            json!("optional: without a body, `[identity] rotation_grace` applies");
    }
}

fn constrain_queries(doc: &mut Value) {
    if let Some(parameters) =
        doc["paths"]["/api/v1/audit/events"]["get"]["parameters"].as_array_mut()
    {
        for parameter in parameters {
            if parameter["name"] == "since" || parameter["name"] == "until" {
                // A date, an RFC 3339 time, or empty for no bound.
                parameter["schema"] = json!({"anyOf": [
                    {"type": "string", "format": "date"},
                    {"type": "string", "format": "date-time"},
                    {"type": "string", "maxLength": 0},
                ]});
            }
        }
    }
    if let Some(parameters) =
        doc["paths"]["/api/v1/access/matrix"]["get"]["parameters"].as_array_mut()
    {
        for parameter in parameters {
            if parameter["name"] == "limit" {
                parameter["schema"]["minimum"] = json!(1);
                parameter["schema"]["maximum"] = json!(10_000);
            }
        }
    }
}

/// Each status an operation can answer beyond its own, with why.
fn add_error_responses(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if path.ends_with("/openapi.json") {
            continue;
        }
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let takes_input = operation
                .get("parameters")
                .is_some_and(|p| p.as_array().is_some_and(|p| !p.is_empty()))
                || operation.get("requestBody").is_some();
            let has_body = operation.get("requestBody").is_some();
            let mut statuses = vec![
                ("401", "The token is missing, unknown, expired or revoked."),
                (
                    "403",
                    "The token lacks the scope, or its person the role, or an organisation policy refuses the action (the policy is named); a suspended person is refused.",
                ),
                (
                    "503",
                    "The audit log or access control cannot answer right now: nothing was read or changed (fail closed).",
                ),
            ];
            if takes_input {
                statuses.push(("400", "A parameter or the body cannot be read (not JSON, a malformed number or time)."));
            }
            if has_body {
                statuses.push((
                    "415",
                    "The body is not sent as `Content-Type: application/json`.",
                ));
                statuses.push(("422", "The body is JSON of the wrong shape, or a value the server refuses (the message says which)."));
            }
            if path.contains('{') {
                statuses.push(("404", "Nothing by that id (or email)."));
            }
            if method == "post" {
                statuses.push(("409", "The change conflicts with the current state: the person exists already, is not active, lacks the role a scope needs, or is the caller; the token is already rotated, revoked or expired."));
            }
            let responses = &mut operation["responses"];
            for (status, why) in statuses {
                let response = &mut responses[status];
                if response.is_null() {
                    *response = json!({
                        "description": why,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    });
                }
            }
            if let Some(all) = responses.as_object_mut() {
                for (status, response) in all.iter_mut() {
                    if response["description"].as_str().is_some_and(str::is_empty) {
                        response["description"] = json!(describe(status));
                    }
                }
            }
        }
    }
}

fn describe(status: &str) -> &'static str {
    match status {
        "200" => "The answer.",
        "201" => "Created.",
        "400" => "A parameter cannot be read.",
        "404" => "Nothing by that id (or email).",
        "409" => "The change conflicts with the current state.",
        "422" => "A value the server refuses (the message says which).",
        _ => "See the error's message and hint.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_errors_it_can_answer() {
        let doc = document(365 * 86_400);
        for (path, item) in doc["paths"].as_object().unwrap() {
            if path.ends_with("/openapi.json") {
                continue;
            }
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for status in ["401", "403", "503"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                for (status, response) in responses {
                    assert!(
                        !response["description"].as_str().unwrap_or("").is_empty(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
        let add = &doc["paths"]["/api/v1/users"]["post"]["responses"];
        for status in ["400", "415", "422", "409"] {
            assert!(add.get(status).is_some(), "add_user {status}");
        }
    }

    #[test]
    fn request_schemas_carry_what_the_server_enforces() {
        let doc = document(90 * 86_400);
        let schemas = &doc["components"]["schemas"];
        let user = &schemas["NewUserRequest"]["properties"];
        assert_eq!(user["roles"]["minItems"], 1);
        assert_eq!(
            user["roles"]["items"]["enum"],
            json!(["admin", "security", "auditor", "developer"])
        );
        let token = &schemas["IssueTokenRequest"]["properties"];
        assert_eq!(
            token["scopes"]["items"]["enum"],
            json!(["mcp", "gateway", "admin"])
        );
        assert_eq!(token["ttl_seconds"]["maximum"], 90 * 86_400);
        let pattern = regex::Regex::new(user["email"]["pattern"].as_str().unwrap()).unwrap();
        for good in ["ada@example.com", "a@b.c", "x+tag@mail.example.org"] {
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a@b",
            "a@.b",
            "a@b.",
            "a b@c.d",
            "a@b@c.d",
            "a\u{1}@b.c",
        ] {
            assert!(!pattern.is_match(bad), "{bad:?}");
        }
    }
}
