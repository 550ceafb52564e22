//! `POST /webhook/call_status`: Twilio's status callbacks. Updates the
//! call's status and, on a final status, its end time and duration — once:
//! repeated or out-of-order callbacks change nothing. Twilio expects no
//! TwiML here, so every outcome is 204.

use axum::extract::State;
use axum::http::StatusCode;
use tracing::Span;

use super::{Budget, TwilioParams, loggable};
use crate::db::calls;
use crate::state::AppState;

/// Every `CallStatus` Twilio sends.
const KNOWN_STATUSES: [&str; 9] = [
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
];

pub async fn call_status(State(state): State<AppState>, params: TwilioParams) -> StatusCode {
    let Some(call_sid) = params.call_sid() else {
        tracing::warn!("call_status without a valid CallSid; ignored");
        return StatusCode::NO_CONTENT;
    };
    Span::current().record("call_sid", call_sid);
    let Some(status) = params
        .get("CallStatus")
        .filter(|s| KNOWN_STATUSES.contains(s))
    else {
        tracing::warn!(
            call_status = %loggable(params.get("CallStatus").unwrap_or_default()),
            "call_status with an unknown CallStatus; ignored"
        );
        return StatusCode::NO_CONTENT;
    };
    let duration_s = params
        .get("CallDuration")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| (0..=86_400).contains(d));

    match Budget::start()
        .run(calls::set_status(&state.db, call_sid, status, duration_s))
        .await
    {
        Ok(true) => tracing::info!(call_status = status, "call status recorded"),
        Ok(false) => tracing::debug!(
            call_status = status,
            "status callback for an unknown or already ended call; nothing changed"
        ),
        Err(e) => {
            tracing::error!(error = %e, call_status = status, "call_status could not be recorded")
        }
    }
    StatusCode::NO_CONTENT
}
