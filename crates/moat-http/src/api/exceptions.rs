//! `/api/v1/exceptions`: list, request, approve, deny, revoke, through
//! `moat_service::exceptions` with the token's person as the requester or reviewer
//! (the use case decides: asking for someone else is `Administer`, a review is
//! `ReviewException` by someone who neither asked nor benefits).

use super::{ApiJson, person};
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moat_service::exceptions::{Asked, ExceptionError, Exceptions, Listed, NewException, Review};
use moat_service::operator::Operator;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionView {
    pub id: String,
    pub email: String,
    /// `repo`.
    pub kind: String,
    pub target: String,
    pub reason: String,
    pub seconds: i64,
    /// `pending`, `approved`, `denied` or `revoked`.
    pub status: String,
    pub requested_at: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub ends_at: Option<String>,
    /// Approved and inside its window now.
    pub in_force: bool,
    /// Pending past `[exceptions] review_sla`.
    pub overdue: bool,
}

impl From<Listed> for ExceptionView {
    fn from(e: Listed) -> ExceptionView {
        ExceptionView {
            id: e.id,
            email: e.email,
            kind: e.kind,
            target: e.target,
            reason: e.reason,
            seconds: e.seconds,
            status: e.status,
            requested_at: e.requested_at,
            requested_by: e.requested_by,
            decided_by: e.decided_by,
            note: e.note,
            ends_at: e.ends_at,
            in_force: e.in_force,
            overdue: e.overdue,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionList {
    pub exceptions: Vec<ExceptionView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRequest {
    /// The person it is for (id or email); default: the token's person.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub user: Option<String>,
    /// The repository to read (name exactly one of `repo`, `model`, `tier` and `vendor`).
    #[serde(default)]
    #[schema(min_length = 1)]
    pub repo: Option<String>,
    /// The model alias to use outside the person's teams' allowlist.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub model: Option<String>,
    /// The tier whose every repository to read.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub tier: Option<String>,
    /// The vendor to send code to though its attestations do not cover it.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub vendor: Option<String>,
    /// Why it is needed.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
    /// How long, in seconds; past `[exceptions] max_duration` the policy refuses it (403).
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "super::views::required_whole_seconds")]
    pub seconds: i64,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDecision {
    #[serde(default)]
    pub note: Option<String>,
}

/// A denial says why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDenial {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

/// Where an exception stands after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionStatus {
    pub id: String,
    pub status: String,
    pub ends_at: Option<String>,
}

impl From<ExceptionError> for ApiError {
    fn from(error: ExceptionError) -> ApiError {
        match error {
            ExceptionError::Invalid(why) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", why)
            }
            ExceptionError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            ExceptionError::Unknown(why) => ApiError::new(StatusCode::NOT_FOUND, "not_found", why),
            ExceptionError::Decided { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_decided", error.to_string())
            }
            ExceptionError::Denied(why) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", why),
            ExceptionError::Operator(error) => error.into(),
            ExceptionError::Admin(error) => error.into(),
            ExceptionError::Store(error) => {
                tracing::error!(%error, "exceptions unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store is unavailable; try again shortly",
                )
            }
        }
    }
}

fn service<'a>(
    state: &'a AppState,
    admin: &'a moat_service::Admin<'a>,
) -> Result<Exceptions<'a>, ApiError> {
    let (models, vendors) = super::models_and_vendors(state);
    Ok(Exceptions {
        access: super::access_of(state)?,
        admin,
        rules: state.exception_rules,
        models,
        vendors,
    })
}

fn status(e: &moat_store::PolicyException) -> ExceptionStatus {
    ExceptionStatus {
        id: e.id.clone(),
        status: e.status.clone(),
        ends_at: e.ends_at.map(|t| t.to_rfc3339()),
    }
}

/// Carries out `review` as the token's person.
async fn review(
    state: &AppState,
    actor: &moat_service::AdminActor,
    id: &str,
    review: Review,
) -> Result<Json<ExceptionStatus>, ApiError> {
    let admin = state.admin();
    let decided = service(state, &admin)?
        .review(actor, &person(actor), id, review)
        .await?;
    Ok(Json(status(&decided)))
}

/// Every exception, newest first (`ViewAudit`).
#[utoipa::path(get, path = "/api/v1/exceptions", operation_id = "list_exceptions", tag = "exceptions",
    responses((status = 200, body = ExceptionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ExceptionList>, ApiError> {
    let admin = state.admin();
    let listed = service(&state, &admin)?.list(None).await?;
    Ok(Json(ExceptionList {
        exceptions: listed.into_iter().map(ExceptionView::from).collect(),
    }))
}

/// Asks for an exception: for the token's person, or (`Administer`) for another.
#[utoipa::path(post, path = "/api/v1/exceptions", operation_id = "request_exception", tag = "exceptions", request_body = ExceptionRequest,
    responses((status = 201, body = ExceptionStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<ExceptionRequest>,
) -> Result<(StatusCode, Json<ExceptionStatus>), ApiError> {
    let admin = state.admin();
    let me = person(&actor);
    let user = match (&request.user, &me) {
        (Some(user), _) => user.clone(),
        (None, Operator::Person(who)) => who.clone(),
        (None, Operator::Local(_)) => String::new(),
    };
    let what = match (request.repo, request.model, request.tier, request.vendor) {
        (Some(repo), None, None, None) => Asked::Repo(repo),
        (None, Some(model), None, None) => Asked::Model(model),
        (None, None, Some(tier), None) => Asked::Tier(tier),
        (None, None, None, Some(vendor)) => Asked::Vendor(vendor),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "name exactly one of `repo`, `model`, `tier` and `vendor`",
            ));
        }
    };
    let asked = service(&state, &admin)?
        .request(
            &actor,
            &me,
            NewException {
                user,
                what,
                reason: request.reason,
                seconds: request.seconds,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(status(&asked))))
}

#[utoipa::path(post, path = "/api/v1/exceptions/{id}/approve", operation_id = "approve_exception", tag = "exceptions", request_body = ExceptionDecision,
    params(("id" = String, Path, description = "exception id")),
    responses((status = 200, body = ExceptionStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
    ApiJson(decision): ApiJson<ExceptionDecision>,
) -> Result<Json<ExceptionStatus>, ApiError> {
    review(&state, &actor, &id, Review::Approve(decision.note)).await
}

#[utoipa::path(post, path = "/api/v1/exceptions/{id}/deny", operation_id = "deny_exception", tag = "exceptions", request_body = ExceptionDenial,
    params(("id" = String, Path, description = "exception id")),
    responses((status = 200, body = ExceptionStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn deny(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
    ApiJson(denial): ApiJson<ExceptionDenial>,
) -> Result<Json<ExceptionStatus>, ApiError> {
    review(&state, &actor, &id, Review::Deny(denial.note)).await
}

#[utoipa::path(post, path = "/api/v1/exceptions/{id}/revoke", operation_id = "revoke_exception", tag = "exceptions", request_body = ExceptionDecision,
    params(("id" = String, Path, description = "exception id")),
    responses((status = 200, body = ExceptionStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(id): Path<String>,
    ApiJson(decision): ApiJson<ExceptionDecision>,
) -> Result<Json<ExceptionStatus>, ApiError> {
    review(&state, &actor, &id, Review::Revoke(decision.note)).await
}
