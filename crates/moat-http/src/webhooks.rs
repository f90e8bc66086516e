//! `POST /webhooks/github` and `POST /webhooks/gitlab`: repository-host events that
//! patch the permission mirror. Authenticated by the hosts' own schemes (HMAC
//! signature, shared token), not by Moat tokens.

use crate::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use moat_service::webhooks::{WebhookError, WebhookOutcome};
use serde_json::{Value, json};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhooks/github", post(github))
        .route("/webhooks/gitlab", post(gitlab))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn webhooks(state: &AppState) -> Result<&moat_service::webhooks::Webhooks, ApiError> {
    state.webhooks.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "repository-host webhooks are not configured on this server",
        )
    })
}

#[tracing::instrument(skip_all, fields(event = header(&headers, "x-github-event")))]
async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let outcome = webhooks(&state)?
        .github(
            header(&headers, "x-github-event").unwrap_or_default(),
            header(&headers, "x-github-delivery"),
            header(&headers, "x-hub-signature-256"),
            &body,
        )
        .await
        .map_err(map_error)?;
    Ok(answer(outcome))
}

#[tracing::instrument(skip_all)]
async fn gitlab(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let outcome = webhooks(&state)?
        .gitlab(
            header(&headers, "x-gitlab-event-uuid"),
            header(&headers, "x-gitlab-token"),
            &body,
        )
        .await
        .map_err(map_error)?;
    Ok(answer(outcome))
}

fn answer(outcome: WebhookOutcome) -> (StatusCode, Json<Value>) {
    match outcome {
        WebhookOutcome::Applied(changes) => (
            StatusCode::OK,
            Json(json!({"status": "applied", "changes": changes.len()})),
        ),
        WebhookOutcome::Resync(repos) => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "resync", "repos": repos})),
        ),
        WebhookOutcome::Reindex(repos) => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "reindex", "repos": repos})),
        ),
        WebhookOutcome::Duplicate => (StatusCode::OK, Json(json!({"status": "duplicate"}))),
        WebhookOutcome::Ignored => (StatusCode::OK, Json(json!({"status": "ignored"}))),
    }
}

fn map_error(error: WebhookError) -> ApiError {
    let message = error.to_string();
    match error {
        WebhookError::Forged => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
        }
        WebhookError::NotConfigured(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_configured", message)
        }
        WebhookError::Missing(_) | WebhookError::Payload(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_payload", message)
        }
        WebhookError::Store(_) | WebhookError::Mirror(_) | WebhookError::Contended => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
        // Nothing was granted and the delivery was not recorded: the host may redeliver.
        WebhookError::Unconfirmed(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unconfirmed", message)
        }
    }
}
