//! The Responses API's typed events as Anthropic's `message_start` … `message_stop`:
//! each output text part a text block, each function call a tool-use block (its
//! arguments as `input_json_delta`s), one block open at a time; the finished response's
//! status and usage as `message_delta`. Reasoning is not passed on. Nothing is held
//! but the open block's place: an event that does not fit what is open, or a failed
//! response, ends the stream with Anthropic's `error` event.

use super::super::stream::Event;
use super::answer::{stop_reason, usage};
use serde_json::{Value, json};

/// What the open block carries, by the output item (and content part) it came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text { item: u64, part: u64 },
    Call { item: u64, written: bool },
}

/// Translates one Responses API stream into Messages events.
pub struct MessagesFromResponses {
    started: bool,
    open: Option<(u64, Open)>,
    next_block: u64,
    refused: bool,
    calls: bool,
    finished: bool,
    failed: bool,
}

impl Default for MessagesFromResponses {
    fn default() -> Self {
        MessagesFromResponses::new()
    }
}

impl MessagesFromResponses {
    pub fn new() -> MessagesFromResponses {
        MessagesFromResponses {
            started: false,
            open: None,
            next_block: 0,
            refused: false,
            calls: false,
            finished: false,
            failed: false,
        }
    }

    /// The Messages events for one Responses API event (its `data`; the name repeats
    /// its `type`).
    pub fn push(&mut self, data: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if self.failed || self.finished {
            return out;
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            self.fail(
                &mut out,
                "the model's stream sent an event that is not JSON",
            );
            return out;
        };
        let kind = event["type"].as_str().unwrap_or_default();
        if !self.started && kind != "error" {
            self.start(&mut out, &event["response"]);
        }
        let item = event["output_index"].as_u64().unwrap_or(0);
        let part = event["content_index"].as_u64().unwrap_or(0);
        match kind {
            "response.output_item.added" if event["item"]["type"] == "function_call" => {
                let call = &event["item"];
                self.calls = true;
                self.open_block(
                    &mut out,
                    Open::Call { item, written: false },
                    json!({"type": "tool_use", "id": call["call_id"], "name": call["name"], "input": {}}),
                );
            }
            "response.output_item.added" => match event["item"]["type"].as_str() {
                Some("message" | "reasoning") => {}
                other => self.fail(
                    &mut out,
                    &format!(
                        "the model answered with a `{}` output item, which has no counterpart in a Messages answer",
                        other.unwrap_or("?")
                    ),
                ),
            },
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta"
                if !event["delta"].is_string() =>
            {
                self.fail(&mut out, "the model's stream sent a delta that is not text");
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if kind == "response.refusal.delta" {
                    self.refused = true;
                }
                if self.open.map(|(_, open)| open) != Some(Open::Text { item, part }) {
                    self.open_block(&mut out, Open::Text { item, part }, json!({"type": "text", "text": ""}));
                }
                self.delta(&mut out, json!({"type": "text_delta", "text": event["delta"]}));
            }
            "response.function_call_arguments.delta" => {
                let Some((index, Open::Call { item: open, .. })) = self.open else {
                    return self.fail_with(out, "the model's stream sent call arguments outside a call");
                };
                if open != item {
                    return self.fail_with(out, "the model's stream sent arguments for a call that is not open");
                }
                self.open = Some((index, Open::Call { item, written: true }));
                self.delta(&mut out, json!({"type": "input_json_delta", "partial_json": event["delta"]}));
            }
            "response.output_item.done" => {
                // A call whose arguments came only whole: sent as one piece.
                if let Some((index, Open::Call { item: open, written: false })) = self.open
                    && open == item
                {
                    let arguments = event["item"]["arguments"].as_str().unwrap_or_default();
                    if !arguments.is_empty() {
                        self.open = Some((index, Open::Call { item, written: true }));
                        self.delta(&mut out, json!({"type": "input_json_delta", "partial_json": arguments}));
                    }
                }
                let ends_open = match self.open {
                    Some((_, Open::Text { item: open, .. } | Open::Call { item: open, .. })) => open == item,
                    None => false,
                };
                if ends_open {
                    self.close(&mut out);
                } else if event["item"]["type"] == "function_call" {
                    // A call finished that is not the one open: its arguments would be
                    // lost, and the client would run the tool without them.
                    return self.fail_with(out, "the model's stream finished a call that is not the one open");
                }
            }
            "response.completed" | "response.incomplete" => {
                self.close(&mut out);
                let response = &event["response"];
                out.push(anthropic("message_delta", json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason(response, self.refused, self.calls), "stop_sequence": null},
                    "usage": usage(&response["usage"]),
                })));
                out.push(anthropic("message_stop", json!({"type": "message_stop"})));
                self.finished = true;
            }
            "response.failed" => {
                let why = event["response"]["error"]["message"].as_str().unwrap_or("no reason given");
                self.fail(&mut out, &format!("the model failed: {why}"));
            }
            "error" => {
                let why = event["message"].as_str().or(event["error"]["message"].as_str()).unwrap_or("no reason given");
                self.fail(&mut out, &format!("the model failed: {why}"));
            }
            // Created, in progress, parts added and done, text done, reasoning and its
            // summaries, annotations: nothing a Messages client is sent.
            _ => {}
        }
        out
    }

    fn start(&mut self, out: &mut Vec<Event>, response: &Value) {
        self.started = true;
        out.push(anthropic("message_start", json!({
            "type": "message_start",
            "message": {
                "id": response["id"], "type": "message", "role": "assistant", "model": response["model"],
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            },
        })));
    }

    fn open_block(&mut self, out: &mut Vec<Event>, open: Open, block: Value) {
        // A call left without its arguments would reach the client as a call with none.
        if let Some((_, Open::Call { written: false, .. })) = self.open {
            self.fail(
                out,
                "the model's stream began another part before a call's arguments",
            );
            return;
        }
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, open));
        out.push(anthropic(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
    }

    fn delta(&mut self, out: &mut Vec<Event>, delta: Value) {
        if self.failed {
            return;
        }
        if let Some((index, _)) = self.open {
            out.push(anthropic(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((index, _)) = self.open.take() {
            out.push(anthropic(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn fail(&mut self, out: &mut Vec<Event>, why: &str) {
        self.failed = true;
        out.push(anthropic(
            "error",
            json!({"type": "error", "error": {"type": "api_error", "message": why}}),
        ));
    }

    fn fail_with(&mut self, mut out: Vec<Event>, why: &str) -> Vec<Event> {
        self.fail(&mut out, why);
        out
    }
}

fn anthropic(kind: &str, data: Value) -> Event {
    (Some(kind.to_string()), data.to_string())
}
