//! `/oauth/host/{host}/start` and `/callback`: a person signed in at Moat links their
//! GitHub or GitLab login by signing in to the host (see
//! `moat_service::host_sign_in`).

use super::pages::{error_page, page, see_other, session_user};
use super::server_and_base;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_service::host_sign_in::{HostCallback, HostSignInError};

const NOT_SIGNED_IN: &str = "sign in to Moat first (connect a tool, or open a sign-in link from `moat login-link`), then open this page again";

/// The pending sign-in's cookie, one per host.
fn cookie_name(host: &str) -> String {
    format!("moat_host_{host}")
}

fn cookie(host: &str, base: &str, value: &str, max_age: u32) -> String {
    let secure = if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/oauth/host/{host}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(host)
    )
}

fn with_cookie(mut response: Response, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn known(host: &str) -> bool {
    host == "github" || host == "gitlab"
}

/// `GET /oauth/host/{host}/start`
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(host): Path<String>,
) -> Response {
    let linker = match state.host_sign_in.clone() {
        Some(linker) if known(&host) => linker,
        _ => return error_page(StatusCode::NOT_FOUND, "no such host sign-in here"),
    };
    let base = match server_and_base(&state, &headers) {
        Ok((_, base)) => base,
        Err(refused) => return refused.into_response(),
    };
    let Some(user) = session_user(&state, &headers).await else {
        return error_page(StatusCode::UNAUTHORIZED, NOT_SIGNED_IN);
    };
    match linker.start(&host, &user, &base) {
        Ok((location, pending)) => {
            with_cookie(see_other(&location), &cookie(&host, &base, &pending, 600))
        }
        Err(refused) => error_page(StatusCode::NOT_FOUND, &refused.to_string()),
    }
}

/// `GET /oauth/host/{host}/callback?code=...&state=...`
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(host): Path<String>,
    Query(answer): Query<HostCallback>,
) -> Response {
    let linker = match state.host_sign_in.clone() {
        Some(linker) if known(&host) => linker,
        _ => return error_page(StatusCode::NOT_FOUND, "no such host sign-in here"),
    };
    let base = match server_and_base(&state, &headers) {
        Ok((_, base)) => base,
        Err(refused) => return refused.into_response(),
    };
    // The pending sign-in is used once, whatever happens.
    let spent = cookie(&host, &base, "", 0);
    let Some(user) = session_user(&state, &headers).await else {
        return with_cookie(error_page(StatusCode::UNAUTHORIZED, NOT_SIGNED_IN), &spent);
    };
    let name = cookie_name(&host);
    let pending = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value);
    let response = match linker.finish(&host, &user, &base, pending, &answer).await {
        Ok(login) => page(
            StatusCode::OK,
            "Login linked",
            maud::html! {
                p {
                    "The " (host) " login " b { (login) } " is now linked to " b { (user.email) }
                    ": repositories the host lets that login read are yours to query through Moat, within your organisation's rules."
                }
            },
        ),
        Err(refused) => {
            let status = match refused {
                HostSignInError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                HostSignInError::Taken { .. } => StatusCode::CONFLICT,
                HostSignInError::NotConfigured(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            error_page(status, &refused.to_string())
        }
    };
    with_cookie(response, &spent)
}
