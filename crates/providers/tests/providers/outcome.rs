//! Structured call outcomes against a fake OpenAI-compatible server.

use agentlocator_providers::{
    CallOutcome, Conversation, ConversationLine, DisabledOutcomeModel, OpenAiChat, OutcomeModel,
    OutcomeRequest, ProviderError, Speaker, Urgency,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header as header_is, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{http, openai_cfg};

const SUMMARY: &str = "דני ביקש לקבוע תור לטיפול שיניים ביום שלישי.";

fn categories() -> Vec<String> {
    vec!["קביעת תור".into(), "שאלה על מחירים".into()]
}

fn request() -> OutcomeRequest {
    OutcomeRequest {
        categories: categories(),
        conversation: Conversation::Turns(vec![
            ConversationLine {
                speaker: Speaker::Agent,
                text: "שלום, מרפאת השיניים, במה אפשר לעזור?".into(),
            },
            ConversationLine {
                speaker: Speaker::Caller,
                text: "היי, זה דני, אני רוצה לקבוע תור ליום שלישי בבוקר.".into(),
            },
        ]),
    }
}

fn outcome_json() -> Value {
    json!({
        "summary": SUMMARY,
        "caller_name": "דני",
        "intent": "קביעת תור",
        "urgency": "normal",
        "callback_requested": true,
        "preferred_time": "יום שלישי בבוקר",
        "follow_up": true,
    })
}

/// A whole (non-streamed) completion whose message content is `content`.
fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    }))
}

async fn client(server: &MockServer) -> OpenAiChat {
    OpenAiChat::new(openai_cfg(&format!("{}/v1", server.uri())), http())
}

/// Serves `content` as the answer to any chat request and returns the
/// client's result.
async fn outcome_for(content: &str) -> Result<CallOutcome, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion(content))
        .mount(&server)
        .await;
    client(&server).await.call_outcome(request()).await
}

/// What `call_outcome` says when the endpoint answers `response`; it asks
/// exactly once.
async fn outcome_error(response: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .await
        .call_outcome(request())
        .await
        .unwrap_err()
}

fn has_schema(req: &Request) -> bool {
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.pointer("/response_format/type").cloned())
        == Some(json!("json_schema"))
}

#[tokio::test]
async fn the_request_carries_the_strict_schema_with_the_business_categories() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header_is("authorization", "Bearer sk-test-key"))
        .and(body_partial_json(json!({
            "model": "test-chat-model",
            "stream": false,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "call_outcome",
                    "strict": true,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "summary": {"type": "string"},
                            "caller_name": {"type": ["string", "null"]},
                            "intent": {
                                "type": "string",
                                "enum": ["קביעת תור", "שאלה על מחירים", "other"]
                            },
                            "urgency": {"type": "string", "enum": ["low", "normal", "high"]},
                            "callback_requested": {"type": "boolean"},
                            "preferred_time": {"type": ["string", "null"]},
                            "follow_up": {"type": "boolean"}
                        },
                        "required": [
                            "summary", "caller_name", "intent", "urgency",
                            "callback_requested", "preferred_time", "follow_up"
                        ],
                        "additionalProperties": false
                    }
                }
            }
        })))
        .respond_with(completion(&outcome_json().to_string()))
        .expect(1)
        .mount(&server)
        .await;

    let model = client(&server).await;
    assert!(model.is_enabled());
    model.call_outcome(request()).await.unwrap();

    // The conversation reaches the model labelled by speaker, in order.
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let user = sent
        .pointer("/messages/1/content")
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(
        user,
        "נציג: שלום, מרפאת השיניים, במה אפשר לעזור?\n\
         מתקשר: היי, זה דני, אני רוצה לקבוע תור ליום שלישי בבוקר."
    );
}

#[tokio::test]
async fn a_valid_hebrew_answer_parses_into_the_outcome() {
    let outcome = outcome_for(&outcome_json().to_string()).await.unwrap();
    assert_eq!(
        outcome,
        CallOutcome {
            summary: SUMMARY.into(),
            caller_name: Some("דני".into()),
            intent: "קביעת תור".into(),
            urgency: Urgency::Normal,
            callback_requested: true,
            preferred_time: Some("יום שלישי בבוקר".into()),
            follow_up: true,
        }
    );
}

