//! One tracing span per request (target `moat::request`), which `moat serve` exports over
//! OTLP when `[server] otlp_endpoint` is set: method, path and status, and the policy
//! decision as attributes (`moat.decision`, `moat.rule`, `moat.user`) recorded where it
//! is made. An MCP tool call, which rmcp runs on its session's task, has a span of its
//! own.

use axum::body::Body;
use axum::http::{Request, Response};
use std::time::Duration;
use tracing::Span;
use tracing::field::Empty;

/// The span of one HTTP request.
pub fn request_span(request: &Request<Body>) -> Span {
    tracing::info_span!(
        target: "moat::request",
        "request",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        http.response.status_code = Empty,
        moat.decision = Empty,
        moat.rule = Empty,
        moat.user = Empty,
    )
}

/// Records the answer's status on the request's span.
pub fn record_status<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    span.record(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    );
}

/// The span of one MCP tool call.
pub fn tool_span(tool: &str) -> Span {
    tracing::info_span!(
        target: "moat::request",
        "mcp.call",
        mcp.tool = tool,
        moat.decision = Empty,
        moat.rule = Empty,
        moat.user = Empty,
    )
}

/// The policy decision, on `span` (the current request's, by default).
pub fn record_decision(span: &Span, allowed: bool, rule: Option<&str>, user: Option<&str>) {
    span.record("moat.decision", if allowed { "allow" } else { "deny" });
    if let Some(rule) = rule {
        span.record("moat.rule", rule);
    }
    if let Some(user) = user {
        span.record("moat.user", user);
    }
}
