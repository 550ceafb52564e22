//! The recording reconciler: finds voicemails whose `handle_recording` request never arrived, through Twilio's REST API, and queues their transcription.
//!
//! Twilio posts `<Record action>` once; if that request never reached us (a
//! network partition, every instance down, an answer lost) the caller's
//! message would sit on Twilio unheard. So a call that moved to the
//! recording (`mode = record`) and has had no recording and no other write
//! for [`QUIET_FOR`] is looked up in the call's Recordings list; a completed
//! recording is stored on the call and its transcription queued under the
//! same dedupe key `handle_recording` uses, so a webhook (or a spool replay)
//! that arrives after all never queues it twice.
//!
//! A call is checked at most [`MAX_CHECKS`] times, [`QUIET_FOR`] apart, and
//! not again once it has ended with no recording; each check is claimed in
//! the database, so several instances never ask about the same call at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::db::calls::{self, RecordingInfo, UnrecordedCall};
use crate::domain::Timestamp;
use crate::jobs::transcribe;
use crate::state::AppState;

/// How long a call in `mode = record` stays without a recording before it
/// is looked up: the prompt, 30 s of recording at most, Twilio's own delay
/// and the webhook's retries all fit well inside.
pub const QUIET_FOR: Duration = Duration::from_secs(180);
/// How often one call is looked up at most.
pub const MAX_CHECKS: i64 = 3;
/// How often the reconciler runs.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Calls looked up in one round at most, so a backlog is worked through
/// round by round rather than in one burst against Twilio's rate limits.
const BATCH: i64 = 50;

/// What one [`run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Calls looked up on Twilio.
    pub checked: usize,
    /// Recordings found and queued for transcription.
    pub queued: usize,
    /// Lookups that failed (tried again in a later round, within the checks).
    pub failed: usize,
}

/// Runs [`run_once`] every [`INTERVAL`] until `shutdown`. Without Twilio's
/// REST credentials there is nothing to ask: one WARN, and it stops.
pub async fn run_loop(state: AppState, shutdown: CancellationToken) {
    if !state.providers.recordings.is_enabled() {
        tracing::warn!(
            "recording reconciler off: without TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN a lost recording webhook cannot be looked up"
        );
        return;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(INTERVAL) => {}
        }
        let now = Timestamp::now();
        let report = tokio::select! {
            () = shutdown.cancelled() => return,
            report = run_once(&state, &now) => report,
        };
        match report {
            Ok(r) if r.checked > 0 => tracing::info!(
                checked = r.checked,
                queued = r.queued,
                failed = r.failed,
                "recording reconciler round"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "recording reconciler round skipped: database unavailable")
            }
        }
    }
}

/// One round as of `now`: claims the calls that are due and looks each up.
pub async fn run_once(state: &AppState, now: &Timestamp) -> Result<Report, sqlx::Error> {
    let quiet_for = time::Duration::try_from(QUIET_FOR).unwrap_or(time::Duration::MINUTE);
    let quiet_since = now.shifted(-quiet_for);
    let due = calls::claim_unrecorded(&state.db, now, &quiet_since, MAX_CHECKS, BATCH).await?;
    let mut report = Report::default();
    for call in due {
        report.checked += 1;
        let span = tracing::info_span!(
            "reconcile",
            call_sid = %call.call_sid,
            business_id = tracing::field::Empty
        );
        if let Some(id) = call.business_id {
            span.record("business_id", id);
        }
        match check(state, &call).instrument(span).await? {
            Checked::Queued => report.queued += 1,
            Checked::Failed => report.failed += 1,
            Checked::Nothing => {}
        }
    }
    Ok(report)
}

/// What looking up one call came to.
enum Checked {
    Queued,
    Failed,
    Nothing,
}

async fn check(state: &AppState, call: &UnrecordedCall) -> Result<Checked, sqlx::Error> {
    let found = match state
        .providers
        .recordings
        .recordings_of_call(&call.call_sid)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            state.metrics.provider_error(e.kind());
            tracing::warn!(error = %e, "could not list the call's recordings on Twilio; asking again later");
            return Ok(Checked::Failed);
        }
    };
    let Some(recording) = found.iter().find(|r| r.status == "completed") else {
        if call.ended && found.iter().all(|r| r.status != "processing") {
            // The call is over and Twilio has nothing: the caller hung up
            // before leaving a message. Nothing will come.
            calls::stop_recording_checks(&state.db, &call.call_sid, MAX_CHECKS).await?;
        }
        tracing::info!(
            recordings = found.len(),
            "no completed recording on Twilio for a call in record mode"
        );
        return Ok(Checked::Nothing);
    };
    calls::set_recording(
        &state.db,
        &RecordingInfo {
            call_sid: &call.call_sid,
            recording_url: &recording.url,
            recording_sid: Some(&recording.sid),
            from_number: None,
            to_number: None,
        },
    )
    .await?;
    let queued = transcribe::enqueue(
        &state.db,
        &transcribe::Payload {
            call_sid: call.call_sid.clone(),
            recording_url: recording.url.clone(),
            recording_sid: Some(recording.sid.clone()),
            business_id: call.business_id,
        },
    )
    .await?;
    tracing::warn!(
        job_id = queued.id,
        newly_queued = queued.created,
        recording_sid = %recording.sid,
        "recording found on Twilio whose webhook never arrived; queued for transcription"
    );
    super::wake();
    Ok(if queued.created {
        Checked::Queued
    } else {
        Checked::Nothing
    })
}
