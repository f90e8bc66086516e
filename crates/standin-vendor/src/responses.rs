//! OpenAI's Responses API: `POST /v1/responses`, whole or as its typed event stream.
//!
//! Shapes follow the API reference: a response object with `output` items (a `message`
//! with `output_text` parts, or a `function_call`), `usage` with `input_tokens` and
//! `output_tokens`; a stream of named events, each with `type` and `sequence_number`:
//! `response.created`, `response.in_progress`, `response.output_item.added`, the content
//! part, `response.output_text.delta` (or `response.function_call_arguments.delta`)
//! pieces, their `.done`, `response.output_item.done`, and `response.completed` carrying
//! the whole response. A response is kept only with `store: true` (the API's default
//! when `store` is absent), and `previous_response_id` must name a kept one, as the API
//! answers otherwise. A body the API would refuse is refused as it would be
//! ([`crate::responses_check`]).

use crate::incoming::Incoming;
use crate::openai::{check_bearer, error};
use crate::recorder::Recorder;
use crate::reply::{Plan, Reply, plan, token_estimate};
use crate::sse::{Ending, SLOW_STREAM_PAUSE, event_stream, named_frame};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A cut-off stream sends its first events, then drops.
const EVENTS_BEFORE_ABORT: usize = 4;

/// `POST /v1/responses`.
pub(crate) async fn create(State(recorder): State<Recorder>, incoming: Incoming) -> Response {
    if let Err(message) = check_bearer(&incoming.headers) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", message);
    }
    respond(recorder, incoming).await
}

/// A response for a request whose credential was checked.
pub(crate) async fn respond(recorder: Recorder, incoming: Incoming) -> Response {
    let request = match incoming.json_object() {
        Ok(request) => request,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", &reason),
    };
    if let Some(refusal) = crate::responses_check::refusal(request) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &refusal);
    }
    if let Some(previous) = request.get("previous_response_id").and_then(Value::as_str)
        && !recorder.is_stored(previous)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!("Previous response with id '{previous}' not found."),
        );
    }
    let streaming = request.get("stream").and_then(Value::as_bool) == Some(true);
    let user_text = last_user_text(request.get("input"));
    let (reply, abort_midstream) = match plan(&user_text, first_tool_name(request), streaming) {
        Plan::Fail => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the stand-in failed this request, as the prompt asked",
            );
        }
        Plan::Answer {
            reply,
            abort_midstream,
        } => (reply, abort_midstream),
    };
    let number = recorder.next_response_number();
    let id = format!("resp_standin_{number}");
    if request.get("store").and_then(Value::as_bool) != Some(false) {
        recorder.store_response(&id);
    }
    let response = Answer {
        id,
        item_id: match reply {
            Reply::Text(_) => format!("msg_standin_{number}"),
            Reply::ToolCall { .. } => format!("fc_standin_{number}"),
        },
        request: request.clone(),
        input_tokens: token_estimate(incoming.raw_body.len()),
        usage: !user_text.contains(crate::MARKER_NO_USAGE),
        misname: user_text.contains(crate::MARKER_MISNAMED_EVENT),
    };
    if !streaming {
        return Json(response.whole(&reply, "completed")).into_response();
    }
    let ending = if abort_midstream {
        Ending::AbortAfter(EVENTS_BEFORE_ABORT)
    } else if user_text.contains(crate::MARKER_SLOW_STREAM) {
        Ending::Paced(SLOW_STREAM_PAUSE)
    } else {
        Ending::Complete
    };
    event_stream(response.events(&reply), ending)
}

/// `tools[0].name` of the first function tool, if any.
fn first_tool_name(request: &Map<String, Value>) -> Option<&str> {
    request
        .get("tools")?
        .as_array()?
        .iter()
        .find(|tool| tool["type"] == "function")?
        .get("name")?
        .as_str()
}

