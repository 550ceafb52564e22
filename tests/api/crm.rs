//! The CRM as the UI uses it: business settings, customers with search and
//! paging, calls with filters, one call's transcript and turns, and the
//! admin's business management.

use agentlocator::db::{business, customers};
use serde_json::json;

use crate::crm_support::{Fixture, random_phone};

#[tokio::test]
async fn an_owner_changes_settings_and_the_next_call_sees_them_without_a_restart() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let new_phone = random_phone();
    let national = format!("0{}", &new_phone[4..]);
    let got = owner
        .patch(
            "/api/crm/business",
            &json!({"name": "Pizza Haifa", "greeting": "שלום!",
                    "voice": "he-IL-Wavenet-C", "end_of_turn_ms": 800,
                    "enable_calls_stream": false}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    // The number and the payment flags are the platform's to change.
    let by_admin = f
        .api(&f.admin)
        .patch(
            &format!("/api/admin/businesses/{}", f.a.business.id),
            &json!({"phone_number": national, "enable_payments_paypal": true}),
        )
        .await;
    assert_eq!(by_admin.json["phone_number"], new_phone.as_str());
    // What `incoming_call` reads for the next call is the changed row.
    let seen = f
        .app
        .state
        .directory
        .by_phone(&f.app.state.db, &new_phone)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.id, f.a.business.id);
    assert_eq!(seen.greeting.as_deref(), Some("שלום!"));
    assert!(!seen.enable_calls_stream);
    assert!(seen.enable_payments_paypal);
    assert_eq!(seen.end_of_turn_ms.get(), 800);
    // null clears a text setting.
    let cleared = owner
        .patch("/api/crm/business", &json!({"greeting": null}))
        .await;
    assert_eq!(cleared.json["greeting"], serde_json::Value::Null);
    assert_eq!(cleared.json["voice"], "he-IL-Wavenet-C");
}

#[tokio::test]
async fn business_changes_that_cannot_apply_get_409_422_or_400() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let taken = f
        .api(&f.admin)
        .patch(
            &format!("/api/admin/businesses/{}", f.a.business.id),
            &json!({"phone_number": f.b.business.phone_number}),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    assert_eq!(taken.code(), "conflict");
    for body in [json!({"end_of_turn_ms": 50}), json!({"name": "  "})] {
        let got = owner.patch("/api/crm/business", &body).await;
        assert_eq!(got.status, 422, "{body}: {}", got.text);
        assert_eq!(got.code(), "unprocessable");
    }
    let wrong_type = owner
        .patch("/api/crm/business", &json!({"enable_calls_stream": "yes"}))
        .await;
    assert_eq!(wrong_type.status, 400);
}

#[tokio::test]
async fn an_owner_sets_end_of_turn_bounds_and_one_out_of_order_is_refused_by_name() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let fresh = owner.get("/api/crm/business").await;
    assert_eq!(fresh.json["end_of_turn_min_ms"], 300);
    assert_eq!(fresh.json["end_of_turn_max_ms"], 1500);
    let got = owner
        .patch(
            "/api/crm/business",
            &json!({"end_of_turn_min_ms": 250, "end_of_turn_max_ms": 2500}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let seen = business::get(&f.app.state.db, f.a.business.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.end_of_turn_min_ms.get(), 250);
    assert_eq!(seen.end_of_turn_max_ms.get(), 2500);
    // A change of one is checked against the stored others (base 600).
    for (body, field) in [
        (json!({"end_of_turn_min_ms": 700}), "end_of_turn_min_ms"),
        (json!({"end_of_turn_ms": 2600}), "end_of_turn_ms"),
        (
            json!({"end_of_turn_max_ms": 1000, "end_of_turn_ms": 1200}),
            "end_of_turn_max_ms",
        ),
        (json!({"end_of_turn_max_ms": 5000}), "end_of_turn_max_ms"),
    ] {
        let refused = owner.patch("/api/crm/business", &body).await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.text);
        assert!(refused.text.contains(field), "{body}: {}", refused.text);
    }
    let unchanged = owner.get("/api/crm/business").await;
    assert_eq!(unchanged.json["end_of_turn_ms"], 600);
    assert_eq!(unchanged.json["end_of_turn_max_ms"], 2500);
    // Admins creating a business are held to the same order, before any row.
    let admin = f.api(&f.admin);
    let created = admin
        .post(
            "/api/admin/businesses",
            &json!({"name": "X", "phone_number": random_phone(), "end_of_turn_min_ms": 900}),
        )
        .await;
    assert_eq!(created.status, 422, "{}", created.text);
    assert!(created.text.contains("end_of_turn_min_ms"));
}

