//! Models and vendors: the allowlist with pinned versions, the vendors with their
//! attestations, and usage over the last two weeks (a chart, and the same figures as
//! tables, which are what a screen reader reads).

use super::pages::reader;
use super::refusal_for;
use super::render::{self, layout};
use crate::AppState;
use crate::oauth::Peer;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_service::console::{Counts, Deployment, SignedIn, Usage};
use moat_service::vendor_register::{Entry, State as Standing};

pub(super) async fn models(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let (console, signed) = tri!(reader(&state, &headers, &peer, None, "console/models").await);
    match console.usage().await {
        Ok(usage) => render::page(
            StatusCode::OK,
            markup(
                &signed,
                console.deployment(),
                &console.vendor_register(),
                &usage,
            ),
        ),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

/// Tokens per day as bars: an SVG drawn on the server (presentation attributes only,
/// which the CSP allows), labelled for assistive technology.
fn chart(days: &[(String, Counts)]) -> Markup {
    let (width, height, bottom) = (700u64, 220u64, 30u64);
    let max = days
        .iter()
        .map(|(_, c)| c.tokens())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = width / days.len().max(1) as u64;
    let bar = slot.saturating_sub(8).max(2);
    html! {
        svg role="img" aria-labelledby="usage-chart-title" viewBox=(format!("0 0 {width} {height}")) width="100%" height=(height) {
            title id="usage-chart-title" { "Tokens per day over the last " (days.len()) " days; the table below has the figures" }
            @for (i, (day, counts)) in days.iter().enumerate() {
                @let h = counts.tokens() * (height - bottom - 10) / max;
                @let x = i as u64 * slot + 4;
                rect x=(x) y=(height - bottom - h) width=(bar) height=(h) fill="#1f4fbf" {
                    title { (day) ": " (counts.tokens()) " tokens, " (counts.requests) " requests" }
                }
                @if i % 2 == 0 {
                    text x=(x) y=(height - 10) font-size="11" fill="#4b5263" { (day.get(5..).unwrap_or(day)) }
                }
            }
        }
    }
}

fn counts_table(caption: &str, first: &str, rows: &[(String, Counts)]) -> Markup {
    html! {
        table {
            caption.visually-hidden { (caption) }
            thead { tr { th scope="col" { (first) } th scope="col" { "Requests" } th scope="col" { "Tokens in" } th scope="col" { "Tokens out" } } }
            tbody {
                @for (name, counts) in rows {
                    tr { td { (name) } td { (counts.requests) } td { (counts.tokens_in) } td { (counts.tokens_out) } }
                }
            }
        }
    }
}

/// Each vendor's attestations as of now: the last day, and whether it still counts.
fn register(entries: &[Entry]) -> Markup {
    html! {
        @if entries.iter().any(|e| !e.attestations.is_empty()) {
            h2 { "Vendor register" }
            table {
                caption { "Attestations as of now; an expired one no longer counts at the gateway" }
                thead { tr { th scope="col" { "Vendor" } th scope="col" { "Attestation" } th scope="col" { "Signed" } th scope="col" { "State" } } }
                tbody {
                    @for entry in entries {
                        @for a in &entry.attestations {
                            tr {
                                td { (entry.name) }
                                td { (a.name) }
                                td { (a.signed.as_deref().unwrap_or("-")) }
                                td {
                                    @if matches!(a.state, Standing::Expired | Standing::Expiring { .. }) {
                                        strong { (a.state.describe(a.last_day.as_deref())) }
                                    } @else {
                                        (a.state.describe(a.last_day.as_deref()))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn markup(signed: &SignedIn, deployment: &Deployment, entries: &[Entry], usage: &Usage) -> Markup {
    layout(
        "Models and vendors",
        Some(signed),
        "/console/models",
        html! {
            (render::models_and_vendors(&deployment.models, &deployment.vendors))
            (register(entries))
            h2 { "Usage, last " (usage.days.len()) " days" }
            @if usage.behind > 0 {
                p.notice role="status" { (usage.behind) " newer events are not counted yet; reload to count more." }
            }
            (chart(&usage.days))
            (counts_table("Usage by day", "Day", &usage.days))
            h2 { "By model" }
            (counts_table("Usage by model", "Model", &usage.by_model))
            h2 { "By team" }
            (counts_table("Usage by team", "Team", &usage.by_team))
            h2 { "Most active people" }
            (counts_table("Usage by person", "Person", &usage.by_person))
        },
    )
}
