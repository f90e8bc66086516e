//! Amazon Bedrock's Converse API as AWS documents it (`POST /model/{modelId}/converse`
//! and `/converse-stream`, signed as every Bedrock call; see [`crate::bedrock`]). The
//! body is checked as Bedrock checks it: `messages` of `user` and `assistant` turns whose
//! content blocks each hold one of `text`, `image`, `toolUse`, `toolResult`; tool blocks
//! only with a `toolConfig`; `system` a list of `{"text"}`; `inferenceConfig` with
//! `maxTokens`, `temperature`, `topP`, `stopSequences`; any other key refused. The
//! answer is `{"output": {"message"}, "stopReason", "usage", "metrics"}`; a stream is
//! event-stream frames `messageStart`, `contentBlockStart` (tool use only),
//! `contentBlockDelta`, `contentBlockStop`, `messageStop`, then `metadata` with usage.

use crate::reply::{Plan, Reply, plan, token_estimate};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as Frame};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

type Refusal = (StatusCode, &'static str, String);

fn invalid(message: impl Into<String>) -> Refusal {
    (
        StatusCode::BAD_REQUEST,
        "ValidationException",
        message.into(),
    )
}

const KEYS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
    "guardrailConfig",
    "requestMetadata",
];
const BLOCKS: &[&str] = &[
    "text",
    "image",
    "toolUse",
    "toolResult",
    "document",
    "reasoningContent",
];

/// The answer to a Converse request, as bytes and their content type.
pub(crate) fn answer(
    request: &Map<String, Value>,
    streaming: bool,
    body_len: usize,
) -> Result<(Vec<u8>, &'static str), Refusal> {
    if let Some(key) = request.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("extraneous key [{key}] is not permitted")));
    }
    let tools = request
        .get("toolConfig")
        .and_then(|c| c["tools"].as_array())
        .filter(|t| !t.is_empty());
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return Err(invalid("messages is required"));
    };
    let mut last_user = String::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(invalid(format!(
                "messages.{i}.role must be user or assistant"
            )));
        }
        let Some(blocks) = message["content"].as_array().filter(|b| !b.is_empty()) else {
            return Err(invalid(format!(
                "messages.{i}.content must be a non-empty list"
            )));
        };
        let mut text = Vec::new();
        for block in blocks {
            let keys: Vec<&String> = block
                .as_object()
                .map(|b| b.keys().collect())
                .unwrap_or_default();
            if keys.len() != 1 || !BLOCKS.contains(&keys[0].as_str()) {
                return Err(invalid(format!(
                    "messages.{i}: a content block holds exactly one of {}",
                    BLOCKS.join(", ")
                )));
            }
            if (block.get("toolUse").is_some() || block.get("toolResult").is_some())
                && tools.is_none()
            {
                return Err(invalid(
                    "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
                ));
            }
            if let Some(t) = block["text"].as_str() {
                text.push(t.to_string());
            }
            for part in block["toolResult"]["content"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(t) = part["text"].as_str() {
                    text.push(t.to_string());
                }
            }
        }
        if role == "user" {
            last_user = text.join("\n");
        }
    }
    if let Some(system) = request.get("system")
        && !system
            .as_array()
            .is_some_and(|s| s.iter().all(|b| b["text"].is_string()))
    {
        return Err(invalid("system must be a list of text blocks"));
    }
    let first_tool = tools.and_then(|t| t[0]["toolSpec"]["name"].as_str());
    let (reply, abort) = match plan(&last_user, first_tool, streaming) {
        Plan::Fail => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "the stand-in failed this request, as the prompt asked".into(),
            ));
        }
        Plan::Answer {
            reply,
            abort_midstream,
        } => (reply, abort_midstream),
    };
    let usage = json!({
        "inputTokens": token_estimate(body_len),
        "outputTokens": reply.output_tokens(),
        "totalTokens": token_estimate(body_len) + reply.output_tokens(),
    });
    let (block, stop) = match &reply {
        Reply::Text(text) => (json!({"text": text}), "end_turn"),
        Reply::ToolCall { name, input, .. } => (
            json!({"toolUse": {"toolUseId": "tooluse_standin_1", "name": name, "input": input}}),
            "tool_use",
        ),
    };
    if !streaming {
        let whole = json!({
            "output": {"message": {"role": "assistant", "content": [block]}},
            "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 1},
        });
        return Ok((whole.to_string().into_bytes(), "application/json"));
    }
    let mut events = vec![("messageStart", json!({"role": "assistant"}))];
    if let Reply::ToolCall { name, .. } = &reply {
        events.push((
            "contentBlockStart",
            json!({"contentBlockIndex": 0,
            "start": {"toolUse": {"toolUseId": "tooluse_standin_1", "name": name}}}),
        ));
    }
    for piece in reply.pieces() {
        let delta = match &reply {
            Reply::Text(_) => json!({"text": piece}),
            Reply::ToolCall { .. } => json!({"toolUse": {"input": piece}}),
        };
        events.push((
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": delta}),
        ));
    }
    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
    events.push(("messageStop", json!({"stopReason": stop})));
    events.push((
        "metadata",
        json!({"usage": usage, "metrics": {"latencyMs": 1}}),
    ));
    if abort {
        events.truncate(2);
    }
    let mut body = Vec::new();
    for (kind, payload) in events {
        let frame = Frame::new(payload.to_string().into_bytes())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(":event-type", HeaderValue::String(kind.into())))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ));
        write_message_to(&frame, &mut body).map_err(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "cannot frame".to_string(),
            )
        })?;
    }
    Ok((body, "application/vnd.amazon.eventstream"))
}
