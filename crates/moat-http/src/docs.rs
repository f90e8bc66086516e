//! `/docs/rules` and `/docs/rules/{id}`: what each sensitive-data rule finds and what to
//! do about a finding, the `helpUri` of `moat scan --format sarif`. Unauthenticated: the
//! rules are the deployment's configuration, not its data (a custom rule's pattern is
//! never shown, only its name, kind and severity).

use crate::oauth::escape;
use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moat_dlp::describe::RuleDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs/rules", get(index))
        .route("/docs/rules/{id}", get(rule))
}

async fn index(State(state): State<AppState>) -> Response {
    let mut body = String::from(
        "<h1>Sensitive-data rules</h1>\n<p>What <code>moat scan</code>, the index and the \
         gateway look for. Each page says what the rule finds and what to do about a \
         finding.</p>\n<table>\n<tr><th>Rule</th><th>Kind</th><th>Severity</th><th>Finds</th></tr>\n",
    );
    for doc in state.rule_docs.iter() {
        body.push_str(&format!(
            "<tr><td><a href=\"/docs/rules/{id}\">{id}</a></td><td>{kind}</td><td>{severity}</td><td>{title}</td></tr>\n",
            id = escape(&doc.id),
            kind = doc.kind.as_str(),
            severity = doc.severity.as_str(),
            title = escape(&doc.title),
        ));
    }
    body.push_str("</table>\n");
    page("Sensitive-data rules", &body)
}

async fn rule(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if id == "ai-generated" {
        return page(
            "ai-generated",
            "<h1>AI-generated code</h1>\n<p>The file shares enough of its fingerprints with \
             an answer a model gave through the Moat gateway to count as written by it. The \
             finding names that answer's audit event and the pinned model version.</p>\n\
             <h2>What to do</h2>\n<p>Review the file as AI-written code: check it against \
             the change's intent, its tests and your secure-coding rules. <code>moat audit \
             show SEQ</code> shows the request that produced it.</p>\n",
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
    page(&doc.id, &describe(doc))
}

fn describe(doc: &RuleDoc) -> String {
    format!(
        "<p><a href=\"/docs/rules\">All rules</a></p>\n<h1>{title}</h1>\n\
         <p><code>{id}</code> · {kind} · severity {severity}{custom}</p>\n\
         <p>{summary}</p>\n<p>{description}</p>\n<h2>What to do</h2>\n<p>{remediation}</p>\n",
        title = escape(&doc.title),
        id = escape(&doc.id),
        kind = doc.kind.as_str(),
        severity = doc.severity.as_str(),
        custom = if doc.custom {
            " · defined by your organisation"
        } else {
            ""
        },
        summary = escape(&doc.summary),
        description = escape(&doc.description),
        remediation = escape(&doc.remediation),
    )
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · Moat</title></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ],
        html,
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
        let html = describe(&doc);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("acme-&lt;script&gt;x"), "{html}");
        assert!(html.contains("defined by your organisation"), "{html}");
        assert!(html.contains("What to do"), "{html}");
    }
}
