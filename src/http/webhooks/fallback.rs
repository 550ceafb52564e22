//! The recording fallback: `POST /webhook/stream_ended` (the `<Connect
//! action>`, requested when the media stream ends) and `POST
//! /webhook/handle_recording` (the `<Record action>`).
//!
//! `stream_ended` while the call is still up answers the action the agent
//! armed, if it armed one (`super::transfer`); otherwise it means the
//! real-time agent gave up (or never started): the caller is asked to leave
//! a message. When the
//! call itself is over there is nobody to record and the answer is empty.
//! `handle_recording` queues the transcription as a durable job and thanks
//! the caller at once; the job (`crate::jobs::transcribe`) does the slow
//! part. The recording, the job, the mode and a final status are writes the
//! caller depends on: what the database cannot take in time is spooled
//! ([`super::land`]) and lands later, so a stalled database loses no
//! voicemail. `stream_ended` answers from the business directory without
//! reading the call row; its writes run beside the answer.

use axum::extract::State;
use axum::response::Response;
use tracing::Span;

use std::sync::Arc;

use super::{
    Budget, THANK_YOU_HE, TwilioParams, UNAVAILABLE_HE, after_own_row, behind_the_answer, goodbye,
    is_sid, land, loggable, record_fallback, say_voice, transfer, twiml,
};
use crate::db::business::Business;
use crate::db::calls::{self, CallMode};
use crate::domain::{PhoneNumber, Timestamp};
use crate::jobs::{self, transcribe};
use crate::spool::{Applied, Write};
use crate::state::AppState;

/// Why the call left the stream, when the media socket did not say.
const FAILOVER_REASON: &str = "stream_ended";

pub async fn stream_ended(State(state): State<AppState>, params: TwilioParams) -> Response {
    let span = Span::current();
    let call_sid = params.call_sid();
    if let Some(sid) = call_sid {
        span.record("call_sid", sid);
    }
    let budget = Budget::start();
    let business = resolve_business(&state, &budget, call_sid, &params).await;
    if let Some(b) = &business {
        span.record("business_id", b.id);
    }
    let voice = say_voice(&state, business.as_deref());

    if let Some(status) = params
        .get("CallStatus")
        .filter(|s| calls::is_terminal_status(s))
    {
        tracing::info!(
            call_status = status,
            "stream ended with the call; nothing to fall back to"
        );
        if let Some(sid) = call_sid {
            let write = Write::Status {
                call_sid: sid.to_string(),
                status: status.to_string(),
                duration_s: None,
                at: Timestamp::now(),
            };
            let behind = state.clone();
            behind_the_answer(&state, async move {
                after_own_row(&behind, write.call_sid()).await;
                land(&behind, &Budget::start(), write).await;
            });
        }
        return twiml(twilio::twiml::Response::new());
    }

    // The agent ended its stream on purpose: answer what it armed.
    if let Some(sid) = call_sid
        && let Some(answer) =
            transfer::armed_answer(&state, &budget, sid, business.as_deref(), &params).await
    {
        return answer;
    }

    // Unknown business (database trouble): the defaults apply, and the
    // default is to record rather than drop the caller.
    let fallback_on = business
        .as_ref()
        .is_none_or(|b| b.enable_recording_fallback);
    if !fallback_on {
        tracing::warn!(
            call_sid = call_sid.unwrap_or_default(),
            "stream_failover -> hangup: the recording fallback is off for this business"
        );
        return twiml(goodbye(UNAVAILABLE_HE, &voice));
    }

    let sid_for_log = call_sid.unwrap_or_default();
    match &business {
        Some(b) => tracing::warn!(
            call_sid = sid_for_log,
            business_id = b.id,
            "stream_failover -> recording"
        ),
        None => tracing::warn!(call_sid = sid_for_log, "stream_failover -> recording"),
    }
    match call_sid {
        Some(sid) => {
            let (behind, sid) = (state.clone(), sid.to_string());
            behind_the_answer(&state, async move { record_failover(&behind, &sid).await });
        }
        None => state.metrics.failover(FAILOVER_REASON),
    }
    twiml(record_fallback(&voice))
}

