//! Every request has a size and a time limit; past either it gets 413 or 408 as JSON.
//!
//! `DefaultBodyLimit` (set in [`crate::router`]) bounds any extractor that reads the
//! body, including chunked bodies without a length; [`enforce`] refuses a declared
//! `Content-Length` over the limit before a byte is read, and bounds the handler's time.

use crate::ApiError;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

pub async fn enforce(State(limits): State<Limits>, request: Request<Body>, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let gateway = crate::gateway::format_for_path(request.uri().path());
    if declared.is_some_and(|len| len > limits.max_body_bytes as u64) {
        if let Some(format) = gateway {
            // The gateway answers in the caller's own wire format.
            return crate::gateway::GatewayError::new(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!(
                    "the request body is larger than {} bytes; send less context",
                    limits.max_body_bytes
                ),
            )
            .into_response();
        }
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than {} bytes",
                limits.max_body_bytes
            ),
        )
        .with_hint("send a smaller body; the limit is [server] max_body_bytes")
        .into_response();
    }
    // A model may think for longer than any API call takes; the gateway bounds the
    // wait for the vendor's first byte itself ([gateway] first_byte_timeout).
    if gateway.is_some() {
        return next.run(request).await;
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request did not finish within {} seconds",
                limits.request_timeout.as_secs()
            ),
        )
        .with_hint("retry with a smaller request; the limit is [server] request_timeout")
        .into_response(),
    }
}
