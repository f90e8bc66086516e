//! Converse's answer, whole or as ConverseStream events, as Anthropic's message and
//! events. Converse starts no block for text (its first delta does), and reports usage
//! in a `metadata` event after `messageStop`: the message ends once both have come.

use super::super::stream::Event;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Converse's stop reasons as Anthropic's; a guardrail or filter that stopped the
/// answer is a refusal.
fn stop_reason(reason: &str) -> Result<&'static str, String> {
    match reason {
        "tool_use" => Ok("tool_use"),
        "max_tokens" | "model_context_window_exceeded" => Ok("max_tokens"),
        "stop_sequence" => Ok("stop_sequence"),
        "guardrail_intervened" | "content_filtered" => Ok("refusal"),
        "end_turn" => Ok("end_turn"),
        // A malformed tool call or answer is a failure, not an ending.
        other => Err(format!("the model's answer ended with `{other}`")),
    }
}

fn usage(usage: &Value) -> Value {
    json!({
        "input_tokens": usage["inputTokens"].as_u64().unwrap_or(0),
        "output_tokens": usage["outputTokens"].as_u64().unwrap_or(0),
        "cache_read_input_tokens": usage["cacheReadInputTokens"].as_u64().unwrap_or(0),
        "cache_creation_input_tokens": usage["cacheWriteInputTokens"].as_u64().unwrap_or(0),
    })
}

/// A Converse answer as a Messages answer from `model`, with `id` (Converse gives none).
pub fn answer(converse: &Value, model: &str, id: &str) -> Result<Value, String> {
    let Some(blocks) = converse["output"]["message"]["content"].as_array() else {
        return Err("the answer has no output message".into());
    };
    let mut content = Vec::new();
    for block in blocks {
        if let Some(text) = block["text"].as_str() {
            content.push(json!({"type": "text", "text": text}));
        } else if block["toolUse"].is_object() {
            let call = &block["toolUse"];
            content.push(json!({"type": "tool_use", "id": call["toolUseId"], "name": call["name"], "input": call["input"]}));
        }
        // Reasoning has no place in an answer given to another format's client.
    }
    Ok(json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(converse["stopReason"].as_str().unwrap_or("end_turn"))?,
        "stop_sequence": null, "usage": usage(&converse["usage"]),
    }))
}

/// The most content blocks one answer may have; past it the stream is broken.
const MAX_BLOCKS: usize = 4096;

/// Turns ConverseStream events into Anthropic's, one at a time.
pub struct ConverseStream {
    id: String,
    model: String,
    /// Blocks started and not stopped, by index.
    open: BTreeSet<u64>,
    /// Blocks that will not be passed on (reasoning).
    skipped: BTreeSet<u64>,
    stop_reason: Option<&'static str>,
    usage: Option<Value>,
    ended: bool,
}

impl ConverseStream {
    /// A translator for an answer from `model`, given `id`.
    pub fn new(model: &str, id: &str) -> ConverseStream {
        ConverseStream {
            id: id.to_string(),
            model: model.to_string(),
            open: BTreeSet::new(),
            skipped: BTreeSet::new(),
            stop_reason: None,
            usage: None,
            ended: false,
        }
    }

    fn event(out: &mut Vec<Event>, data: Value) {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        out.push((Some(name), data.to_string()));
    }

    /// Anthropic's events for one Converse event (`kind` is its `:event-type`).
    pub fn push(&mut self, kind: &str, payload: &Value) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        if self.ended {
            return Ok(out);
        }
        let index = payload["contentBlockIndex"].as_u64();
        if self.open.len() + self.skipped.len() > MAX_BLOCKS {
            return Err(format!(
                "the answer has more than {MAX_BLOCKS} content blocks"
            ));
        }
        match kind {
            "messageStart" => Self::event(
                &mut out,
                json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                }}),
            ),
            "contentBlockStart" => {
                let index = index.ok_or("a block started without its index")?;
                let call = &payload["start"]["toolUse"];
                if call.is_object() && self.open.insert(index) {
                    Self::event(
                        &mut out,
                        json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": call["toolUseId"], "name": call["name"], "input": {}}}),
                    );
                } else {
                    self.skipped.insert(index);
                }
            }
            "contentBlockDelta" => {
                let index = index.ok_or("a delta came without its block's index")?;
                let delta = &payload["delta"];
                if let Some(text) = delta["text"].as_str() {
                    if self.skipped.contains(&index) {
                        return Err("text came for a block that is not text".into());
                    }
                    if self.open.insert(index) {
                        Self::event(
                            &mut out,
                            json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "text", "text": ""}}),
                        );
                    }
                    Self::event(
                        &mut out,
                        json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": text}}),
                    );
                } else if let Some(input) = delta["toolUse"]["input"].as_str() {
                    if !self.open.contains(&index) {
                        return Err("a tool's input came for a block that is not a tool use".into());
                    }
                    Self::event(
                        &mut out,
                        json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": input}}),
                    );
                } else {
                    // Reasoning: not passed on, its block neither.
                    self.skipped.insert(index);
                }
            }
            "contentBlockStop" => {
                let index = index.ok_or("a block stopped without its index")?;
                if self.open.remove(&index) {
                    Self::event(
                        &mut out,
                        json!({"type": "content_block_stop", "index": index}),
                    );
                }
            }
            "messageStop" => {
                self.stop_reason = Some(stop_reason(
                    payload["stopReason"].as_str().unwrap_or("end_turn"),
                )?);
                self.end(&mut out);
            }
            "metadata" => {
                self.usage = Some(usage(&payload["usage"]));
                self.end(&mut out);
            }
            // Anything AWS adds later: nothing for the client.
            _ => {}
        }
        Ok(out)
    }

    /// Once the stop reason and the usage have both come: the message's end.
    fn end(&mut self, out: &mut Vec<Event>) {
        let (Some(reason), Some(usage)) = (self.stop_reason, self.usage.as_ref()) else {
            return;
        };
        for index in std::mem::take(&mut self.open) {
            Self::event(out, json!({"type": "content_block_stop", "index": index}));
        }
        Self::event(
            out,
            json!({"type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": usage}),
        );
        Self::event(out, json!({"type": "message_stop"}));
        self.ended = true;
    }
}
