//! `POST /v1/responses` (OpenAI's Responses API, which Codex CLI speaks) through the
//! same pipeline as Chat Completions, to the same vendors. What the vendor would keep
//! or run on its own is governed: `store` is sent as `false` unless a request asks for
//! it and its model allows it; continuing a kept response (`previous_response_id`, an
//! `item_reference`), `prompt_cache_retention` and the vendor's own tools are options a
//! model must list; conversations, stored prompts and background runs, whose content
//! Moat cannot read or whose answer it would not relay, are refused.

use super::wire::{Ask, TypedField, check_types, is_count, object_and_model};
use serde_json::{Map, Value};

/// Fields whose use leaves state at the vendor that Moat cannot read or govern, and
/// what to do instead.
const REFUSED: &[(&str, &str)] = &[
    (
        "conversation",
        "a conversation kept at the vendor holds turns Moat has not checked; send the turns in `input`",
    ),
    (
        "prompt",
        "a prompt stored at the vendor cannot be checked for secrets or code; send its text in `instructions`",
    ),
    (
        "background",
        "a background response is fetched later, past Moat's record of it; ask without `background`",
    ),
];

/// The roles an input message may have.
const ROLES: &[&str] = &["user", "system", "developer", "assistant"];

/// Checks a Responses API request's fields.
pub(super) fn check(body: &Value) -> Result<Ask, String> {
    let (fields, model) = object_and_model(body)?;
    for (field, instead) in REFUSED {
        if fields
            .get(*field)
            .is_some_and(|v| !v.is_null() && v.as_bool() != Some(false))
        {
            return Err(format!("`{field}` is not passed on: {instead}"));
        }
    }
    match fields.get("input") {
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) => check_items(items)?,
        None | Some(Value::Null) if fields.contains_key("previous_response_id") => {}
        None | Some(Value::Null) => return Err("`input` is required".into()),
        Some(_) => return Err("`input` must be a string or an array of input items".into()),
    }
    let typed: &[TypedField] = &[
        ("instructions", Value::is_string, "a string"),
        ("stream", Value::is_boolean, "a boolean"),
        ("store", Value::is_boolean, "a boolean"),
        ("stream_options", Value::is_object, "an object"),
        ("tools", Value::is_array, "an array"),
        ("temperature", Value::is_number, "a number"),
        ("top_p", Value::is_number, "a number"),
        ("metadata", Value::is_object, "an object"),
        ("reasoning", Value::is_object, "an object"),
        ("text", Value::is_object, "an object"),
        ("truncation", Value::is_string, "a string"),
        ("parallel_tool_calls", Value::is_boolean, "a boolean"),
        ("previous_response_id", is_id, "a non-empty string"),
        ("max_output_tokens", is_count, "a positive integer"),
        ("max_tool_calls", is_count, "a positive integer"),
        ("top_logprobs", Value::is_u64, "an integer"),
        ("include", is_strings, "an array of strings"),
    ];
    check_types(fields, typed)?;
    Ok(Ask {
        model,
        stream: fields.get("stream").and_then(Value::as_bool) == Some(true),
        max_output: fields.get("max_output_tokens").and_then(Value::as_u64),
    })
}

fn check_items(items: &[Value]) -> Result<(), String> {
    if items.is_empty() {
        return Err("`input` must not be empty".into());
    }
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(format!("input[{i}] must be an object"));
        };
        let message = item.get("type").is_none_or(|t| t == "message");
        if !message {
            if !item.get("type").is_some_and(Value::is_string) {
                return Err(format!("input[{i}].type must be a string"));
            }
            // A reference is its id: one that is not a string would go unchecked.
            if item.get("type").is_some_and(|t| t == "item_reference")
                && !item.get("id").is_some_and(is_id)
            {
                return Err(format!("input[{i}].id must be a non-empty string"));
            }
            continue;
        }
        match item.get("role").and_then(Value::as_str) {
            Some(role) if ROLES.contains(&role) => {}
            _ => {
                return Err(format!(
                    "input[{i}].role must be one of: {}",
                    ROLES.join(", ")
                ));
            }
        }
        check_content(i, item)?;
    }
    Ok(())
}

fn check_content(i: usize, item: &Map<String, Value>) -> Result<(), String> {
    match item.get("content") {
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(parts)) => match parts.iter().position(|p| !p.is_object()) {
            Some(j) => Err(format!("input[{i}].content[{j}] must be an object")),
            None => Ok(()),
        },
        _ => Err(format!(
            "input[{i}].content must be a string or an array of content parts"
        )),
    }
}

fn is_id(value: &Value) -> bool {
    value.as_str().is_some_and(|id| !id.trim().is_empty())
}

fn is_strings(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(Value::is_string))
}

/// Whether a request asks for the answer's log probabilities (`include` naming them,
/// or `top_logprobs` above zero).
pub(super) fn asks_logprobs(body: &Value) -> bool {
    let included = body["include"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|item| item.as_str().is_some_and(|i| i.contains("logprobs")))
    });
    included || body["top_logprobs"].as_u64().is_some_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::check;
    use serde_json::json;

    #[test]
    fn requests_are_checked_and_vendor_side_state_is_refused() {
        assert!(check(&json!({"model": "m", "input": "hi"})).is_ok());
        let ask = check(&json!({"model": "m", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call_output", "call_id": "c", "output": "42"}
        ], "stream": true, "max_output_tokens": 64}))
        .unwrap();
        assert!(ask.stream);
        assert_eq!(ask.max_output, Some(64));
        assert!(check(&json!({"model": "m", "previous_response_id": "resp_1"})).is_ok());
        for (body, says) in [
            (json!({"model": "m"}), "`input` is required"),
            (json!({"model": "m", "input": 3}), "`input` must be"),
            (json!({"model": "m", "input": []}), "must not be empty"),
            (
                json!({"model": "m", "input": [1]}),
                "input[0] must be an object",
            ),
            (
                json!({"model": "m", "input": [{"role": "wizard", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": 5}]}),
                "input[0].content",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [1]}]}),
                "input[0].content[0]",
            ),
            (
                json!({"model": "m", "input": [{"type": 5}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "conversation": "conv_1"}),
                "`conversation` is not passed on",
            ),
            (
                json!({"model": "m", "input": "x", "prompt": {"id": "pmpt_1"}}),
                "`prompt` is not passed on",
            ),
            (
                json!({"model": "m", "input": "x", "background": true}),
                "`background` is not passed on",
            ),
            (
                json!({"model": "m", "input": "x", "instructions": ["a"]}),
                "`instructions` must be a string",
            ),
            (
                json!({"model": "m", "input": "x", "max_output_tokens": 0}),
                "`max_output_tokens`",
            ),
            (
                json!({"model": "m", "input": "x", "include": [1]}),
                "`include` must be",
            ),
            (
                json!({"model": "m", "input": "x", "previous_response_id": " "}),
                "`previous_response_id`",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [1]}),
                "tools[0]",
            ),
        ] {
            let error = check(&body).unwrap_err();
            assert!(error.contains(says), "{body}: {error}");
        }
        assert!(check(&json!({"model": "m", "input": "x", "background": false})).is_ok());
    }
}
