//! Credentials: Argon2id passwords, opaque bearer tokens stored as SHA-256,
//! and the login rate limiter. Who a request acts for is decided by the
//! extractors in `http::extract`, from the `Tenant` type in
//! `crate::domain::tenant`.

pub mod password;
pub mod rate_limit;
pub mod token;

pub use crate::db::users::{Role, User};
pub use rate_limit::LoginLimiter;
