//! Route group `crm`: what an owner or agent sees of their own business —
//! its settings, its customers, its calls with transcripts and turns — plus
//! the OpenAPI document of the whole `/api`. Payments have their own group.
//!
//! Every handler takes a [`Tenant`](crate::auth::Tenant) and only the tenant
//! queries in `crate::db::crm`; see `crate::auth::extract` for who may act
//! for which business.

pub mod business;
pub mod calls;
pub mod customers;
pub mod extract;
pub mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The group's routes with their documentation (see `crate::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(business::get_business, business::update_business))
        .routes(routes!(customers::list_customers))
        .routes(routes!(customers::get_customer, customers::update_customer))
        .routes(routes!(customers::customer_calls))
        .routes(routes!(calls::list_calls))
        .routes(routes!(calls::get_call))
}

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    let (routes, _) = api().split_for_parts();
    Ok(routes
        .merge(crate::openapi::router())
        .layer(DefaultBodyLimit::max(extract::API_BODY_LIMIT)))
}
