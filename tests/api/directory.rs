//! The business directory in memory: calls are set up from it, changes made
//! through this instance show at once, changes made elsewhere at the next
//! refresh, and a stopped database does not cost a known caller the agent.

use agentlocator::db::business;
use agentlocator::domain::PhoneNumber;
use agentlocator::domain::settings::{AdminChange, BusinessName};

use crate::calls::{PUBLIC, TOKEN, app_with_providers, greeted, refused};
use crate::helpers::TestApp;
use crate::process::Twilio;

const TWILIO: Twilio = Twilio {
    token: TOKEN,
    public: PUBLIC,
};

async fn register(app: &TestApp, name: &str, phone: &str) -> business::Business {
    business::create(
        &app.state.db,
        &BusinessName::parse(name).unwrap(),
        &PhoneNumber::parse(phone).unwrap(),
    )
    .await
    .unwrap()
}

/// `incoming_call` for `sid` to `to`; the TwiML it answered.
async fn incoming(app: &TestApp, sid: &str, to: &str) -> String {
    let params = [
        ("CallSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+972501234567"),
        ("To", to),
        ("CallStatus", "ringing"),
    ];
    let (status, body) = TWILIO
        .post(&app.base, "/webhook/incoming_call", &params)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn business_id_parameter(id: i64) -> String {
    format!(r#"<Parameter name="business_id" value="{id}"/>"#)
}

#[tokio::test]
async fn with_the_database_stopped_a_caller_of_a_known_business_still_gets_the_agent() {
    let (app, _dir) = app_with_providers().await;
    let biz = register(&app, "מאפיית השכונה", "+97235550901").await;
    app.state.directory.refresh(&app.state.db).await.unwrap();

    app.state.db.pool.close().await;
    let sid = "CAdirectory00000000000000000000001";
    let twiml = incoming(&app, sid, "+97235550901").await;
    assert!(twiml.contains(&business_id_parameter(biz.id)), "{twiml}");

    let mut ws = TWILIO
        .open_stream(&app.base, sid, &biz.id.to_string())
        .await;
    assert!(
        greeted(&mut ws).await,
        "the caller hears the agent's greeting"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("agentlocator_calls_unconfirmed_total 1"),
        "counted as streamed without the database: {metrics}"
    );
    drop(ws);
    app.state.background_settled().await;
    assert!(
        app.state.spool.waiting() >= 1,
        "the call row waits in the spool for the database"
    );
}

#[tokio::test]
async fn a_change_made_through_this_instance_answers_the_next_call_at_once() {
    let (app, _dir) = app_with_providers().await;
    let biz = register(&app, "מוסך דוד", "+97235550902").await;
    assert!(
        incoming(&app, "CAdirectory00000000000000000000002", "+97235550902")
            .await
            .contains("<Stream")
    );

    let off = AdminChange {
        enable_calls_stream: Some(false),
        ..AdminChange::default()
    };
    app.state
        .directory
        .update(&app.state.db, biz.id, &off)
        .await
        .unwrap()
        .unwrap();
    let twiml = incoming(&app, "CAdirectory00000000000000000000003", "+97235550902").await;
    assert!(!twiml.contains("<Stream"), "{twiml}");
    assert!(twiml.contains("<Record"), "{twiml}");
}

#[tokio::test]
async fn a_refresh_that_read_a_row_from_before_an_update_does_not_undo_the_update() {
    let (app, _dir) = app_with_providers().await;
    let biz = register(&app, "מספרת הדר", "+97235550905").await;
    app.state.directory.refresh(&app.state.db).await.unwrap();
    let categories = AdminChange {
        categories: Some(serde_json::from_value(serde_json::json!(["קביעת תור"])).unwrap()),
        ..AdminChange::default()
    };
    let updated = app
        .state
        .directory
        .update(&app.state.db, biz.id, &categories)
        .await
        .unwrap()
        .unwrap();
    // What a refresh whose read began just before the update committed
    // gets: the row as it was, stamped a moment earlier.
    let earlier = agentlocator::domain::Timestamp::parse(updated.updated_at.as_deref().unwrap())
        .unwrap()
        .shifted(-time::Duration::milliseconds(1));
    sqlx::query("UPDATE business SET categories = $1, updated_at = $2 WHERE id = $3")
        .bind(serde_json::to_string(&biz.categories).unwrap())
        .bind(earlier.to_string())
        .bind(biz.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    app.state.directory.refresh(&app.state.db).await.unwrap();

    let known = app
        .state
        .directory
        .by_id(&app.state.db, biz.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known.categories, updated.categories);
}

#[tokio::test]
async fn a_change_made_elsewhere_shows_at_the_next_refresh_even_a_number_moving_between_businesses()
{
    let (app, _dir) = app_with_providers().await;
    let first = register(&app, "קפה רוטשילד", "+97235550903").await;
    app.state.directory.refresh(&app.state.db).await.unwrap();
    assert!(
        incoming(&app, "CAdirectory00000000000000000000004", "+97235550903")
            .await
            .contains(&business_id_parameter(first.id))
    );

    // Another instance (or the CLI) gives the number up and a second
    // business takes it: this instance knows nothing of it yet.
    let moved = AdminChange {
        phone_number: Some(PhoneNumber::parse("+97235550904").unwrap()),
        ..AdminChange::default()
    };
    business::update(&app.state.db, first.id, &moved)
        .await
        .unwrap()
        .unwrap();
    app.state.directory.refresh(&app.state.db).await.unwrap();
    let released = incoming(&app, "CAdirectory00000000000000000000007", "+97235550903").await;
    assert!(released.contains("<Hangup"), "not in service: {released}");

    let second = register(&app, "קפה אלנבי", "+97235550903").await;
    app.state.directory.refresh(&app.state.db).await.unwrap();
    let old_number = incoming(&app, "CAdirectory00000000000000000000005", "+97235550903").await;
    assert!(
        old_number.contains(&business_id_parameter(second.id)),
        "{old_number}"
    );
    let new_number = incoming(&app, "CAdirectory00000000000000000000006", "+97235550904").await;
    assert!(
        new_number.contains(&business_id_parameter(first.id)),
        "{new_number}"
    );
}

#[tokio::test]
async fn a_change_made_with_the_cli_reaches_the_running_server_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(&dir).await;
    let phone = "+97235550905";
    let id = crate::process::create_business(dir.path(), &url, "צרכניית הגבעה", phone);
    let mut server = crate::logging::Running::start(
        dir.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("PUBLIC_BASE_URL", PUBLIC),
        ],
    );
    let port = server.wait_for(|l| l["msg"] == "AgentLocator listening")["extra"]["port"]
        .as_u64()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let answer = |sid: &'static str| {
        let base = base.clone();
        async move {
            let params = [
                ("CallSid", sid),
                ("From", "+972501234567"),
                ("To", phone),
                ("CallStatus", "ringing"),
            ];
            TWILIO
                .post(&base, "/webhook/incoming_call", &params)
                .await
                .1
        }
    };
    assert!(
        answer("CAcli000000000000000000000000000001")
            .await
            .contains("<Stream")
    );

    crate::process::cli(
        dir.path(),
        &url,
        &["business", "update", &id, "--enable-calls-stream", "false"],
    );
    crate::process::eventually("the server answers with the recording", || async {
        answer("CAcli000000000000000000000000000002")
            .await
            .contains("<Record")
    })
    .await;
    assert!(server.stop().success());
}

#[tokio::test]
async fn a_stream_naming_another_business_than_the_one_this_instance_answered_for_is_refused() {
    let (app, _dir) = app_with_providers().await;
    let ours = register(&app, "ספריית העיר", "+97235550906").await;
    let other = register(&app, "חנות הפרחים", "+97235550907").await;
    let sid = "CAdirectory00000000000000000000008";
    incoming(&app, sid, "+97235550906").await;

    let forged = TWILIO
        .open_stream(&app.base, sid, &other.id.to_string())
        .await;
    assert_eq!(refused(forged).await, Some(1008));
    let mut honest = TWILIO
        .open_stream(&app.base, sid, &ours.id.to_string())
        .await;
    assert!(
        greeted(&mut honest).await,
        "the call's own stream still gets it"
    );
}
