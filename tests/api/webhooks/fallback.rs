//! `stream_ended` and `handle_recording`: failover to recording, the
//! thank-you, and the durable transcription job end to end.

use agentlocator::db::{calls, jobs as queue};
use agentlocator::http::webhooks::THANK_YOU_HE;

use super::fakes::Fakes;
use super::incoming::{assert_goodbye, assert_record_fallback};
use super::*;

#[tokio::test]
async fn stream_ended_prompts_before_recording_logs_the_failover_and_sets_mode_record() {
    let app = spawn().await;
    let b = business(&app).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;

    let (status, root) = twiml(&app, "/webhook/stream_ended", &in_progress(&sid)).await;
    assert_eq!(status, 200);
    assert_record_fallback(&root);
    assert_eq!(
        root.children[0].attr("voice"),
        Some("Google.he-IL-Wavenet-A")
    );

    let lines = lines_for(&app, &sid);
    let failover = lines
        .iter()
        .find(|l| l["msg"] == "stream_failover -> recording")
        .unwrap_or_else(|| panic!("no failover line in {lines:#?}"));
    assert_eq!(failover["level"], "WARN");
    assert_eq!(failover["call_sid"], sid.as_str());
    assert_eq!(failover["business_id"], b.id);

    // The call's mode moves beside the answer.
    settled(&app).await;
    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.mode, "record");
    assert_eq!(call.failover_reason.as_deref(), Some("stream_ended"));
}

#[tokio::test]
async fn stream_ended_keeps_the_reason_the_media_socket_recorded() {
    let app = spawn().await;
    business(&app).await;
    let sid = new_sid();
    answered(&app, &sid).await;
    calls::set_mode(
        &app.state.db,
        &sid,
        calls::CallMode::Stream,
        Some("llm_timeout"),
    )
    .await
    .unwrap();
    twiml(&app, "/webhook/stream_ended", &in_progress(&sid)).await;
    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.failover_reason.as_deref(), Some("llm_timeout"));
}

#[tokio::test]
async fn stream_ended_after_the_caller_hung_up_answers_an_empty_response() {
    let app = spawn().await;
    business(&app).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    let mut done = call_params(&sid);
    done[4].1 = "completed".into();
    let (status, root) = twiml(&app, "/webhook/stream_ended", &done).await;
    assert_eq!(status, 200);
    assert!(root.children.is_empty(), "{root:?}");
    assert!(
        !lines_for(&app, &sid)
            .iter()
            .any(|l| l["msg"] == "stream_failover -> recording")
    );
    settled(&app).await;
    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.mode, "stream");
    assert_eq!(call.status.as_deref(), Some("completed"));
    assert!(call.ended_at.is_some());
}

#[tokio::test]
async fn handle_recording_thanks_the_caller_hangs_up_and_queues_one_job_however_often_retried() {
    let app = spawn().await;
    business(&app).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    let url = format!(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{}",
        uuid::Uuid::new_v4().simple()
    );
    for _ in 0..2 {
        let (status, root) = twiml(
            &app,
            "/webhook/handle_recording",
            &recording_params(&sid, &url),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(assert_goodbye(&root), THANK_YOU_HE);
    }

    let job = queue::get_by_dedupe_key(&app.state.db, &format!("transcribe:{sid}"))
        .await
        .unwrap()
        .expect("a job");
    assert_eq!(job.kind, "transcribe_recording");
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap();
    assert_eq!(payload["recording_url"], url.as_str());
    let handed: Vec<_> = lines_for(&app, &sid)
        .into_iter()
        .filter(|l| l["msg"] == "recording handed to the background worker for transcription")
        .collect();
    assert_eq!(handed.len(), 2);
    assert_eq!(handed[0]["extra"]["job_id"], job.id);
    assert_eq!(handed[1]["extra"]["job_id"], job.id);
    assert_eq!(handed[1]["extra"]["newly_queued"], false);

    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.recording_url.as_deref(), Some(url.as_str()));
    assert_eq!(
        call.recording_sid.as_deref(),
        Some(url.rsplit('/').next().unwrap())
    );
    assert_eq!(call.mode, "record");
}

#[tokio::test]
async fn handle_recording_without_a_recording_url_still_thanks_and_logs_an_error() {
    let app = spawn().await;
    let sid = new_sid();
    let (status, root) = twiml(&app, "/webhook/handle_recording", &in_progress(&sid)).await;
    assert_eq!(status, 200);
    assert_eq!(assert_goodbye(&root), THANK_YOU_HE);
    assert!(
        lines_for(&app, &sid)
            .iter()
            .any(|l| l["level"] == "ERROR" && l["msg"].as_str().unwrap().contains("RecordingUrl"))
    );
    assert!(
        queue::get_by_dedupe_key(&app.state.db, &format!("transcribe:{sid}"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn with_the_database_down_handle_recording_still_thanks_the_caller() {
    let app = spawn().await;
    app.state.db.pool.close().await;
    let sid = new_sid();
    let (status, root) = twiml(
        &app,
        "/webhook/handle_recording",
        &recording_params(&sid, "https://api.twilio.com/x/Recordings/RE1"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(assert_goodbye(&root), THANK_YOU_HE);
    assert!(lines_for(&app, &sid).iter().any(|l| l["level"] == "ERROR"));
}

#[tokio::test]
async fn a_recorded_message_is_transcribed_by_the_background_job_and_stored() {
    let fakes = Fakes::start("שלום, אני רוצה להזמין שולחן לארבעה אנשים מחר בערב").await;
    let app = spawn_with_fakes(&fakes).await;
    business(&app).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    twiml(&app, "/webhook/stream_ended", &in_progress(&sid)).await;
    let url = fakes.recording_url("RE0123456789abcdef0123456789abcdef");
    let (status, _) = twiml(
        &app,
        "/webhook/handle_recording",
        &recording_params(&sid, &url),
    )
    .await;
    assert_eq!(status, 200);

    app.state.background_settled().await;
    crate::webhooks::drain_all(&app).await;

    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    let expected = "שלום, אני רוצה להזמין שולחן לארבעה אנשים מחר בערב";
    assert_eq!(call.transcript.as_deref(), Some(expected));
    let job = queue::get_by_dedupe_key(&app.state.db, &format!("transcribe:{sid}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, "done");
    let line = lines_for(&app, &sid)
        .into_iter()
        .find(|l| l["msg"] == "recording_transcribed")
        .expect("recording_transcribed logged");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["extra"]["chars"], expected.chars().count());
    assert_eq!(fakes.seen().stt_calls, 1);
}
