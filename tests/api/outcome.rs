//! The post-call outcome job end to end: voicemails and streamed calls get a summary and a follow-up status.

use agentlocator::db::{calls, jobs as queue};
use agentlocator::domain::Timestamp;
use agentlocator::jobs::{self, outcome};
use sqlx::Row;

use crate::helpers::TestApp;
use crate::webhooks::fakes::{self, Fakes};
use crate::webhooks::*;

const VOICEMAIL_HE: &str = "שלום, זה דני. אני רוצה לקבוע תור למחר בבוקר, תחזרו אליי בבקשה.";

async fn call_row(app: &TestApp, sid: &str) -> calls::CallLog {
    calls::get_by_sid(&app.state.db, sid)
        .await
        .unwrap()
        .unwrap()
}

async fn outcome_job(app: &TestApp, sid: &str) -> queue::Job {
    queue::get_by_dedupe_key(&app.state.db, &outcome::dedupe_key(sid))
        .await
        .unwrap()
        .expect("outcome job queued")
}

/// The customer's (name, last_contact_at).
async fn customer_of(app: &TestApp, call: &calls::CallLog) -> (Option<String>, Option<String>) {
    let row = sqlx::query("SELECT name, last_contact_at FROM customer WHERE id = $1")
        .bind(call.customer_id.expect("the call has a customer"))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    (row.get("name"), row.get("last_contact_at"))
}

/// A call answered and completed as a live stream, with no turns.
async fn completed_stream_call(app: &TestApp) -> String {
    let b = business(app).await;
    set_flags(app, b.id, true, true).await;
    let sid = new_sid();
    answered(app, &sid).await;
    let mut completed = call_params(&sid);
    completed[4].1 = "completed".into();
    let res = post_signed(app, "/webhook/call_status", &completed).await;
    assert_eq!(res.status(), 204);
    settled(app).await;
    sid
}

#[tokio::test]
async fn a_voicemail_ends_with_the_models_summary_and_an_open_follow_up() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    let b = business(&app).await;
    let categories = agentlocator::domain::settings::AdminChange {
        categories: Some(
            serde_json::from_value(serde_json::json!(["קביעת תור", "ביטול"])).unwrap(),
        ),
        ..Default::default()
    };
    crate::webhooks::change_business(&app, b.id, &categories).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    twiml(&app, "/webhook/stream_ended", &in_progress(&sid)).await;
    let url = fakes.recording_url("RE0123456789abcdef0123456789abcdef");
    twiml(
        &app,
        "/webhook/handle_recording",
        &recording_params(&sid, &url),
    )
    .await;
    app.state.background_settled().await;

    // The transcription job queues the outcome job; both run, whether the
    // recording webhook's write landed at once or through the spool.
    crate::webhooks::drain_all(&app).await;

    let call = call_row(&app, &sid).await;
    assert_eq!(call.transcript.as_deref(), Some(VOICEMAIL_HE));
    assert_eq!(call.summary.as_deref(), Some(fakes::OUTCOME_SUMMARY));
    assert_eq!(call.follow_up_status, "open");
    let stored = call.outcome.clone().expect("the outcome is stored as JSON");
    assert_eq!(stored["caller_name"], fakes::OUTCOME_CALLER);
    assert_eq!(stored["callback_requested"], true);
    assert_eq!(fakes.seen().llm_calls, 1);
    assert_eq!(
        fakes.seen().llm_intents,
        ["קביעת תור", "ביטול", "other"],
        "the model may only pick the business's own categories"
    );
    let (name, last_contact) = customer_of(&app, &call).await;
    assert_eq!(name.as_deref(), Some(fakes::OUTCOME_CALLER));
    assert!(last_contact.is_some());
    assert_eq!(outcome_job(&app, &sid).await.status, "done");
    let line = lines_for(&app, &sid)
        .into_iter()
        .find(|l| l["msg"] == "call outcome stored")
        .expect("call outcome stored logged");
    assert_eq!(line["extra"]["follow_up_status"], "open");
    assert_eq!(line["extra"]["fallback"], false);
}

#[tokio::test]
async fn a_streamed_call_completed_without_a_word_gets_no_follow_up_and_no_model_request() {
    let fakes = Fakes::start("").await;
    let app = spawn_with_fakes(&fakes).await;
    let sid = completed_stream_call(&app).await;
    drain_all(&app).await;

    let call = call_row(&app, &sid).await;
    assert_eq!(call.mode, "stream");
    assert_eq!(call.summary, None);
    assert_eq!(call.outcome, None);
    assert_eq!(call.follow_up_status, "none");
    assert_eq!(fakes.seen().llm_calls, 0);
    let (_, last_contact) = customer_of(&app, &call).await;
    assert!(last_contact.is_some(), "a silent call is still a contact");
}

