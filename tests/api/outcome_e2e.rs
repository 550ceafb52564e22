//! Issue 13 end to end over real sockets: a simulated caller, this server, and the `callsim` fakes (STT, LLM, TTS, Twilio Messages), from the caller's words to the owner's SMS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentlocator::db::{business, calls, jobs as queue};
use agentlocator::domain::PhoneNumber;
use agentlocator::domain::settings::{AdminChange, BusinessName};
use agentlocator::jobs::outcome;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::routing::get;
use callsim::{FakeLatencies, SimMode, SimOptions, simulate_call};
use serde_json::{Value, json};

use crate::calls::caller_audio;
use crate::helpers::TestApp;
use crate::webhooks::{BUSINESS_PHONE, PUBLIC, TOKEN, drain_all, in_progress, post_signed};

const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const OWNER_1: &str = "+972521111111";
const OWNER_2: &str = "+972532222222";
/// The caller the simulator dials from, as the owner reads it.
const CALLER_SHOWN: &str = "050-1234567";
/// The category the fake's first transcript ("…לקבוע תור…") falls in.
const CATEGORY: &str = "לקבוע תור";

/// A server wired to one `callsim` fake listener, which also serves the
/// caller's voicemail recording as Twilio's API would.
struct World {
    app: TestApp,
    fake: String,
    /// Structured-outcome requests the fake LLM received.
    outcome_requests: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = format!("http://{}", listener.local_addr().unwrap());
        let outcome_requests = Arc::new(AtomicUsize::new(0));
        let counter = outcome_requests.clone();
        let router = callsim::fake::router(FakeLatencies::instant())
            .route(
                "/2010-04-01/Accounts/{account_sid}/Recordings/{file}",
                get(|| async { std::fs::read(shalom_wav()).unwrap() }),
            )
            .layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let counter = counter.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                        if parts.uri.path() == "/v1/chat/completions"
                            && String::from_utf8_lossy(&bytes).contains("json_schema")
                        {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        next.run(Request::from_parts(parts, Body::from(bytes)))
                            .await
                    }
                },
            ));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let creds = dir.path().join("google.json");
        callsim::write_google_credentials(&creds, &format!("{fake}/token")).unwrap();
        let base = fake.clone();
        let app = TestApp::spawn_with(move |v| {
            v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
            v.insert("TWILIO_ACCOUNT_SID".into(), ACCOUNT_SID.into());
            v.insert("TWILIO_API_BASE_URL".into(), base.clone());
            v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
            v.insert("OPENAI_API_KEY".into(), "sk-fake".into());
            v.insert("OPENAI_BASE_URL".into(), format!("{base}/v1"));
            v.insert(
                "GOOGLE_APPLICATION_CREDENTIALS".into(),
                creds.to_string_lossy().into(),
            );
            v.insert("GOOGLE_TTS_BASE_URL".into(), base);
        })
        .await;
        Self {
            app,
            fake,
            outcome_requests,
            _dir: dir,
        }
    }

    /// A business that texts its calls to `numbers`, with `streamed` calls
    /// (else every caller leaves a voicemail).
    async fn business(&self, numbers: &[&str], streamed: bool) -> i64 {
        let b = business::create(
            &self.app.state.db,
            &BusinessName::parse("מספרת דני").unwrap(),
            &PhoneNumber::parse(BUSINESS_PHONE).unwrap(),
        )
        .await
        .unwrap();
        let change = AdminChange {
            notify_channel: Some(serde_json::from_value(json!("sms")).unwrap()),
            notify_to: Some(serde_json::from_value(json!(numbers)).unwrap()),
            categories: Some(serde_json::from_value(json!([CATEGORY])).unwrap()),
            enable_calls_stream: Some(streamed),
            enable_recording_fallback: Some(true),
            ..Default::default()
        };
        crate::webhooks::change_business(&self.app, b.id, &change).await;
        b.id
    }

    fn caller(&self, utterances: Vec<Vec<u8>>) -> SimOptions {
        let mut opts = SimOptions::new(self.app.base.parse().unwrap(), BUSINESS_PHONE, TOKEN);
        opts.public_base_url = Some(PUBLIC.parse().unwrap());
        opts.account_sid = Some(ACCOUNT_SID.into());
        opts.utterances = utterances;
        opts
    }

    /// What the fake Twilio Messages API accepted, oldest first.
    async fn messages(&self) -> Vec<Value> {
        let listed: Value = reqwest::get(format!("{}/fake/messages", self.fake))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["messages"].as_array().unwrap().clone()
    }

    async fn call(&self, sid: &str) -> calls::CallLog {
        calls::get_by_sid(&self.app.state.db, sid)
            .await
            .unwrap()
            .unwrap()
    }

    /// How many outcomes were stored for the call, by the job's own log.
    fn outcomes_stored(&self, sid: &str) -> usize {
        self.app
            .logs
            .lines()
            .iter()
            .filter(|l| l["msg"] == "call outcome stored" && l["call_sid"] == sid)
            .count()
    }
}

fn shalom_wav() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/voice/tests/fixtures/shalom.wav"
    )
}

