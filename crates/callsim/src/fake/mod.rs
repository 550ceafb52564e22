//! Fake outside providers in one axum router: OpenAI-compatible
//! transcription and streamed chat, Google Text-to-Speech and Google's OAuth
//! token endpoint, and Twilio's Messages API (`messages`), each answering after a configured latency with plausible
//! Hebrew, so a whole call runs offline and load tests have fixed,
//! known provider delays to subtract.
//!
//! The shapes follow PROTOCOLS.md, not any client's leniency: SSE `data:`
//! chunks ending in `[DONE]`, a `{"text"}` transcription, a synthesis whose
//! `audioContent` starts with a WAV header. What is not faked: errors and
//! rate limits (tests of those use wiremock beside the client).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep, sleep_until};

mod audio;
mod credentials;
mod messages;
mod outcome;
mod tools;

pub use credentials::write_google_credentials;

/// What a caller says, in turn: the fake transcription cycles through them.
const TRANSCRIPTS: &[&str] = &[
    "שלום, אני רוצה לקבוע תור למחר בבוקר",
    "קוראים לי דני כהן, ואני צריך תור לתיקון",
    "מה שעות הפתיחה שלכם ביום שישי?",
    "אפשר לדבר עם מישהו לגבי ההזמנה שלי?",
];

/// A receptionist's answers, chosen by how many times the caller has spoken
/// in the conversation, so a multi-turn call reads like one.
const ANSWERS: &[&str] = &[
    "שלום, בשמחה אעזור לך לקבוע תור. מה השם המלא שלך? ובאיזו שעה נוח לך מחר בבוקר?",
    "תודה, רשמתי את הפרטים שלך. נציג יחזור אליך עוד היום כדי לאשר את התור.",
    "אנחנו פתוחים בימים ראשון עד חמישי בין תשע בבוקר לשש בערב. ביום שישי אנחנו פתוחים עד אחת בצהריים. האם תרצה שאקבע לך תור?",
    "כמובן. אעביר את הבקשה שלך לצוות, והם יחזרו אליך בהקדם. יש עוד משהו שאוכל לעזור בו?",
];

/// How long a fake provider takes, for benchmarks to subtract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FakeLatencies {
    /// Request → transcription answer.
    pub stt_ms: u64,
    /// Request → first streamed chat token.
    pub llm_ttft_ms: u64,
    /// Chat tokens (a word and its space) per second after the first.
    pub llm_tokens_per_s: f64,
    /// Request → synthesis answer.
    pub tts_ms: u64,
    /// Of every this many transcription requests, the first stalls (0:
    /// none): a provider's stuck requests, for a benchmark of a call's
    /// hedge. The first, so that a lone call's first request stalls and
    /// its second does not.
    pub stt_stall_every: u64,
    /// The same for live chat requests (not a call's outcome): the first
    /// token of the first of every this many comes after
    /// [`FakeLatencies::stall_ms`], its headers at once.
    pub llm_stall_every: u64,
    /// The same for syntheses.
    pub tts_stall_every: u64,
    /// How long a stalled request takes (to its first token, for chat).
    pub stall_ms: u64,
}

impl Default for FakeLatencies {
    /// The load benchmark's figures: STT 300 ms, LLM first token 300 ms then
    /// 30 tokens/s, TTS 150 ms.
    fn default() -> Self {
        Self {
            stt_ms: 300,
            llm_ttft_ms: 300,
            llm_tokens_per_s: 30.0,
            tts_ms: 150,
            stt_stall_every: 0,
            llm_stall_every: 0,
            tts_stall_every: 0,
            stall_ms: 0,
        }
    }
}

impl FakeLatencies {
    /// No waiting at all, for tests that only check shapes.
    #[must_use]
    pub fn instant() -> Self {
        Self {
            stt_ms: 0,
            llm_ttft_ms: 0,
            llm_tokens_per_s: f64::INFINITY,
            tts_ms: 0,
            stt_stall_every: 0,
            llm_stall_every: 0,
            tts_stall_every: 0,
            stall_ms: 0,
        }
    }

    fn token_interval(&self) -> Duration {
        if self.llm_tokens_per_s.is_finite() && self.llm_tokens_per_s > 0.0 {
            Duration::from_secs_f64(1.0 / self.llm_tokens_per_s)
        } else {
            Duration::ZERO
        }
    }
}

