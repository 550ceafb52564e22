//! `GET /ws/twilio-media`: the Media Streams WebSocket, glued to the call
//! engine (`crates/call`).
//!
//! This module owns what the engine must not know: the handshake signature,
//! which tenant the stream belongs to (checked against this instance's
//! answer to `incoming_call` or the call row it wrote, never taken from the
//! stream alone), the business's settings, and storing what the call
//! produced. Anything that stops a stream from starting closes the socket,
//! which makes Twilio continue with the `<Connect action>` — the recording
//! fallback — so the caller is never dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use call::{CallEvent, CallLimits, CallProviders, CallSetup, EndReason, Incoming, Outgoing};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::answered::RowState;
use crate::db::business::Business;
use crate::db::calls::{self, CallMode, CallTurn, StreamCap, StreamRefusal, ToolRun};
use crate::db::customers::{self, ReturningCaller};
use crate::domain::{PhoneNumber, Timestamp};
use crate::http::signed_request::SignedRequest;
use crate::http::webhooks::{MEDIA_STREAM_PATH, media_stream_url_at};
use crate::jobs::outcome;
use crate::spool::{Landing, Write};
use crate::state::AppState;
use crate::tools::{self, BusinessTools};

/// Largest frame accepted; Twilio's media frames are a few hundred bytes.
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Bytes the socket reads at once. tungstenite zero-fills this much of its
/// buffer before every read, and its default (128 KiB) made that memset the
/// largest single cost of a call: 50 reads a second of a few hundred bytes
/// each. 4 KiB still takes several queued frames in one read; a frame up to
/// [`MAX_FRAME_BYTES`] simply takes more reads.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long Twilio has to send `start` after the socket opens.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Database budget for resolving the call and its business.
const DB_BUDGET: Duration = Duration::from_secs(1);
/// Lookups of a call not (yet) recorded before the stream is refused.
const UNKNOWN_CALL_LOOKUPS: u32 = 6;
/// A stream starts seconds after `incoming_call`; one for a call recorded
/// longer ago than this is a replay, not Twilio.
const STREAM_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Frames buffered between the call task and the socket's writer. Small on
/// purpose: a stalled peer backs up here instead of growing memory.
const CHANNEL_FRAMES: usize = 64;

/// Default greeting when a business has none (`{name}` is the business).
pub fn default_greeting(name: &str) -> String {
    format!("שלום, הגעתם ל{name}. איך אפשר לעזור?")
}

/// Default system prompt when a business has none.
pub fn default_system_prompt(name: &str) -> String {
    format!(
        "אתה נציג שירות טלפוני אדיב של העסק \"{name}\". דבר בעברית, במשפטים קצרים וברורים \
         המתאימים לשיחת טלפון. אסוף בנימוס את שם המתקשר ואת מהות הפנייה, ואשר שהעסק יחזור אליו. \
         אל תמציא מחירים, שעות או התחייבויות שלא נמסרו לך. אם אינך יודע, אמור שתעביר את השאלה לצוות."
    )
}

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new().route(MEDIA_STREAM_PATH, get(handshake)))
}

/// Verifies the handshake before upgrading: Twilio signs the `wss://` URL
/// exactly as written in our TwiML, with no parameters.
async fn handshake(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let signed = SignedRequest::read(&state.config, &headers, media_stream_url_at);
    if !signed.is_ok_and(|s| s.validate(&[])) {
        tracing::warn!("media stream refused: missing or invalid X-Twilio-Signature");
        return StatusCode::FORBIDDEN.into_response();
    }
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let live = state.live_calls.clone();
            live.track_future(serve_socket(state, socket))
        })
}

/// The socket's read half as the call reads it: each frame is read by the
/// call's own task when it polls, with no reader task or channel between.
struct SocketFrames(futures::stream::SplitStream<WebSocket>);

impl call::FrameSource for SocketFrames {
    // Cancel-safe: a frame is only taken off the stream in the same poll
    // that returns it.
    async fn recv(&mut self) -> Option<Incoming> {
        loop {
            return match self.0.next().await? {
                Ok(Message::Text(t)) => Some(Incoming::Text(t.to_string())),
                Ok(Message::Binary(b)) => Some(Incoming::Binary(b.to_vec())),
                Ok(Message::Pong(_)) => Some(Incoming::Pong),
                // Answered by the WebSocket layer on the next write.
                Ok(Message::Ping(_)) => continue,
                Ok(Message::Close(_)) | Err(_) => Some(Incoming::Close),
            };
        }
    }
}

