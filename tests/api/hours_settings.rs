//! The owner's opening hours and transfer number (issue 14): set, read
//! back, refused with 422 naming the field.

use serde_json::json;

use crate::crm_support::Fixture;

#[tokio::test]
async fn an_owner_sets_opening_hours_and_reads_back_the_same_schedule() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let before = owner.get("/api/crm/business").await;
    assert_eq!(before.json["hours"], json!(null), "always open until set");

    let hours = json!({
        "timezone": "Asia/Jerusalem",
        "weekly": {
            "sun": [["09:00", "18:00"]],
            "mon": [["09:00", "12:30"], ["14:00", "18:00"]],
            "tue": [["09:00", "18:00"]],
            "wed": [["09:00", "18:00"]],
            "thu": [["09:00", "24:00"]],
            "fri": [["09:00", "13:00"]],
            "sat": [],
        },
        "closed_dates": ["2026-12-25"],
    });
    let changed = owner
        .patch("/api/crm/business", &json!({ "hours": hours }))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let read = owner.get("/api/crm/business").await;
    assert_eq!(read.json["hours"], hours);

    let cleared = owner
        .patch("/api/crm/business", &json!({ "hours": null }))
        .await;
    assert_eq!(cleared.json["hours"], json!(null));
}

#[tokio::test]
async fn overlapping_ranges_a_25_oclock_or_an_unknown_zone_are_refused_naming_the_field() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let with = |zone: &str, mon: serde_json::Value| json!({ "hours": { "timezone": zone, "weekly": { "mon": mon } } });
    for (body, field) in [
        (
            with(
                "Asia/Jerusalem",
                json!([["09:00", "13:00"], ["12:00", "18:00"]]),
            ),
            "hours.weekly.mon[1]",
        ),
        (
            with("Asia/Jerusalem", json!([["09:00", "25:00"]])),
            "hours.weekly.mon[0]",
        ),
        (with("Asia/Tel_Aviv_Beach", json!([])), "hours.timezone"),
    ] {
        let got = owner.patch("/api/crm/business", &body).await;
        assert_eq!(got.status, 422, "{body}: {}", got.text);
        assert!(got.text.contains(field), "{body}: {}", got.text);
    }
    let read = owner.get("/api/crm/business").await;
    assert_eq!(read.json["hours"], json!(null), "nothing was written");
}

#[tokio::test]
async fn a_national_transfer_number_is_stored_as_e164_and_null_clears_it() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let set = owner
        .patch(
            "/api/crm/business",
            &json!({ "transfer_number": "050-123-4567" }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json["transfer_number"], "+972501234567");
    let read = owner.get("/api/crm/business").await;
    assert_eq!(read.json["transfer_number"], "+972501234567");

    let garbage = owner
        .patch(
            "/api/crm/business",
            &json!({ "transfer_number": "לא מספר" }),
        )
        .await;
    assert_eq!(garbage.status, 422, "{}", garbage.text);
    assert!(garbage.text.contains("transfer_number"), "{}", garbage.text);

    let cleared = owner
        .patch("/api/crm/business", &json!({ "transfer_number": null }))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.json["transfer_number"], json!(null));
    let admin_path = format!("/api/admin/businesses/{}", f.a.business.id);
    let by_admin = f.api(&f.admin).get(&admin_path).await;
    assert_eq!(
        by_admin.json["transfer_number"],
        json!(null),
        "{}",
        by_admin.text
    );
}

#[tokio::test]
async fn the_openapi_document_describes_hours_and_the_transfer_number() {
    let f = Fixture::spawn().await;
    let spec = f.anonymous().get("/api/openapi.json").await.json;
    let schemas = &spec["components"]["schemas"];
    let hours = &schemas["Hours"];
    assert_eq!(hours["required"], json!(["timezone", "weekly"]), "{hours}");
    assert_eq!(
        hours["properties"]["weekly"]["properties"]["fri"]["maxItems"], 6,
        "{hours}"
    );
    let owner = &schemas["OwnerChange"]["properties"];
    assert!(owner["hours"].is_object(), "{owner}");
    assert!(owner["transfer_number"].is_object(), "{owner}");
}

#[tokio::test]
async fn the_command_line_sets_hours_and_the_transfer_number() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(&dir).await;
    let run = |args: &[&str]| -> serde_json::Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentlocator"))
            .arg("business")
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &url)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let id = run(&["create", "--name", "מספרת רחל", "--phone", "03-555-0001"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let updated = run(&[
        "update",
        &id,
        "--hours",
        r#"{"timezone": "Asia/Jerusalem", "weekly": {"sun": [["09:00", "18:00"]]}}"#,
        "--transfer-number",
        "050-123-4567",
    ]);
    assert_eq!(
        updated["hours"]["weekly"]["sun"],
        json!([["09:00", "18:00"]])
    );
    assert_eq!(updated["hours"]["weekly"]["sat"], json!([]));
    assert_eq!(updated["transfer_number"], "+972501234567");
}
