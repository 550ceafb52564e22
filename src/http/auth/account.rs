//! The signed-in user's own account: changing the password, and seeing and
//! revoking their sessions. Every route here acts on the caller only; an
//! id that is not theirs is simply not found.
//!
//! A wrong current password is counted exactly like a failed login (same
//! limiter, same verifiers), so a stolen token is no faster a way to guess
//! the password than the login form. It is answered 403, not 401: the
//! session is fine, and clients treat 401 as "log in again".

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admitted, LoginGuard};
use crate::auth::password::MIN_PASSWORD_LEN;
use crate::db::users;
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, AuthUser, ClientIp};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 10 characters, and not the current password.
    #[schema(min_length = 10)]
    pub new_password: String,
}

/// One of the caller's live sessions. The token itself is shown only once,
/// at login; not even its hash is shown here.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub created_at: String,
    pub expires_at: String,
    /// True for the session whose token made this request.
    pub current: bool,
}

/// Changes the caller's password and signs out their other sessions; the
/// session that asked stays signed in.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth",
    security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session of the user is revoked"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The current password is wrong (counted as a failed login)", body = ErrorBody),
        (status = 422, description = "The new password is too short or equals the current one", body = ErrorBody),
        (status = 429, description = "Too many failed attempts, or every password check busy; see Retry-After", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(guard): Extension<LoginGuard>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    // Refused before any hash is spent on it.
    if change.new_password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::Unprocessable(format!(
            "new_password: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if change.new_password == change.current_password {
        return Err(ApiError::Unprocessable(
            "new_password: must differ from the current password".into(),
        ));
    }
    let user_id = auth.user.id;
    let Admitted {
        candidate,
        reservation,
        turn,
    } = guard.admit(&state, &auth.user.email, ip).await?;
    let Some(stored) = candidate else {
        // Gone since the token was checked: nothing was tried, nothing counts.
        guard.limiter.release(&state.db, reservation).await?;
        return Err(ApiError::UNAUTHENTICATED);
    };
    let new_hash = match turn
        .rehash(
            stored.password_hash,
            change.current_password,
            change.new_password,
        )
        .await
    {
        Ok(Some(hash)) => hash,
        Ok(None) => {
            // The reservation stays behind as the failure it is.
            tracing::warn!(user_id, "password change refused: wrong current password");
            return Err(ApiError::Forbidden("the current password is wrong".into()));
        }
        Err(e) => {
            guard.limiter.release(&state.db, reservation).await?;
            return Err(ApiError::Internal(e));
        }
    };
    guard.limiter.succeeded(&state.db, reservation).await?;
    let revoked = users::change_password(&state.db, user_id, &new_hash, auth.session_id).await?;
    tracing::info!(
        user_id,
        sessions_revoked = revoked,
        "password changed; other sessions revoked"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<SessionView>),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = users::live_sessions(&state.db, auth.user.id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == auth.session_id,
                id: s.id,
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect(),
    ))
}

/// Revokes one of the caller's own sessions (the current one too: that is
/// a logout).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses(
        (status = 204, description = "The session's token no longer works"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Not a live session of the caller", body = ErrorBody),
    ))]
pub async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    if !users::revoke_own_session(&state.db, auth.user.id, id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(user_id = auth.user.id, session_id = id, "session revoked");
    Ok(StatusCode::NO_CONTENT)
}
