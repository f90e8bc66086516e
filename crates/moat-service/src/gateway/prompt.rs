//! What leaves: **every** string of a request — values, JSON object keys and numbers
//! written out — is redacted in place before it goes to a vendor, and its original
//! text is kept aside, only in memory, to recognise repositories' code in it. Only the
//! `model` field is left alone (the gateway replaces it with the pinned version).
//!
//! Top-level fields are checked against what each wire format documents: an unknown
//! field is refused (it could carry anything to the vendor unscanned by intent), and
//! options that change what the vendor does or keeps (`store`, `n`, `service_tier`,
//! `mcp_servers`, ...) are reported so the gateway can allow them per model only.
//! Base64 images, audio and files cannot be read as text: they are counted (policy
//! decides whether they may go) and scanned as they are, never fingerprinted.

use super::WireFormat;
use moat_dlp::{Originals, Redactor};
use serde_json::Value;
use std::collections::BTreeMap;

/// Top-level fields of OpenAI Chat Completions requests that Moat passes on.
const OPENAI_FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "prediction",
    "stop",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "stream_options",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "reasoning_effort",
    "verbosity",
];

/// Top-level fields of Anthropic Messages (and `count_tokens`) requests.
const ANTHROPIC_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "stop_sequences",
    "metadata",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "thinking",
];

/// Top-level fields of OpenAI Responses API requests. `store` defaults to true at the
/// vendor, so the edge sends `store: false` unless the request asks otherwise.
const RESPONSES_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "stream",
    "stream_options",
    "metadata",
    "reasoning",
    "text",
    "truncation",
    "include",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    // Codex CLI's own description of itself (its version, the session).
    "client_metadata",
];

/// Responses API tools the client runs itself: what they do is in the conversation.
const CLIENT_TOOLS: &[&str] = &["function", "custom", "local_shell", "shell", "apply_patch"];

/// Responses API tools the vendor runs on its own (searching the web, calling MCP
/// servers, running code, a shell in its container, reading its stored files): each is
/// an option a model's `options` must list, by this name; a tool type in neither list
/// is refused.
pub const HOSTED_TOOLS: &[&str] = &[
    "shell",
    "web_search",
    "file_search",
    "code_interpreter",
    "mcp",
    "image_generation",
    "computer_use",
];

/// Options that change what the vendor does or keeps: they pass only for models whose
/// `[[models]] options` list them. `store: true` has the vendor retain the exchange.
pub const POLICY_OPTIONS: &[(&str, WireFormat)] = &[
    ("store", WireFormat::OpenAi),
    ("n", WireFormat::OpenAi),
    ("service_tier", WireFormat::OpenAi),
    ("modalities", WireFormat::OpenAi),
    ("audio", WireFormat::OpenAi),
    ("web_search_options", WireFormat::OpenAi),
    ("store", WireFormat::Responses),
    ("service_tier", WireFormat::Responses),
    ("previous_response_id", WireFormat::Responses),
    ("prompt_cache_retention", WireFormat::Responses),
    ("service_tier", WireFormat::Anthropic),
    ("container", WireFormat::Anthropic),
    ("mcp_servers", WireFormat::Anthropic),
    ("context_management", WireFormat::Anthropic),
];

/// Keys whose values are structure (roles, part types, ids): redacted like everything
/// else, but not fingerprinted (they are not code and only add noise).
const NOT_FINGERPRINTED: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "call_id",
    "encrypted_content",
];

/// The prompt after redaction: what was found, and the original text for
/// fingerprinting.
#[derive(Debug, Default)]
pub struct Scrubbed {
    /// Every scanned string as the client sent it, one per line.
    pub text: String,
    /// Redactions by rule id.
    pub counts: BTreeMap<String, u64>,
    /// Base64 images, audio and files: passed unscanned (where policy allows).
    pub binary_parts: u32,
    /// Policy options the request uses (`store` only when true).
    pub options: Vec<String>,
}