async fn serve_socket(state: AppState, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    let mut frames = SocketFrames(stream);
    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(CHANNEL_FRAMES);

    let writer = tokio::spawn(async move {
        // Whatever is already queued goes out in one write: the pacer's
        // opening burst, a sentence's last chunk and its mark, and a
        // backlog after the writer fell behind cost one flush (one send
        // syscall) instead of one each.
        'socket: while let Some(first) = out_rx.recv().await {
            let mut next = Some(first);
            while let Some(out) = next {
                let (msg, last) = match out {
                    Outgoing::Text(t) => (Message::Text(t.into()), false),
                    Outgoing::Ping => (Message::Ping(Default::default()), false),
                    Outgoing::Close { code, reason } => (
                        Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })),
                        true,
                    ),
                };
                if sink.feed(msg).await.is_err() {
                    break 'socket;
                }
                if last {
                    let _ = sink.flush().await;
                    break 'socket;
                }
                next = out_rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    match call::await_start(&mut frames, START_TIMEOUT).await {
        Ok(start) => {
            let span = tracing::info_span!(
                "media_stream",
                call_sid = %start.call_sid,
                business_id = tracing::field::Empty,
            );
            run_stream(state, start, frames, out_tx.clone())
                .instrument(span)
                .await;
        }
        Err(e) => tracing::warn!(error = %e, "media stream closed before it started"),
    }
    // Dropping the last sender ends the writer after it flushed what is
    // queued (a failover line, a close frame).
    drop(out_tx);
    if tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        tracing::warn!("media socket writer did not finish in time");
    }
}

/// Why a stream is refused before the call starts.
fn refuse(out: &mpsc::Sender<Outgoing>, why: &str) {
    tracing::warn!(
        reason = why,
        "media stream refused; Twilio continues with the recording fallback"
    );
    let _ = out.try_send(Outgoing::Close {
        code: 1008,
        reason: "refused".into(),
    });
}

async fn run_stream(
    state: AppState,
    start: twilio::media::Start,
    frames: SocketFrames,
    out_tx: mpsc::Sender<Outgoing>,
) {
    let Some(claimed) = start
        .custom_parameters
        .get("business_id")
        .and_then(|v| v.trim().parse::<i64>().ok())
    else {
        return refuse(&out_tx, "no business_id parameter");
    };
    let Some(business) = resolve_business(&state, &start.call_sid, claimed, &out_tx).await else {
        return;
    };
    tracing::Span::current().record("business_id", business.id);

    let agent = agent_context(
        &state,
        &business,
        start.custom_parameters.get("from").map(String::as_str),
        &start.call_sid,
    )
    .await;
    // Tools need a model to call them; without one the agent's fixed line
    // has nothing to run.
    let tools = tools_for(&state, &business, &start.call_sid, &agent)
        .filter(|_| state.providers.llm.is_enabled())
        .map(|t| Arc::new(t) as Arc<dyn call::CallTools>);
    let providers = CallProviders {
        stt: state.providers.stt.clone(),
        llm: state.providers.llm.clone(),
        tts: state.providers.tts.clone(),
        tools,
        hedge_budget: state.providers.hedge_budget.clone(),
    };
    // Once per call, not once per frame: what this caller will not get.
    if !providers.llm.is_enabled() || !providers.stt.is_enabled() {
        tracing::warn!("NLP disabled for this call: the agent answers with the fixed line");
    }
    if !providers.tts.is_enabled() {
        tracing::warn!("TTS disabled for this call: the caller hears short silences");
    }
    let setup = CallSetup {
        call_sid: start.call_sid.clone(),
        stream_sid: start.stream_sid.clone(),
        business_id: business.id,
        greeting: agent.greeting,
        system_prompt: agent.system_prompt,
        voice: business.voice.as_ref().map(ToString::to_string),
        turn: voice::TurnConfig {
            end_silence_ms: business.end_of_turn_ms.get(),
            guess_after_ms: state.config.turn_guess_after_ms,
            stand_out_db: state.config.turn_stand_out_db,
            ..voice::TurnConfig::default()
        },
        endpoint: voice::EndpointBounds {
            base_ms: business.end_of_turn_ms.get(),
            min_ms: business.end_of_turn_min_ms.get(),
            max_ms: business.end_of_turn_max_ms.get(),
        },
        limits: CallLimits {
            max_call: Duration::from_secs(u64::from(business.max_call_minutes.get()) * 60),
            hedge_after: state.config.hedge_after,
            ..CallLimits::default()
        },
    };

    let (events_tx, events_rx) = mpsc::channel::<CallEvent>(256);
    // Tracked: the turn rows it writes must land before the process exits.
    let recorder = state.tasks.spawn(
        record_events(
            state.clone(),
            setup.call_sid.clone(),
            business.id,
            events_rx,
        )
        .instrument(tracing::Span::current()),
    );
    state.metrics.calls_total.inc();
    state.metrics.calls_in_progress.inc();
    let summary = call::run_call(
        setup,
        providers,
        frames,
        out_tx,
        events_tx,
        state.calls_shutdown.child_token(),
    )
    .await;
    state.metrics.calls_in_progress.dec();
    tracing::info!(turns = summary.turns, end = ?summary.end, "media stream ended");
    // A transfer goes on with a person: its outcome waits for the call's
    // end (the `completed` status's backstop).
    if matches!(summary.end, EndReason::Stopped | EndReason::HungUp) {
        queue_outcome(&state, &start.call_sid, business.id, recorder);
    }
    // The stream no longer counts against the business's call limit.
    let (db, sid) = (state.db.clone(), start.call_sid.clone());
    state.tasks.spawn(
        async move {
            if let Err(e) = calls::close_stream(&db, &sid).await {
                tracing::error!(error = %e, "could not mark the stream closed");
            }
        }
        .instrument(tracing::Span::current()),
    );
    // The recorder finishes its retries on its own; the call does not wait.
}

