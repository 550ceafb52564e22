//! `agentlocator business …` run as the real binary, as an operator would.

use std::process::Output;

use serde_json::Value;

use crate::helpers::fresh_database_url;

fn run(dir: &tempfile::TempDir, url: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .arg("business")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn an_operator_creates_updates_and_lists_a_business_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;

    let created = json(&run(
        &dir,
        &url,
        &[
            "create",
            "--name",
            "Pizza Tel Aviv",
            "--phone",
            "03-555-0001",
        ],
    ));
    let id = created["id"].as_i64().expect("an id");
    assert_eq!(created.as_object().unwrap().len(), 1);

    let updated = json(&run(
        &dir,
        &url,
        &[
            "update",
            &id.to_string(),
            "--greeting",
            "שלום, פיצה תל אביב",
            "--system-prompt",
            "You take orders.",
            "--enable-calls-stream",
            "false",
            "--enable-payments-paypal",
            "true",
        ],
    ));
    assert_eq!(updated["id"], id);
    assert_eq!(updated["phone_number"], "+97235550001");
    assert_eq!(updated["greeting"], "שלום, פיצה תל אביב");
    assert_eq!(updated["system_prompt"], "You take orders.");
    assert_eq!(updated["enable_calls_stream"], false);
    assert_eq!(updated["enable_recording_fallback"], true);
    assert_eq!(updated["enable_payments_paypal"], true);

    let listed = json(&run(&dir, &url, &["list"]));
    let list = listed.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0], updated);
}

#[tokio::test]
async fn invalid_or_taken_numbers_and_unknown_ids_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    json(&run(
        &dir,
        &url,
        &["create", "--name", "A", "--phone", "+97235550001"],
    ));

    for (args, expected) in [
        (vec!["create", "--name", "B", "--phone", "call me"], "E.164"),
        (
            vec!["create", "--name", "B", "--phone", "+972 3-555-0001"],
            "already belongs",
        ),
        (
            vec!["create", "--name", " ", "--phone", "+97235550002"],
            "name",
        ),
        (
            vec!["update", "999", "--greeting", "hi"],
            "no business with id 999",
        ),
        (
            vec!["update", "1", "--enable-calls-stream", "maybe"],
            "invalid value",
        ),
    ] {
        let out = run(&dir, &url, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}
