//! What the Responses API refuses with 400 before answering, as its reference
//! documents it: parameters it does not have, `max_output_tokens` below 16, a
//! `safety_identifier` over 64 characters, sampling settings for a reasoning model
//! (`gpt-5…`, `o1`/`o3`/`o4…`, `…codex…`), a function tool in Chat Completions'
//! nesting, input items of the shapes it knows with fields of the wrong type, content
//! parts it does not know or in the wrong role's turn (an assistant's are
//! `output_text` and `refusal`, everyone else's `input_…`), an image without its
//! address or file, and a function call's output that answers no call (without
//! `previous_response_id`, the calls must be in `input`).
//! Items of types it knows but Moat never writes (hosted tools' calls, reasoning) are
//! let through unread.

use serde_json::{Map, Value};

/// The request parameters of `POST /v1/responses`.
const PARAMETERS: &[&str] = &[
    "background",
    "client_metadata",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

/// Content part types a message item may hold.
const PARTS: &[&str] = &[
    "input_text",
    "input_image",
    "input_file",
    "input_audio",
    "output_text",
    "refusal",
];

/// Why the API would refuse `request`, in its words, or `None`.
pub(crate) fn refusal(request: &Map<String, Value>) -> Option<String> {
    if let Some(unknown) = request.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Some(format!("Unknown parameter: '{unknown}'."));
    }
    if let Some(most) = request.get("max_output_tokens").filter(|v| !v.is_null())
        && most.as_u64().is_none_or(|n| n < 16)
    {
        return Some(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16."
                .into(),
        );
    }
    if request
        .get("safety_identifier")
        .and_then(Value::as_str)
        .is_some_and(|id| id.chars().count() > 64)
    {
        return Some("Invalid 'safety_identifier': string too long. Expected a string with maximum length 64.".into());
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reasoning = model.starts_with("gpt-5")
        || ["o1", "o3", "o4"].iter().any(|o| model.starts_with(o))
        || model.contains("codex");
    for field in ["temperature", "top_p"] {
        if reasoning && request.get(field).is_some_and(|v| !v.is_null()) {
            return Some(format!(
                "Unsupported parameter: '{field}' is not supported with this model."
            ));
        }
    }
    for (i, tool) in request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if tool["type"] == "function" && !tool["name"].is_string() {
            return Some(format!("Missing required parameter: 'tools[{i}].name'."));
        }
    }
    let Some(Value::Array(items)) = request.get("input") else {
        return None;
    };
    let mut calls = Vec::new();
    let continued = request
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null());
    for (i, item) in items.iter().enumerate() {
        let kind = item["type"].as_str().unwrap_or("message");
        match kind {
            "message" => {
                if !matches!(
                    item["role"].as_str(),
                    Some("user" | "assistant" | "system" | "developer")
                ) {
                    return Some(format!("Invalid value: 'input[{i}].role'."));
                }
                match &item["content"] {
                    Value::String(_) => {}
                    Value::Array(parts) => {
                        let allowed: &[&str] = if item["role"] == "assistant" {
                            &PARTS[4..]
                        } else {
                            &PARTS[..4]
                        };
                        for (j, part) in parts.iter().enumerate() {
                            let kind = part["type"].as_str().unwrap_or_default();
                            if !allowed.contains(&kind) {
                                return Some(format!(
                                    "Invalid value: '{kind}'. Supported values are: {}. (input[{i}].content[{j}].type)",
                                    allowed.join(", ")
                                ));
                            }
                            if kind == "input_image"
                                && !(part["image_url"].is_string() || part["file_id"].is_string())
                            {
                                return Some(format!(
                                    "Missing required parameter: 'input[{i}].content[{j}].image_url'."
                                ));
                            }
                        }
                    }
                    _ => return Some(format!("Invalid type for 'input[{i}].content'.")),
                }
            }
            "function_call" => {
                for field in ["call_id", "name", "arguments"] {
                    if !item[field].is_string() {
                        return Some(format!(
                            "Invalid type for 'input[{i}].{field}': expected a string."
                        ));
                    }
                }
                calls.push(item["call_id"].as_str().unwrap_or_default());
            }
            "function_call_output" => {
                let call_id = item["call_id"].as_str().unwrap_or_default();
                if !(item["output"].is_string() || item["output"].is_array()) {
                    return Some(format!("Invalid type for 'input[{i}].output'."));
                }
                if !continued && !calls.contains(&call_id) {
                    return Some(format!(
                        "No tool call found for function call output with call_id {call_id}."
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value) -> Option<String> {
        refusal(body.as_object().unwrap())
    }

    #[test]
    fn what_the_api_refuses_is_refused() {
        assert_eq!(
            check(json!({"model": "m", "input": "hi", "store": false})),
            None
        );
        for (body, says) in [
            (
                json!({"model": "m", "stop": ["x"]}),
                "Unknown parameter: 'stop'",
            ),
            (
                json!({"model": "m", "max_output_tokens": 8}),
                "max_output_tokens",
            ),
            (
                json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}]}),
                "tools[0].name",
            ),
            (
                json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}),
                "content[0].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]}),
                "input[0].arguments",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}),
                "No tool call found",
            ),
        ] {
            let refused = check(body).unwrap();
            assert!(refused.contains(says), "{refused}");
        }
        let answered = json!({"model": "m", "input": [
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "42"},
        ]});
        assert_eq!(check(answered), None);
    }
}
