//! The access page: who can reach a repository, what a person can reach, and one
//! person × repository explained (the rules that decided and why).

use super::pages::reader;
use super::render::{self, layout};
use super::{address, refusal_for};
use crate::AppState;
use crate::oauth::Peer;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_policy::{Action, Decision};
use moat_service::console::{AccessQuery, AccessView, Cell, SignedIn};
use moat_service::oauth::flow::percent_encode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct AccessParams {
    #[serde(default)]
    person: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    page: Option<usize>,
}

pub(super) async fn access(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<AccessParams>, QueryRejection>,
) -> Response {
    let (console, signed) = tri!(
        reader(
            &state,
            &headers,
            &peer,
            Some(Action::Administer),
            "console/access"
        )
        .await
    );
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    let query = AccessQuery {
        person: Some(params.person.clone()),
        repo: Some(params.repo.clone()),
        page: params.page.unwrap_or(1),
    };
    if let Err(error) = console.record_read(&signed, address(&peer), "access").await {
        return refusal_for(error, Some(&signed));
    }
    match console.access(&query).await {
        Ok(view) => render::page(StatusCode::OK, markup(&signed, &view, &params)),
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

fn verdict(decision: &Decision) -> Markup {
    html! {
        @if decision.allow { span.ok { "allowed" } } @else { span.bad { "denied" } }
    }
}

fn rules(decision: &Decision) -> String {
    if decision.rules.is_empty() {
        "no rule permits it (deny by default)".into()
    } else {
        decision.rules.join(", ")
    }
}

fn cells(cells: &[Cell], first: &str, link: impl Fn(&str) -> String) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { (first) } th scope="col" { "Query context" } th scope="col" { "Read source" }
                th scope="col" { "Tier" } th scope="col" { "MCP shows" } th scope="col" { "Rules" } th scope="col" { "Why" }
            } }
            tbody {
                @for cell in cells {
                    tr {
                        td { a href=(link(&cell.name)) { (cell.name) } }
                        td { (verdict(&cell.decision)) }
                        td { @if cell.read_source { span.ok { "yes" } } @else { "no" } }
                        td { (cell.decision.tier.map(|t| t.to_string()).unwrap_or_default()) }
                        td { (cell.decision.disclosure.map(|d| d.to_string()).unwrap_or_default()) }
                        td { (rules(&cell.decision)) }
                        td { (cell.decision.reason) }
                    }
                }
            }
        }
    }
}

fn pager(page: usize, pages: usize, link: impl Fn(usize) -> String) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            span.muted { "Page " (page) " of " (pages) "." }
            @if page > 1 { a href=(link(page - 1)) rel="prev" { "Previous page" } }
            @if page < pages { a href=(link(page + 1)) rel="next" { "Next page" } }
        }
    }
}

fn markup(signed: &SignedIn, view: &AccessView, params: &AccessParams) -> Markup {
    let explain = |person: &str, repo: &str| {
        format!(
            "/console/access?person={}&repo={}",
            percent_encode(person),
            percent_encode(repo)
        )
    };
    layout(
        "Access",
        Some(signed),
        "/console/access",
        html! {
            form.filters method="get" action="/console/access" {
                label { "Person (email)" input type="text" name="person" value=(params.person); }
                label { "Repository" input type="text" name="repo" value=(params.repo); }
                button type="submit" { "Show" }
            }
            @match view {
                AccessView::Ask => {
                    p { "Name a repository to see who can reach it, a person to see what they can reach, or both to see why." }
                }
                AccessView::Repo { repo, cells: rows, total, page, pages } => {
                    h2 { "Who can reach " (repo) }
                    p.muted { (total) " people in all." }
                    (cells(rows, "Person", |email| explain(email, repo)))
                    (pager(*page, *pages, |to| format!("/console/access?repo={}&page={to}", percent_encode(repo))))
                }
                AccessView::Person { email, cells: rows, allowed, total, page, pages } => {
                    h2 { "What " (email) " can reach" }
                    p.muted { (allowed) " of " (total) " repositories." }
                    (cells(rows, "Repository", |repo| explain(email, repo)))
                    (pager(*page, *pages, |to| format!("/console/access?person={}&page={to}", percent_encode(email))))
                }
                AccessView::Explain { email, repo, query, read } => {
                    h2 { (email) " and " (repo) }
                    table {
                        thead { tr { th scope="col" { "Action" } th scope="col" { "Decision" } th scope="col" { "Rules" } th scope="col" { "Why" } } }
                        tbody {
                            tr { td { "Query context (search, outlines, symbols)" } td { (verdict(query)) } td { (rules(query)) } td { (query.reason) } }
                            tr { td { "Read source" } td { (verdict(read)) } td { (rules(read)) } td { (read.reason) } }
                        }
                    }
                    @if let (Some(tier), Some(shows)) = (query.tier, query.disclosure) {
                        p { (repo) " is " (tier) "; MCP shows " (shows) " of it." }
                    }
                }
            }
        },
    )
}
