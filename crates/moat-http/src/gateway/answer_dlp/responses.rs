//! The Responses API's typed stream events, redacted: every `*.delta` event's text goes
//! through a stream redactor per output item, part and event type (tool and MCP call
//! arguments held whole until complete); what is held is released, in the shape of the
//! slot's last delta, before the event that ends it (its `*.done`, the item's
//! `response.output_item.done`, or the response's last event). Every other event —
//! `*.done` texts, items, the whole response at the end — is redacted as it stands.
//! Events are numbered again (`sequence_number`) as Moat sends them.

use super::{AnswerStream, Event, Slot};
use serde_json::Value;

/// Delta event types whose text is JSON a model wrote, held until complete.
const HELD: &[(&str, &str)] = &[
    (
        "response.function_call_arguments.delta",
        "function_call_arguments",
    ),
    ("response.mcp_call_arguments.delta", "mcp_call_arguments"),
];

/// Delta event types whose text is streamed through a redactor.
const STREAMED: &[(&str, &str)] = &[
    ("response.output_text.delta", "output_text"),
    ("response.refusal.delta", "refusal"),
    (
        "response.reasoning_summary_text.delta",
        "reasoning_summary_text",
    ),
    ("response.reasoning_text.delta", "reasoning_text"),
    (
        "response.custom_tool_call_input.delta",
        "custom_tool_call_input",
    ),
    (
        "response.code_interpreter_call_code.delta",
        "code_interpreter_call_code",
    ),
    ("response.audio.transcript.delta", "audio_transcript"),
];

/// Where a delta type's text goes, and whether it is held whole; a delta type nobody
/// listed is streamed through a redactor of its own kind.
fn field_of(delta_type: &str) -> (&'static str, bool) {
    if let Some((_, field)) = HELD.iter().find(|(kind, _)| *kind == delta_type) {
        return (field, true);
    }
    match STREAMED.iter().find(|(kind, _)| *kind == delta_type) {
        Some((_, field)) => (field, false),
        None => ("other", false),
    }
}

/// The output item and the part (content or summary index) an event is about.
fn position(event: &Value) -> (u64, u64) {
    let output = event["output_index"].as_u64().unwrap_or(0);
    let part = event["content_index"]
        .as_u64()
        .or_else(|| event["summary_index"].as_u64())
        .unwrap_or(0);
    (output, part)
}

impl AnswerStream<'_> {
    pub(super) fn responses(
        &mut self,
        name: Option<&str>,
        event: &mut Value,
        out: &mut Vec<Event>,
    ) {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .or(name)
            .unwrap_or_default()
            .to_string();
        let (output, part) = position(event);
        if let Some(delta_type) = kind.strip_suffix(".delta")
            && event.get("delta").is_some_and(Value::is_string)
        {
            let (field, held) = field_of(&kind);
            let slot = Slot {
                index: output,
                rank: if held { 3 } else { 1 },
                field,
                tool: Some(part),
            };
            let Some(Value::String(mut text)) =
                event.as_object_mut().and_then(|e| e.remove("delta"))
            else {
                return;
            };
            if let Some(fields) = event.as_object_mut() {
                // OpenAI's padding against length side channels: not the model's.
                fields.remove("obfuscation");
            }
            // The event's other strings as they stand; the template keeps them so.
            self.redact_rest(event);
            let mut template = event.clone();
            template["type"] = Value::String(format!("{delta_type}.delta"));
            self.templates.insert(slot.clone(), template);
            if held {
                self.hold(slot, &mut text);
            } else {
                self.push_text(slot, &mut text);
            }
            if let Some(fields) = event.as_object_mut() {
                fields.insert("delta".into(), Value::String(text));
            }
            return;
        }
        match kind.as_str() {
            "response.output_item.done" => {
                for slot in self.slots(|s| s.index == output) {
                    if let Some(text) = self.release(&slot) {
                        out.push(self.text_event(&slot, text));
                    }
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" | "error" => {
                out.extend(self.release_all());
            }
            done if done.ends_with(".done") => {
                let delta_type = format!("{}.delta", done.trim_end_matches(".done"));
                let (field, _) = field_of(&delta_type);
                for slot in
                    self.slots(|s| s.index == output && s.field == field && s.tool == Some(part))
                {
                    if let Some(text) = self.release(&slot) {
                        out.push(self.text_event(&slot, text));
                    }
                }
            }
            _ => {}
        }
        self.redact_rest(event);
    }

    /// Released text in the shape of its slot's last delta event.
    pub(super) fn responses_text_event(&self, slot: &Slot, text: String) -> Event {
        let mut event = self
            .templates
            .get(slot)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "response.output_text.delta"}));
        event["delta"] = Value::String(text);
        let name = event["type"].as_str().map(String::from);
        (name, event)
    }

    /// Numbers the Responses API's events in the order Moat sends them.
    pub(super) fn renumber(&mut self, events: &mut [Event]) {
        if self.format != moat_service::gateway::WireFormat::Responses {
            return;
        }
        for (_, event) in events {
            if let Some(fields) = event.as_object_mut() {
                fields.insert("sequence_number".into(), Value::from(self.sequence));
                self.sequence += 1;
            }
        }
    }
}
