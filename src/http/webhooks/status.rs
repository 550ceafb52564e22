//! `POST /webhook/call_status`: Twilio's status callbacks. Updates the
//! call's status and, on a final status, its end time and duration — once:
//! repeated or out-of-order callbacks change nothing. When the database
//! cannot take it in time the update is spooled with the time Twilio
//! reported it, so the end time is right when it lands. Twilio expects no
//! TwiML here, so every outcome is 204.

use axum::extract::State;
use axum::http::StatusCode;
use tracing::Span;

use super::{Budget, TwilioParams, after_own_row, land, loggable};
use crate::db::calls::{self, CallMode};
use crate::domain::Timestamp;
use crate::jobs::outcome;
use crate::spool::{Applied, Write};
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

    after_own_row(&state, call_sid).await;
    let write = Write::Status {
        call_sid: call_sid.to_string(),
        status: status.to_string(),
        duration_s,
        at: Timestamp::now(),
    };
    match land(&state, &Budget::start(), write).await {
        Some(Applied::Updated(true)) => {
            tracing::info!(call_status = status, "call status recorded");
            if status == "completed" {
                queue_outcome(&state, call_sid).await;
            }
        }
        Some(_) => tracing::debug!(
            call_status = status,
            "status callback for an unknown or already ended call; nothing changed"
        ),
        // Logged by `land`; spooled unless it said otherwise. A spooled
        // status queues no outcome: the database did not answer, and the
        // replay does not come back here (the owner still sees the turns).
        None => {}
    }
    StatusCode::NO_CONTENT
}

/// Queues the post-call outcome of a streamed call that just completed, as
/// a backstop: the stream's own end queues it at once, after its last turn
/// is stored, and brings this forward. A voicemail's outcome waits for its
/// transcript (the transcription job queues it). Failures are logged:
/// Twilio gains nothing from a retry.
async fn queue_outcome(state: &AppState, call_sid: &str) {
    let call = match calls::get_by_sid(&state.db, call_sid).await {
        Ok(Some(call)) => call,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the completed call; no outcome queued");
            return;
        }
    };
    if call.mode != CallMode::Stream.as_str() {
        return;
    }
    let payload = outcome::Payload {
        call_sid: call_sid.to_string(),
        business_id: call.business_id,
    };
    match outcome::backstop(&state.db, &payload).await {
        Ok(queued) => tracing::info!(
            job_id = queued.id,
            newly_queued = queued.created,
            "call outcome queued"
        ),
        Err(e) => tracing::warn!(error = %e, "call outcome not queued"),
    }
}
