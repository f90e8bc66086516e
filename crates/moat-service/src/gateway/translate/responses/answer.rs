//! A whole Messages answer as a Responses API response: each text block an output
//! message, each tool use a function call, the stop reason as the response's status.

use super::super::stream::now;
use serde_json::{Value, json};

/// A Messages answer as a response object; `namespaces` are the request's (see
/// [`super::namespaces`]).
pub fn to_responses(answer: &Value, namespaces: &[String]) -> Value {
    let mut output = Vec::new();
    for (n, block) in answer["content"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        match block["type"].as_str() {
            Some("text") => output.push(message_item(
                &item_id(answer, n),
                block["text"].as_str().unwrap_or_default(),
            )),
            Some("tool_use") => output.push(call_item(
                &item_id(answer, n),
                &block["id"],
                &block["name"],
                &block["input"].to_string(),
                namespaces,
            )),
            // Thinking has no counterpart a Responses client can be given back.
            _ => {}
        }
    }
    response(
        answer["id"].clone(),
        answer["model"].clone(),
        now(),
        output,
        answer["stop_reason"].as_str(),
        usage(&answer["usage"]),
    )
}

/// An output item's id, from the message's and the item's place in it.
pub(super) fn item_id(answer: &Value, n: usize) -> String {
    format!("{}_{n}", answer["id"].as_str().unwrap_or("msg"))
}

pub(super) fn message_item(id: &str, text: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

pub(super) fn call_item(
    id: &str,
    call_id: &Value,
    name: &Value,
    arguments: &str,
    namespaces: &[String],
) -> Value {
    let mut item = json!({
        "type": "function_call", "id": id, "call_id": call_id,
        "arguments": arguments, "status": "completed",
    });
    super::name_call(&mut item, name, namespaces);
    item
}

/// Messages usage as the Responses API's: cached and newly cached input is input.
pub(super) fn usage(usage: &Value) -> (u64, u64, u64) {
    let input = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage[*k].as_u64())
    .sum::<u64>();
    let cached = usage["cache_read_input_tokens"].as_u64().unwrap_or(0);
    (input, cached, usage["output_tokens"].as_u64().unwrap_or(0))
}

/// A response object, finished as the stop reason says (`None`: still in progress).
pub(super) fn response(
    id: Value,
    model: Value,
    created_at: u64,
    output: Vec<Value>,
    stop_reason: Option<&str>,
    (input, cached, output_tokens): (u64, u64, u64),
) -> Value {
    let (status, incomplete) = match stop_reason {
        None => ("in_progress", Value::Null),
        Some("max_tokens" | "model_context_window_exceeded") => {
            ("incomplete", json!({"reason": "max_output_tokens"}))
        }
        Some("refusal") => ("incomplete", json!({"reason": "content_filter"})),
        Some(_) => ("completed", Value::Null),
    };
    json!({
        "id": id, "object": "response", "created_at": created_at, "status": status,
        "model": model, "output": output, "error": null, "incomplete_details": incomplete,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "store": false,
        "usage": {
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + output_tokens,
        },
    })
}
