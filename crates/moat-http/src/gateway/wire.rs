//! The two vendor wire formats as the gateway needs them: errors in each format's own
//! shape, checks of the fields the gateway relies on (so a malformed request is
//! refused before anything reaches a vendor), usage fields, and SSE events.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_service::gateway::WireFormat;
use serde_json::{Map, Value, json};

/// An error in the caller's wire format.
pub struct WireError {
    pub format: WireFormat,
    pub status: StatusCode,
    /// OpenAI's `code` (also logged); Anthropic has none.
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    pub www_authenticate: Option<String>,
    /// Why an authentication was refused (see [`crate::error::AuthRefused`]).
    pub refusal: Option<Box<moat_service::Refused>>,
}

impl WireError {
    pub fn new(
        format: WireFormat,
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> WireError {
        WireError {
            format,
            status,
            code,
            message: message.into(),
            retry_after: None,
            www_authenticate: None,
            refusal: None,
        }
    }

    pub fn bad_request(format: WireFormat, message: impl Into<String>) -> WireError {
        WireError::new(format, StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// The error type name each format uses for this status.
    fn type_name(&self) -> &'static str {
        match (self.format.vendor_format(), self.status.as_u16()) {
            (_, 401) => "authentication_error",
            (_, 403) => "permission_error",
            (_, 404) => "not_found_error",
            (WireFormat::Anthropic, 413) => "request_too_large",
            (WireFormat::OpenAi, 429) => "rate_limit_exceeded",
            (WireFormat::Anthropic, 429) => "rate_limit_error",
            (WireFormat::Anthropic, 529) => "overloaded_error",
            (WireFormat::OpenAi, s) if s >= 500 => "server_error",
            (WireFormat::Anthropic, s) if s >= 500 => "api_error",
            _ => "invalid_request_error",
        }
    }

    /// The body, also used as an SSE error event mid-stream.
    pub fn body(&self) -> Value {
        match self.format {
            WireFormat::OpenAi | WireFormat::Responses => json!({"error": {
                "message": self.message,
                "type": self.type_name(),
                "param": null,
                "code": self.code,
            }}),
            WireFormat::Anthropic => json!({"type": "error", "error": {
                "type": self.type_name(),
                "message": self.message,
            }}),
        }
    }

    /// The error as one SSE event, to end a stream that has already begun.
    pub fn event(&self) -> String {
        match self.format {
            WireFormat::OpenAi => format!("data: {}\n\n", self.body()),
            WireFormat::Anthropic => format!("event: error\ndata: {}\n\n", self.body()),
            // The Responses API's own error event, with the error object the SDKs
            // raise from.
            WireFormat::Responses => {
                let mut event = json!({
                    "type": "error",
                    "code": self.code,
                    "message": self.message,
                    "param": null,
                });
                event["error"] = self.body()["error"].clone();
                format!("event: error\ndata: {event}\n\n")
            }
        }
    }
}

impl IntoResponse for WireError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(refused) = self.refusal {
            response
                .extensions_mut()
                .insert(crate::error::AuthRefused(*refused));
        }
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self
            .www_authenticate
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// What a request asks for, once its fields are known to be well-typed.
#[derive(Debug, Clone)]
pub struct Ask {
    pub model: String,
    pub stream: bool,
    /// The most the answer may hold: `max_completion_tokens` (or `max_tokens`) times
    /// the choices asked for (`n`), when the request names it.
    pub max_output: Option<u64>,
}

/// Checks the fields the gateway and vendors rely on; unknown fields pass through.
pub fn check(format: WireFormat, count_tokens: bool, body: &Value) -> Result<Ask, String> {
    let (fields, model) = object_and_model(body)?;
    let roles: &[&str] = match format {
        WireFormat::OpenAi | WireFormat::Responses => &[
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
        ],
        WireFormat::Anthropic => &["user", "assistant"],
    };
    let messages = match fields.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => return Err("`messages` must not be empty".into()),
        Some(_) => return Err("`messages` must be an array of message objects".into()),
        None => return Err("`messages` is required".into()),
    };
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(format!("messages[{i}] must be an object"));
        };
        match message.get("role") {
            Some(Value::String(role)) if roles.contains(&role.as_str()) => {}
            _ => {
                return Err(format!(
                    "messages[{i}].role must be one of: {}",
                    roles.join(", ")
                ));
            }
        }
        match message.get("content") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            Some(Value::Null) | None if format == WireFormat::OpenAi => {}
            _ => {
                return Err(format!(
                    "messages[{i}].content must be a string or an array of content parts"
                ));
            }
        }
        if let Some(Value::Array(parts)) = message.get("content")
            && let Some(j) = parts.iter().position(|p| !p.is_object())
        {
            return Err(format!("messages[{i}].content[{j}] must be an object"));
        }
    }
    let typed: &[TypedField] = &[
        ("stream", Value::is_boolean, "a boolean"),
        ("stream_options", Value::is_object, "an object"),
        ("tools", Value::is_array, "an array"),
        ("temperature", Value::is_number, "a number"),
        ("top_p", Value::is_number, "a number"),
        ("metadata", Value::is_object, "an object"),
        ("max_tokens", is_count, "a positive integer"),
        ("max_completion_tokens", is_count, "a positive integer"),
        ("n", is_count, "a positive integer"),
        (
            "system",
            |v| v.is_string() || v.is_array(),
            "a string or an array of text blocks",
        ),
        (
            "stop",
            |v| v.is_string() || v.is_array(),
            "a string or an array",
        ),
        ("stop_sequences", Value::is_array, "an array of strings"),
    ];
    check_types(fields, typed)?;
    if format == WireFormat::Anthropic && !count_tokens && !fields.contains_key("max_tokens") {
        return Err("`max_tokens` is required".into());
    }
    let choices = fields.get("n").and_then(Value::as_u64).unwrap_or(1);
    let max_output = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|name| fields.get(*name).and_then(Value::as_u64))
        .map(|most| most.saturating_mul(choices));
    Ok(Ask {
        model,
        stream: !count_tokens && fields.get("stream").and_then(Value::as_bool) == Some(true),
        max_output,
    })
}

