//! The LLM gateway's HTTP edge: OpenAI Chat Completions (`/v1/chat/completions`),
//! Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`) and `/v1/models`
//! in both shapes, streaming included.
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

mod exchange;
mod forward;
mod relay;
mod wire;

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
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(512)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the vendor HTTP client: {e}"))?;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(
            gateway.settings().max_in_flight.max(1),
        ));
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
        "/v1/chat/completions" => Some(WireFormat::OpenAi),
        "/v1/messages" | "/v1/messages/count_tokens" => Some(WireFormat::Anthropic),
        _ => None,
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/models", get(models))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    ChatCompletions,
    Messages,
    CountTokens,
}

impl Endpoint {
    fn format(self) -> WireFormat {
        match self {
            Endpoint::ChatCompletions => WireFormat::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => WireFormat::Anthropic,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "messages.count_tokens",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
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
        WireFormat::OpenAi => json!({
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

async fn handle(state: AppState, endpoint: Endpoint, request: Request<Body>) -> Response {
    let started = Instant::now();
    let format = endpoint.format();
    let context = match context(&state, format) {
        Ok(context) => context,
        Err(error) => return error.into_response(),
    };
    let (parts, body) = request.into_parts();
    let principal = match authenticate(&state, format, &parts.headers).await {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    let record = RequestRecord {
        endpoint: endpoint.name().to_string(),
        client: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect()),
        address: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        ..RequestRecord::default()
    };
    let mut exchange = Exchange::new(
        context.clone(),
        principal,
        format,
        endpoint.path(),
        started,
        record,
    );
    // The caller's own limits first (rate, requests in progress), then a shared slot:
    // one person's flood of slow bodies uses up their allowance, not everyone's.
    let slot = match context.gateway.throttle(&exchange.principal).await {
        Ok(slot) => slot,
        Err(refusal) => {
            let error = forward::refusal_error(format, &refusal);
            return exchange.refuse(error, Some(refusal)).await;
        }
    };
    // Shed load rather than queue without bound: memory and latency stay bounded, and
    // the SDKs retry these statuses on their own.
    let Ok(permit) = context.in_flight.clone().try_acquire_owned() else {
        let status = match format {
            WireFormat::OpenAi => StatusCode::SERVICE_UNAVAILABLE,
            WireFormat::Anthropic => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
        };
        let mut error = WireError::new(
            format,
            status,
            "overloaded",
            "the gateway is serving as many requests as it is allowed ([gateway] max_in_flight); retry shortly",
        );
        error.retry_after = Some(1);
        return error.into_response();
    };
    exchange.hold(slot, permit);
    let settings = context.gateway.settings();
    let deadline = settings.request_deadline;
    // Everything from the body to the answer's first byte is bounded by the deadline
    // (a stream's relay bounds itself); a request dropped at the deadline records its
    // outcome through the exchange's guard.
    match tokio::time::timeout(
        deadline,
        admit_and_forward(exchange, endpoint, &parts.headers, body),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => WireError::new(
            format,
            StatusCode::GATEWAY_TIMEOUT,
            "deadline",
            format!(
                "the request took longer than {} s ([gateway] request_deadline)",
                deadline.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Reads the body within its time and size limits, checks and redacts it, asks the
/// gateway for a decision and forwards it.
/// Prompts larger than this are redacted and fingerprinted off the async workers.
const LARGE_PROMPT: usize = 64 * 1024;

async fn admit_and_forward(
    mut exchange: Exchange,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let format = endpoint.format();
    let context = exchange.context.clone();
    let settings = context.gateway.settings();
    let limit = settings.max_prompt_bytes;
    let bytes = match tokio::time::timeout(settings.body_timeout, axum::body::to_bytes(body, limit))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            let error = WireError::new(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!(
                    "the prompt is larger than {limit} bytes, the limit of [gateway] max_prompt_bytes; send less context"
                ),
            );
            return exchange.refuse(error, None).await;
        }
        Err(_) => {
            let error = WireError::new(
                format,
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s ([gateway] body_timeout)",
                    settings.body_timeout.as_secs()
                ),
            );
            return exchange.refuse(error, None).await;
        }
    };
    let mut body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(e) => {
            let error = WireError::bad_request(format, format!("the body is not valid JSON: {e}"));
            return exchange.refuse(error, None).await;
        }
    };
    let ask = match wire::check(format, endpoint == Endpoint::CountTokens, &body) {
        Ok(ask) => ask,
        Err(message) => {
            return exchange
                .refuse(WireError::bad_request(format, message), None)
                .await;
        }
    };
    exchange.record.alias = Some(ask.model.clone());
    exchange.record.stream = ask.stream;
    // Redacting and fingerprinting a large prompt is milliseconds of CPU: off the
    // async worker.
    let large = bytes.len() > LARGE_PROMPT;
    let mut redactor = context.gateway.redactor();
    let scrubbing = async { scrub_request(format, &mut body, &mut redactor) };
    let scrubbed = if large {
        moat_service::blocking::off_the_worker(scrubbing).await
    } else {
        scrubbing.await
    };
    let scrubbed = match scrubbed {
        Ok(scrubbed) => scrubbed,
        Err(message) => {
            return exchange
                .refuse(WireError::bad_request(format, message), None)
                .await;
        }
    };
    let originals = redactor.into_originals();
    exchange.record.redactions = scrubbed.counts.clone();
    exchange.record.binary_parts = scrubbed.binary_parts;
    let admitting = context
        .gateway
        .admit(&exchange.principal, &ask.model, format, &scrubbed);
    let admitted = if large {
        moat_service::blocking::off_the_worker(admitting).await
    } else {
        admitting.await
    };
    let user = exchange.principal.user.id.0.clone();
    let admission = match admitted {
        Ok(admission) => {
            let span = tracing::Span::current();
            crate::trace::record_decision(&span, true, Some("gateway.allowlist"), Some(&user));
            admission
        }
        Err(refusal) => {
            let span = tracing::Span::current();
            crate::trace::record_decision(&span, false, Some(refusal.rule()), Some(&user));
            let error = forward::refusal_error(format, &refusal);
            exchange.record.detected = refusal.detected.clone();
            return exchange.refuse(error, Some(refusal)).await;
        }
    };
    exchange.record.detected = admission.detected.clone();
    // The most this request can spend is held against the caller's day budgets until
    // its answer settles it: every byte of the body may be a token (none is shorter),
    // plus the answer's maximum. Requests in flight on every node together overspend
    // by at most the last one admitted.
    if endpoint != Endpoint::CountTokens {
        let most = (bytes.len() as u64)
            .saturating_add(ask.max_output.unwrap_or(settings.output_hold_tokens));
        match context.gateway.hold_budget(&exchange.principal, most).await {
            Ok(hold) => exchange.budget = Some(hold),
            Err(refusal) => {
                let error = forward::refusal_error(format, &refusal);
                return exchange.refuse(error, Some(refusal)).await;
            }
        }
    }
    exchange.record.prompt_text = scrubbed.text;
    let restore = settings.restore_placeholders && !originals.is_empty();
    forward::forward(
        exchange,
        admission,
        body,
        headers,
        forward::Relay {
            stream: ask.stream,
            restore,
            originals,
        },
    )
    .await
}
