//! The HTTP side of MCP: `/mcp` behind the token layer (scope `mcp`), the RFC 9728
//! metadata documents, and the `WWW-Authenticate` challenge that points MCP clients
//! at them.

use crate::auth::{Guard, require};
use crate::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moat_domain::Scope;

pub fn router(state: AppState) -> axum::Router<AppState> {
    let metadata = axum::Router::new()
        .route("/.well-known/oauth-protected-resource", get(metadata))
        .route("/.well-known/oauth-protected-resource/mcp", get(metadata))
        .route(
            "/.well-known/oauth-protected-resource/v1",
            get(gateway_metadata),
        );
    let Some(context) = state.mcp.clone() else {
        return metadata;
    };
    let service = crate::mcp::service(
        context,
        state.settings.mcp_allowed_hosts.clone(),
        state.settings.mcp_allowed_origins.clone(),
        state.settings.mcp_session_idle,
        state.telemetry.clone(),
    );
    let mcp = axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            state.mcp_guard(),
            crate::mcp_guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Guard {
                state: state.clone(),
                scope: Some(Scope::Mcp),
            },
            require,
        ))
        .layer(axum::middleware::from_fn_with_state(state, challenge));
    metadata.merge(mcp)
}

/// The public base URL: configured, or the `Host` the client used, if it is one of the
/// names this server answers to (`[server] listen`, loopback, the public URL's host).
/// Any other `Host` is refused rather than echoed into a challenge or a metadata
/// document, where a forged one would send a client's token elsewhere.
pub(crate) fn public_url(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<String, ApiError> {
    if let Some(url) = &state.settings.public_url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let known = state
        .settings
        .mcp_allowed_hosts
        .iter()
        .any(|allowed| allowed.trim_matches(['[', ']']).eq_ignore_ascii_case(name));
    let port_ok = host
        .rsplit_once(':')
        .filter(|_| !host.ends_with(']'))
        .is_none_or(|(_, port)| port.parse::<u16>().is_ok());
    if !known || !port_ok || host.contains(['/', '@', '"', ' ', '\\']) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!("this server does not answer to the host `{host}`"),
        )
        .with_hint("reach it by a configured name, or set [server] public_url"));
    }
    Ok(format!("http://{host}"))
}

async fn metadata(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.mcp.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the MCP endpoint is not enabled on this server",
        ));
    }
    let base = public_url(&state, &headers)?;
    Ok(Json(crate::mcp::protected_resource(
        &base,
        moat_domain::Audience::Mcp,
        authorization_server(&state, &base),
    )))
}

async fn gateway_metadata(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.gateway.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the LLM gateway is not enabled on this server",
        ));
    }
    let base = public_url(&state, &headers)?;
    Ok(Json(crate::mcp::protected_resource(
        &base,
        moat_domain::Audience::Gateway,
        authorization_server(&state, &base),
    )))
}

/// Moat itself where it runs its authorization server (every `moat serve`); otherwise
/// the identity provider whose tokens it accepts, if any.
fn authorization_server<'a>(state: &'a AppState, base: &'a str) -> Option<&'a str> {
    match state.oauth {
        Some(_) => Some(base),
        None => state.settings.oidc_issuer.as_deref(),
    }
}

/// A 401 from `/mcp` names the resource metadata, as the MCP authorization spec asks.
async fn challenge(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let base = match public_url(&state, request.headers()) {
        Ok(base) => base,
        Err(refused) => return refused.into_response(),
    };
    let mut response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        // Keep the token layer's `error="invalid_token", error_description=...` (RFC 6750)
        // and add where the metadata is.
        let refused = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.find("error=").map(|at| v[at..].to_string()));
        let mut value = format!(
            "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\""
        );
        if let Some(refused) = refused {
            value.push_str(", ");
            value.push_str(&refused);
        }
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response.into_response()
}
