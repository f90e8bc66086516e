//! Azure OpenAI's shape of the same API: `POST
//! /openai/deployments/{deployment}/chat/completions` and `.../embeddings`, each with the
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
        Ok(()) => crate::openai::complete(recorder, incoming).await,
        Err(response) => response,
    }
}

/// `POST /openai/deployments/{deployment}/embeddings`.
pub(crate) async fn embeddings(incoming: Incoming) -> Response {
    match check(&incoming) {
        Ok(()) => crate::embeddings::answer(incoming),
        Err(response) => response,
    }
}

/// What Azure checks before anything else: the API version, then the credential.
fn check(incoming: &Incoming) -> Result<(), Response> {
    let query = incoming.path.split_once('?').map_or("", |(_, q)| q);
    let version = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("api-version="))
        .unwrap_or_default();
    if version.is_empty() {
        return Err(error(
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
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "401",
            "Access denied due to missing subscription key or Entra ID token; send api-key or Authorization: Bearer",
        ));
    }
    Ok(())
}
