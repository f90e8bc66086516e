//! Gemini's answer, whole or as `streamGenerateContent` chunks (`alt=sse`), as
//! Anthropic's message and events. A chunk carries parts of the one candidate: text
//! pieces extend a text block, a function call comes whole and is a tool-use block of
//! its own; the chunk with a `finishReason` (and the last usage) ends the message.
//! Thoughts are not passed on.

use super::super::stream::Event;
use serde_json::{Value, json};

/// Gemini's finish reasons as Anthropic's stop reasons; a model that called a function
/// stopped to have it run. An answer that broke (a malformed call, a call of a tool it
/// was not given, an unnamed failure) is an error, not an ending.
fn stop_reason(reason: &str, called: bool) -> Result<&'static str, String> {
    match reason {
        "MAX_TOKENS" => Ok("max_tokens"),
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER" => Ok("refusal"),
        "STOP" | "FINISH_REASON_UNSPECIFIED" if called => Ok("tool_use"),
        "STOP" | "FINISH_REASON_UNSPECIFIED" => Ok("end_turn"),
        other => Err(format!("the model's answer ended with `{other}`")),
    }
}

/// Gemini's usage as Anthropic's: cached input apart, thoughts counted as output.
fn usage(usage: &Value) -> Value {
    let prompt = usage["promptTokenCount"].as_u64().unwrap_or(0);
    let cached = usage["cachedContentTokenCount"].as_u64().unwrap_or(0);
    let output = usage["candidatesTokenCount"].as_u64().unwrap_or(0)
        + usage["thoughtsTokenCount"].as_u64().unwrap_or(0);
    json!({
        "input_tokens": prompt.saturating_sub(cached),
        "cache_read_input_tokens": cached,
        "output_tokens": output,
    })
}

/// A function call's id: Gemini's own when it gives one, else one made from the
/// answer's id and the call's place.
fn call_id(part: &Value, answer_id: &str, n: usize) -> String {
    let mut id = match part["functionCall"]["id"].as_str() {
        Some(id) if !id.is_empty() && !id.contains(super::SIGNATURE) => id.to_string(),
        // Short, of the characters every vendor takes in a call's id (OpenAI takes
        // at most 40): the answer's id's tail and the call's place.
        _ => {
            let tail: String = answer_id
                .chars()
                .rev()
                .filter(char::is_ascii_alphanumeric)
                .take(16)
                .collect();
            format!("toolu_{n}_{}", tail.chars().rev().collect::<String>())
        }
    };
    // With the call's thought signature after it, for Gemini to have back.
    if let Some(signature) = part["thoughtSignature"].as_str().filter(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
    }) {
        id.push_str(super::SIGNATURE);
        id.push_str(signature);
    }
    id
}

fn message_id(answer: &Value, fallback: &str) -> String {
    match answer["responseId"].as_str() {
        Some(id)
            if id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            format!("msg_gemini_{id}")
        }
        _ => fallback.to_string(),
    }
}

/// A `generateContent` answer as a Messages answer from `model`.
pub fn answer(gemini: &Value, model: &str, fallback_id: &str) -> Result<Value, String> {
    if gemini["candidates"].is_null() && gemini["promptFeedback"].is_null() {
        return Err("the answer has neither candidates nor prompt feedback".into());
    }
    let id = message_id(gemini, fallback_id);
    let candidate = &gemini["candidates"][0];
    let mut content = Vec::new();
    let mut called = false;
    for (n, part) in candidate["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if part["thought"] == true {
            continue;
        }
        if let Some(text) = part["text"].as_str() {
            content.push(json!({"type": "text", "text": text}));
        } else if part["functionCall"].is_object() {
            called = true;
            let call = &part["functionCall"];
            content.push(
                json!({"type": "tool_use", "id": call_id(part, &id, n), "name": call["name"],
                "input": if call["args"].is_object() { call["args"].clone() } else { json!({}) }}),
            );
        }
    }
    // A prompt Gemini blocked has no candidate: a refusal with nothing said.
    let reason = candidate["finishReason"].as_str().unwrap_or("SAFETY");
    Ok(json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(reason, called)?, "stop_sequence": null,
        "usage": usage(&gemini["usageMetadata"]),
    }))
}

