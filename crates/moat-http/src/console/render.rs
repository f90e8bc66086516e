//! The console's HTML (maud: every value escaped at compile-checked templates). No
//! script and no inline style anywhere, so the CSP can forbid both.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use moat_audit::event::Event;
use moat_domain::{Tier, UserStatus};
use moat_service::console::views::{AuditPage, EventDetail, PeoplePage};
use moat_service::console::{Overview, RepoRow, SignedIn};

/// A page, with the console's headers.
pub(super) fn page(status: StatusCode, markup: Markup) -> Response {
    super::secure((status, Html(markup.into_string())).into_response())
}

pub(super) fn layout(
    title: &str,
    signed: Option<&SignedIn>,
    current: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Moat console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header {
                    span.brand { "Moat console" }
                    @if let Some(signed) = signed {
                        nav aria-label="Console" {
                            ul {
                                @for (href, label, shown) in nav_items(signed) {
                                    @if shown {
                                        li {
                                            @if href == current {
                                                a href=(href) aria-current="page" { (label) }
                                            } @else {
                                                a href=(href) { (label) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        span.who { (signed.user.email) }
                        form.inline method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn nav_items(signed: &SignedIn) -> [(&'static str, &'static str, bool); 5] {
    let may = signed.abilities;
    [
        ("/console", "Overview", may.administer || may.view_audit),
        ("/console/people", "People", may.administer),
        (
            "/console/repos",
            "Repositories",
            may.administer || may.view_audit,
        ),
        ("/console/audit", "Audit", may.view_audit),
        ("/console/me", "Your account", true),
    ]
}

pub(super) fn error_page(status: StatusCode, message: &str, signed: Option<&SignedIn>) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Cannot do that",
        StatusCode::UNAUTHORIZED => "Not signed in",
        _ => "Unavailable",
    };
    page(
        status,
        layout(
            title,
            signed,
            "",
            html! {
                p.notice.error role="alert" { (message) }
                p { a href="/console" { "Back to the console" } }
            },
        ),
    )
}

pub(super) fn sign_in(code: &str, message: Option<&str>, idp: bool) -> Markup {
    layout(
        "Sign in",
        None,
        "",
        html! {
            @if let Some(message) = message {
                p.notice.error role="alert" { (message) }
            }
            @if idp {
                p { a.button href="/oauth/idp/start?return_to=%2Fconsole" { "Sign in with your company account" } }
                p { "or" }
            }
            form method="post" action="/console/sign-in" {
                p {
                    label for="code" { "One-time sign-in link or code" }
                    br;
                    input #code type="text" name="code" value=(code) autocomplete="off" size="60" required;
                }
                p { button type="submit" { "Sign in" } }
            }
            p.muted {
                "No link? An administrator prints one with "
                code { "moat login-link you@company.com --console" }
                ". Moat never asks for a password."
            }
        },
    )
}

/// After a sign-in at the identity provider: on to the console by a same-site
/// navigation (see `signed_in_by_provider`).
pub(super) fn continue_to_console(signed: &SignedIn) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="0; url=/console";
                title { "Signed in · Moat console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                main {
                    h1 { "Signed in" }
                    p { "You are signed in as " (signed.user.email) ". " a href="/console" { "Continue to the console" } }
                }
            }
        }
    }
}

pub(super) fn overview(signed: &SignedIn, overview: &Overview) -> Markup {
    let people: usize = overview.people_by_status.values().sum();
    let repos: usize = overview.repos_by_tier.values().map(Vec::len).sum();
    layout(
        "Overview",
        Some(signed),
        "/console",
        html! {
            div.cards {
                div.card {
                    h2 { "Repositories" }
                    p.figure { (repos) }
                    ul {
                        @for (tier, names) in &overview.repos_by_tier {
                            li { (tier) ": " (names.len()) }
                        }
                    }
                }
                div.card {
                    h2 { "People" }
                    p.figure { (people) }
                    ul {
                        @for (status, count) in &overview.people_by_status {
                            li { (status) ": " (count) }
                        }
                    }
                }
                div.card {
                    h2 { "Audit log" }
                    @match &overview.checkpoint {
                        Some((size, _)) => {
                            p.figure { (size) }
                            p.muted { "events, every one under a signed checkpoint" }
                        }
                        None => { p { "No events yet." } }
                    }
                }
                div.card {
                    h2 { "Configuration" }
                    @match overview.published_version {
                        Some(version) => { p.figure { "v" (version) } p.muted { "published for every node" } }
                        None => { p { "Not published: each node reads its own file." } }
                    }
                    @if !overview.follows_published {
                        p.muted { "This node reads its own file." }
                    }
                }
            }
            h2 { "Models" }
            @if overview.models.is_empty() {
                p { "No models are configured: the gateway is off." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Model" } th scope="col" { "Vendor" } th scope="col" { "Pinned version" } th scope="col" { "Teams" } } }
                    tbody {
                        @for model in &overview.models {
                            tr { td { (model.alias) } td { (model.vendor) } td { code { (model.version) } } td { (model.teams.join(", ")) } }
                        }
                    }
                }
            }
            h2 { "Vendors" }
            @if overview.vendors.is_empty() {
                p { "No vendors are configured." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Vendor" } th scope="col" { "Kind" } th scope="col" { "Region" } th scope="col" { "Attestations" } } }
                    tbody {
                        @for vendor in &overview.vendors {
                            tr {
                                td { (vendor.name) @if vendor.on_prem { " (on premises)" } }
                                td { (vendor.kind) }
                                td { (vendor.region) }
                                td { @if vendor.attestations.is_empty() { span.muted { "none" } } @else { (vendor.attestations.join(", ")) } }
                            }
                        }
                    }
                }
            }
            @if let Some((_, note)) = &overview.checkpoint {
                h2 { "Newest signed checkpoint" }
                pre { (note) }
            }
        },
    )
}

const STATUSES: [UserStatus; 3] = [
    UserStatus::Active,
    UserStatus::Suspended,
    UserStatus::Deprovisioned,
];

pub(super) fn people(
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
                            td { (person.email) }
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

const TIERS: [Tier; 4] = [
    Tier::Public,
    Tier::Internal,
    Tier::Confidential,
    Tier::Restricted,
];

pub(super) fn repos(
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

pub(super) struct AuditForm<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub repo: &'a str,
}

pub(super) fn audit(signed: &SignedIn, page: &AuditPage, form: &AuditForm) -> Markup {
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

pub(super) fn audit_event(signed: &SignedIn, detail: &EventDetail) -> Markup {
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

pub(super) fn me(signed: &SignedIn, tokens: &[moat_domain::Token]) -> Markup {
    layout(
        "Your account",
        Some(signed),
        "/console/me",
        html! {
            dl {
                dt { "Email" } dd { (signed.user.email) }
                dt { "Roles" } dd { (signed.user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) }
                dt { "Teams" } dd { (signed.user.teams.join(", ")) }
                dt { "This session" } dd { code { (signed.session_id) } }
            }
            h2 { "Your tokens" }
            @if tokens.is_empty() {
                p { "You hold no tokens." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Token" } th scope="col" { "Name" } th scope="col" { "Scopes" } th scope="col" { "Expires" } th scope="col" { "State" } } }
                    tbody {
                        @for token in tokens {
                            tr {
                                td { code { (token.id.0) } }
                                td { (token.name) }
                                td { (token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                                td { (token.expires_at.map_or("never".to_string(), |t| t.to_string())) }
                                td { @if token.revoked_at.is_some() { "revoked" } @else { "live" } }
                            }
                        }
                    }
                }
            }
        },
    )
}
