//! Route group `crm`: what an owner or agent sees of their own business —
//! its settings, its customers, its calls with transcripts and turns.
//! Payments have their own group.
//!
//! Every handler takes a [`Tenant`](crate::domain::tenant::Tenant) and only the tenant
//! queries in `crate::db::crm`; see `crate::http::extract` for who may act
//! for which business.

pub mod business;
pub mod calls;
pub mod customers;
pub mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::API_BODY_LIMIT;
use crate::state::AppState;

/// The group's routes with their documentation (see `crate::http::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(business::get_business, business::update_business))
        .routes(routes!(customers::list_customers))
        .routes(routes!(customers::get_customer, customers::update_customer))
        .routes(routes!(customers::customer_calls))
        .routes(routes!(calls::list_calls))
        .routes(routes!(calls::get_call))
        .routes(routes!(calls::list_followups))
        .routes(routes!(calls::set_followup))
}

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    let (routes, _) = api().split_for_parts();
    Ok(routes.layer(DefaultBodyLimit::max(API_BODY_LIMIT)))
}
