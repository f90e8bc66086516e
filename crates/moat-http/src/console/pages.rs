//! The console's handlers: each finds the signed-in person, asks the service, renders.

use super::{address, console, for_change, refusal_for, render, see_other, set_cookie, signed_in};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use moat_domain::{Tier, UserStatus};
use moat_policy::Action;
use moat_service::AdminActor;
use moat_service::console::views::{AuditQuery, PeopleQuery};
use moat_service::console::{Console, SignedIn};
use serde::Deserialize;

/// Pages that need one of two actions: refused (and recorded) only when neither holds.
async fn may_read(
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
fn reading(signed: &SignedIn) -> Action {
    if signed.abilities.administer {
        Action::Administer
    } else {
        Action::ViewAudit
    }
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return *response,
        }
    };
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
    csrf: String,
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
    match state.identity.tokens(Some(&signed.user.id.0)).await {
        Ok(tokens) => render::page(StatusCode::OK, render::me(&signed, &tokens)),
        Err(error) => refusal_for(
            moat_service::console::ConsoleError::Unavailable(error.to_string()),
            Some(&signed),
        ),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct PeopleParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<usize>,
}

pub(super) async fn people(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<PeopleParams>, QueryRejection>,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    tri!(
        may_read(
            &console,
            &signed,
            &peer,
            Action::Administer,
            "console/people"
        )
        .await
    );
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    people_page(&console, &signed, &peer, params, None, StatusCode::OK).await
}

async fn people_page(
    console: &Console,
    signed: &SignedIn,
    peer: &Peer,
    params: PeopleParams,
    notice: Option<&str>,
    status_code: StatusCode,
) -> Response {
    let status = params.status.parse::<UserStatus>().ok();
    let query = PeopleQuery {
        search: Some(params.q.clone()),
        status,
        page: params.page.unwrap_or(1),
    };
    if let Err(error) = console.record_read(signed, address(peer), "users").await {
        return refusal_for(error, Some(signed));
    }
    match console.people(&query).await {
        Ok(page) => render::page(
            status_code,
            render::people(signed, &page, &params.q, status, notice),
        ),
        Err(error) => refusal_for(error, Some(signed)),
    }
}

pub(super) async fn suspend(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(user): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    change_status(state, peer, headers, user, form, true).await
}

pub(super) async fn reactivate(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(user): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    change_status(state, peer, headers, user, form, false).await
}

async fn change_status(
    state: AppState,
    peer: Peer,
    headers: HeaderMap,
    user: String,
    form: Result<Form<CsrfForm>, FormRejection>,
    suspend: bool,
) -> Response {
    let console = tri!(console(&state));
    let csrf = form.ok().map(|f| f.0.csrf).unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &csrf).await);
    let changed = if suspend {
        console.suspend(&signed, address(&peer), &user).await
    } else {
        console.reactivate(&signed, address(&peer), &user).await
    };
    match changed {
        Ok(person) => {
            let notice = format!(
                "{} is now {}.{}",
                person.email,
                person.status,
                if suspend {
                    " Their tokens are refused and their sessions and grants ended."
                } else {
                    ""
                }
            );
            let params = PeopleParams {
                q: person.email.clone(),
                ..PeopleParams::default()
            };
            people_page(
                &console,
                &signed,
                &peer,
                params,
                Some(&notice),
                StatusCode::OK,
            )
            .await
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

pub(super) async fn repos(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    tri!(may_read(&console, &signed, &peer, reading(&signed), "console/repos").await);
    repos_page(&console, &signed, None)
}

fn repos_page(console: &Console, signed: &SignedIn, notice: Option<&str>) -> Response {
    let deployment = console.deployment();
    render::page(
        StatusCode::OK,
        render::repos(
            signed,
            &deployment.repos,
            deployment.follows_published,
            notice,
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct TierForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tier: String,
}

pub(super) async fn reclassify(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(repo): Path<String>,
    form: Result<Form<TierForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let (csrf, tier) = form.ok().map(|f| (f.0.csrf, f.0.tier)).unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &csrf).await);
    let Ok(tier) = tier.parse::<Tier>() else {
        return render::error_page(
            StatusCode::BAD_REQUEST,
            "Choose a tier: public, internal, confidential or restricted.",
            Some(&signed),
        );
    };
    match console
        .reclassify(&signed, address(&peer), &repo, tier)
        .await
    {
        Ok(version) => repos_page(
            &console,
            &signed,
            Some(&format!(
                "`{repo}` is now {tier}: published as configuration version {version}; every node applies it within a second, and the next MCP call is decided under it."
            )),
        ),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct AuditParams {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    from: Option<u64>,
}

pub(super) async fn audit(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    tri!(may_read(&console, &signed, &peer, Action::ViewAudit, "console/audit").await);
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let query = AuditQuery {
        filter: moat_service::audit::search::Filter {
            actor: given(&params.actor),
            action: given(&params.action),
            repo: given(&params.repo),
            since: None,
            until: None,
        },
        from: params.from,
    };
    if let Err(error) = console
        .record_read(&signed, address(&peer), "audit.events")
        .await
    {
        return refusal_for(error, Some(&signed));
    }
    match console.audit_page(&query).await {
        Ok(page) => render::page(
            StatusCode::OK,
            render::audit(
                &signed,
                &page,
                &render::AuditForm {
                    actor: &params.actor,
                    action: &params.action,
                    repo: &params.repo,
                },
            ),
        ),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

pub(super) async fn audit_event(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    tri!(may_read(&console, &signed, &peer, Action::ViewAudit, "console/audit").await);
    let Ok(seq) = seq.parse::<u64>() else {
        return render::error_page(
            StatusCode::NOT_FOUND,
            "An event is named by its sequence number.",
            Some(&signed),
        );
    };
    if let Err(error) = console
        .record_read(&signed, address(&peer), &format!("audit.event/{seq}"))
        .await
    {
        return refusal_for(error, Some(&signed));
    }
    let keys = state
        .audit_reading
        .as_ref()
        .map(|r| r.keys.clone())
        .unwrap_or_default();
    match console.audit_event(seq, &keys).await {
        Ok(detail) => render::page(StatusCode::OK, render::audit_event(&signed, &detail)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}
