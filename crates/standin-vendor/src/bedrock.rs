//! Amazon Bedrock's runtime for Anthropic's models, as AWS documents it: `POST
//! /model/{modelId}/invoke` and `/invoke-with-response-stream`, signed with AWS
//! Signature Version 4 for the `bedrock` service. The signature is checked as AWS
//! checks it: the stand-in knows one key pair ([`AWS_ACCESS_KEY_ID`],
//! [`AWS_SECRET_ACCESS_KEY`], and any session token), signs the request it received
//! again with `aws-sigv4` at the request's own `x-amz-date` over the headers it says it
//! signed, and compares; a date more than 15 minutes off is refused too. The body is
//! Anthropic's Messages body without `model` and `stream` and with `anthropic_version:
//! "bedrock-2023-05-31"`. A stream is event-stream frames, each `chunk` holding one of
//! Anthropic's events base64-encoded in `{"bytes": …}`. Every model also answers through
//! Converse (`/converse`, `/converse-stream`), signed the same way ([`crate::converse`]).

use crate::anthropic::{Message, first_tool_name};
use crate::incoming::Incoming;
use crate::recorder::Recorder;
use crate::reply::{Plan, last_user_text, plan, token_estimate};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as Frame};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// The access key id the stand-in accepts.
pub const AWS_ACCESS_KEY_ID: &str = "AKIASTANDINBEDROCK01";
/// Its secret.
pub const AWS_SECRET_ACCESS_KEY: &str = "standin/bedrock/secret/access/key/0000000";

/// `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`.
pub(crate) async fn invoke(State(recorder): State<Recorder>, incoming: Incoming) -> Response {
    let (model, streaming, converse) = match route(&incoming.path) {
        Some(route) => route,
        None => {
            return error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "no such operation",
            );
        }
    };
    if let Err(why) = check_signature(&incoming) {
        return error(StatusCode::FORBIDDEN, "InvalidSignatureException", &why);
    }
    let request = match incoming.json_object() {
        Ok(request) => request,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "ValidationException", &reason),
    };
    if converse {
        let id = recorder.next_response_number();
        return match crate::converse::answer(request, streaming, incoming.raw_body.len()) {
            Ok((body, content_type)) => (
                [
                    ("content-type", content_type.to_string()),
                    ("x-amzn-requestid", format!("standin-{id}")),
                ],
                body,
            )
                .into_response(),
            Err((status, kind, message)) => error(status, kind, &message),
        };
    }
    if request.get("anthropic_version").and_then(Value::as_str) != Some("bedrock-2023-05-31") {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "anthropic_version: bedrock-2023-05-31 is required",
        );
    }
    if let Some(key) = ["model", "stream"]
        .into_iter()
        .find(|k| request.contains_key(*k))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &format!("extraneous key [{key}] is not permitted"),
        );
    }
    let user_text = last_user_text(request.get("messages"));
    let reply = match plan(&user_text, first_tool_name(request), streaming) {
        Plan::Fail => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "the stand-in failed this request, as the prompt asked",
            );
        }
        Plan::Answer { reply, .. } => reply,
    };
    let message = Message {
        id: format!("msg_bdrk_standin_{}", recorder.next_response_number()),
        model,
        input_tokens: token_estimate(incoming.raw_body.len()),
    };
    if !streaming {
        return Json(message.whole(&reply)).into_response();
    }
    let mut body = Vec::new();
    for frame in message.stream_frames(&reply) {
        let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
            continue;
        };
        let chunk = json!({"bytes": base64::engine::general_purpose::STANDARD.encode(data)});
        let frame = Frame::new(chunk.to_string().into_bytes())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String("chunk".into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ));
        if write_message_to(&frame, &mut body).is_err() {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "cannot frame",
            );
        }
    }
    (
        [("content-type", "application/vnd.amazon.eventstream")],
        body,
    )
        .into_response()
}

/// The model id, whether it streams and whether it is Converse, from
/// `/model/{id}/{action}`.
fn route(path: &str) -> Option<(String, bool, bool)> {
    let rest = path.split('?').next()?.strip_prefix("/model/")?;
    let (id, action) = rest.rsplit_once('/')?;
    let (streaming, converse) = match action {
        "invoke" => (false, false),
        "invoke-with-response-stream" => (true, false),
        "converse" => (false, true),
        "converse-stream" => (true, true),
        _ => return None,
    };
    let mut decoded = Vec::new();
    let bytes = id.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some((String::from_utf8(decoded).ok()?, streaming, converse))
}

/// Signs the received request again, as AWS does, and compares.
fn check_signature(incoming: &Incoming) -> Result<(), String> {
    let header = |name: &str| incoming.headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").ok_or("Missing Authentication Token")?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization header requires the AWS4-HMAC-SHA256 algorithm")?;
    let part = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let credential = part("Credential").ok_or("Authorization header requires 'Credential'")?;
    let signed_headers =
        part("SignedHeaders").ok_or("Authorization header requires 'SignedHeaders'")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, _day, region, service, "aws4_request"] = scope[..] else {
        return Err("the credential scope is malformed".into());
    };
    if key_id != AWS_ACCESS_KEY_ID {
        return Err("The security token included in the request is invalid.".into());
    }
    if service != "bedrock" {
        return Err(format!(
            "Credential should be scoped to correct service: 'bedrock', not '{service}'"
        ));
    }
    let date = header("x-amz-date").ok_or("the request has no x-amz-date")?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(date, format)
        .map_err(|_| "x-amz-date is malformed")?
        .assume_utc();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at.unix_timestamp().max(0) as u64);
    let skew = SystemTime::now()
        .duration_since(at)
        .unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(15 * 60) {
        return Err("Signature expired: the request's date is more than 15 minutes off".into());
    }
    let host = header("host").ok_or("the request has no host")?;
    let url = format!("http://{host}{}", incoming.path);
    let others: Vec<(&str, &str)> = signed_headers
        .split(';')
        .filter(|h| !matches!(*h, "host" | "x-amz-date" | "x-amz-security-token"))
        .map(|h| (h, header(h).unwrap_or_default()))
        .collect();
    let identity = Credentials::new(
        AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY,
        header("x-amz-security-token").map(String::from),
        None,
        "standin",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        "POST",
        &url,
        others.into_iter(),
        SignableBody::Bytes(&incoming.raw_body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let expected = instructions
        .headers()
        .find(|(name, _)| *name == "authorization")
        .map(|(_, value)| value.to_string())
        .unwrap_or_default();
    if expected != authorization {
        return Err(
            "The request signature we calculated does not match the signature you provided.".into(),
        );
    }
    Ok(())
}

/// An error as Bedrock sends one: `{"message": …}` with the type in a header.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [("x-amzn-errortype", kind.to_string())],
        Json(json!({"message": message})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn the_model_id_is_read_from_its_encoded_segment() {
        assert_eq!(
            route(
                "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
            ),
            Some((
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_string(),
                true,
                false
            ))
        );
        assert_eq!(
            route("/model/m/invoke"),
            Some(("m".to_string(), false, false))
        );
        assert_eq!(
            route("/model/m/converse-stream"),
            Some(("m".to_string(), true, true))
        );
        assert_eq!(route("/model/m/chat"), None);
    }
}
