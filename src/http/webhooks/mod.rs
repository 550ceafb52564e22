//! Route group `webhooks`: the Twilio voice webhooks (MISSION §2, §3, §5).
//!
//! Every route but the whisper's audio ([`transfer`]) sits behind the
//! signature layer ([`signature`]), answers
//! within Twilio's budget (database calls share a short deadline) and never
//! answers 500: an internal error becomes valid TwiML — or 204 where Twilio
//! expects no TwiML — plus one ERROR log line. Slow work (transcription) is
//! queued as a durable job (`crate::jobs`). A write the caller depends on
//! goes through [`land`]: what the database cannot take within the budget
//! waits in the local spool (`crate::spool`), because Twilio never retries
//! a request we answered. The media WebSocket the stream TwiML points at is
//! another group's (`media_ws`).

mod fallback;
mod incoming;
mod message_status;
pub mod signature;
mod status;
mod transfer;

pub use transfer::{
    DIAL_TIMEOUT_S, TRANSFER_ENDED_PATH, TRANSFER_FAILED_HE, TRANSFER_WHISPER_PATH,
    WHISPER_AUDIO_PATH,
};

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tracing::Instrument;
use twilio::twiml::{ConnectStream, Record};

use crate::db::business::Business;
use crate::spool::{Applied, Detour, Landing, Write};
use crate::state::AppState;

/// Path of the incoming-call webhook (configured on the Twilio number).
pub const INCOMING_CALL_PATH: &str = "/webhook/incoming_call";
/// `<Connect action>`: requested when the media stream ends.
pub const STREAM_ENDED_PATH: &str = "/webhook/stream_ended";
/// `<Record action>`: requested when the caller's message is recorded.
pub const HANDLE_RECORDING_PATH: &str = "/webhook/handle_recording";
/// Status callbacks (configured on the Twilio number).
pub const CALL_STATUS_PATH: &str = "/webhook/call_status";
/// Path of the media WebSocket on the public host.
pub const MEDIA_STREAM_PATH: &str = "/ws/twilio-media";

/// The `<Say>` voice when neither the business nor `TTS_VOICE` names a
/// Hebrew Google voice (Amazon Polly has no Hebrew).
pub const DEFAULT_SAY_VOICE: &str = "Google.he-IL-Standard-A";
/// `<Say language>` for every line we speak.
pub const SAY_LANGUAGE: &str = "he-IL";

/// Before recording: "Please leave a short message after this and we will
/// get back to you."
pub const RECORD_PROMPT_HE: &str = "אנא השאירו הודעה קצרה ונחזור אליכם.";
/// After recording (MISSION §3.2): "Thank you. Processing your message and
/// getting back shortly."
pub const THANK_YOU_HE: &str = "תודה. מעבד את הודעתך וחוזר מיד.";
/// A number no active business owns: "The number you called is not in
/// service. Goodbye."
pub const NOT_IN_SERVICE_HE: &str = "המספר שחייגתם אינו מחובר לשירות. להתראות.";
/// Neither streaming nor recording is possible: "Sorry, we cannot take
/// your call right now. Please call again later. Goodbye."
pub const UNAVAILABLE_HE: &str =
    "מצטערים, איננו יכולים לענות כרגע. נא להתקשר שוב מאוחר יותר. להתראות.";

/// How long one webhook request may spend on the database in total. Twilio
/// waits 15 s, but a caller hears silence meanwhile: past this deadline a
/// webhook answers from what it already knows.
pub const DB_BUDGET: Duration = Duration::from_millis(1000);

/// Recording settings of the fallback (MISSION §3.2): no beep, 4 s of
/// silence ends it, at most 30 s, no (English-only) Twilio transcription.
pub fn fallback_record() -> Record {
    Record {
        timeout: Some(4),
        max_length: Some(30),
        play_beep: Some(false),
        transcribe: Some(false),
        ..Record::new(HANDLE_RECORDING_PATH)
    }
}

