//! Local stand-ins for the outside services the transcription job and the
//! recording reconciler call: Twilio's recording download and a call's
//! Recordings list, an OpenAI-compatible `/v1/audio/transcriptions`, and a
//! `/v1/chat/completions` that answers the outcome job with a fixed outcome,
//! and Twilio's Messages API for the owner notifications.
//! They speak the real wire formats, so the service's real clients are what
//! is tested.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// What the fakes answer, and what they saw.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub transcript: String,
    /// Status of the transcription answer (200 = the transcript).
    pub stt_status: u16,
    pub stt_calls: usize,
    pub downloads: usize,
    /// The recording holds only silence (the caller said nothing).
    pub silent_recording: bool,
    /// How long the transcription answer takes.
    pub stt_delay_ms: u64,
    /// What a call's Recordings list holds: (`RE…`, status) pairs.
    pub call_recordings: Vec<(String, String)>,
    /// How often a call's Recordings list was asked for.
    pub recording_lists: usize,
    /// How many chat completions (outcome requests) were asked for.
    pub llm_calls: usize,
    /// The chat answer is not the outcome schema (the model misbehaves).
    pub llm_off_schema: bool,
    /// The intents the last outcome request's schema allowed.
    pub llm_intents: Vec<String>,
    /// Every form posted to the Messages API, in order (accepted or not).
    pub messages: Vec<HashMap<String, String>>,
    /// The next this many Messages requests are answered 500.
    pub messages_failing: u32,
    /// The next this many messages are accepted but answered 502, as a
    /// proxy in front of Twilio would after its upstream took them.
    pub messages_answer_lost: u32,
    /// The messages Twilio holds (accepted), newest last, as it lists them.
    pub accepted: Vec<serde_json::Value>,
}

#[derive(Clone)]
pub struct Fakes {
    pub base: String,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

impl Fakes {
    pub async fn start(transcript: &str) -> Self {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            transcript: transcript.to_string(),
            stt_status: 200,
            stt_calls: 0,
            downloads: 0,
            silent_recording: false,
            stt_delay_ms: 0,
            call_recordings: Vec::new(),
            recording_lists: 0,
            llm_calls: 0,
            llm_off_schema: false,
            llm_intents: Vec::new(),
            messages: Vec::new(),
            messages_failing: 0,
            messages_answer_lost: 0,
            accepted: Vec::new(),
        }));
        let router = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                get(recording),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json",
                get(call_recordings),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(send_message).get(list_messages),
            )
            .route("/v1/audio/transcriptions", post(transcription))
            .route("/v1/chat/completions", post(chat))
            .with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { base, behaviour }
    }

    /// A `RecordingUrl` as Twilio sends it (no extension).
    pub fn recording_url(&self, recording_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}",
            self.base
        )
    }

    /// Configuration that points the service's clients at the fakes.
    pub fn vars(&self) -> HashMap<String, String> {
        HashMap::from([
            ("OPENAI_API_KEY".into(), "sk-test".into()),
            ("OPENAI_BASE_URL".into(), format!("{}/v1", self.base)),
            ("TWILIO_ACCOUNT_SID".into(), ACCOUNT_SID.into()),
            ("TWILIO_API_BASE_URL".into(), self.base.clone()),
        ])
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn seen(&self) -> Behaviour {
        self.behaviour.lock().unwrap().clone()
    }
}

async fn recording(
    State(b): State<Arc<Mutex<Behaviour>>>,
    axum::extract::Path((_account, file)): axum::extract::Path<(String, String)>,
) -> (StatusCode, Vec<u8>) {
    let silent = {
        let mut b = b.lock().unwrap();
        b.downloads += 1;
        b.silent_recording
    };
    if !file.ends_with(".wav") {
        return (StatusCode::NOT_FOUND, Vec::new());
    }
    if silent {
        return (
            StatusCode::OK,
            voice::wav::write_mulaw_8k(&[0xff; 8000 * 3]),
        );
    }
    // Real Hebrew speech: the job checks there is speech before transcribing.
    let wav = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/voice/tests/fixtures/shalom.wav"
    ))
    .unwrap();
    (StatusCode::OK, wav)
}

