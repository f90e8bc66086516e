//! The one authentication layer: every protected router is wrapped in [`require`] with
//! the scope it needs. Accepts `Authorization: Bearer <token>` and `x-api-key: <token>`;
//! the resulting [`Principal`] is put in the request extensions for handlers.

use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moat_domain::Scope;
use moat_service::{AuthError, Principal};

/// Which scope a router needs; `None` accepts any valid token.
#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    pub scope: Option<Scope>,
}

pub async fn require(
    State(guard): State<Guard>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let result = match presented_secret(request.headers()) {
        None => Err(AuthError::Missing),
        Some(secret) => match guard.scope {
            Some(scope) => guard.state.identity.authenticate(secret, scope).await,
            None => guard.state.identity.identify(secret).await,
        },
    };
    match result {
        Ok(principal) => {
            let address = request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip().to_string());
            let actor = moat_service::AdminActor {
                user: Some(principal.user.id.0.clone()),
                email: Some(principal.user.email.clone()),
                token_id: Some(principal.token_id.0.clone()),
                client: "api".to_string(),
                address,
            };
            request.extensions_mut().insert(actor);
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => {
            tracing::info!(%error, path = %request.uri().path(), "request refused");
            ApiError::from(error).into_response()
        }
    }
}

/// The token from `Authorization: Bearer` (scheme case-insensitive) or `x-api-key`.
pub(crate) fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The caller, for handlers behind [`require`].
pub type Caller = axum::Extension<Principal>;

/// The caller as the audit log names them, for handlers that change things.
pub type Actor = axum::Extension<moat_service::AdminActor>;
