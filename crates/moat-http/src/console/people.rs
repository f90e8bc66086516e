//! The people pages: search and page through everyone, one person in detail, and
//! their status changed (suspend, reactivate, deprovision).

use super::pages::CsrfForm;
use super::pages::reader;
use super::render::{self, layout};
use super::{address, console, for_change, refusal_for};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_domain::UserStatus;
use moat_policy::Action;
use moat_service::console::people::StatusChange;
use moat_service::console::{Console, SignedIn};
use moat_service::console::{PeoplePage, PeopleQuery};
use serde::Deserialize;

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
    let (console, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(Action::Administer),
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
            people_markup(signed, &page, &params.q, status, notice),
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
        console
            .change_status(&signed, address(&peer), &user, StatusChange::Suspend)
            .await
    } else {
        console
            .change_status(&signed, address(&peer), &user, StatusChange::Reactivate)
            .await
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

const STATUSES: [UserStatus; 3] = [
    UserStatus::Active,
    UserStatus::Suspended,
    UserStatus::Deprovisioned,
];

fn people_markup(
    signed: &SignedIn,
    page: &PeoplePage,
    search: &str,
    status: Option<UserStatus>,
    notice: Option<&str>,
) -> Markup {
    let link = |to: usize| {
        format!(
            "/console/people?q={}&status={}&page={to}",
            moat_service::oauth::flow::percent_encode(search),
            status.map_or("", UserStatus::as_str)
        )
    };
    layout(
        "People",
        Some(signed),
        "/console/people",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            form.filters method="get" action="/console/people" {
                label { "Email or name" input type="search" name="q" value=(search); }
                label {
                    "Status"
                    select name="status" {
                        option value="" selected[status.is_none()] { "any" }
                        @for s in STATUSES {
                            option value=(s.as_str()) selected[status == Some(s)] { (s) }
                        }
                    }
                }
                button type="submit" { "Search" }
            }
            p.muted { (page.total) " people match; page " (page.page) " of " (page.pages) "." }
            table {
                thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Roles" } th scope="col" { "Teams" } th scope="col" { "Change" } } }
                tbody {
                    @for person in &page.people {
                        tr {
                            td { a href=(format!("/console/people/{}", person.id.0)) { (person.email) } }
                            td { (person.name) }
                            td { (person.status) }
                            td { (person.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) }
                            td { (person.teams.join(", ")) }
                            td {
                                @if signed.abilities.administer && person.id != signed.user.id {
                                    @match person.status {
                                        UserStatus::Active => {
                                            form.inline method="post" action=(format!("/console/people/{}/suspend", person.id.0)) {
                                                input type="hidden" name="csrf" value=(signed.csrf);
                                                button type="submit" aria-label=(format!("Suspend {}", person.email)) { "Suspend" }
                                            }
                                        }
                                        UserStatus::Suspended => {
                                            form.inline method="post" action=(format!("/console/people/{}/reactivate", person.id.0)) {
                                                input type="hidden" name="csrf" value=(signed.csrf);
                                                button type="submit" aria-label=(format!("Reactivate {}", person.email)) { "Reactivate" }
                                            }
                                        }
                                        UserStatus::Deprovisioned => {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if page.page > 1 { a href=(link(page.page - 1)) rel="prev" { "Previous page" } }
                @if page.page < page.pages { a href=(link(page.page + 1)) rel="next" { "Next page" } }
            }
        },
    )
}