/// The owner's SMS for `call`: one per owner number, each naming the
/// caller, the summary, the urgency and the call, sent from the business's
/// own number with the delivery callback.
fn assert_owner_sms(sent: &[Value], call: &calls::CallLog, owners: &[&str]) {
    assert_eq!(sent.len(), owners.len(), "one SMS per number: {sent:?}");
    let mut to: Vec<&str> = sent.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort_unstable();
    assert_eq!(to, owners);
    let summary = call.summary.as_deref().expect("a summary");
    for message in sent {
        let body = message["body"].as_str().unwrap();
        assert!(body.contains(CALLER_SHOWN), "the caller: {body}");
        assert!(body.contains(summary), "the summary: {body}");
        assert!(body.contains("דחיפות: רגילה."), "the urgency: {body}");
        assert!(body.contains(&format!("#{}", call.id)), "the call: {body}");
        assert!(body.chars().count() <= 600, "{body}");
        assert_eq!(message["from"], BUSINESS_PHONE);
        assert_eq!(
            message["status_callback"],
            format!("{PUBLIC}/webhook/message_status")
        );
    }
}

#[tokio::test]
async fn a_caller_who_speaks_on_the_stream_leaves_one_outcome_and_one_hebrew_sms_per_owner_number()
{
    let world = World::start().await;
    world.business(&[OWNER_1, OWNER_2], true).await;

    let report = simulate_call(&world.caller(vec![caller_audio()]))
        .await
        .unwrap();
    assert_eq!(report.mode, SimMode::Stream, "{report:?}");
    assert_eq!(report.turns.len(), 1, "the caller was answered");
    world.app.state.background_settled().await;
    drain_all(&world.app).await;

    let call = world.call(&report.call_sid).await;
    assert_eq!(call.status.as_deref(), Some("completed"));
    let summary = call.summary.clone().expect("a summary");
    assert!(summary.contains("לקבוע תור"), "{summary}");
    let stored = call.outcome.clone().expect("the outcome as JSON");
    assert_eq!(stored["intent"], CATEGORY);
    assert_eq!(stored["urgency"], "normal");
    assert_eq!(call.follow_up_status, "open");
    assert_eq!(world.outcomes_stored(&report.call_sid), 1);
    assert_eq!(world.outcome_requests.load(Ordering::SeqCst), 1);
    assert_owner_sms(&world.messages().await, &call, &[OWNER_1, OWNER_2]);

    // The call's end (stop, then call_status completed) queued one job;
    // draining again sends nothing more.
    let job = queue::get_by_dedupe_key(&world.app.state.db, &outcome::dedupe_key(&call.call_sid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, "done");
    drain_all(&world.app).await;
    assert_eq!(world.messages().await.len(), 2);
}

#[tokio::test]
async fn a_voicemail_is_transcribed_summarised_and_texted_to_each_owner_number_once() {
    let world = World::start().await;
    world.business(&[OWNER_1, OWNER_2], false).await;

    let report = simulate_call(&world.caller(vec![caller_audio()]))
        .await
        .unwrap();
    assert_eq!(report.mode, SimMode::Record, "{report:?}");
    // Twilio posts the finished recording, which lives on its API.
    let mut recorded = in_progress(&report.call_sid);
    recorded.push((
        "RecordingUrl".into(),
        format!(
            "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE0123456789abcdef0123456789abcdef",
            world.fake
        ),
    ));
    recorded.push(("RecordingDuration".into(), "4".into()));
    let res = post_signed(&world.app, "/webhook/handle_recording", &recorded).await;
    assert_eq!(res.status(), 200);
    world.app.state.background_settled().await;
    drain_all(&world.app).await;

    let call = world.call(&report.call_sid).await;
    let transcript = call
        .transcript
        .clone()
        .expect("the fake STT transcribed it");
    assert!(transcript.contains("לקבוע תור"), "{transcript}");
    assert!(call.summary.is_some());
    assert_eq!(call.outcome.as_ref().unwrap()["intent"], CATEGORY);
    assert_eq!(call.follow_up_status, "open");
    assert_eq!(world.outcomes_stored(&report.call_sid), 1);
    assert_eq!(world.outcome_requests.load(Ordering::SeqCst), 1);
    assert_owner_sms(&world.messages().await, &call, &[OWNER_1, OWNER_2]);

    drain_all(&world.app).await;
    assert_eq!(world.messages().await.len(), 2, "never twice per number");
}

#[tokio::test]
async fn a_caller_who_says_nothing_gets_no_follow_up_no_model_request_and_no_sms() {
    let world = World::start().await;
    world.business(&[OWNER_1], true).await;

    let report = simulate_call(&world.caller(Vec::new())).await.unwrap();
    assert_eq!(report.mode, SimMode::Stream, "{report:?}");
    assert!(report.greeting_audio_ms > 0, "the greeting was heard");
    assert!(report.turns.is_empty());
    world.app.state.background_settled().await;
    drain_all(&world.app).await;

    let call = world.call(&report.call_sid).await;
    assert_eq!(call.status.as_deref(), Some("completed"));
    assert_eq!(call.follow_up_status, "none");
    assert_eq!(call.summary, None);
    assert_eq!(world.outcomes_stored(&report.call_sid), 1);
    assert_eq!(world.outcome_requests.load(Ordering::SeqCst), 0);
    assert!(world.messages().await.is_empty());
}
