//! `POST /webhook/incoming_call`: who was called, what the caller hears.
//!
//! The business is resolved from `To`. Streaming on → the media stream
//! TwiML with the business id; streaming off → straight to the recording
//! fallback (or a goodbye when that is off too). An unknown or inactive
//! number hears "not in service". When the database does not answer in
//! time the phone must still not go silent: the caller gets the stream
//! without a business id, carrying the dialled number instead so the media
//! socket can resolve it later, and the stream's `action` still leads to
//! the recording fallback if the stream cannot go on.

use axum::extract::State;
use axum::response::Response;
use tracing::Span;

use super::{
    Budget, NOT_IN_SERVICE_HE, TwilioParams, UNAVAILABLE_HE, goodbye, loggable, record_fallback,
    say_voice, stream, twiml,
};
use crate::db::business::{self, Business};
use crate::db::calls::{self, CallMode, NewCall};
use crate::domain::PhoneNumber;
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
        .run(business::find_by_phone(&state.db, to.as_str()))
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
        record_call(&state, &budget, &business, sid, &params, &to, mode).await;
    }

    let voice = say_voice(&state, Some(&business));
    let answer = if business.enable_calls_stream {
        stream(
            &state,
            vec![("business_id".into(), business.id.to_string())],
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

/// Upserts the customer and the call row. Failures are logged and do not
/// change what the caller hears.
async fn record_call(
    state: &AppState,
    budget: &Budget,
    business: &Business,
    call_sid: &str,
    params: &TwilioParams,
    to: &PhoneNumber,
    mode: CallMode,
) {
    let caller = params
        .get("From")
        .and_then(|f| PhoneNumber::parse(f).ok())
        .map_or_else(|| ANONYMOUS.to_string(), |p| p.to_string());
    let status = params
        .get("CallStatus")
        .filter(|s| EARLY_STATUSES.contains(s))
        .unwrap_or("ringing");
    // The write runs as its own task: when the webhook's budget runs out the
    // answer goes back to Twilio at once, but the row still lands moments
    // later, so the media stream that follows can find its call.
    let (db, sid, to, status, business_id) = (
        state.db.clone(),
        call_sid.to_string(),
        to.to_string(),
        status.to_string(),
        business.id,
    );
    let write = state.tasks.spawn(async move {
        let call = NewCall {
            call_sid: &sid,
            business_id,
            customer_id: None,
            from_number: &caller,
            to_number: &to,
            status: &status,
            mode,
        };
        let result = calls::record_incoming(&db, &call).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "incoming_call could not record the caller and the call");
        }
        result
    });
    let waited = budget
        .run(async move {
            write
                .await
                .unwrap_or_else(|e| Err(sqlx::Error::Protocol(format!("call write task: {e}"))))
        })
        .await;
    if let Err(super::DbTrouble::Timeout(_)) = waited {
        tracing::warn!(
            "call row not written within the webhook's budget; it continues in the background"
        );
    }
}