#[tokio::test]
async fn a_business_without_categories_gets_other_as_the_only_intent() {
    let server = MockServer::start().await;
    let mut answer = outcome_json();
    answer["intent"] = json!("other");
    Mock::given(method("POST"))
        .and(body_partial_json(json!({
            "response_format": {"json_schema": {"schema": {"properties": {
                "intent": {"enum": ["other"]}
            }}}}
        })))
        .respond_with(completion(&answer.to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let req = OutcomeRequest {
        categories: vec![],
        conversation: Conversation::Voicemail("שלום, זה דני, תחזרו אליי בבקשה.".into()),
    };
    let outcome = client(&server).await.call_outcome(req).await.unwrap();
    assert_eq!(outcome.intent, "other");
}

#[tokio::test]
async fn a_server_that_rejects_json_schema_is_asked_again_with_an_instruction_and_the_embedded_json_is_parsed()
 {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(has_schema)
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {
                "message": "Unsupported value: 'response_format.type' does not support 'json_schema' with this model.",
                "type": "invalid_request_error",
                "param": "response_format",
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let prose = format!(
        "בטח, הנה הסיכום:\n```json\n{}\n```\nבהצלחה!",
        serde_json::to_string_pretty(&outcome_json()).unwrap()
    );
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(|req: &Request| !has_schema(req))
        .respond_with(completion(&prose))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = client(&server).await.call_outcome(request()).await.unwrap();
    assert_eq!(outcome.summary, SUMMARY);

    // The retry carries the schema as an instruction instead.
    let requests = server.received_requests().await.unwrap();
    let retry: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert!(retry.get("response_format").is_none());
    let system = retry
        .pointer("/messages/0/content")
        .unwrap()
        .as_str()
        .unwrap();
    assert!(system.contains("JSON") && system.contains("additionalProperties"));
}

#[tokio::test]
async fn a_400_about_something_else_is_not_retried() {
    let err = outcome_error(ResponseTemplate::new(400).set_body_json(json!({
        "error": {"message": "The model does not exist", "param": "model"}
    })))
    .await;
    assert_eq!(
        err.to_string(),
        "http error: HTTP 400: The model does not exist"
    );
}

#[tokio::test]
async fn every_off_schema_answer_is_invalid_output_never_a_partial_outcome() {
    type Spoil = fn(&mut Value);
    let off_schema: [(&str, Spoil); 6] = [
        ("an intent outside the categories", |a| {
            a["intent"] = json!("הזמנת פיצה")
        }),
        ("a missing field", |a| {
            a.as_object_mut().unwrap().remove("follow_up");
        }),
        ("an extra field", |a| a["sentiment"] = json!("positive")),
        ("an empty summary", |a| a["summary"] = json!("  ")),
        ("an overlong summary", |a| {
            a["summary"] = json!("א".repeat(401))
        }),
        ("an unknown urgency", |a| a["urgency"] = json!("critical")),
    ];
    for (what, spoil) in off_schema {
        let mut answer = outcome_json();
        spoil(&mut answer);
        let err = outcome_for(&answer.to_string()).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::InvalidOutput(_)),
            "{what}: {err:?}"
        );
        assert_eq!(err.kind(), "invalid_output", "{what}");
    }
}

#[tokio::test]
async fn a_500_is_reported_as_a_server_error() {
    let err = outcome_error(ResponseTemplate::new(500).set_body_string("<html>oops</html>")).await;
    assert!(
        matches!(err, ProviderError::Server { status: 500 }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_429_and_a_401_keep_the_chat_clients_mapping() {
    for (status, kind) in [(429, "rate_limited"), (401, "unauthorized")] {
        let err = outcome_error(ResponseTemplate::new(status)).await;
        assert_eq!(err.kind(), kind);
    }
}

#[tokio::test]
async fn a_server_slower_than_the_whole_answer_deadline_times_out() {
    let slow =
        completion(&outcome_json().to_string()).set_delay(std::time::Duration::from_millis(2500));
    let err = outcome_error(slow).await;
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
}

#[tokio::test]
async fn the_disabled_stand_in_answers_disabled() {
    let model = DisabledOutcomeModel::new();
    assert!(!model.is_enabled());
    let err = model.call_outcome(request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Disabled));
}
