//! A vendor's event stream in the client's format, event by event: OpenAI chunks as
//! Anthropic's `message_start` … `message_stop` (text and tool-use blocks opened and
//! closed as the chunks change what they carry), Anthropic's events as OpenAI chunks
//! ending with a usage chunk and `[DONE]`. Thinking has no counterpart in OpenAI's
//! chunks and is not passed on.

use super::super::WireFormat;
use super::{finish_reason, stop_reason};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Seconds since the Unix epoch, for OpenAI's `created`.
pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a block of an Anthropic stream being written carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// A tool call, by its OpenAI index.
    Tool(u64),
}

/// Translates one stream, from the vendor's format to the client's.
pub struct ChatMessagesStream {
    from: WireFormat,
    started: bool,
    id: Value,
    model: Value,
    created: u64,
    /// OpenAI → Anthropic: the block being written and its index, the next index, and
    /// each tool call's block.
    open: Option<(u64, Block)>,
    next_block: u64,
    /// Tool calls being written, by their OpenAI index, and their arguments' size.
    calls: std::collections::BTreeMap<u64, HeldCall>,
    held_bytes: usize,
    /// Held more than it may: nothing more is translated.
    failed: bool,
    stop_reason: Option<&'static str>,
    /// Anthropic → OpenAI: each tool-use block's call index, and the next index.
    tool_calls: HashMap<u64, u64>,
    next_call: u64,
    finish: Option<&'static str>,
    input_tokens: u64,
    output_tokens: u64,
}

/// The most tool-call arguments held for one answer; past it the stream fails.
const MAX_HELD_CALLS: usize = 1 << 20;

/// An OpenAI tool call held until its choice finishes.
#[derive(Default)]
struct HeldCall {
    id: String,
    name: String,
    arguments: String,
}

/// An SSE event to send: its name (Anthropic's) and its data.
pub type Event = (Option<String>, String);

