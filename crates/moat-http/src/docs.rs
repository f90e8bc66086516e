//! `/docs/rules` and `/docs/rules/{id}`: what each sensitive-data rule finds and what to
//! do about a finding, the `helpUri` of `moat scan --format sarif`. Unauthenticated: the
//! rules are the deployment's configuration, not its data (a custom rule's pattern is
//! never shown, only its name, kind and severity).

use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use moat_dlp::describe::RuleDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs/rules", get(index))
        .route("/docs/rules/{id}", get(rule))
}

async fn index(State(state): State<AppState>) -> Response {
    let body = html! {
        h1 { "Sensitive-data rules" }
        p {
            "What " code { "moat scan" } ", the index and the gateway look for. Each page says what the rule finds and what to do about a finding."
        }
        table {
            tr { th { "Rule" } th { "Kind" } th { "Severity" } th { "Finds" } }
            @for doc in state.rule_docs.iter() {
                tr {
                    td { a href=(format!("/docs/rules/{}", doc.id)) { (doc.id) } }
                    td { (doc.kind.as_str()) }
                    td { (doc.severity.as_str()) }
                    td { (doc.title) }
                }
            }
        }
    };
    page("Sensitive-data rules", body)
}

async fn rule(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if id == "ai-generated" {
        return page(
            "ai-generated",
            html! {
                h1 { "AI-generated code" }
                p {
                    "The file shares enough of its fingerprints with an answer a model gave through the Moat gateway to count as written by it. The finding names that answer's audit event and the pinned model version."
                }
                h2 { "What to do" }
                p {
                    "Review the file as AI-written code: check it against the change's intent, its tests and your secure-coding rules. "
                    code { "moat audit show SEQ" } " shows the request that produced it."
                }
            },
        );
    }
    let Some(doc) = state.rule_docs.iter().find(|d| d.id == id) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no rule named `{id}`"),
        )
        .with_hint("/docs/rules lists the rules this deployment runs")
        .into_response();
    };
    page(&doc.id, describe(doc))
}

fn describe(doc: &RuleDoc) -> Markup {
    html! {
        p { a href="/docs/rules" { "All rules" } }
        h1 { (doc.title) }
        p {
            code { (doc.id) } " · " (doc.kind.as_str()) " · severity " (doc.severity.as_str())
            @if doc.custom { " · defined by your organisation" }
        }
        p { (doc.summary) }
        p { (doc.description) }
        h2 { "What to do" }
        p { (doc.remediation) }
    }
}

fn page(title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · Moat" }
            }
            body { (body) }
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ],
        html.into_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_dlp::{Kind, Severity};

    #[test]
    fn an_organisations_rule_is_shown_escaped_and_marked_as_its_own() {
        let doc = moat_dlp::describe::explain("acme-<script>x", Kind::Pii, Severity::High, None);
        let html = describe(&doc).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("acme-&lt;script&gt;x"), "{html}");
        assert!(html.contains("defined by your organisation"), "{html}");
        assert!(html.contains("What to do"), "{html}");
    }
}
