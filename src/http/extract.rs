//! Request extractors for every `/api` route group: JSON, query and path
//! whose rejections use the API's error envelope instead of axum's plain
//! text, the body limit they share, and who is asking — the authenticated
//! user, the admin, the tenant (the business a request acts for, resolved
//! once, here) and the client's address.
//!
//! Tenant rules (the isolation matrix in `tests/api/isolation.rs` pins them):
//! - no or unknown/expired/revoked token, deactivated user or business → 401;
//! - owners and agents act for their own business only; there is no way to
//!   name another one, so another tenant's object simply is not found (404);
//! - admins act for any business on `/api/crm/*` by passing
//!   `?business_id=N` (missing → 400, unknown → 404); on `/api/admin/*` they
//!   name businesses in the path;
//! - agents read only ([`Tenant::require_write`] → 403).

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, HeaderName};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::token::hash_token;
use crate::config::TrustedProxies;
use crate::db::users::{self, User};
use crate::domain::Timestamp;
use crate::domain::tenant::{Role, Tenant};
use crate::http::ApiError;
use crate::state::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The largest request body the API reads; CRM bodies are a few hundred
/// bytes, so anything near this is a mistake or an attack.
pub const API_BODY_LIMIT: usize = 16 * 1024;

/// `axum::Json` whose every rejection is a 400 in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        whole_numbers_as_integers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|e: serde_path_to_error::Error<serde_json::Error>| body_error(&e))
    }
}

/// JSON does not tell `3000` from `3000.0`, and JSON Schema calls both an
/// integer; serde does. Whole floats become integers before typed reading.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(whole_numbers_as_integers)
        }
        _ => {}
    }
}

/// A body of the right shape whose value the domain refuses (a phone
/// number that is not one, an out-of-range setting) is 422; anything
/// malformed — wrong types, unknown or missing fields — is 400. The domain
/// types refuse with serde's `invalid value`, which is how the two differ.
fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let text = e.inner().to_string();
    if text.starts_with("invalid value") {
        return ApiError::Unprocessable(format!("{}: {text}", e.path()));
    }
    // serde's message names the field and what was wrong with it.
    if e.path().iter().next().is_some() {
        ApiError::BadRequest(format!("invalid request body: {}: {text}", e.path()))
    } else {
        ApiError::BadRequest(format!("invalid request body: {text}"))
    }
}

/// Whether the body stopped arriving (the listener's body read timeout).
fn body_timed_out(e: &dyn std::error::Error) -> bool {
    let mut source = e.source();
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let message = match &rejection {
        JsonRejection::JsonSyntaxError(_) => "the request body is not valid JSON".to_string(),
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with Content-Type: application/json".to_string()
        }
        JsonRejection::BytesRejection(e) if body_timed_out(e) => return ApiError::BodyTimeout,
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than {API_BODY_LIMIT} bytes")
        }
        other => other.body_text(),
    };
    ApiError::BadRequest(message)
}

/// `axum::extract::Query` with envelope rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// `axum::extract::Path` with envelope rejections (`/customers/abc` → 400).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`,
/// "clear it") or a value (`Some(Some(v))`). Use with `#[serde(default)]`.
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

/// A request carrying a valid session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    /// SHA-256 of the presented token, so logout can revoke exactly it.
    pub token_hash: String,
    /// The presented token's session (`GET /api/auth/sessions` marks it).
    pub session_id: i64,
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
        let token = bearer(parts).ok_or(ApiError::UNAUTHENTICATED)?;
        let token_hash = hash_token(token);
        let users::SessionUser { user, session_id } =
            users::session_user(&state.db, &token_hash, Timestamp::now().as_str())
                .await?
                .ok_or(ApiError::UNAUTHENTICATED)?;
        tracing::Span::current().record("business_id", user.business_id);
        Ok(Self {
            user,
            token_hash,
            session_id,
        })
    }
}

/// `Option<AuthUser>`: the user when the request carries a valid session,
/// else `None` (never a rejection), for routes that anyone may read.
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
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

#[derive(Deserialize)]
struct ActAs {
    business_id: Option<String>,
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
        Ok(Tenant::new(user.id, user.role, business_id))
    }
}

/// The client's address: the TCP peer, unless the peer is one of
/// `TRUSTED_PROXIES` — then the right-most `X-Forwarded-For` entry that is
/// not itself a trusted proxy. Entries left of that one were written by the
/// client and prove nothing, so a forged header cannot move a client out of
/// its login limits. `None` when the server runs without connect info.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.map(|peer| {
            client_address(peer, &parts.headers, &state.config.trusted_proxies)
        })))
    }
}

/// Walks `X-Forwarded-For` from the right, past the trusted proxies.
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    // Several header lines are one list, in order (RFC 9110 §5.3).
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        // An entry that is no address ends the walk at the last hop a
        // trusted proxy vouched for: what lies left of it is unreadable.
        let Some(ip) = forwarded_hop(hop) else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) as some proxies write it.
fn forwarded_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .or_else(|_| hop.trim_matches(['[', ']']).parse::<IpAddr>())
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        headers
    }

    fn proxies(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let headers = forwarded(&["203.0.113.9"]);
        let peer = ip("198.51.100.1");
        assert_eq!(client_address(peer, &headers, &proxies("")), peer);
        assert_eq!(client_address(peer, &headers, &proxies("10.0.0.0/8")), peer);
    }

    #[test]
    fn the_client_is_the_right_most_entry_that_is_not_a_trusted_proxy() {
        let trusted = proxies("10.0.0.0/8");
        let peer = ip("10.0.0.2");
        // The client forged the first entry; the second is what our proxy saw.
        let headers = forwarded(&["192.0.2.66, 203.0.113.9, 10.0.0.1"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("203.0.113.9"));
        let split_lines = forwarded(&["192.0.2.66", "203.0.113.9", "10.0.0.1"]);
        assert_eq!(
            client_address(peer, &split_lines, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_read_and_garbage_stops_the_walk() {
        let trusted = proxies("10.0.0.0/8");
        let peer = ip("::ffff:10.0.0.2");
        let with_port = forwarded(&["203.0.113.9:4711"]);
        assert_eq!(
            client_address(peer, &with_port, &trusted),
            ip("203.0.113.9")
        );
        let v6 = forwarded(&["[2001:db8::7]:443"]);
        assert_eq!(client_address(peer, &v6, &trusted), ip("2001:db8::7"));
        let garbage = forwarded(&["203.0.113.9, unknown, 10.0.0.1"]);
        assert_eq!(client_address(peer, &garbage, &trusted), ip("10.0.0.1"));
        let none = HeaderMap::new();
        assert_eq!(client_address(peer, &none, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn when_every_entry_is_trusted_the_left_most_is_the_client() {
        let headers = forwarded(&["10.0.0.5, 10.0.0.1"]);
        let got = client_address(ip("10.0.0.2"), &headers, &proxies("10.0.0.0/8"));
        assert_eq!(got, ip("10.0.0.5"));
    }
}
