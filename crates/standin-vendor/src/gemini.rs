//! Google's Gemini models on Vertex AI, as Google documents them:
//! `POST .../publishers/google/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`, wanting an access token from the stand-in's
//! `/token` (as `rawPredict` does). The body is checked as Gemini checks it: known keys
//! only; `contents` of `user` and `model` turns whose parts each hold one of `text`,
//! `inlineData`, `fileData`, `functionCall`, `functionResponse` (its `response` an
//! object); function declarations with a name and `parameters` or
//! `parametersJsonSchema`, not both. The answer is `{"candidates": [{"content",
//! "finishReason"}], "usageMetadata", "modelVersion", "responseId"}`; a stream is SSE
//! chunks of the same shape, the last with the finish reason and the usage.

use crate::incoming::{Incoming, bearer_key};
use crate::recorder::Recorder;
use crate::reply::{Plan, Reply, plan, token_estimate};
use crate::vertex::error;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "contents",
    "systemInstruction",
    "generationConfig",
    "tools",
    "toolConfig",
    "safetySettings",
    "labels",
];
const PARTS: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
];

/// `:generateContent` and `:streamGenerateContent`.
pub(crate) async fn generate(State(recorder): State<Recorder>, incoming: Incoming) -> Response {
    let (path, query) = incoming
        .path
        .split_once('?')
        .unwrap_or((&incoming.path, ""));
    let Some((model, action)) = path.rsplit('/').next().and_then(|l| l.split_once(':')) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method");
    };
    let streaming = match action {
        "generateContent" => false,
        "streamGenerateContent" if query.split('&').any(|p| p == "alt=sse") => true,
        "streamGenerateContent" => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "the stand-in streams only with alt=sse",
            );
        }
        _ => return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method"),
    };
    if !bearer_key(&incoming.headers).is_some_and(|t| recorder.is_stored(&format!("token:{t}"))) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    let request = match incoming.json_object() {
        Ok(request) => request,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &reason),
    };
    let (last_user, first_tool) = match check(request) {
        Ok(read) => read,
        Err(why) => return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &why),
    };
    let (reply, abort) = match plan(&last_user, first_tool.as_deref(), streaming) {
        Plan::Fail => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the stand-in failed this request, as the prompt asked",
            );
        }
        Plan::Answer {
            reply,
            abort_midstream,
        } => (reply, abort_midstream),
    };
    let input = token_estimate(incoming.raw_body.len());
    let usage = json!({"promptTokenCount": input, "candidatesTokenCount": reply.output_tokens(),
        "totalTokenCount": input + reply.output_tokens()});
    let id = format!("standin{}", recorder.next_response_number());
    let chunk = |parts: Value, finish: Option<&str>| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut chunk = json!({"candidates": [], "modelVersion": model, "responseId": id});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
            chunk["usageMetadata"] = usage.clone();
        }
        chunk["candidates"] = json!([candidate]);
        chunk
    };
    // Signed as Gemini 3 signs its calls, to be given back with them.
    let call = |name: &str, input: &Value| json!([{"functionCall": {"name": name, "args": input}, "thoughtSignature": "c3RhbmRpbi1zaWduYXR1cmU+/w=="}]);
    if !streaming {
        let parts = match &reply {
            Reply::Text(text) => json!([{"text": text}]),
            Reply::ToolCall { name, input, .. } => call(name, input),
        };
        return Json(chunk(parts, Some("STOP"))).into_response();
    }
    let mut chunks = Vec::new();
    match &reply {
        Reply::Text(_) => {
            let pieces = reply.pieces();
            for (n, piece) in pieces.iter().enumerate() {
                let last = n + 1 == pieces.len();
                chunks.push(chunk(json!([{"text": piece}]), last.then_some("STOP")));
            }
        }
        Reply::ToolCall { name, input, .. } => chunks.push(chunk(call(name, input), Some("STOP"))),
    }
    if abort {
        chunks.truncate(1);
        if let Some(first) = chunks.first_mut() {
            first["candidates"][0]
                .as_object_mut()
                .map(|c| c.remove("finishReason"));
        }
    }
    let body: String = chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect();
    ([("content-type", "text/event-stream")], body).into_response()
}

/// Checks the body as Gemini does; the last user turn's text (with function outputs)
/// and the first function's name.
fn check(request: &Map<String, Value>) -> Result<(String, Option<String>), String> {
    if let Some(key) = request.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
        ));
    }
    let Some(contents) = request
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    else {
        return Err("contents is not specified".into());
    };
    let mut last_user = String::new();
    for (i, content) in contents.iter().enumerate() {
        let role = content["role"].as_str().unwrap_or_default();
        if role != "user" && role != "model" {
            return Err(format!("contents[{i}].role must be user or model"));
        }
        let Some(parts) = content["parts"].as_array().filter(|p| !p.is_empty()) else {
            return Err(format!("contents[{i}].parts must not be empty"));
        };
        let mut text = Vec::new();
        for part in parts {
            let data: Vec<&String> = part
                .as_object()
                .map(|p| {
                    p.keys()
                        .filter(|k| *k != "thought" && *k != "thoughtSignature")
                        .collect()
                })
                .unwrap_or_default();
            if data.len() != 1 || !PARTS.contains(&data[0].as_str()) {
                return Err(format!(
                    "contents[{i}]: a part holds exactly one of {}",
                    PARTS.join(", ")
                ));
            }
            if let Some(t) = part["text"].as_str() {
                text.push(t.to_string());
            }
            if part.get("functionResponse").is_some() {
                let response = &part["functionResponse"]["response"];
                if !response.is_object() {
                    return Err(format!(
                        "contents[{i}]: functionResponse.response must be an object"
                    ));
                }
                for value in response.as_object().into_iter().flat_map(|r| r.values()) {
                    text.push(
                        value
                            .as_str()
                            .map_or_else(|| value.to_string(), String::from),
                    );
                }
            }
        }
        if role == "user" {
            last_user = text.join("\n");
        }
    }
    let mut first_tool = None;
    for tool in request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for declaration in tool["functionDeclarations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if !declaration["name"].is_string() {
                return Err("a function declaration needs a name".into());
            }
            if declaration.get("parameters").is_some()
                && declaration.get("parametersJsonSchema").is_some()
            {
                return Err("parameters and parametersJsonSchema cannot both be set".into());
            }
            first_tool.get_or_insert_with(|| {
                declaration["name"].as_str().unwrap_or_default().to_string()
            });
        }
    }
    Ok((last_user, first_tool))
}
