//! `agentlocator deploy-check`, run as an operator would, against a live server.

use std::process::Command;

use agentlocator::db::users::{self, Role};

use crate::calls::{PUBLIC, TOKEN, app_with_providers};
use crate::helpers::TestApp;

async fn admin_token(app: &TestApp) -> String {
    let hash = agentlocator::auth::password::hash("deploy-check-password").unwrap();
    users::create(
        &app.state.db,
        "ops@agentlocator.test",
        &hash,
        Role::Admin,
        None,
    )
    .await
    .unwrap();
    let res: serde_json::Value = app
        .client
        .post(format!("{}/api/auth/login", app.base))
        .json(&serde_json::json!({"email": "ops@agentlocator.test", "password": "deploy-check-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["token"].as_str().unwrap().to_string()
}

async fn deploy_check(
    app: &TestApp,
    twilio_token: &str,
    api_token: &str,
    cwd: &std::path::Path,
) -> (bool, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentlocator"));
    cmd.args(["deploy-check", "--url", &app.base, "--public-url", PUBLIC])
        .env_clear()
        .env("TWILIO_AUTH_TOKEN", twilio_token)
        .env("DEPLOY_CHECK_API_TOKEN", api_token)
        .current_dir(cwd);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    (out.status.success(), lines)
}

#[tokio::test]
async fn deploy_check_passes_all_eight_checks_against_a_healthy_instance() {
    let (app, dir) = app_with_providers().await;
    let api = admin_token(&app).await;
    let (ok, lines) = deploy_check(&app, TOKEN, &api, dir.path()).await;
    assert_eq!(
        lines,
        vec![
            "✅ healthz",
            "✅ readyz",
            "✅ stream->action",
            "✅ fallback record",
            "✅ whisper pipeline",
            "✅ payments flags (PP/TZ)",
            "✅ no-legacy-imports",
            "✅ turn_metrics logged (< 2500ms avg)",
        ]
    );
    assert!(ok, "exit code 0 when everything passes");
}

#[tokio::test]
async fn deploy_check_with_the_wrong_signing_key_fails_the_webhook_checks_and_exits_non_zero() {
    let (app, dir) = app_with_providers().await;
    let api = admin_token(&app).await;
    let (ok, lines) = deploy_check(&app, "not-the-instance-token", &api, dir.path()).await;
    assert!(!ok);
    assert_eq!(lines.len(), 8, "{lines:?}");
    assert_eq!(lines[0], "✅ healthz");
    for (i, name) in [
        (2, "stream->action"),
        (3, "fallback record"),
        (4, "whisper pipeline"),
    ] {
        assert!(
            lines[i].starts_with(&format!("❌ {name} — ")),
            "{}",
            lines[i]
        );
        assert!(lines[i].contains("403"), "says why: {}", lines[i]);
    }
    assert!(lines[7].starts_with("❌ turn_metrics"), "{}", lines[7]);
}
