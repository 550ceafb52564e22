//! Owner notifications end to end: a call's outcome becomes one SMS (or
//! WhatsApp template) per number the business set, sent once, retried
//! through Twilio outages, with delivery updates stored from the signed
//! `message_status` webhook.

use agentlocator::db::notifications;
use agentlocator::domain::settings::AdminChange;
use agentlocator::jobs::notify;

use crate::helpers::TestApp;
use crate::webhooks::fakes::{self, Fakes};
use crate::webhooks::*;

const VOICEMAIL_HE: &str = "שלום, זה דני. אני רוצה לקבוע תור למחר בבוקר, תחזרו אליי בבקשה.";
const OWNER_1: &str = "+972521111111";
const OWNER_2: &str = "+972532222222";

/// A business that wants its calls by `channel` at `numbers`.
async fn notifying_business(app: &TestApp, channel: &str, numbers: &[&str]) -> i64 {
    let b = business(app).await;
    let change = AdminChange {
        notify_channel: Some(serde_json::from_value(serde_json::json!(channel)).unwrap()),
        notify_to: Some(serde_json::from_value(serde_json::json!(numbers)).unwrap()),
        ..Default::default()
    };
    crate::webhooks::change_business(app, b.id, &change).await;
    b.id
}

/// A caller who leaves a voicemail; returns its call SID.
async fn voicemail(app: &TestApp, fakes: &Fakes) -> String {
    let sid = new_sid();
    twiml(app, "/webhook/incoming_call", &call_params(&sid)).await;
    twiml(app, "/webhook/stream_ended", &in_progress(&sid)).await;
    let url = fakes.recording_url("RE0123456789abcdef0123456789abcdef");
    twiml(
        app,
        "/webhook/handle_recording",
        &recording_params(&sid, &url),
    )
    .await;
    app.state.background_settled().await;
    sid
}

/// The call's WARN and ERROR lines: what a failed assertion shows, since
/// the job chain behind a missing message leaves no other trace.
fn warnings_for(app: &TestApp, sid: &str) -> Vec<serde_json::Value> {
    lines_for(app, sid)
        .into_iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect()
}

#[tokio::test]
async fn a_voicemail_with_sms_notifications_to_two_numbers_sends_two_hebrew_sms_once() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "sms", &[OWNER_1, OWNER_2]).await;
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;

    let sent = fakes.seen().messages;
    assert_eq!(
        sent.len(),
        2,
        "one SMS per number: {sent:?}\n{:#?}",
        warnings_for(&app, &sid)
    );
    let mut to: Vec<&str> = sent.iter().map(|m| m["To"].as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, [OWNER_1, OWNER_2]);
    for message in &sent {
        let body = &message["Body"];
        assert!(
            body.starts_with("📞 שיחה חדשה מדני (050-1234567): "),
            "{body}"
        );
        assert!(body.contains(fakes::OUTCOME_SUMMARY), "{body}");
        assert!(body.contains("דחיפות: רגילה."), "{body}");
        assert!(body.contains("לחזור: מחר בבוקר."), "{body}");
        assert!(body.contains("שיחה #"), "{body}");
        assert!(body.chars().count() <= 600);
        // No TWILIO_SMS_FROM: the business's own number sends.
        assert_eq!(message["From"], BUSINESS_PHONE);
        assert_eq!(
            message["StatusCallback"],
            format!("{PUBLIC}/webhook/message_status")
        );
    }
    let rows = notifications::for_call(&app.state.db, &sid).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.status, "sent");
        assert_eq!(row.channel, "sms");
        assert!(row.message_sid.as_deref().unwrap().starts_with("SM"));
    }

    // Draining again, or running a job again by hand, sends nothing more.
    drain_all(&app).await;
    let payload = notify::Payload {
        call_sid: sid.clone(),
        to: OWNER_1.into(),
        business_id: None,
    };
    notify::run(&app.state, &serde_json::to_string(&payload).unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(fakes.seen().messages.len(), 2, "never twice per number");
}

#[tokio::test]
async fn twilio_answering_500_twice_then_201_sends_the_owner_exactly_one_sms() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "sms", &[OWNER_1]).await;
    fakes.set(|b| b.messages_failing = 2);
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;

    let sent = fakes.seen().messages;
    assert_eq!(
        sent.len(),
        3,
        "two 500s, then the one accepted: {sent:?}\n{:#?}",
        warnings_for(&app, &sid)
    );
    assert_eq!(fakes.seen().messages_failing, 0);
    let row = notifications::get(&app.state.db, &sid, OWNER_1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "sent");
    let job = agentlocator::db::jobs::get_by_dedupe_key(
        &app.state.db,
        &notify::dedupe_key(&sid, OWNER_1),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 3));

    // Later drains and reruns send nothing more.
    drain_all(&app).await;
    assert_eq!(fakes.seen().messages.len(), 3);
}

