//! One model request through the gateway, from the authenticated caller to the vendor:
//! the caller's own limits, a shared slot, the body read within its bounds, its fields
//! checked, every string redacted, `Gateway::admit`, the durable `gateway.requested`
//! event, then `forward`. Every refusal in the caller's wire format.

use super::*;

pub(super) async fn handle(
    state: AppState,
    endpoint: Endpoint,
    request: Request<Body>,
) -> Response {
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
            WireFormat::OpenAi | WireFormat::Responses => StatusCode::SERVICE_UNAVAILABLE,
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
    let checked = match endpoint {
        Endpoint::Embeddings => super::embeddings::check(&body),
        Endpoint::Responses => super::responses::check(&body),
        _ => wire::check(format, endpoint == Endpoint::CountTokens, &body),
    };
    let ask = match checked {
        Ok(ask) => ask,
        Err(message) => {
            return exchange
                .refuse(WireError::bad_request(format, message), None)
                .await;
        }
    };
    // Log probabilities show the answer token by token, each token a piece too short
    // to be recognised: past answer redaction, so not with it.
    let settings = context.gateway.settings();
    if settings.redact_answers
        && (body
            .get("logprobs")
            .is_some_and(|v| !v.is_null() && v.as_bool() != Some(false))
            || body.get("top_logprobs").is_some_and(|v| !v.is_null())
            || (endpoint == Endpoint::Responses && super::responses::asks_logprobs(&body)))
    {
        let error = WireError::bad_request(
            format,
            "`logprobs` and `top_logprobs` would show the answer token by token, past the redaction of answers this gateway applies ([gateway] redact_answers); remove them",
        );
        return exchange.refuse(error, None).await;
    }
    // Spoken answers say what the text would show, where no redaction reaches.
    let speaks = body.get("audio").is_some_and(|v| !v.is_null())
        || body["modalities"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m == "audio"));
    if settings.redact_answers && speaks {
        let error = WireError::bad_request(
            format,
            "spoken answers (`audio`, `modalities: [\"audio\"]`) cannot be redacted ([gateway] redact_answers); ask for text",
        );
        return exchange.refuse(error, None).await;
    }
    // The Responses API keeps every response at the vendor unless told not to: Moat
    // tells it not to, unless the request asks (and its model allows it).
    if endpoint == Endpoint::Responses
        && let Some(fields) = body.as_object_mut()
        && fields.get("store").is_none_or(Value::is_null)
    {
        fields.insert("store".into(), Value::Bool(false));
    }
    exchange.record.alias = Some(ask.model.clone());
    exchange.record.stream = ask.stream;
    // Redacting and fingerprinting a large prompt is milliseconds of CPU: off the
    // async worker.
    let large = bytes.len() > LARGE_PROMPT;
    let mut redactor = context.gateway.redactor();
    let scrubbing = async {
        match endpoint {
            Endpoint::Embeddings => {
                moat_service::gateway::scrub_embeddings(&mut body, &mut redactor)
            }
            _ => scrub_request(format, &mut body, &mut redactor),
        }
    };
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
    let admitting = context.gateway.admit(
        &exchange.principal,
        &ask.model,
        format,
        matches!(
            endpoint,
            Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Responses
        ),
        &scrubbed,
    );
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
    // Continuing a response kept at the vendor, or citing its items (which admission
    // allowed the model), is for the person it was kept for.
    // (Only where the request goes to the vendor as it is: a translated one carries no
    // ids, and its vendor keeps nothing.)
    let passed_through = || {
        admission
            .routes
            .iter()
            .any(|route| format.passes_to(route.model.served(&route.vendor)))
    };
    if endpoint == Endpoint::Responses && passed_through() {
        let continued = moat_service::gateway::kept::continued(&body);
        if !continued.is_empty()
            && let Err(refusal) = context
                .gateway
                .may_continue(&exchange.principal, &continued)
                .await
        {
            let span = tracing::Span::current();
            crate::trace::record_decision(&span, false, Some(refusal.rule()), Some(&user));
            let error = forward::refusal_error(format, &refusal);
            return exchange.refuse(error, Some(refusal)).await;
        }
    }
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
    // An embedding is numbers: nothing to restore.
    let restore =
        settings.restore_placeholders && !originals.is_empty() && endpoint != Endpoint::Embeddings;
    forward::forward(
        exchange,
        admission,
        body,
        headers,
        forward::Relay {
            stream: ask.stream,
            restore,
            originals,
            embeddings: endpoint == Endpoint::Embeddings,
            translate_from: None,
            event_stream: false,
            namespaces: Vec::new(),
            dialect: None,
        },
    )
    .await
}