/// The body's fields and its `model`, or why it has none.
pub(super) fn object_and_model(body: &Value) -> Result<(&Map<String, Value>, String), String> {
    let Value::Object(fields) = body else {
        return Err("the request body must be a JSON object".into());
    };
    match fields.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => Ok((fields, m.clone())),
        Some(_) => Err("`model` must be a non-empty string".into()),
        None => Err("`model` is required".into()),
    }
}

/// A top-level field, the check its value must pass, and what the error calls it.
pub(super) type TypedField = (&'static str, fn(&Value) -> bool, &'static str);

/// Checks each present, non-null field of `typed`, and that tools are objects.
pub(super) fn check_types(fields: &Map<String, Value>, typed: &[TypedField]) -> Result<(), String> {
    for (name, ok, what) in typed {
        if let Some(value) = fields.get(*name)
            && !value.is_null()
            && !ok(value)
        {
            return Err(format!("`{name}` must be {what}"));
        }
    }
    if let Some(Value::Array(tools)) = fields.get("tools")
        && let Some(i) = tools.iter().position(|t| !t.is_object())
    {
        return Err(format!("tools[{i}] must be an object"));
    }
    Ok(())
}

pub(super) fn is_count(value: &Value) -> bool {
    value.as_u64().is_some_and(|n| n > 0)
}

/// Tokens in and out that a response (or one stream event) reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

impl Usage {
    /// Reads a whole response body's usage.
    pub fn of_response(format: WireFormat, body: &Value) -> Usage {
        let usage = &body["usage"];
        match format {
            WireFormat::Responses => Usage {
                input: usage["input_tokens"].as_u64().unwrap_or(0),
                output: usage["output_tokens"].as_u64().unwrap_or(0),
            },
            WireFormat::OpenAi => Usage {
                input: usage["prompt_tokens"].as_u64().unwrap_or(0),
                output: usage["completion_tokens"].as_u64().unwrap_or(0),
            },
            WireFormat::Anthropic => Usage {
                input: usage["input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_read_input_tokens"].as_u64().unwrap_or(0),
                output: usage["output_tokens"].as_u64().unwrap_or(0),
            },
        }
    }

