//! PayPal and Tranzila clients against fakes; no real charge anywhere.

use agentlocator_providers::payments::{PaymentRequest, agorot_to_decimal};
use agentlocator_providers::{
    PayPalClient, PayPalConfig, ProviderError, TranzilaClient, TranzilaConfig,
};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::json;
use sha2::Sha256;
use wiremock::matchers::{body_partial_json, body_string, header as header_is, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::http;

fn paypal_for(server: &MockServer) -> PayPalClient {
    PayPalClient::new(
        PayPalConfig {
            client_id: "client-id".into(),
            secret: SecretString::from("pp-secret"),
            base_url: server.uri(),
        },
        http(),
    )
}

async fn mount_paypal_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        // base64("client-id:pp-secret")
        .and(header_is(
            "authorization",
            "Basic Y2xpZW50LWlkOnBwLXNlY3JldA==",
        ))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "scope": "https://uri.paypal.com/services/payments",
            "access_token": "A21AAtoken",
            "token_type": "Bearer",
            "expires_in": 32400,
        })))
        .mount(server)
        .await;
}

fn order_answer(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": id,
        "status": "PAYER_ACTION_REQUIRED",
        "links": [
            {"rel": "self", "href": format!("https://api-m.sandbox.paypal.com/v2/checkout/orders/{id}"), "method": "GET"},
            {"rel": "payer-action", "href": format!("https://www.sandbox.paypal.com/checkoutnow?token={id}"), "method": "GET"}
        ]
    }))
}

#[tokio::test]
async fn a_paypal_order_is_created_with_a_decimal_amount_and_idempotency_key() {
    let server = MockServer::start().await;
    mount_paypal_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .and(header_is("authorization", "Bearer A21AAtoken"))
        .and(header_is("paypal-request-id", "req-42"))
        .and(body_partial_json(json!({
            "intent": "CAPTURE",
            "purchase_units": [{"reference_id": "biz7-pay9", "amount": {"currency_code": "ILS", "value": "100.00"}}]
        })))
        .respond_with(order_answer("5O190127TN364715T"))
        .expect(1)
        .mount(&server)
        .await;
    let order = paypal_for(&server)
        .create_order(10_000, "ILS", "biz7-pay9", "req-42")
        .await
        .unwrap();
    assert_eq!(order.id, "5O190127TN364715T");
    assert_eq!(order.status, "PAYER_ACTION_REQUIRED");
    assert_eq!(
        order.approve_url.as_deref(),
        Some("https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T")
    );
}

#[tokio::test]
async fn the_paypal_token_is_reused_across_orders() {
    let server = MockServer::start().await;
    mount_paypal_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(order_answer("O1"))
        .mount(&server)
        .await;
    let client = paypal_for(&server);
    client.create_order(150, "ILS", "a", "r1").await.unwrap();
    client.create_order(250, "ILS", "b", "r2").await.unwrap();
    let token_requests = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/oauth2/token")
        .count();
    assert_eq!(token_requests, 1);
}

#[tokio::test]
async fn bad_paypal_credentials_are_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
        ))
        .mount(&server)
        .await;
    let err = paypal_for(&server)
        .create_order(100, "ILS", "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn a_rejected_paypal_order_keeps_paypals_message() {
    let server = MockServer::start().await;
    mount_paypal_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "name": "UNPROCESSABLE_ENTITY",
            "message": "The requested action could not be performed.",
        })))
        .mount(&server)
        .await;
    let err = paypal_for(&server)
        .create_order(100, "ILS", "a", "r")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("422"), "{err}");
    assert!(err.to_string().contains("could not be performed"), "{err}");
}

