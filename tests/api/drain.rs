//! SIGTERM on the real binary mid-call: the instance drains instead of
//! dropping the caller, and still answers the webhook that moves them to the
//! recording.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::fresh_database_url;
use crate::logging::Running;

const TOKEN: &str = "drain-auth-token";
const PUBLIC: &str = "https://drain.example.test";
const BUSINESS: &str = "+97235550901";

fn signed_form(path: &str, params: &[(&str, &str)]) -> (String, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = twilio::signature::compute(TOKEN, &format!("{PUBLIC}{path}"), &owned);
    (serde_urlencoded::to_string(&owned).unwrap(), sig)
}

async fn post_signed(base: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    let (body, sig) = signed_form(path, params);
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn sigterm_mid_call_drains_and_still_moves_the_caller_to_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .args([
            "business",
            "create",
            "--name",
            "מאפיית הגליל",
            "--phone",
            BUSINESS,
        ])
        .env_clear()
        .env("DATABASE_URL", &url)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(created.status.success());
    let business_id =
        serde_json::from_slice::<serde_json::Value>(&created.stdout).unwrap()["id"].to_string();

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
    let (status, twiml) = post_signed(&base, "/webhook/incoming_call", &call).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Stream"), "{twiml}");

    let mut req = format!("ws://127.0.0.1:{port}/ws/twilio-media")
        .into_client_request()
        .unwrap();
    let sig = twilio::signature::compute(TOKEN, "wss://drain.example.test/ws/twilio-media", &[]);
    req.headers_mut()
        .insert("x-twilio-signature", sig.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let start = twilio::media::Inbound::Start {
        sequence_number: 1,
        start: twilio::media::Start::new("AC1", "MZ1", sid)
            .with_parameter("business_id", &business_id),
        stream_sid: "MZ1".into(),
    };
    for msg in [
        twilio::media::Inbound::connected().to_json(),
        start.to_json(),
    ] {
        ws.send(Message::Text(msg.into())).await.unwrap();
    }
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
    let (status, twiml) = post_signed(&base, "/webhook/stream_ended", &call).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Record"), "{twiml}");
    let (status, _) = post_signed(
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