/// The text of the last user message of `input` (a string, or items whose content is a
/// string or `input_text` parts), or of the last tool output when that comes later.
fn last_user_text(input: Option<&Value>) -> String {
    let items = match input {
        Some(Value::String(text)) => return text.clone(),
        Some(Value::Array(items)) => items,
        _ => return String::new(),
    };
    for item in items.iter().rev() {
        if item["type"] == "function_call_output" {
            return item["output"].as_str().unwrap_or_default().to_owned();
        }
        if item["role"] == "user" {
            return match &item["content"] {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter(|part| part["type"] == "input_text")
                    .filter_map(|part| part["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
        }
    }
    String::new()
}

/// What the whole response and every event of one answer share.
struct Answer {
    id: String,
    item_id: String,
    request: Map<String, Value>,
    input_tokens: u64,
    usage: bool,
    /// Name the last event otherwise than its `type`.
    misname: bool,
}

impl Answer {
    fn whole(&self, reply: &Reply, status: &str) -> Value {
        let finished = status == "completed";
        let output = if finished {
            vec![self.item(reply, true)]
        } else {
            Vec::new()
        };
        let field = |name: &str, default: Value| self.request.get(name).cloned().unwrap_or(default);
        let usage = if finished && self.usage {
            let output_tokens = reply.output_tokens();
            json!({
                "input_tokens": self.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.input_tokens + output_tokens,
            })
        } else {
            Value::Null
        };
        json!({
            "id": self.id,
            "object": "response",
            "created_at": 1_765_000_000,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "instructions": field("instructions", Value::Null),
            "max_output_tokens": field("max_output_tokens", Value::Null),
            "model": field("model", json!("standin-model")),
            "output": output,
            "parallel_tool_calls": field("parallel_tool_calls", json!(true)),
            "previous_response_id": field("previous_response_id", Value::Null),
            "store": field("store", json!(true)),
            "temperature": field("temperature", json!(1.0)),
            "text": {"format": {"type": "text"}},
            "tool_choice": field("tool_choice", json!("auto")),
            "tools": field("tools", json!([])),
            "top_p": field("top_p", json!(1.0)),
            "truncation": "disabled",
            "metadata": field("metadata", json!({})),
            "usage": usage,
        })
    }

    /// The output item, finished or as first announced (empty).
    fn item(&self, reply: &Reply, finished: bool) -> Value {
        let status = if finished { "completed" } else { "in_progress" };
        match reply {
            Reply::Text(text) => json!({
                "type": "message",
                "id": self.item_id,
                "status": status,
                "role": "assistant",
                "content": if finished {
                    json!([{"type": "output_text", "text": text, "annotations": [], "logprobs": []}])
                } else {
                    json!([])
                },
            }),
            Reply::ToolCall {
                name, arguments, ..
            } => json!({
                "type": "function_call",
                "id": self.item_id,
                "call_id": "call_standin_1",
                "name": name,
                "arguments": if finished { arguments.as_str() } else { "" },
                "status": status,
            }),
        }
    }

    /// Every event of a streamed answer, `response.completed` last.
    fn events(&self, reply: &Reply) -> Vec<String> {
        let mut events: Vec<Value> = vec![
            json!({"type": "response.created", "response": self.whole(reply, "in_progress")}),
            json!({"type": "response.in_progress", "response": self.whole(reply, "in_progress")}),
            json!({"type": "response.output_item.added", "output_index": 0, "item": self.item(reply, false)}),
        ];
        let at = json!({"item_id": self.item_id, "output_index": 0});
        let with = |kind: &str, fields: Value| {
            let mut event = at.clone();
            event["type"] = json!(kind);
            if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
                event.extend(fields);
            }
            event
        };
        match reply {
            Reply::Text(text) => {
                let part =
                    |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
                events.push(with(
                    "response.content_part.added",
                    json!({"content_index": 0, "part": part("")}),
                ));
                for piece in reply.pieces() {
                    events.push(with(
                        "response.output_text.delta",
                        json!({"content_index": 0, "delta": piece, "logprobs": [], "obfuscation": "x1"}),
                    ));
                }
                events.push(with(
                    "response.output_text.done",
                    json!({"content_index": 0, "text": text, "logprobs": []}),
                ));
                events.push(with(
                    "response.content_part.done",
                    json!({"content_index": 0, "part": part(text)}),
                ));
            }
            Reply::ToolCall { arguments, .. } => {
                for piece in reply.pieces() {
                    events.push(with(
                        "response.function_call_arguments.delta",
                        json!({"delta": piece}),
                    ));
                }
                events.push(with(
                    "response.function_call_arguments.done",
                    json!({"arguments": arguments}),
                ));
            }
        }
        events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": self.item(reply, true)}));
        events.push(
            json!({"type": "response.completed", "response": self.whole(reply, "completed")}),
        );
        events
            .into_iter()
            .enumerate()
            .map(|(sequence, mut event)| {
                event["sequence_number"] = json!(sequence);
                let mut kind = event["type"].as_str().unwrap_or_default().to_owned();
                if self.misname && kind == "response.completed" {
                    kind = "response.in_progress".to_owned();
                }
                named_frame(&kind, &event)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::last_user_text;
    use serde_json::json;

    #[test]
    fn the_last_user_turn_or_tool_output_is_what_is_answered() {
        assert_eq!(last_user_text(Some(&json!("hi"))), "hi");
        let input = json!([
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "x"}, {"type": "input_text", "text": "b"}]},
        ]);
        assert_eq!(last_user_text(Some(&input)), "a\nb");
        let input = json!([{"role": "user", "content": "q"}, {"type": "function_call", "call_id": "c"}, {"type": "function_call_output", "call_id": "c", "output": "42"}]);
        assert_eq!(last_user_text(Some(&input)), "42");
        assert_eq!(last_user_text(None), "");
    }
}
