//! A Responses API request as a Messages request. Every field is either translated,
//! dropped because it changes nothing the model says (cache keys, client metadata,
//! `store: false`), or refused naming it: this list is the whole of what passes.

use super::super::request::DEFAULT_MAX_TOKENS;
use serde_json::{Map, Value, json};

const TO: &str = "Anthropic's Messages";

fn untranslatable(field: &str) -> String {
    format!(
        "`{field}` has no counterpart in {TO}, so this request cannot go to that model; remove it or choose an OpenAI-format model"
    )
}

/// A Responses API request (already redacted) as a Messages request.
pub fn to_anthropic(fields: &Map<String, Value>) -> Result<Value, String> {
    let mut out = Map::new();
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    let mut choice: Option<Value> = None;
    let mut no_parallel = false;
    for (field, value) in fields {
        if value.is_null() {
            continue;
        }
        match field.as_str() {
            "model" | "stream" | "top_p" => {
                out.insert(field.clone(), value.clone());
            }
            "temperature" => {
                if value.as_f64().is_some_and(|t| t > 1.0) {
                    return Err(format!(
                        "`temperature` above 1 has no counterpart in {TO} (0 to 1); lower it"
                    ));
                }
                out.insert(field.clone(), value.clone());
            }
            "max_output_tokens" => {
                out.insert("max_tokens".into(), value.clone());
            }
            "instructions" => system.push(value.as_str().unwrap_or_default().to_string()),
            "input" => match value {
                Value::String(text) => messages.push(json!({"role": "user", "content": text})),
                Value::Array(items) => input(items, &mut system, &mut messages)?,
                _ => return Err("`input` cannot be translated".into()),
            },
            "tools" => {
                let mut tools = Vec::new();
                functions(value, "tools", None, &mut tools)?;
                // Each joined name must read back as the function it stands for, and
                // be one function's only.
                let namespaces = super::tool_namespaces(value);
                let mut seen = std::collections::HashSet::new();
                for (namespace, name) in function_names(value) {
                    let joined = super::joined(namespace, name);
                    if super::split(&joined, &namespaces) != (namespace, name)
                        || !seen.insert(joined.clone())
                    {
                        return Err(format!(
                            "function `{name}`{} becomes `{joined}` for {TO}, which reads as another function; rename one",
                            namespace
                                .map(|n| format!(" in namespace `{n}`"))
                                .unwrap_or_default()
                        ));
                    }
                }
                out.insert("tools".into(), Value::Array(tools));
            }
            "tool_choice" => choice = Some(tool_choice(value)?),
            "parallel_tool_calls" => no_parallel = value == &Value::Bool(false),
            "user" | "safety_identifier" if value.is_string() => {
                out.insert("metadata".into(), json!({"user_id": value}));
            }
            // Nothing is kept either way: a model of another format keeps nothing.
            "store" if value == &Value::Bool(false) => {}
            "background" if value == &Value::Bool(false) => {}
            "truncation" if value == "disabled" => {}
            "text" => text(value)?,
            "reasoning" => reasoning(value)?,
            "include" => include(value)?,
            "top_logprobs" if value == &json!(0) => {}
            // Hints about the vendor's cache and the client's own bookkeeping: they
            // change nothing the model says, and Anthropic's caching is automatic here.
            "prompt_cache_key"
            | "prompt_cache_retention"
            | "metadata"
            | "client_metadata"
            | "stream_options" => {}
            other => return Err(untranslatable(other)),
        }
    }
    if messages.is_empty() {
        return Err(format!(
            "the request holds no turns {TO} can be sent; send `input`"
        ));
    }
    out.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system.join("\n\n")));
    }
    if !out.contains_key("max_tokens") {
        out.insert("max_tokens".into(), json!(DEFAULT_MAX_TOKENS));
    }
    if no_parallel {
        let chosen = choice.get_or_insert_with(|| json!({"type": "auto"}));
        chosen["disable_parallel_tool_use"] = Value::Bool(true);
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(Value::Object(out))
}

