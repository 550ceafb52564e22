//! Transfer to a human and ending the call (issue 14): the action the call
//! engine arms answers `stream_ended`, the human hears the whisper, and the
//! dial's outcome reaches the call detail. Runs on both backends.

use agentlocator::domain::{CallAction, PhoneNumber};
use agentlocator::http::webhooks::TRANSFER_FAILED_HE;
use sqlx::Row;

use crate::helpers::TestApp;
use crate::webhooks::{
    BUSINESS_PHONE, ElementExt, PUBLIC, TOKEN, business, call_params, in_progress, new_sid,
    post_signed, twiml,
};

const HUMAN: &str = "+972541112233";
const WHISPER: &str = "שיחה מדני כהן, 050-1234567: רוצה לדבר על ההזמנה שלו.";

fn transfer() -> CallAction {
    CallAction::Transfer {
        to: PhoneNumber::parse(HUMAN).unwrap(),
        reason: "רוצה לדבר על ההזמנה".into(),
        whisper_he: WHISPER.into(),
    }
}

/// A signed-webhook server; with `tts`, its speech comes from fake Google.
async fn spawn(tts: bool, database_url: Option<&str>) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fake = if tts {
        Some(crate::calls::fake_providers(dir.path()).await)
    } else {
        None
    };
    let app = TestApp::spawn_with(|v| {
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
        if let Some((base, creds)) = fake {
            v.insert(
                "GOOGLE_APPLICATION_CREDENTIALS".into(),
                creds.to_string_lossy().into(),
            );
            v.insert("GOOGLE_TTS_BASE_URL".into(), base);
        }
        if let Some(url) = database_url {
            v.insert("DATABASE_URL".into(), url.into());
        }
    })
    .await;
    (app, dir)
}

/// A call `incoming_call` answered, with `action` armed by the engine.
async fn answered_with(app: &TestApp, action: CallAction) -> String {
    let sid = new_sid();
    let (status, _) = twiml(app, "/webhook/incoming_call", &call_params(&sid)).await;
    assert_eq!(status, 200);
    app.state.background_settled().await;
    app.state
        .call_actions
        .arm(&app.state.db, &sid, action)
        .await
        .unwrap();
    sid
}

async fn stream_ended(app: &TestApp, sid: &str) -> String {
    let res = post_signed(app, "/webhook/stream_ended", &in_progress(sid)).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// The `<Number url>` of a `<Dial>` answer.
fn whisper_path(xml: &str) -> String {
    let root = crate::webhooks::parse(xml);
    root.children[0].children[0].attrs["url"].clone()
}

/// The `transfer` of the call's detail, as its owner reads it.
async fn transfer_in_detail(app: &TestApp, sid: &str) -> serde_json::Value {
    crate::crm_support::call_detail_as_owner(app, sid).await["transfer"].clone()
}

async fn transfer_ended(app: &TestApp, sid: &str, dial_status: &str) -> crate::webhooks::Element {
    let mut params = in_progress(sid);
    params.push(("DialCallStatus".into(), dial_status.into()));
    let (status, root) = twiml(app, "/webhook/transfer_ended", &params).await;
    assert_eq!(status, 200);
    app.state.background_settled().await;
    root
}

#[tokio::test]
async fn a_transfer_dials_the_human_from_the_business_number_and_a_retry_answers_the_same() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;

    let first = stream_ended(&app, &sid).await;
    let root = crate::webhooks::parse(&first);
    assert_eq!(root.names(), ["Dial"]);
    let dial = &root.children[0];
    dial.assert_attrs(&[
        ("timeout", "20"),
        ("action", "/webhook/transfer_ended"),
        ("callerId", BUSINESS_PHONE),
    ]);
    assert_eq!(dial.names(), ["Number"]);
    let number = &dial.children[0];
    assert_eq!(number.text, HUMAN);
    let url = &number.attrs["url"];
    let token = url
        .strip_prefix("/webhook/transfer_whisper?token=")
        .unwrap_or_else(|| panic!("{url}"));
    assert!(token.len() >= 22, "at least 128 bits: {token}");

    assert_eq!(stream_ended(&app, &sid).await, first, "a retry");
    app.state.background_settled().await;
    let logged = crate::webhooks::lines_for(&app, &sid);
    assert!(
        logged
            .iter()
            .any(|l| l["msg"] == "stream_ended -> transfer")
    );
    let transfer = transfer_in_detail(&app, &sid).await;
    assert_eq!(transfer["to"], HUMAN);
    assert_eq!(transfer["reason"], "רוצה לדבר על ההזמנה");
    assert_eq!(transfer["status"], "dialing");
}

