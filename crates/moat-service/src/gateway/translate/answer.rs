//! A whole answer in the client's format.

use super::super::WireFormat;
use super::{finish_reason, function_call, stop_reason, tool_use};
use serde_json::{Value, json};

/// The vendor's whole answer (in `from`'s format) in `to`'s, or why it cannot be;
/// `namespaces` are the request's tool namespaces ([`super::namespaces`]).
pub fn answer(
    from: WireFormat,
    to: WireFormat,
    answer: &Value,
    namespaces: &[String],
) -> Result<Value, String> {
    match (from, to) {
        (WireFormat::OpenAi, WireFormat::Anthropic) => to_anthropic(answer),
        (WireFormat::Anthropic, WireFormat::OpenAi) => Ok(to_openai(answer)),
        (WireFormat::Anthropic, WireFormat::Responses) => {
            Ok(super::responses::to_responses(answer, namespaces))
        }
        (WireFormat::Responses, WireFormat::Anthropic) => {
            super::into_responses::to_messages(answer)
        }
        (WireFormat::Responses, WireFormat::OpenAi) => {
            Ok(to_openai(&super::into_responses::to_messages(answer)?))
        }
        _ => Err(format!(
            "Moat does not translate {} answers into {}",
            from.endpoint(),
            to.endpoint()
        )),
    }
}

/// A chat completion as a Messages answer.
fn to_anthropic(answer: &Value) -> Result<Value, String> {
    let choice = &answer["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        content.push(tool_use(call).ok_or("the model wrote tool-call arguments that are not JSON, which a Messages client cannot be given")?);
    }
    let usage = &answer["usage"];
    Ok(json!({
        "id": answer["id"],
        "type": "message",
        "role": "assistant",
        "model": answer["model"],
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage["prompt_tokens"].as_u64().unwrap_or(0),
            "output_tokens": usage["completion_tokens"].as_u64().unwrap_or(0),
        },
    }))
}

/// A Messages answer as a chat completion.
fn to_openai(answer: &Value) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in answer["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(function_call(block)),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let usage = &answer["usage"];
    let input = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage[*k].as_u64())
    .sum::<u64>();
    let output = usage["output_tokens"].as_u64().unwrap_or(0);
    json!({
        "id": answer["id"],
        "object": "chat.completion",
        "created": super::stream::now(),
        "model": answer["model"],
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(answer["stop_reason"].as_str().unwrap_or("end_turn")),
        }],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    })
}