/// What the agent starts a call with: its first line, its instructions and
/// who is calling.
#[derive(Debug, Clone)]
pub struct AgentContext {
    pub greeting: String,
    /// The business's prompt, then [`tools::context_he`].
    pub system_prompt: String,
    /// The caller's number; `None` when withheld or not a number.
    pub caller: Option<PhoneNumber>,
    /// The customer calling, when their number is known to the business.
    pub known: Option<ReturningCaller>,
}

/// The greeting and instructions of a call of `business` from `from` (the
/// stream's `from` parameter), a returning caller greeted by name.
pub async fn agent_context(
    state: &AppState,
    business: &Business,
    from: Option<&str>,
    call_sid: &str,
) -> AgentContext {
    // `anonymous` and other withheld forms do not parse as a number.
    let caller = from.and_then(|f| PhoneNumber::parse(f).ok());
    let known = returning_caller(state, business, caller.as_ref(), call_sid).await;
    let greeting = business
        .greeting
        .as_ref()
        .map_or_else(|| default_greeting(&business.name), ToString::to_string);
    let prompt = business.system_prompt.as_ref().map_or_else(
        || default_system_prompt(&business.name),
        ToString::to_string,
    );
    AgentContext {
        greeting: tools::greeting_for(&greeting, known.as_ref()),
        system_prompt: prompt
            + &tools::context_he(business, jiff::Timestamp::now(), known.as_ref()),
        caller,
        known,
    }
}

/// The tools of a call of `business`; `None` when it offers none, so the
/// call is plain conversation.
pub fn tools_for(
    state: &AppState,
    business: &Arc<Business>,
    call_sid: &str,
    agent: &AgentContext,
) -> Option<BusinessTools> {
    if tools::offered(business).is_empty() {
        return None;
    }
    Some(BusinessTools::new(
        state.clone(),
        business.clone(),
        call_sid.to_string(),
        agent.caller.clone(),
        agent.known.clone(),
    ))
}

/// The known customer calling from `caller`, within [`DB_BUDGET`]: a slow
/// or failing database greets them as anyone, never later. A withheld or
/// unparseable number is nobody in particular and is not looked up.
async fn returning_caller(
    state: &AppState,
    business: &Business,
    caller: Option<&PhoneNumber>,
    call_sid: &str,
) -> Option<ReturningCaller> {
    let phone = caller?.to_string();
    let lookup = customers::returning_caller(&state.db, business.id, &phone, call_sid);
    match crate::db::budget::within(DB_BUDGET, lookup).await {
        Ok(known) => known,
        Err(e) => {
            tracing::error!(error = %e, "could not look the caller up; greeting them as anyone");
            None
        }
    }
}

/// Queues the outcome of a call whose stream Twilio stopped (the caller hung
/// up) or the agent ended, once `recorder` has stored its turns, so the summary reads them all.
/// A stream that failed over gets none here: its voicemail's transcription
/// queues the outcome with the message in it.
fn queue_outcome(
    state: &AppState,
    call_sid: &str,
    business_id: i64,
    recorder: tokio::task::JoinHandle<()>,
) {
    let write = Write::Outcome(outcome::Payload {
        call_sid: call_sid.to_string(),
        business_id: Some(business_id),
    });
    let behind = state.clone();
    state.tasks.spawn(
        async move {
            let _ = recorder.await;
            land_behind(&behind, write).await;
        }
        .instrument(tracing::Span::current()),
    );
}

