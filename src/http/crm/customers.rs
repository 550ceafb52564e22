//! `/api/crm/customers…`: the business's callers, searchable and paged, their
//! notes and status, and each one's timeline of calls.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{ActAs, CallView, CustomerUpdate, CustomerView, PageParams, Paged};
use crate::db::crm::{self, CallFilter, CustomerChanges};
use crate::domain::tenant::Tenant;
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// Longest name or notes the CRM stores; a UI field, not a document store.
const MAX_TEXT: usize = 4000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerSearch {
    /// Case-insensitive part of the name or phone number (`050…` matches `+97250…`).
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// The business's customers, newest first.
#[utoipa::path(get, path = "/api/crm/customers", tag = "crm",
    security(("bearer" = [])), params(CustomerSearch, ActAs),
    responses(
        (status = 200, body = Paged<CustomerView>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_customers(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<CustomerSearch>,
) -> Result<Json<Paged<CustomerView>>, ApiError> {
    let page = PageParams {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    if query.q.as_ref().is_some_and(|q| q.len() > 100) {
        return Err(ApiError::BadRequest(
            "q must be at most 100 characters".into(),
        ));
    }
    let found = crm::list_customers(&state.db, &tenant, query.q.as_deref(), page).await?;
    Ok(Json(Paged::from_db(found, page)))
}

/// One customer of the business.
#[utoipa::path(get, path = "/api/crm/customers/{id}", tag = "crm",
    security(("bearer" = [])), params(("id" = i64, Path), ActAs),
    responses(
        (status = 200, body = CustomerView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such customer in this business", body = ErrorBody),
    ))]
pub async fn get_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CustomerView>, ApiError> {
    let c = crm::get_customer(&state.db, &tenant, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(c))
}

fn clean_text(field: &str, v: Option<Option<String>>) -> Result<Option<Option<String>>, ApiError> {
    let v = v.map(|o| o.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
    if let Some(Some(s)) = &v
        && s.chars().count() > MAX_TEXT
    {
        return Err(ApiError::Unprocessable(format!(
            "{field} must be at most {MAX_TEXT} characters"
        )));
    }
    Ok(v)
}

fn valid_status(status: &str) -> bool {
    let mut chars = status.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && status.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Changes a customer's name, notes or status (owners and admins).
#[utoipa::path(patch, path = "/api/crm/customers/{id}", tag = "crm",
    security(("bearer" = [])), params(("id" = i64, Path), ActAs),
    request_body = CustomerUpdate,
    responses(
        (status = 200, body = CustomerView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Agents read only", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
    ApiJson(update): ApiJson<CustomerUpdate>,
) -> Result<Json<CustomerView>, ApiError> {
    tenant.require_write()?;
    let status = update.status.map(|s| s.trim().to_string());
    if let Some(s) = &status
        && !valid_status(s)
    {
        return Err(ApiError::Unprocessable(
            "status must be a lowercase label of letters, digits and _ (at most 32)".into(),
        ));
    }
    let changes = CustomerChanges {
        name: clean_text("name", update.name)?,
        notes: clean_text("notes", update.notes)?,
        status,
    };
    let c = crm::update_customer(&state.db, &tenant, id, &changes)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(c))
}

/// A customer's calls, newest first.
#[utoipa::path(get, path = "/api/crm/customers/{id}/calls", tag = "crm",
    security(("bearer" = [])), params(("id" = i64, Path), PageParams, ActAs),
    responses(
        (status = 200, body = Paged<CallView>),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn customer_calls(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Paged<CallView>>, ApiError> {
    let page = params.page()?;
    // Not the tenant's customer → 404, not an empty list that confirms nothing
    // but reads like "exists, no calls".
    crm::get_customer(&state.db, &tenant, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let filter = CallFilter {
        customer_id: Some(id),
        ..CallFilter::default()
    };
    let found = crm::list_calls(&state.db, &tenant, &filter, page).await?;
    Ok(Json(Paged::from_db(found, page)))
}

#[cfg(test)]
mod tests {
    use super::valid_status;

    #[test]
    fn statuses_are_short_lowercase_labels() {
        for ok in ["new", "lead", "follow_up2"] {
            assert!(valid_status(ok), "{ok}");
        }
        for bad in ["", "New", "2new", "a b", &"x".repeat(33)] {
            assert!(!valid_status(bad), "{bad}");
        }
    }
}