/// Turns `streamGenerateContent` chunks into Anthropic's events.
pub struct GeminiStream {
    id: String,
    model: String,
    started: bool,
    /// The index of the open text block, if one is open.
    text_open: Option<u64>,
    next_block: u64,
    parts_seen: usize,
    called: bool,
    usage: Value,
    ended: bool,
}

impl GeminiStream {
    /// A translator for an answer from `model`, given `id` unless Gemini names one.
    pub fn new(model: &str, id: &str) -> GeminiStream {
        GeminiStream {
            id: id.to_string(),
            model: model.to_string(),
            started: false,
            text_open: None,
            next_block: 0,
            parts_seen: 0,
            called: false,
            usage: json!({}),
            ended: false,
        }
    }

    fn event(out: &mut Vec<Event>, data: Value) {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        out.push((Some(name), data.to_string()));
    }

    fn close_text(&mut self, out: &mut Vec<Event>) {
        if let Some(index) = self.text_open.take() {
            Self::event(out, json!({"type": "content_block_stop", "index": index}));
        }
    }

    /// Anthropic's events for one chunk (an SSE event's data).
    pub fn push(&mut self, data: &str) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        if self.ended {
            return Ok(out);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|_| "the vendor sent a chunk that is not JSON".to_string())?;
        if chunk["error"].is_object() {
            Self::event(
                &mut out,
                json!({"type": "error", "error": {"type": "api_error",
                "message": chunk["error"]["message"]}}),
            );
            self.ended = true;
            return Ok(out);
        }
        if !self.started {
            self.started = true;
            self.id = message_id(&chunk, &self.id);
            // The prompt's size as soon as Gemini says it: a stream cut off later still
            // counts it.
            let mut start = usage(&chunk["usageMetadata"]);
            start["output_tokens"] = json!(0);
            Self::event(
                &mut out,
                json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null, "usage": start,
                }}),
            );
        }
        if chunk["usageMetadata"].is_object() {
            self.usage = usage(&chunk["usageMetadata"]);
        }
        let candidate = &chunk["candidates"][0];
        for part in candidate["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            self.parts_seen += 1;
            if part["thought"] == true {
                continue;
            }
            if let Some(text) = part["text"].as_str() {
                let index = match self.text_open {
                    Some(index) => index,
                    None => {
                        let index = self.next_block;
                        self.next_block += 1;
                        self.text_open = Some(index);
                        Self::event(
                            &mut out,
                            json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "text", "text": ""}}),
                        );
                        index
                    }
                };
                Self::event(
                    &mut out,
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": text}}),
                );
            } else if part["functionCall"].is_object() {
                self.close_text(&mut out);
                self.called = true;
                let index = self.next_block;
                self.next_block += 1;
                let call = &part["functionCall"];
                let args = if call["args"].is_object() {
                    call["args"].to_string()
                } else {
                    "{}".to_string()
                };
                Self::event(
                    &mut out,
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": call_id(part, &self.id, self.parts_seen), "name": call["name"], "input": {}}}),
                );
                Self::event(
                    &mut out,
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": args}}),
                );
                Self::event(
                    &mut out,
                    json!({"type": "content_block_stop", "index": index}),
                );
            }
        }
        let finished = candidate["finishReason"].as_str().filter(|r| !r.is_empty());
        let blocked = candidate.is_null() && chunk["promptFeedback"]["blockReason"].is_string();
        if let Some(reason) = finished.or(blocked.then_some("SAFETY")) {
            let reason = stop_reason(reason, self.called)?;
            self.close_text(&mut out);
            Self::event(
                &mut out,
                json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": null},
                "usage": self.usage}),
            );
            Self::event(&mut out, json!({"type": "message_stop"}));
            self.ended = true;
        }
        Ok(out)
    }
}
