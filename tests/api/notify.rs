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
    app.state
        .directory
        .update(&app.state.db, b.id, &change)
        .await
        .unwrap()
        .unwrap();
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

#[tokio::test]
async fn a_voicemail_with_sms_notifications_to_two_numbers_sends_two_hebrew_sms_once() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "sms", &[OWNER_1, OWNER_2]).await;
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;

    let sent = fakes.seen().messages;
    assert_eq!(sent.len(), 2, "one SMS per number: {sent:?}");
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
async fn a_twilio_503_is_retried_and_the_owner_gets_exactly_one_sms() {
    let fakes = Fakes::start(VOICEMAIL_HE).await;
    let app = spawn_with_fakes(&fakes).await;
    notifying_business(&app, "sms", &[OWNER_1]).await;
    fakes.set(|b| b.messages_503_once = true);
    let sid = voicemail(&app, &fakes).await;
    drain_all(&app).await;

    let sent = fakes.seen().messages;
    assert_eq!(sent.len(), 2, "the 503, then the retry: {sent:?}");
    assert!(!fakes.seen().messages_503_once);
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
    assert_eq!((job.status.as_str(), job.attempts), ("done", 2));
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
