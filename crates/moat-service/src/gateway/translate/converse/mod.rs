//! Amazon Bedrock's Converse API, which serves every model on Bedrock (Meta's, Mistral's,
//! Amazon's, Cohere's, and Anthropic's too) in one shape. Moat speaks it as the last
//! step to a Bedrock model that is not Anthropic's: the request, already in Messages
//! form (a client's own, or translated), becomes a Converse request; the answer and
//! the ConverseStream events become Anthropic's, so everything after (answer redaction,
//! restoring, translation to the client, the record) reads them as from Anthropic.
//! Converting only moves strings from one field to another (nothing is joined or
//! parsed), so what was redacted stays redacted.

mod answer;

pub use answer::{ConverseStream, answer};

use serde_json::{Map, Value, json};

const TO: &str = "Amazon Bedrock's Converse API";

fn untranslatable(field: &str) -> String {
    format!(
        "`{field}` has no counterpart in {TO}, which serves this model; remove it or choose another model"
    )
}

/// Whether a Bedrock model id is served through Converse: every model but Anthropic's
/// (whose ids, and inference profiles' ids, name `anthropic.`), which take their own
/// Messages body through InvokeModel.
pub fn serves(model_id: &str) -> bool {
    !model_id.contains("anthropic.")
}

/// A Messages request body (without `model`) as a Converse request body.
pub fn request(body: &Value) -> Result<Value, String> {
    let Value::Object(fields) = body else {
        return Err("the request body must be a JSON object".into());
    };
    let mut out = Map::new();
    let mut inference = Map::new();
    let mut tools: Option<Vec<Value>> = None;
    let mut choice: Option<Value> = None;
    for (field, value) in fields {
        if value.is_null() {
            continue;
        }
        match field.as_str() {
            "model" | "stream" | "metadata" => {}
            "max_tokens" => {
                inference.insert("maxTokens".into(), value.clone());
            }
            "temperature" => {
                inference.insert("temperature".into(), value.clone());
            }
            "top_p" => {
                inference.insert("topP".into(), value.clone());
            }
            "stop_sequences" => {
                inference.insert("stopSequences".into(), value.clone());
            }
            "system" => {
                out.insert(
                    "system".into(),
                    Value::Array(super::system_parts(value, TO)?),
                );
            }
            "messages" => {
                let mut messages: Vec<Value> = Vec::new();
                for (i, message) in value.as_array().into_iter().flatten().enumerate() {
                    let role = message["role"].as_str().unwrap_or_default();
                    if role != "user" && role != "assistant" {
                        return Err(format!("messages[{i}] has role `{role}`"));
                    }
                    let content = content(i, &message["content"])?;
                    if content.is_empty() {
                        continue;
                    }
                    // Converse wants turns to alternate: one role's turns in a row (or
                    // around a turn that held only thinking) are one turn.
                    match messages.last_mut() {
                        Some(last) if last["role"] == role => {
                            if let Some(blocks) = last["content"].as_array_mut() {
                                blocks.extend(content);
                                // Tool results first in a user turn, as Converse wants.
                                blocks.sort_by_key(|b| b.get("toolResult").is_none());
                            }
                        }
                        _ => messages.push(json!({"role": role, "content": content})),
                    }
                }
                out.insert("messages".into(), Value::Array(messages));
            }
            "tools" => {
                let mut specs = Vec::new();
                for (name, description, schema) in super::tool_definitions(value, TO)? {
                    let mut spec = json!({"name": name, "inputSchema": {"json": schema}});
                    if let Some(description) = description {
                        spec["description"] = description;
                    }
                    specs.push(json!({"toolSpec": spec}));
                }
                tools = Some(specs);
            }
            "tool_choice" => {
                choice = match value["type"].as_str() {
                    Some("auto") => Some(json!({"auto": {}})),
                    Some("any") => Some(json!({"any": {}})),
                    Some("tool") => Some(json!({"tool": {"name": value["name"]}})),
                    Some("none") => return Err(untranslatable("tool_choice: none")),
                    _ => return Err(untranslatable("tool_choice")),
                };
                // Converse has no way to ask for one call at a time; a client that asked
                // still reads several calls as several calls.
            }
            other => return Err(untranslatable(other)),
        }
    }
    if !inference.is_empty() {
        out.insert("inferenceConfig".into(), Value::Object(inference));
    }
    match tools.filter(|t| !t.is_empty()) {
        Some(tools) => {
            let mut config = json!({"tools": tools});
            if let Some(choice) = choice {
                config["toolChoice"] = choice;
            }
            out.insert("toolConfig".into(), config);
        }
        // Converse takes tool calls and results in the turns only with the tools named.
        None if out
            .get("messages")
            .and_then(Value::as_array)
            .is_some_and(|turns| {
                turns.iter().any(|turn| {
                    turn["content"].as_array().is_some_and(|blocks| {
                        blocks
                            .iter()
                            .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some())
                    })
                })
            }) =>
        {
            return Err(format!(
                "the turns hold tool calls or results but the request names no `tools`, which {TO} needs; send the tools"
            ));
        }
        None => {}
    }
    Ok(Value::Object(out))
}

/// A message's content as Converse's blocks. An earlier model's thinking is dropped:
/// another model cannot read it.
fn content(i: usize, content: &Value) -> Result<Vec<Value>, String> {
    let blocks = match content {
        Value::String(text) => return Ok(vec![json!({"text": text})]),
        Value::Array(blocks) => blocks,
        _ => return Err(format!("messages[{i}].content cannot be translated")),
    };
    let mut out = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => out.push(json!({"text": block["text"]})),
            Some("image") => out.push(image(i, block)?),
            Some("tool_use") => out.push(json!({"toolUse": {
                "toolUseId": block["id"], "name": block["name"], "input": block["input"],
            }})),
            Some("tool_result") => {
                let content = match &block["content"] {
                    Value::String(text) => vec![json!({"text": text})],
                    Value::Null => Vec::new(),
                    Value::Array(parts) => parts
                        .iter()
                        .map(|part| match part["type"].as_str() {
                            Some("text") => Ok(json!({"text": part["text"]})),
                            Some("image") => image(i, part),
                            other => Err(format!(
                                "messages[{i}] holds a tool result with a `{}` block, which {TO} cannot be sent",
                                other.unwrap_or("?")
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(format!("messages[{i}] holds a tool result that cannot be translated")),
                };
                let status = if block["is_error"] == true {
                    "error"
                } else {
                    "success"
                };
                out.push(json!({"toolResult": {
                    "toolUseId": block["tool_use_id"], "content": content, "status": status,
                }}));
            }
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(format!(
                    "messages[{i}] holds a `{}` block, which {TO} cannot be sent",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    Ok(out)
}

/// An image given inline, in one of the formats Converse takes; an address is not
/// fetched for the model.
fn image(i: usize, block: &Value) -> Result<Value, String> {
    let source = &block["source"];
    let format = match (source["type"].as_str(), source["media_type"].as_str()) {
        (Some("base64"), Some("image/png")) => "png",
        (Some("base64"), Some("image/jpeg")) => "jpeg",
        (Some("base64"), Some("image/gif")) => "gif",
        (Some("base64"), Some("image/webp")) => "webp",
        _ => {
            return Err(format!(
                "messages[{i}] holds an image {TO} cannot be sent: only PNG, JPEG, GIF or WebP given inline (base64)"
            ));
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": source["data"]}}}))
}

#[cfg(test)]
mod tests;
