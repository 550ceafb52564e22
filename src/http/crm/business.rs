//! `GET`/`PATCH /api/crm/business`: the caller's own business. A change is
//! a row update, and every call reads the row when it starts, so it applies
//! to the next call without a restart.

use axum::Json;
use axum::extract::State;

use super::views::{ActAs, BusinessView};
use crate::config::TwilioConfig;
use crate::db::business;
use crate::domain::settings::{AdminChange, NotifyChannel, OwnerChange};
use crate::domain::tenant::{Role, Tenant};
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::ApiJson;
use crate::state::AppState;

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
    security(("bearer" = [])), params(ActAs), request_body = OwnerChange,
    responses(
        (status = 200, body = BusinessView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Agents read only; phone number, payment flags and `active` are admin-only", body = ErrorBody),
        (status = 409, description = "The phone number belongs to another business", body = ErrorBody),
        (status = 422, description = "A value is refused, `end_of_turn_min_ms` ≤ `end_of_turn_ms` ≤ `end_of_turn_max_ms` would not hold, or `notify_channel` is `whatsapp` while the WhatsApp sender is not configured", body = ErrorBody),
    ))]
pub async fn update_business(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(change): ApiJson<AdminChange>,
) -> Result<Json<BusinessView>, ApiError> {
    tenant.require_write()?;
    // Read as the admin's change so a known admin-only setting is a clear
    // 403 (and nothing is written), not an "unknown field".
    if tenant.role() != Role::Admin
        && let Some(field) = change.admin_only_fields().first()
    {
        return Err(ApiError::Forbidden(format!(
            "only platform admins may change {field}"
        )));
    }
    require_channel_configured(&state.config.twilio, &change)?;
    let b = state
        .directory
        .update(&state.db, tenant.business_id(), &change)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(
        business_id = b.id,
        user_id = tenant.user_id(),
        "business settings changed"
    );
    Ok(Json(b))
}

/// Refuses a notification channel this deployment cannot send on, naming
/// the variables it lacks: an owner who picks WhatsApp learns now, not when
/// the first message silently fails. Every route that writes settings
/// (owner and admin) calls this one check.
pub(crate) fn require_channel_configured(
    twilio: &TwilioConfig,
    change: &AdminChange,
) -> Result<(), ApiError> {
    if change.notify_channel != Some(NotifyChannel::Whatsapp) {
        return Ok(());
    }
    let missing = twilio.whatsapp_missing();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::Unprocessable(format!(
        "notify_channel: whatsapp needs {} to be configured",
        missing.join(" and ")
    )))
}
