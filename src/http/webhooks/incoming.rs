//! `POST /webhook/incoming_call`: who was called, what the caller hears.
//!
//! The business is resolved from `To` through the in-memory directory
//! (`crate::directory`), so the answer waits on no database round trip.
//! Streaming on → the media stream TwiML with the business id; streaming
//! off → straight to the recording fallback (or a goodbye when that is off
//! too). An unknown or inactive number hears "not in service". The call row
//! is written behind the answer — in the database, else the spool — and
//! this instance remembers the answer (`crate::answered`) so the stream
//! that follows waits for that write instead of polling for it. When a
//! number is not in memory and the database does not answer in time the
//! phone must still not go silent: the caller gets the stream without a
//! business id, carrying the dialled number instead, and the stream's
//! `action` still leads to the recording fallback.

use axum::extract::State;
use axum::response::Response;
use tracing::Span;

use super::{
    Budget, NOT_IN_SERVICE_HE, TwilioParams, UNAVAILABLE_HE, behind_the_answer, goodbye, land_by,
    loggable, record_fallback, say_voice, stream, twiml,
};
use crate::answered::RowState;
use crate::db::business::Business;
use crate::db::calls::CallMode;
use crate::domain::{PhoneNumber, Timestamp};
use crate::spool::{Landing, Write};
use crate::state::AppState;

/// What a withheld or unparseable caller number is stored as.
pub const ANONYMOUS: &str = "anonymous";

/// Call statuses Twilio may send with the first request.
const EARLY_STATUSES: [&str; 3] = ["queued", "ringing", "in-progress"];

pub async fn incoming_call(State(state): State<AppState>, params: TwilioParams) -> Response {
    let span = Span::current();
    let call_sid = params.call_sid();
    match call_sid {
        Some(sid) => {
            span.record("call_sid", sid);
        }
        None => tracing::warn!(
            "incoming_call without a valid CallSid; the call is answered but not recorded"
        ),
    }
    let budget = Budget::start();

    let Some(to) = params.get("To").and_then(|t| PhoneNumber::parse(t).ok()) else {
        tracing::warn!(
            to = %loggable(params.get("To").unwrap_or_default()),
            "incoming call to a number that is not E.164; answering not in service"
        );
        return twiml(goodbye(NOT_IN_SERVICE_HE, &say_voice(&state, None)));
    };

    let business = match budget
        .run(state.directory.by_phone(&state.db, to.as_str()))
        .await
    {
        Ok(Some(b)) if b.active => b,
        Ok(Some(b)) => {
            span.record("business_id", b.id);
            tracing::warn!(to = %to, "incoming call to an inactive business; answering not in service");
            return twiml(goodbye(NOT_IN_SERVICE_HE, &say_voice(&state, Some(&b))));
        }
        Ok(None) => {
            tracing::warn!(to = %to, "incoming call to a number no business owns; answering not in service");
            return twiml(goodbye(NOT_IN_SERVICE_HE, &say_voice(&state, None)));
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                to = %to,
                "incoming_call could not resolve the business; streaming without a business id so the caller is still served"
            );
            return twiml(stream(&state, vec![("to".into(), to.to_string())]));
        }
    };
    span.record("business_id", business.id);

    let mode = if business.enable_calls_stream {
        CallMode::Stream
    } else {
        CallMode::Record
    };
    if let Some(sid) = call_sid {
        record_call(&state, &business, sid, &params, &to, mode);
    }

    let voice = say_voice(&state, Some(&business));
    let answer = if business.enable_calls_stream {
        // The caller's number rides along so the stream can greet a
        // returning customer without another lookup of the call row.
        stream(
            &state,
            vec![
                ("business_id".into(), business.id.to_string()),
                ("from".into(), caller_number(&params)),
            ],
        )
    } else if business.enable_recording_fallback {
        record_fallback(&voice)
    } else {
        tracing::warn!(
            "streaming and recording are both off for this business; the caller hears a goodbye"
        );
        goodbye(UNAVAILABLE_HE, &voice)
    };
    tracing::info!(mode = mode.as_str(), "incoming call answered");
    twiml(answer)
}

/// The caller's number in E.164, or [`ANONYMOUS`] when it is withheld or
/// not a number.
fn caller_number(params: &TwilioParams) -> String {
    params
        .get("From")
        .and_then(|f| PhoneNumber::parse(f).ok())
        .map_or_else(|| ANONYMOUS.to_string(), |p| p.to_string())
}

/// Writes the customer and the call row behind the answer: the caller
/// hears the TwiML at once, and what follows on this instance waits for
/// this write through [`crate::answered`].
fn record_call(
    state: &AppState,
    business: &Business,
    call_sid: &str,
    params: &TwilioParams,
    to: &PhoneNumber,
    mode: CallMode,
) {
    let from_number = caller_number(params);
    let status = params
        .get("CallStatus")
        .filter(|s| EARLY_STATUSES.contains(s))
        .unwrap_or("ringing");
    let write = Write::Incoming {
        call_sid: call_sid.to_string(),
        business_id: business.id,
        from_number,
        to_number: to.to_string(),
        status: status.to_string(),
        mode,
        at: Timestamp::now(),
    };
    let row = state.answered.answer(call_sid, business.id);
    let behind = state.clone();
    behind_the_answer(state, async move {
        let deadline = Budget::start().deadline();
        row.settle(match land_by(&behind, deadline, write).await {
            Landing::Written(_) => RowState::Written,
            Landing::Spooled(_) => RowState::Spooled,
            Landing::Refused(_) | Landing::Lost(..) => RowState::Lost,
        });
    });
}
