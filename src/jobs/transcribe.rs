//! The post-call transcription job (MISSION §5): download the caller's
//! recording from Twilio, transcribe it as Hebrew, drop what the gibberish
//! filter rejects, and store the rest in `call_log.transcript`.
//!
//! Idempotent: running it twice stores the same transcript twice. The
//! webhook that queues it lives in `crate::http::webhooks`.

use std::sync::Mutex;

use anyhow::anyhow;
use providers::{AudioInput, ProviderError, transcribe_he};
use serde::{Deserialize, Serialize};
use voice::{Rejection, TranscriptContext, check_transcript};

use super::JobError;
use crate::db::{calls, jobs as queue};
use crate::state::AppState;

/// The `kind` of transcription jobs in the `job` table.
pub const KIND: &str = "transcribe_recording";

/// Attempts before a transcription job goes dead.
pub const MAX_ATTEMPTS: i32 = 5;

/// What the job needs; stored as JSON in `job.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub call_sid: String,
    pub recording_url: String,
    #[serde(default)]
    pub recording_sid: Option<String>,
    #[serde(default)]
    pub business_id: Option<i64>,
}

impl super::CallJob for Payload {
    fn call_sid(&self) -> &str {
        &self.call_sid
    }
    fn business_id(&self) -> Option<i64> {
        self.business_id
    }
}

/// The dedupe key: one transcription per call, however often Twilio retries
/// the recording webhook.
pub fn dedupe_key(call_sid: &str) -> String {
    format!("transcribe:{call_sid}")
}

/// Queues the transcription of a call's recording.
pub async fn enqueue(
    db: &crate::db::Db,
    payload: &Payload,
) -> Result<queue::Enqueued, sqlx::Error> {
    super::enqueue_json(
        db,
        KIND,
        &dedupe_key(&payload.call_sid),
        payload,
        MAX_ATTEMPTS,
        &crate::domain::Timestamp::now(),
    )
    .await
}

/// Less speech than this in a whole recording is treated as none.
const MIN_VOICED_MS: u32 = 200;

/// The speech in a WAV recording, by the VAD; `None` when the audio is not
/// a WAV we can decode, its rate included (then the transcript filter works
/// without it). The rate is bounded there: the header comes from outside.
fn voiced_ms_of(audio: &[u8]) -> Option<u32> {
    let info = voice::wav::parse(audio).ok()?;
    let pcm = voice::wav::decode_mono_8k(&info).ok()?;
    Some(voice::vad::voiced_ms(&pcm, voice::TWILIO_SAMPLE_RATE))
}

/// Runs one transcription job.
pub async fn run(state: &AppState, payload: &str) -> Result<(), JobError> {
    let payload: Payload = super::read_payload(payload)?;

    // Checked before downloading anything: without these, no retry can help
    // until an operator configures them and re-queues the job.
    if !state.providers.stt.is_enabled() {
        return Err(JobError::Permanent(anyhow!(
            "speech-to-text is disabled (OPENAI_API_KEY not set)"
        )));
    }
    if !state.providers.recordings.is_enabled() {
        return Err(JobError::Permanent(anyhow!(
            "recording download is disabled (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set)"
        )));
    }

    let audio = state
        .providers
        .recordings
        .fetch(&payload.recording_url)
        .await
        .map_err(|e| classify(state, "recording download", e))?;
    let bytes = audio.len();

    // Whisper invents text for silence and line noise: a recording with
    // (almost) no speech in it is not sent at all.
    let voiced_ms = voiced_ms_of(&audio);
    if let Some(ms) = voiced_ms
        && ms < MIN_VOICED_MS
    {
        tracing::info!(
            voiced_ms = ms,
            audio_bytes = bytes,
            "recording has no speech (VAD); not transcribed"
        );
        return Ok(());
    }

    // A voicemail is not an answer inside a conversation: courtesy phrases
    // alone ("תודה רבה") are Whisper's silence hallucinations here.
    let context = TranscriptContext {
        voiced_ms,
        mid_conversation: false,
    };
    let rejected: Mutex<Option<Rejection>> = Mutex::new(None);
    let transcript = transcribe_he(
        state.providers.stt.as_ref(),
        AudioInput::wav(audio),
        |text| match check_transcript(text, &context) {
            Ok(kept) => Some(kept),
            Err(why) => {
                *rejected.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                None
            }
        },
    )
    .await
    .map_err(|e| classify(state, "transcription", e))?;

    let Some(text) = transcript else {
        let reason = rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or_else(|| "empty transcript".to_string(), |r| format!("{r:?}"));
        tracing::info!(
            reason,
            audio_bytes = bytes,
            "recording has no usable speech; no transcript stored"
        );
        return Ok(());
    };

    let stored = calls::set_transcript(&state.db, &payload.call_sid, &text)
        .await
        .map_err(|e| JobError::Retry(anyhow!(e).context("storing the transcript")))?;
    if !stored {
        // set_recording created the row before this job was queued; a
        // missing row means it was removed by hand. Nothing to attach to.
        return Err(JobError::Permanent(anyhow!(
            "no call_log row for this call; transcript not stored"
        )));
    }
    tracing::info!(chars = text.chars().count(), "recording_transcribed");
    // Queued here, not by the webhook: the summary needs the transcript.
    // A failure retries this job, which stores the same transcript again.
    let outcome = super::outcome::Payload {
        call_sid: payload.call_sid.clone(),
        business_id: payload.business_id,
    };
    super::outcome::enqueue(&state.db, &outcome)
        .await
        .map_err(|e| JobError::Retry(anyhow!(e).context("queueing the call outcome")))?;
    Ok(())
}

/// Sorts a provider failure into "try again later" or "give up now".
fn classify(state: &AppState, step: &'static str, e: ProviderError) -> JobError {
    state.metrics.provider_error(e.kind());
    let retry = e.is_retryable();
    let e = anyhow!("{step} failed ({}): {e}", e.kind());
    if retry {
        JobError::Retry(e)
    } else {
        JobError::Permanent(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_round_trips_through_json_and_tolerates_missing_optionals() {
        let p = Payload {
            call_sid: "CA1".into(),
            recording_url: "https://api.twilio.com/x/RE1".into(),
            recording_sid: Some("RE1".into()),
            business_id: Some(3),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Payload>(&json).unwrap(), p);
        let minimal: Payload =
            serde_json::from_str(r#"{"call_sid":"CA2","recording_url":"u"}"#).unwrap();
        assert_eq!(minimal.business_id, None);
    }

    #[test]
    fn a_recording_whose_header_claims_an_absurd_rate_is_not_measured() {
        // Half a second of silence at 8 kHz, measured: no speech.
        let honest = voice::wav::write_pcm16(&[0; 4000], 8000);
        assert_eq!(voiced_ms_of(&honest), Some(0));
        // The same bytes claiming 1 Hz would resample to 32 million samples.
        let forged = voice::wav::write_pcm16(&[0; 4000], 1);
        assert_eq!(voiced_ms_of(&forged), None);
    }

    #[test]
    fn outages_are_retried_and_refusals_are_not() {
        assert!(ProviderError::Timeout.is_retryable());
        assert!(ProviderError::NotFound.is_retryable());
        assert!(ProviderError::Server { status: 503 }.is_retryable());
        assert!(!ProviderError::Refused("off origin".into()).is_retryable());
        assert!(!ProviderError::Unauthorized.is_retryable());
        assert!(!ProviderError::Disabled.is_retryable());
        assert!(ProviderError::Http("connection reset".into()).is_retryable());
    }
}
