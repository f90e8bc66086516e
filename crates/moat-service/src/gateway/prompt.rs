//! What leaves: every string a prompt carries (messages, system prompt, tool results,
//! tool definitions) is redacted in place, and the original text is kept aside, only
//! in memory, to recognise repositories' code in it.

use moat_dlp::{Originals, Redactor};
use serde_json::Value;
use std::collections::BTreeMap;

/// Top-level request fields whose text is the conversation (fingerprinted); every
/// other field but `model` is redacted too, so nothing leaves unscanned.
const CONVERSATION: &[&str] = &["messages", "system", "prompt", "input"];

/// Keys whose string values are structure, not content: they are neither redacted nor
/// fingerprinted (ids, roles, types, names, media types, inline binary data).
const STRUCTURE: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "name",
    "media_type",
    "data",
    "url",
    "detail",
    "cache_control",
    "format",
];

/// The prompt after redaction: what was found, and the original text for
/// fingerprinting.
#[derive(Debug, Default)]
pub struct Scrubbed {
    /// The content strings as the client sent them, one per line.
    pub text: String,
    /// Redactions by rule id.
    pub counts: BTreeMap<String, u64>,
}

/// Redacts every string of a request body in place, but the model and structure.
pub fn scrub_request(body: &mut Value, redactor: &mut Redactor<'_>) -> Scrubbed {
    let mut scrubbed = Scrubbed::default();
    if let Value::Object(fields) = body {
        for (key, value) in fields.iter_mut() {
            if key != "model" {
                let conversation = CONVERSATION.contains(&key.as_str());
                walk(value, redactor, &mut scrubbed, conversation);
            }
        }
    }
    scrubbed
}

fn walk(value: &mut Value, redactor: &mut Redactor<'_>, out: &mut Scrubbed, keep_text: bool) {
    match value {
        Value::String(text) => {
            if keep_text {
                out.text.push_str(text);
                out.text.push('\n');
            }
            let redacted = redactor.redact(text);
            if !redacted.counts.is_empty() {
                for (rule, n) in redacted.counts {
                    *out.counts.entry(rule).or_insert(0) += n;
                }
                *text = redacted.text;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, redactor, out, keep_text);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                if item.is_string() && STRUCTURE.contains(&key.as_str()) {
                    continue;
                }
                walk(item, redactor, out, keep_text);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Puts this request's redacted values back into every string of a response.
pub fn restore_json(value: &mut Value, originals: &Originals) {
    match value {
        Value::String(text) if text.contains("[REDACTED:") => *text = originals.restore(text),
        Value::Array(items) => items.iter_mut().for_each(|v| restore_json(v, originals)),
        Value::Object(fields) => fields.values_mut().for_each(|v| restore_json(v, originals)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_content_string_is_redacted_and_structure_is_left_alone() {
        let detector = moat_dlp::Detector::builtin();
        let mut redactor = Redactor::new(&detector, [1; 32]);
        let key = "AKIAQ3EGRBJXZ7KLMN4P";
        let mut body = json!({
            "model": "claude",
            "system": [{"type": "text", "text": format!("deploy with {key}")}],
            "messages": [
                {"role": "user", "content": format!("my key is {key}")},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": key}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": format!("found {key}")}]},
                {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": format!("{{\"k\":\"{key}\"}}")}}]}
            ],
            "tools": [{"name": "lookup", "description": format!("example {key}")}],
            "metadata": {"note": key}
        });
        let scrubbed = scrub_request(&mut body, &mut redactor);
        let text = body.to_string();
        // Content everywhere is redacted, metadata included; structure is not touched.
        assert_eq!(text.matches(key).count(), 0, "{text}");
        assert_eq!(body["model"], "claude");
        assert_eq!(scrubbed.counts.get("aws-access-key-id"), Some(&7));
        assert_eq!(body["messages"][1]["content"][0]["id"], "toolu_1");
        assert_eq!(body["messages"][0]["role"], "user");
        // The original text is kept for fingerprinting, tool definitions aside.
        assert!(scrubbed.text.contains(&format!("found {key}")));
        assert!(!scrubbed.text.contains("example"));

        let mut response =
            json!({"content": [{"type": "text", "text": body["messages"][0]["content"].clone()}]});
        restore_json(&mut response, &redactor.into_originals());
        assert_eq!(response["content"][0]["text"], format!("my key is {key}"));
    }
}