/// Counts the failover, where the caller actually moves to recording, by
/// the reason the media socket left on the call, and moves the call's mode
/// — keeping the socket's reason when it left one.
async fn record_failover(state: &AppState, call_sid: &str) {
    after_own_row(state, call_sid).await;
    let budget = Budget::start();
    let call = match budget.run(calls::get_by_sid(&state.db, call_sid)).await {
        Ok(call) => call,
        Err(e) => {
            tracing::warn!(error = %e, "stream_ended could not read why the stream ended");
            None
        }
    };
    let why = call
        .as_ref()
        .and_then(|c| c.failover_reason.as_deref())
        .unwrap_or(FAILOVER_REASON);
    state.metrics.failover(why);
    let reason = call
        .as_ref()
        .filter(|c| c.failover_reason.is_none())
        .map(|_| FAILOVER_REASON);
    let write = Write::Mode {
        call_sid: call_sid.to_string(),
        mode: CallMode::Record,
        reason: reason.map(str::to_string),
    };
    if let Some(Applied::Updated(false)) = land(state, &budget, write).await {
        tracing::warn!("stream_ended for a call with no call_log row; mode not recorded");
    }
}

/// The business the call was answered for: this instance's answer, else
/// the dialled number, both from the directory — the call row is not read.
pub(super) async fn resolve_business(
    state: &AppState,
    budget: &Budget,
    call_sid: Option<&str>,
    params: &TwilioParams,
) -> Option<Arc<Business>> {
    let lookup = match call_sid.and_then(|sid| state.answered.get(sid)) {
        Some(answer) => {
            budget
                .run(state.directory.by_id(&state.db, answer.business_id))
                .await
        }
        None => {
            let to = params.get("To").and_then(|t| PhoneNumber::parse(t).ok())?;
            budget
                .run(state.directory.by_phone(&state.db, to.as_str()))
                .await
        }
    };
    lookup.unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not resolve the business; its defaults apply");
        None
    })
}

pub async fn handle_recording(State(state): State<AppState>, params: TwilioParams) -> Response {
    // Whatever happens below, the caller has finished speaking: thank them
    // and hang up. Nothing here may keep the call open.
    let thanks = || twiml(goodbye(THANK_YOU_HE, &say_voice(&state, None)));
    let Some(call_sid) = params.call_sid() else {
        tracing::error!(
            "handle_recording without a valid CallSid; the recording cannot be attached to a call"
        );
        return thanks();
    };
    Span::current().record("call_sid", call_sid);
    let Some(recording_url) = params.get("RecordingUrl").filter(|u| is_recording_url(u)) else {
        tracing::error!(
            recording_url = %loggable(params.get("RecordingUrl").unwrap_or_default()),
            "handle_recording without a usable RecordingUrl; nothing to transcribe"
        );
        return thanks();
    };
    // RecordingSid is not guaranteed: the URL's last segment is the SID.
    let recording_sid = params
        .get("RecordingSid")
        .filter(|s| is_sid(s))
        .or_else(|| {
            recording_url
                .rsplit('/')
                .next()
                .map(|last| last.split('.').next().unwrap_or(last))
                .filter(|s| s.starts_with("RE") && is_sid(s))
        });
    let duration_s = params
        .get("RecordingDuration")
        .and_then(|d| d.parse::<i64>().ok());
    after_own_row(&state, call_sid).await;
    let budget = Budget::start();

    // Both writes land, now or from the spool, in this order: the
    // recording first, so the transcript always has a row to land in.
    let recording = Write::Recording {
        call_sid: call_sid.to_string(),
        recording_url: recording_url.to_string(),
        recording_sid: recording_sid.map(str::to_string),
        from_number: params.get("From").map(str::to_string),
        to_number: params.get("To").map(str::to_string),
    };
    land(&state, &budget, recording).await;
    // Only for the logs of the job, so the call row is not read for it.
    let business_id = match state.answered.get(call_sid) {
        Some(answer) => Some(answer.business_id),
        None => resolve_business(&state, &budget, None, &params)
            .await
            .map(|b| b.id),
    };
    if let Some(id) = business_id {
        Span::current().record("business_id", id);
    }

    let payload = transcribe::Payload {
        call_sid: call_sid.to_string(),
        recording_url: recording_url.to_string(),
        recording_sid: recording_sid.map(str::to_string),
        business_id,
    };
    match land(&state, &budget, Write::Transcription(payload)).await {
        Some(Applied::Queued(queued)) => {
            tracing::info!(
                job_id = queued.id,
                newly_queued = queued.created,
                recording_sid = recording_sid.unwrap_or_default(),
                recording_duration_s = duration_s.unwrap_or(-1),
                "recording handed to the background worker for transcription"
            );
            jobs::wake();
        }
        Some(Applied::Updated(_)) => {}
        // Spooled (it is queued when the database answers), or logged as
        // lost by `land`: the recording stays on Twilio under its SID.
        None => {}
    }
    thanks()
}

/// An absolute http(s) URL: the job only ever fetches from the Twilio API
/// origin, but a value that is not even a URL is refused here.
fn is_recording_url(value: &str) -> bool {
    url::Url::parse(value)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}
