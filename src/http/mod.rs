//! HTTP route groups, one module each; `crate::app` merges them.

pub mod admin;
pub mod auth;
pub mod crm;
pub mod error;
pub mod extract;
pub mod health;
pub mod media_ws;
pub mod metrics;
pub mod openapi;
pub mod payments;
pub mod signed_request;
pub mod webhooks;

pub use error::ApiError;
