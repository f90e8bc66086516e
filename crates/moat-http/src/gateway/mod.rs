//! The LLM gateway's HTTP edge: OpenAI Chat Completions (`/v1/chat/completions`),
//! Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`), OpenAI's Responses
//! API (`/v1/responses`), OpenAI embeddings (`/v1/embeddings`) and `/v1/models` in both
//! shapes, streaming included.
//!
//! Per request: authenticate (`gateway` scope) → the caller's own rate limit and
//! requests in progress → a shared slot → read the body within `[gateway]
//! max_prompt_bytes` and `body_timeout` → check its fields → redact every string and
//! keep the original text aside → [`Gateway::admit`] (role, allowlist, options, binary
//! content, egress by fingerprints) → a durable `gateway.requested` event → send to the
//! pinned version at the vendor, retrying and falling back only before the first byte
//! (`forward`) → pass the answer through, restoring placeholders when configured
//! (`relay`) → the outcome event (`exchange`). Every error is in the caller's own wire
//! format. Streams are relayed event by event, never buffered whole; the stream's end
//! marker is sent only once the outcome is durable. `[gateway] request_deadline`
//! bounds the whole request.

mod answer_dlp;
mod bedrock;
mod dialect;
mod embeddings;
mod exchange;
mod forward;
mod health;
mod pipeline;
mod relay;
mod responses;
mod restore_stream;
mod vertex;
mod wire;

use pipeline::handle;

use crate::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use exchange::Exchange;
use moat_domain::Scope;
use moat_service::Principal;
use moat_service::gateway::{Gateway, RequestRecord, WireFormat, scrub_request};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::WireError;

pub use wire::WireError as GatewayError;

/// The gateway service and the pooled connections to vendors.
pub struct GatewayContext {
    pub gateway: Arc<Gateway>,
    client: reqwest::Client,
    /// One permit per request in progress (a stream holds its permit to the end).
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl GatewayContext {
    pub fn new(gateway: Arc<Gateway>) -> Result<GatewayContext, String> {
        // A vendor that redirects is not followed: the prompt (and a signed request's
        // session token) would go to wherever it says.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(512)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the vendor HTTP client: {e}"))?;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(
            gateway.settings().max_in_flight.max(1),
        ));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for vendor in &gateway.settings().vendors {
                if let Some(replicas) = &vendor.replicas {
                    runtime.spawn(health::check(
                        client.clone(),
                        vendor.name.clone(),
                        vendor.api_key.clone(),
                        std::sync::Arc::downgrade(replicas),
                    ));
                }
            }
        }
        Ok(GatewayContext {
            gateway,
            client,
            in_flight,
        })
    }
}

/// The wire format a gateway path speaks, for layers that answer before a handler.
pub fn format_for_path(path: &str) -> Option<WireFormat> {
    match path {
        "/v1/chat/completions" | "/v1/embeddings" => Some(WireFormat::OpenAi),
        "/v1/messages" | "/v1/messages/count_tokens" => Some(WireFormat::Anthropic),
        "/v1/responses" => Some(WireFormat::Responses),
        _ => None,
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/embeddings", post(embeddings_route))
        .route("/v1/responses", post(responses_route))
        .route("/v1/models", get(models))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    ChatCompletions,
    Messages,
    CountTokens,
    Embeddings,
    Responses,
}

impl Endpoint {
    fn format(self) -> WireFormat {
        match self {
            Endpoint::ChatCompletions | Endpoint::Embeddings => WireFormat::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => WireFormat::Anthropic,
            Endpoint::Responses => WireFormat::Responses,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "messages.count_tokens",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Responses => "responses",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Responses => "/v1/responses",
        }
    }
}

async fn chat_completions(State(state): State<AppState>, request: Request<Body>) -> Response {
    handle(state, Endpoint::ChatCompletions, request).await
}

async fn messages(State(state): State<AppState>, request: Request<Body>) -> Response {
    handle(state, Endpoint::Messages, request).await
}

async fn count_tokens(State(state): State<AppState>, request: Request<Body>) -> Response {
    handle(state, Endpoint::CountTokens, request).await
}

async fn embeddings_route(State(state): State<AppState>, request: Request<Body>) -> Response {
    handle(state, Endpoint::Embeddings, request).await
}

async fn responses_route(State(state): State<AppState>, request: Request<Body>) -> Response {
    handle(state, Endpoint::Responses, request).await
}

fn context(state: &AppState, format: WireFormat) -> Result<Arc<GatewayContext>, WireError> {
    state.gateway.clone().ok_or_else(|| {
        WireError::new(
            format,
            StatusCode::NOT_FOUND,
            "gateway_disabled",
            "the LLM gateway is not configured here; an admin adds [[vendors]] and [[models]] to moat.toml",
        )
    })
}

async fn authenticate(
    state: &AppState,
    format: WireFormat,
    headers: &HeaderMap,
) -> Result<Principal, WireError> {
    let result = match crate::auth::presented_secret(headers) {
        None => Err(moat_service::AuthError::Missing),
        Some(secret) => state.identity.authenticate(secret, Scope::Gateway).await,
    };
    result.map_err(|error| {
        let api = crate::ApiError::from(error);
        let mut wire = WireError::new(format, api.status, api.code, api.message);
        wire.www_authenticate = api.www_authenticate;
        wire.refusal = api.refusal;
        // A 401 names the gateway's resource metadata (RFC 9728), so an OAuth client
        // finds where to sign in; a forged Host is never echoed into it.
        if wire.status == axum::http::StatusCode::UNAUTHORIZED
            && let Ok(base) = crate::mcp_routes::public_url(state, headers)
        {
            let refused = wire
                .www_authenticate
                .as_deref()
                .and_then(|v| v.find("error=").map(|at| v[at..].to_string()));
            let mut value = format!(
                "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/v1\", scope=\"gateway\""
            );
            if let Some(refused) = refused {
                value.push_str(", ");
                value.push_str(&refused);
            }
            wire.www_authenticate = Some(value);
        }
        wire
    })
}

/// `GET /v1/models`: the models the caller may use, in the OpenAI list shape, or the
/// Anthropic one when the client sends `anthropic-version`.
async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let format = if headers.contains_key("anthropic-version") {
        WireFormat::Anthropic
    } else {
        WireFormat::OpenAi
    };
    let context = match context(&state, format) {
        Ok(context) => context,
        Err(error) => return error.into_response(),
    };
    let principal = match authenticate(&state, format, &headers).await {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    let models = context.gateway.models_for(&principal).await;
    let body = match format {
        WireFormat::OpenAi | WireFormat::Responses => json!({
            "object": "list",
            "data": models.iter().map(|m| json!({
                "id": m.alias, "object": "model", "created": 0, "owned_by": m.vendor,
            })).collect::<Vec<_>>(),
        }),
        WireFormat::Anthropic => json!({
            "data": models.iter().map(|m| json!({
                "type": "model", "id": m.alias, "display_name": m.alias,
                "created_at": "1970-01-01T00:00:00Z",
            })).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|m| m.alias.clone()),
            "last_id": models.last().map(|m| m.alias.clone()),
        }),
    };
    axum::Json(body).into_response()
}
