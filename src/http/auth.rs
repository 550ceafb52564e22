//! Route group `auth`: `POST /api/auth/login`, `POST /api/auth/logout`,
//! `GET /api/auth/me`; the caller's password and sessions are in
//! [`account`].
//!
//! Login answers the same 401 for an unknown email, a wrong password, and a
//! deactivated user or business, and spends the same Argon2 time on each, so
//! neither the message nor the clock tells which emails exist. Attempts are
//! counted before the password is checked (`crate::auth::rate_limit`), and
//! only a few checks run at once (`crate::auth::password::Verifier`): a
//! login refused by either gets 429 with `Retry-After` and costs no hash.
//! Only a few attempts are counted at once, too: a burst past them is told
//! to come back in the same way, and never queues on the database.

mod account;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::crm::views::BusinessView;
use crate::auth::rate_limit::{self, Limit, Reservation, Reserve};
use crate::auth::{LoginLimiter, User, password, token};
use crate::db::{business, users};
use crate::domain::Timestamp;
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{API_BODY_LIMIT, ApiJson};
use crate::http::extract::{AuthUser, ClientIp};
use crate::state::AppState;

/// The group's routes with their documentation (see `crate::http::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(account::change_password))
        .routes(routes!(account::list_sessions))
        .routes(routes!(account::revoke_session))
}

/// What login holds besides the state: the limiter (its counts are in the
/// database, shared by every instance), how many attempts it may be
/// counting at once, and this process's password verifiers.
#[derive(Clone)]
pub struct LoginGuard {
    limiter: Arc<LoginLimiter>,
    counting: Arc<Semaphore>,
    verifier: password::Verifier,
}

/// Attempts looked up and counted in the database at once, per app. Both
/// take a database connection, and calls need the same pool (two
/// connections on SQLite): 300 wrong passwords sent at once queued there
/// past the pool's 3 s wait while the test suite loaded the server, and
/// their tail was answered 503 (on SQLite while only the count was
/// bounded, on PostgreSQL while the lookup before it was not). Past this
/// many, a login is refused as one that finds every verifier busy is, at
/// once and uncounted; four times the
/// verifiers, since counting takes a few milliseconds and a check tens.
const COUNTING_AT_ONCE: usize = 4 * password::CONCURRENT_CHECKS;

/// What a login refused because every verifier is busy is asked to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A login refused, uncounted, because this instance is busy with others:
/// counted in the metrics and told to come back in a moment.
fn busy(state: &AppState) -> ApiError {
    state.metrics.login_refused("busy");
    ApiError::retry_after(BUSY_RETRY_AFTER)
}

impl LoginGuard {
    /// Looks `email` up, counts an attempt at its password and finds it a
    /// verifier, or says why not (429). Counted before the hash: a burst
    /// gets no more checks than the limits. The reservation is a failure
    /// until the caller reports success.
    async fn admit(
        &self,
        state: &AppState,
        email: &str,
        ip: Option<IpAddr>,
    ) -> Result<Admitted, ApiError> {
        // Held over every query of the attempt — the lookup too, or a burst
        // queues its lookups on the pool instead — and while it is withdrawn.
        let Ok(_counting) = self.counting.try_acquire() else {
            tracing::warn!("login refused: too many logins are being counted at once");
            return Err(busy(state));
        };
        let candidate = users::find_for_login(&state.db, email).await?;
        let user_id = candidate.as_ref().map(|c| c.user.id);
        let reservation = match self
            .limiter
            .reserve(&state.db, email, ip, rate_limit::now_ms())
            .await?
        {
            Reserve::Granted(reservation) => reservation,
            Reserve::Refused(refusal) => {
                state.metrics.login_refused(refusal.limit.as_str());
                let retry_after_s = refusal.wait.as_secs_f64().ceil() as u64;
                if refusal.limit == Limit::Account {
                    tracing::warn!(
                        user_id,
                        failures = refusal.account_failures,
                        retry_after_s,
                        "login slowed: failed attempts at this account from many addresses"
                    );
                } else {
                    tracing::warn!(
                        user_id,
                        limit = refusal.limit.as_str(),
                        retry_after_s,
                        "login refused: too many failed attempts"
                    );
                }
                return Err(ApiError::retry_after(refusal.wait));
            }
        };
        let Some(turn) = self.verifier.turn().await else {
            // No password was checked, so the attempt must not count against
            // the user; they are asked to come back in a moment.
            self.limiter.release(&state.db, reservation).await?;
            tracing::warn!(user_id, "login refused: every password verifier is busy");
            return Err(busy(state));
        };
        Ok(Admitted {
            candidate,
            reservation,
            turn,
        })
    }
}

/// A login attempt let through to a password check.
struct Admitted {
    candidate: Option<users::LoginCandidate>,
    reservation: Reservation,
    turn: password::VerifyTurn,
}

pub fn router(state: &AppState) -> anyhow::Result<Router<AppState>> {
    let (routes, _) = api().split_for_parts();
    // Built per app rather than as a process-wide static, so two apps in one
    // process — the integration tests — never share verifiers; a service
    // runs one app, so the bound is process-wide there.
    let guard = LoginGuard {
        limiter: Arc::new(LoginLimiter::default()),
        counting: Arc::new(Semaphore::new(COUNTING_AT_ONCE)),
        verifier: password::Verifier::new(state.metrics.clone())
            .context("cannot start the password-check threads")?,
    };
    Ok(routes
        .layer(Extension(guard))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once; only its hash is stored.
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: String,
    pub user: User,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: User,
    /// The user's business; `null` for admins.
    pub business: Option<BusinessView>,
}

const BAD_CREDENTIALS: ApiError = ApiError::Unauthorized("invalid email or password");

/// Exchanges an email and password for a bearer token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Wrong email or password (never says which)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts, or every password check busy; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Extension(guard): Extension<LoginGuard>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let email = users::normalize_email(&req.email);
    let Admitted {
        candidate,
        reservation,
        turn,
    } = guard.admit(&state, &email, ip).await?;
    let user_id = candidate.as_ref().map(|c| c.user.id);
    let password_ok = turn
        .verify(
            candidate.as_ref().map(|c| c.password_hash.clone()),
            req.password,
        )
        .await;
    let user = match candidate {
        Some(c) if password_ok && c.user.active && c.business_active => c.user,
        _ => {
            // The reservation stays behind as the failure it is.
            tracing::warn!(user_id, "login failed");
            return Err(BAD_CREDENTIALS);
        }
    };
    guard.limiter.succeeded(&state.db, reservation).await?;

    let issued = token::issue();
    let expires_at =
        Timestamp::from(time::OffsetDateTime::now_utc() + token::SESSION_TTL).to_string();
    users::create_session(&state.db, user.id, &issued.hash, &expires_at).await?;
    tracing::info!(user_id = user.id, role = %user.role, "login succeeded");
    Ok(Json(LoginResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_at,
        user,
    }))
}

/// Revokes the presented token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token no longer works"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    users::revoke_session(&state.db, &auth.token_hash).await?;
    tracing::info!(user_id = auth.user.id, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// The current user and their business.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorBody),
    ))]
pub async fn me(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<MeResponse>, ApiError> {
    let business = match auth.user.business_id {
        Some(id) => business::get(&state.db, id).await?,
        None => None,
    };
    Ok(Json(MeResponse {
        user: auth.user,
        business,
    }))
}
