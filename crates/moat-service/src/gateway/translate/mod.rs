//! Translation between OpenAI Chat Completions and Anthropic Messages, from the
//! Responses API to Messages, and from both into the Responses API (for models served
//! only there), so any approved model serves any client: Claude Code on an
//! OpenAI-format model, Cursor and Codex CLI on an Anthropic one, either on a Codex
//! model. The request is translated after it was redacted and admitted in the
//! client's format (translation only moves strings that were already redacted); the
//! vendor's answer, whole or streamed, is translated back before anything else reads
//! it. What has no faithful counterpart is refused, naming the feature.

mod answer;
pub mod converse;
pub mod gemini;
mod into_responses;
mod request;
mod responses;
mod stream;

pub use answer::answer;
pub use request::request;
pub use responses::namespaces;
pub use stream::Event;

use super::WireFormat;
use serde_json::{Value, json};

/// Whether requests in `client` format can be served by a vendor of `vendor` format.
pub fn between(client: WireFormat, vendor: WireFormat) -> bool {
    matches!(
        (client, vendor),
        (WireFormat::OpenAi, WireFormat::Anthropic)
            | (WireFormat::Anthropic, WireFormat::OpenAi)
            | (WireFormat::Responses, WireFormat::Anthropic)
            | (WireFormat::OpenAi, WireFormat::Responses)
            | (WireFormat::Anthropic, WireFormat::Responses)
    )
}

/// Translates one vendor stream into the client's format, event by event.
pub enum StreamTranslator {
    /// Chat Completions chunks and Messages events, either way.
    ChatMessages(stream::ChatMessagesStream),
    /// Messages events as the Responses API's.
    Responses(responses::ResponsesStream),
    /// The Responses API's events as Messages', and those (for a Chat Completions
    /// client) as chunks.
    FromResponses(
        into_responses::MessagesFromResponses,
        Option<stream::ChatMessagesStream>,
    ),
}

impl StreamTranslator {
    /// A translator of a stream in `from`'s format (the vendor's) to `to`'s (the
    /// client's), for pairs [`between`] allows; `namespaces` are the request's tool
    /// namespaces ([`namespaces`]).
    pub fn new(from: WireFormat, to: WireFormat, namespaces: Vec<String>) -> StreamTranslator {
        match (from, to) {
            (WireFormat::Responses, _) => StreamTranslator::FromResponses(
                into_responses::MessagesFromResponses::new(),
                (to == WireFormat::OpenAi)
                    .then(|| stream::ChatMessagesStream::new(WireFormat::Anthropic)),
            ),
            (_, WireFormat::Responses) => {
                StreamTranslator::Responses(responses::ResponsesStream::new(namespaces))
            }
            _ => StreamTranslator::ChatMessages(stream::ChatMessagesStream::new(from)),
        }
    }

    /// The client's events for one vendor event (`name`, `data`).
    pub fn push(&mut self, name: Option<&str>, data: &str) -> Vec<Event> {
        match self {
            StreamTranslator::ChatMessages(stream) => stream.push(name, data),
            StreamTranslator::Responses(stream) => stream.push(name, data),
            StreamTranslator::FromResponses(messages, None) => messages.push(data),
            StreamTranslator::FromResponses(messages, Some(chat)) => messages
                .push(data)
                .into_iter()
                .flat_map(|(name, data)| chat.push(name.as_deref(), &data))
                .collect(),
        }
    }
}

/// A Messages system prompt as `{"text": …}` parts, the shape Converse and Gemini share.
fn system_parts(value: &Value, to: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::String(text) => Ok(vec![json!({"text": text})]),
        Value::Array(blocks) => blocks
            .iter()
            .map(|block| match block["type"].as_str() {
                Some("text") => Ok(json!({"text": block["text"]})),
                other => Err(format!(
                    "the system prompt holds a `{}` block, which {to} cannot be sent",
                    other.unwrap_or("?")
                )),
            })
            .collect(),
        _ => Err("`system` cannot be translated".into()),
    }
}

/// A Messages request's tools as name, description (if any) and JSON schema; Anthropic's
/// own tools, which only Anthropic runs, are refused.
fn tool_definitions(tools: &Value, to: &str) -> Result<Vec<(Value, Option<Value>, Value)>, String> {
    let mut out = Vec::new();
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        if tool
            .get("type")
            .is_some_and(|t| !t.is_null() && t != "custom")
        {
            return Err(format!(
                "tools[{i}] is Anthropic's own tool `{}`, which {to} does not run",
                tool["type"].as_str().unwrap_or("?")
            ));
        }
        out.push((
            tool["name"].clone(),
            tool.get("description").filter(|d| d.is_string()).cloned(),
            tool.get("input_schema")
                .cloned()
                .unwrap_or(json!({"type": "object"})),
        ));
    }
    Ok(out)
}

/// An Anthropic `tool_use` block as an OpenAI tool call.
fn function_call(block: &Value) -> Value {
    json!({
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": block["input"].to_string()},
    })
}

/// An OpenAI tool call as an Anthropic `tool_use` block; `None` when its arguments are
/// not JSON (empty arguments are no arguments).
fn tool_use(call: &Value) -> Option<Value> {
    let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
    let input: Value = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).ok()?
    };
    Some(
        json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}),
    )
}

/// Anthropic's stop reasons as OpenAI's finish reasons.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's finish reasons as Anthropic's stop reasons.
fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

#[cfg(test)]
mod tests;
