//! What a person sees while a tool connects: the sign-in page, the consent page, and
//! errors that must not be sent to an unchecked redirect URI. Plain HTML with no
//! script; every value is escaped by the templates (maud); pages cannot be framed (clickjacking on consent),
//! send no referrer to other sites (a sign-in code must not leak) and are never cached.
//! Their forms refuse a post from another site's page (`Origin`), which would sign a
//! person's browser in as someone else (login CSRF).

use super::{Peer, actor, server_and_base};
use crate::AppState;
use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use moat_domain::{Audience, User};
use moat_service::AdminActor;
use moat_service::oauth::flow::redirect_with;
use moat_service::oauth::{AuthorizeError, AuthorizeRequest, ClientSource, Consent};
use std::net::SocketAddr;

pub(super) const SESSION_COOKIE: &str = "moat_session";

/// The pages' style sheet, inline (the pages load nothing).
const STYLE: &str = "body{font:16px system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#1d2330}\
h1{font-size:1.4em}.box{border:1px solid #ccd;border-radius:8px;padding:1em 1.2em}\
button,a.button{font:inherit;padding:.5em 1.2em;margin-right:.6em}a.button{display:inline-block;border:1px solid #556;border-radius:3px;color:inherit;text-decoration:none}input[type=text]{font:inherit;width:100%;padding:.4em}\
.warn{color:#8a4b00}code{background:#f2f3f7;padding:0 .2em}";

/// A page: maud escapes every value put in it.
pub(super) fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                title { (title) " · Moat" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                (body)
            }
        }
    };
    let mut response = (status, Html(html.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under the latter browsers send `Origin: null` on
    // the page's own form posts, and the origin check below needs the real one.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Cannot connect",
        html! {
            p.box { (message) }
            p { "Close this page and start again from your tool." }
        },
    )
}

/// A form post from a page of another site (or an opaque one): browsers send `Origin`
/// on every form post, and this server's own pages are at `base`. Clients that are not
/// browsers send none and are not affected.
fn from_another_site(headers: &HeaderMap, base: &str) -> bool {
    headers.get(header::ORIGIN).is_some_and(|origin| {
        origin
            .to_str()
            .map_or(true, |o| o.trim_end_matches('/') != base)
    })
}

/// The server and base URL for a form post from one of Moat's own pages; the refusal
/// (as a page) for a post from another site.
fn form_context(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<moat_service::oauth::OAuthServer>, String), Box<Response>> {
    let (server, base) =
        server_and_base(state, headers).map_err(|refused| Box::new(refused.into_response()))?;
    if from_another_site(headers, &base) {
        return Err(Box::new(error_page(
            StatusCode::FORBIDDEN,
            "this form was sent from another site's page; sign in from Moat's own page",
        )));
    }
    Ok((server, base))
}

pub(super) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, "the redirect URI cannot be used"),
    }
}

/// The signed-in person of this browser, if any.
pub(super) async fn session_user(state: &AppState, headers: &HeaderMap) -> Option<User> {
    let server = state.oauth.as_ref()?;
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())?;
    server.session_user(&cookie).await.ok().flatten()
}

fn person_actor(user: &User, address: Option<SocketAddr>) -> AdminActor {
    AdminActor {
        user: Some(user.id.0.clone()),
        email: Some(user.email.clone()),
        ..actor(address)
    }
}

/// `GET /oauth/authorize`: checks the request, then asks the person to sign in or
/// to consent.
pub(super) async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    query: Result<Query<AuthorizeRequest>, QueryRejection>,
) -> Response {
    let (server, base) = match server_and_base(&state, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let raw = raw.unwrap_or_default();
    let Ok(Query(request)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "the authorization request is malformed",
        );
    };
    let consent = match server.check_request(request, &base).await {
        Ok(consent) => consent,
        Err(refused) => return refusal(refused, &base),
    };
    let Some(user) = session_user(&state, &headers).await else {
        return sign_in_form(
            &format!("/oauth/authorize?{raw}"),
            Some(&consent.client.name),
            "",
            server.has_identity_provider(),
        );
    };
    if let Err(refused) = server.may_sign_in(&user) {
        return error_page(StatusCode::FORBIDDEN, &refused.to_string());
    }
    match server.ask_consent(&consent, &user).await {
        Ok(id) => consent_page(&consent, &user, &id),
        Err(error) => {
            tracing::error!(%error, "cannot keep a consent request");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Moat cannot answer right now; try again shortly",
            )
        }
    }
}

fn refusal(refused: AuthorizeError, base: &str) -> Response {
    match refused {
        AuthorizeError::Show(message) => error_page(StatusCode::BAD_REQUEST, &message),
        AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        } => see_other(&redirect_with(
            &redirect_uri,
            &[("error", error), ("error_description", &description)],
            state.as_deref(),
            base,
        )),
        AuthorizeError::Unavailable(error) => {
            tracing::error!(%error, "authorization failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Moat cannot answer right now; try again shortly",
            )
        }
    }
}