    /// Takes what one stream event reports: OpenAI's final usage chunk, Anthropic's
    /// `message_start` (input) and `message_delta` (output so far).
    pub fn absorb_event(&mut self, format: WireFormat, data: &Value) {
        match format {
            // The last event carries the whole response, its usage included.
            WireFormat::Responses => {
                if data["response"]["usage"].is_object() {
                    *self = Usage::of_response(format, &data["response"]);
                }
            }
            WireFormat::OpenAi => {
                if data["usage"].is_object() {
                    *self = Usage::of_response(format, data);
                }
            }
            WireFormat::Anthropic => match data["type"].as_str() {
                Some("message_start") => {
                    let usage = Usage::of_response(format, &data["message"]);
                    self.input = usage.input;
                    self.output = self.output.max(usage.output);
                }
                Some("message_delta") => {
                    let usage = &data["usage"];
                    if let Some(output) = usage["output_tokens"].as_u64() {
                        self.output = output;
                    }
                    // Input read from the cache, or written to it, is input too.
                    let input: u64 = [
                        "input_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    ]
                    .iter()
                    .filter_map(|k| usage[*k].as_u64())
                    .sum();
                    self.input = self.input.max(input);
                }
                _ => {}
            },
        }
    }
}

/// The text of a whole answer: OpenAI's message contents, Anthropic's text blocks.
pub fn answer_text(format: WireFormat, answer: &Value) -> String {
    let parts: Vec<&str> = match format {
        WireFormat::OpenAi => answer["choices"]
            .as_array()
            .map(|choices| {
                choices
                    .iter()
                    .filter_map(|c| c["message"]["content"].as_str())
                    .collect()
            })
            .unwrap_or_default(),
        WireFormat::Anthropic => answer["content"]
            .as_array()
            .map(|blocks| blocks.iter().filter_map(|b| b["text"].as_str()).collect())
            .unwrap_or_default(),
        WireFormat::Responses => answer["output"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item["content"].as_array())
            .flatten()
            .filter(|part| part["type"] == "output_text")
            .filter_map(|part| part["text"].as_str())
            .collect(),
    };
    parts.join("\n")
}

/// Splits a byte stream into SSE events (each ending with a blank line), keeping a
/// partial event across chunks.
#[derive(Default)]
pub struct SseSplitter {
    buffer: Vec<u8>,
}

/// Events longer than this are a broken stream, not a long answer.
const MAX_EVENT: usize = 16 << 20;

impl SseSplitter {
    /// Complete events in `chunk` (with what was kept from before), each with its
    /// terminating blank line.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        loop {
            let end = find_event_end(&self.buffer);
            let Some(end) = end else { break };
            let rest = self.buffer.split_off(end);
            events.push(std::mem::replace(&mut self.buffer, rest));
        }
        if self.buffer.len() > MAX_EVENT {
            return Err(format!("a stream event exceeded {MAX_EVENT} bytes"));
        }
        Ok(events)
    }

    /// Bytes of an unfinished event at the end of the stream.
    pub fn leftover(&self) -> bool {
        self.buffer.iter().any(|b| !b.is_ascii_whitespace())
    }
}

/// The end of the first event: after the first blank line, whatever mix of LF and
/// CRLF its line endings are (`\n\n`, `\r\n\r\n`, `\n\r\n`), as SSE clients read it.
fn find_event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let mixed = buffer
        .windows(3)
        .position(|w| w == b"\n\r\n")
        .map(|i| i + 3);
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    [lf, mixed, crlf].into_iter().flatten().min()
}

/// An SSE event's `event:` name and joined `data:` lines.
pub fn parse_event(raw: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(raw);
    let mut name = None;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim().to_string());
        } else if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (name, data)
}