pub fn router(state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new()
        .route(INCOMING_CALL_PATH, post(incoming::incoming_call))
        .route(STREAM_ENDED_PATH, post(fallback::stream_ended))
        .route(HANDLE_RECORDING_PATH, post(fallback::handle_recording))
        .route(CALL_STATUS_PATH, post(status::call_status))
        .route(
            transfer::TRANSFER_WHISPER_PATH,
            post(transfer::transfer_whisper),
        )
        .route(
            transfer::TRANSFER_ENDED_PATH,
            post(transfer::transfer_ended),
        )
        .route(
            crate::jobs::notify::MESSAGE_STATUS_PATH,
            post(message_status::message_status),
        )
        // Unknown webhook paths go through the signature layer too, so an
        // unsigned caller cannot even probe which ones exist.
        .route("/webhook/{*rest}", any(|| async { StatusCode::NOT_FOUND }))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            signature::verify,
        ))
        // Merged after the layer: Twilio signs no `<Play>` fetch, and the
        // short-lived token in the path is the credential.
        .merge(Router::new().route(transfer::WHISPER_AUDIO_PATH, get(transfer::whisper_audio))))
}

/// The verified form parameters of a webhook request, put in place by the
/// signature layer. Extracting never fails: outside the layer it is empty.
#[derive(Debug, Clone, Default)]
pub struct TwilioParams(pub Vec<(String, String)>);

impl TwilioParams {
    /// The first non-empty value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }

