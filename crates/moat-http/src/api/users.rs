//! `/api/v1/users`: add, list, show, suspend, reactivate, deprovision.

use super::ApiJson;
use super::views::{NewUserRequest, UserList, UserView};
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moat_service::NewUser;

#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<UserList>, ApiError> {
    let users = state.identity.users().await?;
    Ok(Json(UserList {
        users: users.iter().map(UserView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/users", operation_id = "add_user", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = state
        .admin()
        .add_user(
            &actor,
            NewUser {
                email: request.email,
                name: request.name,
                roles: request.roles,
                teams: request.teams,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[utoipa::path(get, path = "/api/v1/users/{user}", operation_id = "show_user", tag = "users",
    params(("user" = String, Path, description = "user id or email")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &state.identity.find_user(&user).await?,
    )))
}

/// Refuses the user's tokens at once, without revoking them.
#[utoipa::path(post, path = "/api/v1/users/{user}/suspend", operation_id = "suspend_user", tag = "users",
    params(("user" = String, Path, description = "user id or email")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn suspend(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &state.admin().suspend_user(&actor, &user).await?,
    )))
}

#[utoipa::path(post, path = "/api/v1/users/{user}/reactivate", operation_id = "reactivate_user", tag = "users",
    params(("user" = String, Path, description = "user id or email")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reactivate(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &state.admin().reactivate_user(&actor, &user).await?,
    )))
}

/// Offboards the user: every token revoked in the same transaction.
#[utoipa::path(post, path = "/api/v1/users/{user}/deprovision", operation_id = "deprovision_user", tag = "users",
    params(("user" = String, Path, description = "user id or email")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn deprovision(
    State(state): State<AppState>,
    axum::Extension(actor): Actor,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &state.admin().deprovision_user(&actor, &user).await?,
    )))
}
