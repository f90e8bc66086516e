//! Google's Gemini models on Vertex AI (`generateContent`, `streamGenerateContent`).
//! Moat speaks Gemini's format as the last step to such a model, as it speaks Converse
//! to Bedrock: the request, in Messages form (a client's own, or translated), becomes a
//! `generateContent` request; the answer and its stream chunks become Anthropic's, so
//! everything after reads them as from Anthropic. Converting only moves strings
//! (nothing is joined or parsed), so what was redacted stays redacted.

mod answer;

pub use answer::{GeminiStream, answer};

/// Gemini signs a function call with its reasoning (`thoughtSignature`) and wants the
/// signature back with the call in the next turn; a Messages client keeps only the
/// call's id, so the signature travels in it, after this.
const SIGNATURE: &str = "__thought__";

/// Takes Gemini's signatures out of the call ids of a request going to another model
/// (in any wire format): they mean nothing there, and their characters and length are
/// more than other vendors take in an id.
pub fn strip_signatures(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match field {
                    Value::String(id)
                        if matches!(
                            key.as_str(),
                            "id" | "tool_use_id" | "tool_call_id" | "call_id"
                        ) =>
                    {
                        if let Some(at) = id.find(SIGNATURE) {
                            id.truncate(at);
                        }
                    }
                    // A tool call's arguments are the client's own, not ids.
                    Value::Object(_) if key == "input" => {}
                    _ => strip_signatures(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_signatures),
        _ => {}
    }
}

use serde_json::{Map, Value, json};
use std::collections::HashMap;

const TO: &str = "Gemini's generateContent";

fn untranslatable(field: &str) -> String {
    format!(
        "`{field}` has no counterpart in {TO}, which serves this model; remove it or choose another model"
    )
}

/// Whether a Vertex AI model id is one of Google's Gemini models (the others Moat calls
/// on Vertex are Anthropic's).
pub fn serves(model_id: &str) -> bool {
    model_id.starts_with("gemini-")
}

/// A Messages request body as a `generateContent` request body.
pub fn request(body: &Value) -> Result<Value, String> {
    let Value::Object(fields) = body else {
        return Err("the request body must be a JSON object".into());
    };
    let mut out = Map::new();
    let mut generation = Map::new();
    let mut tools: Option<Vec<Value>> = None;
    let mut choice: Option<Value> = None;
    for (field, value) in fields {
        if value.is_null() {
            continue;
        }
        match field.as_str() {
            "model" | "stream" | "metadata" => {}
            "max_tokens" => {
                generation.insert("maxOutputTokens".into(), value.clone());
            }
            "temperature" => {
                generation.insert("temperature".into(), value.clone());
            }
            "top_p" => {
                generation.insert("topP".into(), value.clone());
            }
            "top_k" => {
                generation.insert("topK".into(), value.clone());
            }
            "stop_sequences" => {
                generation.insert("stopSequences".into(), value.clone());
            }
            "system" => {
                out.insert(
                    "systemInstruction".into(),
                    json!({"parts": super::system_parts(value, TO)?}),
                );
            }
            "messages" => {
                out.insert("contents".into(), Value::Array(contents(value)?));
            }
            "tools" => {
                let mut declarations = Vec::new();
                for (name, description, schema) in super::tool_definitions(value, TO)? {
                    let mut declaration = json!({"name": name, "parametersJsonSchema": schema});
                    if let Some(description) = description {
                        declaration["description"] = description;
                    }
                    declarations.push(declaration);
                }
                tools = Some(declarations);
            }
            "tool_choice" => {
                choice = Some(match value["type"].as_str() {
                    Some("auto") => json!({"mode": "AUTO"}),
                    Some("any") => json!({"mode": "ANY"}),
                    Some("none") => json!({"mode": "NONE"}),
                    Some("tool") => json!({"mode": "ANY", "allowedFunctionNames": [value["name"]]}),
                    _ => return Err(untranslatable("tool_choice")),
                });
                // Gemini has no way to ask for one call at a time; a client that asked
                // still reads several calls as several calls.
            }
            other => return Err(untranslatable(other)),
        }
    }
    if !generation.is_empty() {
        out.insert("generationConfig".into(), Value::Object(generation));
    }
    if let Some(declarations) = tools.filter(|t| !t.is_empty()) {
        out.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
        if let Some(choice) = choice {
            out.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": choice}),
            );
        }
    }
    Ok(Value::Object(out))
}