impl ChatMessagesStream {
    /// A translator of a stream in `from`'s format to the other's.
    pub fn new(from: WireFormat) -> ChatMessagesStream {
        ChatMessagesStream {
            from,
            started: false,
            id: Value::Null,
            model: Value::Null,
            created: now(),
            open: None,
            next_block: 0,
            calls: Default::default(),
            held_bytes: 0,
            failed: false,
            stop_reason: None,
            tool_calls: HashMap::new(),
            next_call: 0,
            finish: None,
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    /// The client's events for one vendor event (`name`, `data`).
    pub fn push(&mut self, name: Option<&str>, data: &str) -> Vec<Event> {
        if self.failed {
            return Vec::new();
        }
        match self.from {
            WireFormat::OpenAi => self.openai_event(data),
            _ => self.anthropic_event(name, data),
        }
    }

    fn anthropic(out: &mut Vec<Event>, kind: &str, data: Value) {
        out.push((Some(kind.to_string()), data.to_string()));
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((index, _)) = self.open.take() {
            Self::anthropic(
                out,
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open_block(&mut self, out: &mut Vec<Event>, block: Block, content_block: Value) -> u64 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, block));
        Self::anthropic(
            out,
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        );
        index
    }

    fn openai_event(&mut self, data: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if data.trim() == "[DONE]" {
            self.close(&mut out);
            self.send_calls(&mut out);
            Self::anthropic(
                &mut out,
                "message_delta",
                json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                    "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
                }),
            );
            Self::anthropic(&mut out, "message_stop", json!({"type": "message_stop"}));
            return out;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return out;
        };
        if let Some(error) = chunk.get("error") {
            Self::anthropic(
                &mut out,
                "error",
                json!({"type": "error", "error": {"type": "api_error", "message": error["message"]}}),
            );
            return out;
        }
        if !self.started {
            self.started = true;
            Self::anthropic(
                &mut out,
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": chunk["id"], "type": "message", "role": "assistant", "model": chunk["model"],
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                }}),
            );
        }
        if chunk["usage"].is_object() {
            self.input_tokens = chunk["usage"]["prompt_tokens"]
                .as_u64()
                .unwrap_or(self.input_tokens);
            self.output_tokens = chunk["usage"]["completion_tokens"]
                .as_u64()
                .unwrap_or(self.output_tokens);
        }
        let choice = &chunk["choices"][0];
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            let index = match self.open {
                Some((index, Block::Text)) => index,
                _ => self.open_block(&mut out, Block::Text, json!({"type": "text", "text": ""})),
            };
            Self::anthropic(
                &mut out,
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
            );
        }
        // Tool calls are held until the choice finishes, then sent whole, one block
        // each: OpenAI may interleave several calls' arguments, which Anthropic's
        // blocks (one open at a time) cannot.
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let call_index = call["index"].as_u64().unwrap_or(0);
            // Each call held costs something, however small (once, when it begins).
            if !self.calls.contains_key(&call_index) {
                self.held_bytes += 64;
            }
            let held = self.calls.entry(call_index).or_default();
            // An id or name given again replaces the one held: counted once.
            if let Some(id) = call["id"].as_str() {
                self.held_bytes = (self.held_bytes + id.len()).saturating_sub(held.id.len());
                held.id = id.to_string();
            }
            if let Some(name) = call["function"]["name"].as_str() {
                self.held_bytes = (self.held_bytes + name.len()).saturating_sub(held.name.len());
                held.name = name.to_string();
            }
            if let Some(arguments) = call["function"]["arguments"].as_str() {
                held.arguments.push_str(arguments);
                self.held_bytes += arguments.len();
            }
        }
        if self.held_bytes > MAX_HELD_CALLS {
            self.calls.clear();
            self.failed = true;
            Self::anthropic(
                &mut out,
                "error",
                json!({"type": "error", "error": {"type": "api_error", "message": format!("the model's tool calls passed {} MiB, more than the gateway holds to translate them", MAX_HELD_CALLS >> 20)}}),
            );
            return out;
        }
        if let Some(reason) = choice["finish_reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "null")
        {
            self.stop_reason = Some(stop_reason(reason));
            self.close(&mut out);
            self.send_calls(&mut out);
        }
        out
    }

    /// The held tool calls, each a whole block.
    fn send_calls(&mut self, out: &mut Vec<Event>) {
        for (call_index, call) in std::mem::take(&mut self.calls) {
            let index = self.open_block(
                out,
                Block::Tool(call_index),
                json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}),
            );
            if !call.arguments.is_empty() {
                Self::anthropic(
                    out,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": call.arguments}}),
                );
            }
            self.close(out);
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Event {
        (None, json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }).to_string())
    }

    fn anthropic_event(&mut self, name: Option<&str>, data: &str) -> Vec<Event> {
        let mut out = Vec::new();
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return out;
        };
        let kind = event["type"].as_str().or(name).unwrap_or_default();
        match kind {
            "message_start" => {
                let message = &event["message"];
                self.id = message["id"].clone();
                self.model = message["model"].clone();
                let usage = &message["usage"];
                self.input_tokens = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
                    .iter()
                    .filter_map(|k| usage[*k].as_u64())
                    .sum();
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let block = &event["content_block"];
                let index = event["index"].as_u64().unwrap_or(0);
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let call = self.next_call;
                        self.next_call += 1;
                        self.tool_calls.insert(index, call);
                        out.push(self.chunk(json!({"tool_calls": [{"index": call, "id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": ""}}]}), None));
                    }
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"content": text}), None));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = event["index"].as_u64().unwrap_or(0);
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => out.push(self.chunk(json!({"content": delta["text"]}), None)),
                    Some("input_json_delta") => {
                        if let Some(call) = self.tool_calls.get(&index) {
                            out.push(self.chunk(json!({"tool_calls": [{"index": call, "function": {"arguments": delta["partial_json"]}}]}), None));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.finish = Some(finish_reason(reason));
                }
                if let Some(output) = event["usage"]["output_tokens"].as_u64() {
                    self.output_tokens = output;
                }
                let input: u64 = [
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ]
                .iter()
                .filter_map(|k| event["usage"][*k].as_u64())
                .sum();
                self.input_tokens = self.input_tokens.max(input);
            }
            "message_stop" => {
                out.push(self.chunk(json!({}), Some(self.finish.unwrap_or("stop"))));
                out.push((None, json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                    "choices": [],
                    "usage": {"prompt_tokens": self.input_tokens, "completion_tokens": self.output_tokens, "total_tokens": self.input_tokens + self.output_tokens},
                }).to_string()));
                out.push((None, "[DONE]".to_string()));
            }
            "error" => out.push((Some("error".into()), json!({"error": {"message": event["error"]["message"], "type": event["error"]["type"]}}).to_string())),
            // ping, content_block_stop, thinking: nothing for an OpenAI client.
            _ => {}
        }
        out
    }
}
