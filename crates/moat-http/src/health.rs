//! Liveness, readiness and metrics: unauthenticated, so load balancers, orchestrators
//! and Prometheus can reach them.

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    policy_version: String,
}

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        policy_version: state.settings.policy_version.clone(),
    })
}

/// 200 when every check passes, else 503; the body names each check and why.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let report = match &state.readiness {
        Some(readiness) => readiness.check().await,
        None => moat_service::readiness::Report {
            ready: false,
            checks: vec![moat_service::readiness::Check {
                name: "readiness",
                ok: false,
                detail: "this server was built without readiness checks".into(),
            }],
            sequencer: "unknown",
        },
    };
    let status = if report.ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// Prometheus text 0.0.4 by default; OpenMetrics for scrapers that ask for it.
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    state.metrics.refresh().await;
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            state.metrics.render(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render_prometheus(),
        )
    }
}