/// Twilio's list of a call's recordings (the fields the service reads).
async fn call_recordings(
    State(b): State<Arc<Mutex<Behaviour>>>,
    axum::extract::Path((_account, _call)): axum::extract::Path<(String, String)>,
) -> String {
    let mut b = b.lock().unwrap();
    b.recording_lists += 1;
    let recordings: Vec<_> = b
        .call_recordings
        .iter()
        .map(|(sid, status)| serde_json::json!({"sid": sid, "status": status, "duration": "7"}))
        .collect();
    serde_json::json!({ "recordings": recordings }).to_string()
}

async fn transcription(
    State(b): State<Arc<Mutex<Behaviour>>>,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let delay = b.lock().unwrap().stt_delay_ms;
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    let mut b = b.lock().unwrap();
    b.stt_calls += 1;
    assert!(
        body.windows(b"name=\"language\"".len())
            .any(|w| w == b"name=\"language\""),
        "the language was not sent"
    );
    if b.stt_status != 200 {
        let status = StatusCode::from_u16(b.stt_status).unwrap();
        return (
            status,
            r#"{"error":{"message":"fake failure","type":"server_error"}}"#.into(),
        );
    }
    (
        StatusCode::OK,
        serde_json::json!({ "text": b.transcript }).to_string(),
    )
}

/// The outcome every chat request gets: a caller who gave a name and asked
/// for a callback, so the job has something to store on the customer.
pub const OUTCOME_SUMMARY: &str = "דני ביקש שיחזרו אליו לקביעת תור מחר בבוקר.";
pub const OUTCOME_CALLER: &str = "דני";

async fn chat(
    State(b): State<Arc<Mutex<Behaviour>>>,
    axum::Json(request): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    let intents = request
        .pointer("/response_format/json_schema/schema/properties/intent/enum")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    let off_schema = {
        let mut b = b.lock().unwrap();
        b.llm_calls += 1;
        b.llm_intents = intents;
        b.llm_off_schema
    };
    let content = if off_schema {
        "סליחה, אני לא יכול לעזור בזה.".to_string()
    } else {
        serde_json::json!({
            "summary": OUTCOME_SUMMARY,
            "caller_name": OUTCOME_CALLER,
            "intent": "other",
            "urgency": "normal",
            "callback_requested": true,
            "preferred_time": "מחר בבוקר",
            "follow_up": true,
        })
        .to_string()
    };
    axum::Json(serde_json::json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    }))
}

/// Twilio's Messages API: records the form, answers 201 with a new `SM…`
/// SID, or 500 while asked to fail.
async fn send_message(
    State(b): State<Arc<Mutex<Behaviour>>>,
    axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>,
) -> (StatusCode, String) {
    let mut b = b.lock().unwrap();
    b.messages.push(form.clone());
    if b.messages_failing > 0 {
        b.messages_failing -= 1;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"code":20500,"message":"Internal Server Error","status":500}"#.into(),
        );
    }
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    b.accepted.push(serde_json::json!({
        "sid": sid,
        "status": "queued",
        "to": field("To"),
        "body": field("Body"),
    }));
    if b.messages_answer_lost > 0 {
        b.messages_answer_lost -= 1;
        return (
            StatusCode::BAD_GATEWAY,
            "<html>502 Bad Gateway</html>".into(),
        );
    }
    (
        StatusCode::CREATED,
        serde_json::json!({ "sid": sid, "status": "queued" }).to_string(),
    )
}

/// Twilio's message list, newest first, filtered by `To`.
async fn list_messages(
    State(b): State<Arc<Mutex<Behaviour>>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let b = b.lock().unwrap();
    let to = query.get("To").cloned().unwrap_or_default();
    let messages: Vec<_> = b
        .accepted
        .iter()
        .rev()
        .filter(|m| to.is_empty() || m["to"] == to.as_str())
        .cloned()
        .collect();
    axum::Json(serde_json::json!({ "messages": messages, "next_page_uri": null }))
}