/// What became of a stream's claim on its call.
enum Claim {
    Granted,
    Refused(StreamRefusal),
    DbError(sqlx::Error),
    DbSlow,
}

/// The business this stream belongs to: the one `incoming_call` answered
/// the call for, which must equal the stream's `business_id` parameter.
async fn resolve_business(
    state: &AppState,
    call_sid: &str,
    claimed: i64,
    out: &mpsc::Sender<Outgoing>,
) -> Option<Arc<Business>> {
    let lookup = state.directory.by_id(&state.db, claimed);
    let business = match tokio::time::timeout(DB_BUDGET, lookup).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) => {
            refuse(out, "business not found");
            return None;
        }
        _ => {
            refuse(out, "database unavailable");
            return None;
        }
    };
    if !business.active || !business.enable_calls_stream {
        refuse(out, "streaming is off for this business");
        return None;
    }
    // The business is known first: its limits decide the claim.
    let now = time::OffsetDateTime::now_utc();
    let not_before = Timestamp::from(now - STREAM_WINDOW);
    let cap = StreamCap {
        max_live: business.max_concurrent_calls.get(),
        live_since: Timestamp::from(
            now - Duration::from_secs(u64::from(business.max_call_minutes.get()) * 60),
        ),
    };
    let claim = match state.answered.get(call_sid) {
        Some(answer) => claim_answered(state, call_sid, claimed, answer, &not_before, &cap).await,
        None => claim_elsewhere(state, call_sid, claimed, &not_before, &cap).await,
    };
    let reason = match claim {
        Claim::Granted => return Some(business),
        Claim::Refused(refusal) => match refusal {
            StreamRefusal::Unknown => "unknown call: incoming_call never recorded it",
            StreamRefusal::OtherBusiness => {
                tracing::warn!(
                    claimed_business_id = claimed,
                    "forged business_id on a media stream"
                );
                "business_id does not match the call"
            }
            StreamRefusal::Ended => "the call has ended",
            StreamRefusal::AlreadyStreaming => "the call already has a stream",
            StreamRefusal::TooOld => "the call started too long ago for a new stream",
            StreamRefusal::AtCapacity => {
                state.metrics.calls_over_capacity.inc();
                "the business streams as many calls as it may; this one records"
            }
        },
        Claim::DbError(e) => {
            tracing::error!(error = %e, "cannot read the call log");
            "database unavailable"
        }
        Claim::DbSlow => "database too slow",
    };
    refuse(out, reason);
    None
}

/// The claim of a call this instance answered: it already knows the call
/// and its business, so it waits for its own row write rather than polling,
/// and claims once. When the database cannot confirm in time the stream
/// goes on — the caller is real, and the agent beats the voicemail — with
/// only this instance's guard against a second stream (the business's call
/// limit is then not counted).
async fn claim_answered(
    state: &AppState,
    call_sid: &str,
    claimed: i64,
    mut answer: crate::answered::Answer,
    not_before: &Timestamp,
    cap: &StreamCap,
) -> Claim {
    if answer.business_id != claimed {
        return Claim::Refused(StreamRefusal::OtherBusiness);
    }
    if !state.answered.start_stream(call_sid) {
        return Claim::Refused(StreamRefusal::AlreadyStreaming);
    }
    let deadline = tokio::time::Instant::now() + DB_BUDGET;
    let row = answer.row_settled(deadline).await;
    if row == RowState::Written {
        let attempt = calls::claim_stream(&state.db, call_sid, claimed, not_before, cap);
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(Ok(()))) => return Claim::Granted,
            Ok(Ok(Err(refusal))) if refusal != StreamRefusal::Unknown => {
                return Claim::Refused(refusal);
            }
            _ => {}
        }
    }
    state.metrics.calls_unconfirmed.inc();
    tracing::warn!(
        call_row = ?row,
        "the database did not confirm the stream's claim in time; streaming on this instance's own answer"
    );
    Claim::Granted
}

