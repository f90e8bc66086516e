//! The written policy of the configuration this node enforces, as a page and as a
//! Markdown download (`moat policy render` writes the same document).

use super::pages::reader;
use super::render::{self, layout};
use crate::AppState;
use crate::oauth::Peer;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use moat_service::policy_document::{self, Format};

pub(super) async fn policy(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let (console, signed) = tri!(reader(&state, &headers, &peer, None, "console/policy").await);
    let body = match &console.policy_document() {
        Some(document) => html! {
            h1 { (document.org) ": AI coding-tool policy" }
            p { a href="/console/policy.md" download="policy.md" { "Download as Markdown" } }
            (policy_document::html_sections(document))
        },
        None => html! {
            h1 { "Policy" }
            p { "This node was started without its configuration's policy." }
        },
    };
    render::page(
        StatusCode::OK,
        layout("Policy", Some(&signed), "/console/policy", body),
    )
}

pub(super) async fn markdown(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let (console, _) = tri!(reader(&state, &headers, &peer, None, "console/policy").await);
    let Some(document) = &console.policy_document() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"policy.md\"",
            ),
        ],
        policy_document::render(document, Format::Markdown),
    )
        .into_response()
}