/// `text`: plain text output is what Messages gives; a JSON schema or a verbosity is
/// not.
fn text(value: &Value) -> Result<(), String> {
    let plain = value["format"].is_null() || value["format"]["type"] == "text";
    if !plain {
        return Err(untranslatable("text.format"));
    }
    if value.get("verbosity").is_some_and(|v| !v.is_null()) {
        return Err(untranslatable("text.verbosity"));
    }
    Ok(())
}

/// `reasoning`: asking for none, or only for summaries of reasoning (which another
/// format's model does not write), changes nothing; an effort does.
fn reasoning(value: &Value) -> Result<(), String> {
    match value.get("effort") {
        None | Some(Value::Null) => Ok(()),
        Some(effort) if effort == "none" => Ok(()),
        Some(_) => Err(untranslatable("reasoning.effort")),
    }
}

/// `include`: encrypted reasoning asked back is simply not there; anything else asks
/// for what only the vendor's own tools or log probabilities give.
fn include(value: &Value) -> Result<(), String> {
    for item in value.as_array().into_iter().flatten() {
        if item != "reasoning.encrypted_content" {
            return Err(untranslatable(&format!(
                "include: {}",
                item.as_str().unwrap_or("?")
            )));
        }
    }
    Ok(())
}

/// Function tools, also inside a `namespace` (Codex groups its tools so; their names
/// joined to the namespace's), as Anthropic's; any other tool type is the vendor's own
/// or one Anthropic's models do not know.
fn functions(
    tools: &Value,
    at: &str,
    namespace: Option<&str>,
    out: &mut Vec<Value>,
) -> Result<(), String> {
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        match tool["type"].as_str() {
            Some("function") => {
                let mut translated = json!({
                    "name": super::joined(namespace, tool["name"].as_str().unwrap_or_default()),
                    "input_schema": tool.get("parameters").filter(|p| !p.is_null()).cloned().unwrap_or(json!({"type": "object"})),
                });
                if let Some(description) = tool.get("description").filter(|d| d.is_string()) {
                    translated["description"] = description.clone();
                }
                out.push(translated);
            }
            Some("namespace") if namespace.is_none() => {
                let Some(name) = tool["name"].as_str().filter(|n| !n.is_empty()) else {
                    return Err(format!("{at}[{i}] is a namespace without a name"));
                };
                functions(&tool["tools"], &format!("{at}[{i}].tools"), Some(name), out)?
            }
            other => {
                return Err(format!(
                    "{at}[{i}] is a `{}` tool, which has no counterpart in {TO}; only function tools are translated",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    Ok(())
}

/// Each function tool's namespace (if in one) and name.
fn function_names(tools: &Value) -> Vec<(Option<&str>, &str)> {
    let mut names = Vec::new();
    for tool in tools.as_array().into_iter().flatten() {
        match tool["type"].as_str() {
            Some("function") => names.push((None, tool["name"].as_str().unwrap_or_default())),
            Some("namespace") => {
                for inner in tool["tools"].as_array().into_iter().flatten() {
                    names.push((
                        tool["name"].as_str(),
                        inner["name"].as_str().unwrap_or_default(),
                    ));
                }
            }
            _ => {}
        }
    }
    names
}

fn tool_choice(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(c) if c == "auto" => json!({"type": "auto"}),
        Value::String(c) if c == "required" => json!({"type": "any"}),
        Value::String(c) if c == "none" => json!({"type": "none"}),
        Value::Object(c) if c.get("type").is_some_and(|t| t == "function") => {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let namespace = c.get("namespace").and_then(Value::as_str);
            json!({"type": "tool", "name": super::joined(namespace, name)})
        }
        _ => return Err(untranslatable("tool_choice")),
    })
}

/// Input items as Messages turns: messages by role (system and developer text joins
/// the system prompt), function calls into the assistant turn before them, their
/// outputs as tool results in one user turn. An earlier model's reasoning is dropped:
/// another model cannot read it.
fn input(
    items: &[Value],
    system: &mut Vec<String>,
    messages: &mut Vec<Value>,
) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        let kind = item["type"].as_str().unwrap_or("message");
        match kind {
            "message" => match item["role"].as_str().unwrap_or_default() {
                "system" | "developer" => system.push(texts(i, &item["content"])?),
                "assistant" => {
                    let text = texts(i, &item["content"])?;
                    if !text.is_empty() {
                        push(messages, "assistant", json!({"type": "text", "text": text}));
                    }
                }
                _ => {
                    for block in user_content(i, &item["content"])? {
                        push(messages, "user", block);
                    }
                }
            },
            "function_call" => {
                let arguments = item["arguments"].as_str().unwrap_or_default();
                let input: Value = if arguments.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(arguments).map_err(|_| {
                        format!("input[{i}] is a function call whose arguments are not JSON, which {TO} cannot be sent")
                    })?
                };
                let name = super::joined(
                    item["namespace"].as_str(),
                    item["name"].as_str().unwrap_or_default(),
                );
                push(
                    messages,
                    "assistant",
                    json!({"type": "tool_use", "id": item["call_id"], "name": name, "input": input}),
                );
            }
            "function_call_output" => {
                let content = match &item["output"] {
                    Value::String(text) => Value::String(text.clone()),
                    Value::Array(parts) => Value::Array(
                        parts
                            .iter()
                            .map(|part| user_part(i, part))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => return Err(format!("input[{i}].output cannot be translated")),
                };
                push(
                    messages,
                    "user",
                    json!({"type": "tool_result", "tool_use_id": item["call_id"], "content": content}),
                );
            }
            "reasoning" => {}
            other => {
                return Err(format!(
                    "input[{i}] is a `{other}` item, which has no counterpart in {TO}"
                ));
            }
        }
    }
    Ok(())
}

