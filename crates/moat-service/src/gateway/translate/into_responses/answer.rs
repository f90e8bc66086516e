//! A whole Responses API response as a Messages answer: output text as text blocks,
//! function calls as tool uses, the status as the stop reason; reasoning is not passed
//! on, and an item a Messages client cannot be given fails the answer.

use serde_json::{Value, json};

/// A response object as a Messages answer.
pub fn to_messages(response: &Value) -> Result<Value, String> {
    match response["status"].as_str() {
        Some("completed" | "incomplete") => {}
        Some("failed") => {
            return Err(format!(
                "the model failed: {}",
                response["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason given")
            ));
        }
        other => {
            return Err(format!(
                "the response is `{}`, not finished",
                other.unwrap_or("without a status")
            ));
        }
    }
    let cut = response["status"] == "incomplete";
    let mut content = Vec::new();
    let mut refused = false;
    for item in response["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    match part["type"].as_str() {
                        Some("output_text") => {
                            content.push(json!({"type": "text", "text": part["text"]}))
                        }
                        Some("refusal") => {
                            refused = true;
                            content.push(json!({"type": "text", "text": part["refusal"]}));
                        }
                        other => return Err(unexpected("content part", other)),
                    }
                }
            }
            // A call cut off by the output limit is no call: the answer ends at the limit.
            Some("function_call") => match tool_use(item) {
                Ok(block) => content.push(block),
                Err(_) if cut => {}
                Err(why) => return Err(why),
            },
            Some("reasoning") => {}
            other => return Err(unexpected("output item", other)),
        }
    }
    let calls = content.iter().any(|block| block["type"] == "tool_use");
    Ok(json!({
        "id": response["id"],
        "type": "message",
        "role": "assistant",
        "model": response["model"],
        "content": content,
        "stop_reason": stop_reason(response, refused, calls),
        "stop_sequence": null,
        "usage": usage(&response["usage"]),
    }))
}

fn unexpected(what: &str, kind: Option<&str>) -> String {
    format!(
        "the model answered with a `{}` {what}, which has no counterpart in a Messages answer",
        kind.unwrap_or("?")
    )
}

/// A function call item as a `tool_use` block; its arguments must be JSON.
pub(super) fn tool_use(item: &Value) -> Result<Value, String> {
    let arguments = item["arguments"].as_str().unwrap_or_default();
    let input: Value = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|_| {
            "the model wrote function-call arguments that are not JSON, which a Messages client cannot be given".to_string()
        })?
    };
    Ok(json!({"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": input}))
}

/// A response's status (and what it wrote) as a Messages stop reason.
pub(super) fn stop_reason(response: &Value, refused: bool, calls: bool) -> &'static str {
    match (
        response["status"].as_str(),
        response["incomplete_details"]["reason"].as_str(),
    ) {
        (Some("incomplete"), Some("content_filter")) => "refusal",
        // Cut off, by the output limit or otherwise.
        (Some("incomplete"), _) => "max_tokens",
        _ if refused => "refusal",
        _ if calls => "tool_use",
        _ => "end_turn",
    }
}

/// The Responses API's usage as Messages': input read from the cache is counted apart.
pub(super) fn usage(usage: &Value) -> Value {
    let input = usage["input_tokens"].as_u64().unwrap_or(0);
    let cached = usage["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0)
        .min(input);
    json!({
        "input_tokens": input - cached,
        "cache_read_input_tokens": cached,
        "output_tokens": usage["output_tokens"].as_u64().unwrap_or(0),
    })
}
