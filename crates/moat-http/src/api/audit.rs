//! `/api/v1/audit`: the log's events (the filters of `moat audit search`, paged by
//! sequence number) and its verification, for the console and for SOAR tools. Both
//! are reads of the record, recorded themselves before they are answered; Cedar decides
//! `ViewAudit` for the caller.

use super::views::{AuditEventsView, AuditFailureView, AuditVerifyView, WitnessCheckView};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use moat_service::audit::read::{self, VerifyError};
use moat_service::audit::search::{self, Filter};
use serde::Deserialize;

/// Most events one page may hold, and events one call reads at most.
const MAX_LIMIT: usize = 1_000;
const MAX_SCAN: usize = 200_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// User id, email or token id.
    pub actor: Option<String>,
    /// An action, or a prefix ending in `*` (`gateway.*`).
    pub action: Option<String>,
    /// A repository the event touched or sent to a model.
    pub repo: Option<String>,
    /// At or after this time (RFC 3339 or a date).
    pub since: Option<String>,
    /// Before this time (RFC 3339 or a date).
    pub until: Option<String>,
    /// The first sequence number to read: `next_from` of the previous page.
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub from: Option<u64>,
    /// Most events in the page (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The log to read; a server started without it answers 503.
fn reading(state: &AppState) -> Result<std::sync::Arc<crate::AuditReading>, ApiError> {
    state.audit_reading.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server was started without access to read its audit log; use `moat audit search` and `moat audit verify`",
        )
    })
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

/// Events matching every filter given, in sequence order. A page ends at `limit`
/// events or after 200,000 events read; `next_from` continues it, `null` means the log
/// was read to its end.
#[utoipa::path(get, path = "/api/v1/audit/events", operation_id = "audit_events", tag = "audit", params(EventsQuery),
    responses((status = 200, body = AuditEventsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<AuditEventsView>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid(format!(
            "limit {limit} is out of range; ask for 1 to {MAX_LIMIT} events"
        )));
    }
    let from = query.from.unwrap_or(0);
    if from > i64::MAX as u64 {
        return Err(invalid(format!(
            "from {from} is past any sequence number; start at 0 or a page's next_from"
        )));
    }
    // An empty filter is no filter (`?actor=&since=` as a form sends it).
    let given = |value: Option<String>| value.filter(|v| !v.is_empty());
    let time = |t: Option<String>| given(t).map(|t| search::normalize_time(&t)).transpose();
    let filter = Filter {
        actor: given(query.actor),
        action: given(query.action),
        repo: given(query.repo),
        since: time(query.since).map_err(invalid)?,
        until: time(query.until).map_err(invalid)?,
    };
    let page = search::search(
        reading(&state)?.store.as_ref(),
        &filter,
        from,
        limit,
        MAX_SCAN,
    )
    .await
    .map_err(unavailable)?;
    let events = page
        .events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unavailable(moat_service::AuditError::Corrupt(e.to_string())))?;
    Ok(Json(AuditEventsView {
        events,
        next_from: page.next_from,
    }))
}

/// Recomputes the whole log from its events and checks every signed checkpoint and
/// every witness file's copy, as `moat audit verify` does. `ok: false` names the first
/// sequence number that cannot be trusted.
#[utoipa::path(get, path = "/api/v1/audit/verify", operation_id = "audit_verify", tag = "audit",
    responses((status = 200, body = AuditVerifyView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn verify(State(state): State<AppState>) -> Result<Json<AuditVerifyView>, ApiError> {
    let sources = reading(&state)?;
    let result = read::verify_with_witness_files(
        sources.store.clone(),
        sources.keys.clone(),
        &sources.witness_files,
        Vec::new(),
        |_, _| {},
    )
    .await;
    let view = match result {
        Ok(report) => AuditVerifyView {
            ok: true,
            events: report.events,
            signed_size: Some(report.signed_size),
            checkpoints: report.checkpoints,
            root: Some(hex::encode(report.root)),
            witnesses: report
                .external
                .into_iter()
                .map(|(source, size)| WitnessCheckView { source, size })
                .collect(),
            failure: None,
        },
        Err(VerifyError::Failed(failure)) => AuditVerifyView {
            ok: false,
            events: 0,
            signed_size: None,
            checkpoints: 0,
            root: None,
            witnesses: Vec::new(),
            failure: Some(AuditFailureView {
                first_bad_seq: failure.first_bad_seq,
                checkpoint_size: failure.checkpoint_size,
                reason: failure.reason,
            }),
        },
        Err(VerifyError::Store(error)) => return Err(unavailable(error)),
    };
    Ok(Json(view))
}

fn unavailable(error: moat_service::AuditError) -> ApiError {
    tracing::error!(%error, "reading the audit log");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        format!("the audit log cannot be read: {error}"),
    )
    .with_hint("check the server log and run `moat audit verify`")
}