#[tokio::test]
async fn an_owner_cannot_change_the_number_payments_or_active_and_nothing_is_written() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    for body in [
        json!({"active": false}),
        json!({"phone_number": random_phone()}),
        json!({"greeting": "חדש", "enable_payments_paypal": true}),
        json!({"enable_payments_tranzila": true}),
        json!({"max_concurrent_calls": 500}),
    ] {
        let got = owner.patch("/api/crm/business", &body).await;
        assert_eq!(got.status, 403, "{body}: {}", got.text);
        assert_eq!(got.code(), "forbidden");
    }
    let unchanged = business::get(&f.app.state.db, f.a.business.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, f.a.business, "nothing was written");
}

#[tokio::test]
async fn crm_routes_answer_503_with_retry_after_when_the_database_is_gone() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    f.app.state.db.pool.close().await;
    for path in ["/api/crm/business", "/api/crm/customers", "/api/crm/calls"] {
        let got = owner.get(path).await;
        assert_eq!(got.status, 503, "{path}: {}", got.text);
        assert_eq!(got.code(), "unavailable");
        assert_eq!(got.header("retry-after").as_deref(), Some("5"), "{path}");
    }
}

#[tokio::test]
async fn customers_are_searched_by_name_or_dialled_number_and_paged() {
    let f = Fixture::spawn().await;
    let db = &f.app.state.db;
    for i in 0..4 {
        customers::upsert_by_phone(db, f.a.business.id, &format!("+97254000000{i}"))
            .await
            .unwrap();
    }
    let owner = f.api(&f.a.owner);
    let all = owner.get("/api/crm/customers?limit=2").await;
    assert_eq!(all.json["total"], 5);
    assert_eq!(all.json["items"].as_array().unwrap().len(), 2);
    let rest = owner.get("/api/crm/customers?limit=2&offset=4").await;
    assert_eq!(rest.json["items"].as_array().unwrap().len(), 1);
    let by_number = owner.get("/api/crm/customers?q=054-0000002").await;
    assert_eq!(by_number.json["total"], 1, "{}", by_number.text);
    assert_eq!(by_number.json["items"][0]["phone"], "+972540000002");
    let by_name = owner
        .get("/api/crm/customers?q=customer%20OF%20pizza")
        .await;
    assert_eq!(by_name.json["total"], 1, "{}", by_name.text);
    assert_eq!(by_name.json["items"][0]["id"], f.a.customer_id);
    let wildcard = owner.get("/api/crm/customers?q=%25").await;
    assert_eq!(wildcard.json["total"], 0);
    for bad in ["limit=0", "limit=500", "offset=-1", "limit=ten"] {
        let got = owner.get(&format!("/api/crm/customers?{bad}")).await;
        assert_eq!(got.status, 400, "{bad}");
        assert_eq!(got.code(), "bad_request");
    }
}

#[tokio::test]
async fn an_owner_updates_a_customers_name_notes_and_status() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let path = format!("/api/crm/customers/{}", f.a.customer_id);
    let got = owner
        .patch(
            &path,
            &json!({"name": "דנה", "notes": "wants Friday", "status": "lead"}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["name"], "דנה");
    assert_eq!(got.json["status"], "lead");
    let cleared = owner.patch(&path, &json!({"notes": null})).await;
    assert_eq!(cleared.json["notes"], serde_json::Value::Null);
    assert_eq!(cleared.json["name"], "דנה");
    assert_eq!(
        owner.patch(&path, &json!({"status": "VIP!"})).await.status,
        422
    );
    assert_eq!(
        owner.patch(&path, &json!({"phone": "+972"})).await.status,
        400
    );
    let not_a_number = owner.get("/api/crm/customers/abc").await;
    assert_eq!(not_a_number.status, 400);
    assert_eq!(not_a_number.code(), "bad_request");
    assert_eq!(owner.get("/api/crm/customers/999999").await.status, 404);
}

