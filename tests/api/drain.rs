//! SIGTERM on the real binary mid-call: the instance drains instead of
//! dropping the caller, and still answers the webhook that moves them to the
//! recording.

use std::time::Duration;

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::fresh_database_url;
use crate::logging::Running;
use crate::process::{Twilio, create_business, eventually};

const TOKEN: &str = "drain-auth-token";
const PUBLIC: &str = "https://drain.example.test";
const BUSINESS: &str = "+97235550901";

const TWILIO: Twilio = Twilio {
    token: TOKEN,
    public: PUBLIC,
};

#[tokio::test]
async fn sigterm_mid_call_drains_and_still_moves_the_caller_to_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let business_id = create_business(dir.path(), &url, "מאפיית הגליל", BUSINESS);

    let mut server = Running::start(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("PUBLIC_BASE_URL", PUBLIC),
            ("SHUTDOWN_GRACE_SECS", "1"),
            ("SHUTDOWN_TAIL_SECS", "3"),
        ],
    );
    let port = server.wait_for(|l| l["msg"] == "AgentLocator listening")["extra"]["port"]
        .as_u64()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let sid = "CAdrain00000000000000000000000001";
    let call = [
        ("CallSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+972501234567"),
        ("To", BUSINESS),
        ("CallStatus", "ringing"),
    ];
    let (status, twiml) = TWILIO.post(&base, "/webhook/incoming_call", &call).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Stream"), "{twiml}");

    let mut ws = TWILIO.open_stream(&base, sid, &business_id).await;
    // The call is set up (no provider keys here: the agent degrades, the
    // call still runs).
    server.wait_for(|l| {
        l["call_sid"] == sid
            && l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("NLP disabled for this call"))
    });

    server.terminate();
    server.wait_for(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("draining")));
    // Load balancers see the drain; the call is still up.
    let serving = reqwest::get(format!("{base}/serving")).await.unwrap();
    assert_eq!(serving.status().as_u16(), 503);

    // After the grace period the instance closes the stream on purpose…
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(msg) = ws.next().await {
            if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                return true;
            }
        }
        true
    })
    .await
    .expect("the stream is closed after the grace period");
    assert!(closed);
    // …and still answers the webhook Twilio sends next: the caller records.
    let (status, twiml) = TWILIO.post(&base, "/webhook/stream_ended", &call).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Record"), "{twiml}");
    let (status, _) = TWILIO
        .post(
            &base,
            "/webhook/handle_recording",
            &[
                ("CallSid", sid),
                ("AccountSid", "AC00000000000000000000000000000000"),
                (
                    "RecordingUrl",
                    "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
                ),
                ("RecordingSid", "RE00000000000000000000000000000001"),
                ("RecordingDuration", "7"),
            ],
        )
        .await;
    assert_eq!(status, 200, "a recording posted during the tail is taken");
    assert!(server.stop().success(), "a drained stop is a clean exit");
}

#[tokio::test]
async fn a_caller_talking_through_a_restart_hears_why_keeps_their_turns_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let (fake, creds) = crate::calls::fake_providers(dir.path()).await;
    create_business(dir.path(), &url, "מאפיית הגליל", BUSINESS);
    let mut server = Running::start(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("PUBLIC_BASE_URL", PUBLIC),
            ("OPENAI_API_KEY", "sk-fake"),
            ("OPENAI_BASE_URL", &format!("{fake}/v1")),
            ("GOOGLE_APPLICATION_CREDENTIALS", &creds.to_string_lossy()),
            ("GOOGLE_TTS_BASE_URL", &fake),
            ("SHUTDOWN_GRACE_SECS", "1"),
            ("SHUTDOWN_TAIL_SECS", "2"),
        ],
    );
    let port = server.wait_for(|l| l["msg"] == "AgentLocator listening")["extra"]["port"]
        .as_u64()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let sid = "CAtalking0000000000000000000000001";
    let mut opts = callsim::SimOptions::new(base.parse().unwrap(), BUSINESS, TOKEN);
    opts.public_base_url = Some(PUBLIC.parse().unwrap());
    opts.call_sid = Some(sid.to_string());
    // More than the call can say before the restart cuts in.
    opts.utterances = vec![crate::calls::caller_audio(); 8];
    let caller = tokio::spawn(async move { callsim::simulate_call(&opts).await });

    let db = agentlocator::db::Db::connect(&url, crate::helpers::TEST_PG_CONNECTIONS)
        .await
        .unwrap();
    let turn_stored = |db: agentlocator::db::Db| async move {
        !agentlocator::db::calls::turns_for_call(&db, sid)
            .await
            .unwrap_or_default()
            .is_empty()
    };
    eventually("the first turn is stored", || turn_stored(db.clone())).await;
    server.terminate();

    let report = caller.await.unwrap().unwrap();
    assert_eq!(report.mode, callsim::SimMode::RecordFallback, "{report:?}");
    let twiml = report.fallback_twiml.clone().unwrap_or_default();
    assert!(twiml.contains("<Record"), "{twiml}");
    assert!(report.turns.len() < 8, "the restart cut in");
    // The agent said why (in Hebrew) before closing, instead of cutting off.
    server.wait_for(|l| {
        l["call_sid"] == sid
            && l["msg"] == "call_failover"
            && l["extra"]["reason"] == "server draining"
    });
    assert!(server.stop().success(), "a drained stop is a clean exit");
    // Every turn the caller finished is in the CRM.
    let answered = report.turns.iter().filter(|t| t.reply_audio_ms > 0).count();
    let stored = agentlocator::db::calls::turns_for_call(&db, sid)
        .await
        .unwrap();
    assert!(
        stored.len() >= answered,
        "{} stored, {answered} answered",
        stored.len()
    );
    // The agent said why before the socket closed: the drain line's audio
    // arrived after the last answered turn.
    assert!(report.frames_received > 0);
}
