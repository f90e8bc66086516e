//! A Messages event stream as the Responses API's typed events: `response.created`,
//! each content block an output item (added, its deltas, done), and the whole response
//! last as `response.completed` or `response.incomplete`. Anthropic writes one block at
//! a time, so items follow each other as the Responses API numbers them. Thinking is
//! not passed on.

use super::super::stream::{Event, now};
use super::answer::{call_item, message_item, response, usage};
use serde_json::{Value, json};

/// The most text and arguments held to give back whole in `.done` events and the last
/// response; past it the stream fails.
const MAX_HELD: usize = 16 << 20;
/// What an output item costs to hold besides its text, however empty it is.
const ITEM_COST: usize = 4096;

/// The content block being written.
enum Open {
    Text {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: Value,
        name: Value,
        arguments: String,
    },
    /// Thinking: nothing a Responses client is given.
    Skipped,
}

/// Translates one Messages stream into Responses API events.
pub struct ResponsesStream {
    sequence: u64,
    id: Value,
    model: Value,
    created: u64,
    output: Vec<Value>,
    open: Option<Open>,
    /// The Anthropic index of the block being written.
    open_index: Option<u64>,
    held: usize,
    failed: bool,
    stop_reason: Option<String>,
    usage: Value,
    /// The request's tool namespaces, to name calls by.
    namespaces: Vec<String>,
}

impl ResponsesStream {
    /// A translator for a request whose tools have these namespaces.
    pub fn new(namespaces: Vec<String>) -> Self {
        ResponsesStream {
            sequence: 0,
            id: Value::Null,
            model: Value::Null,
            created: now(),
            output: Vec::new(),
            open: None,
            open_index: None,
            held: 0,
            failed: false,
            stop_reason: None,
            usage: json!({}),
            namespaces,
        }
    }
}

impl ResponsesStream {
    fn emit(&mut self, out: &mut Vec<Event>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push((Some(kind.to_string()), data.to_string()));
    }

    fn snapshot(&self, stop_reason: Option<&str>) -> Value {
        response(
            self.id.clone(),
            self.model.clone(),
            self.created,
            self.output.clone(),
            stop_reason,
            usage(&self.usage),
        )
    }