/// The turns as Gemini's `contents` (`user` and `model`). A tool result names its
/// function, not the call: the name is read from the call it answers.
fn contents(messages: &Value) -> Result<Vec<Value>, String> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for (i, message) in messages.as_array().into_iter().flatten().enumerate() {
        let role = match message["role"].as_str() {
            Some("user") => "user",
            Some("assistant") => "model",
            other => {
                return Err(format!("messages[{i}] has role `{}`", other.unwrap_or("?")));
            }
        };
        let blocks = match &message["content"] {
            Value::String(text) => vec![json!({"type": "text", "text": text})],
            Value::Array(blocks) => blocks.clone(),
            _ => return Err(format!("messages[{i}].content cannot be translated")),
        };
        let mut parts = Vec::new();
        for block in &blocks {
            match block["type"].as_str() {
                Some("text") => parts.push(json!({"text": block["text"]})),
                Some("image") => parts.push(image(i, block)?),
                Some("tool_use") => {
                    let name = block["name"].as_str().unwrap_or_default();
                    let id = block["id"].as_str().unwrap_or_default();
                    if !id.is_empty() {
                        names.insert(id.to_string(), name.to_string());
                    }
                    let mut part = json!({"functionCall": {"name": name, "args": block["input"]}});
                    if let Some((_, signature)) = id.split_once(SIGNATURE) {
                        part["thoughtSignature"] = json!(signature);
                    }
                    parts.push(part);
                }
                Some("tool_result") => {
                    let id = block["tool_use_id"].as_str().unwrap_or_default();
                    let Some(name) = names.get(id) else {
                        return Err(format!(
                            "messages[{i}] holds a tool result for call `{id}`, which no earlier turn made; {TO} names a result by its function"
                        ));
                    };
                    // Each text part stays a string of its own: joined, two redacted
                    // pieces could make a value the redactor never saw whole.
                    let output = match &block["content"] {
                        Value::String(text) => Value::String(text.clone()),
                        Value::Null => Value::String(String::new()),
                        Value::Array(parts) => {
                            let mut texts = Vec::new();
                            for part in parts {
                                if part["type"] != "text" {
                                    return Err(format!(
                                        "messages[{i}] holds a tool result with a `{}` block, which {TO} cannot be sent",
                                        part["type"].as_str().unwrap_or("?")
                                    ));
                                }
                                texts.push(part["text"].clone());
                            }
                            match texts.len() {
                                1 => texts.remove(0),
                                _ => Value::Array(texts),
                            }
                        }
                        _ => {
                            return Err(format!(
                                "messages[{i}] holds a tool result that cannot be translated"
                            ));
                        }
                    };
                    let key = if block["is_error"] == true {
                        "error"
                    } else {
                        "output"
                    };
                    parts.push(
                        json!({"functionResponse": {"name": name, "response": {key: output}}}),
                    );
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
        if !parts.is_empty() {
            out.push(json!({"role": role, "parts": parts}));
        }
    }
    Ok(out)
}

/// An image given inline, of a type Gemini reads as an image (an "image" of another
/// type would be a document); an address is not fetched for the model.
fn image(i: usize, block: &Value) -> Result<Value, String> {
    let source = &block["source"];
    match (source["type"].as_str(), source["media_type"].as_str()) {
        (
            Some("base64"),
            Some(media_type @ ("image/png" | "image/jpeg" | "image/gif" | "image/webp")),
        ) => Ok(json!({"inlineData": {"mimeType": media_type, "data": source["data"]}})),
        _ => Err(format!(
            "messages[{i}] holds an image {TO} cannot be sent: only PNG, JPEG, GIF or WebP given inline (base64)"
        )),
    }
}

#[cfg(test)]
mod tests;
