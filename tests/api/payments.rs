//! The payments matrix (provider × business flag × keys) and every way a
//! request can be bad, plus the Stripe routes that are gone for good.

use serde_json::{Value, json};

use crate::crm_support::{Api, Fixture};

fn with_keys(v: &mut std::collections::HashMap<String, String>) {
    for (k, val) in [
        ("PAYPAL_CLIENT_ID", "test-client"),
        ("PAYPAL_SECRET", "test-secret"),
        ("TRANZILA_TERMINAL", "testterminal"),
        ("TRANZILA_APP_KEY", "test-app-key"),
        ("TRANZILA_SECRET", "test-tranzila-secret"),
    ] {
        v.insert(k.into(), val.into());
    }
}

fn payment(provider: &str) -> Value {
    json!({"amount_agorot": 12_500, "currency": "ILS", "provider": provider,
           "description": "תספורת"})
}

async fn payment_rows(f: &Fixture) -> Vec<(String, String, i64)> {
    sqlx::query_as::<_, (String, String, i64)>(
        "SELECT provider, status, amount_agorot FROM payment WHERE business_id = $1 ORDER BY id",
    )
    .bind(f.a.business.id)
    .fetch_all(&f.app.state.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_provider_answers_403_when_off_501_without_keys_and_stub_ready_with_both() {
    for keys in [false, true] {
        let f = if keys {
            Fixture::spawn_with(with_keys).await
        } else {
            Fixture::spawn().await
        };
        let owner = f.api(&f.a.owner);
        for provider in ["paypal", "tranzila"] {
            for flag in [false, true] {
                f.set_flags(
                    f.a.business.id,
                    provider == "paypal" && flag,
                    provider == "tranzila" && flag,
                )
                .await;
                let got = owner
                    .post("/api/crm/payments/create", &payment(provider))
                    .await;
                let cell = format!(
                    "{provider} flag={flag} keys={keys}: {} {}",
                    got.status, got.text
                );
                match (flag, keys) {
                    (false, _) => {
                        assert_eq!(got.status, 403, "{cell}");
                        assert_eq!(got.code(), "forbidden", "{cell}");
                    }
                    (true, false) => {
                        assert_eq!(got.status, 501, "{cell}");
                        assert_eq!(got.code(), "not_implemented", "{cell}");
                        let message = got.json["error"]["message"].as_str().unwrap();
                        let expected = if provider == "paypal" {
                            "PayPal is not configured: set PAYPAL_CLIENT_ID and PAYPAL_SECRET"
                        } else {
                            "Tranzila is not configured: set TRANZILA_TERMINAL, TRANZILA_APP_KEY and TRANZILA_SECRET"
                        };
                        assert_eq!(message, expected);
                    }
                    (true, true) => {
                        assert_eq!(got.status, 200, "{cell}");
                        assert_eq!(got.json["provider"], provider);
                        assert_eq!(got.json["status"], "stub_ready");
                        assert!(got.json["payment_id"].as_i64().is_some(), "{cell}");
                    }
                }
            }
        }
        let rows = payment_rows(&f).await;
        if keys {
            assert_eq!(
                rows,
                vec![
                    ("paypal".into(), "stub_ready".into(), 12_500),
                    ("tranzila".into(), "stub_ready".into(), 12_500)
                ]
            );
        } else {
            assert!(rows.is_empty(), "refused requests wrote rows: {rows:?}");
        }
    }
}

#[tokio::test]
async fn bad_payment_requests_are_refused_with_400_in_the_envelope_before_any_flag_or_key_check() {
    // Flags off and no keys: a 400 proves validation comes first.
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let cases: Vec<(&str, Value)> = vec![
        (
            "zero amount",
            json!({"amount_agorot": 0, "currency": "ILS", "provider": "paypal"}),
        ),
        (
            "negative amount",
            json!({"amount_agorot": -100, "currency": "ILS", "provider": "paypal"}),
        ),
        (
            "absurd amount",
            json!({"amount_agorot": 10_000_000_001_i64, "currency": "ILS", "provider": "paypal"}),
        ),
        (
            "beyond i64",
            json!({"amount_agorot": 1e30, "currency": "ILS", "provider": "paypal"}),
        ),
        (
            "fractional agorot",
            json!({"amount_agorot": 10.5, "currency": "ILS", "provider": "paypal"}),
        ),
        (
            "amount as text",
            json!({"amount_agorot": "100", "currency": "ILS", "provider": "paypal"}),
        ),
        (
            "dollars",
            json!({"amount_agorot": 100, "currency": "USD", "provider": "paypal"}),
        ),
        (
            "no currency",
            json!({"amount_agorot": 100, "provider": "paypal"}),
        ),
        (
            "stripe",
            json!({"amount_agorot": 100, "currency": "ILS", "provider": "stripe"}),
        ),
        (
            "unknown provider",
            json!({"amount_agorot": 100, "currency": "ILS", "provider": "bit"}),
        ),
        (
            "unknown field",
            json!({"amount_agorot": 100, "currency": "ILS", "provider": "paypal", "card": "4111"}),
        ),
        (
            "long description",
            json!({"amount_agorot": 100, "currency": "ILS", "provider": "paypal", "description": "x".repeat(501)}),
        ),
        ("not an object", json!([1, 2, 3])),
    ];
    for (why, body) in cases {
        let got = owner.post("/api/crm/payments/create", &body).await;
        assert_eq!(got.status, 400, "{why}: {}", got.text);
        assert_eq!(got.code(), "bad_request", "{why}: {}", got.text);
    }
    for (why, content_type, body) in [
        (
            "malformed JSON",
            "application/json",
            b"{\"amount_agorot\": 100,".to_vec(),
        ),
        ("not JSON at all", "text/plain", b"amount=100".to_vec()),
        ("huge body", "application/json", {
            let mut b = b"{\"amount_agorot\": 100, \"currency\": \"ILS\", \"provider\": \"paypal\", \"description\": \"".to_vec();
            b.extend(std::iter::repeat_n(b'x', 64 * 1024));
            b.extend(b"\"}");
            b
        }),
    ] {
        let got = owner
            .post_raw("/api/crm/payments/create", content_type, body)
            .await;
        assert_eq!(got.status, 400, "{why}: {}", got.text);
        assert_eq!(got.code(), "bad_request", "{why}: {}", got.text);
    }
    assert!(payment_rows(&f).await.is_empty());
}

#[tokio::test]
async fn a_payment_for_another_businesss_customer_is_not_found_and_for_an_own_customer_is_recorded()
{
    let f = Fixture::spawn_with(with_keys).await;
    f.set_flags(f.a.business.id, true, true).await;
    let owner = f.api(&f.a.owner);
    let mut body = payment("tranzila");
    body["customer_id"] = json!(f.b.customer_id);
    let got = owner.post("/api/crm/payments/create", &body).await;
    assert_eq!(got.status, 404, "{}", got.text);
    body["customer_id"] = json!(f.a.customer_id);
    let got = owner.post("/api/crm/payments/create", &body).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let customer: Option<i64> = sqlx::query_scalar("SELECT customer_id FROM payment WHERE id = $1")
        .bind(got.json["payment_id"].as_i64().unwrap())
        .fetch_one(&f.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(customer, Some(f.a.customer_id));
}

#[tokio::test]
async fn agents_and_anonymous_callers_cannot_create_payments() {
    let f = Fixture::spawn_with(with_keys).await;
    f.set_flags(f.a.business.id, true, true).await;
    let agent = f
        .api(&f.a.agent)
        .post("/api/crm/payments/create", &payment("paypal"))
        .await;
    assert_eq!(agent.status, 403);
    let anon = f
        .anonymous()
        .post("/api/crm/payments/create", &payment("paypal"))
        .await;
    assert_eq!(anon.status, 401);
    assert_eq!(anon.code(), "unauthorized");
}

#[tokio::test]
async fn stripe_routes_answer_410_gone_pointing_at_paypal_and_tranzila() {
    let f = Fixture::spawn().await;
    let gone = json!({"error": {"code": "gone",
        "message": "Stripe is not supported in IL. Use PayPal or Tranzila."}});
    for api in [f.anonymous(), f.api(&f.a.owner)] {
        let intent = api
            .post("/api/crm/payments/create-intent", &json!({"amount": 100}))
            .await;
        assert_eq!(intent.status, 410, "{}", intent.text);
        assert_eq!(intent.json, gone);
    }
    let webhook = Api::new(&f.app, None)
        .post_raw(
            "/webhook/stripe",
            "application/json",
            b"{\"type\":\"charge.succeeded\"}".to_vec(),
        )
        .await;
    assert_eq!(webhook.status, 410, "{}", webhook.text);
    assert_eq!(webhook.json, gone);
}

#[test]
fn no_stripe_crate_is_anywhere_in_the_dependency_tree() {
    let lock = include_str!("../../Cargo.lock");
    for line in lock.lines().filter(|l| l.starts_with("name = ")) {
        assert!(
            !line.to_ascii_lowercase().contains("stripe"),
            "Cargo.lock has {line}"
        );
    }
}