    /// `CallSid` when it looks like one (Twilio's are `CA` + 32 hex digits;
    /// accepted: 2–64 ASCII letters and digits).
    pub fn call_sid(&self) -> Option<&str> {
        self.get("CallSid").filter(|s| is_sid(s))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TwilioParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<TwilioParams>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Whether `s` has the shape of a Twilio SID.
pub fn is_sid(s: &str) -> bool {
    (2..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A value from an unauthenticated or odd request, made safe to log: short
/// and printable ASCII only.
pub fn loggable(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// A TwiML answer (200, `text/xml`).
pub fn twiml(response: twilio::twiml::Response) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        response.to_xml(),
    )
        .into_response()
}

/// The `<Say voice>`: the business's voice, else `TTS_VOICE` (the voice the
/// caller hears on the stream), as Twilio's Google voice name.
pub fn say_voice(state: &AppState, business: Option<&Business>) -> String {
    let as_twilio = |v: &str| {
        let v = v.trim();
        if v.starts_with("Google.he-IL-") {
            Some(v.to_string())
        } else if v.starts_with("he-IL-") {
            Some(format!("Google.{v}"))
        } else {
            None
        }
    };
    business
        .and_then(|b| b.voice.as_deref())
        .and_then(as_twilio)
        .or_else(|| as_twilio(&state.config.tts_voice))
        .unwrap_or_else(|| DEFAULT_SAY_VOICE.to_string())
}

/// A Hebrew line.
pub fn say(response: twilio::twiml::Response, text: &str, voice: &str) -> twilio::twiml::Response {
    response.say(text, SAY_LANGUAGE, Some(voice))
}

/// The recording fallback: a prompt first (verbs after `<Record action>`
/// are never reached), then `<Record>`; the thanks come from the action.
pub fn record_fallback(voice: &str) -> twilio::twiml::Response {
    say(twilio::twiml::Response::new(), RECORD_PROMPT_HE, voice).record(fallback_record())
}

/// A Hebrew line, then `<Hangup/>`.
pub fn goodbye(text: &str, voice: &str) -> twilio::twiml::Response {
    say(twilio::twiml::Response::new(), text, voice).hangup()
}

/// The media-stream TwiML of MISSION §3.1 with `parameters` as
/// `<Parameter>` children (never anything secret: Twilio logs them).
pub fn stream(state: &AppState, parameters: Vec<(String, String)>) -> twilio::twiml::Response {
    twilio::twiml::Response::new().connect_stream(ConnectStream {
        action: Some(STREAM_ENDED_PATH.to_string()),
        url: media_stream_url(state),
        parameters,
    })
}

/// `wss://<public host>/ws/twilio-media` (`ws://` when the public base URL
/// is plain http, as in local development). The signature layer has already
/// refused every request when no public base URL is configured.
pub fn media_stream_url(state: &AppState) -> String {
    state
        .config
        .public_base_url
        .as_ref()
        .map_or_else(|| MEDIA_STREAM_PATH.to_string(), media_stream_url_at)
}

/// [`media_stream_url`] on the public base URL `base`: also the URL Twilio
/// signs when it opens the stream.
pub fn media_stream_url_at(base: &url::Url) -> String {
    let mut url = base.clone();
    let scheme = if base.scheme() == "http" { "ws" } else { "wss" };
    // https→wss and http→ws are both special-to-special scheme changes,
    // which the URL standard allows.
    let _ = url.set_scheme(scheme);
    let path = format!("{}{MEDIA_STREAM_PATH}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

pub use crate::db::budget::DbTrouble;

/// The database deadline of one webhook request ([`DB_BUDGET`] in total).
pub struct Budget {
    deadline: tokio::time::Instant,
}

impl Budget {
    pub fn start() -> Self {
        Self {
            deadline: tokio::time::Instant::now() + DB_BUDGET,
        }
    }

    /// When the request's database time runs out.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    /// Runs one database step, cut off at the request's deadline.
    pub async fn run<T>(
        &self,
        step: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, DbTrouble> {
        crate::db::budget::by_deadline(self.deadline, DB_BUDGET, step).await
    }
}

/// Runs `work` beside the answer, which goes back to Twilio without waiting
/// for it: tracked so the process does not exit before it ends, and in the
/// request's span.
pub fn behind_the_answer(state: &AppState, work: impl Future<Output = ()> + Send + 'static) {
    state.tasks.spawn(work.instrument(tracing::Span::current()));
}

/// Waits until this instance's write of the call's row, if it answered the
/// call, has landed or been spooled, so a write about the call cannot
/// overtake the row it updates. Bounded by [`DB_BUDGET`].
pub async fn after_own_row(state: &AppState, call_sid: &str) {
    if let Some(mut answer) = state.answered.get(call_sid) {
        answer
            .row_settled(tokio::time::Instant::now() + DB_BUDGET)
            .await;
    }
}

/// Lands a write the caller depends on: in the database within the
/// request's budget, else in the spool, fsync'd, to land when the database
/// answers. Logs what did not go straight in, once; returns what the
/// database said when it took the write at once.
pub async fn land(state: &AppState, budget: &Budget, write: Write) -> Option<Applied> {
    match land_by(state, budget.deadline(), write).await {
        Landing::Written(applied) => Some(applied),
        _ => None,
    }
}

/// [`land`] with its own deadline, saying where the write went.
pub async fn land_by(state: &AppState, deadline: tokio::time::Instant, write: Write) -> Landing {
    let what = write.what();
    let landing = state.spool.land_grouped(&state.db, deadline, write).await;
    match &landing {
        Landing::Written(_) => {}
        Landing::Spooled(Detour::Behind) => tracing::warn!(
            write = what,
            "earlier writes wait in the spool for the database; this one is spooled behind them"
        ),
        Landing::Spooled(Detour::Timeout) => tracing::warn!(
            write = what,
            "the database did not answer within the webhook's budget; spooled, it lands when the database answers"
        ),
        Landing::Spooled(Detour::Unavailable(e)) => tracing::error!(
            write = what,
            error = %e,
            "database unavailable; spooled, it lands when the database answers"
        ),
        Landing::Refused(e) => tracing::error!(
            write = what,
            error = %e,
            "the database refused the write; spooling it would not help"
        ),
        Landing::Lost(detour, e) => tracing::error!(
            write = what,
            error = %e,
            database = ?detour,
            "the database could not take the write and the spool could not keep it; it is lost"
        ),
    }
    landing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_are_short_alphanumeric_tokens() {
        assert!(is_sid("CA0123456789abcdef0123456789abcdef"));
        assert!(!is_sid(""));
        assert!(!is_sid("C"));
        assert!(!is_sid("CA-1"));
        assert!(!is_sid(&"A".repeat(65)));
    }

    #[test]
    fn loggable_values_are_short_and_printable() {
        assert_eq!(loggable("CA1\n\u{202e}x y"), "CA1xy");
        assert_eq!(loggable(&"9".repeat(100)).len(), 64);
    }

    #[test]
    fn repeated_or_empty_parameters_yield_the_first_real_value() {
        let p = TwilioParams(vec![
            ("To".into(), " ".into()),
            ("To".into(), " +97235550001 ".into()),
            ("To".into(), "+1".into()),
        ]);
        assert_eq!(p.get("To"), Some("+97235550001"));
        assert_eq!(p.get("From"), None);
    }
}
