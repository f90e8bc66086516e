//! The repositories page (searched, by tier, paged, with each one's index head and the
//! permission mirrors' freshness) and reclassification.

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
use moat_domain::Tier;
use moat_service::console::{Console, ReposPage, ReposQuery, SignedIn};
use moat_service::oauth::flow::percent_encode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct ReposParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    page: Option<usize>,
}

pub(super) async fn repos(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<ReposParams>, QueryRejection>,
) -> Response {
    let (console, signed) = tri!(reader(&state, &headers, &peer, None, "console/repos").await);
    let params = params.ok().map(|p| p.0).unwrap_or_default();
    repos_page(&console, &signed, params, None).await
}

async fn repos_page(
    console: &Console,
    signed: &SignedIn,
    params: ReposParams,
    notice: Option<&str>,
) -> Response {
    let tier = params.tier.parse::<Tier>().ok();
    let query = ReposQuery {
        search: Some(params.q.clone()),
        tier,
        page: params.page.unwrap_or(1),
    };
    match console.repos(&query).await {
        Ok(page) => render::page(
            StatusCode::OK,
            markup(signed, &page, &params.q, tier, notice),
        ),
        Err(error) => refusal_for(error, Some(signed)),
    }
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
        Ok(version) => {
            let params = ReposParams {
                q: repo.clone(),
                ..ReposParams::default()
            };
            let notice = format!(
                "`{repo}` is now {tier}: published as configuration version {version}. Every node applies it within a second (this page may still show the tier before), and the next MCP call is decided under it."
            );
            repos_page(&console, &signed, params, Some(&notice)).await
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

const TIERS: [Tier; 4] = [
    Tier::Public,
    Tier::Internal,
    Tier::Confidential,
    Tier::Restricted,
];

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3_600),
        s => format!("{} days", s / 86_400),
    }
}

fn markup(
    signed: &SignedIn,
    page: &ReposPage,
    search: &str,
    tier: Option<Tier>,
    notice: Option<&str>,
) -> Markup {
    let link = |to: usize| {
        format!(
            "/console/repos?q={}&tier={}&page={to}",
            percent_encode(search),
            tier.map_or("", Tier::as_str)
        )
    };
    let may_reclassify = signed.abilities.administer && page.follows_published;
    layout(
        "Repositories",
        Some(signed),
        "/console/repos",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if signed.abilities.administer && !page.follows_published {
                p.notice {
                    "This node reads its configuration from its own file, so tiers are changed with "
                    code { "moat repo classify" }
                    ". Publish the configuration ("
                    code { "moat config publish" }
                    ") and serve with "
                    code { "[server] config_source = \"store\"" }
                    " to change them here for every node."
                }
            }
            @for mirror in &page.mirrors {
                p.notice.(if mirror.stale > 0 || mirror.never_synced > 0 { "error" } else { "" }) {
                    "Permissions mirrored from " (mirror.host) " for " (mirror.repos) " repositories: "
                    @match mirror.oldest_sync_age_seconds {
                        Some(seconds) => { "the oldest synced " (age(seconds)) " ago" }
                        None => { "not synced yet" }
                    }
                    "; " (mirror.stale) " past the staleness bound of " (age(mirror.max_staleness_seconds))
                    " and " (mirror.never_synced) " never synced (access to those is refused until they are)."
                }
            }
            form.filters method="get" action="/console/repos" {
                label { "Name or tag" input type="search" name="q" value=(search); }
                label {
                    "Tier"
                    select name="tier" {
                        option value="" selected[tier.is_none()] { "any" }
                        @for t in TIERS {
                            option value=(t.as_str()) selected[tier == Some(t)] { (t) }
                        }
                    }
                }
                button type="submit" { "Search" }
            }
            p.muted { (page.total) " repositories match; page " (page.page) " of " (page.pages) "." }
            table {
                thead { tr {
                    th scope="col" { "Repository" } th scope="col" { "Tier" } th scope="col" { "MCP shows" }
                    th scope="col" { "Tags" } th scope="col" { "Region" } th scope="col" { "Permissions" } th scope="col" { "Index" }
                } }
                tbody {
                    @for status in &page.repos {
                        @let repo = &status.repo;
                        tr {
                            td { (repo.name) }
                            td {
                                @if may_reclassify {
                                    form.inline method="post" action=(format!("/console/repos/{}/tier", percent_encode(&repo.name))) {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        label.visually-hidden for=(format!("tier-{}", repo.name)) { "Tier of " (repo.name) }
                                        select id=(format!("tier-{}", repo.name)) name="tier" {
                                            @for t in TIERS {
                                                option value=(t.as_str()) selected[t == repo.tier] { (t) }
                                            }
                                        }
                                        " "
                                        button type="submit" { "Reclassify" }
                                    }
                                } @else {
                                    (repo.tier)
                                }
                            }
                            td { (repo.disclosure) }
                            td { (repo.tags.join(", ")) }
                            td { (repo.region.as_deref().unwrap_or("")) }
                            td { (repo.permissions) }
                            td {
                                @match &status.head {
                                    Some(head) => { code { (head.commit.get(..12).unwrap_or(&head.commit)) } " at " (head.indexed_at) }
                                    None => { span.muted { "no shared head yet" } }
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