/// Redacts every string of a request body in place, but `model`; refuses a top-level
/// field the wire format does not document.
pub fn scrub_request(
    format: WireFormat,
    body: &mut Value,
    redactor: &mut Redactor<'_>,
) -> Result<Scrubbed, String> {
    let mut scrubbed = Scrubbed::default();
    let Value::Object(fields) = body else {
        return Err("the request body must be a JSON object".into());
    };
    let known = match format {
        WireFormat::OpenAi => OPENAI_FIELDS,
        WireFormat::Anthropic => ANTHROPIC_FIELDS,
        WireFormat::Responses => RESPONSES_FIELDS,
    };
    for key in fields.keys() {
        let option = POLICY_OPTIONS
            .iter()
            .any(|(name, f)| name == key && *f == format);
        if option {
            let unset = fields
                .get(key)
                .is_none_or(|v| v.is_null() || (key == "store" && v.as_bool() == Some(false)));
            if !unset {
                scrubbed.options.push(key.clone());
            }
        } else if !known.contains(&key.as_str()) {
            return Err(format!(
                "`{key}` is not a field Moat passes on to {} models; remove it (known fields: {})",
                match format {
                    WireFormat::OpenAi => "OpenAI-format",
                    WireFormat::Anthropic => "Anthropic-format",
                    WireFormat::Responses => "Responses API",
                },
                known.join(", ")
            ));
        }
    }
    if format == WireFormat::Responses {
        scrubbed.options.extend(responses_options(fields)?);
    }
    scrubbed.options.sort();
    scrubbed.options.dedup();
    walk_fields(fields, redactor, &mut scrubbed);
    Ok(scrubbed)
}

/// What a Responses API request has the vendor do or keep beyond its top-level
/// options: tools the vendor runs itself, and items it kept from earlier responses.
fn responses_options(fields: &serde_json::Map<String, Value>) -> Result<Vec<String>, String> {
    let mut options = Vec::new();
    hosted_tools(fields.get("tools"), "tools", &mut options)?;
    // An item given by reference is one the vendor kept from an earlier response.
    let references = fields
        .get("input")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items
                .iter()
                .any(|item| item.get("type").and_then(Value::as_str) == Some("item_reference"))
        });
    if references {
        options.push("previous_response_id".to_string());
    }
    Ok(options)
}

/// Top-level fields of OpenAI embeddings requests.
const EMBEDDINGS_FIELDS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

/// Redacts every string of an embeddings request in place, but `model`, keeping the
/// inputs' original text for fingerprinting; refuses a field the format does not
/// document.
pub fn scrub_embeddings(body: &mut Value, redactor: &mut Redactor<'_>) -> Result<Scrubbed, String> {
    let Value::Object(fields) = body else {
        return Err("the request body must be a JSON object".into());
    };
    if let Some(key) = fields
        .keys()
        .find(|key| !EMBEDDINGS_FIELDS.contains(&key.as_str()))
    {
        return Err(format!(
            "`{key}` is not a field Moat passes on to embedding models; remove it (known fields: {})",
            EMBEDDINGS_FIELDS.join(", ")
        ));
    }
    let mut scrubbed = Scrubbed::default();
    walk_fields(fields, redactor, &mut scrubbed);
    Ok(scrubbed)
}

fn walk_fields(
    fields: &mut serde_json::Map<String, Value>,
    redactor: &mut Redactor<'_>,
    scrubbed: &mut Scrubbed,
) {
    let entries = std::mem::take(fields);
    for (key, mut value) in entries {
        if key != "model" {
            let mut walker = Walker {
                redactor,
                out: scrubbed,
                in_arguments: false,
            };
            walker.value(&mut value, true);
        }
        fields.insert(key, value);
    }
}

struct Walker<'a, 'd> {
    redactor: &'a mut Redactor<'d>,
    out: &'a mut Scrubbed,
    /// Walking tool-call arguments decoded from their string.
    in_arguments: bool,
}

impl Walker<'_, '_> {
    fn text(&mut self, text: &mut String, fingerprint: bool) {
        if fingerprint {
            self.out.text.push_str(text);
            self.out.text.push('\n');
        }
        let redacted = self.redactor.redact(text);
        if !redacted.counts.is_empty() {
            for (rule, n) in redacted.counts {
                *self.out.counts.entry(rule).or_insert(0) += n;
            }
            *text = redacted.text;
        }
    }

