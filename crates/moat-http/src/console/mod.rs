//! `/console`: the security team's console, server-rendered HTML with no script at all
//! (so it reads with JavaScript off, and the Content Security Policy can refuse every
//! script and inline style), over `moat_service::console`, which decides everything.
//!
//! Every response carries a strict CSP, refuses framing, sends no referrer to other
//! sites and is never cached. The session cookie is `HttpOnly; Secure;
//! SameSite=Strict` on `/console` only. Every change is a form post that must carry the
//! session's CSRF token and must not come from another site (`Origin`,
//! `Sec-Fetch-Site`); Cedar decides each page and change for the signed-in person.

/// The value of a `Result<T, Box<Response>>`, or return the response.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return *response,
        }
    };
}

mod access;
mod audit;
mod exceptions;
mod incidents;
mod kill_switches;
mod models;
mod pages;
mod people;
mod person;
mod policy;
mod render;
mod repos;

use crate::AppState;
use crate::oauth::Peer;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use moat_service::console::{Console, ConsoleError, SignedIn};
use std::sync::Arc;

pub(crate) const COOKIE: &str = "moat_console";

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::overview))
        .route("/console/", get(pages::overview))
        .route("/console/style.css", get(stylesheet))
        .route(
            "/console/sign-in",
            get(pages::sign_in_page).post(pages::sign_in),
        )
        .route("/console/sign-out", post(pages::sign_out))
        .route("/console/me", get(pages::me))
        .route("/console/people", get(people::people))
        .route("/console/people/{user}", get(person::person))
        .route("/console/people/{user}/suspend", post(people::suspend))
        .route(
            "/console/people/{user}/deprovision",
            post(person::deprovision),
        )
        .route(
            "/console/people/{user}/reactivate",
            post(people::reactivate),
        )
        .route("/console/access", get(access::access))
        .route("/console/models", get(models::models))
        .route("/console/policy", get(policy::policy))
        .route("/console/exceptions", get(exceptions::exceptions))
        .route("/console/exceptions/{id}", post(exceptions::review))
        .route("/console/incidents", get(incidents::incidents))
        .route(
            "/console/incidents/{id}",
            get(incidents::incident).post(incidents::step),
        )
        .route(
            "/console/kill-switches",
            get(kill_switches::page).post(kill_switches::engage),
        )
        .route(
            "/console/kill-switches/release",
            post(kill_switches::release),
        )
        .route("/console/policy.md", get(policy::markdown))
        .route("/console/repos", get(repos::repos))
        .route("/console/repos/{repo}/tier", post(repos::reclassify))
        .route("/console/audit", get(audit::audit))
        .route("/console/audit/verify", get(audit::verify))
        .route("/console/audit/export", get(audit::export))
        .route("/console/evidence", get(audit::evidence_page))
        .route("/console/evidence.zip", get(audit::evidence))
        .route("/console/audit/{seq}", get(audit::audit_event))
}

async fn stylesheet() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("style.css"),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The headers every console page carries.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The console, or a page saying it is not served here.
fn console(state: &AppState) -> Result<Arc<Console>, Box<Response>> {
    state.console.clone().ok_or_else(|| {
        Box::new(render::error_page(
            StatusCode::NOT_FOUND,
            "The console is not served by this node.",
            None,
        ))
    })
}

/// The session cookie's value, if the browser sent one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value for `secret` (or, with `None`, the one that clears it).
fn set_cookie(secret: Option<&str>, max_age: i64) -> HeaderValue {
    let value = match secret {
        Some(secret) => format!(
            "{COOKIE}={secret}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
        ),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn see_other(location: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

/// The signed-in person, or the response to send instead: the sign-in page for a
/// browser without a live session.
async fn signed_in(console: &Console, headers: &HeaderMap) -> Result<SignedIn, Box<Response>> {
    let Some(cookie) = cookie(headers) else {
        return Err(Box::new(see_other("/console/sign-in")));
    };
    match console.session(&cookie).await {
        Ok(Some(signed)) => Ok(signed),
        Ok(None) => {
            let mut response = see_other("/console/sign-in");
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(None, 0));
            Err(Box::new(response))
        }
        Err(error) => Err(Box::new(refusal(error))),
    }
}

/// Whether a form post came from another site's page (a browser names the page's
/// origin in `Origin`, and says `cross-site` in `Sec-Fetch-Site`). The session cookie
/// is `SameSite=Strict` and changes carry a CSRF token as well.
fn from_another_site(state: &AppState, headers: &HeaderMap) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site");
    let origin_elsewhere = headers.get(header::ORIGIN).is_some_and(|origin| {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        match crate::mcp_routes::public_url(state, headers) {
            Ok(base) => origin.trim_end_matches('/') != base,
            Err(_) => true,
        }
    });
    cross_site || origin_elsewhere
}

/// The signed-in person of a change, after the checks every change passes: from this
/// site, with the session's CSRF token.
async fn for_change(
    state: &AppState,
    console: &Console,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<SignedIn, Box<Response>> {
    if from_another_site(state, headers) {
        return Err(Box::new(render::error_page(
            StatusCode::FORBIDDEN,
            "This change was sent from another site's page, so it was refused. Make changes from the console's own pages.",
            None,
        )));
    }
    let signed = signed_in(console, headers).await?;
    if !signed.csrf_matches(csrf) {
        return Err(Box::new(render::error_page(
            StatusCode::FORBIDDEN,
            "This form is out of date or was not made by the console (its CSRF token does not match your session). Reload the page and try again.",
            Some(&signed),
        )));
    }
    Ok(signed)
}

/// The end of a sign-in at the company's identity provider (its callback is the
/// authorization server's, `/oauth/idp/callback`): a console session for `user`. The
/// browser arrives here from the provider's site, so a `SameSite=Strict` cookie set now
/// is not sent on a redirect that continues the same chain; a page on this site that
/// moves on by itself (and by its link, without a refresh) starts a new, same-site one.
pub(crate) async fn signed_in_by_provider(state: &AppState, user: moat_domain::User) -> Response {
    let console = match console(state) {
        Ok(console) => console,
        Err(response) => return *response,
    };
    match console.start_session(user).await {
        Ok((secret, signed)) => {
            let mut response = render::page(StatusCode::OK, render::continue_to_console(&signed));
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(Some(&secret), console.settings().absolute_seconds),
            );
            response
        }
        Err(refused) => render::page(
            StatusCode::FORBIDDEN,
            render::sign_in(
                "",
                Some(&refused.to_string()),
                console.has_identity_provider(),
            ),
        ),
    }
}

fn address(peer: &Peer) -> Option<String> {
    peer.address().map(|a| a.ip().to_string())
}

/// A refusal or failure from the service as a page.
fn refusal(error: ConsoleError) -> Response {
    refusal_for(error, None)
}

fn refusal_for(error: ConsoleError, signed: Option<&SignedIn>) -> Response {
    let status = match &error {
        ConsoleError::Denied(_) => StatusCode::FORBIDDEN,
        ConsoleError::Invalid(_) => StatusCode::BAD_REQUEST,
        ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
        ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let message = match &error {
        ConsoleError::Denied(reason) => {
            format!("Refused by the organisation's access policy: {reason}")
        }
        other => other.to_string(),
    };
    render::error_page(status, &message, signed)
}
