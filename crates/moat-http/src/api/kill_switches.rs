//! `/api/v1/kill-switches`: list, engage, release, through `moat_service::kill_switches`
//! with the token's person as the operator (the use case decides `Contain`: the
//! security and admin roles).

use super::{ApiJson, person};
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_policy::SwitchKind;
use moat_service::kill_switches::{KillSwitchError, KillSwitches};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a switch stops: a repository (no MCP answer, none of its code to a model), a
/// model alias or a vendor (no request to it, nor through a fallback).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKindView {
    Repo,
    Model,
    Vendor,
}

impl SwitchKindView {
    fn kind(self) -> SwitchKind {
        match self {
            SwitchKindView::Repo => SwitchKind::Repo,
            SwitchKindView::Model => SwitchKind::Model,
            SwitchKindView::Vendor => SwitchKind::Vendor,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KillSwitchView {
    /// `repo`, `model` or `vendor`.
    pub kind: String,
    pub target: String,
    pub reason: String,
    pub engaged_by: String,
    pub engaged_at: String,
}

impl From<moat_store::KillSwitch> for KillSwitchView {
    fn from(s: moat_store::KillSwitch) -> KillSwitchView {
        KillSwitchView {
            engaged_at: s.engaged_at.to_rfc3339(),
            kind: s.kind,
            target: s.target,
            reason: s.reason,
            engaged_by: s.engaged_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KillSwitchList {
    pub switches: Vec<KillSwitchView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchEngage {
    pub kind: SwitchKindView,
    /// The repository, model alias or vendor name, as configured.
    #[schema(min_length = 1)]
    pub target: String,
    /// Why: every refusal the switch causes repeats it.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchRelease {
    pub kind: SwitchKindView,
    #[schema(min_length = 1)]
    pub target: String,
    /// Words for the record.
    #[serde(default)]
    pub note: Option<String>,
}

impl From<KillSwitchError> for ApiError {
    fn from(error: KillSwitchError) -> ApiError {
        match error {
            KillSwitchError::Invalid(why) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", why)
            }
            KillSwitchError::Unknown(why) => ApiError::new(StatusCode::NOT_FOUND, "not_found", why),
            KillSwitchError::NotEngaged { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_engaged", error.to_string())
            }
            KillSwitchError::Engaged { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_engaged", error.to_string())
            }
            KillSwitchError::Operator(error) => error.into(),
            KillSwitchError::Admin(error) => error.into(),
            KillSwitchError::Store(error) => {
                tracing::error!(%error, "kill switches unavailable");
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
) -> Result<KillSwitches<'a>, ApiError> {
    let (models, vendors) = super::models_and_vendors(state);
    Ok(KillSwitches {
        access: super::access_of(state)?,
        admin,
        models,
        vendors,
    })
}

/// Every engaged switch, oldest first (`ViewAudit`).
#[utoipa::path(get, path = "/api/v1/kill-switches", operation_id = "list_kill_switches", tag = "kill-switches",
    responses((status = 200, body = KillSwitchList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<KillSwitchList>, ApiError> {
    let admin = state.admin();
    let engaged = service(&state, &admin)?.list().await?;
    Ok(Json(KillSwitchList {
        switches: engaged.into_iter().map(KillSwitchView::from).collect(),
    }))
}

/// Engages a switch (`Contain`): every node refuses from its next request on.
#[utoipa::path(post, path = "/api/v1/kill-switches", operation_id = "engage_kill_switch", tag = "kill-switches", request_body = KillSwitchEngage,
    responses((status = 201, body = KillSwitchView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn engage(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<KillSwitchEngage>,
) -> Result<(StatusCode, Json<KillSwitchView>), ApiError> {
    let admin = state.admin();
    let engaged = service(&state, &admin)?
        .engage(
            &actor,
            &person(&actor),
            request.kind.kind(),
            &request.target,
            &request.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(engaged.into())))
}

/// Releases an engaged switch (`Contain`); answers the switch as it was.
#[utoipa::path(post, path = "/api/v1/kill-switches/release", operation_id = "release_kill_switch", tag = "kill-switches", request_body = KillSwitchRelease,
    responses((status = 200, body = KillSwitchView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn release(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<KillSwitchRelease>,
) -> Result<Json<KillSwitchView>, ApiError> {
    let admin = state.admin();
    let released = service(&state, &admin)?
        .release(
            &actor,
            &person(&actor),
            request.kind.kind(),
            &request.target,
            request.note,
        )
        .await?;
    Ok(Json(released.into()))
}