struct Fake {
    lat: FakeLatencies,
    transcriptions: AtomicUsize,
    /// Requests received by stage (transcription, live chat, synthesis),
    /// for [`FakeLatencies::stt_stall_every`] and its kin.
    requests: [AtomicU64; 3],
    /// The utterances heard in the last [`SAME_UTTERANCE_WITHIN`]: when,
    /// how each began, how long it was, and the line of the caller's it
    /// said.
    heard: std::sync::Mutex<std::collections::VecDeque<Heard>>,
    script: Script,
}

/// What the caller and the model say when not their usual lines.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The caller's sentences, in turn, instead of [`TRANSCRIPTS`] (empty:
    /// those), so that a test reaches the words it is about in fewer turns.
    pub caller: Vec<String>,
    /// Said to every turn instead of [`ANSWERS`], so that a benchmark can
    /// give a peer's fake model and this one the same words to stream.
    pub answer: Option<String>,
}

/// The fake providers' routes: `/v1/audio/transcriptions`,
/// `/v1/chat/completions`, `/v1/text:synthesize`, `/v1/voices`, `/token`,
/// `/2010-04-01/Accounts/{AccountSid}/Messages.json` and `/fake/messages`
/// (the messages accepted so far).
///
/// One router serves all three APIs, so `OPENAI_BASE_URL=http://HOST/v1`,
/// `GOOGLE_TTS_BASE_URL=http://HOST` and `TWILIO_API_BASE_URL=http://HOST`
/// point at the same listener.
pub fn router(lat: FakeLatencies) -> Router {
    router_scripted(lat, Script::default())
}

/// [`router`] whose caller and model follow `script`.
fn router_scripted(lat: FakeLatencies, script: Script) -> Router {
    let state = Arc::new(Fake {
        lat,
        transcriptions: AtomicUsize::new(0),
        requests: Default::default(),
        heard: std::sync::Mutex::default(),
        script,
    });
    Router::new()
        .route("/v1/audio/transcriptions", post(transcribe))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/text:synthesize", post(synthesize))
        .route("/v1/voices", get(voices))
        .route("/token", post(token))
        // Whisper's own upload limit; a 30 s utterance is far below it.
        .layer(DefaultBodyLimit::max(25 * 1024 * 1024))
        .with_state(state)
        .merge(messages::router())
}

/// Serves [`router`] on `listener` until the task is dropped.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(listener: tokio::net::TcpListener, lat: FakeLatencies) -> io::Result<()> {
    serve_scripted(listener, lat, Script::default()).await
}

/// [`serve`], with the caller and the model following `script`.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve_scripted(
    listener: tokio::net::TcpListener,
    lat: FakeLatencies,
    script: Script,
) -> io::Result<()> {
    axum::serve(listener, router_scripted(lat, script)).await
}

fn openai_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {
        "message": message,
        "type": "invalid_request_error",
        "param": null,
        "code": null,
    }});
    (status, axum::Json(body)).into_response()
}

fn google_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {
        "code": status.as_u16(),
        "message": message,
        "status": if status == StatusCode::UNAUTHORIZED { "UNAUTHENTICATED" } else { "INVALID_ARGUMENT" },
    }});
    (status, axum::Json(body)).into_response()
}

/// `POST /v1/audio/transcriptions`: checks that a multipart `file` part was
/// sent (the audio itself is not listened to) and answers the next caller
/// sentence.
async fn transcribe(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        return openai_error(StatusCode::BAD_REQUEST, "expected multipart/form-data");
    }
    if !contains(&body, b"name=\"file\"") {
        return openai_error(StatusCode::BAD_REQUEST, "missing the 'file' part");
    }
    let delay = fake.delay_ms(STT, fake.lat.stt_stall_every, fake.lat.stt_ms);
    sleep(Duration::from_millis(delay)).await;
    let n = fake.line_for(utterance_start(&body), body.len());
    let said = match fake.script.caller.as_slice() {
        [] => TRANSCRIPTS[n % TRANSCRIPTS.len()],
        lines => &lines[n % lines.len()],
    };
    axum::Json(json!({"text": said})).into_response()
}

/// How long an utterance is remembered: its guesses, their checks and the
/// whole turn are all sent within a few seconds of each other.
const SAME_UTTERANCE_WITHIN: Duration = Duration::from_secs(5);

/// The audio that names an utterance: its first 200 ms at 8 kHz mu-law.
const START_BYTES: usize = 1_600;

/// Indices of [`Fake::delay_ms`]'s request counts, one per stage.
const STT: usize = 0;
const CHAT: usize = 1;
const TTS: usize = 2;

/// An utterance heard: when, how it began, its request's length, and the
/// line it said.
type Heard = (Instant, u64, usize, usize);

