//! The console's HTML (maud: every value escaped at compile-checked templates). No
//! script and no inline style anywhere, so the CSP can forbid both.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use moat_service::console::people::PersonDetail;
use moat_service::console::{ModelRow, Overview, SignedIn, VendorRow};

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

fn nav_items(signed: &SignedIn) -> [(&'static str, &'static str, bool); 12] {
    let may = signed.abilities;
    [
        ("/console", "Overview", may.administer || may.view_audit),
        ("/console/people", "People", may.administer),
        ("/console/access", "Access", may.administer),
        (
            "/console/repos",
            "Repositories",
            may.administer || may.view_audit,
        ),
        (
            "/console/models",
            "Models",
            may.administer || may.view_audit,
        ),
        (
            "/console/policy",
            "Policy",
            may.administer || may.view_audit,
        ),
        (
            "/console/exceptions",
            "Exceptions",
            may.administer || may.view_audit,
        ),
        ("/console/incidents", "Incidents", may.view_audit),
        (
            "/console/kill-switches",
            "Kill switches",
            may.view_audit || may.contain,
        ),
        ("/console/audit", "Audit", may.view_audit),
        ("/console/evidence", "Evidence", may.view_audit),
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

/// The approved models with their pinned versions, and the vendors with their
/// attestations: on the overview and the models page.
pub(super) fn models_and_vendors(models: &[ModelRow], vendors: &[VendorRow]) -> Markup {
    html! {
    h2 { "Models" }
    @if models.is_empty() {
        p { "No models are configured: the gateway is off." }
    } @else {
        table {
            thead { tr { th scope="col" { "Model" } th scope="col" { "Vendor" } th scope="col" { "Pinned version" } th scope="col" { "Teams" } } }
            tbody {
                @for model in models {
                    tr { td { (model.alias) } td { (model.vendor) } td { code { (model.version) } } td { (model.teams.join(", ")) } }
                }
            }
        }
    }
    h2 { "Vendors" }
    @if vendors.is_empty() {
        p { "No vendors are configured." }
    } @else {
        table {
            thead { tr { th scope="col" { "Vendor" } th scope="col" { "Kind" } th scope="col" { "Region" } th scope="col" { "Attestations" } } }
            tbody {
                @for vendor in vendors {
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
                    @if overview.witnesses.is_empty() {
                        p.muted { "No witness holds a copy of the checkpoints." }
                    } @else {
                        ul {
                            @for witness in &overview.witnesses {
                                li {
                                    (witness.name) ": "
                                    @if witness.behind_seconds == 0.0 { span.ok { "holds the newest checkpoint" } }
                                    @else { span.bad { (format!("{:.0}", witness.behind_seconds)) " s behind" } }
                                    @if witness.failures > 0 { " (" (witness.failures) " failed deliveries)" }
                                }
                            }
                        }
                    }
                }
                div.card {
                    h2 { "Kill switches" }
                    @if overview.kill_switches.is_empty() {
                        p.figure { "0" }
                        p.muted { "None engaged: every configured repository, model and vendor is served." }
                    } @else {
                        p.figure { span.bad { (overview.kill_switches.len()) } }
                        ul {
                            @for switch in &overview.kill_switches {
                                li {
                                    span.bad { (switch.kind) " " (switch.target) } ": " (switch.reason)
                                    span.muted { " (since " (switch.engaged_at) ", by " (switch.engaged_by) ")" }
                                }
                            }
                        }
                        p.muted { "Released with " code { "moat kill-switch release" } "." }
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
            (models_and_vendors(&overview.models, &overview.vendors))
            @if let Some((_, note)) = &overview.checkpoint {
                h2 { "Newest signed checkpoint" }
                pre { (note) }
            }
        },
    )
}

/// What a person holds, can reach and did lately: the body of their detail page and
/// of "Your account".
pub(super) fn person_sections(detail: &PersonDetail, own: bool) -> Markup {
    let person = &detail.person;
    html! {
        dl {
            dt { "Email" } dd { (person.email) }
            dt { "Name" } dd { (person.name) }
            dt { "Status" } dd { (person.status) }
            dt { "Roles" } dd { (person.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) }
            dt { "Teams" } dd { (person.teams.join(", ")) }
            dt { "Training" }
            dd {
                @match (&person.training, detail.training_required, detail.training_current) {
                    (Some(t), _, current) => { (t.version) " completed " (t.completed_at) @if !current { " (no longer current)" } }
                    (None, true, _) => { "not completed (required)" }
                    (None, false, _) => { "not required" }
                }
            }
        }
        h2 { @if own { "Your tokens" } @else { "Tokens" } }
        @if detail.tokens.is_empty() {
            p { "No tokens." }
        } @else {
            table {
                thead { tr { th scope="col" { "Token" } th scope="col" { "Name" } th scope="col" { "Scopes" } th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { "State" } } }
                tbody {
                    @for token in &detail.tokens {
                        tr {
                            td { code { (token.id.0) } }
                            td { (token.name) }
                            td { (token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                            td { (token.expires_at.map_or("never".to_string(), |t| t.to_string())) }
                            td { (token.last_used_at.map_or("never".to_string(), |t| t.to_string())) }
                            td { @if token.revoked_at.is_some() { "revoked" } @else { "live" } }
                        }
                    }
                }
            }
        }
        h2 { "Tools connected (OAuth grants)" }
        @if detail.grants.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th scope="col" { "Tool" } th scope="col" { "Resource" } th scope="col" { "Since" } th scope="col" { "State" } } }
                tbody {
                    @for grant in &detail.grants {
                        tr {
                            td { (grant.client_name) }
                            td { (grant.audience) }
                            td { (grant.created_at) }
                            td { @match &grant.revoked_reason { Some(why) => { "ended: " (why) } None => { "live" } } }
                        }
                    }
                }
            }
        }
        h2 { "Repositories " @if own { "you" } @else { "they" } " may query (" (detail.access_total) ")" }
        @if detail.access.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th scope="col" { "Repository" } th scope="col" { "Tier" } th scope="col" { "MCP shows" } } }
                tbody {
                    @for (name, tier, shows) in &detail.access {
                        tr { td { (name) } td { (tier) } td { (shows) } }
                    }
                }
            }
            @if detail.access_total > detail.access.len() {
                p.muted { "The first " (detail.access.len()) " are shown." }
            }
        }
        h2 { "Recent activity" }
        @if detail.recent.is_empty() {
            p { "Nothing in the recent record." }
        } @else {
            table {
                thead { tr { th scope="col" { "Seq" } th scope="col" { "Time" } th scope="col" { "Action" } th scope="col" { "Decision" } th scope="col" { "Repositories" } } }
                tbody {
                    @for event in &detail.recent {
                        tr {
                            td { (event.seq) }
                            td { (event.time) }
                            td { (event.body.action) }
                            td { (format!("{:?}", event.body.decision.outcome).to_lowercase()) }
                            td { (event.body.resources.repos.join(", ")) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn me(signed: &SignedIn, detail: &PersonDetail) -> Markup {
    layout(
        "Your account",
        Some(signed),
        "/console/me",
        html! {
            p.muted { "This session: " code { (signed.session_id) } }
            (person_sections(detail, true))
        },
    )
}
