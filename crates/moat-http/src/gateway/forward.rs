//! Sending an admitted request: to each route in order (the model, then its allowed
//! fallbacks), each recorded as requested before its first byte leaves, retried only
//! before the vendor's first byte; the first success is relayed.

use super::exchange::Exchange;
use super::relay::{read_limited, relay_stream, relay_whole};
use super::wire::WireError;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use moat_service::gateway::{
    Admission, Refusal, RefusalKind, Route, VendorKind, WireFormat, translate,
};
use serde_json::{Value, json};

/// How the answer is relayed.
pub(super) struct Relay {
    pub stream: bool,
    /// Put this request's redacted values back into the answer.
    pub restore: bool,
    pub originals: moat_dlp::Originals,
    /// An embeddings answer: the audit body keeps its shape, not its vectors.
    pub embeddings: bool,
    /// The vendor's format when it is not the client's: its answer is translated.
    pub translate_from: Option<WireFormat>,
    /// The vendor streams AWS event-stream frames (Bedrock), not SSE.
    pub event_stream: bool,
    /// The request's tool namespaces (Responses API), to name translated calls by.
    pub namespaces: Vec<String>,
    /// A model called in another dialect than its vendor kind's (Converse, Gemini):
    /// its answer is turned into Anthropic's first.
    pub dialect: Option<super::dialect::Dialect>,
}

pub(super) fn refusal_error(format: WireFormat, refusal: &Refusal) -> WireError {
    let (status, code) = match refusal.kind {
        RefusalKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        RefusalKind::Model => (StatusCode::FORBIDDEN, "model_not_allowed"),
        RefusalKind::WrongEndpoint => (StatusCode::BAD_REQUEST, "wrong_endpoint"),
        RefusalKind::Egress => (StatusCode::FORBIDDEN, "egress_denied"),
        RefusalKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        RefusalKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        RefusalKind::Option => (StatusCode::BAD_REQUEST, "option_not_allowed"),
        RefusalKind::Binary => (StatusCode::FORBIDDEN, "binary_not_allowed"),
        RefusalKind::KillSwitch => (StatusCode::FORBIDDEN, "kill_switch"),
        RefusalKind::KeptForAnother => (StatusCode::FORBIDDEN, "kept_for_another"),
    };
    let mut error = WireError::new(format, status, code, refusal.message.clone());
    error.retry_after = refusal.retry_after;
    error
}

