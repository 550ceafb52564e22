//! `POST /webhook/message_status`: Twilio's delivery updates for the owner
//! notifications (`crate::jobs::notify`). Updates the `notification` row by
//! `MessageSid`; an update never moves a row back to an earlier stage.
//! Twilio expects no TwiML here, so every outcome is 204, never 500.

use axum::extract::State;
use axum::http::StatusCode;

use super::{TwilioParams, loggable};
use crate::db::notifications;
use crate::state::AppState;

/// Every `MessageStatus` stored; others are logged and ignored.
const KNOWN_STATUSES: [&str; 10] = [
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "canceled",
];

pub async fn message_status(State(state): State<AppState>, params: TwilioParams) -> StatusCode {
    let Some(message_sid) = params
        .get("MessageSid")
        .filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
    else {
        tracing::warn!("message_status without a valid MessageSid; ignored");
        return StatusCode::NO_CONTENT;
    };
    let Some(status) = params
        .get("MessageStatus")
        .filter(|s| KNOWN_STATUSES.contains(s))
    else {
        tracing::warn!(
            message_sid,
            message_status = %loggable(params.get("MessageStatus").unwrap_or_default()),
            "message_status with an unknown MessageStatus; ignored"
        );
        return StatusCode::NO_CONTENT;
    };
    let error_code = params.get("ErrorCode").map(loggable);
    let update = notifications::set_status_by_message_sid(
        &state.db,
        message_sid,
        status,
        error_code.as_deref(),
    );
    match tokio::time::timeout(super::DB_BUDGET, update).await {
        Ok(Ok(true)) => {
            tracing::info!(
                message_sid,
                message_status = status,
                "notification status recorded"
            );
        }
        Ok(Ok(false)) => {
            tracing::debug!(
                message_sid,
                "message_status for an unknown message; ignored"
            );
        }
        Ok(Err(e)) => tracing::error!(
            message_sid,
            error = %e,
            "notification status not recorded: database error"
        ),
        Err(_) => tracing::error!(
            message_sid,
            "notification status not recorded: the database did not answer in time"
        ),
    }
    StatusCode::NO_CONTENT
}
