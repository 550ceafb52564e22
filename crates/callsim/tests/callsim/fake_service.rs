//! A tiny stand-in for the AgentLocator service, just enough to be called
//! by the simulator: it checks every Twilio signature, answers TwiML, greets
//! on the Media Streams socket, answers each caller utterance after a fixed
//! delay, transfers or hangs up when told to, and writes down everything it
//! saw so tests can assert on it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tokio::time::{Instant, sleep_until};
use twilio::media::{Inbound, Outbound, Start, media_frame, parse_inbound};
use url::Url;

pub const AUTH_TOKEN: &str = "test-auth-token";
pub const PUBLIC_BASE: &str = "https://agent.example.com";
pub const STREAM_URL: &str = "wss://agent.example.com/ws/twilio-media";

/// How long the server "thinks" after the caller's turn ends.
pub const REPLY_DELAY: Duration = Duration::from_millis(250);
/// Silence frames after speech before the server takes the turn as over.
pub const ENDPOINT_FRAMES: u32 = 10;
pub const GREETING_MS: u64 = 300;
pub const REPLY_MS: u64 = 400;
/// The pause inside a [`Behaviour::PauseMidReply`] reply, between its two
/// 300 ms halves.
pub const PAUSE_MS: u64 = 900;
/// The whisper's audio, played to the human before the transfer connects.
pub const WHISPER_MS: u64 = 1_200;
/// The number the agent transfers to.
pub const HUMAN: &str = "+972541234567";
/// The business number the human sees calling.
pub const BUSINESS: &str = "+97235550000";
const WHISPER_TOKEN: &str = "wh1sper-t0ken";

/// How the fake service behaves on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Greet, answer every utterance, all audio sent at once ahead of time.
    Answer,
    /// Answer with a long reply, then `clear` it 300 ms in (barge-in).
    ClearMidReply,
    /// Close the socket once the greeting has played (failover).
    CloseAfterGreeting,
    /// Answer with a reply whose second half arrives 100 ms after the first
    /// half has played out.
    StallMidReply,
    /// `incoming_call` answers `<Record>`: streaming is off.
    RecordOnly,
    /// Close the socket after the greeting and answer `stream_ended` with a
    /// `<Dial>` to [`HUMAN`] whose whisper is played.
    TransferAfterGreeting,
    /// Close the socket after the greeting and answer `stream_ended` with
    /// `<Hangup/>`: the agent ended the call.
    HangupAfterGreeting,
    /// Answer with 300 ms of audio, a [`PAUSE_MS`] pause, then 300 ms more,
    /// each paced in real time (a tool's filler, then the answer).
    PauseMidReply,
}

impl Behaviour {
    fn closes_after_greeting(self) -> bool {
        matches!(
            self,
            Self::CloseAfterGreeting | Self::TransferAfterGreeting | Self::HangupAfterGreeting
        )
    }
}

/// What the service saw, across every call made to it.
#[derive(Debug, Default)]
pub struct Observed {
    pub incoming: Vec<HashMap<String, String>>,
    pub incoming_signature_ok: Vec<bool>,
    pub handshake_signature_ok: Vec<bool>,
    pub starts: Vec<Start>,
    pub media_frames: u64,
    /// When each caller utterance started (first loud frame after quiet).
    pub speech_starts: Vec<Instant>,
    /// `(chunk, timestamp)` of every inbound media frame of the last call.
    pub chunks: Vec<(u64, u64)>,
    /// Mark name → when it was sent and how much audio was queued ahead.
    pub marks_sent: HashMap<String, (Instant, Duration)>,
    /// Mark name → when its echo came back.
    pub marks_echoed: HashMap<String, Instant>,
    pub clear_sent: Option<Instant>,
    pub stops: u32,
    pub stream_ended: Vec<HashMap<String, String>>,
    pub stream_ended_signature_ok: Vec<bool>,
    pub call_status: Vec<HashMap<String, String>>,
    pub call_status_signature_ok: Vec<bool>,
    pub transfer_whisper: Vec<HashMap<String, String>>,
    pub transfer_whisper_signature_ok: Vec<bool>,
    /// Tokens the whisper audio was fetched with.
    pub whisper_fetches: Vec<String>,
    pub transfer_ended: Vec<HashMap<String, String>>,
    pub transfer_ended_signature_ok: Vec<bool>,
    pub handle_recording: Vec<HashMap<String, String>>,
    pub handle_recording_signature_ok: Vec<bool>,
}

