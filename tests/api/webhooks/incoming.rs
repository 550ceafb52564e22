//! `incoming_call`: the stream TwiML, the flag matrix, unknown numbers and
//! a database that is down or hanging.

use std::time::{Duration, Instant};

use agentlocator::db::{calls, customers};
use sqlx::Row;

use super::*;
use crate::helpers::TestApp;

/// Checks `<Response><Connect action><Stream url><Parameter …/>` and
/// returns the parameters.
fn assert_stream(root: &Element) -> Vec<(String, String)> {
    assert_eq!(root.names(), vec!["Connect"]);
    let connect = &root.children[0];
    connect.assert_attrs(&[("action", "/webhook/stream_ended")]);
    assert_eq!(connect.names(), vec!["Stream"]);
    let stream = &connect.children[0];
    stream.assert_attrs(&[("url", "wss://voice.example.test/ws/twilio-media")]);
    stream
        .children
        .iter()
        .map(|p| {
            assert_eq!(p.name, "Parameter");
            assert!(p.children.is_empty());
            (
                p.attr("name").unwrap().to_string(),
                p.attr("value").unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks the fallback: a Hebrew prompt, then exactly the §3.2 `<Record>`.
pub fn assert_record_fallback(root: &Element) {
    assert_eq!(root.names(), vec!["Say", "Record"]);
    let say = &root.children[0];
    assert_eq!(say.attr("language"), Some("he-IL"));
    assert!(
        say.attr("voice")
            .is_some_and(|v| v.starts_with("Google.he-IL-")),
        "{say:?}"
    );
    assert!(!say.text.trim().is_empty());
    root.children[1].assert_attrs(&[
        ("playBeep", "false"),
        ("timeout", "4"),
        ("maxLength", "30"),
        ("transcribe", "false"),
        ("action", "/webhook/handle_recording"),
    ]);
}

/// Checks a Hebrew line followed by `<Hangup/>`; returns the line.
pub fn assert_goodbye(root: &Element) -> String {
    assert_eq!(root.names(), vec!["Say", "Hangup"]);
    assert_eq!(root.children[0].attr("language"), Some("he-IL"));
    assert!(root.children[1].attrs.is_empty());
    root.children[0].text.clone()
}

#[tokio::test]
async fn incoming_call_streams_to_the_public_host_with_the_business_id_and_records_the_call() {
    let app = spawn().await;
    let b = business(&app).await;
    let sid = new_sid();
    let (status, root) = twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    assert_eq!(status, 200);
    // The caller's number rides along so the agent can greet a returning
    // customer by name.
    assert_eq!(
        assert_stream(&root),
        vec![
            ("business_id".to_string(), b.id.to_string()),
            ("from".to_string(), CALLER.to_string()),
        ]
    );

    // Written beside the answer.
    settled(&app).await;
    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.business_id, Some(b.id));
    assert_eq!(call.mode, "stream");
    assert_eq!(call.from_number.as_deref(), Some(CALLER));
    assert_eq!(call.to_number.as_deref(), Some(BUSINESS_PHONE));
    assert_eq!(call.status.as_deref(), Some("ringing"));
    let customer = customers::upsert_by_phone(&app.state.db, b.id, CALLER)
        .await
        .unwrap();
    assert_eq!(call.customer_id, Some(customer));

    let answered = lines_for(&app, &sid)
        .into_iter()
        .find(|l| l["msg"] == "incoming call answered")
        .expect("answer logged");
    assert_eq!(answered["business_id"], b.id);
}

#[tokio::test]
async fn the_flag_matrix_chooses_stream_recording_or_goodbye_at_both_webhooks() {
    let app = spawn().await;
    let b = business(&app).await;
    for (stream_on, fallback_on) in [(true, true), (true, false), (false, true), (false, false)] {
        set_flags(&app, b.id, stream_on, fallback_on).await;
        let sid = new_sid();
        let (_, incoming) = twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
        let mut in_progress = call_params(&sid);
        in_progress[4].1 = "in-progress".into();
        let (_, ended) = twiml(&app, "/webhook/stream_ended", &in_progress).await;
        let case = format!("stream={stream_on} fallback={fallback_on}");
        match (stream_on, fallback_on) {
            (true, _) => {
                assert_stream(&incoming);
            }
            (false, true) => assert_record_fallback(&incoming),
            (false, false) => {
                assert_goodbye(&incoming);
            }
        }
        if fallback_on {
            assert_record_fallback(&ended);
        } else {
            assert_goodbye(&ended);
        }
        settled(&app).await;
        let call = calls::get_by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .unwrap();
        let expected_mode = if stream_on && !fallback_on {
            "stream"
        } else {
            "record"
        };
        assert_eq!(call.mode, expected_mode, "{case}");
    }
}

#[tokio::test]
async fn an_unknown_number_hears_not_in_service_and_hangs_up_with_a_warning() {
    let app = spawn().await;
    let sid = new_sid();
    let (status, root) = twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    assert_eq!(status, 200);
    let line = assert_goodbye(&root);
    assert_eq!(line, agentlocator::http::webhooks::NOT_IN_SERVICE_HE);
    assert!(
        lines_for(&app, &sid)
            .iter()
            .any(|l| l["level"] == "WARN" && l["msg"].as_str().unwrap().contains("no business"))
    );
    assert!(
        calls::get_by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_to_number_that_is_not_a_phone_number_hears_not_in_service() {
    let app = spawn().await;
    business(&app).await;
    let mut params = call_params(&new_sid());
    params[3].1 = "client:alice".into();
    let (status, root) = twiml(&app, "/webhook/incoming_call", &params).await;
    assert_eq!(status, 200);
    assert_goodbye(&root);
}

#[tokio::test]
async fn an_anonymous_caller_is_recorded_once_per_business_as_anonymous() {
    let app = spawn().await;
    let b = business(&app).await;
    for _ in 0..2 {
        let sid = new_sid();
        let mut params = call_params(&sid);
        params[2].1 = "anonymous".into();
        let (status, _) = twiml(&app, "/webhook/incoming_call", &params).await;
        assert_eq!(status, 200);
        // The call row is written beside the answer.
        settled(&app).await;
        let call = calls::get_by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(call.from_number.as_deref(), Some("anonymous"));
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM customer WHERE business_id = $1")
        .bind(b.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_retried_incoming_call_keeps_one_call_row() {
    let app = spawn().await;
    business(&app).await;
    let sid = new_sid();
    for _ in 0..3 {
        let (status, _) = twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
        assert_eq!(status, 200);
    }
    settled(&app).await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM call_log WHERE call_sid = $1")
        .bind(&sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn when_the_database_is_down_a_number_not_in_the_directory_still_streams_with_the_dialled_number()
 {
    let app = spawn().await;
    app.state.db.pool.close().await;
    let sid = new_sid();
    let started = Instant::now();
    let (status, root) = twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        assert_stream(&root),
        vec![("to".to_string(), BUSINESS_PHONE.to_string())]
    );
    assert!(lines_for(&app, &sid).iter().any(|l| l["level"] == "ERROR"));

    // The fallback path still records rather than dropping the caller.
    let mut in_progress = call_params(&sid);
    in_progress[4].1 = "in-progress".into();
    let (status, root) = twiml(&app, "/webhook/stream_ended", &in_progress).await;
    assert_eq!(status, 200);
    assert_record_fallback(&root);
}

#[tokio::test]
async fn when_the_database_hangs_incoming_call_answers_within_the_budget() {
    // A "database" that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let app = TestApp::spawn_with(|v| {
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
        v.insert(
            "DATABASE_URL".into(),
            format!("postgres://nobody@127.0.0.1:{port}/none"),
        );
    })
    .await;
    let sid = new_sid();
    let started = Instant::now();
    let (status, root) = twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(1800), "took {took:?}");
    assert_stream(&root);
}

#[tokio::test]
async fn a_burst_of_callers_on_a_one_connection_pool_is_answered_and_every_call_is_recorded() {
    let app = TestApp::spawn_with(|v| {
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
        // PostgreSQL's pool at its smallest; SQLite keeps its two.
        v.insert("DATABASE_MAX_CONNECTIONS".into(), "1".into());
    })
    .await;
    let b = business(&app).await;
    let calls: Vec<_> = (0..200).map(|_| call_params(&new_sid())).collect();
    let started = Instant::now();
    let answers = futures::future::join_all(
        calls
            .iter()
            .map(|params| twiml(&app, "/webhook/incoming_call", params)),
    )
    .await;
    let took = started.elapsed();
    for (status, root) in &answers {
        assert_eq!(*status, 200);
        assert_stream(root);
    }
    assert!(took < Duration::from_secs(10), "took {took:?}");

    settled(&app).await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM call_log WHERE business_id = $1")
        .bind(b.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 200, "every call has its row");
}
