//! DLP on what a model writes (`[gateway] redact_answers`): secrets and personal data in
//! an answer are redacted before the client sees them, whole answers and streams alike.
//!
//! A whole answer has every string redacted but those that are structure (ids, roles,
//! types, stop reasons); tool-call arguments, which are JSON in a string, are parsed
//! and their strings redacted as values. A stream's text is redacted per choice (or
//! content block) and field with at most [`HOLD_BYTES`] held back, so a value cut
//! across events is still redacted whole; what is held goes out, redacted, before the
//! event that ends its block. Tool-call arguments in a stream are held until the call
//! is complete, then parsed and redacted as JSON and sent as one delta: read as JSON
//! text, a value after an escaped newline (`\nAKIA…`) would not look like a value.

use moat_dlp::{Redactor, StreamRedactor};
use moat_service::gateway::{Gateway, WireFormat};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Streamed answer text held back at most. A value whose prefix is itself a match
/// (a PEM block, whose first lines already are one) is held whole however long.
pub(super) const HOLD_BYTES: usize = 2048;

/// Keys whose strings are structure, never text a model wrote.
const STRUCTURE: &[&str] = &[
    "id",
    "object",
    "model",
    "type",
    "role",
    "finish_reason",
    "stop_reason",
    "stop_sequence",
    "system_fingerprint",
    "service_tier",
    "tool_call_id",
    "tool_use_id",
    "name",
    "signature",
];

/// Redactions by rule id.
pub(super) type Counts = BTreeMap<String, u64>;

fn merge(into: &mut Counts, from: Counts) {
    for (rule, n) in from {
        *into.entry(rule).or_insert(0) += n;
    }
}

/// Redacts every string a model wrote in a whole answer, in place.
pub(super) fn redact_whole(answer: &mut Value, redactor: &mut Redactor<'_>) -> Counts {
    let mut counts = Counts::new();
    walk(answer, None, redactor, &mut counts);
    counts
}

fn walk(value: &mut Value, key: Option<&str>, redactor: &mut Redactor<'_>, counts: &mut Counts) {
    match value {
        Value::String(text) => {
            if key.is_some_and(|k| STRUCTURE.contains(&k)) {
                return;
            }
            if key == Some("arguments") {
                *text = redact_json_text(text, redactor, counts);
                return;
            }
            let redacted = redactor.redact(text);
            if !redacted.counts.is_empty() {
                merge(counts, redacted.counts);
                *text = redacted.text;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, None, redactor, counts);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                walk(item, Some(key), redactor, counts);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// JSON held in a string (tool-call arguments): its strings redacted as values; text
/// that is not JSON is redacted as text.
fn redact_json_text(text: &str, redactor: &mut Redactor<'_>, counts: &mut Counts) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut parsed) => {
            let before: u64 = counts.values().sum();
            walk(&mut parsed, None, redactor, counts);
            if counts.values().sum::<u64>() == before {
                text.to_string()
            } else {
                parsed.to_string()
            }
        }
        Err(_) => {
            let redacted = redactor.redact(text);
            merge(counts, redacted.counts);
            redacted.text
        }
    }
}

/// One stream of text (a choice's or a block's field), redacted as it comes.
struct Text<'d> {
    redactor: StreamRedactor<'d>,
}

/// A tool call's arguments, held until the call is complete.
#[derive(Default)]
struct ToolArguments {
    text: String,
}

/// Where a stream's text goes: the choice (or content block) and the field.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    index: u64,
    field: &'static str,
    /// The tool call's own index within an OpenAI choice.
    tool: Option<u64>,
}

/// A stream's events with the text a model wrote redacted.
pub(super) struct AnswerStream<'d> {
    gateway: &'d Gateway,
    format: WireFormat,
    texts: BTreeMap<Slot, Text<'d>>,
    tools: BTreeMap<Slot, ToolArguments>,
    /// The last OpenAI chunk seen: the envelope (id, model, created) for held text.
    envelope: Option<Value>,
    counts: Counts,
}

/// An event to send: its name (Anthropic's) and its JSON.
pub(super) type Event = (Option<String>, Value);

impl<'d> AnswerStream<'d> {
    pub(super) fn new(gateway: &'d Gateway, format: WireFormat) -> AnswerStream<'d> {
        AnswerStream {
            gateway,
            format,
            texts: BTreeMap::new(),
            tools: BTreeMap::new(),
            envelope: None,
            counts: Counts::new(),
        }
    }

    /// Redactions so far, held text included once released.
    pub(super) fn counts(&self) -> Counts {
        let mut counts = self.counts.clone();
        for text in self.texts.values() {
            merge(&mut counts, text.redactor.counts().clone());
        }
        counts
    }

    /// The events to send for one event of the vendor's: held text released before an
    /// event that ends its block, then the event itself with its text redacted.
    pub(super) fn process(&mut self, name: Option<String>, mut value: Value) -> Vec<Event> {
        let mut out = Vec::new();
        match self.format {
            WireFormat::OpenAi => self.openai(&mut value, &mut out),
            WireFormat::Anthropic => self.anthropic(name.as_deref(), &mut value, &mut out),
        }
        out.push((name, value));
        out
    }

    /// Everything still held, redacted: at the end of the stream.
    pub(super) fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        let slots: Vec<Slot> = self
            .texts
            .keys()
            .chain(self.tools.keys())
            .cloned()
            .collect();
        for slot in slots {
            self.release(&slot, &mut out);
        }
        out
    }

    fn push_text(&mut self, slot: Slot, text: &mut String) {
        let gateway = self.gateway;
        let stream = self.texts.entry(slot).or_insert_with(|| Text {
            redactor: StreamRedactor::with_window(gateway.redactor(), HOLD_BYTES),
        });
        *text = stream.redactor.push(text);
    }

