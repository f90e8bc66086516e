//! The console's handlers: each finds the signed-in person, asks the service, renders.

use super::{address, console, for_change, refusal_for, render, see_other, set_cookie, signed_in};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use moat_policy::Action;
use moat_service::AdminActor;
use moat_service::console::{Console, SignedIn};
use serde::Deserialize;
use std::sync::Arc;

/// The console and its signed-in person, who may read `what` under `action` (`None`:
/// `Administer` for those who hold it, else `ViewAudit`); or the response to send
/// instead (the sign-in page, or the refusal, which is on the record).
pub(super) async fn reader(
    state: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
    action: Option<Action>,
    what: &str,
) -> Result<(Arc<Console>, SignedIn), Box<Response>> {
    let console = console(state)?;
    let signed = signed_in(&console, headers).await?;
    let action = action.unwrap_or_else(|| reading(&signed));
    may_read(&console, &signed, peer, action, what).await?;
    Ok((console, signed))
}

/// Cedar's decision on `action` for the signed-in person: a refusal is recorded and
/// answered as a page.
pub(super) async fn may_read(
    console: &Console,
    signed: &SignedIn,
    peer: &Peer,
    action: Action,
    what: &str,
) -> Result<(), Box<Response>> {
    console
        .authorize(signed, address(peer), action, what)
        .await
        .map_err(|e| Box::new(refusal_for(e, Some(signed))))
}

/// The action a read of the overview or repositories is decided under: `Administer`
/// for those who hold it, else `ViewAudit`.
pub(super) fn reading(signed: &SignedIn) -> Action {
    if signed.abilities.administer {
        Action::Administer
    } else {
        Action::ViewAudit
    }
}

pub(super) async fn overview(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    if !signed.abilities.administer && !signed.abilities.view_audit {
        // Nothing here for them; their own account is.
        return see_other("/console/me");
    }
    tri!(
        may_read(
            &console,
            &signed,
            &peer,
            reading(&signed),
            "console/overview"
        )
        .await
    );
    match console.overview().await {
        Ok(overview) => render::page(StatusCode::OK, render::overview(&signed, &overview)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct SignInQuery {
    #[serde(default)]
    code: String,
}

/// The sign-in page. A link opens it with its code filled in; nothing is redeemed
/// until the person presses the button (a link scanner fetching the URL spends nothing).
pub(super) async fn sign_in_page(
    State(state): State<AppState>,
    query: Result<Query<SignInQuery>, QueryRejection>,
) -> Response {
    let console = tri!(console(&state));
    let code = query.ok().map(|q| q.0.code).unwrap_or_default();
    render::page(
        StatusCode::OK,
        render::sign_in(&code, None, console.has_identity_provider()),
    )
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    code: String,
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    if super::from_another_site(&state, &headers) {
        // A post from elsewhere would sign this browser in as someone else.
        return render::error_page(
            StatusCode::FORBIDDEN,
            "This sign-in was sent from another site's page, so it was refused. Sign in from the console's own page.",
            None,
        );
    }
    let given = form.ok().map(|f| f.0.code).unwrap_or_default();
    // The whole link as pasted, or the code alone.
    let code = given
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|part| part.starts_with("moat_sl_"))
        .unwrap_or(given.trim());
    let actor = AdminActor {
        client: "console".into(),
        address: address(&peer),
        ..AdminActor::default()
    };
    match console.sign_in(code, &actor).await {
        Ok((secret, _)) => {
            let mut response = see_other("/console");
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(Some(&secret), console.settings().absolute_seconds),
            );
            super::secure(response)
        }
        Err(refused) => render::page(
            StatusCode::UNAUTHORIZED,
            render::sign_in(
                "",
                Some(&refused.to_string()),
                console.has_identity_provider(),
            ),
        ),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let csrf = form.ok().map(|f| f.0.csrf).unwrap_or_default();
    tri!(for_change(&state, &console, &headers, &csrf).await);
    if let Some(cookie) = super::cookie(&headers)
        && let Err(error) = console.sign_out(&cookie).await
    {
        return super::refusal(error);
    }
    let mut response = see_other("/console/sign-in");
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(None, 0));
    super::secure(response)
}

pub(super) async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    // A person's own account, tokens, access and record need no organisation action.
    match console.person(&signed.user.id.0).await {
        Ok(detail) => render::page(StatusCode::OK, render::me(&signed, &detail)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}
