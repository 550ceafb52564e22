//! `GET`/`PATCH /api/crm/business`: the caller's own business. A change is
//! a row update, and every call reads the row when it starts, so it applies
//! to the next call without a restart.

use axum::Json;
use axum::extract::State;

use super::extract::ApiJson;
use super::views::{ActAs, BusinessUpdate, BusinessView};
use crate::auth::Tenant;
use crate::db::business::{self, BusinessPatch, WriteError};
use crate::domain::PhoneNumber;
use crate::http::ApiError;
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// Maps the business table's refusals onto the API's statuses.
pub fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::PhoneTaken(phone) => ApiError::Conflict(format!(
            "phone number {phone} already belongs to another business"
        )),
        WriteError::Invalid(msg) => ApiError::Unprocessable(msg),
        WriteError::Db(e) => e.into(),
    }
}

/// Parses a phone number from a request into a 422 the client can act on.
pub fn parse_phone(raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

impl BusinessUpdate {
    /// The database patch this update asks for (`active` is never in it:
    /// only admins deactivate, through `/api/admin`).
    pub fn into_patch(self) -> Result<BusinessPatch, ApiError> {
        Ok(BusinessPatch {
            name: self.name,
            phone_number: self.phone_number.as_deref().map(parse_phone).transpose()?,
            greeting: self.greeting,
            system_prompt: self.system_prompt,
            voice: self.voice,
            end_of_turn_ms: self.end_of_turn_ms,
            active: None,
            enable_calls_stream: self.enable_calls_stream,
            enable_recording_fallback: self.enable_recording_fallback,
            enable_payments_paypal: self.enable_payments_paypal,
            enable_payments_tranzila: self.enable_payments_tranzila,
        })
    }
}

/// The caller's business.
#[utoipa::path(get, path = "/api/crm/business", tag = "crm",
    security(("bearer" = [])), params(ActAs),
    responses(
        (status = 200, body = BusinessView),
        (status = 400, description = "An admin did not say which business", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_business(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<BusinessView>, ApiError> {
    let b = business::get(&state.db, tenant.business_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(b))
}

/// Changes the caller's business settings (owners and admins).
#[utoipa::path(patch, path = "/api/crm/business", tag = "crm",
    security(("bearer" = [])), params(ActAs), request_body = BusinessUpdate,
    responses(
        (status = 200, body = BusinessView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Agents read only", body = ErrorBody),
        (status = 409, description = "The phone number belongs to another business", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update_business(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(update): ApiJson<BusinessUpdate>,
) -> Result<Json<BusinessView>, ApiError> {
    tenant.require_write()?;
    let patch = update.into_patch()?;
    let b = business::update(&state.db, tenant.business_id(), &patch)
        .await
        .map_err(write_error)?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(
        business_id = b.id,
        user_id = tenant.user().id,
        "business settings changed"
    );
    Ok(Json(b))
}
