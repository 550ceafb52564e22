//! Ending a call the agent's way: the armed action's answer to
//! `stream_ended` (`<Dial>` a human, or `<Hangup/>`), the whisper the human
//! hears before being connected (`POST /webhook/transfer_whisper`, and its
//! audio at the unsigned `GET /audio/whisper/{token}`), and how the dial
//! went (`POST /webhook/transfer_ended`, the `<Dial action>`).
//!
//! The call engine arms the action (`crate::call_actions`) and closes the
//! stream; everything here answers from that action, so a retried request
//! answers the same TwiML.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Span;
use twilio::twiml::{Dial, Number, Record};

use super::{
    Budget, TwilioParams, UNAVAILABLE_HE, after_own_row, behind_the_answer, fallback_record,
    goodbye, land, loggable, say, say_voice, twiml,
};
use crate::db::business::Business;
use crate::db::call_actions;
use crate::db::calls::CallMode;
use crate::domain::{ArmedAction, CallAction, TransferStatus};
use crate::spool::Write;
use crate::state::AppState;

/// `<Dial action>`: requested when the transfer's dialled call ends.
pub const TRANSFER_ENDED_PATH: &str = "/webhook/transfer_ended";
/// `<Number url>`: requested on the human's leg once they answer.
pub const TRANSFER_WHISPER_PATH: &str = "/webhook/transfer_whisper";
/// The whisper's audio; the token in the path is its only credential.
pub const WHISPER_AUDIO_PATH: &str = "/audio/whisper/{token}";
/// How long the human's phone rings before the caller leaves a message.
pub const DIAL_TIMEOUT_S: u32 = 20;

/// Nobody took the transfer: "There is nobody available to answer right
/// now. Please leave a message after the tone and we will get back to you."
pub const TRANSFER_FAILED_HE: &str =
    "אין כרגע מי שיכול לענות. אנא השאירו הודעה אחרי הצליל ונחזור אליכם.";

/// The answer to `stream_ended` for a call that is still up, when the
/// engine armed an action for it; `None` when it armed none.
pub(super) async fn armed_answer(
    state: &AppState,
    budget: &Budget,
    call_sid: &str,
    business: Option<&Business>,
    params: &TwilioParams,
) -> Option<Response> {
    let armed = state
        .call_actions
        .get(&state.db, call_sid, budget.deadline())
        .await?;
    match &armed.action {
        CallAction::Hangup => {
            tracing::info!(call_sid, "stream_ended -> hangup");
            Some(twiml(twilio::twiml::Response::new().hangup()))
        }
        CallAction::Transfer { to, .. } => {
            tracing::info!(call_sid, "stream_ended -> transfer");
            // The human sees the business calling, not the caller: they
            // know at once it is a transfer. Without the business (database
            // trouble) the dialled number is the business's anyway.
            let caller_id = business
                .map(|b| b.phone_number.to_string())
                .or_else(|| params.get("To").map(str::to_string));
            let dial = Dial {
                action: Some(TRANSFER_ENDED_PATH.to_string()),
                timeout: Some(DIAL_TIMEOUT_S),
                caller_id,
                number: Number {
                    number: to.to_string(),
                    url: armed
                        .whisper_token
                        .as_deref()
                        .map(|t| format!("{TRANSFER_WHISPER_PATH}?token={t}")),
                },
            };
            let (behind, sid) = (state.clone(), call_sid.to_string());
            behind_the_answer(state, async move {
                set_status(&behind, &sid, TransferStatus::Dialing).await;
            });
            Some(twiml(twilio::twiml::Response::new().dial(dial)))
        }
    }
}

/// The `<Number url>` TwiML: the whisper, played to the human only. An
/// unknown or expired token gets an empty answer: the human is connected
/// anyway, just without the summary.
pub async fn transfer_whisper(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let budget = Budget::start();
    let armed = match &token {
        Some(t) => {
            state
                .call_actions
                .by_whisper_token(&state.db, t, budget.deadline())
                .await
        }
        None => None,
    };
    let Some((armed, whisper)) = armed.as_ref().and_then(|a| Some((a, whisper_of(a)?))) else {
        // The token is a credential: it stays out of the log.
        tracing::warn!(
            "transfer_whisper with an unknown or expired token; connecting without the whisper"
        );
        return twiml(twilio::twiml::Response::new());
    };
    Span::current().record("call_sid", armed.call_sid.as_str());
    if !state.providers.tts.is_enabled() {
        return twiml(say(
            twilio::twiml::Response::new(),
            whisper,
            &say_voice(&state, None),
        ));
    }
    let token = armed.whisper_token.as_deref().unwrap_or_default();
    twiml(twilio::twiml::Response::new().play(&whisper_audio_url(&state, token)))
}

