//! `/api/crm/calls…`: the business's calls, filtered and paged, and one call
//! with its transcript and its turns' timings; the owner's follow-up inbox
//! (`/api/crm/followups`) and marking a call's follow-up done.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{
    ActAs, CallDetail, CallListItem, CallView, FollowUpItem, FollowUpQuery, FollowUpUpdate,
    PageParams, Paged,
};
use crate::db::crm::{self, CallFilter};
use crate::db::notifications;
use crate::db::{call_actions, calls};
use crate::domain::Timestamp;
use crate::domain::tenant::Tenant;
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// Calls that started at or after this day (`2025-01-31`) or instant (RFC 3339).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Calls that started before the end of this day, or before this instant.
    #[param(format = Date)]
    pub to: Option<String>,
    /// `stream` or `record`.
    #[param(pattern = "^(stream|record)$")]
    pub mode: Option<String>,
    /// Twilio's call status, e.g. `completed`, `in-progress`.
    pub status: Option<String>,
    pub customer_id: Option<i64>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Parses an RFC 3339 instant or a date into the stored timestamp format, so
/// the query compares like with like. A date means its start for `from` and
/// the start of the next day for `to` (the whole day is included).
fn parse_bound(field: &str, raw: &str, end_of_day: bool) -> Result<String, ApiError> {
    let raw = raw.trim();
    if let Ok(t) = Timestamp::parse(raw) {
        return Ok(t.into());
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(raw, &date_format).map_err(|_| {
        ApiError::BadRequest(format!(
            "{field} must be an RFC 3339 instant or a date like 2025-01-31"
        ))
    })?;
    if !end_of_day {
        return Ok(Timestamp::from(date.midnight().assume_utc()).into());
    }
    // The last representable day has no next one: its end is its last instant.
    Ok(Timestamp::from(date.next_day().map_or_else(
        || {
            date.with_hms_nano(23, 59, 59, 999_999_999)
                .unwrap_or(date.midnight())
                .assume_utc()
        },
        |next| next.midnight().assume_utc(),
    ))
    .into())
}

impl CallQuery {
    fn filter(&self) -> Result<CallFilter, ApiError> {
        if let Some(mode) = &self.mode
            && !matches!(mode.as_str(), "stream" | "record")
        {
            return Err(ApiError::BadRequest("mode must be stream or record".into()));
        }
        Ok(CallFilter {
            since: self
                .from
                .as_deref()
                .map(|v| parse_bound("from", v, false))
                .transpose()?,
            until: self
                .to
                .as_deref()
                .map(|v| parse_bound("to", v, true))
                .transpose()?,
            mode: self.mode.clone(),
            status: self.status.clone().filter(|s| !s.is_empty()),
            customer_id: self.customer_id,
        })
    }
}

/// The business's calls, newest first.
#[utoipa::path(get, path = "/api/crm/calls", tag = "crm",
    security(("bearer" = [])), params(CallQuery, ActAs),
    responses(
        (status = 200, body = Paged<CallListItem>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_calls(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<CallQuery>,
) -> Result<Json<Paged<CallListItem>>, ApiError> {
    let page = PageParams {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    let filter = query.filter()?;
    let found = crm::list_calls(&state.db, &tenant, &filter, page).await?;
    // One query for the page's notifications, not one per call.
    let sids: Vec<&str> = found.items.iter().map(|c| c.call_sid.as_str()).collect();
    let mut sent: std::collections::HashMap<String, Vec<notifications::Notification>> =
        std::collections::HashMap::new();
    for n in notifications::for_calls(&state.db, &sids).await? {
        sent.entry(n.call_sid.clone()).or_default().push(n);
    }
    let items = found
        .items
        .into_iter()
        .map(|call| CallListItem {
            notifications: sent.remove(&call.call_sid).unwrap_or_default(),
            call,
        })
        .collect();
    let found = crm::Paged {
        items,
        total: found.total,
    };
    Ok(Json(Paged::from_db(found, page)))
}

/// One call with its transcript and turns.
#[utoipa::path(get, path = "/api/crm/calls/{id}", tag = "crm",
    security(("bearer" = [])), params(("id" = i64, Path), ActAs),
    responses(
        (status = 200, body = CallDetail),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such call in this business", body = ErrorBody),
    ))]
pub async fn get_call(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CallDetail>, ApiError> {
    let (call, turns) = crm::get_call(&state.db, &tenant, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let notifications = notifications::for_call(&state.db, &call.call_sid).await?;
    let transfer = call_actions::transfer_of(&state.db, &call.call_sid).await?;
    let message = calls::message_of(&state.db, &call.call_sid).await?;
    Ok(Json(CallDetail::new(
        call,
        turns,
        notifications,
        transfer.map(Into::into),
        message,
    )))
}

/// The longest note a follow-up keeps, in characters.
const MAX_NOTE: usize = 1000;

/// The follow-up inbox: the business's calls someone must act on (`open`,
/// the default) or has dealt with (`done`), newest first.
#[utoipa::path(get, path = "/api/crm/followups", tag = "crm",
    security(("bearer" = [])), params(FollowUpQuery, ActAs),
    responses(
        (status = 200, body = Paged<FollowUpItem>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_followups(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<FollowUpQuery>,
) -> Result<Json<Paged<FollowUpItem>>, ApiError> {
    let page = PageParams {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    let status = query.status.as_deref().unwrap_or("open");
    if !matches!(status, "open" | "done") {
        return Err(ApiError::BadRequest("status must be open or done".into()));
    }
    let found = crm::list_follow_ups(&state.db, &tenant, status, page).await?;
    Ok(Json(Paged {
        items: found.items.into_iter().map(FollowUpItem::from).collect(),
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Marks a call's follow-up done (or open again) with an optional note,
/// recording who and when. Agents may do it, as may owners and admins.
#[utoipa::path(post, path = "/api/crm/calls/{id}/followup", tag = "crm",
    security(("bearer" = [])), params(("id" = i64, Path), ActAs),
    request_body = FollowUpUpdate,
    responses(
        (status = 200, description = "The call as it now is", body = CallView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such call in this business", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn set_followup(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
    ApiJson(update): ApiJson<FollowUpUpdate>,
) -> Result<Json<CallView>, ApiError> {
    // Every role may act on the inbox: there is no read-only role, and an
    // agent who called back is the one who knows it is done.
    let note = update
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::Unprocessable(format!(
            "note must be at most {MAX_NOTE} characters"
        )));
    }
    let call = crm::set_follow_up(
        &state.db,
        &tenant,
        id,
        update.status.as_str(),
        note.as_deref(),
        &Timestamp::now(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(Json(call))
}

#[cfg(test)]
mod tests {
    use super::parse_bound;

    #[test]
    fn a_date_bound_covers_the_whole_day_and_instants_are_normalised_to_utc() {
        assert_eq!(
            parse_bound("from", "2025-01-31", false).unwrap(),
            "2025-01-31T00:00:00.000Z"
        );
        assert_eq!(
            parse_bound("to", "2025-01-31", true).unwrap(),
            "2025-02-01T00:00:00.000Z"
        );
        assert_eq!(
            parse_bound("from", "2025-01-31T12:00:00+02:00", false).unwrap(),
            "2025-01-31T10:00:00.000Z"
        );
        assert!(parse_bound("from", "yesterday", false).is_err());
    }
}
