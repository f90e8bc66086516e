//! DLP on what a model writes (`[gateway] redact_answers`): secrets and personal data in
//! an answer are redacted before the client sees them, whole answers and streams alike.
//!
//! An answer is an envelope (ids, roles, types, stop reasons: structure, left alone)
//! around what the model wrote: every other string is redacted, and JSON the model
//! wrote (tool-call `arguments`, a tool use's `input`) is walked whole — strings, keys
//! and long numbers, as a prompt is. A stream's text is redacted per choice (or content
//! block) and field with at least [`HOLD_BYTES`] held back and never the start of a
//! match not yet released, so a value cut across events is still redacted whole; what
//! is held goes out before (or inside) the event that ends its block. Tool-call
//! arguments are held until the call is complete, then redacted as JSON and sent as one
//! delta: read as JSON text, a value after an escaped newline (`\nAKIA…`) would not look
//! like a value. Every other string of every event is redacted as it stands, so a field
//! this module does not know is not a way around it.

use moat_dlp::{Redactor, StreamRedactor};
use moat_service::gateway::WireFormat;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Streamed answer text held back at least. A value with no part that matches alone
/// and longer than this (a JWT over 4 KiB) may pass in pieces; a value whose beginning
/// already matches (a PEM block) is held whole however long (up to 256 KiB).
pub(super) const HOLD_BYTES: usize = 4096;

/// The longest tool-call arguments held for redaction; past it the stream fails.
const MAX_TOOL_ARGUMENTS: usize = 1 << 20;

/// Envelope keys whose strings are structure, never text a model wrote.
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
    "call_id",
    "item_id",
    "status",
    "encrypted_content",
    "previous_response_id",
];

/// Redactions by rule id.
pub(super) type Counts = BTreeMap<String, u64>;

fn merge(into: &mut Counts, from: Counts) {
    for (rule, n) in from {
        *into.entry(rule).or_insert(0) += n;
    }
}

fn redact_text(text: &mut String, redactor: &mut Redactor<'_>, counts: &mut Counts) {
    let redacted = redactor.redact(text);
    if !redacted.counts.is_empty() {
        merge(counts, redacted.counts);
        *text = redacted.text;
    }
}

/// Redacts every string a model wrote in a whole answer, in place.
pub(super) fn redact_whole(answer: &mut Value, redactor: &mut Redactor<'_>) -> Counts {
    let mut counts = Counts::new();
    walk_envelope(answer, None, redactor, &mut counts);
    counts
}

