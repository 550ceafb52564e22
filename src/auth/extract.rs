//! Request extractors: the authenticated user, the admin, and the tenant —
//! the business a request acts for — resolved once, here.
//!
//! Rules (the isolation matrix in `tests/api/isolation.rs` pins them):
//! - no or unknown/expired/revoked token, deactivated user or business → 401;
//! - owners and agents act for their own business only; there is no way to
//!   name another one, so another tenant's object simply is not found (404);
//! - admins act for any business on `/api/crm/*` by passing
//!   `?business_id=N` (missing → 400, unknown → 404); on `/api/admin/*` they
//!   name businesses in the path;
//! - agents read only ([`Tenant::require_write`] → 403).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::Deserialize;

use super::token::hash_token;
use crate::db::users::{self, Role, User};
use crate::domain::Timestamp;
use crate::http::ApiError;
use crate::state::AppState;

/// A request carrying a valid session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    /// SHA-256 of the presented token, so logout can revoke exactly it.
    pub token_hash: String,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256)
        .then_some(token)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let token_hash = hash_token(token);
        let user = users::session_user(&state.db, &token_hash, Timestamp::now().as_str())
            .await?
            .ok_or(ApiError::Unauthorized)?;
        tracing::Span::current().record("business_id", user.business_id);
        Ok(Self { user, token_hash })
    }
}

/// A request from a platform admin (anyone else: 403).
#[derive(Debug, Clone)]
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        if auth.user.role != Role::Admin {
            return Err(ApiError::Forbidden(
                "only platform admins may do this".into(),
            ));
        }
        Ok(Self(auth.user))
    }
}

/// The caller and the one business this request may read or change. Its
/// fields are private: a `Tenant` exists only through this extractor, so
/// every tenant query is scoped by a business the caller is entitled to.
#[derive(Debug, Clone)]
pub struct Tenant {
    user: User,
    business_id: i64,
}

#[derive(Deserialize)]
struct ActAs {
    business_id: Option<String>,
}

impl Tenant {
    pub fn business_id(&self) -> i64 {
        self.business_id
    }

    pub fn user(&self) -> &User {
        &self.user
    }

    /// Admins and owners may change things; agents only read.
    pub fn require_write(&self) -> Result<(), ApiError> {
        match self.user.role {
            Role::Admin | Role::Owner => Ok(()),
            Role::Agent => Err(ApiError::Forbidden(
                "agents have read-only access; ask the business owner".into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser { user, .. } = AuthUser::from_request_parts(parts, state).await?;
        let business_id = match user.role {
            Role::Owner | Role::Agent => user.business_id.ok_or_else(|| {
                ApiError::Forbidden("this user is not attached to a business".into())
            })?,
            Role::Admin => {
                let act_as: ActAs = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
                    .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
                let id = act_as
                    .business_id
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "admins act for a business by passing ?business_id=N".into(),
                        )
                    })?
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::BadRequest("business_id must be an integer".into()))?;
                crate::db::business::get(&state.db, id)
                    .await?
                    .ok_or(ApiError::NotFound)?
                    .id
            }
        };
        tracing::Span::current().record("business_id", business_id);
        Ok(Self { user, business_id })
    }
}

/// The client's address as the TCP peer (see `rate_limit` for why not a
/// forwarded header); `None` when the server runs without connect info.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}
