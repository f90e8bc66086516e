//! The repositories page and reclassification.

use super::pages::{may_read, reading};
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
use moat_domain::Tier;
use moat_service::console::RepoRow;
use moat_service::console::{Console, SignedIn};
use serde::Deserialize;

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
        repos_markup(
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

const TIERS: [Tier; 4] = [
    Tier::Public,
    Tier::Internal,
    Tier::Confidential,
    Tier::Restricted,
];

fn repos_markup(
    signed: &SignedIn,
    repos: &[RepoRow],
    follows_published: bool,
    notice: Option<&str>,
) -> Markup {
    layout(
        "Repositories",
        Some(signed),
        "/console/repos",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if signed.abilities.administer && !follows_published {
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
            table {
                thead { tr { th scope="col" { "Repository" } th scope="col" { "Tier" } th scope="col" { "MCP shows" } th scope="col" { "Tags" } th scope="col" { "Region" } th scope="col" { "Permissions" } } }
                tbody {
                    @for repo in repos {
                        tr {
                            td { (repo.name) }
                            td {
                                @if signed.abilities.administer && follows_published {
                                    form.inline method="post" action=(format!("/console/repos/{}/tier", moat_service::oauth::flow::percent_encode(&repo.name))) {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        label.visually-hidden for=(format!("tier-{}", repo.name)) { "Tier of " (repo.name) }
                                        select id=(format!("tier-{}", repo.name)) name="tier" {
                                            @for tier in TIERS {
                                                option value=(tier.as_str()) selected[tier == repo.tier] { (tier) }
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
                        }
                    }
                }
            }
        },
    )
}