/// The claim of a call another instance answered: its row may land a moment
/// after its answer, so the database is asked again briefly before the call
/// is called unknown.
async fn claim_elsewhere(
    state: &AppState,
    call_sid: &str,
    claimed: i64,
    not_before: &Timestamp,
    cap: &StreamCap,
) -> Claim {
    let mut lookups = 0;
    loop {
        lookups += 1;
        let attempt = calls::claim_stream(&state.db, call_sid, claimed, not_before, cap);
        match tokio::time::timeout(DB_BUDGET, attempt).await {
            Ok(Ok(Err(StreamRefusal::Unknown))) if lookups < UNKNOWN_CALL_LOOKUPS => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Ok(Ok(Ok(()))) => return Claim::Granted,
            Ok(Ok(Err(refusal))) => return Claim::Refused(refusal),
            Ok(Err(e)) => return Claim::DbError(e),
            Err(_) => return Claim::DbSlow,
        }
    }
}

/// Stores and counts what the call reports. Runs beside the call: a slow or
/// failing database delays rows, never the caller.
async fn record_events(
    state: AppState,
    call_sid: String,
    business_id: i64,
    mut events: mpsc::Receiver<CallEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            CallEvent::Turn(t) => {
                let parts = [
                    ("audio", t.t_audio_ms),
                    ("stt", t.t_stt_ms),
                    ("nlp", t.t_nlp_ms),
                    ("tts", t.t_tts_ms),
                ];
                state.metrics.observe_turn(&parts, t.t_total_ms);
                state
                    .metrics
                    .observe_guesses(t.guesses, t.wasted_calls, t.speculative);
                state.metrics.observe_turn_end(t.ended_by, t.snr_db);
                if let Some(code) = &t.error_code {
                    state.metrics.provider_error(code);
                }
                let row = CallTurn {
                    call_sid: call_sid.clone(),
                    business_id,
                    turn_id: i64::from(t.turn_id),
                    started_at: Timestamp::from(t.started_at).into(),
                    mode: CallMode::Stream.as_str().to_string(),
                    t_audio_ms: Some(t.t_audio_ms as i64),
                    t_stt_ms: Some(t.t_stt_ms as i64),
                    t_nlp_ms: Some(t.t_nlp_ms as i64),
                    t_tts_ms: Some(t.t_tts_ms as i64),
                    t_total_ms: Some(t.t_total_ms as i64),
                    endpointing_ms: Some(t.endpointing_ms as i64),
                    ended_by: Some(t.ended_by.as_str().to_string()),
                    snr_db: t.snr_db.map(i64::from),
                    barge_in: t.barge_in,
                    user_text: t.user_text,
                    agent_text: t.agent_text,
                    error_code: t.error_code,
                    tools: t
                        .tools
                        .into_iter()
                        .map(|r| ToolRun {
                            name: r.name,
                            arguments: r.arguments,
                            result: r.result,
                            duration_ms: i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                        })
                        .collect(),
                    guesses: Some(i64::from(t.guesses)),
                    wasted_calls: Some(i64::from(t.wasted_calls)),
                    speculative: t.speculative,
                };
                store_turn(&state, row).await;
            }
            // Nothing stores keys yet. The engine logs how many were
            // pressed; the digits themselves (card and ID numbers) are
            // never logged.
            CallEvent::Dtmf { digit: _ } => {}
            CallEvent::Failover { reason } => {
                // Counted once, by stream_ended, when Twilio follows the
                // <Connect action>; here the reason is kept on the call.
                let write = Write::Mode {
                    call_sid: call_sid.clone(),
                    mode: CallMode::Record,
                    reason: Some(reason),
                };
                land_behind(&state, write).await;
            }
        }
    }
}

/// Writes a turn row; one the database cannot take within [`DB_BUDGET`]
/// waits in the spool and lands when it answers.
async fn store_turn(state: &AppState, row: CallTurn) {
    land_behind(state, Write::Turn(Box::new(row))).await;
}

/// Lands a write of the call in the database within [`DB_BUDGET`], else in
/// the spool (`crate::spool`). It runs beside the call, so the caller never
/// waits for it.
async fn land_behind(state: &AppState, write: Write) {
    let what = write.what();
    let deadline = tokio::time::Instant::now() + DB_BUDGET;
    match state.spool.land(&state.db, deadline, write).await {
        Landing::Written(_) => {}
        Landing::Spooled(detour) => {
            tracing::warn!(write = what, database = ?detour, "the database could not take a write of the call in time; spooled")
        }
        Landing::Refused(e) => {
            tracing::error!(write = what, error = %e, "the database refused a write of the call")
        }
        Landing::Lost(detour, e) => tracing::error!(
            write = what,
            error = %e,
            database = ?detour,
            "a write of the call is lost: neither the database nor the spool took it"
        ),
    }
}
