//! `/api/v1/tokens`: issue, list, revoke, rotate.

use super::ApiJson;
use super::views::{
    GrantView, IssueTokenRequest, IssuedTokenView, RotateTokenRequest, TokenList, TokenView,
};
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use moat_service::IssueToken;
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only this user's tokens (id or email).
    user: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_tokens", tag = "tokens", params(ListQuery),
    responses((status = 200, body = TokenList), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.identity.tokens(query.user.as_deref()).await?;
    let grants = state.identity.oauth_grants(query.user.as_deref()).await?;
    Ok(Json(TokenList {
        tokens: tokens.iter().map(TokenView::from).collect(),
        grants: grants.iter().map(GrantView::from).collect(),
    }))
}

/// Issues a token; the secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "issue_token", tag = "tokens", request_body = IssueTokenRequest,
    responses((status = 201, body = IssuedTokenView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn issue(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<IssueTokenRequest>,
) -> Result<(StatusCode, Json<IssuedTokenView>), ApiError> {
    let issued = state
        .admin()
        .issue_token(
            &actor,
            IssueToken {
                user: request.user,
                name: request.name,
                scopes: request.scopes,
                ttl_seconds: request.ttl_seconds,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedTokenView {
            token: TokenView::from(&issued.token),
            secret: issued.secret,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens/{token}/revoke", operation_id = "revoke_token", tag = "tokens",
    params(("token" = String, Path, description = "token id (tok_...)")),
    responses((status = 200, body = TokenView), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(token): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(TokenView::from(
        &state.admin().revoke_token(&actor, &token).await?,
    )))
}

/// Ends one OAuth grant (a tool a person connected), with every token under it.
#[utoipa::path(post, path = "/api/v1/grants/{grant}/revoke", operation_id = "revoke_grant", tag = "tokens",
    params(("grant" = String, Path, description = "grant id (grant_...), as `GET /api/v1/tokens` lists them")),
    responses((status = 200, body = GrantView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(grant): Path<String>,
) -> Result<Json<GrantView>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no live grant `{grant}`"),
        )
        .with_hint("`GET /api/v1/tokens` lists grants; a revoked one stays revoked")
    };
    let oauth = state.oauth.clone().ok_or_else(not_found)?;
    let revoked = oauth.revoke_grant(&actor, &grant).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
    })?;
    if !revoked {
        return Err(not_found());
    }
    let grants = state.identity.oauth_grants(None).await?;
    let found = grants
        .iter()
        .find(|g| g.id == grant)
        .ok_or_else(not_found)?;
    Ok(Json(GrantView::from(found)))
}

/// Issues a replacement; the old token keeps working for the grace period.
#[utoipa::path(post, path = "/api/v1/tokens/{token}/rotate", operation_id = "rotate_token", tag = "tokens",
    params(("token" = String, Path, description = "token id (tok_...)")),
    request_body(content = RotateTokenRequest, description = "optional"),
    responses((status = 200, body = IssuedTokenView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<IssuedTokenView>, ApiError> {
    let request: RotateTokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateTokenRequest::default()
    } else {
        super::json_body(&headers, &body)
            .map_err(|e| e.with_hint("send `{\"grace_seconds\": 3600}` or no body"))?
    };
    let issued = state
        .admin()
        .rotate_token(&actor, &token, request.grace_seconds)
        .await?;
    Ok(Json(IssuedTokenView {
        token: TokenView::from(&issued.token),
        secret: issued.secret,
    }))
}
