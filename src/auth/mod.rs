//! Who is calling the API and what they may touch: Argon2id passwords, opaque
//! bearer tokens stored as SHA-256, the login rate limiter, and the one
//! extractor ([`Tenant`]) that decides which business a request acts for.
//!
//! Tenant isolation lives here and nowhere else: handlers never read a
//! business id from the request; they take a [`Tenant`] and pass it to the
//! tenant queries in `crate::db::crm`.

pub mod extract;
pub mod password;
pub mod rate_limit;
pub mod token;

pub use crate::db::users::{Role, User};
pub use extract::{AdminUser, AuthUser, ClientIp, Tenant};
pub use rate_limit::LoginLimiter;