#[tokio::test]
async fn the_human_hears_the_whisper_as_a_wav_from_the_play_url() {
    let (app, _dir) = spawn(true, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    let whisper = whisper_path(&stream_ended(&app, &sid).await);

    let (status, root) = twiml(&app, &whisper, &call_params(&new_sid())).await;
    assert_eq!(status, 200);
    assert_eq!(root.names(), ["Play"]);
    let play = &root.children[0].text;
    let path = play
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("absolute on the public host: {play}"));
    assert!(path.starts_with("/audio/whisper/"), "{path}");

    let res = app.get(path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/wav");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let wav = res.bytes().await.unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[8..12], b"WAVE");
    assert!(wav.len() > 44, "audio after the header");
}

#[tokio::test]
async fn without_speech_synthesis_the_whisper_is_said_in_hebrew() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    let whisper = whisper_path(&stream_ended(&app, &sid).await);

    let (_, root) = twiml(&app, &whisper, &call_params(&new_sid())).await;
    assert_eq!(root.names(), ["Say"]);
    assert_eq!(root.children[0].text, WHISPER);
    assert_eq!(root.children[0].attrs["language"], "he-IL");
}

#[tokio::test]
async fn a_wrong_or_expired_token_gets_no_audio_and_an_empty_whisper() {
    let (app, _dir) = spawn(true, None).await;
    business(&app).await;
    let wrong = "A".repeat(32);
    assert_eq!(
        app.get(&format!("/audio/whisper/{wrong}")).await.status(),
        404
    );
    assert_eq!(app.get("/audio/whisper/short").await.status(), 404);
    let (status, root) = twiml(
        &app,
        &format!("/webhook/transfer_whisper?token={wrong}"),
        &call_params(&new_sid()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(root.children.is_empty(), "the human is connected anyway");

    // An instance that only has the row sees its expiry.
    let sid = answered_with(&app, transfer()).await;
    let whisper = whisper_path(&stream_ended(&app, &sid).await);
    let token = whisper.rsplit('=').next().unwrap().to_string();
    sqlx::query("UPDATE call_log SET whisper_expires_at = $1 WHERE call_sid = $2")
        .bind("2020-01-01T00:00:00.000Z")
        .bind(&sid)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let (other, _other_dir) = spawn(true, Some(&app.database_url)).await;
    let audio = other.get(&format!("/audio/whisper/{token}")).await;
    assert_eq!(audio.status(), 404);
    let (_, root) = twiml(&other, &whisper, &call_params(&new_sid())).await;
    assert!(root.children.is_empty());
}

#[tokio::test]
async fn a_completed_transfer_hangs_up_and_the_call_detail_shows_it_transferred() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    stream_ended(&app, &sid).await;

    let root = transfer_ended(&app, &sid, "completed").await;
    assert_eq!(root.names(), ["Hangup"]);
    assert_eq!(
        transfer_in_detail(&app, &sid).await["status"],
        "transferred"
    );
}

#[tokio::test]
async fn a_late_dialing_write_never_undoes_how_the_transfer_ended() {
    use agentlocator::db::call_actions::set_transfer_status;
    use agentlocator::domain::TransferStatus;

    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    // Twilio posts transfer_ended right after stream_ended: the two writes
    // behind the answers can land in either order.
    set_transfer_status(&app.state.db, &sid, TransferStatus::TransferFailed)
        .await
        .unwrap();
    assert!(
        set_transfer_status(&app.state.db, &sid, TransferStatus::Dialing)
            .await
            .unwrap()
    );
    assert_eq!(
        transfer_in_detail(&app, &sid).await["status"],
        "transfer_failed"
    );
}

#[tokio::test]
async fn an_unanswered_transfer_asks_for_a_message_and_marks_the_transfer_failed() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    stream_ended(&app, &sid).await;

    let root = transfer_ended(&app, &sid, "no-answer").await;
    assert_eq!(root.names(), ["Say", "Record"]);
    assert_eq!(root.children[0].text, TRANSFER_FAILED_HE);
    assert_eq!(
        root.children[1].attrs["action"],
        "/webhook/handle_recording"
    );
    // A retry answers the same.
    assert_eq!(transfer_ended(&app, &sid, "no-answer").await, root);

    assert_eq!(
        transfer_in_detail(&app, &sid).await["status"],
        "transfer_failed"
    );
    let mode: String = sqlx::query("SELECT mode FROM call_log WHERE call_sid = $1")
        .bind(&sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get("mode");
    assert_eq!(mode, "record");
    let warned = crate::webhooks::lines_for(&app, &sid)
        .into_iter()
        .find(|l| l["msg"] == "transfer_failed")
        .expect("transfer_failed logged");
    assert_eq!(warned["level"], "WARN");
}

#[tokio::test]
async fn a_hangup_armed_hangs_up_when_the_stream_ends() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, CallAction::Hangup).await;
    let root = crate::webhooks::parse(&stream_ended(&app, &sid).await);
    assert_eq!(root.names(), ["Hangup"]);
    assert_eq!(
        transfer_in_detail(&app, &sid).await,
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn arming_twice_keeps_the_first_action() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    let again = app
        .state
        .call_actions
        .arm(&app.state.db, &sid, CallAction::Hangup)
        .await
        .unwrap();
    assert_eq!(again.action, transfer());
    let root = crate::webhooks::parse(&stream_ended(&app, &sid).await);
    assert_eq!(root.names(), ["Dial"]);
}