fn consent_page(consent: &Consent, user: &User, id: &str) -> Response {
    let what = match consent.audience {
        Audience::Mcp => {
            "search and read the code you may see, through Moat's MCP server (every read is recorded and filtered by your permissions and each repository's tier)"
        }
        Audience::Gateway => {
            "send prompts to the models your organisation approved, through Moat's gateway (recorded, with secrets redacted)"
        }
    };
    let source = match consent.client.source {
        ClientSource::Config => html! { "configured by your administrators" },
        ClientSource::Registered => html! {
            span.warn { "registered itself: this name is its own claim, not verified by Moat" }
        },
        ClientSource::MetadataDocument => html! {
            "described by its metadata document at "
            code {
                (consent
                    .client
                    .id
                    .split("://")
                    .nth(1)
                    .and_then(|rest| rest.split('/').next())
                    .unwrap_or(&consent.client.id))
            }
        },
    };
    let redirect_host = consent
        .redirect_uri
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(rest))
        .unwrap_or(&consent.redirect_uri);
    let body = html! {
        div.box {
            p {
                b { (consent.client.name) } " (" (source) ") asks to act as "
                b { (user.email) } " and " (what) "."
            }
            p {
                "Resource: " code { (consent.resource) } br;
                "Access lasts until you or an administrator revoke it. Your answer goes back to "
                code { (redirect_host) } "."
            }
        }
        form method="post" action="/oauth/authorize" {
            input type="hidden" name="consent" value=(id);
            p {
                button type="submit" name="decision" value="allow" { "Allow" }
                button type="submit" name="decision" value="deny" { "Deny" }
            }
        }
    };
    page(StatusCode::OK, "Connect a tool to Moat", body)
}

#[derive(serde::Deserialize)]
pub(super) struct Decision {
    consent: String,
    decision: String,
}

/// `POST /oauth/authorize`: the person's answer on the consent page.
pub(super) async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(address): Peer,
    form: Result<Form<Decision>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (server, base) = match form_context(&state, &headers) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let Ok(Form(decision)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "the consent form is incomplete");
    };
    let Some(user) = session_user(&state, &headers).await else {
        return error_page(
            StatusCode::UNAUTHORIZED,
            "you are not signed in at Moat in this browser",
        );
    };
    let allow = match decision.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "the answer must be allow or deny"),
    };
    let actor = person_actor(&user, address);
    match server
        .decide(&decision.consent, &user, allow, &base, &actor)
        .await
    {
        Ok(location) => see_other(&location),
        Err(refused) => refusal(refused, &base),
    }
}

pub(super) fn sign_in_form(
    return_to: &str,
    client: Option<&str>,
    message: &str,
    idp: bool,
) -> Response {
    let company = idp && return_to.starts_with("/oauth/authorize?");
    let body = html! {
        @if let Some(name) = client {
            p { "Sign in to connect " b { (name) } "." }
        }
        @if !message.is_empty() {
            p.box.warn { (message) }
        }
        @if company {
            p {
                a.button href=(format!("/oauth/idp/start?return_to={}", moat_service::oauth::flow::percent_encode(return_to))) {
                    "Sign in with your company account"
                }
            }
            p { "or" }
        }
        form method="post" action="/oauth/sign-in" {
            p {
                label {
                    "One-time sign-in link or code" br;
                    input type="text" name="code" autocomplete="off" autofocus;
                }
            }
            input type="hidden" name="return_to" value=(return_to);
            p { button type="submit" { "Sign in" } }
        }
        p {
            "No link? An administrator prints one with "
            code { "moat login-link you@company.com" }
            ". Moat never asks for a password."
        }
    };
    page(StatusCode::OK, "Sign in to Moat", body)
}

#[derive(serde::Deserialize)]
pub(super) struct SignInQuery {
    code: Option<String>,
}

/// `GET /oauth/sign-in?code=…`: the page a sign-in link opens. It does not sign in by
/// itself (a link scanner or preview fetching the URL must not spend the link): the
/// person presses the button.
pub(super) async fn sign_in_page(
    axum::extract::Query(query): axum::extract::Query<SignInQuery>,
) -> Response {
    let code = query.code.unwrap_or_default();
    let body = html! {
        form method="post" action="/oauth/sign-in" {
            input type="hidden" name="code" value=(code);
            p { button type="submit" { "Sign in" } }
        }
    };
    page(StatusCode::OK, "Sign in to Moat", body)
}

#[derive(serde::Deserialize)]
pub(super) struct SignIn {
    code: String,
    #[serde(default)]
    return_to: String,
}

/// `POST /oauth/sign-in`: redeems a sign-in link, sets the session cookie, and goes
/// back to the authorization request that asked for it (only ever to one).
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(address): Peer,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (server, base) = match form_context(&state, &headers) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let Ok(Form(form)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "the sign-in form is incomplete");
    };
    // Accept the whole link as pasted, or the code alone.
    let code = form
        .code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|part| part.starts_with("moat_sl_"))
        .unwrap_or(form.code.trim());
    let return_to = Some(form.return_to.as_str()).filter(|r| r.starts_with("/oauth/authorize?"));
    match server.redeem_sign_in_link(code, &actor(address)).await {
        Ok((session, user)) => {
            let cookie = session_cookie(&server, &base, &session);
            let mut response = match return_to {
                Some(back) => see_other(back),
                None => page(
                    StatusCode::OK,
                    "Signed in",
                    html! {
                        p {
                            "You are signed in to Moat as " b { (user.email) }
                            ". Go back to your tool and connect again."
                        }
                    },
                ),
            };
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(refused) => {
            let mut response = sign_in_form(
                return_to.unwrap_or(""),
                None,
                &refused.to_string(),
                server.has_identity_provider(),
            );
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

/// The `Set-Cookie` value of a browser session.
pub(super) fn session_cookie(
    server: &moat_service::oauth::OAuthServer,
    base: &str,
    session: &str,
) -> String {
    let secure = if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={session}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        server.settings().session_ttl_seconds
    )
}