pub struct FakeService {
    pub base_url: Url,
    pub observed: Arc<Mutex<Observed>>,
}

impl FakeService {
    pub async fn spawn(behaviour: Behaviour) -> Self {
        let observed = Arc::new(Mutex::new(Observed::default()));
        let state = Shared {
            behaviour,
            observed: Arc::clone(&observed),
        };
        let app = Router::new()
            .route("/webhook/incoming_call", post(incoming_call))
            .route("/webhook/stream_ended", post(stream_ended))
            .route("/webhook/call_status", post(call_status))
            .route("/webhook/transfer_whisper", post(transfer_whisper))
            .route("/audio/whisper/{token}", get(whisper_audio))
            .route("/webhook/transfer_ended", post(transfer_ended))
            .route("/webhook/handle_recording", post(handle_recording))
            .route("/ws/twilio-media", any(media_stream))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base_url: Url::parse(&format!("http://{addr}")).unwrap(),
            observed,
        }
    }

    pub fn observed(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.observed.lock().unwrap()
    }
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    observed: Arc<Mutex<Observed>>,
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn signature_ok(headers: &HeaderMap, url: &str, params: &[(String, String)]) -> bool {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    twilio::signature::validate(&[AUTH_TOKEN], url, params, signature)
}

async fn incoming_call(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let params = form(&body);
    let ok = signature_ok(
        &headers,
        &format!("{PUBLIC_BASE}/webhook/incoming_call"),
        &params,
    );
    {
        let mut seen = state.observed.lock().unwrap();
        seen.incoming_signature_ok.push(ok);
        seen.incoming.push(params.into_iter().collect());
    }
    if !ok {
        return StatusCode::FORBIDDEN.into_response();
    }
    let twiml = if state.behaviour == Behaviour::RecordOnly {
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="he-IL">השאירו הודעה</Say><Record action="/webhook/handle_recording" maxLength="120"/></Response>"#.to_owned()
    } else {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="/webhook/stream_ended"><Stream url="{STREAM_URL}"><Parameter name="business_id" value="7"/></Stream></Connect></Response>"#
        )
    };
    ([("content-type", "text/xml")], twiml).into_response()
}

async fn stream_ended(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let params = form(&body);
    let ok = signature_ok(
        &headers,
        &format!("{PUBLIC_BASE}/webhook/stream_ended"),
        &params,
    );
    let mut seen = state.observed.lock().unwrap();
    seen.stream_ended_signature_ok.push(ok);
    seen.stream_ended.push(params.into_iter().collect());
    let twiml = match state.behaviour {
        Behaviour::TransferAfterGreeting => format!(
            r#"<Response><Dial timeout="20" action="/webhook/transfer_ended" callerId="{BUSINESS}"><Number url="/webhook/transfer_whisper?token={WHISPER_TOKEN}">{HUMAN}</Number></Dial></Response>"#
        ),
        Behaviour::HangupAfterGreeting => "<Response><Hangup/></Response>".to_owned(),
        _ => r#"<Response><Say language="he-IL">נקליט את ההודעה</Say><Record action="/webhook/handle_recording"/></Response>"#.to_owned(),
    };
    ([("content-type", "text/xml")], twiml).into_response()
}

async fn transfer_whisper(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let query = query.unwrap_or_default();
    let ok = signature_ok(
        &headers,
        &format!("{PUBLIC_BASE}/webhook/transfer_whisper?{query}"),
        &params,
    );
    let mut seen = state.observed.lock().unwrap();
    seen.transfer_whisper_signature_ok.push(ok);
    seen.transfer_whisper.push(params.into_iter().collect());
    // An absolute URL on the public host, as the service writes it.
    (
        [("content-type", "text/xml")],
        format!("<Response><Play>{PUBLIC_BASE}/audio/whisper/{WHISPER_TOKEN}</Play></Response>"),
    )
        .into_response()
}

