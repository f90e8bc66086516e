//! The browser's two legs of a sign-in through the company's identity provider:
//! `/oauth/idp/start` sends it to the provider with a cookie remembering the request,
//! `/oauth/idp/callback` finishes it (see `moat_service::oauth::idp`).

use super::pages::{error_page, see_other, session_cookie, sign_in_form};
use super::{Peer, actor, server_and_base};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_service::oauth::{IdpCallback, IdpError};

const PENDING_COOKIE: &str = "moat_idp";

/// Where a sign-in for the console returns.
const CONSOLE: &str = "/console";

#[derive(serde::Deserialize)]
pub(super) struct Start {
    #[serde(default)]
    return_to: String,
}

fn cookie_of<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

fn secure(base: &str) -> &'static str {
    if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /oauth/idp/start?return_to=/oauth/authorize?...`
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Start>,
) -> Response {
    let (server, base) = match server_and_base(&state, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    // Only ever back to an authorization request of this server, or its console.
    let to_console = query.return_to == CONSOLE && state.console.is_some();
    if !query.return_to.starts_with("/oauth/authorize?") && !to_console {
        return error_page(
            StatusCode::BAD_REQUEST,
            "sign-in starts from your tool's connection request; connect from the tool again",
        );
    }
    match server.idp_start(&base, &query.return_to).await {
        Ok(started) => {
            let cookie = format!(
                "{PENDING_COOKIE}={}; Path=/oauth/idp; HttpOnly; SameSite=Lax; Max-Age=600{}",
                started.cookie,
                secure(&base)
            );
            with_cookie(see_other(&started.location), &cookie)
        }
        Err(IdpError::NotConfigured) => {
            error_page(StatusCode::NOT_FOUND, &IdpError::NotConfigured.to_string())
        }
        Err(error) => error_page(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    }
}

/// `GET /oauth/idp/callback?code=...&state=...`: the provider sends the browser back.
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(address): Peer,
    Query(answer): Query<IdpCallback>,
) -> Response {
    let (server, base) = match server_and_base(&state, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    // The pending request is used once, whatever happens.
    let spent = format!(
        "{PENDING_COOKIE}=; Path=/oauth/idp; HttpOnly; SameSite=Lax; Max-Age=0{}",
        secure(&base)
    );
    let pending = cookie_of(&headers, PENDING_COOKIE);
    match server
        .idp_finish(&base, pending, &answer, &actor(address))
        .await
    {
        Ok((user, return_to)) if return_to == CONSOLE => {
            let response = crate::console::signed_in_by_provider(&state, user).await;
            with_cookie(response, &spent)
        }
        Ok((user, return_to)) => {
            let session = match server.start_session(&user).await {
                Ok(session) => session,
                Err(refused) => {
                    return with_cookie(
                        error_page(StatusCode::SERVICE_UNAVAILABLE, &refused.to_string()),
                        &spent,
                    );
                }
            };
            let back = if return_to.starts_with("/oauth/authorize?") {
                return_to
            } else {
                "/oauth/sign-in".into()
            };
            let response = with_cookie(see_other(&back), &spent);
            with_cookie(response, &session_cookie(&server, &base, &session))
        }
        Err(refused) => {
            let status = match &refused {
                IdpError::SignIn(moat_service::oauth::SignInError::Unavailable) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                IdpError::NotConfigured => StatusCode::NOT_FOUND,
                IdpError::NoAccount(_) | IdpError::SignIn(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::warn!(reason = %refused, "sign-in through the identity provider refused");
            let mut response = sign_in_form("", None, &refused.to_string(), false);
            *response.status_mut() = status;
            with_cookie(response, &spent)
        }
    }
}