impl Fake {
    /// How long this request of `stage` ([`STT`], [`CHAT`], [`TTS`]) takes:
    /// `usual`, but the first of every `every` stalls.
    fn delay_ms(&self, stage: usize, every: u64, usual: u64) -> u64 {
        let k = self.requests[stage].fetch_add(1, Ordering::Relaxed);
        if every > 0 && k.is_multiple_of(every) {
            self.lat.stall_ms
        } else {
            usual
        }
    }

    /// The caller's line for a request of `len` bytes whose
    /// audio begins as `start` names it. More of an utterance heard before
    /// (a guess, then its check, then the whole turn: each begins where
    /// the one before did, and runs longer) says what it said, as a real
    /// model says the same words for the same speech; anything else says
    /// the next line. Concurrent calls playing the same recording send
    /// the same audio of the same length, and still say line after line.
    fn line_for(&self, start: Option<u64>, len: usize) -> usize {
        let now = Instant::now();
        let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        while heard
            .front()
            .is_some_and(|&(at, ..)| now.duration_since(at) > SAME_UTTERANCE_WITHIN)
        {
            heard.pop_front();
        }
        let Some(key) = start else {
            return self.transcriptions.fetch_add(1, Ordering::Relaxed);
        };
        let before = heard
            .iter()
            .position(|&(_, k, shorter, _)| k == key && shorter < len);
        let n = match before.and_then(|i| heard.remove(i)) {
            Some((.., n)) => n,
            None => self.transcriptions.fetch_add(1, Ordering::Relaxed),
        };
        heard.push_back((now, key, len, n));
        n
    }
}

/// A hash of the first [`START_BYTES`] of the WAV file's samples in a
/// transcription request; `None` without a `data` chunk.
fn utterance_start(body: &[u8]) -> Option<u64> {
    use std::hash::{Hash as _, Hasher as _};
    // After the file's RIFF header: the part's own headers say form-data.
    let riff = body.windows(4).position(|w| w == b"RIFF")?;
    let wav = &body[riff..];
    let at = wav.windows(4).position(|w| w == b"data")? + 8;
    let samples = wav.get(at..)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    samples[..samples.len().min(START_BYTES)].hash(&mut hasher);
    Some(hasher.finish())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    stream: bool,
}

