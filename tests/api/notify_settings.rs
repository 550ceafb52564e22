//! The owner's notification and category settings (issue 13): how and whom
//! to tell of each call, and the labels a call's summary may choose from.

use serde_json::{Value, json};

use crate::crm_support::Fixture;
use crate::helpers::fresh_database_url;

const WHATSAPP_VARS: [&str; 2] = ["TWILIO_WHATSAPP_FROM", "TWILIO_WHATSAPP_CONTENT_SID"];

#[tokio::test]
async fn an_owner_chooses_sms_two_numbers_and_hebrew_categories_and_reads_them_back() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);

    let before = owner.get("/api/crm/business").await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.json["notify_channel"], "none", "off until chosen");
    assert_eq!(before.json["notify_to"], json!([]));
    assert_eq!(before.json["categories"], json!([]));

    let changed = owner
        .patch(
            "/api/crm/business",
            &json!({
                "notify_channel": "sms",
                "notify_to": ["050-123-4567", "+97235550009"],
                "categories": ["הזמנה", " תלונה ", "שאלה על מחירים"],
            }),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);

    let read = owner.get("/api/crm/business").await;
    assert_eq!(read.json["notify_channel"], "sms");
    assert_eq!(
        read.json["notify_to"],
        json!(["+972501234567", "+97235550009"])
    );
    assert_eq!(
        read.json["categories"],
        json!(["הזמנה", "תלונה", "שאלה על מחירים"])
    );
    assert_eq!(read.json, changed.json);

    // The other tenant's settings are untouched.
    let other = f.api(&f.b.owner).get("/api/crm/business").await;
    assert_eq!(other.json["notify_channel"], "none");
}

#[tokio::test]
async fn a_bad_notify_number_or_thirteen_categories_are_refused_with_422_naming_the_field() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let thirteen: Vec<String> = (1..=13).map(|i| format!("נושא {i}")).collect();

    for (body, field) in [
        (
            json!({ "notify_to": ["+97235550001", "לא מספר"] }),
            "notify_to",
        ),
        (
            json!({ "notify_to": ["03-555-0001", "+97235550001"] }),
            "notify_to",
        ),
        (json!({ "categories": thirteen }), "categories"),
        (json!({ "categories": ["א".repeat(41)] }), "categories"),
        (json!({ "notify_channel": "telegram" }), "notify_channel"),
    ] {
        let got = owner.patch("/api/crm/business", &body).await;
        assert_eq!(got.status, 422, "{body}: {}", got.text);
        assert!(got.text.contains(field), "{body}: {}", got.text);
    }
    let read = owner.get("/api/crm/business").await;
    assert_eq!(read.json["notify_to"], json!([]), "nothing was written");
}

#[tokio::test]
async fn whatsapp_without_its_sender_and_template_is_refused_naming_the_missing_variables() {
    let f = Fixture::spawn().await;
    let body = json!({ "notify_channel": "whatsapp", "notify_to": ["+972501234567"] });

    let by_owner = f.api(&f.a.owner).patch("/api/crm/business", &body).await;
    let admin_path = format!("/api/admin/businesses/{}", f.a.business.id);
    let by_admin = f.api(&f.admin).patch(&admin_path, &body).await;
    for got in [by_owner, by_admin] {
        assert_eq!(got.status, 422, "{}", got.text);
        for var in WHATSAPP_VARS {
            assert!(got.text.contains(var), "{var}: {}", got.text);
        }
    }
    let read = f.api(&f.a.owner).get("/api/crm/business").await;
    assert_eq!(read.json["notify_channel"], "none");
}

#[tokio::test]
async fn whatsapp_is_accepted_once_its_sender_and_template_are_configured() {
    let f = Fixture::spawn_with(|vars| {
        vars.insert(WHATSAPP_VARS[0].into(), "whatsapp:+14155238886".into());
        vars.insert(
            WHATSAPP_VARS[1].into(),
            "HX0123456789abcdef0123456789abcdef".into(),
        );
    })
    .await;
    let got = f
        .api(&f.a.owner)
        .patch(
            "/api/crm/business",
            &json!({ "notify_channel": "whatsapp", "notify_to": ["+972501234567"] }),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["notify_channel"], "whatsapp");
    assert_eq!(got.json["notify_to"], json!(["+972501234567"]));
}

#[tokio::test]
async fn the_command_line_sets_the_notify_channel_numbers_and_categories() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let run = |args: &[&str]| -> Value {
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
        "--notify-channel",
        "sms",
        "--notify-to",
        r#"["050-123-4567"]"#,
        "--categories",
        r#"["תור","ביטול תור"]"#,
    ]);
    assert_eq!(updated["notify_channel"], "sms");
    assert_eq!(updated["notify_to"], json!(["+972501234567"]));
    assert_eq!(updated["categories"], json!(["תור", "ביטול תור"]));
}

#[tokio::test]
async fn the_openapi_document_describes_the_channel_numbers_and_categories() {
    let f = Fixture::spawn().await;
    let spec = f.anonymous().get("/api/openapi.json").await.json;
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["NotifyChannel"]["enum"],
        json!(["sms", "whatsapp", "none"])
    );
    assert_eq!(schemas["NotifyChannel"]["default"], "none");
    let to = &schemas["ListOf3PhoneNumber"];
    assert_eq!(to["maxItems"], 3, "{to}");
    assert_eq!(
        to["items"]["pattern"],
        agentlocator::domain::PhoneNumber::E164_PATTERN
    );
    let categories = &schemas["ListOf12Text40"];
    assert_eq!(categories["maxItems"], 12, "{categories}");
    assert_eq!(categories["items"]["maxLength"], 40);
    assert!(schemas["OwnerChange"]["properties"]["categories"].is_object());
}
