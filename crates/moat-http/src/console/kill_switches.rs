//! Kill switches: the engaged ones (what, since when, by whom, why) for those who read
//! the record; for the security team a form to freeze a repository or disable a model
//! or a vendor, and a release button on each. Every form posts the session's CSRF token;
//! the use case decides again, and the switch holds on every node from the next request.

use super::render::{self, layout};
use super::{address, console, for_change, refusal_for, signed_in};
use crate::AppState;
use crate::oauth::Peer;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use moat_service::console::kill_switches::Targets;
use moat_service::console::{Console, SignedIn};
use moat_store::KillSwitch;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct SwitchForm {
    #[serde(default)]
    csrf: String,
    /// `repo`, `model` or `vendor`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    target: String,
    /// The engage form's one list: `kind:target`.
    #[serde(default)]
    choice: String,
    /// Why (engaging); a note (releasing).
    #[serde(default)]
    reason: String,
}

impl SwitchForm {
    /// The kind and target, from the two fields or the one list.
    fn what(&self) -> (&str, &str) {
        match self.choice.split_once(':') {
            Some(chosen) if self.kind.is_empty() => chosen,
            _ => (&self.kind, &self.target),
        }
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let console = tri!(console(&state));
    let signed = tri!(signed_in(&console, &headers).await);
    show(&console, &signed, &peer, None).await
}

async fn show(console: &Console, signed: &SignedIn, peer: &Peer, notice: Option<&str>) -> Response {
    match console.kill_switches(signed, address(peer)).await {
        Ok((engaged, targets)) => {
            render::page(StatusCode::OK, markup(signed, &engaged, &targets, notice))
        }
        Err(error) => refusal_for(error, Some(signed)),
    }
}

pub(super) async fn engage(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    form: Result<Form<SwitchForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let form = form.ok().map(|f| f.0).unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &form.csrf).await);
    let (kind, target) = form.what();
    match console
        .engage_switch(&signed, address(&peer), kind, target, &form.reason)
        .await
    {
        Ok(switch) => {
            let notice = format!(
                "The {} kill switch on {} is engaged on every node.",
                switch.kind, switch.target
            );
            show(&console, &signed, &peer, Some(&notice)).await
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

pub(super) async fn release(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    form: Result<Form<SwitchForm>, FormRejection>,
) -> Response {
    let console = tri!(console(&state));
    let form = form.ok().map(|f| f.0).unwrap_or_default();
    let signed = tri!(for_change(&state, &console, &headers, &form.csrf).await);
    let note = Some(form.reason.trim().to_string()).filter(|n| !n.is_empty());
    let (kind, target) = form.what();
    match console
        .release_switch(&signed, address(&peer), kind, target, note)
        .await
    {
        Ok(switch) => {
            let notice = format!(
                "The {} kill switch on {} is released.",
                switch.kind, switch.target
            );
            show(&console, &signed, &peer, Some(&notice)).await
        }
        Err(error) => refusal_for(error, Some(&signed)),
    }
}

fn markup(
    signed: &SignedIn,
    engaged: &[KillSwitch],
    targets: &Targets,
    notice: Option<&str>,
) -> Markup {
    let contain = signed.abilities.contain;
    layout(
        "Kill switches",
        Some(signed),
        "/console/kill-switches",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            p.muted {
                "A frozen repository gets no MCP answer and none of its code goes to a model; "
                "a disabled model or vendor gets no request, nor through a fallback. "
                "A switch holds on every node from the next request until it is released ("
                code { "moat kill-switch" } ")."
            }
            @if engaged.is_empty() {
                p { "No kill switch is engaged." }
            } @else {
                table {
                    caption { "Engaged kill switches, oldest first" }
                    thead { tr {
                        th scope="col" { "What" } th scope="col" { "Since" } th scope="col" { "By" }
                        th scope="col" { "Why" }
                        @if contain { th scope="col" { "Release" } }
                    } }
                    tbody {
                        @for s in engaged {
                            tr {
                                td { (s.kind) " " code { (s.target) } }
                                td { (s.engaged_at.to_rfc3339()) }
                                td { (s.engaged_by) }
                                td { (s.reason) }
                                @if contain { td {
                                        form.inline method="post" action="/console/kill-switches/release" {
                                            input type="hidden" name="csrf" value=(signed.csrf);
                                            input type="hidden" name="kind" value=(s.kind);
                                            input type="hidden" name="target" value=(s.target);
                                            label { "Note " input type="text" name="reason" maxlength="1000"; }
                                            button type="submit" aria-label=(format!("Release the {} switch on {}", s.kind, s.target)) { "Release" }
                                        }
                                } }
                            }
                        }
                    }
                }
            }
            @if contain {
                h2 { "Engage a kill switch" }
                form method="post" action="/console/kill-switches" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    p {
                        label for="switch-target" { "Stop " }
                        select id="switch-target" name="choice" required {
                            (options("repo", "Repositories", &targets.repos))
                            (options("model", "Models", &targets.models))
                            (options("vendor", "Vendors", &targets.vendors))
                        }
                    }
                    p {
                        label for="switch-reason" { "Why (every refusal it causes repeats it) " }
                        input id="switch-reason" type="text" name="reason" required maxlength="1000";
                    }
                    button type="submit" { "Engage" }
                }
            }
        },
    )
}

/// One group of the target list; each option's value is `kind:target`.
fn options(kind: &str, label: &str, names: &[String]) -> Markup {
    html! {
        @if !names.is_empty() {
            optgroup label=(label) {
                @for name in names {
                    option value=(format!("{kind}:{name}")) { (name) }
                }
            }
        }
    }
}
