//! Incidents: the list, newest first with overdue deadlines marked, and one incident's
//! page — its alerts (each linking to its event), what they touched, the timeline and
//! the deadlines — for those who read the record; the steps (acknowledge, assign,
//! contain, notify, resolve, note) as forms for the security team. Every form posts the
//! session's CSRF token; the use case decides again.

use super::render::{self, layout};
use super::{address, console, for_change, refusal_for, signed_in};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_domain::UnixTime;
use moat_service::console::incidents::Step;
use moat_service::console::{ConsoleError, SignedIn};
use moat_service::incidents::Shown;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    owner: String,
    /// `notify`: one deadline key, or empty for all.
    #[serde(default, rename = "for")]
    meets: String,
}

pub(super) async fn incidents(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    match console.incidents(&signed, address(&peer)).await {
        Ok(listed) => render::page(StatusCode::OK, list(&signed, &listed)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

pub(super) async fn incident(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    match console.incident(&signed, address(&peer), &id).await {
        Ok(shown) => render::page(StatusCode::OK, one(&signed, &shown, None)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

pub(super) async fn step(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let form = form.ok().map(|f| f.0).unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &form.csrf).await);
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let step = match form.step.as_str() {
        "acknowledge" => Step::Acknowledge,
        "contain" => Step::Contain,
        "resolve" => Step::Resolve,
        "note" => Step::Note,
        "notify" => Step::Notify(text(&form.meets).into_iter().collect()),
        "assign" => Step::Assign(form.owner.trim().to_string()),
        _ => {
            let why = "choose a step: acknowledge, assign, contain, notify, resolve or note";
            return refusal_for(ConsoleError::Invalid(why.into()), Some(&signed));
        }
    };
    let taken = console
        .incident_step(&signed, address(&peer), &id, step, text(&form.note))
        .await;
    if let Err(error) = taken {
        return refusal_for(error, Some(&signed));
    }
    match console.incident(&signed, address(&peer), &id).await {
        Ok(shown) => {
            let notice = format!("Incident {id}: {} recorded.", form.step);
            render::page(StatusCode::OK, one(&signed, &shown, Some(&notice)))
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

fn time(at: i64) -> String {
    UnixTime(at).to_rfc3339()
}

fn list(signed: &SignedIn, listed: &[Shown]) -> Markup {
    layout(
        "Incidents",
        Some(signed),
        "/console/incidents",
        html! {
            p.muted {
                "Detection opens an incident with the first alert about a person or vendor and adds later ones to it. "
                "Deadlines come from " code { "[incidents]" } " and each vendor's breach-notification window."
            }
            @if listed.is_empty() {
                p { "No incidents." }
            } @else {
                table {
                    caption { "Incidents, newest first" }
                    thead { tr {
                        th scope="col" { "Incident" } th scope="col" { "Status" } th scope="col" { "Detected" }
                        th scope="col" { "Subject" } th scope="col" { "Alerts" } th scope="col" { "Owner" }
                        th scope="col" { "Deadlines" }
                    } }
                    tbody {
                        @for s in listed {
                            @let i = &s.incident;
                            tr {
                                td { a href=(format!("/console/incidents/{}", i.id)) { (i.title) } br; small { code { (i.id) } } }
                                td { (i.status) }
                                td { (s.detected) }
                                td { (i.subject) }
                                td { (i.alerts.len()) }
                                td { (i.owner.as_deref().unwrap_or("-")) }
                                td {
                                    @if s.overdue > 0 { strong { (s.overdue) " overdue" } } @else { "none overdue" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn one(signed: &SignedIn, shown: &Shown, notice: Option<&str>) -> Markup {
    let i = &shown.incident;
    let acting = signed.abilities.contain;
    let open = i.is_open();
    let form = |step: &'static str, label: &'static str, extra: Markup| {
        html! {
            div {
                form.inline method="post" action=(format!("/console/incidents/{}", i.id)) {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    input type="hidden" name="step" value=(step);
                    (extra)
                    label { "Note " input type="text" name="note"; }
                    button type="submit" { (label) }
                }
            }
        }
    };
    let notifications: Vec<&str> = shown
        .deadlines
        .iter()
        .filter_map(|d| d.key.strip_prefix("notified:"))
        .collect();
    layout(
        &format!("Incident {}", i.id),
        Some(signed),
        "/console/incidents",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            h2 { (i.title) }
            dl {
                dt { "Status" } dd { (i.status) }
                dt { "Subject" } dd { (i.subject) }
                dt { "Owner" } dd { (i.owner.as_deref().unwrap_or("-")) }
                dt { "Detected" } dd { (shown.detected) }
                dt { "Repositories" } dd { (list_or_none(&i.repos)) }
                dt { "Vendors" } dd { (list_or_none(&i.vendors)) }
                dt { "Data classes" } dd { (list_or_none(&i.classes)) }
            }
            h3 { "Deadlines" }
            table {
                thead { tr { th scope="col" { "Step" } th scope="col" { "Due" } th scope="col" { "State" } th scope="col" { "Why" } } }
                tbody {
                    @for d in &shown.deadlines {
                        tr {
                            td { code { (d.key) } }
                            td { (d.due) }
                            td {
                                @if let Some(at) = &d.met_at { "met " (at) }
                                @else if d.overdue { strong { "overdue" } }
                                @else { "open" }
                            }
                            td { (d.why) }
                        }
                    }
                }
            }
            h3 { "Alerts" }
            @if i.alerts.is_empty() { p { "None: opened by hand." } }
            ul {
                @for a in &i.alerts {
                    li { a href=(format!("/console/audit/{}", a.seq)) { "event " (a.seq) } " " code { (a.rule) } " " (time(a.at)) ": " (a.message) }
                }
            }
            h3 { "Timeline" }
            ol {
                @for e in &i.timeline {
                    li { (time(e.at)) " " strong { (e.step) } " by " (e.by) @if let Some(note) = &e.note { ": " (note) } }
                }
            }
            @if acting {
                h3 { "Steps" }
                @if open {
                    @if i.taken("acknowledged").is_none() { (form("acknowledge", "Acknowledge", html! {})) }
                    (form("assign", "Assign", html! { label { "Owner " input type="email" name="owner" required; } }))
                    @if i.taken("contained").is_none() { (form("contain", "Contained", html! {})) }
                    @if !notifications.is_empty() {
                        (form("notify", "Notified", html! {
                            label { "Deadline " select name="for" {
                                option value="" { "all" }
                                @for key in &notifications { option value=(key) { (key) } }
                            } }
                        }))
                    }
                    (form("resolve", "Resolve", html! {}))
                }
                (form("note", "Add note", html! {}))
            }
        },
    )
}

fn list_or_none(values: &[String]) -> String {
    if values.is_empty() {
        "none".to_string()
    } else {
        values.join(", ")
    }
}