    /// The client's events for one Messages event.
    pub fn push(&mut self, name: Option<&str>, data: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return out;
        };
        let kind = event["type"].as_str().or(name).unwrap_or_default();
        match kind {
            "message_start" => {
                let message = &event["message"];
                self.id = message["id"].clone();
                self.model = message["model"].clone();
                self.usage = message["usage"].clone();
                let response = self.snapshot(None);
                self.emit(&mut out, "response.created", json!({"response": response}));
                self.emit(
                    &mut out,
                    "response.in_progress",
                    json!({"response": response}),
                );
            }
            "content_block_start" => {
                self.close(&mut out);
                self.open_index = event["index"].as_u64();
                let block = &event["content_block"];
                let id = format!(
                    "{}_{}",
                    self.id.as_str().unwrap_or("msg"),
                    event["index"].as_u64().unwrap_or(0)
                );
                let index = self.output.len();
                match block["type"].as_str() {
                    Some("text") => {
                        self.emit(&mut out, "response.output_item.added", json!({
                            "output_index": index,
                            "item": {"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []},
                        }));
                        self.emit(
                            &mut out,
                            "response.content_part.added",
                            json!({
                                "item_id": id, "output_index": index, "content_index": 0,
                                "part": {"type": "output_text", "text": "", "annotations": []},
                            }),
                        );
                        self.open = Some(Open::Text {
                            id,
                            text: String::new(),
                        });
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            self.text(&mut out, text);
                        }
                    }
                    Some("tool_use") => {
                        let mut item = json!({"type": "function_call", "id": id, "call_id": block["id"], "arguments": "", "status": "in_progress"});
                        super::name_call(&mut item, &block["name"], &self.namespaces);
                        self.emit(
                            &mut out,
                            "response.output_item.added",
                            json!({"output_index": index, "item": item}),
                        );
                        self.open = Some(Open::Call {
                            id,
                            call_id: block["id"].clone(),
                            name: block["name"].clone(),
                            arguments: String::new(),
                        });
                    }
                    _ => self.open = Some(Open::Skipped),
                }
            }
            // Anthropic writes one block at a time; a delta or end for another block
            // (or text into a call) is something the Responses API's items cannot carry
            // faithfully, so the stream fails rather than move or drop what it says.
            "content_block_delta" | "content_block_stop"
                if self.open.is_none() || event["index"].as_u64() != self.open_index =>
            {
                self.fail(
                    &mut out,
                    "the vendor wrote to a content block that is not open",
                );
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                let writes_text = delta["type"] == "text_delta";
                let writes_call = delta["type"] == "input_json_delta";
                let open_text = matches!(self.open, Some(Open::Text { .. }));
                let open_call = matches!(self.open, Some(Open::Call { .. }));
                if (writes_text && !open_text) || (writes_call && !open_call) {
                    self.fail(
                        &mut out,
                        "the vendor wrote a delta of another kind than its block",
                    );
                    return out;
                }
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        self.text(&mut out, delta["text"].as_str().unwrap_or_default())
                    }
                    Some("input_json_delta") => {
                        let part = delta["partial_json"].as_str().unwrap_or_default();
                        let index = self.output.len();
                        if let Some(Open::Call { id, arguments, .. }) = self.open.as_mut() {
                            arguments.push_str(part);
                            let id = id.clone();
                            self.held += part.len();
                            self.emit(
                                &mut out,
                                "response.function_call_arguments.delta",
                                json!({
                                    "item_id": id, "output_index": index, "delta": part,
                                }),
                            );
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => self.close(&mut out),
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                if let (Some(usage), Some(latest)) =
                    (self.usage.as_object_mut(), event["usage"].as_object())
                {
                    for (key, value) in latest {
                        if !value.is_null() {
                            usage.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            "message_stop" => {
                self.close(&mut out);
                let reason = self.stop_reason.clone().unwrap_or("end_turn".into());
                let response = self.snapshot(Some(&reason));
                let kind = if response["status"] == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                self.emit(&mut out, kind, json!({"response": response}));
            }
            "error" => {
                self.emit(&mut out, "error", json!({
                    "code": event["error"]["type"], "message": event["error"]["message"], "param": null,
                }));
            }
            // ping, and anything Anthropic adds later: nothing for the client.
            _ => {}
        }
        if self.held > MAX_HELD && !self.failed {
            let why = format!(
                "the answer passed {} MiB, more than the gateway holds to translate it",
                MAX_HELD >> 20
            );
            self.fail(&mut out, &why);
        }
        out
    }

    /// Ends the translation with the Responses API's `error` event.
    fn fail(&mut self, out: &mut Vec<Event>, why: &str) {
        self.failed = true;
        self.open = None;
        self.emit(
            out,
            "error",
            json!({"code": "server_error", "param": null, "message": why}),
        );
    }

    fn text(&mut self, out: &mut Vec<Event>, part: &str) {
        let index = self.output.len();
        if let Some(Open::Text { id, text }) = self.open.as_mut() {
            text.push_str(part);
            let id = id.clone();
            self.held += part.len();
            self.emit(
                out,
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": part, "logprobs": []}),
            );
        }
    }

    /// Ends the block being written: its text or arguments whole, then the item.
    fn close(&mut self, out: &mut Vec<Event>) {
        self.open_index = None;
        let index = self.output.len();
        match self.open.take() {
            Some(Open::Text { id, text }) => {
                self.emit(out, "response.output_text.done", json!({
                    "item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": [],
                }));
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({
                        "item_id": id, "output_index": index, "content_index": 0,
                        "part": {"type": "output_text", "text": text, "annotations": []},
                    }),
                );
                let item = message_item(&id, &text);
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
                self.held += ITEM_COST;
            }
            Some(Open::Call {
                id,
                call_id,
                name,
                arguments,
            }) => {
                // A call without arguments has empty ones: `{}` is what a parser wants.
                let arguments = if arguments.trim().is_empty() {
                    "{}".to_string()
                } else {
                    arguments
                };
                let item = call_item(&id, &call_id, &name, &arguments, &self.namespaces);
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({
                        "item_id": id, "output_index": index, "name": item["name"], "arguments": arguments,
                    }),
                );
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
                self.held += ITEM_COST;
            }
            Some(Open::Skipped) | None => {}
        }
    }
}
