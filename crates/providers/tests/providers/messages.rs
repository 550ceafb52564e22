//! Twilio Messages API: path, Basic auth, form fields per sender and channel,
//! the answer, and which failures the notifying job may retry.

use std::collections::BTreeMap;
use std::time::Duration;

use agentlocator_providers::{
    Content, OutboundMessage, ProviderError, Sender, TwilioMessagesClient, TwilioRestConfig,
};
use secrecy::SecretString;
use url::Url;
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC123/Messages.json";
/// `AC123:twilio-secret-token`, base64.
const BASIC: &str = "Basic QUMxMjM6dHdpbGlvLXNlY3JldC10b2tlbg==";
const TOKEN: &str = "twilio-secret-token";
const SUMMARY_HE: &str = "דני כהן התקשר, מבקש לקבוע תור לתספורת ביום חמישי. דחיפות: רגילה.";
const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";

fn client_for(base: &str) -> TwilioMessagesClient {
    let cfg = TwilioRestConfig {
        account_sid: "AC123".into(),
        auth_token: SecretString::from(TOKEN),
        api_base_url: base.to_owned(),
    };
    TwilioMessagesClient::new(cfg, reqwest::Client::builder())
        .unwrap()
        .with_try_timeout(Duration::from_millis(300))
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({
        "sid": "SM0123456789abcdef0123456789abcdef",
        "status": "queued",
        "to": "+972501234567",
        "body": SUMMARY_HE,
    }))
}

async fn mount_accepting(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(header_is("authorization", BASIC))
        .and(header_is(
            "content-type",
            "application/x-www-form-urlencoded",
        ))
        .respond_with(accepted())
        .expect(1)
        .mount(server)
        .await;
}

/// The form the one request carried, field → value.
async fn sent_form(server: &MockServer) -> BTreeMap<String, String> {
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect()
}

/// What `send` says of an SMS when Twilio answers `response`; it asks
/// Twilio exactly once.
async fn sms_error(response: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    client_for(&server.uri())
        .send(&sms(SUMMARY_HE))
        .await
        .unwrap_err()
}

fn sms(body: &str) -> OutboundMessage {
    OutboundMessage::sms("+972501234567", Sender::from_setting("+97235551234"), body)
}

#[tokio::test]
async fn an_sms_is_posted_to_the_accounts_messages_path_with_basic_auth_and_its_answer_parsed() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let callback = Url::parse("https://agent.example.co.il/webhook/message_status").unwrap();
    let sent = client_for(&server.uri())
        .send(&sms(SUMMARY_HE).with_status_callback(callback))
        .await
        .unwrap();
    assert_eq!(sent.sid, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(sent.status, "queued");
    let form = sent_form(&server).await;
    let expected: BTreeMap<String, String> = [
        ("To", "+972501234567"),
        ("From", "+97235551234"),
        ("Body", SUMMARY_HE),
        (
            "StatusCallback",
            "https://agent.example.co.il/webhook/message_status",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(form, expected);
}

#[tokio::test]
async fn an_alphanumeric_sender_id_goes_as_from_and_no_callback_is_sent_when_none_is_given() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let msg = OutboundMessage::sms("+972501234567", Sender::from_setting("MyBiz"), SUMMARY_HE);
    client_for(&server.uri()).send(&msg).await.unwrap();
    let form = sent_form(&server).await;
    assert_eq!(form["From"], "MyBiz");
    assert!(!form.contains_key("StatusCallback"));
    assert!(!form.contains_key("MessagingServiceSid"));
}

#[tokio::test]
async fn a_messaging_service_sender_goes_as_messaging_service_sid_not_from() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sender = Sender::from_setting(SERVICE_SID);
    assert_eq!(sender, Sender::Service(SERVICE_SID.into()));
    let msg = OutboundMessage::sms("+972501234567", sender, SUMMARY_HE);
    client_for(&server.uri()).send(&msg).await.unwrap();
    let form = sent_form(&server).await;
    assert_eq!(form["MessagingServiceSid"], SERVICE_SID);
    assert!(!form.contains_key("From"));
    assert_eq!(form["Body"], SUMMARY_HE);
}

#[tokio::test]
async fn a_whatsapp_template_sends_content_sid_and_hebrew_variables_without_a_body() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let variables: BTreeMap<String, String> = [
        ("1".to_owned(), "דני כהן".to_owned()),
        ("2".to_owned(), SUMMARY_HE.to_owned()),
    ]
    .into_iter()
    .collect();
    let msg = OutboundMessage::whatsapp_template(
        "+972501234567",
        "whatsapp:+97235551234",
        "HX0123456789abcdef0123456789abcdef",
        variables,
    );
    client_for(&server.uri()).send(&msg).await.unwrap();
    let form = sent_form(&server).await;
    assert_eq!(form["To"], "whatsapp:+972501234567");
    assert_eq!(form["From"], "whatsapp:+97235551234");
    assert_eq!(form["ContentSid"], "HX0123456789abcdef0123456789abcdef");
    assert!(!form.contains_key("Body"));
    // A JSON object string with the Hebrew as is, not \u-escaped.
    assert_eq!(
        form["ContentVariables"],
        format!(r#"{{"1":"דני כהן","2":"{SUMMARY_HE}"}}"#)
    );
    let parsed: BTreeMap<String, String> = serde_json::from_str(&form["ContentVariables"]).unwrap();
    assert_eq!(parsed["1"], "דני כהן");
}

