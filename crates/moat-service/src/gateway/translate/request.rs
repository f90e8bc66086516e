//! A request body in the other format. Fields with no faithful counterpart are refused,
//! naming them; hints that change nothing a model says (`cache_control`) are dropped.

use super::super::WireFormat;
use super::{function_call, tool_use};
use serde_json::{Map, Value, json};

/// The Messages API needs `max_tokens`; a Chat Completions request may name none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// `body` (already redacted, in `from`'s format) as a request in `to`'s format.
pub fn request(from: WireFormat, to: WireFormat, body: &Value) -> Result<Value, String> {
    let Value::Object(fields) = body else {
        return Err("the request body must be a JSON object".into());
    };
    match (from, to) {
        (WireFormat::Anthropic, WireFormat::OpenAi) => to_openai(fields),
        (WireFormat::OpenAi, WireFormat::Anthropic) => to_anthropic(fields),
        (WireFormat::Responses, WireFormat::Anthropic) => super::responses::to_anthropic(fields),
        (WireFormat::Anthropic, WireFormat::Responses) => {
            super::into_responses::from_messages(fields)
        }
        (WireFormat::OpenAi, WireFormat::Responses) => chat_to_responses(fields),
        _ => Err(format!(
            "Moat does not translate {} requests into {}",
            from.endpoint(),
            to.endpoint()
        )),
    }
}

/// Chat Completions → the Responses API, through Messages: what Messages has no field
/// for but the Responses API does (`reasoning_effort`, `verbosity`, `temperature` up to
/// 2, a function's `strict`) is carried across, and no output limit is set where the
/// client set none (a reasoning model's thinking counts against it).
fn chat_to_responses(fields: &Map<String, Value>) -> Result<Value, String> {
    const TO: &str = "OpenAI's Responses API";
    if fields.get("stop").is_some_and(|v| !v.is_null()) {
        return Err(untranslatable("stop", TO));
    }
    let mut chat = fields.clone();
    let effort = chat.remove("reasoning_effort").filter(|v| !v.is_null());
    let verbosity = chat.remove("verbosity").filter(|v| !v.is_null());
    // The Responses API's range is Chat Completions' (0 to 2), not Messages'.
    let sampling: Vec<(String, Value)> = ["temperature", "top_p"]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), chat.remove(k)?)))
        .filter(|(_, v)| !v.is_null() && v.as_f64() != Some(1.0))
        .collect();
    let limited = ["max_completion_tokens", "max_tokens"]
        .iter()
        .any(|k| fields.get(*k).is_some_and(|v| !v.is_null()));
    let strict: Vec<Value> = fields
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|tool| tool["function"]["strict"] == true)
        .map(|tool| tool["function"]["name"].clone())
        .collect();
    // Refusals name what the Responses API lacks, not what Messages lacks.
    let reword = |why: String| {
        why.replace("Anthropic's Messages", TO)
            .replace("Anthropic-format models", "this model")
    };
    let Value::Object(messages) = to_anthropic(&chat).map_err(reword)? else {
        return Err("the request cannot be translated".into());
    };
    let mut out = super::into_responses::from_messages(&messages).map_err(reword)?;
    let Some(fields) = out.as_object_mut() else {
        return Err("the request cannot be translated".into());
    };
    if !limited {
        fields.remove("max_output_tokens");
    }
    fields.extend(sampling);
    if let Some(effort) = effort {
        fields.insert("reasoning".into(), json!({"effort": effort}));
    }
    if let Some(verbosity) = verbosity {
        fields.insert("text".into(), json!({"verbosity": verbosity}));
    }
    for tool in fields
        .get_mut("tools")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if strict.contains(&tool["name"]) {
            tool["strict"] = Value::Bool(true);
        }
    }
    Ok(out)
}

fn untranslatable(field: &str, to: &str) -> String {
    format!(
        "`{field}` has no counterpart in {to}, so this request cannot go to that model; remove it or choose a model of the request's own format"
    )
}