/// An answer's envelope: strings redacted but those of structure keys; JSON the model
/// wrote walked whole.
fn walk_envelope(
    value: &mut Value,
    key: Option<&str>,
    redactor: &mut Redactor<'_>,
    counts: &mut Counts,
) {
    match value {
        Value::String(text) => match key {
            Some(k) if STRUCTURE.contains(&k) => {}
            Some("arguments") => *text = redact_json_text(text, redactor, counts),
            _ => redact_text(text, redactor, counts),
        },
        Value::Array(items) => {
            for item in items {
                walk_envelope(item, None, redactor, counts);
            }
        }
        Value::Object(fields) => {
            // The answer token by token (and as token ids): pieces too short to be
            // recognised, so not passed on at all.
            fields.retain(|key, _| !TOKEN_BY_TOKEN.contains(&key.as_str()));
            for (key, item) in fields.iter_mut() {
                if (key == "input" || key == "arguments") && (item.is_object() || item.is_array()) {
                    walk_written(item, redactor, counts);
                } else {
                    walk_envelope(item, Some(key), redactor, counts);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Answer fields that show it token by token or as token ids.
const TOKEN_BY_TOKEN: &[&str] = &["logprobs", "token_ids", "prompt_token_ids"];

/// JSON a model wrote: every string and key, and numbers long enough to be a value a
/// rule finds (a card number written as a number is a card number).
fn walk_written(value: &mut Value, redactor: &mut Redactor<'_>, counts: &mut Counts) {
    match value {
        Value::String(text) => redact_text(text, redactor, counts),
        Value::Number(number) => {
            let text = number.to_string();
            if text.len() >= 8 {
                let redacted = redactor.redact(&text);
                if !redacted.counts.is_empty() {
                    merge(counts, redacted.counts);
                    *value = Value::String(redacted.text);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_written(item, redactor, counts);
            }
        }
        Value::Object(fields) => {
            let entries = std::mem::take(fields);
            for (mut key, mut item) in entries {
                redact_text(&mut key, redactor, counts);
                walk_written(&mut item, redactor, counts);
                fields.insert(key, item);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// JSON held in a string (tool-call arguments): its strings, keys and numbers redacted
/// as values; text that is not JSON is redacted as text.
fn redact_json_text(text: &str, redactor: &mut Redactor<'_>, counts: &mut Counts) -> String {
    match serde_json::from_str::<Value>(text) {
        // Always as parsed: with a key given twice the text holds a value the parsed
        // JSON does not, and the client's parser may read either.
        Ok(mut parsed) => {
            walk_written(&mut parsed, redactor, counts);
            parsed.to_string()
        }
        Err(_) => {
            let redacted = redactor.redact(text);
            merge(counts, redacted.counts);
            redacted.text
        }
    }
}

/// Where a stream's text goes: the choice (or content block), its order among the
/// block's fields, the field, and the tool call's own index within an OpenAI choice.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    index: u64,
    rank: u8,
    field: &'static str,
    tool: Option<u64>,
}

impl Slot {
    fn text(index: u64, field: &'static str) -> Slot {
        let rank = match field {
            "reasoning_content" | "reasoning" | "thinking" => 0,
            "content" | "text" => 1,
            _ => 2,
        };
        Slot {
            index,
            rank,
            field,
            tool: None,
        }
    }

    fn held(index: u64, field: &'static str, tool: Option<u64>) -> Slot {
        Slot {
            index,
            rank: 3,
            field,
            tool,
        }
    }
}

/// A stream's events with the text a model wrote redacted.
pub(super) struct AnswerStream<'d> {
    /// A fresh redactor (its own placeholder key) for each piece of the answer.
    redactor: Box<dyn Fn() -> Redactor<'d> + Send + 'd>,
    format: WireFormat,
    texts: BTreeMap<Slot, StreamRedactor<'d>>,
    /// Tool-call arguments (and Anthropic `partial_json`), held whole.
    held: BTreeMap<Slot, String>,
    /// The last OpenAI chunk's envelope (id, model, created) for released text.
    envelope: Map<String, Value>,
    counts: Counts,
    failure: Option<String>,
    /// Responses API: the last delta event of each slot, the shape of released text.
    templates: BTreeMap<Slot, Value>,
    /// Responses API: the number of the next event sent (`sequence_number`).
    sequence: u64,
}

/// An event to send: its name (Anthropic's) and its JSON.
pub(super) type Event = (Option<String>, Value);

impl<'d> AnswerStream<'d> {
    pub(super) fn new(
        redactor: impl Fn() -> Redactor<'d> + Send + 'd,
        format: WireFormat,
    ) -> AnswerStream<'d> {
        AnswerStream {
            redactor: Box::new(redactor),
            format,
            texts: BTreeMap::new(),
            held: BTreeMap::new(),
            envelope: Map::new(),
            counts: Counts::new(),
            failure: None,
            templates: BTreeMap::new(),
            sequence: 0,
        }
    }

    /// Redactions so far.
    pub(super) fn counts(&self) -> Counts {
        let mut counts = self.counts.clone();
        for stream in self.texts.values() {
            merge(&mut counts, stream.counts().clone());
        }
        counts
    }

    /// Why the stream cannot go on, once it cannot. What it held of tool calls is
    /// dropped then: nothing of a call that failed is sent.
    pub(super) fn failure(&mut self) -> Option<String> {
        if self.failure.is_some() {
            self.held.clear();
        }
        self.failure.clone()
    }

    /// The events to send for one event of the vendor's: held text released before an
    /// event that ends its block (or inside it), then the event itself redacted. An
    /// event that is not a JSON object cannot be read and is not sent.
    pub(super) fn process(&mut self, name: Option<String>, mut value: Value) -> Vec<Event> {
        if !value.is_object() {
            return Vec::new();
        }
        let mut out = Vec::new();
        match self.format {
            WireFormat::OpenAi => self.openai(&mut value, &mut out),
            WireFormat::Anthropic => self.anthropic(name.as_deref(), &mut value, &mut out),
            WireFormat::Responses => self.responses(name.as_deref(), &mut value, &mut out),
        }
        out.push((name, value));
        self.renumber(&mut out);
        out
    }

    /// Everything still held, redacted: at the end of the stream.
    pub(super) fn finish(&mut self) -> Vec<Event> {
        let mut out = self.release_all();
        self.renumber(&mut out);
        out
    }

    fn release_all(&mut self) -> Vec<Event> {
        let slots: Vec<Slot> = self.slots(|_| true);
        let mut out = Vec::new();
        for slot in slots {
            if let Some(text) = self.release(&slot) {
                out.push(self.text_event(&slot, text));
            }
        }
        out
    }

    fn slots(&self, keep: impl Fn(&Slot) -> bool) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self
            .texts
            .keys()
            .chain(self.held.keys())
            .filter(|s| keep(s))
            .cloned()
            .collect();
        slots.sort();
        slots
    }

    fn push_text(&mut self, slot: Slot, text: &mut String) {
        let redactor = &self.redactor;
        let stream = self
            .texts
            .entry(slot)
            .or_insert_with(|| StreamRedactor::with_window(redactor(), HOLD_BYTES));
        *text = stream.push(text);
    }

    fn hold(&mut self, slot: Slot, piece: &mut String) {
        let held = self.held.entry(slot).or_default();
        held.push_str(&std::mem::take(piece));
        if held.len() > MAX_TOOL_ARGUMENTS {
            self.failure = Some(format!(
                "a tool call's arguments passed {} MiB, more than the gateway holds to redact them",
                MAX_TOOL_ARGUMENTS >> 20
            ));
        }
    }

    /// What `slot` still holds, redacted; `None` when nothing.
    fn release(&mut self, slot: &Slot) -> Option<String> {
        let mut text = String::new();
        if let Some(mut stream) = self.texts.remove(slot) {
            text = stream.finish();
            merge(&mut self.counts, stream.counts().clone());
        }
        if let Some(held) = self.held.remove(slot) {
            let mut redactor = (self.redactor)();
            text = redact_json_text(&held, &mut redactor, &mut self.counts);
        }
        (!text.is_empty()).then_some(text)
    }

    /// Every string of an event not handled as stream text, redacted as it stands.
    fn redact_rest(&mut self, value: &mut Value) {
        let mut redactor = (self.redactor)();
        walk_envelope(value, None, &mut redactor, &mut self.counts);
    }

    fn text_event(&self, slot: &Slot, text: String) -> Event {
        match self.format {
            WireFormat::Responses => self.responses_text_event(slot, text),
            WireFormat::OpenAi => {
                let delta = match (slot.field, slot.tool) {
                    ("arguments", Some(tool)) => {
                        json!({"tool_calls": [{"index": tool, "function": {"arguments": text}}]})
                    }
                    ("function_call", _) => json!({"function_call": {"arguments": text}}),
                    (field, _) => {
                        let mut delta = Map::new();
                        delta.insert(field.to_string(), Value::String(text));
                        Value::Object(delta)
                    }
                };
                let mut chunk = self.envelope.clone();
                chunk
                    .entry("object")
                    .or_insert_with(|| json!("chat.completion.chunk"));
                chunk.insert(
                    "choices".into(),
                    json!([{"index": slot.index, "delta": delta, "finish_reason": null}]),
                );
                (None, Value::Object(chunk))
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
        let Some(fields) = chunk.as_object_mut() else {
            return;
        };
        let usage = fields.get("usage").is_some_and(|u| !u.is_null());
        let choices = fields.remove("choices");
        // The envelope's own strings (ids, the model) are structure; anything else in
        // it is redacted as it stands. Released text goes out in the envelope's
        // identifying fields only.
        self.redact_rest(chunk);
        if let Some(fields) = chunk.as_object() {
            self.envelope = fields
                .iter()
                .filter(|(k, _)| {
                    matches!(
                        k.as_str(),
                        "id" | "object" | "created" | "model" | "system_fingerprint"
                    )
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        let mut choices = match choices {
            Some(Value::Array(choices)) => choices,
            Some(other) => {
                let mut other = other;
                self.redact_rest(&mut other);
                if let Some(fields) = chunk.as_object_mut() {
                    fields.insert("choices".into(), other);
                }
                return;
            }
            None => return,
        };
        if choices.is_empty() && usage {
            // The usage chunk comes after every choice has finished.
            out.extend(self.finish());
        }
        for (position, choice) in choices.iter_mut().enumerate() {
            self.openai_choice(position, choice, out);
        }
        if let Some(fields) = chunk.as_object_mut() {
            fields.insert("choices".into(), Value::Array(choices));
        }
    }

    fn openai_choice(&mut self, position: usize, value: &mut Value, out: &mut Vec<Event>) {
        let Some(choice) = value.as_object_mut() else {
            self.redact_rest(value);
            return;
        };
        let index = choice
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        // Some servers send `""` or `"null"` on every chunk: only a reason ends a choice.
        let finishing = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty() && r != "null");
        let mut streamed: Vec<&'static str> = Vec::new();
        if let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) {
            for field in ["reasoning_content", "reasoning", "content", "refusal"] {
                if let Some(Value::String(text)) = delta.get_mut(field) {
                    self.push_text(Slot::text(index, field), text);
                    streamed.push(field);
                }
            }
            if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                for (i, call) in calls.iter_mut().enumerate() {
                    let Some(call) = call.as_object_mut() else {
                        continue;
                    };
                    let tool = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(i as u64);
                    if let Some(Value::String(arguments)) = call
                        .get_mut("function")
                        .and_then(Value::as_object_mut)
                        .and_then(|f| f.get_mut("arguments"))
                    {
                        self.hold(Slot::held(index, "arguments", Some(tool)), arguments);
                    }
                }
            }
            if let Some(Value::String(arguments)) = delta
                .get_mut("function_call")
                .and_then(Value::as_object_mut)
                .and_then(|f| f.get_mut("arguments"))
            {
                self.hold(Slot::held(index, "function_call", None), arguments);
            }
        }
        if finishing {
            for slot in self.slots(|s| s.index == index) {
                let Some(text) = self.release(&slot) else {
                    continue;
                };
                // Into this chunk where it has the field (after what it carries, which
                // came before), else as an event of its own ahead of it.
                let placed = choice
                    .get_mut("delta")
                    .and_then(Value::as_object_mut)
                    .and_then(|delta| place(delta, &slot, &text));
                if placed.is_none() {
                    out.push(self.text_event(&slot, text));
                }
            }
        }
        // Everything else the choice carries, redacted as it stands.
        let mut redactor = (self.redactor)();
        choice.retain(|key, _| !TOKEN_BY_TOKEN.contains(&key.as_str()));
        for (key, item) in choice.iter_mut() {
            if key == "delta" {
                match item.as_object_mut() {
                    Some(delta) => {
                        delta.retain(|key, _| !TOKEN_BY_TOKEN.contains(&key.as_str()));
                        for (field, value) in delta.iter_mut() {
                            // Text already streamed above; anything else (text as an
                            // array of parts, fields nobody listed) as it stands.
                            if !streamed.contains(&field.as_str()) {
                                walk_envelope(value, Some(field), &mut redactor, &mut self.counts);
                            }
                        }
                    }
                    None => walk_envelope(item, None, &mut redactor, &mut self.counts),
                }
            } else {
                walk_envelope(item, Some(key), &mut redactor, &mut self.counts);
            }
        }
    }

    fn anthropic(&mut self, name: Option<&str>, event: &mut Value, out: &mut Vec<Event>) {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .or(name)
            .unwrap_or_default()
            .to_string();
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind.as_str() {
            "content_block_delta" => {
                let Some(delta) = event.get_mut("delta").and_then(Value::as_object_mut) else {
                    self.redact_rest(event);
                    return;
                };
                let field = match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => Some("text"),
                    Some("thinking_delta") => Some("thinking"),
                    Some("input_json_delta") => Some("partial_json"),
                    _ => None,
                };
                match (field, field.and_then(|f| delta.get_mut(f))) {
                    (Some("partial_json"), Some(Value::String(json))) => {
                        self.hold(Slot::held(index, "partial_json", None), json);
                    }
                    (Some(field), Some(Value::String(text))) => {
                        self.push_text(Slot::text(index, field), text);
                    }
                    _ => self.redact_rest(event),
                }
            }
            "content_block_stop" => {
                for slot in self.slots(|s| s.index == index) {
                    if let Some(text) = self.release(&slot) {
                        out.push(self.text_event(&slot, text));
                    }
                }
            }
            "message_delta" | "message_stop" => {
                out.extend(self.finish());
                self.redact_rest(event);
            }
            // content_block_start (a block's own text, a tool use's input), message_start,
            // ping, error and whatever comes later: redacted as they stand.
            _ => self.redact_rest(event),
        }
    }
}

/// Puts released text into a finishing chunk's own delta when it has the slot's field.
fn place(delta: &mut Map<String, Value>, slot: &Slot, text: &str) -> Option<()> {
    match (slot.field, slot.tool) {
        ("arguments", Some(tool)) => {
            let call = delta
                .get_mut("tool_calls")?
                .as_array_mut()?
                .iter_mut()
                .find(|c| c.get("index").and_then(Value::as_u64) == Some(tool))?;
            let function = call.get_mut("function")?.as_object_mut()?;
            function.insert("arguments".into(), Value::String(text.to_string()));
            Some(())
        }
        ("function_call", _) => {
            let function = delta.get_mut("function_call")?.as_object_mut()?;
            function.insert("arguments".into(), Value::String(text.to_string()));
            Some(())
        }
        (field, _) => match delta.get_mut(field)? {
            Value::String(current) => {
                current.push_str(text);
                Some(())
            }
            _ => None,
        },
    }
}

#[path = "answer_dlp/responses.rs"]
mod responses;

#[cfg(test)]
#[path = "answer_dlp_tests.rs"]
mod tests;