/// Sends to the routes in order, each recorded as requested first, retrying each
/// before its first byte; relays the first success.
pub(super) async fn forward(
    mut exchange: Exchange,
    admission: Admission,
    mut body: Value,
    headers: &HeaderMap,
    mut relay: Relay,
) -> Response {
    let format = exchange.format;
    // OpenAI streams report usage only when asked: always ask, so a stream counts
    // against the token budget; the usage chunk is kept from a client that did not.
    let client_wants_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    if relay.stream && format == WireFormat::OpenAi {
        match body
            .get_mut("stream_options")
            .and_then(Value::as_object_mut)
        {
            Some(options) => {
                options.insert("include_usage".into(), Value::Bool(true));
            }
            None => body["stream_options"] = json!({"include_usage": true}),
        }
    }
    // Borrowed through its own handle: cloning the settings (vendors, models, tiers)
    // on every request would be work on the hot path for nothing.
    let context = exchange.context.clone();
    let settings = context.gateway.settings();
    let mut last_error = None;
    for route in &admission.routes {
        // A model of the other format gets the request in its own (admission said it
        // can); its answer comes back in the client's.
        let served = route.model.served(&route.vendor);
        let translating = !format.passes_to(served);
        let mut sent = if translating {
            match translate::request(format, served, &body).and_then(|mut translated| {
                // Translation parses and joins what was redacted piece by piece (tool
                // arguments, text blocks): the body the vendor reads is redacted again.
                let mut redactor = context.gateway.redactor();
                let again =
                    moat_service::gateway::scrub_request(served, &mut translated, &mut redactor)?;
                // Translation writes no option the model was not admitted with; were it
                // to, the model's list still governs.
                if let Some(option) = again
                    .options
                    .iter()
                    .find(|o| !route.model.options.contains(o))
                {
                    return Err(format!(
                        "the translated request would use `{option}`, which is not allowed for this model"
                    ));
                }
                for (rule, n) in again.counts {
                    *exchange.record.redactions.entry(rule).or_insert(0) += n;
                }
                // Values this pass found are the caller's to have back too.
                relay.originals.extend(redactor.into_originals());
                relay.restore = settings.restore_placeholders && !relay.originals.is_empty();
                Ok(translated)
            }) {
                Ok(translated) => translated,
                Err(why) => {
                    let error = WireError::bad_request(
                        format,
                        format!(
                            "model `{}` is served in another wire format: {why}",
                            route.model.alias
                        ),
                    );
                    return exchange.refuse(error, None).await;
                }
            }
        } else {
            body.clone()
        };
        relay.translate_from = translating.then_some(served);
        if translating && format == WireFormat::Responses {
            relay.namespaces = translate::namespaces(&body);
        }
        exchange.vendor_path = if translating {
            served.endpoint()
        } else {
            exchange.path
        };
        sent["model"] = Value::String(route.model.version.clone());
        // A response the vendor keeps is the caller's alone to continue.
        exchange.kept = (format == WireFormat::Responses
            && !translating
            && sent.get("store") == Some(&Value::Bool(true)))
        .then(Vec::new);
        relay.event_stream = route.vendor.kind == VendorKind::Bedrock;
        relay.dialect = super::dialect::Dialect::of(route);
        // Gemini's signatures in call ids are Gemini's own: any other model (a fallback,
        // a switch mid-conversation) gets the ids without them.
        if !matches!(relay.dialect, Some(super::dialect::Dialect::Gemini(_))) {
            translate::gemini::strip_signatures(&mut sent);
        }
        match (&relay.dialect, route.vendor.kind) {
            // Bedrock's other makers' models, Gemini on Vertex: the Messages body in
            // their own format.
            (Some(dialect), _) => match dialect.request(&sent) {
                Ok(body) => sent = body,
                Err(why) => {
                    let error = WireError::bad_request(
                        format,
                        format!("model `{}` cannot be sent this: {why}", route.model.alias),
                    );
                    return exchange.refuse(error, None).await;
                }
            },
            (None, VendorKind::Bedrock) => {
                super::bedrock::body(&mut sent, &allowed_betas(headers, settings))
            }
            (None, VendorKind::Vertex) => super::vertex::body(&mut sent),
            _ => {}
        }
        let payload = match serde_json::to_vec(&sent) {
            Ok(payload) => Bytes::from(payload),
            Err(e) => {
                let error = WireError::bad_request(format, format!("cannot encode: {e}"));
                return exchange.refuse(error, None).await;
            }
        };
        exchange.record.route = Some(route.clone());
        exchange.record.bytes_sent = payload.len() as u64;
        exchange.sent = payload.clone();
        // Nothing goes to this vendor before it is on the record.
        if let Err(error) = exchange.requested(route).await {
            return exchange.refuse(error, None).await;
        }
        for _ in 0..settings.attempts.max(1) {
            exchange.record.attempts += 1;
            // A vendor on several hosts: the least loaded healthy one, counted as busy
            // until this request ends.
            exchange.replica = route.vendor.replicas.as_ref().map(|r| r.pick());
            let base = match &exchange.replica {
                Some(host) => host.url().to_string(),
                None => route.vendor.base_url.clone(),
            };
            exchange.record.replica = exchange.replica.as_ref().map(|h| h.url().to_string());
            let request = match upstream_request(
                &exchange,
                route,
                &base,
                headers,
                settings,
                payload.clone(),
                relay.stream,
            )
            .await
            {
                Ok(request) => request,
                Err(why) => {
                    // The detail (a file's path, an OS error) is the server's log's,
                    // not the caller's. Another attempt would read the same
                    // credential; a fallback to another vendor may still answer.
                    tracing::error!(vendor = %route.vendor.name, error = %why, "a vendor's credential cannot be had");
                    last_error = Some(WireError::new(
                        format,
                        StatusCode::BAD_GATEWAY,
                        "vendor_credential",
                        format!(
                            "vendor `{}` cannot be called: its credential cannot be read (the server's log says why); an admin fixes it",
                            route.vendor.name
                        ),
                    ));
                    break;
                }
            };
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
                    if e.is_connect()
                        && let (Some(replicas), Some(host)) =
                            (&route.vendor.replicas, &exchange.replica)
                        && replicas.mark(host.url(), false)
                    {
                        tracing::warn!(vendor = %route.vendor.name, host = host.url(), "a vendor host refused the connection; marked down until its health check passes");
                    }
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
            // The vendor's headers: its first byte.
            exchange.record.first_byte = Some(exchange.started.elapsed());
            let status = response.status();
            if status.is_success() {
                return if relay.stream {
                    relay_stream(exchange, response, relay, client_wants_usage)
                } else {
                    relay_whole(exchange, response, relay).await
                };
            }
            let error = vendor_error(format, route, status, response).await;
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
async fn upstream_request(
    exchange: &Exchange,
    route: &Route,
    base: &str,
    headers: &HeaderMap,
    settings: &moat_service::gateway::GatewaySettings,
    payload: Bytes,
    stream: bool,
) -> Result<reqwest::RequestBuilder, String> {
    let vendor = &route.vendor;
    let url = match vendor.kind {
        VendorKind::AzureOpenAi => azure_url(
            base,
            &route.model.version,
            exchange.vendor_path,
            vendor.api_version.as_deref().unwrap_or_default(),
        )?,
        VendorKind::Bedrock => super::bedrock::url(
            base,
            &route.model.version,
            stream,
            translate::converse::serves(&route.model.version),
        ),
        VendorKind::Vertex => super::vertex::url(
            base,
            vendor
                .vertex
                .as_ref()
                .ok_or_else(|| "it has no project and location configured".to_string())?,
            &route.model.version,
            stream,
        )?,
        _ => format!("{base}{}", exchange.vendor_path),
    };
    let request = exchange
        .context
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json");
    // Bedrock: signed over exactly what is sent.
    if vendor.kind == VendorKind::Bedrock {
        let signer = vendor
            .aws
            .as_ref()
            .ok_or_else(|| "it has no AWS region configured".to_string())?;
        let signed = signer
            .sign_post(&url, &[("content-type", "application/json")], &payload)
            .await?;
        let mut request = request.body(payload);
        for (name, value) in signed {
            let mut value = axum::http::HeaderValue::from_str(&value)
                .map_err(|_| "its signature is not a valid header value".to_string())?;
            value.set_sensitive(name == "authorization" || name == "x-amz-security-token");
            request = request.header(name, value);
        }
        return Ok(request);
    }
    let request = request.body(payload);
    Ok(match vendor.kind {
        VendorKind::OpenAi | VendorKind::OpenAiCompatible => request.bearer_auth(&vendor.api_key),
        VendorKind::AzureOpenAi => match &vendor.token_file {
            Some(file) => request.bearer_auth(file.token().await?),
            None => {
                let mut key = axum::http::HeaderValue::from_str(&vendor.api_key)
                    .map_err(|_| "its key is not a valid header value".to_string())?;
                key.set_sensitive(true);
                request.header("api-key", key)
            }
        },
        VendorKind::Anthropic => {
            let version = headers
                .get("anthropic-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("2023-06-01");
            let mut request = request
                .header("x-api-key", &route.vendor.api_key)
                .header("anthropic-version", version);
            let betas = allowed_betas(headers, settings);
            if !betas.is_empty() {
                request = request.header("anthropic-beta", betas.join(","));
            }
            request
        }
        VendorKind::Bedrock => request,
        VendorKind::Vertex => match &vendor.vertex {
            Some(vertex) => request.bearer_auth(vertex.token().await?),
            None => return Err("it has no project and location configured".into()),
        },
    })
}

/// The client's `anthropic-beta` features that `[gateway] anthropic_beta` allows.
fn allowed_betas<'h>(
    headers: &'h HeaderMap,
    settings: &moat_service::gateway::GatewaySettings,
) -> Vec<&'h str> {
    headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|beta| settings.anthropic_beta.iter().any(|a| a == beta))
        .collect()
}

/// Azure OpenAI's address for an OpenAI path (`/v1/chat/completions`): the deployment
/// (the model's pinned version) and the API version as Azure documents them. The
/// Responses API is `/openai/responses`, the deployment named by the body's `model`.
fn azure_url(
    base: &str,
    deployment: &str,
    path: &str,
    api_version: &str,
) -> Result<String, String> {
    let mut url =
        reqwest::Url::parse(base).map_err(|e| format!("its base URL is not a URL: {e}"))?;
    let mut segments = url
        .path_segments_mut()
        .map_err(|()| "its base URL cannot take a path".to_string())?;
    segments.pop_if_empty().push("openai");
    if path != "/v1/responses" {
        segments.extend(["deployments", deployment]);
    }
    segments.extend(path.trim_start_matches("/v1/").split('/'));
    drop(segments);
    url.query_pairs_mut()
        .append_pair("api-version", api_version);
    Ok(url.into())
}

/// A reqwest error without the vendor URL (which may carry a path the caller need not see).
pub(super) fn without_url(error: &reqwest::Error) -> String {
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

/// A vendor's error answer in the caller's format, naming the vendor. A cloud that
/// refuses its credential (Bedrock, Vertex) may echo what was signed, a session token
/// included: its words go to the log, the caller gets a fixed message, and the
/// credential held is forgotten so the next request finds a fresh one.
async fn vendor_error(
    format: WireFormat,
    route: &Route,
    status: reqwest::StatusCode,
    response: reqwest::Response,
) -> WireError {
    let vendor = route.vendor.name.as_str();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_string());
    let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
    let mut message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            // OpenAI's and Anthropic's `error.message`; Bedrock's `message`.
            v["error"]["message"]
                .as_str()
                .or(v["message"].as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
    let signed = matches!(route.vendor.kind, VendorKind::Bedrock | VendorKind::Vertex);
    if signed && matches!(status.as_u16(), 401 | 403) {
        tracing::warn!(vendor, status = status.as_u16(), answer = %message, "a cloud vendor refused the request");
        // Only a credential it does not take is forgotten (not a model it may not use),
        // so one caller's refusal does not make everyone fetch keys again.
        let kind = error_type.as_deref().unwrap_or_default();
        let credential = status.as_u16() == 401
            || matches!(
                kind,
                "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
            );
        if credential {
            if let Some(aws) = &route.vendor.aws {
                aws.forget();
            }
            if let Some(vertex) = &route.vendor.vertex {
                vertex.forget();
            }
        }
        message = "it refused the request's credential, signature or access (the server's log has its words); an admin checks the vendor's credentials and model access".to_string();
    }
    let answered = status.as_u16();
    // A redirect is not followed (the prompt would go where it says): a broken vendor.
    if status.is_redirection() {
        tracing::warn!(
            vendor,
            status = answered,
            "a vendor answered with a redirect, which is not followed"
        );
        message = "it redirected the request elsewhere, which Moat does not follow".to_string();
    }
    let (status, code) = if status.is_server_error() || status.is_redirection() {
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