#[tokio::test]
async fn a_400_with_twilios_error_body_is_a_permanent_rejection_carrying_code_21211() {
    let err = sms_error(ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "code": 21211,
        "message": "The 'To' number +97212 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    })))
    .await;
    match &err {
        ProviderError::Rejected { code, message } => {
            assert_eq!(*code, 21211);
            assert_eq!(
                message,
                "The 'To' number +97212 is not a valid phone number."
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(!err.to_string().contains(TOKEN));
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_404_for_a_wrong_account_is_permanent_not_retried_like_a_missing_recording() {
    let err = sms_error(ResponseTemplate::new(404).set_body_json(serde_json::json!({
        "code": 20404,
        "message": "The requested resource was not found",
        "status": 404,
    })))
    .await;
    assert!(matches!(err, ProviderError::Rejected { code: 20404, .. }));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_401_is_unauthorized_and_permanent() {
    let err = sms_error(ResponseTemplate::new(401).set_body_json(serde_json::json!({
        "code": 20003, "message": "Authenticate", "status": 401,
    })))
    .await;
    assert!(matches!(err, ProviderError::Unauthorized));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_429_is_retryable_and_keeps_twilios_retry_after() {
    let err = sms_error(ResponseTemplate::new(429).insert_header("retry-after", "3")).await;
    assert!(err.is_transient());
    assert!(matches!(
        err,
        ProviderError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3)
    ));
}

#[tokio::test]
async fn a_503_is_retryable_and_the_client_itself_sends_only_once() {
    let err = sms_error(ResponseTemplate::new(503)).await;
    assert!(matches!(err, ProviderError::Server { status: 503 }));
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_answer_slower_than_the_try_deadline_is_a_retryable_timeout() {
    let err = sms_error(accepted().set_delay(Duration::from_secs(2))).await;
    assert!(matches!(err, ProviderError::Timeout));
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_601_character_hebrew_body_is_refused_without_a_request_and_600_is_sent() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let client = client_for(&server.uri());
    // 601 characters but 1,202 bytes: the limit counts characters.
    let err = client.send(&sms(&"ש".repeat(601))).await.unwrap_err();
    assert!(matches!(
        err,
        ProviderError::MessageTooLong {
            chars: 601,
            limit: 600
        }
    ));
    assert!(!err.is_transient());
    assert!(server.received_requests().await.unwrap().is_empty());
    client.send(&sms(&"ש".repeat(600))).await.unwrap();
    assert_eq!(sent_form(&server).await["Body"].chars().count(), 600);
}

#[tokio::test]
async fn a_success_answer_without_a_sid_is_malformed() {
    let err = sms_error(ResponseTemplate::new(201).set_body_string("<html>שגיאה</html>")).await;
    assert!(matches!(err, ProviderError::Malformed(_)));
}

#[test]
fn only_mg_with_32_hex_digits_is_a_messaging_service() {
    assert_eq!(
        Sender::from_setting(SERVICE_SID),
        Sender::Service(SERVICE_SID.into())
    );
    for from in [
        "+97235551234",
        "MyBiz",
        "MGShop",
        "MG0123456789abcdef0123456789abcde",
        "MG0123456789abcdef0123456789abcdeg",
        "whatsapp:+97235551234",
    ] {
        assert_eq!(
            Sender::from_setting(from),
            Sender::From(from.into()),
            "{from}"
        );
    }
}

#[test]
fn the_whatsapp_prefix_is_added_once() {
    let msg = OutboundMessage::whatsapp_template(
        "whatsapp:+972501234567",
        "+97235551234",
        "HX1",
        BTreeMap::new(),
    );
    assert_eq!(msg.to, "whatsapp:+972501234567");
    assert_eq!(msg.sender, Sender::From("whatsapp:+97235551234".into()));
    assert!(matches!(msg.content, Content::Template { .. }));
}

#[test]
fn the_client_refuses_an_account_sid_that_is_not_a_path_segment_and_never_prints_the_token() {
    let cfg = TwilioRestConfig {
        account_sid: "AC123/../x".into(),
        auth_token: SecretString::from(TOKEN),
        api_base_url: "https://api.twilio.com".into(),
    };
    assert!(TwilioMessagesClient::new(cfg, reqwest::Client::builder()).is_err());
    let client = client_for("https://api.twilio.com");
    assert!(!format!("{client:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_lost_send_is_found_in_twilios_list_by_its_marker_and_a_longer_number_is_not_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(header_is("authorization", BASIC))
        .and(wiremock::matchers::query_param("To", "+972501234567"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "messages": [
                {"sid": "SM1", "status": "delivered", "body": "📞 שיחה חדשה: אחר. שיחה #420"},
                {"sid": "SM2", "status": "queued", "body": "📞 שיחה חדשה: תור. שיחה #42"},
            ],
            "next_page_uri": null,
        })))
        .mount(&server)
        .await;
    let client = client_for(&server.uri());

    let found = client
        .find_sent("+972501234567", "שיחה #42")
        .await
        .unwrap()
        .expect("the message for call 42 is in the list");
    assert_eq!(
        (found.sid.as_str(), found.status.as_str()),
        ("SM2", "queued")
    );
    assert_eq!(
        client.find_sent("+972501234567", "שיחה #4").await.unwrap(),
        None,
        "#4 is neither #42 nor #420"
    );
}

#[tokio::test]
async fn a_failing_list_is_an_error_so_the_job_waits_instead_of_sending_twice() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client_for(&server.uri())
        .find_sent("+972501234567", "שיחה #42")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
