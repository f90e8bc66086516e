//! OpenAI's wire format: chat completions (whole and streamed), the model list, errors.
//!
//! Shapes follow the OpenAI API reference for `POST /v1/chat/completions` and
//! `GET /v1/models`: a streamed answer is `data: <chunk>` events, a role chunk first, the
//! content (or tool call arguments) in pieces, a chunk carrying `finish_reason`, a usage
//! chunk with empty `choices` when `stream_options.include_usage` is set, and `[DONE]`.

use crate::incoming::{Incoming, bearer_key};
use crate::recorder::Recorder;
use crate::reply::{Plan, Reply, last_user_text, plan, token_estimate};
use crate::sse::{Ending, SLOW_STREAM_PAUSE, data_frame, event_stream};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// The one model `GET /v1/models` lists, and the model named when a request names none.
const MODEL_ID: &str = "standin-model";
/// The id of the single tool call the stand-in makes.
const TOOL_CALL_ID: &str = "call_standin_1";
/// A cut-off stream sends the role chunk and the first piece, then drops.
const FRAMES_BEFORE_ABORT: usize = 2;

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(recorder): State<Recorder>,
    incoming: Incoming,
) -> Response {
    if let Err(message) = check_bearer(&incoming.headers) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", message);
    }
    complete(recorder, incoming).await
}

/// A chat completion for a request whose credential was checked.
pub(crate) async fn complete(recorder: Recorder, incoming: Incoming) -> Response {
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
                "server_error",
                "the stand-in failed this request, as the prompt asked",
            );
        }
        Plan::Answer {
            reply,
            abort_midstream,
        } => (reply, abort_midstream),
    };
    let completion = Completion {
        id: format!("chatcmpl-standin-{}", recorder.next_response_number()),
        created: unix_now(),
        model: request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(MODEL_ID)
            .to_owned(),
        prompt_tokens: token_estimate(incoming.raw_body.len()),
    };
    if streaming {
        let include_usage = request
            .get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true)
            && !user_text.contains(crate::MARKER_NO_USAGE);
        let ending = if abort_midstream {
            Ending::AbortAfter(FRAMES_BEFORE_ABORT)
        } else if slow {
            Ending::Paced(SLOW_STREAM_PAUSE)
        } else {
            Ending::Complete
        };
        event_stream(completion.stream_frames(&reply, include_usage), ending)
    } else {
        Json(completion.whole(&reply)).into_response()
    }
}

/// `GET /v1/models`.
pub(crate) async fn list_models(incoming: Incoming) -> Response {
    if let Err(message) = check_bearer(&incoming.headers) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", message);
    }
    Json(json!({
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "standin"}],
    }))
    .into_response()
}

/// An error in OpenAI's format: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({
        "error": {"message": message, "type": error_type, "param": null, "code": null},
    });
    (status, Json(body)).into_response()
}

/// Accepts `Authorization: Bearer <non-empty key>`; otherwise says what is missing.
pub(crate) fn check_bearer(headers: &HeaderMap) -> Result<(), &'static str> {
    match bearer_key(headers) {
        Some(_) => Ok(()),
        None => Err("no API key given; send Authorization: Bearer <key> (any non-empty key works)"),
    }
}

/// `tools[0].function.name`, if the request has tools.
fn first_tool_name(request: &Map<String, Value>) -> Option<&str> {
    request
        .get("tools")?
        .as_array()?
        .first()?
        .get("function")?
        .get("name")?
        .as_str()
}

/// Seconds since the Unix epoch, for `created`.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// What every chunk or whole completion of one answer shares.
struct Completion {
    id: String,
    created: u64,
    model: String,
    prompt_tokens: u64,
}

impl Completion {
    /// The `chat.completion` object for a non-streamed answer.
    fn whole(&self, reply: &Reply) -> Value {
        let message = match reply {
            Reply::Text(text) => json!({"role": "assistant", "content": text}),
            Reply::ToolCall {
                name, arguments, ..
            } => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }],
            }),
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(reply),
                "logprobs": null,
            }],
            "usage": self.usage(reply),
        })
    }

    /// Every `data:` event of a streamed answer, `[DONE]` included.
    fn stream_frames(&self, reply: &Reply, include_usage: bool) -> Vec<String> {
        let mut deltas = vec![json!({"role": "assistant", "content": ""})];
        match reply {
            Reply::Text(_) => {
                deltas.extend(
                    reply
                        .pieces()
                        .into_iter()
                        .map(|piece| json!({"content": piece})),
                );
            }
            Reply::ToolCall { name, .. } => {
                deltas.push(json!({"tool_calls": [{
                    "index": 0,
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]}));
                deltas.extend(reply.pieces().into_iter().map(
                    |piece| json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                ));
            }
        }
        let mut frames: Vec<String> = deltas
            .into_iter()
            .map(|delta| data_frame(&self.chunk(delta, Value::Null, include_usage)))
            .collect();
        let finish = Value::from(finish_reason(reply));
        frames.push(data_frame(&self.chunk(json!({}), finish, include_usage)));
        if include_usage {
            frames.push(data_frame(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage(reply),
            })));
        }
        frames.push("data: [DONE]\n\n".to_owned());
        frames
    }

    /// One `chat.completion.chunk` with a single choice; when usage was asked for, the
    /// content chunks carry `"usage": null` as OpenAI's do.
    fn chunk(&self, delta: Value, finish_reason: Value, include_usage: bool) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "finish_reason": finish_reason,
                "logprobs": null,
            }],
        });
        if include_usage && let Some(object) = chunk.as_object_mut() {
            object.insert("usage".to_owned(), Value::Null);
        }
        chunk
    }

    fn usage(&self, reply: &Reply) -> Value {
        let completion_tokens = reply.output_tokens();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }
}

fn finish_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "stop",
        Reply::ToolCall { .. } => "tool_calls",
    }
}
