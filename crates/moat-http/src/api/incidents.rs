//! `/api/v1/incidents`: list, show, open by hand, and take steps, through
//! `moat_service::incidents` with the token's person as the operator (the use case
//! decides: reading is `ViewAudit`, changing is `Contain`).

use super::{ApiJson, person};
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use moat_domain::UnixTime;
use moat_service::incidents::{IncidentError, Incidents, Shown, Step};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentAlertView {
    /// The alert's sequence number in the audit log.
    pub seq: u64,
    pub rule: String,
    pub at: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentEntryView {
    /// `detected`, `acknowledged`, `contained`, `notified`, `resolved`, `alert`,
    /// `assigned` or `note`.
    pub step: String,
    pub at: String,
    pub by: String,
    pub note: Option<String>,
    /// `notified`: the deadlines it meets (none named: all).
    pub meets: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDeadlineView {
    /// `acknowledged`, `contained`, `notified:class:<class>` or `notified:vendor:<name>`.
    pub key: String,
    pub step: String,
    pub due: String,
    pub why: String,
    pub met_at: Option<String>,
    pub overdue: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: String,
    pub title: String,
    /// A person's email or id, or `vendor:<name>`.
    pub subject: String,
    /// `open` or `resolved`.
    pub status: String,
    pub owner: Option<String>,
    pub detected: String,
    pub alerts: Vec<IncidentAlertView>,
    pub repos: Vec<String>,
    pub vendors: Vec<String>,
    pub classes: Vec<String>,
    pub timeline: Vec<IncidentEntryView>,
    pub deadlines: Vec<IncidentDeadlineView>,
    /// Deadlines past due and not met.
    pub overdue: usize,
}

impl From<Shown> for IncidentView {
    fn from(shown: Shown) -> IncidentView {
        let time = |at: i64| UnixTime(at).to_rfc3339();
        let i = shown.incident;
        IncidentView {
            alerts: i
                .alerts
                .into_iter()
                .map(|a| IncidentAlertView {
                    seq: a.seq,
                    rule: a.rule,
                    at: time(a.at),
                    message: a.message,
                })
                .collect(),
            timeline: i
                .timeline
                .into_iter()
                .map(|e| IncidentEntryView {
                    step: e.step,
                    at: time(e.at),
                    by: e.by,
                    note: e.note,
                    meets: e.meets,
                })
                .collect(),
            deadlines: shown
                .deadlines
                .into_iter()
                .map(|d| IncidentDeadlineView {
                    key: d.key,
                    step: d.step.to_string(),
                    due: d.due,
                    why: d.why,
                    met_at: d.met_at,
                    overdue: d.overdue,
                })
                .collect(),
            id: i.id,
            title: i.title,
            subject: i.subject,
            status: i.status,
            owner: i.owner,
            detected: shown.detected,
            repos: i.repos,
            vendors: i.vendors,
            classes: i.classes,
            overdue: shown.overdue,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// Only incidents in this status; all by default.
    pub status: Option<IncidentStatus>,
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentOpen {
    /// Whom or what it is about.
    #[schema(min_length = 1, max_length = 320, pattern = r"\S")]
    pub subject: String,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A step of the response to take.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStepKind {
    Acknowledge,
    Contain,
    Notify,
    Resolve,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentStep {
    pub step: IncidentStepKind,
    /// Words for the timeline.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// `notify`: the deadlines met (`class:phi`, `vendor:acme`); none: every one the
    /// incident has now.
    #[serde(default, rename = "for")]
    pub meets: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentNote {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentOwner {
    /// The new owner, by email or id.
    #[schema(min_length = 1, max_length = 320, pattern = r"\S")]
    pub owner: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

impl From<IncidentError> for ApiError {
    fn from(error: IncidentError) -> ApiError {
        match error {
            IncidentError::Invalid(why) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", why)
            }
            IncidentError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            IncidentError::UnknownPerson(why) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", why)
            }
            IncidentError::Conflict(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
            IncidentError::Operator(error) => error.into(),
            IncidentError::Admin(error) => error.into(),
            IncidentError::Corrupt(..) | IncidentError::Store(_) => {
                tracing::error!(%error, "incidents unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the incidents cannot be read; try again shortly",
                )
            }
        }
    }
}

fn service<'a>(
    state: &'a AppState,
    admin: &'a moat_service::Admin<'a>,
) -> Result<Incidents<'a>, ApiError> {
    Ok(Incidents {
        access: super::access_of(state)?,
        admin,
        rules: &state.incident_rules,
    })
}

/// Every incident, newest first, with its deadlines as of now (`ViewAudit`).
#[utoipa::path(get, path = "/api/v1/incidents", operation_id = "list_incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = IncidentList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Query(query): Query<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let admin = state.admin();
    let listed = service(&state, &admin)?
        .list(
            &actor,
            &person(&actor),
            query.status.map(|s| match s {
                IncidentStatus::Open => "open",
                IncidentStatus::Resolved => "resolved",
            }),
        )
        .await?;
    Ok(Json(IncidentList {
        incidents: listed.into_iter().map(IncidentView::from).collect(),
    }))
}

/// One incident (`ViewAudit`).
#[utoipa::path(get, path = "/api/v1/incidents/{id}", operation_id = "show_incident", tag = "incidents",
    params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    let admin = state.admin();
    let shown = service(&state, &admin)?
        .show(&actor, &person(&actor), &id)
        .await?;
    Ok(Json(shown.into()))
}

/// Opens an incident by hand (`Contain`).
#[utoipa::path(post, path = "/api/v1/incidents", operation_id = "open_incident", tag = "incidents", request_body = IncidentOpen,
    responses((status = 201, body = IncidentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<IncidentOpen>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    let admin = state.admin();
    let service = service(&state, &admin)?;
    let opened = service
        .open(
            &actor,
            &person(&actor),
            &request.subject,
            &request.title,
            request.note,
        )
        .await?;
    let shown = moat_service::incidents::shown(opened, &state.incident_rules, service.access.now());
    Ok((StatusCode::CREATED, Json(shown.into())))
}

/// Takes a step (`Contain`): each of acknowledge, contain and resolve once; nothing
/// but notes once resolved.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/steps", operation_id = "step_incident", tag = "incidents", request_body = IncidentStep,
    params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn step(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<IncidentStep>,
) -> Result<Json<IncidentView>, ApiError> {
    let step = match request.step {
        IncidentStepKind::Acknowledge => Step::Acknowledge,
        IncidentStepKind::Contain => Step::Contain,
        IncidentStepKind::Resolve => Step::Resolve,
        IncidentStepKind::Notify => Step::Notify(request.meets),
    };
    take(&state, &actor, &id, step, request.note).await
}

/// Adds a note to the timeline (`Contain`), resolved or not.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", operation_id = "note_incident", tag = "incidents", request_body = IncidentNote,
    params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn note(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<IncidentNote>,
) -> Result<Json<IncidentView>, ApiError> {
    take(&state, &actor, &id, Step::Note, Some(request.note)).await
}

/// Makes a person the incident's owner (`Contain`).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/owner", operation_id = "assign_incident", tag = "incidents", request_body = IncidentOwner,
    params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<IncidentOwner>,
) -> Result<Json<IncidentView>, ApiError> {
    take(
        &state,
        &actor,
        &id,
        Step::Assign(request.owner),
        request.note,
    )
    .await
}

async fn take(
    state: &AppState,
    actor: &moat_service::AdminActor,
    id: &str,
    step: Step,
    note: Option<String>,
) -> Result<Json<IncidentView>, ApiError> {
    let admin = state.admin();
    let service = service(state, &admin)?;
    let changed = service.step(actor, &person(actor), id, step, note).await?;
    let shown =
        moat_service::incidents::shown(changed, &state.incident_rules, service.access.now());
    Ok(Json(shown.into()))
}