#[tokio::test]
async fn a_malformed_paypal_order_answer_is_malformed() {
    let server = MockServer::start().await;
    mount_paypal_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(ResponseTemplate::new(201).set_body_string("<html>"))
        .mount(&server)
        .await;
    let err = paypal_for(&server)
        .create_order(100, "ILS", "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn invalid_amounts_are_refused_before_any_request() {
    let server = MockServer::start().await;
    let client = paypal_for(&server);
    for (amount, currency) in [(0, "ILS"), (-100, "ILS"), (100, "shekel")] {
        let err = client
            .create_order(amount, currency, "a", "r")
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Refused(_)), "{err:?}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    assert_eq!(agorot_to_decimal(12_345), "123.45");
}

fn tranzila_for(server: &MockServer) -> TranzilaClient {
    TranzilaClient::new(
        TranzilaConfig {
            terminal: "testterm".into(),
            app_key: "pubkey".into(),
            secret: SecretString::from("privkey"),
            base_url: server.uri(),
        },
        http(),
    )
}

fn payment_request() -> PaymentRequest {
    PaymentRequest {
        amount_agorot: 12_050,
        currency: "ILS".into(),
        description: "תספורת".into(),
        customer_name: Some("דנה".into()),
        customer_phone: Some("+972501234567".into()),
        customer_email: None,
    }
}

/// Recomputes the access token from the request's own headers, as
/// Tranzila's side would, and answers with `answer` only when it matches.
struct SignedEndpoint(serde_json::Value);

impl Respond for SignedEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let h = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_owned();
        let (time, nonce) = (h("x-tranzila-api-request-time"), h("x-tranzila-api-nonce"));
        let mut mac =
            Hmac::<Sha256>::new_from_slice(format!("privkey{time}{nonce}").as_bytes()).unwrap();
        mac.update(h("x-tranzila-api-app-key").as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        if h("x-tranzila-api-access-token") != expected || nonce.len() != 80 {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"error_code": 401, "message": "bad sig"}));
        }
        ResponseTemplate::new(200).set_body_json(self.0.clone())
    }
}

#[tokio::test]
async fn a_tranzila_payment_request_is_signed_and_returns_its_link() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/pr/create"))
        .and(header_is("x-tranzila-api-app-key", "pubkey"))
        .and(body_partial_json(json!({
            "terminal_name": "testterm",
            "items": [{"name": "תספורת", "unit_price": 120.5, "units_number": 1, "currency_code": "ILS"}],
            "client": {"name": "דנה", "phone_number": "+972501234567"}
        })))
        .respond_with(SignedEndpoint(json!({
            "error_code": 0, "message": "Success", "pr_id": 991, "pr_link": "https://pay.tranzila.com/pr/abc"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let created = tranzila_for(&server)
        .create_payment_request(&payment_request())
        .await
        .unwrap();
    assert_eq!(created.id.as_deref(), Some("991"));
    assert_eq!(
        created.url.as_deref(),
        Some("https://pay.tranzila.com/pr/abc")
    );
}

#[tokio::test]
async fn a_nonzero_tranzila_error_code_is_a_rejection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(SignedEndpoint(
            json!({"error_code": 20003, "message": "Terminal not found"}),
        ))
        .mount(&server)
        .await;
    let err = tranzila_for(&server)
        .create_payment_request(&payment_request())
        .await
        .unwrap_err();
    match err {
        ProviderError::Rejected { code, message } => {
            assert_eq!(code, 20003);
            assert_eq!(message, "Terminal not found");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tranzila_server_errors_and_malformed_answers_are_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let err = tranzila_for(&server)
        .create_payment_request(&payment_request())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Server { status: 500 }));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "ok?"})))
        .mount(&server)
        .await;
    let err = tranzila_for(&server)
        .create_payment_request(&payment_request())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
}

#[test]
fn payment_clients_do_not_print_their_secrets() {
    let server_uri = "http://127.0.0.1:9";
    let pp = PayPalClient::new(
        PayPalConfig {
            client_id: "cid".into(),
            secret: SecretString::from("pp-secret"),
            base_url: server_uri.into(),
        },
        http(),
    );
    let tz = TranzilaClient::new(
        TranzilaConfig {
            terminal: "t".into(),
            app_key: "k".into(),
            secret: SecretString::from("tz-secret"),
            base_url: server_uri.into(),
        },
        http(),
    );
    let shown = format!("{pp:?} {tz:?}");
    assert!(
        !shown.contains("pp-secret") && !shown.contains("tz-secret"),
        "{shown}"
    );
}