/// `POST /v1/chat/completions`: a receptionist's answer, streamed as SSE
/// tokens at the configured pace, or whole after the same total time; a
/// `json_schema` request gets a call outcome instead (see `outcome`), and a
/// request with `tools` may get a tool call (see `tools`).
async fn chat(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    if let Some(answer) = outcome::answer(fake.lat, &body).await {
        return answer;
    }
    let lat = FakeLatencies {
        llm_ttft_ms: fake.delay_ms(CHAT, fake.lat.llm_stall_every, fake.lat.llm_ttft_ms),
        ..fake.lat
    };
    if let Some(answer) = tools::answer(lat, &body).await {
        return answer;
    }
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return openai_error(StatusCode::BAD_REQUEST, &format!("bad JSON: {err}")),
    };
    let user_turns = request
        .messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .count();
    let answer = fake
        .script
        .answer
        .as_deref()
        .unwrap_or(ANSWERS[user_turns.saturating_sub(1) % ANSWERS.len()]);
    let tokens = tokens(answer);
    let start = Instant::now();
    let first = start + Duration::from_millis(lat.llm_ttft_ms);
    let interval = lat.token_interval();

    if !request.stream {
        let done = first + interval.saturating_mul(u32::try_from(tokens.len()).unwrap_or(0));
        sleep_until(done).await;
        let body = json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }],
        });
        return axum::Json(body).into_response();
    }

    let model = request.model;
    let events = futures::stream::unfold(0_usize, move |i| {
        let tokens = tokens.clone();
        let model = model.clone();
        async move {
            // Each token has a fixed due time from the request, so a slow
            // reader does not stretch the schedule.
            let due = first + interval.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            let event = match i.cmp(&tokens.len()) {
                std::cmp::Ordering::Less => {
                    sleep_until(due).await;
                    let mut delta = json!({"content": tokens[i]});
                    if i == 0 {
                        delta["role"] = json!("assistant");
                    }
                    sse_chunk(&model, &delta, Value::Null)
                }
                std::cmp::Ordering::Equal => {
                    sse_chunk(&model, &json!({}), json!("stop")) + "data: [DONE]\n\n"
                }
                std::cmp::Ordering::Greater => return None,
            };
            Some((Ok::<_, Infallible>(Bytes::from(event)), i + 1))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The answer cut into tokens: each word with the space after it.
fn tokens(answer: &str) -> Arc<Vec<String>> {
    let words: Vec<&str> = answer.split(' ').collect();
    let last = words.len().saturating_sub(1);
    Arc::new(
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == last {
                    (*w).to_owned()
                } else {
                    format!("{w} ")
                }
            })
            .collect(),
    )
}

fn sse_chunk(model: &str, delta: &Value, finish_reason: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}

#[derive(Deserialize)]
struct SynthesizeRequest {
    input: SynthesisInput,
    #[serde(default, rename = "audioConfig")]
    audio_config: Option<AudioConfig>,
}

#[derive(Deserialize)]
struct SynthesisInput {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ssml: Option<String>,
}

#[derive(Deserialize)]
struct AudioConfig {
    #[serde(default, rename = "audioEncoding")]
    audio_encoding: Option<String>,
    #[serde(default, rename = "sampleRateHertz")]
    sample_rate_hertz: Option<u32>,
}

/// `POST /v1/text:synthesize`: a WAV (mu-law, 8 kHz) of a soft voiced tone
/// about 60 ms per character, so the reply's length follows the text and a
/// VAD hears it as speech.
async fn synthesize(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| !token.trim().is_empty());
    if !bearer {
        return google_error(StatusCode::UNAUTHORIZED, "missing Bearer token");
    }
    let request: SynthesizeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return google_error(StatusCode::BAD_REQUEST, &format!("bad JSON: {err}")),
    };
    if let Some(config) = &request.audio_config {
        let mulaw = config
            .audio_encoding
            .as_deref()
            .is_none_or(|e| e == "MULAW");
        let rate_ok = config.sample_rate_hertz.is_none_or(|r| r == 8_000);
        if !mulaw || !rate_ok {
            return google_error(
                StatusCode::BAD_REQUEST,
                "this fake only synthesises MULAW at 8000 Hz",
            );
        }
    }
    let text = request
        .input
        .text
        .or(request.input.ssml)
        .unwrap_or_default();
    let chars = text.trim().chars().count();
    if chars == 0 {
        return google_error(StatusCode::BAD_REQUEST, "input text is empty");
    }
    let delay = fake.delay_ms(TTS, fake.lat.tts_stall_every, fake.lat.tts_ms);
    sleep(Duration::from_millis(delay)).await;
    let wav = voice::wav::write_mulaw_8k(&audio::speechlike(chars as u64 * 60));
    axum::Json(json!({"audioContent": STANDARD.encode(wav)})).into_response()
}

/// `GET /v1/voices`: the Hebrew voices Google lists.
async fn voices() -> impl IntoResponse {
    let voices: Vec<Value> = ["Standard", "Wavenet"]
        .iter()
        .flat_map(|kind| {
            ["A", "B", "C", "D"].map(|v| {
                json!({
                    "languageCodes": ["he-IL"],
                    "name": format!("he-IL-{kind}-{v}"),
                    "ssmlGender": if v == "A" || v == "C" { "FEMALE" } else { "MALE" },
                    "naturalSampleRateHertz": 24000,
                })
            })
        })
        .collect();
    axum::Json(json!({"voices": voices}))
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    assertion: String,
}

/// `POST /token`: Google's OAuth token endpoint for a service-account JWT.
/// The signature is not checked (the fake has no public key to check it
/// with), only that a three-part JWT came with the right grant type.
async fn token(Form(request): Form<TokenRequest>) -> Response {
    if request.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        let body = json!({"error": "unsupported_grant_type"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    if request.assertion.split('.').count() != 3 {
        let body = json!({"error": "invalid_grant", "error_description": "not a JWT"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    axum::Json(json!({
        "access_token": "fake-token",
        "expires_in": 3600,
        "token_type": "Bearer",
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_words_with_their_spaces_and_rejoin_to_the_answer() {
        let tokens = tokens("שלום לך, מה שלומך?");
        assert_eq!(tokens.as_slice(), ["שלום ", "לך, ", "מה ", "שלומך?"]);
        assert_eq!(tokens.concat(), "שלום לך, מה שלומך?");
    }

    #[test]
    fn instant_latencies_send_tokens_without_pause() {
        assert_eq!(FakeLatencies::instant().token_interval(), Duration::ZERO);
        let thirty = FakeLatencies::default().token_interval();
        assert!((thirty.as_secs_f64() - 1.0 / 30.0).abs() < 1e-9);
    }
}
