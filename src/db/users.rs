//! The `app_user` and `api_session` tables: who may use the API and the
//! hashed bearer tokens they hold. Password hashing and token minting live in
//! `crate::auth`; this module only stores and finds rows.
//!
//! A session is live while it is neither revoked nor expired. Revoking is a
//! timestamp, not a delete, so a revoked token keeps answering 401 rather
//! than becoming unknown; [`prune_sessions`] deletes the rows once they are
//! old enough that nobody will ask about them.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, get_bool};
use crate::domain::Timestamp;

pub use crate::domain::tenant::Role;

/// A user as the rest of the code sees it: never with its password hash.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// The business an owner or agent belongs to; `None` for admins.
    pub business_id: Option<i64>,
    pub active: bool,
    pub created_at: String,
}

const USER_COLUMNS: &str = "u.id, u.email, u.role, u.business_id, u.active, u.created_at";

impl User {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let role: String = row.try_get("role")?;
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            role: role
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            business_id: row.try_get("business_id")?,
            active: get_bool(row, "active")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Emails are compared case-insensitively: stored and looked up lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Stores a new user whose password is already hashed. The caller has checked
/// that the role and the business agree (admins have none, others one).
pub async fn create(
    db: &Db,
    email: &str,
    password_hash: &str,
    role: Role,
    business_id: Option<i64>,
) -> Result<User, CreateUserError> {
    let email = normalize_email(email);
    if !email.contains('@') || email.len() > 254 {
        return Err(CreateUserError::Invalid(format!(
            "{email:?} is not an email address"
        )));
    }
    let row = sqlx::query(
        "INSERT INTO app_user (email, password_hash, role, business_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(business_id)
    .bind(Timestamp::now())
    .fetch_one(&db.pool)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            CreateUserError::EmailTaken(email.clone())
        } else {
            CreateUserError::Db(e)
        }
    })?;
    let id: i64 = row.try_get("id")?;
    Ok(get(db, id).await?.ok_or(sqlx::Error::RowNotFound)?)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM app_user u WHERE u.id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// A user who may try to log in, with what login needs to decide.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub user: User,
    pub password_hash: String,
    /// False when the user's business has been deactivated.
    pub business_active: bool,
}

/// Finds a user by email (any case) for login.
pub async fn find_for_login(db: &Db, email: &str) -> Result<Option<LoginCandidate>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.password_hash, b.active AS business_active \
         FROM app_user u LEFT JOIN business b ON b.id = u.business_id WHERE u.email = $1"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(normalize_email(email))
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(LoginCandidate {
        user: User::from_row(&row)?,
        password_hash: row.try_get("password_hash")?,
        business_active: business_active(&row)?,
    }))
}

/// Admins have no business (NULL): they count as active.
fn business_active(row: &AnyRow) -> Result<bool, sqlx::Error> {
    let raw: Option<i64> = row
        .try_get::<Option<bool>, _>("business_active")
        .map_or_else(
            |_| row.try_get::<Option<i64>, _>("business_active"),
            |b| Ok(b.map(i64::from)),
        )?;
    Ok(raw.is_none_or(|v| v != 0))
}

/// Records a new session for `user_id` under the SHA-256 of its token.
pub async fn create_session(
    db: &Db,
    user_id: i64,
    token_hash: &str,
    expires_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_session (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(Timestamp::now())
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A live session and the user holding it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUser {
    pub user: User,
    pub session_id: i64,
}

/// The user holding an unexpired, unrevoked session, provided the user and
/// their business are still active. `now` is a stored-format timestamp.
pub async fn session_user(
    db: &Db,
    token_hash: &str,
    now: &str,
) -> Result<Option<SessionUser>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, s.id AS session_id, b.active AS business_active \
         FROM api_session s JOIN app_user u ON u.id = s.user_id \
         LEFT JOIN business b ON b.id = u.business_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let user = User::from_row(&row)?;
    let session_id = row.try_get("session_id")?;
    Ok((user.active && business_active(&row)?).then_some(SessionUser { user, session_id }))
}

/// A session as its owner may see it: never its token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub created_at: String,
    pub expires_at: String,
}

/// The user's live sessions, newest first.
pub async fn live_sessions(db: &Db, user_id: i64) -> Result<Vec<Session>, sqlx::Error> {
    sqlx::query(
        "SELECT id, created_at, expires_at FROM api_session \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id DESC",
    )
    .bind(user_id)
    .bind(Timestamp::now())
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|row| {
        Ok(Session {
            id: row.try_get("id")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .collect()
}

/// Revokes one of the user's own live sessions; false when `session_id` is
/// not one (another user's, expired, already revoked or unknown).
pub async fn revoke_own_session(
    db: &Db,
    user_id: i64,
    session_id: i64,
) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    let done = sqlx::query(
        "UPDATE api_session SET revoked_at = $1 \
         WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(&now)
    .bind(session_id)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Stores a new password hash and revokes every other live session of the
/// user, in one transaction: whoever held the old password and logged in
/// with it is out the moment the change is made. Returns how many sessions
/// were revoked.
pub async fn change_password(
    db: &Db,
    user_id: i64,
    password_hash: &str,
    keep_session_id: i64,
) -> Result<u64, sqlx::Error> {
    let now = Timestamp::now();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE app_user SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let revoked = sqlx::query(
        "UPDATE api_session SET revoked_at = $1 \
         WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(&now)
    .bind(user_id)
    .bind(keep_session_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(revoked)
}

/// Every user, oldest first.
pub async fn list(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM app_user u ORDER BY u.id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(User::from_row)
        .collect()
}

/// Activates or deactivates a user; deactivating also revokes every live
/// session, so that activating the user again does not bring back tokens
/// handed out before. `None` when there is no such user; otherwise the user
/// as it now is and how many sessions were revoked.
pub async fn set_active(
    db: &Db,
    id: i64,
    active: bool,
) -> Result<Option<(User, u64)>, sqlx::Error> {
    let now = Timestamp::now();
    let mut tx = db.pool.begin().await?;
    let changed = sqlx::query("UPDATE app_user SET active = $1 WHERE id = $2")
        .bind(active)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    let revoked = if active {
        0
    } else {
        sqlx::query(
            "UPDATE api_session SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    tx.commit().await?;
    let user = get(db, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some((user, revoked)))
}

/// Revokes one session; revoking twice is harmless.
pub async fn revoke_session(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_session SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(Timestamp::now())
    .bind(token_hash)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Deletes the sessions that expired or were revoked at or before
/// `before`; returns how many. Live sessions are never touched.
pub async fn prune_sessions(db: &Db, before: &Timestamp) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM api_session WHERE expires_at <= $1 OR revoked_at <= $1")
            .bind(before)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Admin, Role::Owner, Role::Agent] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn emails_are_matched_without_case_or_padding() {
        assert_eq!(normalize_email("  Dana@Example.COM "), "dana@example.com");
    }
}
