//! Platform operators' view of users: list every user, deactivate or
//! reactivate one. Users are still created with `agentlocator user create`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::db::users::{self, User};
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{AdminUser, ApiJson, ApiPath};
use crate::state::AppState;

/// What an admin may change about a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// `false` deactivates the user and revokes every session they hold;
    /// `true` lets them log in again (old sessions stay revoked).
    pub active: bool,
}

/// Every user, active or not, oldest first.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<User>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(users::list(&state.db).await?))
}

/// Deactivates (revoking every session at once) or reactivates a user.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = UserChange,
    responses(
        (status = 200, body = User),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An admin cannot deactivate themselves", body = ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<User>, ApiError> {
    // The last admin locking themselves out would leave only the CLI.
    if id == admin.id && !change.active {
        return Err(ApiError::Conflict(
            "an admin cannot deactivate their own account".into(),
        ));
    }
    let (user, sessions_revoked) = users::set_active(&state.db, id, change.active)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(
        user_id = user.id,
        admin_id = admin.id,
        active = user.active,
        sessions_revoked,
        "user changed by an admin"
    );
    Ok(Json(user))
}
