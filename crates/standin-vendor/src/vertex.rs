//! Google's side of Vertex AI for Anthropic's models, as Google documents it: the OAuth
//! 2.0 token endpoint for service accounts (`POST /token`, `grant_type` =
//! `urn:ietf:params:oauth:grant-type:jwt-bearer`, the `assertion` a JWT the account
//! signed with RS256), checked as Google checks it — the signature against the test
//! account's public key, `iss` the account, `aud` this endpoint, the cloud-platform
//! scope, an expiry within the hour — and answered with an access token; and
//! `rawPredict`/`streamRawPredict`, which want one of those tokens, the Messages body
//! without `model` and with `anthropic_version: "vertex-2023-10-16"`, and answer as
//! Anthropic does.

use crate::anthropic::{Message, first_tool_name};
use crate::incoming::{Incoming, bearer_key};
use crate::recorder::Recorder;
use crate::reply::{Plan, last_user_text, plan, token_estimate};
use crate::sse::{Ending, event_stream};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The test service account's address, and its key (2048-bit RSA, made for these
/// tests: it opens nothing anywhere).
pub const SERVICE_ACCOUNT_EMAIL: &str = "moat-gateway@standin-project.iam.gserviceaccount.com";
const PRIVATE_KEY: &str = include_str!("vertex/test-service-account.pem");
const PUBLIC_KEY: &str = include_str!("vertex/test-service-account.pub.pem");

/// The test service account's JSON key file, with `token_uri` pointing at a stand-in's
/// token endpoint (`<stand-in URL>/token`).
pub fn service_account_key(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "standin-project",
        "private_key_id": "standin-key-1",
        "private_key": PRIVATE_KEY,
        "client_email": SERVICE_ACCOUNT_EMAIL,
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    })
    .to_string()
}

/// `POST /token`.
pub(crate) async fn token(State(recorder): State<Recorder>, incoming: Incoming) -> Response {
    let body = String::from_utf8_lossy(&incoming.raw_body).to_string();
    let field = |name: &str| {
        body.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.replace("%3A", ":").replace("%3a", ":"))
        })
    };
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return refuse("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = field("assertion") else {
        return refuse("invalid_request", "Missing required parameter: assertion");
    };
    let host = incoming
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("http://{host}/token")]);
    validation.set_issuer(&[SERVICE_ACCOUNT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()) else {
        return refuse("server_error", "the stand-in's key does not load");
    };
    let claims = match jsonwebtoken::decode::<Value>(&assertion, &key, &validation) {
        Ok(decoded) => decoded.claims,
        Err(e) => {
            return refuse(
                "invalid_grant",
                &format!("Invalid JWT Signature or claims: {e}"),
            );
        }
    };
    let lifetime = claims["exp"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(claims["iat"].as_u64().unwrap_or(0));
    if lifetime > 3600 {
        return refuse(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes)",
        );
    }
    if !claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
    {
        return refuse("invalid_scope", "the cloud-platform scope is required");
    }
    let token = format!("ya29.standin-{}", recorder.next_response_number());
    recorder.store_response(&format!("token:{token}"));
    Json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

/// `GET /computeMetadata/v1/instance/service-accounts/default/token`: the GCE (and GKE
/// workload identity) metadata server's token for the machine's service account, as
/// Google documents it — only with `Metadata-Flavor: Google` and without
/// `X-Forwarded-For` (a request relayed from elsewhere), answered with the same header.
pub(crate) async fn metadata_token(
    State(recorder): State<Recorder>,
    incoming: Incoming,
) -> Response {
    let flavored = incoming
        .headers
        .get("metadata-flavor")
        .is_some_and(|v| v == "Google");
    if !flavored || incoming.headers.contains_key("x-forwarded-for") {
        return (
            StatusCode::FORBIDDEN,
            "Missing required header: Metadata-Flavor\n",
        )
            .into_response();
    }
    let scoped = incoming
        .path
        .split_once("?scopes=")
        .is_none_or(|(_, scopes)| {
            scopes.contains("https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform")
                || scopes.contains("https://www.googleapis.com/auth/cloud-platform")
        });
    if !scoped {
        return (
            StatusCode::BAD_REQUEST,
            "the cloud-platform scope is required\n",
        )
            .into_response();
    }
    let token = format!("ya29.standin-metadata-{}", recorder.next_response_number());
    recorder.store_response(&format!("token:{token}"));
    (
        [("metadata-flavor", "Google")],
        Json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})),
    )
        .into_response()
}

fn refuse(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:rawPredict`
/// (or `:streamRawPredict`).
pub(crate) async fn predict(State(recorder): State<Recorder>, incoming: Incoming) -> Response {
    let path = incoming.path.split('?').next().unwrap_or_default();
    let Some((model, action)) = path
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
    else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method");
    };
    if !matches!(action, "rawPredict" | "streamRawPredict") {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method");
    }
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
    if request.get("anthropic_version").and_then(Value::as_str) != Some("vertex-2023-10-16") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "anthropic_version: vertex-2023-10-16 is required",
        );
    }
    if request.contains_key("model") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "model: Extra inputs are not permitted",
        );
    }
    let streaming = action == "streamRawPredict";
    let user_text = last_user_text(request.get("messages"));
    let reply = match plan(&user_text, first_tool_name(request), streaming) {
        Plan::Fail => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the stand-in failed this request, as the prompt asked",
            );
        }
        Plan::Answer { reply, .. } => reply,
    };
    let message = Message {
        id: format!("msg_vrtx_standin_{}", recorder.next_response_number()),
        model: model.to_string(),
        input_tokens: token_estimate(incoming.raw_body.len()),
    };
    if streaming {
        event_stream(message.stream_frames(&reply), Ending::Complete)
    } else {
        Json(message.whole(&reply)).into_response()
    }
}

/// An error as Google's APIs send one.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message, "status": kind}})),
    )
        .into_response()
}
