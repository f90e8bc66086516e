//! Azure OpenAI's shape of the same API: `POST
//! /openai/deployments/{deployment}/chat/completions` and `.../embeddings`, and the
//! Responses API at `/openai/responses`, each with the
//! `api-version` query parameter Azure requires, authenticated by an `api-key` header or
//! a Microsoft Entra ID bearer token. Answers are OpenAI's. The deployment is recorded
//! in the path; the body's `model` is not read (Azure ignores it too).

use crate::incoming::{Incoming, bearer_key};
use crate::openai::error;
use crate::recorder::Recorder;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// `POST /openai/deployments/{deployment}/chat/completions`.
pub(crate) async fn chat_completions(
    State(recorder): State<Recorder>,
    incoming: Incoming,
) -> Response {
    match check(&incoming) {
        None => crate::openai::complete(recorder, incoming).await,
        Some(refusal) => refusal,
    }
}

/// `POST /openai/responses`: the Responses API, the deployment named by `model`.
pub(crate) async fn responses(State(recorder): State<Recorder>, incoming: Incoming) -> Response {
    match check(&incoming) {
        None => crate::responses::respond(recorder, incoming).await,
        Some(refusal) => refusal,
    }
}

/// `POST /openai/deployments/{deployment}/embeddings`.
pub(crate) async fn embeddings(incoming: Incoming) -> Response {
    match check(&incoming) {
        None => crate::embeddings::answer(incoming),
        Some(refusal) => refusal,
    }
}

/// What Azure checks before anything else, the API version and then the credential:
/// the refusal, if one fails.
fn check(incoming: &Incoming) -> Option<Response> {
    let query = incoming.path.split_once('?').map_or("", |(_, q)| q);
    let version = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("api-version="))
        .unwrap_or_default();
    if version.is_empty() {
        return Some(error(
            StatusCode::NOT_FOUND,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    }
    let key = incoming
        .headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    if key.is_none() && bearer_key(&incoming.headers).is_none() {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "401",
            "Access denied due to missing subscription key or Entra ID token; send api-key or Authorization: Bearer",
        ));
    }
    None
}
