//! The audit pages: the record searched and paged, one event with its proof.

use super::pages::may_read;
use super::render::{self, layout};
use super::{address, console, refusal_for, signed_in};
use crate::AppState;
use crate::oauth::Peer;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_audit::event::Event;
use moat_policy::Action;
use moat_service::console::SignedIn;
use moat_service::console::{AuditPage, AuditQuery, EventDetail};
use serde::Deserialize;

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
            audit_markup(
                &signed,
                &page,
                &AuditForm {
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
        Ok(detail) => render::page(StatusCode::OK, event_markup(&signed, &detail)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

struct AuditForm<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub repo: &'a str,
}

fn audit_markup(signed: &SignedIn, page: &AuditPage, form: &AuditForm) -> Markup {
    let link = |from: u64| {
        use moat_service::oauth::flow::percent_encode as enc;
        format!(
            "/console/audit?actor={}&action={}&repo={}&from={from}",
            enc(form.actor),
            enc(form.action),
            enc(form.repo)
        )
    };
    layout(
        "Audit",
        Some(signed),
        "/console/audit",
        html! {
            form.filters method="get" action="/console/audit" {
                label { "Person or token" input type="text" name="actor" value=(form.actor); }
                label { "Action (a prefix ends in *)" input type="text" name="action" value=(form.action); }
                label { "Repository" input type="text" name="repo" value=(form.repo); }
                button type="submit" { "Search" }
            }
            p.muted { "The log holds " (page.size) " events; this page starts at event " (page.from) "." }
            @if page.events.is_empty() {
                p { "No events match on this page." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Seq" } th scope="col" { "Time" } th scope="col" { "Action" } th scope="col" { "Who" } th scope="col" { "Decision" } th scope="col" { "Repositories" } } }
                    tbody {
                        @for event in &page.events { (event_row(event)) }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if page.from > 0 {
                    a href=(link(page.from.saturating_sub(moat_service::console::views::PAGE_SIZE as u64))) rel="prev" { "Earlier events" }
                }
                @if let Some(next) = page.next_from { a href=(link(next)) rel="next" { "Later events" } }
            }
        },
    )
}

fn event_row(event: &Event) -> Markup {
    let body = &event.body;
    let who = body
        .actor
        .email
        .as_deref()
        .or(body.actor.user.as_deref())
        .or(body.actor.client.as_deref())
        .unwrap_or("");
    html! {
        tr {
            td { a href=(format!("/console/audit/{}", event.seq)) { (event.seq) } }
            td { (event.time) }
            td { (body.action) }
            td { (who) }
            td { (format!("{:?}", body.decision.outcome).to_lowercase()) }
            td { (body.resources.repos.join(", ")) }
        }
    }
}

fn event_markup(signed: &SignedIn, detail: &EventDetail) -> Markup {
    let pretty = serde_json::from_str::<serde_json::Value>(&detail.proof.event)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| detail.proof.event.clone());
    layout(
        &format!("Event {}", detail.event.seq),
        Some(signed),
        "/console/audit",
        html! {
            @match &detail.verified {
                Ok(()) => p.notice.ok role="status" { "Provably in the log: its inclusion proof leads to a checkpoint signed by this organisation's key." }
                Err(why) => p.notice.error role="alert" { "The inclusion proof does not verify: " (why) }
            }
            h2 { "The event as recorded" }
            pre { (pretty) }
            h2 { "Inclusion proof" }
            p { "Leaf hash " code { (detail.proof.leaf_hash) } " in a tree of " (detail.proof.tree_size) " events." }
            pre { (detail.proof.proof.join("\n")) }
            h2 { "Signed checkpoint" }
            pre { (detail.proof.checkpoint) }
            p { a href="/console/audit" { "Back to the audit log" } }
        },
    )
}
