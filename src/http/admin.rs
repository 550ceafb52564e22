//! Route group `admin`: platform operators list, create, change and
//! deactivate any business. Everyone else gets 403 here — these routes name
//! businesses in the path, so they are the only ones that bypass `Tenant`.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::crm::business::{parse_phone, write_error};
use super::crm::extract::{API_BODY_LIMIT, ApiJson, ApiPath, double_option};
use super::crm::views::{BusinessUpdate, BusinessView};
use crate::auth::AdminUser;
use crate::db::business::{self, BusinessPatch};
use crate::http::ApiError;
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// The group's routes with their documentation (see `crate::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_businesses, create_business))
        .routes(routes!(get_business, update_business))
}

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    let (routes, _) = api().split_for_parts();
    Ok(routes.layer(DefaultBodyLimit::max(API_BODY_LIMIT)))
}

/// A new business: a name and the number its calls arrive on; the rest may
/// be set at once or later.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBusiness {
    pub name: String,
    /// E.164 or an Israeli national number; must be unique.
    pub phone_number: String,
    pub greeting: Option<String>,
    pub system_prompt: Option<String>,
    pub voice: Option<String>,
    pub end_of_turn_ms: Option<i64>,
    pub enable_calls_stream: Option<bool>,
    pub enable_recording_fallback: Option<bool>,
    pub enable_payments_paypal: Option<bool>,
    pub enable_payments_tranzila: Option<bool>,
}

impl NewBusiness {
    /// The settings beyond name and number, as the patch applied after insert.
    fn settings(&self) -> AdminBusinessUpdate {
        AdminBusinessUpdate {
            greeting: self.greeting.clone().map(Some),
            system_prompt: self.system_prompt.clone().map(Some),
            voice: self.voice.clone().map(Some),
            end_of_turn_ms: self.end_of_turn_ms,
            enable_calls_stream: self.enable_calls_stream,
            enable_recording_fallback: self.enable_recording_fallback,
            enable_payments_paypal: self.enable_payments_paypal,
            enable_payments_tranzila: self.enable_payments_tranzila,
            ..AdminBusinessUpdate::default()
        }
    }
}

/// What an admin may change: everything an owner may, and `active`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminBusinessUpdate {
    /// `false` deactivates: its users can no longer log in or act.
    pub active: Option<bool>,
    pub name: Option<String>,
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub greeting: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub voice: Option<Option<String>>,
    pub end_of_turn_ms: Option<i64>,
    pub enable_calls_stream: Option<bool>,
    pub enable_recording_fallback: Option<bool>,
    pub enable_payments_paypal: Option<bool>,
    pub enable_payments_tranzila: Option<bool>,
}

impl AdminBusinessUpdate {
    fn into_patch(self) -> Result<BusinessPatch, ApiError> {
        let active = self.active;
        let mut patch = BusinessUpdate {
            name: self.name,
            phone_number: self.phone_number,
            greeting: self.greeting,
            system_prompt: self.system_prompt,
            voice: self.voice,
            end_of_turn_ms: self.end_of_turn_ms,
            enable_calls_stream: self.enable_calls_stream,
            enable_recording_fallback: self.enable_recording_fallback,
            enable_payments_paypal: self.enable_payments_paypal,
            enable_payments_tranzila: self.enable_payments_tranzila,
        }
        .into_patch()?;
        patch.active = active;
        Ok(patch)
    }
}

/// Every business, active or not.
#[utoipa::path(get, path = "/api/admin/businesses", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<BusinessView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
pub async fn list_businesses(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<BusinessView>>, ApiError> {
    let all = business::list(&state.db).await?;
    Ok(Json(all))
}

/// Registers a business.
#[utoipa::path(post, path = "/api/admin/businesses", tag = "admin",
    security(("bearer" = [])), request_body = NewBusiness,
    responses(
        (status = 201, body = BusinessView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The phone number belongs to another business", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_business(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(new): ApiJson<NewBusiness>,
) -> Result<(StatusCode, Json<BusinessView>), ApiError> {
    let phone = parse_phone(&new.phone_number)?;
    // Settings given at creation go through the same checks as a later PATCH,
    // checked before anything is written.
    let patch = new.settings().into_patch()?;
    if let Some(ms) = patch.end_of_turn_ms
        && !(200..=3000).contains(&ms)
    {
        return Err(ApiError::Unprocessable(
            "end_of_turn_ms must be between 200 and 3000".into(),
        ));
    }
    let created = business::create(&state.db, &new.name, &phone)
        .await
        .map_err(write_error)?;
    let b = business::update(&state.db, created.id, &patch)
        .await
        .map_err(write_error)?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(business_id = b.id, admin_id = admin.id, "business created");
    Ok((StatusCode::CREATED, Json(b)))
}

/// Any business by id.
#[utoipa::path(get, path = "/api/admin/businesses/{id}", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses(
        (status = 200, body = BusinessView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_business(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BusinessView>, ApiError> {
    let b = business::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(b))
}

/// Changes or deactivates any business.
#[utoipa::path(patch, path = "/api/admin/businesses/{id}", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = AdminBusinessUpdate,
    responses(
        (status = 200, body = BusinessView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update_business(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(update): ApiJson<AdminBusinessUpdate>,
) -> Result<Json<BusinessView>, ApiError> {
    let patch = update.into_patch()?;
    let b = business::update(&state.db, id, &patch)
        .await
        .map_err(write_error)?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(
        business_id = b.id,
        admin_id = admin.id,
        "business changed by an admin"
    );
    Ok(Json(b))
}