/// Anthropic Messages → OpenAI Chat Completions.
fn to_openai(fields: &Map<String, Value>) -> Result<Value, String> {
    const TO: &str = "OpenAI's Chat Completions";
    for field in [
        "top_k",
        "thinking",
        "container",
        "mcp_servers",
        "context_management",
    ] {
        if fields.get(field).is_some_and(|v| !v.is_null()) {
            return Err(untranslatable(field, TO));
        }
    }
    let mut messages = Vec::new();
    match fields.get("system") {
        Some(Value::String(text)) => messages.push(json!({"role": "system", "content": text})),
        Some(Value::Array(blocks)) => {
            let text = texts(blocks, "system")?;
            messages.push(json!({"role": "system", "content": text}));
        }
        _ => {}
    }
    for (i, message) in fields
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let role = message["role"].as_str().unwrap_or_default();
        match &message["content"] {
            Value::String(text) => messages.push(json!({"role": role, "content": text})),
            Value::Array(blocks) if role == "assistant" => {
                messages.push(assistant_to_openai(i, blocks)?);
            }
            Value::Array(blocks) => messages.extend(user_to_openai(i, blocks)?),
            _ => return Err(format!("messages[{i}].content cannot be translated")),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), fields["model"].clone());
    out.insert("messages".into(), Value::Array(messages));
    if let Some(most) = fields.get("max_tokens") {
        out.insert("max_completion_tokens".into(), most.clone());
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop_sequences", "stop"),
        ("stream", "stream"),
    ] {
        if let Some(value) = fields.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), value.clone());
        }
    }
    if fields.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(user) = fields.get("metadata").and_then(|m| m.get("user_id")) {
        out.insert("user".into(), user.clone());
    }
    if let Some(Value::Array(tools)) = fields.get("tools") {
        let mut functions = Vec::new();
        for (i, tool) in tools.iter().enumerate() {
            if tool.get("type").is_some_and(|t| t != "custom") {
                return Err(format!(
                    "tools[{i}] is Anthropic's own tool `{}`, which OpenAI-format models do not have; remove it or choose an Anthropic model",
                    tool["type"].as_str().unwrap_or("?")
                ));
            }
            let mut function = json!({
                "name": tool["name"],
                "parameters": tool.get("input_schema").cloned().unwrap_or(json!({"type": "object"})),
            });
            if let Some(description) = tool.get("description") {
                function["description"] = description.clone();
            }
            functions.push(json!({"type": "function", "function": function}));
        }
        out.insert("tools".into(), Value::Array(functions));
    }
    if let Some(choice) = fields.get("tool_choice").filter(|v| v.is_object()) {
        let chosen = match choice["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
            _ => return Err("`tool_choice` cannot be translated".into()),
        };
        out.insert("tool_choice".into(), chosen);
        if choice["disable_parallel_tool_use"] == true {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    Ok(Value::Object(out))
}

/// Text blocks joined (a system prompt, a tool result); anything else is refused.
pub(super) fn texts(blocks: &[Value], at: &str) -> Result<String, String> {
    let mut text = String::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(block["text"].as_str().unwrap_or_default());
            }
            other => {
                return Err(format!(
                    "{at} holds a `{}` block, which has no counterpart here; send text",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    Ok(text)
}

fn assistant_to_openai(i: usize, blocks: &[Value]) -> Result<Value, String> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(function_call(block)),
            // An earlier model's own reasoning: nothing another model can read.
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(format!(
                    "messages[{i}] holds a `{}` block, which OpenAI-format models cannot be sent",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(message)
}

/// A Messages image's address: a `data:` URL for inline data.
pub(super) fn image_url(i: usize, source: &Value) -> Result<String, String> {
    match source["type"].as_str() {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or_default()
        )),
        Some("url") => Ok(source["url"].as_str().unwrap_or_default().to_string()),
        _ => Err(format!(
            "messages[{i}] holds an image of a kind that cannot be translated"
        )),
    }
}

/// A Messages tool result as text; OpenAI's formats have no error flag on a tool's
/// answer, so an error is said in words.
pub(super) fn tool_result_text(i: usize, block: &Value) -> Result<String, String> {
    let text = match &block["content"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => texts(blocks, &format!("messages[{i}]'s tool result"))?,
        Value::Null => String::new(),
        _ => {
            return Err(format!(
                "messages[{i}] holds a tool result that cannot be translated"
            ));
        }
    };
    Ok(if block["is_error"] == true {
        format!("Error: {text}")
    } else {
        text
    })
}

/// A user turn: tool results become `tool` messages (first, as OpenAI wants them right
/// after the calls), the rest one user message of parts.
fn user_to_openai(i: usize, blocks: &[Value]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut parts = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => parts.push(json!({"type": "text", "text": block["text"]})),
            Some("image") => {
                let url = image_url(i, &block["source"])?;
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            Some("tool_result") => {
                let content = tool_result_text(i, block)?;
                out.push(json!({"role": "tool", "tool_call_id": block["tool_use_id"], "content": content}));
            }
            other => {
                return Err(format!(
                    "messages[{i}] holds a `{}` block, which OpenAI-format models cannot be sent",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(out)
}

/// OpenAI Chat Completions → Anthropic Messages.
fn to_anthropic(fields: &Map<String, Value>) -> Result<Value, String> {
    const TO: &str = "Anthropic's Messages";
    if fields
        .get("n")
        .is_some_and(|n| !n.is_null() && n != &json!(1))
    {
        return Err(untranslatable("n", TO));
    }
    for field in [
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "prediction",
        "audio",
        "modalities",
        "reasoning_effort",
        "web_search_options",
        "service_tier",
        "functions",
        "function_call",
        "verbosity",
    ] {
        if fields
            .get(field)
            .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
        {
            return Err(untranslatable(field, TO));
        }
    }
    if fields.get("store").and_then(Value::as_bool) == Some(true) {
        return Err(untranslatable("store", TO));
    }
    if let Some(format) = fields.get("response_format")
        && format["type"] != "text"
    {
        return Err(untranslatable("response_format", TO));
    }
    if fields
        .get("temperature")
        .and_then(Value::as_f64)
        .is_some_and(|t| t > 1.0)
    {
        return Err(
            "`temperature` above 1 has no counterpart in Anthropic's Messages (0 to 1); lower it"
                .into(),
        );
    }
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for (i, message) in fields
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let role = message["role"].as_str().unwrap_or_default();
        match role {
            "system" | "developer" => system.push(content_text(i, &message["content"])?),
            "user" => messages.push(
                json!({"role": "user", "content": user_to_anthropic(i, &message["content"])?}),
            ),
            "assistant" => messages.push(assistant_to_anthropic(i, message)?),
            "tool" => {
                let result = json!({
                    "type": "tool_result",
                    "tool_use_id": message["tool_call_id"],
                    "content": content_text(i, &message["content"])?,
                });
                // Results of one turn's calls go together in one user message.
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"]
                                .as_array()
                                .is_some_and(|c| c.iter().all(|b| b["type"] == "tool_result")) =>
                    {
                        if let Some(content) = last["content"].as_array_mut() {
                            content.push(result);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [result]})),
                }
            }
            _ => {
                return Err(format!(
                    "messages[{i}] has role `{role}`, which cannot be translated"
                ));
            }
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), fields["model"].clone());
    out.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system.join("\n\n")));
    }
    let most = fields
        .get("max_completion_tokens")
        .or_else(|| fields.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(most));
    for field in ["temperature", "top_p", "stream"] {
        if let Some(value) = fields.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), value.clone());
        }
    }
    match fields.get("stop") {
        Some(Value::String(stop)) => {
            out.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) => {
            out.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if let Some(user) = fields
        .get("user")
        .or_else(|| fields.get("safety_identifier"))
        .filter(|v| v.is_string())
    {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(Value::Array(tools)) = fields.get("tools") {
        let mut out_tools = Vec::new();
        for (i, tool) in tools.iter().enumerate() {
            if tool["type"] != "function" {
                return Err(format!(
                    "tools[{i}] is not a function tool, which is all Anthropic-format models are sent"
                ));
            }
            let function = &tool["function"];
            let mut translated = json!({
                "name": function["name"],
                "input_schema": function.get("parameters").cloned().unwrap_or(json!({"type": "object"})),
            });
            if let Some(description) = function.get("description") {
                translated["description"] = description.clone();
            }
            out_tools.push(translated);
        }
        out.insert("tools".into(), Value::Array(out_tools));
    }
    let mut choice = match fields.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c == "auto" => Some(json!({"type": "auto"})),
        Some(Value::String(c)) if c == "required" => Some(json!({"type": "any"})),
        Some(Value::String(c)) if c == "none" => Some(json!({"type": "none"})),
        Some(Value::Object(c)) if c.get("type").is_some_and(|t| t == "function") => {
            Some(json!({"type": "tool", "name": c.get("function").map(|f| f["name"].clone())}))
        }
        Some(_) => return Err("`tool_choice` cannot be translated".into()),
    };
    if fields.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        let chosen = choice.get_or_insert_with(|| json!({"type": "auto"}));
        chosen["disable_parallel_tool_use"] = Value::Bool(true);
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(Value::Object(out))
}

/// A message's content as text: a string, or text parts joined.
fn content_text(i: usize, content: &Value) -> Result<String, String> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                if part["type"] != "text" {
                    return Err(format!(
                        "messages[{i}] holds a `{}` part where only text can be translated",
                        part["type"].as_str().unwrap_or("?")
                    ));
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(part["text"].as_str().unwrap_or_default());
            }
            Ok(text)
        }
        _ => Err(format!("messages[{i}].content cannot be translated")),
    }
}

