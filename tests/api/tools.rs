//! The business's tools the agent runs during a call (issue 14): transfer,
//! hang up, take a message, opening hours; the returning caller's greeting
//! and context; and the owner's `tools` setting. Runs on both backends.

use std::sync::Arc;

use agentlocator::auth::Role;
use agentlocator::call_actions::CallAction;
use agentlocator::db::business::Business;
use agentlocator::db::{calls, customers};
use agentlocator::domain::settings::AdminChange;
use agentlocator::http::media_ws::{agent_context, default_greeting, tools_for};
use agentlocator::tools::{BusinessTools, NO_TRANSFER_HE};
use call::{CallEnd, CallTools, ToolOutput};
use serde_json::{Value, json};
use sqlx::Row;

use crate::crm_support::{Api, create_user};
use crate::helpers::TestApp;
use crate::webhooks::{
    CALLER, Element, ElementExt, PUBLIC, TOKEN, business, call_params, in_progress, new_sid,
    post_signed, twiml,
};

const HUMAN: &str = "+972541112233";

async fn spawn() -> TestApp {
    TestApp::spawn_with(|v| {
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
    })
    .await
}

/// A schedule that is never open.
fn closed_all_week() -> Value {
    json!({"timezone": "Asia/Jerusalem", "weekly": {
        "sun": [], "mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": []
    }})
}

/// The business with `change` applied.
async fn with_settings(app: &TestApp, change: Value) -> Arc<Business> {
    let b = business(app).await;
    let change: AdminChange = serde_json::from_value(change).unwrap();
    Arc::new(
        app.state
            .directory
            .update(&app.state.db, b.id, &change)
            .await
            .unwrap()
            .unwrap(),
    )
}

/// A call `incoming_call` answered from [`CALLER`], and its tools as the
/// stream would get them.
async fn call_with_tools(app: &TestApp, b: &Arc<Business>) -> (String, BusinessTools) {
    let sid = answered(app).await;
    let agent = agent_context(&app.state, b, Some(CALLER), &sid).await;
    let tools = tools_for(&app.state, b, &sid, &agent).expect("the business has tools");
    (sid, tools)
}

async fn answered(app: &TestApp) -> String {
    let sid = new_sid();
    let (status, _) = twiml(app, "/webhook/incoming_call", &call_params(&sid)).await;
    assert_eq!(status, 200);
    app.state.background_settled().await;
    sid
}

fn content(out: &ToolOutput) -> Value {
    serde_json::from_str(&out.content).unwrap_or_else(|e| panic!("{e}: {}", out.content))
}

async fn stream_ended(app: &TestApp, sid: &str) -> Element {
    let res = post_signed(app, "/webhook/stream_ended", &in_progress(sid)).await;
    assert_eq!(res.status(), 200);
    crate::webhooks::parse(&res.text().await.unwrap())
}

