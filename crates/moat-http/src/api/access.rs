//! `/api/v1/access`: explain one decision, or the whole matrix, from the same
//! authorisation service every query path uses.

use super::views::{DecisionView, MatrixView, UnmappedListView};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use moat_policy::Action;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExplainQuery {
    /// User id or email.
    pub user: String,
    pub repo: String,
    /// Ask about reading raw source instead of querying context.
    #[serde(default)]
    pub read_source: bool,
}

fn access(state: &AppState) -> Result<&moat_service::Access, ApiError> {
    state.access.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "access control is not configured on this server",
        )
    })
}

async fn authorizer(state: &AppState) -> Result<std::sync::Arc<moat_policy::Authorizer>, ApiError> {
    access(state)?.authorizer().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "policy_unavailable",
            format!("{e}; every query is denied until this is fixed"),
        )
    })
}

#[utoipa::path(get, path = "/api/v1/access/explain", operation_id = "explain_access", tag = "access", params(ExplainQuery),
    responses((status = 200, body = DecisionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn explain(
    State(state): State<AppState>,
    Query(query): Query<ExplainQuery>,
) -> Result<Json<DecisionView>, ApiError> {
    let authorizer = authorizer(&state).await?;
    let action = if query.read_source {
        Action::ReadSource
    } else {
        Action::QueryContext
    };
    let decision = authorizer.decide(&query.user, action, &query.repo);
    Ok(Json(DecisionView::from(&decision)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MatrixQuery {
    /// Continue after this email (the previous page's `next`).
    pub after: Option<String>,
    /// Most cells (person × repository) in the page, 1–10,000; default 2,000. A page
    /// always holds whole rows, at least one person's.
    pub limit: Option<usize>,
}

/// Who can reach which repository, at which tier: one page of whole rows, people by
/// email; follow `next` for the rest.
#[utoipa::path(get, path = "/api/v1/access/matrix", operation_id = "access_matrix", tag = "access", params(MatrixQuery),
    responses((status = 200, body = MatrixView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn matrix(
    State(state): State<AppState>,
    Query(query): Query<MatrixQuery>,
) -> Result<Json<MatrixView>, ApiError> {
    let limit = query.limit.unwrap_or(2_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("limit {limit} is outside 1-10000"),
        ));
    }
    let authorizer = authorizer(&state).await?;
    // Thousands of Cedar decisions: off the async workers.
    let (cells, next) = moat_service::blocking::off_the_worker(async {
        authorizer.matrix_page(query.after.as_deref(), limit)
    })
    .await;
    let mut view = MatrixView::from(cells.as_slice());
    view.next = next;
    Ok(Json(view))
}

/// Host logins the permission mirror lists that are linked to no Moat user: they grant
/// nothing until linked (`[permissions.*] users`, SAML identities, a login claim).
#[utoipa::path(get, path = "/api/v1/access/unmapped", operation_id = "unmapped_logins", tag = "access",
    responses((status = 200, body = UnmappedListView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn unmapped(State(state): State<AppState>) -> Result<Json<UnmappedListView>, ApiError> {
    let unmapped = access(&state)?.unmapped().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the permission mirror cannot be read: {e}"),
        )
    })?;
    Ok(Json(UnmappedListView {
        unmapped: unmapped.iter().map(Into::into).collect(),
    }))
}
