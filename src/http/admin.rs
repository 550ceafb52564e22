//! Route group `admin`: platform operators list, create, change and
//! deactivate any business, and list and deactivate users ([`users`]).
//! Everyone else gets 403 here — these routes name businesses and users in
//! the path, so they are the only ones that bypass `Tenant`.

mod users;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::crm::business::require_channel_configured;
use super::crm::views::BusinessView;
use crate::db::business;
use crate::domain::PhoneNumber;
use crate::domain::settings::{AdminChange, BusinessName};
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{API_BODY_LIMIT, AdminUser, ApiJson, ApiPath};
use crate::state::AppState;

/// The group's routes with their documentation (see `crate::http::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_businesses, create_business))
        .routes(routes!(get_business, update_business))
        .routes(routes!(users::list_users))
        .routes(routes!(users::update_user))
}

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    let (routes, _) = api().split_for_parts();
    Ok(routes.layer(DefaultBodyLimit::max(API_BODY_LIMIT)))
}

/// A new business: a name and the number its calls arrive on; any other
/// setting may be given at once or changed later. Read as an [`AdminChange`]
/// with those two required, so it takes exactly the settings a change does.
#[derive(Debug, Deserialize)]
#[serde(try_from = "AdminChange")]
pub struct NewBusiness {
    pub name: BusinessName,
    pub phone_number: PhoneNumber,
    pub settings: AdminChange,
}

impl TryFrom<AdminChange> for NewBusiness {
    type Error = &'static str;
    fn try_from(mut settings: AdminChange) -> Result<Self, Self::Error> {
        Ok(Self {
            name: settings.name.take().ok_or("missing field `name`")?,
            phone_number: settings
                .phone_number
                .take()
                .ok_or("missing field `phone_number`")?,
            settings,
        })
    }
}

impl utoipa::PartialSchema for NewBusiness {
    fn schema() -> RefOr<Schema> {
        AllOfBuilder::new()
            .item(Ref::from_schema_name("AdminChange"))
            .item(
                ObjectBuilder::new()
                    .required("name")
                    .required("phone_number"),
            )
            .into()
    }
}

impl ToSchema for NewBusiness {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("AdminChange".into(), AdminChange::schema()));
        AdminChange::schemas(schemas);
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
    // Every value was validated while the body was parsed, so nothing is
    // written unless all of it can be.
    require_channel_configured(&state.config.twilio, &new.settings)?;
    if let Some(problem) = new.settings.end_of_turn_out_of_order(None) {
        return Err(ApiError::Unprocessable(problem));
    }
    let created = business::create(&state.db, &new.name, &new.phone_number).await?;
    let b = state
        .directory
        .update(&state.db, created.id, &new.settings)
        .await?
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
    request_body = AdminChange,
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
    ApiJson(change): ApiJson<AdminChange>,
) -> Result<Json<BusinessView>, ApiError> {
    require_channel_configured(&state.config.twilio, &change)?;
    let b = state
        .directory
        .update(&state.db, id, &change)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(
        business_id = b.id,
        admin_id = admin.id,
        "business changed by an admin"
    );
    Ok(Json(b))
}