/// Whether an event ends the stream properly in its format.
pub fn is_terminator(format: WireFormat, name: Option<&str>, data: &str) -> bool {
    match format {
        WireFormat::OpenAi => data.trim() == "[DONE]",
        WireFormat::Anthropic => name == Some("message_stop"),
        // The last event is the whole response, finished one way or another: as its
        // `type` says (what clients read), or its name where it has no type.
        WireFormat::Responses => {
            let ends = |kind: &str| {
                matches!(
                    kind,
                    "response.completed" | "response.incomplete" | "response.failed"
                )
            };
            match responses_type(data) {
                Some(kind) => ends(&kind),
                None => name.is_some_and(ends),
            }
        }
    }
}

/// A Responses API event's `type`, if its data has one.
pub fn responses_type(data: &str) -> Option<String> {
    serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| v["type"].as_str().map(String::from))
}

/// The text-carrying field of a stream delta, as a JSON pointer, if this event has
/// one: OpenAI `choices[0].delta.content`, Anthropic `delta.text`.
pub fn delta_text_pointer(format: WireFormat, data: &Value) -> Option<&'static str> {
    match format {
        WireFormat::OpenAi => data
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .map(|_| "/choices/0/delta/content"),
        WireFormat::Anthropic => data
            .pointer("/delta/text")
            .and_then(Value::as_str)
            .map(|_| "/delta/text"),
        WireFormat::Responses => (data["type"] == "response.output_text.delta"
            && data["delta"].is_string())
        .then_some("/delta"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_requests_are_named_by_field() {
        let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        assert!(check(WireFormat::OpenAi, false, &ok).is_ok());
        let cases = [
            (json!([1]), "JSON object"),
            (json!({"messages": []}), "`model` is required"),
            (json!({"model": 3, "messages": []}), "`model` must be"),
            (
                json!({"model": "m", "messages": "hi"}),
                "`messages` must be an array",
            ),
            (
                json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
                "`stream` must be a boolean",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
                "`max_tokens`",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [1]}),
                "tools[0]",
            ),
        ];
        for (body, expected) in cases {
            let error = check(WireFormat::OpenAi, false, &body).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
        let error = check(WireFormat::Anthropic, false, &ok).unwrap_err();
        assert!(error.contains("max_tokens"), "{error}");
        assert!(check(WireFormat::Anthropic, true, &ok).is_ok());
    }

    #[test]
    fn events_are_split_across_chunks_and_parsed() {
        let mut splitter = SseSplitter::default();
        assert!(
            splitter
                .push(b"event: message_start\ndata: {\"a\"")
                .unwrap()
                .is_empty()
        );
        let events = splitter
            .push(b":1}\n\nevent: ping\r\ndata: {}\r\n\r\ndata: [DO")
            .unwrap();
        assert_eq!(events.len(), 2);
        let (name, data) = parse_event(&events[0]);
        assert_eq!(name.as_deref(), Some("message_start"));
        assert_eq!(data, "{\"a\":1}");
        assert!(splitter.leftover());
        let events = splitter.push(b"NE]\n\n").unwrap();
        // A blank line of LF then CRLF ends an event, as it does for SSE clients.
        let mut mixed = SseSplitter::default();
        let events_mixed = mixed
            .push(b"data: {\"a\":1}\n\r\ndata: {\"b\":2}\n\n")
            .unwrap();
        assert_eq!(events_mixed.len(), 2);
        let (_, data) = parse_event(&events[0]);
        assert!(is_terminator(WireFormat::OpenAi, None, &data));
        assert!(!splitter.leftover());
    }

    #[test]
    fn errors_take_each_formats_shape() {
        let error = WireError::new(
            WireFormat::Anthropic,
            StatusCode::FORBIDDEN,
            "egress_denied",
            "no",
        );
        assert_eq!(error.body()["error"]["type"], "permission_error");
        assert_eq!(error.body()["type"], "error");
        assert!(error.event().starts_with("event: error\ndata: {"));
        let error = WireError::new(
            WireFormat::OpenAi,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "slow",
        );
        assert_eq!(error.body()["error"]["code"], "rate_limited");
        assert!(error.event().starts_with("data: {\"error\""));
    }
}