    fn value(&mut self, value: &mut Value, fingerprint: bool) {
        match value {
            Value::String(text) => self.text(text, fingerprint),
            // A card number sent as a JSON number is a card number. Only numbers long
            // enough to be a value any rule finds are scanned.
            Value::Number(number) => {
                let mut text = number.to_string();
                if text.len() >= 8 {
                    let before = text.clone();
                    self.text(&mut text, fingerprint);
                    if text != before {
                        *value = Value::String(text);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.value(item, fingerprint);
                }
            }
            Value::Object(fields) => {
                let base64_source = fields.get("type").and_then(Value::as_str) == Some("base64");
                let entries = std::mem::take(fields);
                for (mut key, mut item) in entries {
                    self.text(&mut key, fingerprint);
                    // Binary content is counted (policy decides whether it may go at
                    // all) and still scanned as text: marking a string as base64 must
                    // not be a way around redaction.
                    let binary = is_binary(&key, &item, base64_source);
                    if binary {
                        self.out.binary_parts += 1;
                    }
                    let fingerprint =
                        fingerprint && !binary && !NOT_FINGERPRINTED.contains(&key.as_str());
                    self.value(&mut item, fingerprint);
                    // Tool-call arguments are JSON in a string: what they decode to
                    // (`\u0041KIA…` is `AKIA…` to whoever parses them) is redacted
                    // too, and they go on as parsed.
                    if key == "arguments"
                        && !self.in_arguments
                        && let Value::String(text) = &item
                        && let Ok(mut parsed) = serde_json::from_str::<Value>(text)
                        && (parsed.is_object() || parsed.is_array())
                    {
                        // One level: arguments inside arguments are redacted as text.
                        self.in_arguments = true;
                        self.value(&mut parsed, false);
                        self.in_arguments = false;
                        item = Value::String(parsed.to_string());
                    }
                    fields.insert(key, item);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// Inline binary content: Anthropic's base64 sources (`source.data` beside
/// `"type": "base64"`), data URLs (`image_url.url`, `file.file_data`) and OpenAI's
/// `input_audio.data`.
fn is_binary(key: &str, value: &Value, base64_source: bool) -> bool {
    let Value::String(text) = value else {
        return matches!(key, "input_audio") && value.is_object();
    };
    match key {
        "data" => base64_source,
        "url" | "file_data" | "image_url" => {
            text.starts_with("data:") && text.get(..200).unwrap_or(text).contains(";base64,")
        }
        _ => false,
    }
}

/// The vendor's own tools among `tools` (a `namespace` groups tools, each checked);
/// a tool type in neither list is refused.
fn hosted_tools(tools: Option<&Value>, at: &str, options: &mut Vec<String>) -> Result<(), String> {
    for (i, tool) in tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind == "namespace" {
            hosted_tools(tool.get("tools"), &format!("{at}[{i}].tools"), options)?;
            continue;
        }
        // `shell` runs where its `environment` says: on the client (`local`, or none),
        // or in a container at the vendor, which is the vendor's own tool.
        if kind == "shell" {
            let local = tool.get("environment").is_none_or(|e| {
                e.is_null() || e.get("type").and_then(Value::as_str) == Some("local")
            });
            if !local {
                options.push("shell".to_string());
            }
            continue;
        }
        if CLIENT_TOOLS.contains(&kind) {
            continue;
        }
        match HOSTED_TOOLS
            .iter()
            .find(|hosted| kind.starts_with(**hosted))
        {
            Some(hosted) => options.push(hosted.to_string()),
            None => {
                return Err(format!(
                    "{at}[{i}] is of type `{kind}`, which Moat does not know; tools the client runs are {}, grouped in a `namespace` or not, and the vendor's own tools are options a model may allow: {}",
                    CLIENT_TOOLS.join(", "),
                    HOSTED_TOOLS.join(", ")
                ));
            }
        }
    }
    Ok(())
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
mod tests;
