//! Exceptions: everyone's, newest first, overdue ones marked, for those who read the
//! record; approve and deny for the security team, revoke for a reviewer. Every button
//! is a form posting the session's CSRF token; the server decides again.

use super::pages::reader;
use super::render::{self, layout};
use super::{address, console, for_change, refusal_for};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_service::console::exceptions::Review;
use moat_service::console::{Console, SignedIn};
use moat_service::exceptions::Listed;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn exceptions(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let (console, signed) = tri!(reader(&state, &headers, &peer, None, "console/exceptions").await);
    page(&console, &signed, &peer, None, StatusCode::OK).await
}

async fn page(
    console: &Console,
    signed: &SignedIn,
    peer: &Peer,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    match console.exceptions(signed, address(peer)).await {
        Ok(listed) => render::page(status, markup(signed, &listed, notice)),
        Err(error) => refusal_for(error, Some(signed)),
    }
}

pub(super) async fn review(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let form = form.ok().map(|f| f.0).unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &form.csrf).await);
    let note = Some(form.note.trim().to_string()).filter(|n| !n.is_empty());
    let review = match form.decision.as_str() {
        "approve" => Review::Approve(note),
        "deny" => Review::Deny(note.unwrap_or_default()),
        "revoke" => Review::Revoke(note),
        _ => {
            return refusal_for(
                moat_service::console::ConsoleError::Invalid(
                    "choose approve, deny or revoke".into(),
                ),
                Some(&signed),
            );
        }
    };
    match console
        .review_exception(&signed, address(&peer), &id, review)
        .await
    {
        Ok(decided) => {
            let notice = format!("Exception {} is now {}.", decided.id, decided.status);
            page(&console, &signed, &peer, Some(&notice), StatusCode::OK).await
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

fn markup(signed: &SignedIn, listed: &[Listed], notice: Option<&str>) -> Markup {
    let reviewer = signed.abilities.review_exceptions;
    layout(
        "Exceptions",
        Some(signed),
        "/console/exceptions",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            p.muted {
                "Time-boxed exceptions to the policy (" code { "moat exception request" } "). "
                "A pending request past the review SLA is overdue; an approved one ends by itself."
            }
            @if listed.is_empty() {
                p { "No exceptions have been asked for." }
            } @else {
                table {
                    caption { "Exceptions, newest first" }
                    thead { tr {
                        th scope="col" { "Person" } th scope="col" { "What" } th scope="col" { "Reason" }
                        th scope="col" { "Status" } th scope="col" { "Ends" } th scope="col" { "Review" }
                    } }
                    tbody {
                        @for e in listed {
                            tr {
                                td { (e.email) }
                                td { (e.kind) " " code { (e.target) } }
                                td { (e.reason) }
                                td {
                                    @if e.overdue { strong { "pending, overdue" } }
                                    @else if e.status == "approved" && !e.in_force { "approved, ended" }
                                    @else { (e.status) }
                                    @if let Some(by) = &e.decided_by { br; small { "by " (by) } }
                                }
                                td { (e.ends_at.as_deref().unwrap_or("-")) }
                                td {
                                    @if reviewer && e.status == "pending" {
                                        form.inline method="post" action=(format!("/console/exceptions/{}", e.id)) {
                                            input type="hidden" name="csrf" value=(signed.csrf);
                                            label { "Note " input type="text" name="note"; }
                                            button type="submit" name="decision" value="approve" aria-label=(format!("Approve {}", e.id)) { "Approve" }
                                            button type="submit" name="decision" value="deny" aria-label=(format!("Deny {}", e.id)) { "Deny" }
                                        }
                                    } @else if reviewer && e.in_force {
                                        form.inline method="post" action=(format!("/console/exceptions/{}", e.id)) {
                                            input type="hidden" name="csrf" value=(signed.csrf);
                                            button type="submit" name="decision" value="revoke" aria-label=(format!("Revoke {}", e.id)) { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
