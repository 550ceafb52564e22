use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn readyz_reports_every_dependency_and_what_is_disabled() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"db":"ok","openai":"disabled","tts":"disabled",
               "payments":{"paypal":"disabled","tranzila":"disabled"}})
    );
}

#[tokio::test]
async fn readyz_reports_configured_providers_as_ok_and_enabled() {
    let app = TestApp::spawn_with(|v| {
        v.insert("OPENAI_API_KEY".into(), "sk-test".into());
        v.insert("PAYPAL_CLIENT_ID".into(), "id".into());
        v.insert("PAYPAL_SECRET".into(), "secret".into());
    })
    .await;
    let (_, body) = app.get_json("/readyz").await;
    assert_eq!(body["openai"], "ok");
    assert_eq!(body["payments"]["paypal"], "enabled");
    assert_eq!(body["payments"]["tranzila"], "disabled");
}

#[tokio::test]
async fn readyz_says_db_fail_quickly_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.state.db.pool.close().await;
    let started = Instant::now();
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["db"], "fail");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn version_reports_commit_and_build_time_or_dev() {
    let app = TestApp::spawn().await;
    let (_, body) = app.get_json("/version").await;
    assert_eq!(
        body,
        json!({"app":"AgentLocator","commit":"dev","build_time":"dev"})
    );

    let app = TestApp::spawn_with(|v| {
        v.insert("GIT_COMMIT".into(), "abc123".into());
        v.insert("BUILD_TIME".into(), "2026-11-24T00:00:00Z".into());
    })
    .await;
    let (_, body) = app.get_json("/version").await;
    assert_eq!(body["commit"], "abc123");
    assert_eq!(body["build_time"], "2026-11-24T00:00:00Z");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert!(res.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn metrics_expose_request_counts_and_the_job_queue_in_prometheus_text() {
    let app = TestApp::spawn().await;
    app.get("/healthz").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("agentlocator_http_requests_total{route=\"/healthz\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("agentlocator_jobs{status=\"queued\"} 0"),
        "{text}"
    );
    // SQLite's pool is its one writer and a reader, whatever is set.
    let max = if app.database_url.starts_with("sqlite") {
        2
    } else {
        crate::helpers::TEST_PG_CONNECTIONS
    };
    assert!(
        text.contains(&format!("agentlocator_db_connections_max {max}\n")),
        "{text}"
    );
    assert!(
        text.contains("agentlocator_db_connections{state=\"idle\"}"),
        "{text}"
    );
    // Once its start-up work is done, an instance at rest holds no
    // connection: not even the scrape's own, which a count taken after
    // its query would show at every scrape.
    crate::process::eventually("a scrape shows no connection in use", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.contains("agentlocator_db_connections{state=\"in_use\"} 0\n")
    })
    .await;
    assert!(
        text.contains("# TYPE agentlocator_turn_ms histogram"),
        "{text}"
    );
    assert!(text.contains("agentlocator_calls_in_progress 0"), "{text}");
}
