//! Relaying a vendor's answer: whole (read within a size limit, placeholders restored
//! when configured) or as an SSE stream from a task, so the vendor is read while the
//! client is. A stream's end marker goes out only once its outcome is durable.

use super::answer_dlp::AnswerStream;
use super::exchange::Exchange;
use super::forward::{Relay, without_url};
use super::restore_stream::DeltaRestorer;
use super::wire::{self, Usage, WireError};
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use moat_service::gateway::{WireFormat, restore_json, translate};
use serde_json::{Value, json};

pub(super) async fn read_limited(
    response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
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

pub(super) async fn relay_whole(
    mut exchange: Exchange,
    response: reqwest::Response,
    relay: Relay,
) -> Response {
    let format = exchange.format;
    let Relay {
        restore,
        originals,
        embeddings,
        translate_from,
        namespaces,
        dialect,
        ..
    } = relay;
    let vendor = exchange
        .record
        .route
        .as_ref()
        .map(|r| r.vendor.name.clone())
        .unwrap_or_default();
    let message_id = super::dialect::message_id(response.headers());
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
    let Ok(answer) = serde_json::from_slice::<Value>(&bytes) else {
        let error = WireError::new(
            format,
            StatusCode::BAD_GATEWAY,
            "vendor_error",
            format!("vendor `{vendor}` answered with something other than JSON"),
        );
        return exchange.refuse(error, None).await;
    };
    // A model called in another dialect (Converse, Gemini): its answer as Anthropic's.
    let (bytes, answer) = match dialect {
        Some(dialect) => match dialect.answer(&answer, &message_id) {
            Ok(message) => (message.to_string().into_bytes(), message),
            Err(why) => {
                // A broken answer was generated and billed all the same: counted.
                let (input, output) = dialect.usage(&answer);
                let estimate = |said: u64, bytes: usize| {
                    if said > 0 {
                        said
                    } else {
                        (bytes as u64).div_ceil(4)
                    }
                };
                exchange.record.tokens_in = estimate(input, exchange.sent.len());
                exchange.record.tokens_out = estimate(output, bytes.len());
                let error = WireError::new(
                    format,
                    StatusCode::BAD_GATEWAY,
                    "vendor_error",
                    format!("vendor `{vendor}`'s answer cannot be read: {why}"),
                );
                return exchange.refuse(error, None).await;
            }
        },
        None => (bytes, answer),
    };
    let mut answer = answer;
    // A model of the other format: its answer in the client's, before anything reads it.
    let bytes = match translate_from {
        Some(served) => match translate::answer(served, format, &answer, &namespaces) {
            Ok(translated) => {
                answer = translated;
                answer.to_string().into_bytes()
            }
            Err(why) => {
                let error = WireError::new(
                    format,
                    StatusCode::BAD_GATEWAY,
                    "vendor_error",
                    format!("vendor `{vendor}`'s answer cannot be translated: {why}"),
                );
                return exchange.refuse(error, None).await;
            }
        },
        None => bytes,
    };
    if let Some(kept) = exchange.kept.as_mut() {
        kept.extend(moat_service::gateway::kept::kept_ids(&answer));
    }
    let usage = Usage::of_response(format, &answer);
    exchange.record.tokens_in = usage.input;
    exchange.record.tokens_out = usage.output;
    exchange.record.status = 200;
    // What the model wrote is redacted before anything else reads it: the client, the
    // audit body and provenance all get the redacted answer.
    let redact = exchange.context.gateway.settings().redact_answers && !embeddings;
    let bytes = if redact {
        let gateway = exchange.context.gateway.clone();
        let redacting = async {
            let mut redactor = gateway.redactor();
            super::answer_dlp::redact_whole(&mut answer, &mut redactor)
        };
        // A large answer is milliseconds of scanning: off the async worker.
        let counts = if bytes.len() > 64 * 1024 {
            moat_service::blocking::off_the_worker(redacting).await
        } else {
            redacting.await
        };
        // Always as parsed and redacted: a key given twice holds a value the parsed
        // answer does not, which the client's parser may read.
        exchange.record.answer_redactions = counts;
        answer.to_string().into_bytes()
    } else {
        bytes
    };
    if embeddings {
        let summary = super::embeddings::summary(&answer);
        exchange.keep_body(summary.to_string().as_bytes());
    } else {
        exchange.record.answer_text = wire::answer_text(format, &answer);
        exchange.keep_body(&bytes);
    }
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

pub(super) fn audit_unavailable(format: WireFormat) -> WireError {
    WireError::new(
        format,
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the answer could not be recorded in the audit log, so it is withheld; retry shortly",
    )
}

/// Relays a vendor's SSE stream from a task, so the vendor is read while the client is.
pub(super) fn relay_stream(
    mut exchange: Exchange,
    response: reqwest::Response,
    relay: Relay,
    client_wants_usage: bool,
) -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(32);
    exchange.record.status = 200;
    let Relay {
        restore,
        originals,
        translate_from,
        event_stream,
        namespaces,
        dialect,
        ..
    } = relay;
    let message_id = super::dialect::message_id(response.headers());
    tokio::spawn(async move {
        let format = exchange.format;
        let settings = exchange.context.gateway.settings();
        let idle = settings.first_byte_timeout;
        let deadline = tokio::time::Instant::from_std(exchange.started) + settings.request_deadline;
        let mut restorer = restore.then(|| DeltaRestorer::new(format, originals));
        let gateway = exchange.context.gateway.clone();
        // One placeholder key for the whole answer: a value redacted in a delta and
        // again in the finished text reads the same in both.
        let answer_key = gateway.placeholder_key();
        let mut redactor = settings
            .redact_answers
            .then(|| AnswerStream::new(|| gateway.redactor_with(answer_key), format));
        let mut translator = translate_from
            .map(|served| translate::StreamTranslator::new(served, format, namespaces));
        let mut upstream = response.bytes_stream();
        let mut splitter = wire::SseSplitter::default();
        let mut frames = event_stream.then(|| match &dialect {
            Some(super::dialect::Dialect::Converse(model)) => {
                super::bedrock::EventStream::converse(model, &message_id)
            }
            _ => super::bedrock::EventStream::default(),
        });
        let mut gemini = dialect.as_ref().and_then(|d| d.sse_stream(&message_id));
        let mut usage = Usage::default();
        let mut terminator: Option<Vec<u8>> = None;
        let mut failure: Option<String> = None;
        let mut client_gone = false;
        let mut answer = String::new();
        'read: loop {
            let wait = (tokio::time::Instant::now() + idle).min(deadline);
            let next = match tokio::time::timeout_at(wait, upstream.next()).await {
                Ok(next) => next,
                Err(_) if wait == deadline => {
                    failure = Some(format!(
                        "the stream took longer than {} s ([gateway] request_deadline)",
                        settings.request_deadline.as_secs()
                    ));
                    break;
                }
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
            let pushed = match frames.as_mut() {
                Some(frames) => frames.push(&chunk),
                None => splitter.push(&chunk),
            };
            // Gemini's chunks as Anthropic's events.
            let pushed = match gemini.as_mut() {
                Some(gemini) => pushed.and_then(|events| gemini.push(events)),
                None => pushed,
            };
            let events = match pushed {
                Ok(events) => events,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            // A model of the other format: its events in the client's, before anything
            // reads them.
            let events = match translator.as_mut() {
                Some(translator) => events
                    .iter()
                    .flat_map(|raw| {
                        let (name, data) = wire::parse_event(raw);
                        translator.push(name.as_deref(), &data)
                    })
                    .map(|(name, data)| sse(name.as_deref(), &data))
                    .collect(),
                None => events,
            };
            for raw in events {
                let (name, data) = wire::parse_event(&raw);
                // A lone carriage return ends a line for SSE clients but not here: an
                // event holding one could carry lines (a name, an end) Moat did not read.
                if raw
                    .iter()
                    .enumerate()
                    .any(|(i, &b)| b == b'\r' && raw.get(i + 1) != Some(&b'\n'))
                {
                    failure =
                        Some("the vendor sent an event with a bare carriage return".to_string());
                    break 'read;
                }
                // The Responses API's clients read an event's `type`, not its name: one
                // named otherwise could pass as another (a finished response sent before
                // it is on the record), so it ends the stream.
                if format == WireFormat::Responses {
                    let kind = wire::responses_type(&data);
                    if let (Some(name), Some(kind)) = (name.as_deref(), kind.as_deref())
                        && !name.is_empty()
                        && name != kind
                    {
                        failure = Some(format!(
                            "the vendor sent an event named `{name}` whose type is `{kind}`"
                        ));
                        break 'read;
                    }
                    match kind.as_deref() {
                        Some("error") => {
                            failure = Some("the vendor reported an error mid-stream".to_string());
                        }
                        Some("response.failed") => {
                            exchange.record.error =
                                Some("the vendor reported the response as failed".to_string());
                        }
                        _ => {}
                    }
                }
                let ending = wire::is_terminator(format, name.as_deref(), &data);
                // A kept response's id is known from its first event, its items' from
                // its last.
                if let Some(kept) = exchange.kept.as_mut()
                    && (ending || data.contains("\"response.created\""))
                    && let Ok(value) = serde_json::from_str::<Value>(&data)
                {
                    kept.extend(moat_service::gateway::kept::kept_ids(&value["response"]));
                }
                // The Responses API's last event is the whole response: it is redacted
                // and restored as any other, then held as the end marker.
                if ending && format != WireFormat::Responses {
                    // Redacting, the end marker is Moat's own: the vendor's could carry
                    // anything in its data.
                    terminator = Some(match format {
                        WireFormat::Anthropic if settings.redact_answers => {
                            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_vec()
                        }
                        _ => raw,
                    });
                    continue;
                }
                let carries_usage = match format {
                    WireFormat::OpenAi => {
                        data.contains("\"usage\":{") || data.contains("\"usage\": {")
                    }
                    WireFormat::Anthropic => {
                        matches!(name.as_deref(), Some("message_start" | "message_delta"))
                    }
                    // The finished response; and the prompt's size as soon as it is
                    // known (a translated stream's first event says it).
                    WireFormat::Responses => {
                        ending
                            || data.contains("\"response.created\"")
                            || data.contains("\"response.in_progress\"")
                    }
                };
                if carries_usage && let Ok(value) = serde_json::from_str::<Value>(&data) {
                    usage.absorb_event(format, &value);
                    // The usage chunk Moat asked for on the client's behalf (no
                    // choices, only usage) is not the client's to see.
                    if format == WireFormat::OpenAi
                        && !client_wants_usage
                        && value["choices"].as_array().is_some_and(Vec::is_empty)
                    {
                        continue;
                    }
                }
                if name.as_deref() == Some("error") {
                    failure = Some("the vendor reported an error mid-stream".to_string());
                }
                // What the model wrote, redacted first when configured: the client,
                // the audit body and provenance all read the redacted text.
                let events: Vec<(Option<String>, String, Vec<u8>)> = match redactor.as_mut() {
                    Some(redactor) => match serde_json::from_str::<Value>(&data) {
                        Ok(value) => redactor
                            .process(name, value)
                            .into_iter()
                            .map(|(name, value)| {
                                let raw = encode_event(name.as_deref(), &value);
                                (name, value.to_string(), raw)
                            })
                            .collect(),
                        // Not JSON: nothing that can be read for what it holds.
                        Err(_) => Vec::new(),
                    },
                    None => vec![(name, data, raw)],
                };
                if let Some(why) = redactor.as_mut().and_then(|r| r.failure()) {
                    failure = Some(why);
                    break 'read;
                }
                let mut out = Vec::new();
                for (name, data, raw) in events {
                    keep_answer(format, &mut answer, &data);
                    match restorer.as_mut() {
                        Some(restorer) => out.extend(restorer.process(name, &data, raw)),
                        None => out.push(raw),
                    }
                }
                if ending {
                    terminator = out.pop();
                }
                for bytes in out {
                    if sender.send(Bytes::from(bytes)).await.is_err() {
                        client_gone = true;
                        break 'read;
                    }
                }
            }
        }
        if let Some(redactor) = redactor.as_mut() {
            for (name, value) in redactor.finish() {
                let data = value.to_string();
                keep_answer(format, &mut answer, &data);
                let raw = encode_event(name.as_deref(), &value);
                let out = match restorer.as_mut() {
                    Some(restorer) => restorer.process(name, &data, raw),
                    None => vec![raw],
                };
                for bytes in out {
                    let _ = sender.send(Bytes::from(bytes)).await;
                }
            }
            exchange.record.answer_redactions = redactor.counts();
        }
        if let Some(restorer) = restorer.as_mut() {
            for bytes in restorer.flush() {
                let _ = sender.send(Bytes::from(bytes)).await;
            }
        }
        // An event stream (Bedrock) with a frame begun after its last event was cut off.
        if failure.is_none()
            && terminator.is_some()
            && frames.as_ref().is_some_and(|f| f.leftover())
        {
            failure = Some("the vendor's stream ended in the middle of a frame".to_string());
        }
        if failure.is_none() && terminator.is_none() && !client_gone {
            failure = Some(
                if splitter.leftover() || frames.as_ref().is_some_and(|f| f.leftover()) {
                    "the vendor's stream ended in the middle of an event".to_string()
                } else {
                    "the vendor's stream ended without its end marker".to_string()
                },
            );
        }
        // A stream the vendor began and that ended before its usage (cut off, failed,
        // or left by the client) is still counted: what was sent and what came back,
        // about four bytes a token, so no stream spends the vendor's tokens for free.
        if usage.input == 0 {
            usage.input = (exchange.sent.len() as u64).div_ceil(4);
        }
        if usage.output == 0 {
            usage.output = (answer.len() as u64).div_ceil(4);
        }
        exchange.record.tokens_in = usage.input;
        exchange.record.tokens_out = usage.output;
        exchange.keep_body(json!({"streamed_text": answer}).to_string().as_bytes());
        exchange.record.answer_text = answer;
        if client_gone {
            exchange.record.aborted = true;
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

/// Adds a stream event's text to the answer kept for the audit body and provenance
/// (as the client got it, before any restoring), bounded.
fn keep_answer(format: WireFormat, answer: &mut String, data: &str) {
    if answer.len() < MAX_KEPT_ANSWER
        && data.contains("\"delta\"")
        && let Ok(value) = serde_json::from_str::<Value>(data)
        && let Some(pointer) = wire::delta_text_pointer(format, &value)
    {
        answer.push_str(value.pointer(pointer).and_then(Value::as_str).unwrap_or(""));
    }
}

pub(super) fn encode_event(name: Option<&str>, value: &Value) -> Vec<u8> {
    sse(name, &value.to_string())
}

fn sse(name: Option<&str>, data: &str) -> Vec<u8> {
    match name {
        Some(name) => format!("event: {name}\ndata: {data}\n\n").into_bytes(),
        None => format!("data: {data}\n\n").into_bytes(),
    }
}