#[tokio::test]
async fn with_nothing_armed_the_stream_ending_falls_back_to_recording_as_before() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    let root = crate::webhooks::parse(&stream_ended(&app, &sid).await);
    assert_eq!(root.names(), ["Say", "Record"]);
    app.state.background_settled().await;
    assert_eq!(
        transfer_in_detail(&app, &sid).await,
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn an_instance_that_did_not_arm_the_transfer_answers_the_same_dial_from_the_row() {
    let (app, _dir) = spawn(false, None).await;
    business(&app).await;
    let sid = answered_with(&app, transfer()).await;
    let (other, _other_dir) = spawn(true, Some(&app.database_url)).await;
    assert!(other.state.call_actions.is_empty());

    let there = stream_ended(&other, &sid).await;
    assert_eq!(there, stream_ended(&app, &sid).await);
    let whisper = whisper_path(&there);
    let (_, root) = twiml(&other, &whisper, &call_params(&new_sid())).await;
    assert_eq!(root.names(), ["Play"]);
    let path = root.children[0]
        .text
        .strip_prefix(PUBLIC)
        .unwrap()
        .to_string();
    assert_eq!(other.get(&path).await.status(), 200);
}

#[tokio::test]
async fn the_api_document_describes_the_transfer_of_a_call() {
    let (app, _dir) = spawn(false, None).await;
    let (_, spec) = app.get_json("/api/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    assert!(
        schemas["CallDetail"]["properties"]["transfer"].is_object(),
        "{}",
        schemas["CallDetail"]
    );
    let view = &schemas["TransferView"]["properties"];
    for field in ["to", "reason", "status"] {
        assert!(view[field].is_object(), "TransferView.{field}: {view}");
    }
}
