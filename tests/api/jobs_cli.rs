//! `agentlocator jobs list|requeue`, run as an operator would.

use std::process::Command;

use agentlocator::db::{Db, jobs, migrate};
use serde_json::Value;

use crate::helpers::fresh_database_url;

fn jobs_cli(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .arg("jobs")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn an_operator_lists_dead_jobs_and_requeues_one_with_fresh_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let db = Db::connect(&url, crate::helpers::TEST_PG_CONNECTIONS)
        .await
        .unwrap();
    migrate::run(&db).await.unwrap();
    let dead = jobs::enqueue(&db, "transcribe", Some("transcribe:CAdead"), "{}", 5)
        .await
        .unwrap();
    let alive = jobs::enqueue(&db, "transcribe", Some("transcribe:CAalive"), "{}", 5)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE job SET status = 'dead', attempts = 5, last_error = 'STT disabled' WHERE id = $1",
    )
    .bind(dead.id)
    .execute(&db.pool)
    .await
    .unwrap();

    let (ok, out) = jobs_cli(&url, &["list", "--status", "dead"]);
    assert!(ok);
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], dead.id);
    assert_eq!(listed[0]["last_error"], "STT disabled");
    assert!(listed.iter().all(|j| j["id"] != alive.id));

    let (ok, _) = jobs_cli(&url, &["requeue", &dead.id.to_string()]);
    assert!(ok);
    let job = jobs::get(&db, dead.id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 0));

    let (ok, _) = jobs_cli(&url, &["requeue", "999999"]);
    assert!(!ok, "an unknown job is an error");
}