#[tokio::test]
async fn a_delivered_status_callback_updates_the_notification_and_unknown_sids_get_204() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "sms", &[OWNER_1]).await;
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;
    let row = notifications::get(&app.state.db, &sid, OWNER_1)
        .await
        .unwrap()
        .unwrap();
    let message_sid = row.message_sid.unwrap();

    let update = |status: &str| {
        owned(&[
            ("MessageSid", message_sid.as_str()),
            ("MessageStatus", status),
            ("AccountSid", fakes::ACCOUNT_SID),
        ])
    };
    let res = post_signed(&app, "/webhook/message_status", &update("delivered")).await;
    assert_eq!(res.status(), 204);
    // A late `sent` does not move the row back.
    let res = post_signed(&app, "/webhook/message_status", &update("sent")).await;
    assert_eq!(res.status(), 204);
    let row = notifications::get(&app.state.db, &sid, OWNER_1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "delivered");

    let unknown = owned(&[
        ("MessageSid", "SM00000000000000000000000000000000"),
        ("MessageStatus", "delivered"),
    ]);
    let res = post_signed(&app, "/webhook/message_status", &unknown).await;
    assert_eq!(res.status(), 204);
    let unsigned = post_form(&app, "/webhook/message_status", &unknown, None).await;
    assert_ne!(unsigned.status(), 204, "the signature layer guards it");
}

#[tokio::test]
async fn a_business_with_notify_channel_none_gets_no_message() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "none", &[OWNER_1]).await;
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;

    assert_eq!(fakes.seen().llm_calls, 1, "the outcome still ran");
    assert!(fakes.seen().messages.is_empty());
    assert!(
        notifications::for_call(&app.state.db, &sid)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn whatsapp_notifications_send_the_template_with_hebrew_variables() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = TestApp::spawn_with(|v| {
        v.extend(fakes.vars());
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
        v.insert(
            "TWILIO_WHATSAPP_FROM".into(),
            "whatsapp:+14155238886".into(),
        );
        v.insert(
            "TWILIO_WHATSAPP_CONTENT_SID".into(),
            "HX0123456789abcdef0123456789abcdef".into(),
        );
    })
    .await;
    notifying_business(&app, "whatsapp", &[OWNER_1]).await;
    voicemail(&app, &fakes).await;
    drain_all(&app).await;

    let sent = fakes.seen().messages;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let message = &sent[0];
    assert_eq!(message["To"], format!("whatsapp:{OWNER_1}"));
    assert_eq!(message["From"], "whatsapp:+14155238886");
    assert_eq!(message["ContentSid"], "HX0123456789abcdef0123456789abcdef");
    assert!(!message.contains_key("Body"));
    let variables: serde_json::Value = serde_json::from_str(&message["ContentVariables"]).unwrap();
    assert_eq!(variables["1"], "דני (050-1234567)");
    assert_eq!(variables["2"], fakes::OUTCOME_SUMMARY);
    assert_eq!(variables["3"], "רגילה");
}

#[tokio::test]
async fn a_message_twilio_took_whose_answer_was_lost_is_found_again_and_never_sent_twice() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "sms", &[OWNER_1]).await;
    // Twilio takes the message but the answer never reaches us: the job
    // cannot know it was sent, and retries.
    fakes.set(|b| b.messages_answer_lost = 1);
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;

    let seen = fakes.seen();
    assert_eq!(seen.messages.len(), 1, "posted once: {:?}", seen.messages);
    assert_eq!(seen.accepted.len(), 1);
    let row = notifications::get(&app.state.db, &sid, OWNER_1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "sent");
    assert_eq!(
        row.message_sid.as_deref(),
        seen.accepted[0]["sid"].as_str(),
        "the retry found the message Twilio holds"
    );
}

#[tokio::test]
async fn a_restart_between_the_stored_outcome_and_the_message_still_sends_exactly_one() {
    use agentlocator::db::{business, calls};
    use agentlocator::domain::PhoneNumber;
    use agentlocator::domain::settings::BusinessName;
    use agentlocator::jobs::{self, outcome};

    let env = crate::jobs::env(VOICEMAIL_HE, true).await;
    let first = &env.state;
    let phone = PhoneNumber::parse(BUSINESS_PHONE).unwrap();
    let b = business::create(
        &first.db,
        &BusinessName::parse("מספרת דני").unwrap(),
        &phone,
    )
    .await
    .unwrap();
    let change = AdminChange {
        notify_channel: Some(serde_json::from_value(serde_json::json!("sms")).unwrap()),
        notify_to: Some(serde_json::from_value(serde_json::json!([OWNER_1])).unwrap()),
        ..Default::default()
    };
    first
        .directory
        .update(&first.db, b.id, &change)
        .await
        .unwrap();
    let sid = new_sid();
    calls::upsert(
        &first.db,
        &calls::NewCall {
            call_sid: &sid,
            business_id: b.id,
            customer_id: None,
            from_number: "+972501234567",
            to_number: BUSINESS_PHONE,
            status: "completed",
            mode: calls::CallMode::Record,
        },
    )
    .await
    .unwrap();
    calls::set_transcript(&first.db, &sid, VOICEMAIL_HE)
        .await
        .unwrap();

    // The first process stores the outcome, which queues the message, and
    // dies before any worker sends it.
    let payload = outcome::Payload {
        call_sid: sid.clone(),
        business_id: Some(b.id),
    };
    outcome::run(first, &serde_json::to_string(&payload).unwrap(), 1)
        .await
        .unwrap();
    first.db.pool.close().await;
    assert!(env.fakes.seen().messages.is_empty());

    // The restarted process sends it; a third finds nothing left to send.
    for _ in 0..2 {
        let process = crate::jobs::state_for(&env.url, &env._dir, &env.fakes, true).await;
        jobs::drain(&process).await.unwrap();
        process.db.pool.close().await;
    }
    let sent = env.fakes.seen().messages;
    assert_eq!(sent.len(), 1, "exactly one SMS: {sent:?}");
    assert_eq!(sent[0]["To"], OWNER_1);
    assert!(sent[0]["Body"].contains(fakes::OUTCOME_SUMMARY));
}