fn whisper_of(armed: &ArmedAction) -> Option<&str> {
    armed.whisper_at(&crate::domain::Timestamp::now())
}

/// `<public base URL>/audio/whisper/<token>`; relative without one.
fn whisper_audio_url(state: &AppState, token: &str) -> String {
    let path = WHISPER_AUDIO_PATH.replace("{token}", token);
    match &state.config.public_base_url {
        Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
        None => path,
    }
}

/// The whisper as a WAV for `<Play>`. Not signed: Twilio signs no media
/// fetch, so the unguessable, short-lived token is the credential.
pub async fn whisper_audio(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let budget = Budget::start();
    let armed = state
        .call_actions
        .by_whisper_token(&state.db, &token, budget.deadline())
        .await;
    let Some(whisper) = armed.as_ref().and_then(whisper_of) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.providers.tts.synthesize_cached(whisper, None).await {
        Ok(mulaw) => (
            [
                (header::CONTENT_TYPE, "audio/wav"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            voice::wav::write_mulaw_8k(&mulaw),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not synthesise the transfer whisper");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The `<Dial action>`: the human talked with the caller (hang up), or
/// nobody answered (the caller leaves a message instead).
pub async fn transfer_ended(State(state): State<AppState>, params: TwilioParams) -> Response {
    let call_sid = params.call_sid();
    if let Some(sid) = call_sid {
        Span::current().record("call_sid", sid);
    }
    let dial_status = params.get("DialCallStatus").unwrap_or_default();
    if dial_status == "completed" {
        if let Some(sid) = call_sid {
            let (behind, sid) = (state.clone(), sid.to_string());
            behind_the_answer(&state, async move {
                set_status(&behind, &sid, TransferStatus::Transferred).await;
            });
        }
        return twiml(twilio::twiml::Response::new().hangup());
    }

    let budget = Budget::start();
    let business = super::fallback::resolve_business(&state, &budget, call_sid, &params).await;
    if let Some(b) = &business {
        Span::current().record("business_id", b.id);
    }
    tracing::warn!(
        call_sid = call_sid.unwrap_or_default(),
        dial_call_status = %loggable(dial_status),
        "transfer_failed"
    );
    if let Some(sid) = call_sid {
        let (behind, sid) = (state.clone(), sid.to_string());
        behind_the_answer(&state, async move {
            set_status(&behind, &sid, TransferStatus::TransferFailed).await;
            let write = Write::Mode {
                call_sid: sid,
                mode: CallMode::Record,
                reason: None,
            };
            land(&behind, &Budget::start(), write).await;
        });
    }
    let voice = say_voice(&state, business.as_deref());
    if business
        .as_ref()
        .is_some_and(|b| !b.enable_recording_fallback)
    {
        return twiml(goodbye(UNAVAILABLE_HE, &voice));
    }
    // The line promises a tone, so this recording beeps, unlike the
    // stream fallback's.
    let record = Record {
        play_beep: Some(true),
        ..fallback_record()
    };
    twiml(say(twilio::twiml::Response::new(), TRANSFER_FAILED_HE, &voice).record(record))
}

/// Records how the transfer stands, after the call's own row; a failure
/// only costs the CRM its status line, so it is logged and dropped.
async fn set_status(state: &AppState, call_sid: &str, status: TransferStatus) {
    after_own_row(state, call_sid).await;
    let budget = Budget::start();
    match budget
        .run(call_actions::set_transfer_status(
            &state.db, call_sid, status,
        ))
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            transfer_status = status.as_str(),
            "no armed transfer in the call's row; its status is not recorded"
        ),
        Err(e) => tracing::error!(
            error = %e,
            transfer_status = status.as_str(),
            "could not record the transfer's status"
        ),
    }
}
