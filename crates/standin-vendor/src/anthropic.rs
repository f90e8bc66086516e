//! Anthropic's wire format: messages (whole and streamed), token counting, errors.
//!
//! Shapes follow the Anthropic API reference for `POST /v1/messages` and
//! `POST /v1/messages/count_tokens`. A streamed answer is the documented event sequence:
//! `message_start`, `content_block_start`, `ping`, `content_block_delta` pieces,
//! `content_block_stop`, `message_delta`, `message_stop`, each as `event:` plus `data:`.

use crate::incoming::{Incoming, bearer_key};
use crate::recorder::Recorder;
use crate::reply::{Plan, Reply, last_user_text, plan, token_estimate};
use crate::sse::{Ending, SLOW_STREAM_PAUSE, event_stream, named_frame};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The model named when a request names none.
const MODEL_ID: &str = "standin-model";
/// The id of the single tool use the stand-in makes.
const TOOL_USE_ID: &str = "toolu_standin_1";
/// A cut-off stream sends `message_start`, `content_block_start`, `ping` and the first
/// delta, then drops.
const FRAMES_BEFORE_ABORT: usize = 4;

/// `POST /v1/messages`.
pub(crate) async fn create_message(
    State(recorder): State<Recorder>,
    incoming: Incoming,
) -> Response {
    if let Err(message) = check_api_key(&incoming.headers) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", message);
    }
    let request = match incoming.json_object() {
        Ok(request) => request,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", &reason),
    };
    let streaming = request.get("stream").and_then(Value::as_bool) == Some(true);
    let user_text = last_user_text(request.get("messages"));
    let slow = user_text.contains(crate::MARKER_SLOW_STREAM);
    if user_text.contains(crate::MARKER_SLOW_ANSWER) {
        tokio::time::sleep(crate::SLOW_ANSWER_PAUSE).await;
    }
    let (reply, abort_midstream) = match plan(&user_text, first_tool_name(request), streaming) {
        Plan::Fail => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "the stand-in failed this request, as the prompt asked",
            );
        }
        Plan::Answer {
            reply,
            abort_midstream,
        } => (reply, abort_midstream),
    };
    let message = Message {
        id: format!("msg_standin_{}", recorder.next_response_number()),
        model: request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(MODEL_ID)
            .to_owned(),
        input_tokens: token_estimate(incoming.raw_body.len()),
    };
    if streaming {
        let ending = if abort_midstream {
            Ending::AbortAfter(FRAMES_BEFORE_ABORT)
        } else if slow {
            Ending::Paced(SLOW_STREAM_PAUSE)
        } else {
            Ending::Complete
        };
        event_stream(message.stream_frames(&reply), ending)
    } else {
        Json(message.whole(&reply)).into_response()
    }
}

/// `POST /v1/messages/count_tokens`.
pub(crate) async fn count_tokens(incoming: Incoming) -> Response {
    if let Err(message) = check_api_key(&incoming.headers) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", message);
    }
    if let Err(reason) = incoming.json_object() {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &reason);
    }
    Json(json!({"input_tokens": token_estimate(incoming.raw_body.len())})).into_response()
}

/// An error in Anthropic's format: `{"type": "error", "error": {"type", "message"}}`.
pub(crate) fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": error_type, "message": message}});
    (status, Json(body)).into_response()
}

/// Accepts a non-empty key with an `anthropic-version`; otherwise says what is missing.
///
/// The key may come as `x-api-key`, as the API reference documents, or as
/// `Authorization: Bearer`, which is how the current Python SDK sends `api_key`.
fn check_api_key(headers: &HeaderMap) -> Result<(), &'static str> {
    let has_api_key = headers
        .get("x-api-key")
        .is_some_and(|key| !key.as_bytes().trim_ascii().is_empty());
    if !has_api_key && bearer_key(headers).is_none() {
        return Err("no API key given; send x-api-key: <key> (any non-empty key works)");
    }
    if !headers.contains_key("anthropic-version") {
        return Err("anthropic-version header is required, for example 2023-06-01");
    }
    Ok(())
}

/// `tools[0].name`, if the request has tools.
pub(crate) fn first_tool_name(request: &Map<String, Value>) -> Option<&str> {
    request
        .get("tools")?
        .as_array()?
        .first()?
        .get("name")?
        .as_str()
}

/// What the whole message and every event of one answer share.
pub(crate) struct Message {
    pub id: String,
    pub model: String,
    pub input_tokens: u64,
}

impl Message {
    /// The `message` object for a non-streamed answer.
    pub(crate) fn whole(&self, reply: &Reply) -> Value {
        let block = match reply {
            Reply::Text(text) => json!({"type": "text", "text": text}),
            Reply::ToolCall { name, input, .. } => {
                json!({"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": input})
            }
        };
        self.envelope(
            json!([block]),
            Value::from(stop_reason(reply)),
            reply.output_tokens(),
        )
    }

    /// Every event of a streamed answer, `message_stop` included.
    pub(crate) fn stream_frames(&self, reply: &Reply) -> Vec<String> {
        let (empty_block, delta_type, delta_field) = match reply {
            Reply::Text(_) => (json!({"type": "text", "text": ""}), "text_delta", "text"),
            Reply::ToolCall { name, .. } => (
                json!({"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}}),
                "input_json_delta",
                "partial_json",
            ),
        };
        let mut frames = vec![
            named_frame(
                "message_start",
                &json!({
                    "type": "message_start",
                    "message": self.envelope(json!([]), Value::Null, 1),
                }),
            ),
            named_frame(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": empty_block}),
            ),
            named_frame("ping", &json!({"type": "ping"})),
        ];
        frames.extend(reply.pieces().into_iter().map(|piece| {
            named_frame(
                "content_block_delta",
                &json!({
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": delta_type, delta_field: piece},
                }),
            )
        }));
        frames.push(named_frame(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        frames.push(named_frame(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
                "usage": {"output_tokens": reply.output_tokens()},
            }),
        ));
        frames.push(named_frame(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        frames
    }

    fn envelope(&self, content: Value, stop_reason: Value, output_tokens: u64) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": output_tokens},
        })
    }
}

fn stop_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "end_turn",
        Reply::ToolCall { .. } => "tool_use",
    }
}
