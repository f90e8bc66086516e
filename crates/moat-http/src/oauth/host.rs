//! `/oauth/host/github/start` and `/callback`: a person signed in at Moat links their
//! GitHub login by signing in to GitHub (see `moat_service::host_sign_in`).

use super::pages::{error_page, page, see_other, session_user};
use super::server_and_base;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_service::host_sign_in::HostSignInError;

const PENDING_COOKIE: &str = "moat_host";

#[derive(serde::Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn cookie(base: &str, value: &str, max_age: u32) -> String {
    let secure = if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{PENDING_COOKIE}={value}; Path=/oauth/host; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

fn with_cookie(mut response: Response, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

const NOT_SIGNED_IN: &str = "sign in to Moat first (connect a tool, or open a sign-in link from `moat login-link`), then open this page again";

/// `GET /oauth/host/github/start`
pub(super) async fn start(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(linker) = state.host_sign_in.clone() else {
        return error_page(
            StatusCode::NOT_FOUND,
            &HostSignInError::NotConfigured.to_string(),
        );
    };
    let base = match server_and_base(&state, &headers) {
        Ok((_, base)) => base,
        Err(refused) => return refused.into_response(),
    };
    let Some(user) = session_user(&state, &headers).await else {
        return error_page(StatusCode::UNAUTHORIZED, NOT_SIGNED_IN);
    };
    let (location, pending) = linker.start(&user, &base);
    with_cookie(see_other(&location), &cookie(&base, &pending, 600))
}

/// `GET /oauth/host/github/callback?code=...&state=...`
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(linker) = state.host_sign_in.clone() else {
        return error_page(
            StatusCode::NOT_FOUND,
            &HostSignInError::NotConfigured.to_string(),
        );
    };
    let base = match server_and_base(&state, &headers) {
        Ok((_, base)) => base,
        Err(refused) => return refused.into_response(),
    };
    let spent = cookie(&base, "", 0);
    let Some(user) = session_user(&state, &headers).await else {
        return with_cookie(error_page(StatusCode::UNAUTHORIZED, NOT_SIGNED_IN), &spent);
    };
    let pending = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == PENDING_COOKIE)
        .map(|(_, value)| value);
    let outcome = linker
        .finish(
            &user,
            &base,
            pending,
            answer.code.as_deref(),
            answer.state.as_deref(),
            answer.error.as_deref(),
        )
        .await;
    let response = match outcome {
        Ok(login) => page(
            StatusCode::OK,
            "GitHub login linked",
            &format!(
                "<p>The GitHub login <b>{}</b> is now linked to <b>{}</b>: repositories GitHub lets that login read are yours to query through Moat, within your organisation's rules.</p>",
                super::pages::escape(&login),
                super::pages::escape(&user.email)
            ),
        ),
        Err(refused) => {
            let status = match refused {
                HostSignInError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                HostSignInError::Taken { .. } => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            error_page(status, &refused.to_string())
        }
    };
    with_cookie(response, &spent)
}