async fn whisper_audio(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    state.observed.lock().unwrap().whisper_fetches.push(token);
    (
        [("content-type", "audio/wav")],
        voice::wav::write_mulaw_8k(&tone(WHISPER_MS)),
    )
        .into_response()
}

async fn transfer_ended(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let params = form(&body);
    let ok = signature_ok(
        &headers,
        &format!("{PUBLIC_BASE}/webhook/transfer_ended"),
        &params,
    );
    let completed = params
        .iter()
        .any(|(k, v)| k == "DialCallStatus" && v == "completed");
    let mut seen = state.observed.lock().unwrap();
    seen.transfer_ended_signature_ok.push(ok);
    seen.transfer_ended.push(params.into_iter().collect());
    let twiml = if completed {
        "<Response><Hangup/></Response>"
    } else {
        r#"<Response><Say language="he-IL">אין מענה, השאירו הודעה</Say><Record action="/webhook/handle_recording" playBeep="true"/></Response>"#
    };
    ([("content-type", "text/xml")], twiml).into_response()
}

async fn handle_recording(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let ok = signature_ok(
        &headers,
        &format!("{PUBLIC_BASE}/webhook/handle_recording"),
        &params,
    );
    let mut seen = state.observed.lock().unwrap();
    seen.handle_recording_signature_ok.push(ok);
    seen.handle_recording.push(params.into_iter().collect());
    (
        [("content-type", "text/xml")],
        r#"<Response><Say language="he-IL">תודה</Say><Hangup/></Response>"#,
    )
        .into_response()
}

async fn call_status(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let params = form(&body);
    let ok = signature_ok(
        &headers,
        &format!("{PUBLIC_BASE}/webhook/call_status"),
        &params,
    );
    let mut seen = state.observed.lock().unwrap();
    seen.call_status_signature_ok.push(ok);
    seen.call_status.push(params.into_iter().collect());
    StatusCode::NO_CONTENT
}

async fn media_stream(
    State(state): State<Shared>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ok = signature_ok(&headers, STREAM_URL, &[]);
    state
        .observed
        .lock()
        .unwrap()
        .handshake_signature_ok
        .push(ok);
    if !ok {
        return StatusCode::FORBIDDEN.into_response();
    }
    upgrade.on_upgrade(move |socket| session(socket, state))
}

/// Something the server will send at a given instant.
enum Action {
    Audio(Vec<u8>),
    Mark(String),
    Clear,
    Close,
}