#[tokio::test]
async fn a_customers_timeline_lists_their_calls() {
    let f = Fixture::spawn().await;
    let got = f
        .api(&f.a.agent)
        .get(&format!("/api/crm/customers/{}/calls", f.a.customer_id))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["total"], 1);
    assert_eq!(got.json["items"][0]["id"], f.a.call_id);
}

#[tokio::test]
async fn calls_are_filtered_by_mode_status_customer_and_date() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let today = &agentlocator::domain::Timestamp::now().to_string()[..10];
    for (query, total) in [
        ("mode=stream".to_string(), 1),
        ("mode=record".to_string(), 0),
        ("status=completed".to_string(), 1),
        ("status=busy".to_string(), 0),
        (format!("customer_id={}", f.a.customer_id), 1),
        (format!("from={today}&to={today}"), 1),
        ("to=2000-01-01".to_string(), 0),
        ("from=2999-01-01T00:00:00Z".to_string(), 0),
    ] {
        let got = owner.get(&format!("/api/crm/calls?{query}")).await;
        assert_eq!(got.status, 200, "{query}: {}", got.text);
        assert_eq!(got.json["total"], total, "{query}");
    }
    for bad in ["mode=video", "from=yesterday", "customer_id=x"] {
        assert_eq!(
            owner.get(&format!("/api/crm/calls?{bad}")).await.status,
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn one_call_comes_with_its_transcript_and_turn_timings() {
    let f = Fixture::spawn().await;
    agentlocator::db::calls::set_transcript(&f.app.state.db, &f.a.call_sid, "הודעה מוקלטת")
        .await
        .unwrap();
    let got = f
        .api(&f.a.agent)
        .get(&format!("/api/crm/calls/{}", f.a.call_id))
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["call"]["call_sid"], f.a.call_sid.as_str());
    let turns = got.json["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0]["t_total_ms"], 950);
    assert_eq!(turns[0]["ended_by"], "room");
    assert_eq!(turns[0]["snr_db"], 21);
    assert_eq!(turns[1]["turn_id"], 2);
    let lines: Vec<(&str, &str)> = got.json["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["speaker"].as_str().unwrap(), u["text"].as_str().unwrap()))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0], ("caller", "שלום 1"));
    assert_eq!(lines[1].0, "agent");
    assert_eq!(lines[4], ("caller", "הודעה מוקלטת"));
}

#[tokio::test]
async fn admins_create_list_change_and_deactivate_businesses() {
    let f = Fixture::spawn().await;
    let admin = f.api(&f.admin);
    let phone = random_phone();
    let created = admin
        .post(
            "/api/admin/businesses",
            &json!({"name": "Clinic", "phone_number": phone, "greeting": "מרפאה, שלום",
                    "enable_payments_tranzila": true}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["greeting"], "מרפאה, שלום");
    assert_eq!(created.json["enable_payments_tranzila"], true);
    let id = created.json["id"].as_i64().unwrap();

    let again = admin
        .post(
            "/api/admin/businesses",
            &json!({"name": "Copy", "phone_number": phone}),
        )
        .await;
    assert_eq!(again.status, 409);
    let bad = admin
        .post(
            "/api/admin/businesses",
            &json!({"name": "X", "phone_number": "nope"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    let bad_setting = admin
        .post(
            "/api/admin/businesses",
            &json!({"name": "X", "phone_number": random_phone(), "end_of_turn_ms": 1}),
        )
        .await;
    assert_eq!(bad_setting.status, 422);

    let list = admin.get("/api/admin/businesses").await;
    assert_eq!(list.json.as_array().unwrap().len(), 3);
    assert_eq!(
        admin.get(&format!("/api/admin/businesses/{id}")).await.json["name"],
        "Clinic"
    );
    assert_eq!(admin.get("/api/admin/businesses/999999").await.status, 404);
    let off = admin
        .patch(
            &format!("/api/admin/businesses/{id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(off.json["active"], false);
    assert_eq!(
        admin
            .patch("/api/admin/businesses/999999", &json!({"active": false}))
            .await
            .status,
        404
    );
}
