//! The LLM gateway's HTTP edge: OpenAI Chat Completions (`/v1/chat/completions`),
//! Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`) and `/v1/models`
//! in both shapes, streaming included.
//!
//! Per request: authenticate (`gateway` scope) → read the body within
//! `[gateway] max_prompt_bytes` → check its fields → redact every string and keep the
//! original text aside → [`Gateway::admit`] (role, allowlist, egress by fingerprints,
//! rate limits) → send to the pinned version at the vendor, retrying and falling back
//! only before the first byte → pass the answer through (restoring placeholders when
//! configured) → one audit event. Every error is in the caller's own wire format.
//! Streams are relayed event by event, never buffered whole; the stream's end marker
//! is sent only once the audit event is durable.

mod wire;

use crate::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use moat_domain::Scope;
use moat_service::Principal;
use moat_service::gateway::{
    Admission, Gateway, Refusal, RefusalKind, RequestRecord, Route, VendorKind, WireFormat,
    restore_json, scrub_request,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::{Usage, WireError};

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

/// What is known of a request as it goes, for its audit event.
struct Exchange {
    context: Arc<GatewayContext>,
    principal: Principal,
    endpoint: Endpoint,
    started: Instant,
    record: RequestRecord,
    /// The body as sent to the vendor (redacted, pinned model).
    sent: Bytes,
    /// Held until the exchange ends (after the stream, for streams).
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Exchange {
    /// What to keep by reference from the audit event, when bodies are kept:
    /// `{"request": <as sent>, "response": <as answered>}`, both already JSON.
    fn keep_body(&mut self, response: &[u8]) {
        if !self.context.gateway.settings().keep_bodies {
            return;
        }
        let mut body = Vec::with_capacity(self.sent.len() + response.len() + 32);
        body.extend_from_slice(b"{\"request\":");
        body.extend_from_slice(&self.sent);
        body.extend_from_slice(b",\"response\":");
        body.extend_from_slice(response);
        body.push(b'}');
        self.record.body = Some(body);
    }

    fn format(&self) -> WireFormat {
        self.endpoint.format()
    }

    /// Records the event and answers `error`.
    async fn refuse(mut self, error: WireError, refusal: Option<Refusal>) -> Response {
        self.record.status = error.status.as_u16();
        self.record.refusal = refusal;
        if self.record.error.is_none() && self.record.refusal.is_none() {
            self.record.error = Some(error.message.clone());
        }
        // A refusal is answered even when it could not be recorded (finish logs that):
        // nothing was disclosed.
        let _ = self.finish().await;
        error.into_response()
    }

    async fn finish(mut self) -> Result<u64, moat_service::AuditError> {
        self.record.latency = self.started.elapsed();
        let tokens = self.record.tokens_in + self.record.tokens_out;
        self.context.gateway.spend(&self.principal, tokens);
        let result = self
            .context
            .gateway
            .record(Some(&self.principal), self.record)
            .await;
        if let Err(error) = &result {
            tracing::error!(%error, "gateway: the audit event could not be recorded");
        }
        result
    }
}

async fn handle(state: AppState, endpoint: Endpoint, request: Request<Body>) -> Response {
    let started = Instant::now();
    let format = endpoint.format();
    let context = match context(&state, format) {
        Ok(context) => context,
        Err(error) => return error.into_response(),
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
    let (parts, body) = request.into_parts();
    let principal = match authenticate(&state, format, &parts.headers).await {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    let settings = context.gateway.settings();
    let mut exchange = Exchange {
        context: context.clone(),
        principal,
        endpoint,
        started,
        record: RequestRecord {
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
        },
        sent: Bytes::new(),
        _permit: permit,
    };
    let limit = settings.max_prompt_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
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
    let mut redactor = context.gateway.redactor();
    let scrubbed = scrub_request(&mut body, &mut redactor);
    let originals = redactor.into_originals();
    exchange.record.redactions = scrubbed.counts;
    let admission = match context
        .gateway
        .admit(&exchange.principal, &ask.model, format, &scrubbed.text)
        .await
    {
        Ok(admission) => admission,
        Err(refusal) => {
            let error = refusal_error(format, &refusal);
            exchange.record.detected = refusal.detected.clone();
            return exchange.refuse(error, Some(refusal)).await;
        }
    };
    exchange.record.detected = admission.detected.clone();
    exchange.record.prompt_text = scrubbed.text;
    let restore = settings.restore_placeholders && !originals.is_empty();
    forward(
        exchange,
        admission,
        body,
        &parts.headers,
        ask.stream,
        restore,
        originals,
    )
    .await
}

fn refusal_error(format: WireFormat, refusal: &Refusal) -> WireError {
    let (status, code) = match refusal.kind {
        RefusalKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        RefusalKind::Model => (StatusCode::FORBIDDEN, "model_not_allowed"),
        RefusalKind::WrongEndpoint => (StatusCode::BAD_REQUEST, "wrong_endpoint"),
        RefusalKind::Egress => (StatusCode::FORBIDDEN, "egress_denied"),
        RefusalKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        RefusalKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let mut error = WireError::new(format, status, code, refusal.message.clone());
    error.retry_after = refusal.retry_after;
    error
}

/// Sends to the routes in order, retrying each before its first byte; relays the
/// first success.
async fn forward(
    mut exchange: Exchange,
    admission: Admission,
    mut body: Value,
    headers: &HeaderMap,
    stream: bool,
    restore: bool,
    originals: moat_dlp::Originals,
) -> Response {
    let format = exchange.format();
    // Borrowed through its own handle: cloning the settings (vendors, models, tiers)
    // on every request would be work on the hot path for nothing.
    let context = exchange.context.clone();
    let settings = context.gateway.settings();
    let mut last_error = None;
    for route in &admission.routes {
        body["model"] = Value::String(route.model.version.clone());
        let payload = match serde_json::to_vec(&body) {
            Ok(payload) => Bytes::from(payload),
            Err(e) => {
                let error = WireError::bad_request(format, format!("cannot encode: {e}"));
                return exchange.refuse(error, None).await;
            }
        };
        exchange.record.route = Some(route.clone());
        exchange.record.bytes_sent = payload.len() as u64;
        exchange.sent = payload.clone();
        for _ in 0..settings.attempts.max(1) {
            exchange.record.attempts += 1;
            let request = upstream_request(&exchange, route, headers, settings, payload.clone());
            let sent = tokio::time::timeout(settings.first_byte_timeout, request.send()).await;
            let response = match sent {
                Err(_) => {
                    last_error = Some(WireError::new(
                        format,
                        StatusCode::GATEWAY_TIMEOUT,
                        "vendor_timeout",
                        format!(
                            "vendor `{}` did not answer within {} s",
                            route.vendor.name,
                            settings.first_byte_timeout.as_secs()
                        ),
                    ));
                    continue;
                }
                Ok(Err(e)) => {
                    last_error = Some(WireError::new(
                        format,
                        StatusCode::BAD_GATEWAY,
                        "vendor_unreachable",
                        format!(
                            "vendor `{}` cannot be reached: {}",
                            route.vendor.name,
                            without_url(&e)
                        ),
                    ));
                    continue;
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if status.is_success() {
                return if stream {
                    relay_stream(exchange, response, restore, originals)
                } else {
                    relay_whole(exchange, response, restore, originals).await
                };
            }
            let error = vendor_error(format, &route.vendor.name, status, response).await;
            if status.as_u16() == 429 || status.is_server_error() {
                last_error = Some(error);
                continue;
            }
            // The vendor refused the request itself: another attempt would too.
            return exchange.refuse(error, None).await;
        }
    }
    let error = last_error.unwrap_or_else(|| {
        WireError::new(
            format,
            StatusCode::BAD_GATEWAY,
            "vendor_error",
            "no vendor answered",
        )
    });
    exchange.refuse(error, None).await
}

/// The request to the vendor: its own credential, never the caller's token.
fn upstream_request(
    exchange: &Exchange,
    route: &Route,
    headers: &HeaderMap,
    settings: &moat_service::gateway::GatewaySettings,
    payload: Bytes,
) -> reqwest::RequestBuilder {
    let url = format!("{}{}", route.vendor.base_url, exchange.endpoint.path());
    let request = exchange
        .context
        .client
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(payload);
    match route.vendor.kind {
        VendorKind::OpenAi | VendorKind::OpenAiCompatible => {
            request.bearer_auth(&route.vendor.api_key)
        }
        VendorKind::Anthropic => {
            let version = headers
                .get("anthropic-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("2023-06-01");
            let mut request = request
                .header("x-api-key", &route.vendor.api_key)
                .header("anthropic-version", version);
            let betas: Vec<&str> = headers
                .get_all("anthropic-beta")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|beta| settings.anthropic_beta.iter().any(|a| a == beta))
                .collect();
            if !betas.is_empty() {
                request = request.header("anthropic-beta", betas.join(","));
            }
            request
        }
    }
}

/// A reqwest error without the vendor URL (which may carry a path the caller need not see).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "");
    }
    if error.is_connect() {
        "connection refused or failed".to_string()
    } else {
        text
    }
}

/// A vendor's error answer in the caller's format, naming the vendor.
async fn vendor_error(
    format: WireFormat,
    vendor: &str,
    status: reqwest::StatusCode,
    response: reqwest::Response,
) -> WireError {
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
    let answered = status.as_u16();
    let (status, code) = if status.is_server_error() {
        (StatusCode::BAD_GATEWAY, "vendor_error")
    } else {
        (
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            "vendor_rejected",
        )
    };
    let mut error = WireError::new(
        format,
        status,
        code,
        format!("vendor `{vendor}` answered {answered}: {message}"),
    );
    error.retry_after = retry_after;
    error
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| without_url(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How much streamed answer text is kept for the audit body and provenance.
const MAX_KEPT_ANSWER: usize = 1 << 20;

/// The largest non-streamed answer relayed.
const MAX_ANSWER: usize = 64 << 20;

async fn relay_whole(
    mut exchange: Exchange,
    response: reqwest::Response,
    restore: bool,
    originals: moat_dlp::Originals,
) -> Response {
    let format = exchange.format();
    let vendor = exchange
        .record
        .route
        .as_ref()
        .map(|r| r.vendor.name.clone())
        .unwrap_or_default();
    let bytes = match read_limited(response, MAX_ANSWER).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let error = WireError::new(
                format,
                StatusCode::BAD_GATEWAY,
                "vendor_error",
                format!("vendor `{vendor}`'s answer broke off: {e}"),
            );
            return exchange.refuse(error, None).await;
        }
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        let error = WireError::new(
            format,
            StatusCode::BAD_GATEWAY,
            "vendor_error",
            format!("vendor `{vendor}` answered with something other than JSON"),
        );
        return exchange.refuse(error, None).await;
    };
    let usage = Usage::of_response(format, &answer);
    exchange.record.tokens_in = usage.input;
    exchange.record.tokens_out = usage.output;
    exchange.record.status = 200;
    exchange.record.answer_text = wire::answer_text(format, &answer);
    exchange.keep_body(&bytes);
    let body = if restore {
        restore_json(&mut answer, &originals);
        Bytes::from(answer.to_string())
    } else {
        Bytes::from(bytes)
    };
    match exchange.finish().await {
        Ok(_) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => audit_unavailable(format).into_response(),
    }
}

fn audit_unavailable(format: WireFormat) -> WireError {
    WireError::new(
        format,
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the answer could not be recorded in the audit log, so it is withheld; retry shortly",
    )
}

/// Relays a vendor's SSE stream from a task, so the vendor is read while the client is.
fn relay_stream(
    mut exchange: Exchange,
    response: reqwest::Response,
    restore: bool,
    originals: moat_dlp::Originals,
) -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(32);
    exchange.record.status = 200;
    tokio::spawn(async move {
        let format = exchange.format();
        let idle = exchange.context.gateway.settings().first_byte_timeout;
        let mut restorer = restore.then(|| DeltaRestorer::new(format, originals));
        let mut upstream = response.bytes_stream();
        let mut splitter = wire::SseSplitter::default();
        let mut usage = Usage::default();
        let mut terminator: Option<Vec<u8>> = None;
        let mut failure: Option<String> = None;
        let mut client_gone = false;
        let mut answer = String::new();
        'read: loop {
            let next = match tokio::time::timeout(idle, upstream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    failure = Some(format!("the vendor sent nothing for {} s", idle.as_secs()));
                    break;
                }
            };
            let chunk = match next {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    failure = Some(format!(
                        "the vendor's stream broke off: {}",
                        without_url(&e)
                    ));
                    break;
                }
            };
            let events = match splitter.push(&chunk) {
                Ok(events) => events,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            for raw in events {
                let (name, data) = wire::parse_event(&raw);
                if wire::is_terminator(format, name.as_deref(), &data) {
                    terminator = Some(raw);
                    continue;
                }
                let carries_usage = match format {
                    WireFormat::OpenAi => {
                        data.contains("\"usage\":{") || data.contains("\"usage\": {")
                    }
                    WireFormat::Anthropic => {
                        matches!(name.as_deref(), Some("message_start" | "message_delta"))
                    }
                };
                if carries_usage && let Ok(value) = serde_json::from_str::<Value>(&data) {
                    usage.absorb_event(format, &value);
                }
                // The answer as the vendor sent it (before any restoring), bounded.
                if answer.len() < MAX_KEPT_ANSWER
                    && data.contains("\"delta\"")
                    && let Ok(value) = serde_json::from_str::<Value>(&data)
                    && let Some(pointer) = wire::delta_text_pointer(format, &value)
                {
                    answer.push_str(value.pointer(pointer).and_then(Value::as_str).unwrap_or(""));
                }
                if name.as_deref() == Some("error") {
                    failure = Some("the vendor reported an error mid-stream".to_string());
                }
                let out = match restorer.as_mut() {
                    Some(restorer) => restorer.process(name, &data, raw),
                    None => vec![raw],
                };
                for bytes in out {
                    if sender.send(Bytes::from(bytes)).await.is_err() {
                        client_gone = true;
                        break 'read;
                    }
                }
            }
        }
        if let Some(restorer) = restorer.as_mut() {
            for bytes in restorer.flush() {
                let _ = sender.send(Bytes::from(bytes)).await;
            }
        }
        if failure.is_none() && terminator.is_none() && !client_gone {
            failure = Some(if splitter.leftover() {
                "the vendor's stream ended in the middle of an event".to_string()
            } else {
                "the vendor's stream ended without its end marker".to_string()
            });
        }
        exchange.record.tokens_in = usage.input;
        exchange.record.tokens_out = usage.output;
        exchange.keep_body(json!({"streamed_text": answer}).to_string().as_bytes());
        exchange.record.answer_text = answer;
        if client_gone {
            exchange.record.error = Some("the client closed the stream".to_string());
        }
        if let Some(failure) = &failure {
            exchange.record.status = 502;
            exchange.record.error = Some(failure.clone());
        }
        let recorded = exchange.finish().await;
        let last = match (failure, recorded) {
            (Some(failure), _) => WireError::new(
                format,
                StatusCode::BAD_GATEWAY,
                "vendor_stream_failed",
                failure,
            )
            .event()
            .into_bytes(),
            (None, Err(_)) => audit_unavailable(format).event().into_bytes(),
            (None, Ok(_)) => terminator.unwrap_or_default(),
        };
        if !last.is_empty() {
            let _ = sender.send(Bytes::from(last)).await;
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), receiver))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Restores placeholders in streamed text deltas. A placeholder may be split across
/// deltas, so an unfinished one is held back and sent with the next delta (or on its
/// own, in the shape of the last delta, before any other event).
struct DeltaRestorer {
    format: WireFormat,
    originals: moat_dlp::Originals,
    pending: String,
    /// The last delta event (name and JSON), the shape for flushing held-back text.
    template: Option<(Option<String>, Value, &'static str)>,
}

impl DeltaRestorer {
    fn new(format: WireFormat, originals: moat_dlp::Originals) -> DeltaRestorer {
        DeltaRestorer {
            format,
            originals,
            pending: String::new(),
            template: None,
        }
    }

    fn process(&mut self, name: Option<String>, data: &str, raw: Vec<u8>) -> Vec<Vec<u8>> {
        if let Ok(mut value) = serde_json::from_str::<Value>(data)
            && let Some(pointer) = wire::delta_text_pointer(self.format, &value)
        {
            let mut text = std::mem::take(&mut self.pending);
            text.push_str(value.pointer(pointer).and_then(Value::as_str).unwrap_or(""));
            if let Some(cut) = self.originals.unfinished(&text) {
                self.pending = text.split_off(cut);
            }
            if let Some(slot) = value.pointer_mut(pointer) {
                *slot = Value::String(self.originals.restore(&text));
            }
            let out = encode_event(name.as_deref(), &value);
            self.template = Some((name, value, pointer));
            return vec![out];
        }
        let mut out = self.flush();
        out.push(raw);
        out
    }

    /// Sends held-back text as it is (it never became a whole placeholder).
    fn flush(&mut self) -> Vec<Vec<u8>> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let text = std::mem::take(&mut self.pending);
        match self.template.as_mut() {
            Some((name, value, pointer)) => {
                if let Some(slot) = value.pointer_mut(pointer) {
                    *slot = Value::String(text);
                }
                vec![encode_event(name.as_deref(), value)]
            }
            None => Vec::new(),
        }
    }
}

fn encode_event(name: Option<&str>, value: &Value) -> Vec<u8> {
    match name {
        Some(name) => format!("event: {name}\ndata: {value}\n\n").into_bytes(),
        None => format!("data: {value}\n\n").into_bytes(),
    }
}
