//! The OAuth 2.1 authorization server's endpoints (the use cases are
//! `moat_service::oauth`): RFC 8414 metadata (also at the OpenID discovery path MCP
//! clients try), RFC 7591 registration, the token and RFC 7009 revocation endpoints
//! here; the pages a person sees (sign-in, consent) in [`pages`].

mod host;
mod idp;
mod pages;

use crate::mcp_routes::public_url;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use moat_service::AdminActor;
use moat_service::oauth::clients::RegistrationRequest;
use moat_service::oauth::{OAuthServer, TokenGrant};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/oauth/register", post(register))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route(
            "/oauth/authorize",
            get(pages::authorize).post(pages::decide),
        )
        .route(
            "/oauth/sign-in",
            get(pages::sign_in_page).post(pages::sign_in),
        )
        .route("/oauth/idp/start", get(idp::start))
        .route("/oauth/idp/callback", get(idp::callback))
        .route("/oauth/host/{host}/start", get(host::start))
        .route("/oauth/host/{host}/callback", get(host::callback))
}

/// The authorization server, or 404 where none runs.
fn server(state: &AppState) -> Result<Arc<OAuthServer>, ApiError> {
    state.oauth.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this server does not run an OAuth authorization server",
        )
        .with_hint("use a token from `moat token issue` in an Authorization header")
    })
}

/// The server and the public base URL this request reached it at, or the refusal.
pub(crate) fn server_and_base(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<OAuthServer>, String), ApiError> {
    Ok((server(state)?, public_url(state, headers)?))
}

/// The caller's address, when the server knows it (always, behind `server::serve_with`).
pub(crate) struct Peer(Option<SocketAddr>);

impl Peer {
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        self.0
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        ))
    }
}

/// The actor of an unauthenticated OAuth request, as the audit log names it.
fn actor(address: Option<SocketAddr>) -> AdminActor {
    AdminActor {
        client: "oauth".into(),
        address: address.map(|a| a.ip().to_string()),
        ..AdminActor::default()
    }
}

/// RFC 8414 authorization server metadata; `issuer` is the public URL.
pub fn server_metadata(base: &str, server: &OAuthServer) -> serde_json::Value {
    let mut metadata = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["mcp", "gateway"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": server.settings().metadata_documents,
    });
    if server.settings().dynamic_registration {
        metadata["registration_endpoint"] = json!(format!("{base}/oauth/register"));
    }
    metadata
}

async fn metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let server = server(&state)?;
    let base = public_url(&state, &headers)?;
    Ok(Json(server_metadata(&base, &server)))
}

/// An OAuth error body (RFC 6749 §5.2, RFC 7591 §3.2.2), never cached.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response(),
    )
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn register(
    State(state): State<AppState>,
    Peer(address): Peer,
    body: axum::body::Bytes,
) -> Response {
    let server = match server(&state) {
        Ok(server) => server,
        Err(error) => return error.into_response(),
    };
    let request: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                &format!("the registration is not a JSON object of client metadata: {error}"),
            );
        }
    };
    match server.register(&actor(address), request).await {
        Ok(client) => no_store(
            (
                StatusCode::CREATED,
                Json(json!({
                    "client_id": client.id,
                    "client_name": client.name,
                    "redirect_uris": client.redirect_uris,
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                })),
            )
                .into_response(),
        ),
        Err(error) => {
            let status = match error.code() {
                "server_error" => StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable" => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            };
            oauth_error(status, error.code(), &error.to_string())
        }
    }
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(address): Peer,
    form: Result<Form<TokenGrant>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (server, base) = match server_and_base(&state, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let Ok(Form(grant)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded",
        );
    };
    match server.exchange(grant, &base, &actor(address)).await {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(error) => {
            let status = match error.code() {
                "invalid_client" => StatusCode::UNAUTHORIZED,
                "server_error" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            oauth_error(status, error.code(), &error.to_string())
        }
    }
}

#[derive(serde::Deserialize)]
struct Revocation {
    token: Option<String>,
    client_id: Option<String>,
}

/// RFC 7009: 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    Peer(address): Peer,
    form: Result<Form<Revocation>, axum::extract::rejection::FormRejection>,
) -> Response {
    let server = match server(&state) {
        Ok(server) => server,
        Err(error) => return error.into_response(),
    };
    let Ok(Form(Revocation {
        token: Some(token),
        client_id,
    })) = form
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send `token` (and `client_id`) as application/x-www-form-urlencoded",
        );
    };
    match server
        .revoke_token(&token, client_id.as_deref(), &actor(address))
        .await
    {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            error.code(),
            &error.to_string(),
        ),
    }
}
