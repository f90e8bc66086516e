//! The audit pages: the record searched and paged, one event with its proof, the whole
//! log verified on demand, and exports to download.

use super::pages::reader;
use super::render::{self, layout};
use super::{address, console, refusal_for, signed_in};
use crate::AppState;
use crate::oauth::Peer;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use moat_audit::event::Event;
use moat_audit::verify::{Failure, Report};
use moat_policy::Action;
use moat_service::audit::export::Format;
use moat_service::audit::search::{Filter, normalize_time};
use moat_service::console::{AuditPage, AuditQuery, Download, EventDetail, ExportPart, SignedIn};
use moat_service::oauth::flow::percent_encode as enc;
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
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    from: Option<u64>,
}

impl AuditParams {
    /// The query string of these filters (without `from`).
    fn query(&self) -> String {
        format!(
            "actor={}&action={}&repo={}&since={}&until={}",
            enc(&self.actor),
            enc(&self.action),
            enc(&self.repo),
            enc(&self.since),
            enc(&self.until)
        )
    }
}

fn keys(state: &AppState) -> Vec<moat_audit::checkpoint::VerifierKey> {
    state
        .audit_reading
        .as_ref()
        .map(|r| r.keys.clone())
        .unwrap_or_default()
}

pub(super) async fn audit(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    let (console, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(Action::ViewAudit),
            "console/audit"
        )
        .await
    );
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let time = |s: &str| given(s).map(|t| normalize_time(&t)).transpose();
    let (since, until) = match (time(&params.since), time(&params.until)) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(why), _) | (_, Err(why)) => {
            return render::error_page(StatusCode::BAD_REQUEST, &why, Some(&signed));
        }
    };
    let query = AuditQuery {
        filter: Filter {
            actor: given(&params.actor),
            action: given(&params.action),
            repo: given(&params.repo),
            since,
            until,
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
        Ok(page) => render::page(StatusCode::OK, list_markup(&signed, &page, &params)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

pub(super) async fn audit_event(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Response {
    let (console, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(Action::ViewAudit),
            "console/audit"
        )
        .await
    );
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
    match console.audit_event(seq, &keys(&state)).await {
        Ok(detail) => render::page(StatusCode::OK, event_markup(&signed, &detail)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

/// `GET /console/audit/verify`: the whole log recomputed and every checkpoint checked,
/// the witness files' copies included.
pub(super) async fn verify(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let (console, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(Action::ViewAudit),
            "console/audit"
        )
        .await
    );
    if let Err(error) = console
        .record_read(&signed, address(&peer), "audit.verify")
        .await
    {
        return refusal_for(error, Some(&signed));
    }
    let files = state
        .audit_reading
        .as_ref()
        .map(|r| r.witness_files.clone())
        .unwrap_or_default();
    match console.verify(keys(&state), &files).await {
        Ok(outcome) => render::page(StatusCode::OK, verify_markup(&signed, &outcome)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct ExportParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    part: String,
}

/// `GET /console/audit/export`: events in a range as a file, or their manifest.
pub(super) async fn export(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    let format = match params.format.as_str() {
        "" | "jsonl" => Format::Jsonl,
        "csv" => Format::Csv,
        "ocsf" => Format::Ocsf,
        other => {
            return render::error_page(
                StatusCode::BAD_REQUEST,
                &format!("`{other}` is not an export format; choose jsonl, csv or ocsf"),
                Some(&signed),
            );
        }
    };
    let part = if params.part == "manifest" {
        ExportPart::Manifest
    } else {
        ExportPart::Events
    };
    fn given(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty())
    }
    match console
        .export(
            &signed,
            address(&peer),
            given(&params.from),
            given(&params.to),
            format,
            part,
            &keys(&state),
        )
        .await
    {
        Ok(download) => attachment(download),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

fn list_markup(signed: &SignedIn, page: &AuditPage, params: &AuditParams) -> Markup {
    let link = |from: u64| format!("/console/audit?{}&from={from}", params.query());
    layout(
        "Audit",
        Some(signed),
        "/console/audit",
        html! {
            p { a href="/console/audit/verify" { "Verify the whole log now" } " (recomputes every event and checks every checkpoint and witness copy)" }
            form.filters method="get" action="/console/audit" {
                label { "Person or token" input type="text" name="actor" value=(params.actor); }
                label { "Action (a prefix ends in *)" input type="text" name="action" value=(params.action); }
                label { "Repository" input type="text" name="repo" value=(params.repo); }
                label { "Since (2026-11-23 or RFC 3339)" input type="text" name="since" value=(params.since); }
                label { "Until" input type="text" name="until" value=(params.until); }
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
            @if signed.abilities.view_audit {
                h2 { "Export" }
                p.muted {
                    "Events from and to a sequence number or a time, as a file a SIEM ingests; the manifest holds the signed checkpoint, the public keys and every event's inclusion proof ("
                    code { "moat audit check-export FILE --manifest MANIFEST" }
                    " checks them). Exporting is decided by the ExportEvidence policy and is on the record; at most 100,000 events per download."
                }
                form.filters method="get" action="/console/audit/export" {
                    label { "From" input type="text" name="from" value=(page.from); }
                    label { "To" input type="text" name="to" value=(page.size.saturating_sub(1)); }
                    label {
                        "Format"
                        select name="format" {
                            option value="jsonl" { "JSONL" }
                            option value="csv" { "CSV" }
                            option value="ocsf" { "OCSF" }
                        }
                    }
                    button type="submit" name="part" value="events" { "Download events" }
                    button type="submit" name="part" value="manifest" { "Download manifest" }
                }
                p.muted {
                    "The signed evidence pack for a review, these events with their proof among it: "
                    a href="/console/evidence" { "Evidence" } "."
                }
            }
        },
    )
}

/// `GET /console/evidence`: what the evidence pack holds, and its download form.
pub(super) async fn evidence_page(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let (_, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(moat_policy::Action::ExportEvidence),
            "console/evidence",
        )
        .await
    );
    let body = html! {
        h1 { "Evidence" }
        p {
            "One signed zip for a review, produced from what Moat enforced and recorded over the period: the written policy and every version in force, the access matrix and every change, joiners and leavers with the time from offboarding to the first refusal of their credentials, training, the vendor and model registers, exceptions, alerts, redaction and egress statistics, a SOC 2 / ISO 27001 / HIPAA control mapping, and every audit event of the period with the proof that it is the signed log's."
        }
        p.muted {
            "Check it anywhere with the audit public key: "
            code { "moat evidence verify PACK --key KEY" }
            ". Downloading is decided by the ExportEvidence policy and is on the record; at most 1,000,000 events per download, larger periods with "
            code { "moat evidence export" } "."
        }
        form.filters method="get" action="/console/evidence.zip" {
            label { "First day" input type="date" name="from" required; }
            label { "Last day" input type="date" name="to" required; }
            button type="submit" { "Download the pack" }
        }
    };
    render::page(
        StatusCode::OK,
        layout("Evidence", Some(&signed), "/console/evidence", body),
    )
}

#[derive(Deserialize, Default)]
pub(super) struct EvidenceParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /console/evidence.zip`: the signed evidence pack for a period.
pub(super) async fn evidence(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<EvidenceParams>, QueryRejection>,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    match console
        .evidence(&signed, address(&peer), &params.from, &params.to)
        .await
    {
        Ok(download) => attachment(download),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

/// A file to download. Its name is built from numbers, dates and a fixed stem only.
fn attachment(download: Download) -> Response {
    let mut response =
        ([(header::CONTENT_TYPE, download.media_type)], download.body).into_response();
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", download.file_name))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    super::secure(response)
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

fn verify_markup(signed: &SignedIn, outcome: &Result<Report, Failure>) -> Markup {
    layout(
        "Verify the audit log",
        Some(signed),
        "/console/audit",
        html! {
            @match outcome {
                Ok(report) => {
                    p.notice.ok role="status" {
                        "The log verifies: " (report.events) " events recomputed, " (report.checkpoints)
                        " checkpoints checked, every event under the newest (size " (report.signed_size) ")."
                    }
                    p { "Root hash " code { (hex::encode(report.root)) } }
                    h2 { "Witness copies" }
                    @if report.external.is_empty() {
                        p { "No witness file is configured (" code { "[audit] witness_files" } "): nothing outside this database vouches for the log." }
                    } @else {
                        table {
                            thead { tr { th scope="col" { "Witness" } th scope="col" { "Checkpoint size" } th scope="col" { "Agrees" } } }
                            tbody {
                                @for (source, size) in &report.external {
                                    tr { td { (source) } td { (size) } td { span.ok { "yes" } } }
                                }
                            }
                        }
                    }
                }
                Err(failure) => {
                    p.notice.error role="alert" {
                        "The log does not verify: " (failure.reason)
                        @if let Some(seq) = failure.first_bad_seq { " (first event that cannot be trusted: " (seq) ")" }
                        @if let Some(size) = failure.checkpoint_size { " (checkpoint of size " (size) ")" }
                    }
                }
            }
            p { a href="/console/audit" { "Back to the audit log" } }
        },
    )
}