fn user_to_anthropic(i: usize, content: &Value) -> Result<Value, String> {
    let Value::Array(parts) = content else {
        return Ok(Value::String(content_text(i, content)?));
    };
    let mut blocks = Vec::new();
    for part in parts {
        match part["type"].as_str() {
            Some("text") => blocks.push(json!({"type": "text", "text": part["text"]})),
            Some("image_url") => {
                let url = part["image_url"]["url"].as_str().unwrap_or_default();
                let source = match url
                    .strip_prefix("data:")
                    .and_then(|rest| rest.split_once(";base64,"))
                {
                    Some((media_type, data)) => {
                        json!({"type": "base64", "media_type": media_type, "data": data})
                    }
                    None => json!({"type": "url", "url": url}),
                };
                blocks.push(json!({"type": "image", "source": source}));
            }
            other => {
                return Err(format!(
                    "messages[{i}] holds a `{}` part, which Anthropic-format models cannot be sent",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    Ok(Value::Array(blocks))
}

fn assistant_to_anthropic(i: usize, message: &Value) -> Result<Value, String> {
    let mut blocks = Vec::new();
    let text = content_text(i, &message["content"])?;
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        blocks.push(tool_use(call).ok_or_else(|| format!("messages[{i}] holds a tool call whose arguments are not JSON, which Anthropic-format models cannot be sent"))?);
    }
    Ok(json!({"role": "assistant", "content": blocks}))
}
