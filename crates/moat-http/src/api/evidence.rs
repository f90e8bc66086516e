//! `/api/v1/evidence`: the signed evidence pack of a period, as `moat evidence export`
//! writes it, for a GRC tool that collects it on a schedule. Cedar decides
//! `ExportEvidence` for the token's person at the door; the export is on the record.
//! A period is a start date and a number of days, so that every request the document
//! calls valid names a non-empty period.

use super::ApiJson;
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_service::console::ConsoleError;
use moat_service::evidence::Period;
use serde::Deserialize;
use utoipa::ToSchema;

/// The most days one pack covers (ten years).
pub const MAX_DAYS: u32 = 3_660;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRequest {
    /// The first day of the period (UTC), e.g. `2026-10-01`.
    #[schema(format = Date, example = "2026-10-01")]
    pub from: String,
    /// Whole days from the start of `from` (1 to 3660), e.g. 92 for a quarter.
    #[schema(minimum = 1, maximum = 3660, example = 92)]
    #[serde(deserialize_with = "whole_days")]
    pub days: u32,
}

/// Days as JSON writes an integer either way (`92` or `92.0`, as JSON Schema's
/// `integer` allows); anything else is refused.
fn whole_days<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let days = super::views::whole_number(deserializer, "days")?
        .ok_or_else(|| serde::de::Error::custom("a number of days is required"))?;
    u32::try_from(days)
        .map_err(|_| serde::de::Error::custom(format!("{days} is not a number of days")))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_period", message)
}

/// The signed evidence pack (zip) for `days` days from the start of `from`
/// (`ExportEvidence`). At most 1,000,000 events; larger periods with
/// `moat evidence export`.
#[utoipa::path(post, path = "/api/v1/evidence", operation_id = "export_evidence", tag = "evidence", request_body = EvidenceRequest,
    responses((status = 200, description = "The pack: a zip whose manifest is signed with the audit key; check it with `moat evidence verify`.", content_type = "application/zip"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<EvidenceRequest>,
) -> Result<Response, ApiError> {
    if !(1..=MAX_DAYS).contains(&request.days) {
        return Err(invalid(format!(
            "days {} is out of range; ask for 1 to {MAX_DAYS}",
            request.days
        )));
    }
    let period = Period::days(&request.from, request.days).map_err(|e| invalid(e.to_string()))?;
    let console = state.console.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server writes no evidence pack; use `moat evidence export`",
        )
    })?;
    let pack = console
        .evidence_pack(&actor, &period)
        .await
        .map_err(|error| match error {
            ConsoleError::Invalid(message) => invalid(message),
            ConsoleError::Denied(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            ConsoleError::NotFound(message) | ConsoleError::Unavailable(message) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, pack.media_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", pack.file_name),
            ),
        ],
        pack.body,
    )
        .into_response())
}
