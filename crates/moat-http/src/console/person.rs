//! One person in detail, and deprovisioning (which asks for confirmation: it revokes
//! every token and grant for good).

use super::pages::reader;
use super::render::{self, layout, person_sections};
use super::{address, console, for_change, refusal_for};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_domain::UserStatus;
use moat_policy::Action;
use moat_service::console::people::{PersonDetail, StatusChange};
use moat_service::console::{Console, SignedIn};
use serde::Deserialize;

pub(super) async fn person(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    let (console, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(Action::Administer),
            &format!("user/{user}")
        )
        .await
    );
    person_page(&console, &signed, &peer, &user, None).await
}

pub(super) async fn person_page(
    console: &Console,
    signed: &SignedIn,
    peer: &Peer,
    user: &str,
    notice: Option<&str>,
) -> Response {
    if let Err(error) = console
        .record_read(signed, address(peer), &format!("user/{user}"))
        .await
    {
        return refusal_for(error, Some(signed));
    }
    match console.person(user).await {
        Ok(detail) => render::page(StatusCode::OK, markup(signed, &detail, notice)),
        Err(error) => refusal_for(error, Some(signed)),
    }
}

#[derive(Deserialize)]
pub(super) struct DeprovisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn deprovision(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(user): Path<String>,
    form: Result<Form<DeprovisionForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let (csrf, confirm) = form
        .ok()
        .map(|f| (f.0.csrf, f.0.confirm))
        .unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &csrf).await);
    if confirm != "yes" {
        return render::error_page(
            StatusCode::BAD_REQUEST,
            "Deprovisioning revokes every token and grant for good; tick the box that says so to confirm.",
            Some(&signed),
        );
    }
    match console
        .change_status(&signed, address(&peer), &user, StatusChange::Deprovision)
        .await
    {
        Ok(person) => {
            let notice = format!(
                "{} is deprovisioned: every token and grant is revoked.",
                person.email
            );
            person_page(&console, &signed, &peer, &user, Some(&notice)).await
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

fn markup(signed: &SignedIn, detail: &PersonDetail, notice: Option<&str>) -> Markup {
    let person = &detail.person;
    let may_change = signed.abilities.administer && person.id != signed.user.id;
    layout(
        &person.email,
        Some(signed),
        "/console/people",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if may_change {
                div.actions {
                    @match person.status {
                        UserStatus::Active => {
                            form.inline method="post" action=(format!("/console/people/{}/suspend", person.id.0)) {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                button type="submit" { "Suspend" }
                            }
                        }
                        UserStatus::Suspended => {
                            form.inline method="post" action=(format!("/console/people/{}/reactivate", person.id.0)) {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                button type="submit" { "Reactivate" }
                            }
                        }
                        UserStatus::Deprovisioned => {}
                    }
                    @if person.status != UserStatus::Deprovisioned {
                        form.inline method="post" action=(format!("/console/people/{}/deprovision", person.id.0)) {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            label {
                                input type="checkbox" name="confirm" value="yes" required;
                                " Every token and grant is revoked for good"
                            }
                            " "
                            button type="submit" { "Deprovision" }
                        }
                    }
                }
            }
            (person_sections(detail, false))
            p { a href="/console/people" { "Back to people" } }
        },
    )
}