/// Adds a block to the last turn when it is `role`'s, else opens a turn: Messages
/// wants a turn's tool calls (and their results) in one message, the results before
/// any text.
fn push(messages: &mut Vec<Value>, role: &str, block: Value) {
    if let Some(last) = messages.last_mut()
        && last["role"] == role
        && let Some(content) = last["content"].as_array_mut()
    {
        let at = if block["type"] == "tool_result" {
            content
                .iter()
                .position(|b| b["type"] != "tool_result")
                .unwrap_or(content.len())
        } else {
            content.len()
        };
        content.insert(at, block);
        return;
    }
    messages.push(json!({"role": role, "content": [block]}));
}

/// A message's content as text: a string, or its text parts joined.
fn texts(i: usize, content: &Value) -> Result<String, String> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match part["type"].as_str() {
                    Some("input_text" | "output_text") => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(part["text"].as_str().unwrap_or_default());
                    }
                    other => {
                        return Err(format!(
                            "input[{i}] holds a `{}` part where only text can be translated",
                            other.unwrap_or("?")
                        ));
                    }
                }
            }
            Ok(text)
        }
        _ => Err(format!("input[{i}].content cannot be translated")),
    }
}

fn user_content(i: usize, content: &Value) -> Result<Vec<Value>, String> {
    match content {
        Value::String(text) => Ok(vec![json!({"type": "text", "text": text})]),
        Value::Array(parts) => parts.iter().map(|part| user_part(i, part)).collect(),
        _ => Err(format!("input[{i}].content cannot be translated")),
    }
}

/// A user (or tool output) part as a Messages block: text, or an image by data URL or
/// address. A file kept at the vendor (`file_id`) is not something Moat can send on.
fn user_part(i: usize, part: &Value) -> Result<Value, String> {
    match part["type"].as_str() {
        Some("input_text") => Ok(json!({"type": "text", "text": part["text"]})),
        Some("input_image") if part["file_id"].is_null() => {
            let url = part["image_url"].as_str().unwrap_or_default();
            let source = match url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((media_type, data)) => {
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            Ok(json!({"type": "image", "source": source}))
        }
        other => Err(format!(
            "input[{i}] holds a `{}` part{}, which has no counterpart in {TO}",
            other.unwrap_or("?"),
            if part["file_id"].is_null() {
                ""
            } else {
                " kept at the vendor"
            }
        )),
    }
}
