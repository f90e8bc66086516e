//! A model served only through OpenAI's Responses API (`api = "responses"`, such as
//! the Codex models) serving Messages and Chat Completions clients: the Messages
//! request (a Chat Completions one is first translated into Messages) as a Responses
//! request, the response and its typed events back as a Messages answer and events
//! (and from those, for Chat Completions clients, as chunks). The vendor keeps
//! nothing: every request says `store: false`.

mod answer;
mod stream;

pub use answer::to_messages;
pub use stream::MessagesFromResponses;

use super::request::{image_url, texts, tool_result_text};
use super::tool_definitions;
use serde_json::{Map, Value, json};

const TO: &str = "OpenAI's Responses API";

/// The Responses API's least `max_output_tokens`.
const LEAST_OUTPUT: u64 = 16;

fn untranslatable(field: &str) -> String {
    format!(
        "`{field}` has no counterpart in {TO}, so this request cannot go to that model; remove it or choose a model of the request's own format"
    )
}

/// Anthropic Messages → the Responses API.
pub fn from_messages(fields: &Map<String, Value>) -> Result<Value, String> {
    for field in [
        "top_k",
        "stop_sequences",
        "container",
        "mcp_servers",
        "context_management",
        "service_tier",
    ] {
        if fields.get(field).is_some_and(|v| !v.is_null()) {
            return Err(untranslatable(field));
        }
    }
    // Extended thinking has no budget in the Responses API; turned off, it says nothing.
    if fields
        .get("thinking")
        .is_some_and(|t| !t.is_null() && t["type"] != "disabled")
    {
        return Err(untranslatable("thinking"));
    }
    let mut out = Map::new();
    out.insert(
        "model".into(),
        fields.get("model").cloned().unwrap_or(Value::Null),
    );
    match fields.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            out.insert("instructions".into(), json!(text));
        }
        Some(Value::Array(blocks)) => {
            out.insert(
                "instructions".into(),
                json!(texts(blocks, "the system prompt")?),
            );
        }
        Some(_) => return Err("`system` cannot be translated".into()),
    }
    let mut input = Vec::new();
    for (i, message) in fields
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match (message["role"].as_str(), &message["content"]) {
            (Some(role @ ("user" | "assistant")), Value::String(text)) => {
                input.push(json!({"type": "message", "role": role, "content": [part(role, text)]}));
            }
            (Some("user"), Value::Array(blocks)) => user(i, blocks, &mut input)?,
            (Some("assistant"), Value::Array(blocks)) => assistant(i, blocks, &mut input)?,
            _ => return Err(format!("messages[{i}] cannot be translated")),
        }
    }
    out.insert("input".into(), Value::Array(input));
    if let Some(most) = fields.get("max_tokens").and_then(Value::as_u64) {
        out.insert("max_output_tokens".into(), json!(most.max(LEAST_OUTPUT)));
    }
    if let Some(stream) = fields.get("stream").filter(|v| !v.is_null()) {
        out.insert("stream".into(), stream.clone());
    }
    // Reasoning models (the Codex models among them) refuse sampling settings; their
    // defaults (1) say nothing and are not sent.
    for field in ["temperature", "top_p"] {
        if let Some(value) = fields
            .get(field)
            .filter(|v| !v.is_null() && v.as_f64() != Some(1.0))
        {
            out.insert(field.into(), value.clone());
        }
    }
    // The caller, as an identifier the API takes (at most 64 characters, and Claude
    // Code's user ids carry account and session ids): its SHA-256.
    if let Some(user) = fields
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        use sha2::Digest;
        out.insert(
            "safety_identifier".into(),
            json!(hex::encode(sha2::Sha256::digest(user.as_bytes()))),
        );
    }
    if let Some(tools) = fields.get("tools").filter(|t| !t.is_null()) {
        let functions: Vec<Value> = tool_definitions(tools, TO)?
            .into_iter()
            .map(|(name, description, schema)| {
                let mut function = json!({"type": "function", "name": name, "parameters": schema, "strict": false});
                if let Some(description) = description {
                    function["description"] = description;
                }
                function
            })
            .collect();
        out.insert("tools".into(), Value::Array(functions));
    }
    if let Some(choice) = fields.get("tool_choice").filter(|c| c.is_object()) {
        let chosen = match choice["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "name": choice["name"]}),
            _ => return Err("`tool_choice` cannot be translated".into()),
        };
        out.insert("tool_choice".into(), chosen);
        if choice["disable_parallel_tool_use"] == true {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    // Nothing is kept at the vendor: no response to continue, none to leak.
    out.insert("store".into(), Value::Bool(false));
    Ok(Value::Object(out))
}

/// A text part of a message item in `role`'s turn.
fn part(role: &str, text: &str) -> Value {
    match role {
        "assistant" => json!({"type": "output_text", "text": text}),
        _ => json!({"type": "input_text", "text": text}),
    }
}

/// A user turn: tool results as function call outputs (first, right after the calls
/// they answer), the rest one user message.
fn user(i: usize, blocks: &[Value], input: &mut Vec<Value>) -> Result<(), String> {
    let mut parts = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => parts.push(part("user", block["text"].as_str().unwrap_or_default())),
            Some("image") => parts.push(image(i, &block["source"])?),
            Some("tool_result") => {
                let output = tool_result_text(i, block)?;
                input.push(json!({"type": "function_call_output", "call_id": block["tool_use_id"], "output": output}));
            }
            other => {
                return Err(format!(
                    "messages[{i}] holds a `{}` block, which {TO} cannot be sent",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    if !parts.is_empty() {
        input.push(json!({"type": "message", "role": "user", "content": parts}));
    }
    Ok(())
}

fn image(i: usize, source: &Value) -> Result<Value, String> {
    Ok(json!({"type": "input_image", "image_url": image_url(i, source)?, "detail": "auto"}))
}

/// An assistant turn: its text as output messages and its tool uses as function calls,
/// in the order they were written.
fn assistant(i: usize, blocks: &[Value], input: &mut Vec<Value>) -> Result<(), String> {
    let mut parts = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => parts.push(part(
                "assistant",
                block["text"].as_str().unwrap_or_default(),
            )),
            Some("tool_use") => {
                if !parts.is_empty() {
                    input.push(json!({"type": "message", "role": "assistant", "content": std::mem::take(&mut parts)}));
                }
                input.push(json!({
                    "type": "function_call", "call_id": block["id"], "name": block["name"],
                    "arguments": block["input"].to_string(),
                }));
            }
            // An earlier model's own reasoning: nothing another model can read.
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(format!(
                    "messages[{i}] holds a `{}` block, which {TO} cannot be sent",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    if !parts.is_empty() {
        input.push(json!({"type": "message", "role": "assistant", "content": parts}));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