#[tokio::test]
async fn without_an_llm_key_the_summary_is_the_first_sentence_of_the_transcript() {
    let app = spawn().await;
    business(&app).await;
    let sid = new_sid();
    answered(&app, &sid).await;
    calls::set_transcript(&app.state.db, &sid, VOICEMAIL_HE)
        .await
        .unwrap();
    let payload = outcome::Payload {
        call_sid: sid.clone(),
        business_id: None,
    };
    outcome::enqueue(&app.state.db, &payload).await.unwrap();
    drain_all(&app).await;

    let call = call_row(&app, &sid).await;
    assert_eq!(call.summary.as_deref(), Some("שלום, זה דני."));
    assert_eq!(call.outcome, None);
    assert_eq!(call.follow_up_status, "open");
    let (name, _) = customer_of(&app, &call).await;
    assert_eq!(name, None, "no model, so no name is guessed");
}

#[tokio::test]
async fn a_model_answering_off_schema_is_retried_and_the_third_attempt_falls_back_to_the_callers_words()
 {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    fakes.set(|b| b.llm_off_schema = true);
    let app = spawn_with_fakes(&fakes).await;
    business(&app).await;
    let sid = new_sid();
    answered(&app, &sid).await;
    calls::set_transcript(&app.state.db, &sid, VOICEMAIL_HE)
        .await
        .unwrap();
    // The handler is run directly, by attempt number: the server's own
    // workers would otherwise race a drain for the retries.
    let payload = serde_json::json!({ "call_sid": sid }).to_string();
    for attempt in 1..=2 {
        let result = outcome::run(&app.state, &payload, attempt).await;
        assert!(
            matches!(result, Err(jobs::JobError::Retry(_))),
            "attempt {attempt}: {result:?}"
        );
        assert_eq!(call_row(&app, &sid).await.summary, None);
    }
    outcome::run(&app.state, &payload, 3).await.unwrap();

    let call = call_row(&app, &sid).await;
    assert_eq!(call.summary.as_deref(), Some("שלום, זה דני."));
    assert_eq!(call.outcome, None);
    assert_eq!(call.follow_up_status, "open");
    assert_eq!(fakes.seen().llm_calls, 3);
}

#[tokio::test]
async fn a_completed_call_reported_twice_queues_one_outcome_job() {
    let fakes = Fakes::start("").await;
    let app = spawn_with_fakes(&fakes).await;
    let sid = completed_stream_call(&app).await;
    let mut completed = call_params(&sid);
    completed[4].1 = "completed".into();
    post_signed(&app, "/webhook/call_status", &completed).await;
    let payload = outcome::Payload {
        call_sid: sid.clone(),
        business_id: None,
    };
    let again = outcome::enqueue(&app.state.db, &payload).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.id, outcome_job(&app, &sid).await.id);

    drain_all(&app).await;
    let job = outcome_job(&app, &sid).await;
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1));
}

#[tokio::test]
async fn a_completed_status_waits_for_the_stream_and_the_streams_end_brings_the_outcome_forward() {
    let fakes = Fakes::start("").await;
    let app = spawn_with_fakes(&fakes).await;
    let sid = completed_stream_call(&app).await;

    // Twilio may report `completed` before the stream has stored its last
    // turn: the status only queues a backstop, which a worker leaves alone.
    let job = outcome_job(&app, &sid).await;
    let now = Timestamp::now();
    let (soonest, latest) = (
        now.shifted(time::Duration::seconds(15)),
        now.shifted(time::Duration::seconds(20)),
    );
    let run_at = Timestamp::parse(&job.run_at).unwrap();
    assert!(
        soonest < run_at && run_at <= latest,
        "queued for {run_at:?}, about 20 s ahead of {now:?}"
    );
    jobs::drain(&app.state).await.unwrap();
    assert_eq!(outcome_job(&app, &sid).await.status, "queued");

    // The stream's end queues the same outcome for now: it runs at once.
    let payload = outcome::Payload {
        call_sid: sid.clone(),
        business_id: None,
    };
    let again = outcome::enqueue(&app.state.db, &payload).await.unwrap();
    assert_eq!((again.id, again.created), (job.id, false));
    jobs::drain(&app.state).await.unwrap();
    let job = outcome_job(&app, &sid).await;
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1));
}