/// The stream's server side: a schedule of actions plus the inbound frames.
async fn session(mut socket: WebSocket, state: Shared) {
    let mut stream_sid = String::new();
    let mut schedule: Vec<(Instant, Action)> = Vec::new();
    let mut in_speech = false;
    let mut quiet_frames = 0;
    let mut turn = 0;
    // When the audio sent so far finishes playing on Twilio's side.
    let mut queued_until = Instant::now();
    {
        state.observed.lock().unwrap().chunks.clear();
    }
    loop {
        schedule.sort_by_key(|(at, _)| *at);
        let next = schedule.first().map(|(at, _)| *at);
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let Message::Text(text) = message else { continue };
                let Ok(frame) = parse_inbound(&text) else { continue };
                let now = Instant::now();
                match frame {
                    Inbound::Start { start, stream_sid: sid, .. } => {
                        stream_sid = sid;
                        state.observed.lock().unwrap().starts.push(start);
                        schedule.push((now, Action::Audio(tone(GREETING_MS))));
                        schedule.push((now, Action::Mark("greeting".into())));
                    }
                    Inbound::Media { media, .. } => {
                        {
                            let mut seen = state.observed.lock().unwrap();
                            seen.media_frames += 1;
                            seen.chunks.push((media.chunk, media.timestamp));
                        }
                        let mut audio = Vec::new();
                        media.decode_payload_into(&mut audio).unwrap();
                        if rms(&audio) >= 500.0 {
                            if !in_speech {
                                state.observed.lock().unwrap().speech_starts.push(now);
                            }
                            in_speech = true;
                            quiet_frames = 0;
                        } else if in_speech {
                            quiet_frames += 1;
                            if quiet_frames == ENDPOINT_FRAMES {
                                in_speech = false;
                                turn += 1;
                                schedule_reply(&mut schedule, state.behaviour, now + REPLY_DELAY, turn);
                            }
                        }
                    }
                    Inbound::Mark { mark, .. } => {
                        state.observed.lock().unwrap().marks_echoed.insert(mark.name.clone(), now);
                        if mark.name == "greeting" && state.behaviour.closes_after_greeting() {
                            schedule.push((now, Action::Close));
                        }
                    }
                    Inbound::Stop { .. } => state.observed.lock().unwrap().stops += 1,
                    Inbound::Connected { .. } | Inbound::Dtmf { .. } => {}
                }
            }
            () = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                let due: Vec<Action> = {
                    let split = schedule.partition_point(|(at, _)| *at <= now);
                    schedule.drain(..split).map(|(_, action)| action).collect()
                };
                for action in due {
                    let text = match action {
                        Action::Audio(audio) => {
                            queued_until = queued_until.max(now) + Duration::from_millis(audio.len() as u64 / 8);
                            media_frame(&stream_sid, &audio)
                        }
                        Action::Mark(name) => {
                            let ahead = queued_until.saturating_duration_since(now);
                            state.observed.lock().unwrap().marks_sent.insert(name.clone(), (now, ahead));
                            Outbound::Mark { stream_sid: &stream_sid, name: &name }.to_json()
                        }
                        Action::Clear => {
                            queued_until = now;
                            state.observed.lock().unwrap().clear_sent = Some(now);
                            Outbound::Clear { stream_sid: &stream_sid }.to_json()
                        }
                        Action::Close => {
                            let _ = socket.send(Message::Close(None)).await;
                            return;
                        }
                    };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn schedule_reply(
    schedule: &mut Vec<(Instant, Action)>,
    behaviour: Behaviour,
    at: Instant,
    turn: u32,
) {
    let mark = Action::Mark(format!("reply-{turn}"));
    match behaviour {
        Behaviour::ClearMidReply => {
            schedule.push((at, Action::Audio(tone(2_000))));
            schedule.push((at, mark));
            schedule.push((at + Duration::from_millis(300), Action::Clear));
        }
        Behaviour::StallMidReply => {
            // 200 ms, then the rest 300 ms later: a 100 ms underrun.
            schedule.push((at, Action::Audio(tone(200))));
            schedule.push((at + Duration::from_millis(300), Action::Audio(tone(200))));
            schedule.push((at + Duration::from_millis(300), mark));
        }
        Behaviour::PauseMidReply => {
            // Paced in real time, as the service sends: a 300 ms filler,
            // the pause, then a 300 ms answer.
            let second = at + Duration::from_millis(300 + PAUSE_MS);
            for start in [at, second] {
                for (i, piece) in tone(300).chunks(160).enumerate() {
                    let when = start + Duration::from_millis(20 * i as u64);
                    schedule.push((when, Action::Audio(piece.to_vec())));
                }
            }
            schedule.push((second + Duration::from_millis(300), mark));
        }
        _ => {
            // Sent in 20 ms pieces, all at once: Twilio queues them.
            for piece in tone(REPLY_MS).chunks(160) {
                schedule.push((at, Action::Audio(piece.to_vec())));
            }
            schedule.push((at, mark));
        }
    }
}

/// A loud 440 Hz tone, mu-law.
pub fn tone(ms: u64) -> Vec<u8> {
    (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8_000.0;
            voice::mulaw::encode((6_000.0 * (std::f64::consts::TAU * 440.0 * t).sin()) as i16)
        })
        .collect()
}

pub fn rms(mulaw: &[u8]) -> f64 {
    if mulaw.is_empty() {
        return 0.0;
    }
    let sum: f64 = mulaw
        .iter()
        .map(|&b| f64::from(voice::mulaw::decode(b)).powi(2))
        .sum();
    (sum / mulaw.len() as f64).sqrt()
}
