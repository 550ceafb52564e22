//! The fake Twilio Messages API, driven by the service's real
//! `TwilioMessagesClient`: what it records, what it refuses, and the signed
//! delivery updates it posts back.

use std::time::Duration;

use agentlocator_callsim::FakeLatencies;
use agentlocator_callsim::fake::serve;
use axum::body::Bytes;
use axum::http::HeaderMap;
use providers::{OutboundMessage, Sender, TwilioMessagesClient, TwilioRestConfig};
use serde_json::Value;
use tokio::sync::mpsc;

const ACCOUNT_SID: &str = "AC0000000000000000000000000000fake";
const AUTH_TOKEN: &str = "local-token";
const BODY: &str = "📞 שיחה חדשה מ+972501234567: רוצה לקבוע תור למחר. דחיפות: רגילה.";

async fn spawn_fake() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, FakeLatencies::instant()));
    format!("http://{addr}")
}

fn client(base: &str) -> TwilioMessagesClient {
    let mut cfg = TwilioRestConfig::new(ACCOUNT_SID, AUTH_TOKEN.to_owned().into());
    cfg.api_base_url = base.to_owned();
    TwilioMessagesClient::new(cfg, reqwest::Client::builder()).unwrap()
}

fn sms() -> OutboundMessage {
    OutboundMessage::sms("+972501112233", Sender::from_setting("+97235550001"), BODY)
}

async fn recorded(base: &str) -> Vec<Value> {
    let list: Value = reqwest::get(format!("{base}/fake/messages"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_hebrew_sms_sent_by_the_real_client_is_listed_with_its_fields() {
    let base = spawn_fake().await;
    let sent = client(&base).send(&sms()).await.unwrap();

    assert!(
        sent.sid.starts_with("SM") && sent.sid.len() == 34,
        "{}",
        sent.sid
    );
    assert_eq!(sent.status, "queued");
    let messages = recorded(&base).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["sid"], sent.sid.as_str());
    assert_eq!(message["to"], "+972501112233");
    assert_eq!(message["from"], "+97235550001");
    assert_eq!(message["account_sid"], ACCOUNT_SID);
    assert_eq!(message["body"], BODY);
    assert!(message["accepted_at_ms"].as_u64().unwrap() > 1_700_000_000_000);
}

#[tokio::test]
async fn a_sent_message_is_found_again_in_twilios_list_by_its_marker() {
    let base = spawn_fake().await;
    let sent = client(&base).send(&sms()).await.unwrap();
    let marker = "תור למחר";

    let found = client(&base)
        .find_sent("+972501112233", marker)
        .await
        .unwrap()
        .expect("listed for its number");
    assert_eq!(found.sid, sent.sid);
    assert_eq!(
        client(&base)
            .find_sent("+972509999999", marker)
            .await
            .unwrap(),
        None,
        "another number's list does not have it"
    );
}

#[tokio::test]
async fn the_answer_is_a_twilio_message_resource_with_hebrew_segments() {
    let base = spawn_fake().await;
    let answer = reqwest::Client::new()
        .post(format!(
            "{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        ))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .form(&[
            ("To", "+972501112233"),
            ("From", "+97235550001"),
            ("Body", &"א".repeat(71)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let resource: Value = answer.json().await.unwrap();
    let sid = resource["sid"].as_str().unwrap();
    assert_eq!(
        resource["num_segments"], "2",
        "Hebrew is 70 characters a segment"
    );
    assert_eq!(
        resource["uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json")
    );
    assert!(
        resource["date_created"]
            .as_str()
            .unwrap()
            .ends_with("+0000")
    );
}

#[tokio::test]
async fn a_send_without_credentials_gets_twilios_authenticate_error_and_is_not_recorded() {
    let base = spawn_fake().await;
    let answer = reqwest::Client::new()
        .post(format!(
            "{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        ))
        .form(&[
            ("To", "+972501112233"),
            ("From", "+97235550001"),
            ("Body", BODY),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(
        error,
        serde_json::json!({
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        })
    );
    assert!(recorded(&base).await.is_empty());
}

#[tokio::test]
async fn an_empty_auth_token_is_refused_as_unauthorized_through_the_client() {
    let base = spawn_fake().await;
    let mut cfg = TwilioRestConfig::new(ACCOUNT_SID, String::new().into());
    cfg.api_base_url = base.clone();
    let client = TwilioMessagesClient::new(cfg, reqwest::Client::builder()).unwrap();
    let err = client.send(&sms()).await.unwrap_err();
    assert!(
        matches!(err, providers::ProviderError::Unauthorized),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_message_missing_a_field_gets_the_twilio_code_naming_it() {
    let base = spawn_fake().await;
    let cases: [(&[(&str, &str)], u64); 3] = [
        (&[("From", "+97235550001"), ("Body", BODY)], 21604),
        (&[("To", "+972501112233"), ("From", "+97235550001")], 21602),
        (&[("To", "+972501112233"), ("Body", BODY)], 21603),
    ];
    for (form, code) in cases {
        let answer = reqwest::Client::new()
            .post(format!(
                "{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            ))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["code"], code, "{form:?}");
    }
    assert!(recorded(&base).await.is_empty());
}

/// A stand-in for the service's `/webhook/message_status`: hands each
/// request's signature and form to the test.
async fn spawn_status_listener() -> (String, mpsc::UnboundedReceiver<(String, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhook/message_status",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let signature = headers
                    .get("X-Twilio-Signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((signature, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/webhook/message_status"), rx)
}

#[tokio::test]
async fn the_status_callback_hears_sent_then_delivered_signed_with_the_auth_token() {
    let base = spawn_fake().await;
    let (callback, mut updates) = spawn_status_listener().await;
    let message = sms().with_status_callback(callback.parse().unwrap());
    let sent = client(&base).send(&message).await.unwrap();

    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("delivered") {
        let (signature, body) = tokio::time::timeout(Duration::from_secs(10), updates.recv())
            .await
            .expect("a delivery update within 10 s")
            .unwrap();
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        assert!(
            twilio::signature::validate(&[AUTH_TOKEN], &callback, &params, &signature),
            "the service's verifier accepts the signature"
        );
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("MessageSid"), sent.sid);
        assert_eq!(get("To"), "+972501112233");
        assert_eq!(get("From"), "+97235550001");
        assert_eq!(get("AccountSid"), ACCOUNT_SID);
        statuses.push(get("MessageStatus"));
    }
    assert_eq!(statuses, ["sent", "delivered"]);
}