    /// Sends what `slot` holds, redacted, as an event of its own.
    fn release(&mut self, slot: &Slot, out: &mut Vec<Event>) {
        if let Some(mut text) = self.texts.remove(slot) {
            let rest = text.redactor.finish();
            merge(&mut self.counts, text.redactor.counts().clone());
            if !rest.is_empty() {
                out.push(self.text_event(slot, rest));
            }
        }
        if let Some(tool) = self.tools.remove(slot) {
            let mut counts = Counts::new();
            let arguments = {
                let mut redactor = self.gateway.redactor();
                redact_json_text(&tool.text, &mut redactor, &mut counts)
            };
            merge(&mut self.counts, counts);
            if !arguments.is_empty() {
                out.push(self.text_event(slot, arguments));
            }
        }
    }

    fn text_event(&self, slot: &Slot, text: String) -> Event {
        match self.format {
            WireFormat::OpenAi => {
                let delta = match slot.tool {
                    Some(tool) => {
                        json!({"tool_calls": [{"index": tool, "function": {"arguments": text}}]})
                    }
                    None => {
                        let mut delta = Map::new();
                        delta.insert(slot.field.to_string(), Value::String(text));
                        Value::Object(delta)
                    }
                };
                let mut chunk = self
                    .envelope
                    .clone()
                    .unwrap_or_else(|| json!({"object": "chat.completion.chunk"}));
                chunk["choices"] =
                    json!([{"index": slot.index, "delta": delta, "finish_reason": null}]);
                if let Some(fields) = chunk.as_object_mut() {
                    fields.remove("usage");
                }
                (None, chunk)
            }
            WireFormat::Anthropic => {
                let delta = match slot.field {
                    "partial_json" => json!({"type": "input_json_delta", "partial_json": text}),
                    "thinking" => json!({"type": "thinking_delta", "thinking": text}),
                    _ => json!({"type": "text_delta", "text": text}),
                };
                (
                    Some("content_block_delta".to_string()),
                    json!({"type": "content_block_delta", "index": slot.index, "delta": delta}),
                )
            }
        }
    }

    fn openai(&mut self, chunk: &mut Value, out: &mut Vec<Event>) {
        let mut envelope = chunk.clone();
        if let Some(fields) = envelope.as_object_mut() {
            fields.remove("choices");
        }
        self.envelope = Some(envelope);
        let usage = chunk.get("usage").is_some_and(|u| !u.is_null());
        let Some(choices) = chunk["choices"].as_array_mut() else {
            return;
        };
        if choices.is_empty() && usage {
            // The usage chunk comes after every choice has finished.
            out.extend(self.finish());
            return;
        }
        let mut finished = Vec::new();
        for choice in choices.iter_mut() {
            let index = choice["index"].as_u64().unwrap_or(0);
            for field in ["content", "refusal", "reasoning_content"] {
                if let Some(Value::String(text)) = choice["delta"].get_mut(field) {
                    let slot = Slot {
                        index,
                        field,
                        tool: None,
                    };
                    self.push_text(slot, text);
                }
            }
            if let Some(calls) = choice["delta"]["tool_calls"].as_array_mut() {
                for call in calls {
                    let tool = call["index"].as_u64().unwrap_or(0);
                    if let Some(Value::String(arguments)) = call["function"].get_mut("arguments") {
                        let slot = Slot {
                            index,
                            field: "arguments",
                            tool: Some(tool),
                        };
                        self.tools
                            .entry(slot)
                            .or_default()
                            .text
                            .push_str(&std::mem::take(arguments));
                    }
                }
            }
            if !choice["finish_reason"].is_null() {
                finished.push(index);
            }
        }
        for index in finished {
            let slots: Vec<Slot> = self
                .texts
                .keys()
                .chain(self.tools.keys())
                .filter(|s| s.index == index)
                .cloned()
                .collect();
            for slot in slots {
                self.release(&slot, out);
            }
        }
    }

    fn anthropic(&mut self, name: Option<&str>, event: &mut Value, out: &mut Vec<Event>) {
        let kind = event["type"]
            .as_str()
            .or(name)
            .unwrap_or_default()
            .to_string();
        let index = event["index"].as_u64().unwrap_or(0);
        match kind.as_str() {
            "content_block_start" => {
                // A block may start with text of its own (and a tool_use with input).
                let mut counts = Counts::new();
                let mut redactor = self.gateway.redactor();
                walk(
                    &mut event["content_block"],
                    None,
                    &mut redactor,
                    &mut counts,
                );
                merge(&mut self.counts, counts);
            }
            "content_block_delta" => {
                let delta = &mut event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") | Some("thinking_delta") => {
                        let field = if delta["type"] == "text_delta" {
                            "text"
                        } else {
                            "thinking"
                        };
                        if let Some(Value::String(text)) = delta.get_mut(field) {
                            let slot = Slot {
                                index,
                                field,
                                tool: None,
                            };
                            self.push_text(slot, text);
                        }
                    }
                    Some("input_json_delta") => {
                        if let Some(Value::String(json)) = delta.get_mut("partial_json") {
                            let slot = Slot {
                                index,
                                field: "partial_json",
                                tool: None,
                            };
                            self.tools
                                .entry(slot)
                                .or_default()
                                .text
                                .push_str(&std::mem::take(json));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let slots: Vec<Slot> = self
                    .texts
                    .keys()
                    .chain(self.tools.keys())
                    .filter(|s| s.index == index)
                    .cloned()
                    .collect();
                for slot in slots {
                    self.release(&slot, out);
                }
            }
            "message_delta" | "message_stop" => out.extend(self.finish()),
            _ => {}
        }
    }
}
