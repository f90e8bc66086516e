//! Each tool's `outputSchema`: what its structured content holds, so a client can check
//! an answer and a model knows its shape before calling. Every answer also carries the
//! fields of [`common`]: the call's audit sequence number, the notice that repository
//! content is data, and prompt-injection flags when there are any; a refusal (isError)
//! carries `error` and `audit_seq` instead of the tool's fields. Nested objects allow
//! further fields (answers may grow); the fields named here are always present.

use rmcp::model::JsonObject;
use serde_json::{Value, json};
use std::sync::Arc;

/// The fields every answer adds, and the object schema around `properties`.
fn object(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut all = json!({
        "audit_seq": {"type": "integer", "minimum": 0, "description": "The call's sequence number in Moat's audit log"},
        "content_notice": {"type": "string"},
        "injection_flags": {
            "type": "array",
            "description": "Returned text that looks like instructions to a model or hides characters: where (JSON pointer), which line, what kind",
            "items": {"type": "object", "properties": {"at": {"type": "string", "description": "JSON pointer"}, "line": {"type": "integer"}, "kind": {"type": "string"}}, "required": ["at", "kind"]}
        },
        "injection_warning": {"type": "string"},
    });
    if let (Some(all), Value::Object(own)) = (all.as_object_mut(), properties) {
        all.extend(own);
    }
    if let Some(all) = all.as_object_mut() {
        all.insert(
            "error".into(),
            json!({"type": "string", "description": "Why the call was refused (with isError)"}),
        );
    }
    let mut answered: Vec<&str> = required.to_vec();
    answered.push("content_notice");
    // An answer has the tool's fields; a refusal (isError) has `error` instead. Both
    // carry the audit sequence number.
    let schema = json!({
        "type": "object",
        "properties": all,
        "required": ["audit_seq"],
        "anyOf": [{"required": answered}, {"required": ["error"]}],
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

fn array_of(properties: Value, required: &[&str]) -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": properties, "required": required}})
}

/// A place in the code: a symbol or file with its line.
fn points() -> Value {
    array_of(
        json!({"path": {"type": "string"}, "qualified_name": {"type": "string"}, "kind": {"type": "string"}, "line": {"type": "integer"}}),
        &["path", "qualified_name", "kind", "line"],
    )
}

/// One search hit (see `hit_json`).
fn hits() -> Value {
    array_of(
        json!({
            "repo": {"type": "string"},
            "commit": {"type": "string"},
            "at": {"type": "string", "description": "repo@commit"},
            "path": {"type": "string"},
            "tier": {"type": "string"},
            "disclosure": {"type": "string"},
            "score": {"type": "number"},
        }),
        &["repo", "path", "tier"],
    )
}

pub fn list_repositories() -> Arc<JsonObject> {
    object(
        json!({"repositories": array_of(
            json!({
                "repo": {"type": "string"},
                "tier": {"type": "string"},
                "disclosure": {"type": "string", "description": "What may be shown: source, redacted-source, signatures or structure"},
                "commit": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "The indexed commit; null until the repository is indexed"},
                "languages": {"type": "array", "items": {"type": "string"}},
                "indexed": {"type": "boolean"},
            }),
            &["repo", "tier", "disclosure", "languages", "indexed"],
        )}),
        &["repositories"],
    )
}

pub fn search_code() -> Arc<JsonObject> {
    object(
        json!({
            "results": hits(),
            "query": {
                "type": "object",
                "description": "How the query was read, to refine it: its parts (prose, code, stack_trace, error, log, environment) by line with the weight their words got (0: not used), and the files and symbols it names, which were lifted",
                "properties": {
                    "parts": array_of(
                        json!({"kind": {"type": "string"}, "first_line": {"type": "integer"}, "last_line": {"type": "integer"}, "weight": {"type": "number"}}),
                        &["kind", "first_line", "last_line", "weight"],
                    ),
                    "files": {"type": "array", "items": {"type": "string"}},
                    "symbols": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["parts", "files", "symbols"],
            },
        }),
        &["results"],
    )
}

pub fn get_symbol() -> Arc<JsonObject> {
    object(json!({"symbols": hits()}), &["symbols"])
}

pub fn get_file_outline() -> Arc<JsonObject> {
    object(
        json!({
            "repo": {"type": "string"},
            "commit": {"type": "string"},
            "at": {"type": "string"},
            "path": {"type": "string"},
            "outline": array_of(
                json!({"depth": {"type": "integer"}, "kind": {"type": "string"}, "name": {"type": "string"}, "qualified_name": {"type": "string"}, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}}),
                &["depth", "kind", "name", "start_line", "end_line"],
            ),
        }),
        &["repo", "commit", "path", "outline"],
    )
}

pub fn find_references() -> Arc<JsonObject> {
    object(
        json!({"references": array_of(
            json!({"repo": {"type": "string"}, "commit": {"type": "string"}, "at": {"type": "string"}, "path": {"type": "string"}, "lines": {"type": "array"}, "tier": {"type": "string"}}),
            &["repo", "commit", "path", "lines", "tier"],
        )}),
        &["references"],
    )
}

pub fn repo_overview() -> Arc<JsonObject> {
    object(
        json!({
            "repo": {"type": "string"},
            "commit": {"type": "string"},
            "at": {"type": "string"},
            "tier": {"type": "string"},
            "disclosure": {"type": "string"},
            "languages": array_of(json!({"language": {"type": "string"}, "files": {"type": "integer"}, "lines": {"type": "integer"}}), &["language", "files", "lines"]),
            "directories": array_of(json!({"path": {"type": "string"}, "files": {"type": "integer"}, "languages": {"type": "array"}}), &["path", "files"]),
            "entry_points": points(),
            "central_symbols": points(),
        }),
        &[
            "repo",
            "commit",
            "tier",
            "disclosure",
            "languages",
            "directories",
            "entry_points",
            "central_symbols",
        ],
    )
}

pub fn read_source() -> Arc<JsonObject> {
    object(
        json!({
            "repo": {"type": "string"},
            "commit": {"type": "string"},
            "at": {"type": "string"},
            "path": {"type": "string"},
            "start_line": {"type": "integer"},
            "end_line": {"type": "integer"},
            "tier": {"type": "string"},
            "disclosure": {"type": "string"},
            "text": {"type": "string", "description": "The lines asked for, secrets replaced by [REDACTED:...] placeholders"},
        }),
        &[
            "repo",
            "commit",
            "path",
            "start_line",
            "end_line",
            "tier",
            "disclosure",
            "text",
        ],
    )
}