async fn name_caller(app: &TestApp, b: &Business, phone: &str, name: &str) -> i64 {
    let id = customers::upsert_by_phone(&app.state.db, b.id, phone)
        .await
        .unwrap();
    customers::record_contact(&app.state.db, id, Some(name))
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_transfer_while_open_dials_the_human_with_a_whisper_naming_the_caller() {
    let app = spawn().await;
    let b = with_settings(&app, json!({"transfer_number": HUMAN})).await;
    name_caller(&app, &b, CALLER, "דני כהן").await;
    let (sid, tools) = call_with_tools(&app, &b).await;
    assert!(tools.specs().iter().any(|s| s.name == "transfer_to_human"));

    let out = tools
        .run(
            "transfer_to_human",
            r#"{"reason": "רוצה לדבר על ההזמנה שלו"}"#,
        )
        .await;
    assert_eq!(content(&out), json!({"ok": true}));
    assert_eq!(out.ends_call, Some(CallEnd::Transfer));

    let root = stream_ended(&app, &sid).await;
    assert_eq!(root.names(), ["Dial"]);
    let number = &root.children[0].children[0];
    assert_eq!(number.text, HUMAN);
    let armed = app
        .state
        .call_actions
        .get(&app.state.db, &sid, tokio::time::Instant::now())
        .await
        .unwrap();
    let CallAction::Transfer { whisper_he, .. } = armed.action else {
        panic!("{armed:?}")
    };
    assert_eq!(
        whisper_he,
        "שיחה מדני כהן, 050-1234567: רוצה לדבר על ההזמנה שלו."
    );
    // The log is shared by the tests running at once: this run is the
    // only successful transfer.
    let logged = app.logs.lines();
    let run = logged
        .iter()
        .find(|l| {
            l["msg"] == "tool_run"
                && l["extra"]["tool"] == "transfer_to_human"
                && l["extra"]["ok"] == true
        })
        .unwrap_or_else(|| panic!("tool_run logged: {logged:?}"));
    let text = run.to_string();
    assert!(!text.contains("ההזמנה") && !text.contains("050"), "{text}");
}

#[tokio::test]
async fn a_transfer_out_of_hours_or_without_a_number_is_refused_with_a_hebrew_line() {
    let app = spawn().await;
    let closed = with_settings(
        &app,
        json!({"transfer_number": HUMAN, "hours": closed_all_week()}),
    )
    .await;
    let (sid, tools) = call_with_tools(&app, &closed).await;
    let out = tools
        .run("transfer_to_human", r#"{"reason": "שאלה"}"#)
        .await;
    assert_eq!(out.ends_call, None);
    let got = content(&out);
    assert_eq!(got["ok"], false);
    assert_eq!(got["error"], "closed");
    assert!(
        got["say"]
            .as_str()
            .unwrap()
            .starts_with("אנחנו סגורים עכשיו"),
        "{got}"
    );
    assert!(got["say"].as_str().unwrap().contains("הודעה"), "{got}");
    assert_eq!(stream_ended(&app, &sid).await.names(), ["Say", "Record"]);

    // Without a number the tool is not offered; a model that calls it anyway
    // hears why.
    let app = spawn().await;
    let none = with_settings(&app, json!({})).await;
    let (_, tools) = call_with_tools(&app, &none).await;
    assert!(!tools.specs().iter().any(|s| s.name == "transfer_to_human"));
    let out = tools
        .run("transfer_to_human", r#"{"reason": "שאלה"}"#)
        .await;
    assert_eq!(out.ends_call, None);
    let got = content(&out);
    assert_eq!(got["error"], "no_transfer_number");
    assert_eq!(got["say"], NO_TRANSFER_HE);
}

#[tokio::test]
async fn ending_the_call_hangs_up_when_the_stream_ends() {
    let app = spawn().await;
    let b = with_settings(&app, json!({})).await;
    let (sid, tools) = call_with_tools(&app, &b).await;
    let out = tools.run("end_call", "{}").await;
    assert_eq!(content(&out), json!({"ok": true}));
    assert_eq!(out.ends_call, Some(CallEnd::Hangup));
    assert_eq!(stream_ended(&app, &sid).await.names(), ["Hangup"]);
}

#[tokio::test]
async fn a_message_is_stored_on_the_call_and_the_customer_while_the_call_goes_on() {
    let app = spawn().await;
    let b = with_settings(&app, json!({})).await;
    let (sid, tools) = call_with_tools(&app, &b).await;
    let out = tools
        .run(
            "take_message",
            r#"{"name": "דני", "callback_number": "052-7654321", "message": "שיחזרו אליי לגבי התור", "preferred_time": "מחר בבוקר"}"#,
        )
        .await;
    assert_eq!(content(&out), json!({"ok": true}));
    assert_eq!(out.ends_call, None);

    // Before the stream ends: nothing waits for the call to finish.
    let stored = calls::message_of(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.message, "שיחזרו אליי לגבי התור");
    assert_eq!(stored.callback_number.as_deref(), Some("+972527654321"));
    let customer = sqlx::query(
        "SELECT name, callback_number, preferred_time FROM customer WHERE business_id = $1 AND phone = $2",
    )
    .bind(b.id)
    .bind(CALLER)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(
        customer.get::<Option<String>, _>("name").as_deref(),
        Some("דני")
    );
    assert_eq!(
        customer
            .get::<Option<String>, _>("callback_number")
            .as_deref(),
        Some("+972527654321")
    );
    assert_eq!(
        customer
            .get::<Option<String>, _>("preferred_time")
            .as_deref(),
        Some("מחר בבוקר")
    );

    let shown = crate::crm_support::call_detail_as_owner(&app, &sid).await;
    assert_eq!(shown["message"]["message"], "שיחזרו אליי לגבי התור");
    assert_eq!(shown["message"]["preferred_time"], "מחר בבוקר");
}

#[tokio::test]
async fn a_message_without_text_too_long_or_with_a_bad_number_is_refused_and_not_stored() {
    let app = spawn().await;
    let b = with_settings(&app, json!({})).await;
    let (sid, tools) = call_with_tools(&app, &b).await;
    let long = json!({"message": "א".repeat(1001)}).to_string();
    for (arguments, error) in [
        ("not json", "bad_arguments"),
        (r#"{"message": 5}"#, "bad_arguments"),
        (r#"{"name": "דני"}"#, "message_required"),
        (long.as_str(), "message_too_long"),
        (
            r#"{"message": "היי", "callback_number": "לא מספר"}"#,
            "bad_callback_number",
        ),
    ] {
        let out = tools.run("take_message", arguments).await;
        assert_eq!(content(&out)["error"], error, "{arguments}");
    }
    assert_eq!(calls::message_of(&app.state.db, &sid).await.unwrap(), None);
    assert_eq!(
        content(&tools.run("no_such_tool", "{}").await)["error"],
        "unknown_tool"
    );
}

#[tokio::test]
async fn business_hours_answer_open_or_closed_as_the_schedule_says() {
    let app = spawn().await;
    let always = with_settings(&app, json!({})).await;
    let (_, tools) = call_with_tools(&app, &always).await;
    let got = content(&tools.run("business_hours", "{}").await);
    assert_eq!(got["open"], true);
    assert!(
        got["summary"].as_str().unwrap().contains("בכל שעה"),
        "{got}"
    );

    let app = spawn().await;
    let closed = with_settings(&app, json!({"hours": closed_all_week()})).await;
    let (_, tools) = call_with_tools(&app, &closed).await;
    let got = content(&tools.run("business_hours", "").await);
    assert_eq!(got["open"], false);
    assert!(got["summary"].as_str().unwrap().contains("סגור"), "{got}");
}

#[tokio::test]
async fn a_returning_caller_is_greeted_by_name_and_the_agent_knows_their_last_calls() {
    let app = spawn().await;
    let b = with_settings(&app, json!({})).await;
    name_caller(&app, &b, CALLER, "דני").await;
    for (summary, started) in [
        ("ביקש תור לתספורת.", "2026-01-01T09:00:00.000Z"),
        ("שאל על מחיר צבע.", "2026-02-01T09:00:00.000Z"),
    ] {
        let sid = answered(&app).await;
        sqlx::query("UPDATE call_log SET summary = $1, started_at = $2 WHERE call_sid = $3")
            .bind(summary)
            .bind(started)
            .bind(&sid)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
    }
    let sid = answered(&app).await;

    let agent = agent_context(&app.state, &b, Some(CALLER), &sid).await;
    assert!(agent.greeting.starts_with("שלום דני"), "{}", agent.greeting);
    let prompt = &agent.system_prompt;
    let newer = prompt.find("שאל על מחיר צבע.").expect(prompt);
    let older = prompt.find("ביקש תור לתספורת.").expect(prompt);
    assert!(newer < older, "newest first: {prompt}");
    assert!(prompt.contains("דני"), "{prompt}");
}

#[tokio::test]
async fn a_withheld_number_is_never_matched_even_if_a_customer_row_is_named_anonymous() {
    let app = spawn().await;
    let b = with_settings(&app, json!({})).await;
    name_caller(&app, &b, "anonymous", "דני").await;
    let sid = new_sid();
    let agent = agent_context(&app.state, &b, Some("anonymous"), &sid).await;
    assert_eq!(agent.greeting, default_greeting(&b.name));
    assert!(agent.known.is_none());
    assert!(
        !agent.system_prompt.contains("דני"),
        "{}",
        agent.system_prompt
    );
    let none = agent_context(&app.state, &b, None, &sid).await;
    assert_eq!(none.greeting, default_greeting(&b.name));
}

#[tokio::test]
async fn the_tools_setting_refuses_unknown_names_and_an_empty_list_is_plain_chat() {
    let app = spawn().await;
    let b = business(&app).await;
    let owner = create_user(&app, Role::Owner, Some(b.id)).await;
    let api = Api::new(&app, Some(&owner.token));
    let read = api.get("/api/crm/business").await;
    assert_eq!(
        read.json["tools"],
        json!([
            "transfer_to_human",
            "end_call",
            "take_message",
            "business_hours"
        ]),
        "all by default"
    );
    let bad = api
        .patch("/api/crm/business", &json!({"tools": ["fly_a_kite"]}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("tools"), "{}", bad.text);

    let set = api.patch("/api/crm/business", &json!({"tools": []})).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json["tools"], json!([]));
    let b = app
        .state
        .directory
        .by_id(&app.state.db, b.id)
        .await
        .unwrap()
        .unwrap();
    let sid = answered(&app).await;
    let agent = agent_context(&app.state, &b, Some(CALLER), &sid).await;
    assert!(tools_for(&app.state, &b, &sid, &agent).is_none());
    assert!(
        !agent.system_prompt.contains("## כלים"),
        "{}",
        agent.system_prompt
    );
}

#[tokio::test]
async fn the_tools_a_turn_ran_are_stored_with_it_and_shown_in_the_call_detail() {
    let app = spawn().await;
    let b = with_settings(&app, json!({})).await;
    let sid = answered(&app).await;
    let turn = calls::CallTurn {
        call_sid: sid.clone(),
        business_id: b.id,
        turn_id: 1,
        started_at: "2026-01-01T09:00:00.000Z".into(),
        mode: "stream".into(),
        t_audio_ms: None,
        t_stt_ms: None,
        t_nlp_ms: None,
        t_tts_ms: None,
        t_total_ms: None,
        endpointing_ms: None,
        barge_in: false,
        user_text: Some("מתי אתם פתוחים?".into()),
        agent_text: Some("אנחנו פתוחים עד שש.".into()),
        error_code: None,
        tools: vec![calls::ToolRun {
            name: "business_hours".into(),
            arguments: "{}".into(),
            result: r#"{"open":true}"#.into(),
            duration_ms: 12,
        }],
        guesses: Some(1),
        wasted_calls: Some(0),
        speculative: true,
        ended_by: None,
        snr_db: None,
    };
    calls::insert_turn(&app.state.db, &turn).await.unwrap();
    let shown = crate::crm_support::call_detail_as_owner(&app, &sid).await;
    assert_eq!(
        shown["turns"][0]["tools"],
        json!([{"name": "business_hours", "arguments": "{}", "result": "{\"open\":true}", "duration_ms": 12}])
    );
    let (_, spec) = app.get_json("/api/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    assert!(schemas["CallDetail"]["properties"]["message"].is_object());
    assert!(schemas["TurnView"]["properties"]["tools"].is_object());
}
