//! Streamed chat against fake OpenAI-compatible servers.

use std::time::Duration;

use agentlocator_providers::{
    ChatDelta, ChatMessage, LanguageModel, OpenAiChat, ProviderError, ToolCall, ToolSpec,
};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use futures::StreamExt;
use wiremock::matchers::{body_partial_json, header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{chunked_body, collect, delta_event, finish_events, http, openai_cfg, serve};

fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

fn messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("אתה עוזר טלפוני"),
        ChatMessage::user("מה שעות הפתיחה?"),
    ]
}

async fn chat_against(server: &MockServer) -> OpenAiChat {
    OpenAiChat::new(openai_cfg(&format!("{}/v1", server.uri())), http())
}

/// A server whose chat endpoint streams these chunks with a pause between.
async fn chunked_server(chunks: Vec<Vec<u8>>, pause: Duration) -> OpenAiChat {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let chunks = chunks.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    chunked_body(chunks, pause),
                )
                    .into_response()
            }
        }),
    );
    let base = serve(router).await;
    OpenAiChat::new(openai_cfg(&format!("{base}/v1/")), http())
}

#[tokio::test]
async fn hebrew_deltas_stream_in_order_from_a_well_formed_answer() {
    let server = MockServer::start().await;
    let body = format!(
        "{}{}{}",
        delta_event("שלום"),
        delta_event(", אנחנו פתוחים"),
        finish_events()
    );
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header_is("authorization", "Bearer sk-test-key"))
        .and(body_partial_json(serde_json::json!({
            "model": "test-chat-model",
            "stream": true,
            "messages": [
                {"role": "system", "content": "אתה עוזר טלפוני"},
                {"role": "user", "content": "מה שעות הפתיחה?"}
            ]
        })))
        .respond_with(sse(body))
        .expect(1)
        .mount(&server)
        .await;

    let chat = chat_against(&server).await;
    assert!(chat.is_enabled());
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(texts, vec!["שלום", ", אנחנו פתוחים"]);
}

#[tokio::test]
async fn an_answer_split_inside_a_hebrew_character_is_reassembled() {
    let full = format!(
        ": keep-alive\r\n\r\n{}{}{}",
        delta_event("שלום עולם").replace("\n", "\r\n"),
        delta_event("תודה"),
        finish_events()
    );
    let bytes = full.as_bytes();
    // Cut inside the first byte pair of "ש" (0xD7 0xA9), inside "data:",
    // between a \r and its \n, and byte-by-byte through "תודה".
    let shin = bytes.windows(2).position(|w| w == [0xD7, 0xA9]).unwrap();
    let data_kw = full.find("data").unwrap();
    let crlf = full.find("}\r\n").unwrap() + 2;
    let tav = full.find("תודה").unwrap();
    let mut cuts = vec![data_kw + 2, shin + 1, crlf];
    cuts.extend(tav..tav + "תודה".len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
        chunks.push(bytes[last..c].to_vec());
        last = c;
    }

    let chat = chunked_server(chunks, Duration::from_millis(2)).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(texts.concat(), "שלום עולםתודה");
}

#[tokio::test]
async fn several_events_in_one_read_with_comments_and_blank_deltas_yield_only_text() {
    let server = MockServer::start().await;
    let role_only = serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant"}}]});
    let empty = serde_json::json!({"choices":[{"index":0,"delta":{"content":""}}]});
    let body = format!(
        ": ping\n\ndata: {role_only}\n\ndata: {empty}\n\n:another comment\n{}{}{}",
        delta_event("כן"),
        delta_event(" בטח"),
        finish_events()
    );
    Mock::given(method("POST"))
        .respond_with(sse(body))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(err.is_none());
    assert_eq!(texts, vec!["כן", " בטח"]);
}

#[tokio::test]
async fn a_401_is_reported_as_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {"message": "Incorrect API key provided: sk-te***key", "type": "invalid_request_error", "code": "invalid_api_key"}
        })))
        .mount(&server)
        .await;
    let err = chat_against(&server)
        .await
        .stream_chat(messages())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Unauthorized), "{err:?}");
    assert!(!err.to_string().contains("sk-"));
}

#[tokio::test]
async fn a_429_carries_the_retry_after_delay() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(serde_json::json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})),
        )
        .mount(&server)
        .await;
    let err = chat_against(&server)
        .await
        .stream_chat(messages())
        .await
        .err()
        .unwrap();
    match err {
        ProviderError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_500_is_reported_as_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .mount(&server)
        .await;
    let err = chat_against(&server)
        .await
        .stream_chat(messages())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Server { status: 500 }),
        "{err:?}"
    );
    assert_eq!(err.kind(), "server");
}

#[tokio::test]
async fn an_error_envelope_mid_stream_ends_the_stream_with_an_error() {
    let server = MockServer::start().await;
    let body = format!(
        "{}data: {}\n\n{}",
        delta_event("רגע"),
        serde_json::json!({"error": {"message": "The server had an error", "type": "server_error", "code": null}}),
        delta_event("never seen")
    );
    Mock::given(method("POST"))
        .respond_with(sse(body))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert_eq!(texts, vec!["רגע"]);
    let err = err.expect("an error item");
    assert!(err.to_string().contains("The server had an error"), "{err}");
}

#[tokio::test]
async fn a_rate_limit_envelope_mid_stream_is_typed_as_rate_limited() {
    let server = MockServer::start().await;
    let body = format!(
        "data: {}\n\n",
        serde_json::json!({"error": {"message": "quota", "type": "insufficient_quota"}})
    );
    Mock::given(method("POST"))
        .respond_with(sse(body))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (_, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(
        matches!(err, Some(ProviderError::RateLimited { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_error_envelope_sent_as_a_json_body_with_status_200_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"error": {"message": "model not loaded", "type": "invalid_request_error"}}),
        ))
        .mount(&server)
        .await;
    let err = chat_against(&server)
        .await
        .stream_chat(messages())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("model not loaded"), "{err}");
}

#[tokio::test]
async fn a_server_that_ignores_stream_and_answers_json_still_gives_the_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "בוקר טוב"}, "finish_reason": "stop"}]
        })))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(err.is_none());
    assert_eq!(texts, vec!["בוקר טוב"]);
}

#[tokio::test]
async fn an_event_that_is_not_json_is_malformed() {
    let server = MockServer::start().await;
    let body = format!("{}data: {{not json\n\n", delta_event("א"));
    Mock::given(method("POST"))
        .respond_with(sse(body))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert_eq!(texts, vec!["א"]);
    assert!(matches!(err, Some(ProviderError::Malformed(_))), "{err:?}");
}

#[tokio::test]
async fn a_stream_cut_off_before_done_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(delta_event("חצי")))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert_eq!(texts, vec!["חצי"]);
    assert!(matches!(err, Some(ProviderError::Http(_))), "{err:?}");
}

#[tokio::test]
async fn a_stream_that_finishes_without_done_is_complete() {
    let server = MockServer::start().await;
    let stop = serde_json::json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]});
    Mock::given(method("POST"))
        .respond_with(sse(format!("{}data: {stop}\n\n", delta_event("סוף"))))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert_eq!(texts, vec!["סוף"]);
    assert!(err.is_none(), "{err:?}");
}

#[tokio::test]
async fn headers_that_arrive_after_the_first_token_deadline_time_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(finish_events()).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let err = chat_against(&server)
        .await
        .stream_chat(messages())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn keep_alives_without_a_token_hit_the_first_token_deadline() {
    // Comments arrive every 100 ms but no content: the caller is still
    // waiting in silence, so the first-token deadline (300 ms) must fire.
    let chunks = vec![b": ping\n\n".to_vec(); 20];
    let chat = chunked_server(chunks, Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(texts.is_empty());
    assert!(matches!(err, Some(ProviderError::Timeout)), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn a_stream_running_past_the_overall_deadline_times_out() {
    // A token every 100 ms forever: each one is within the first-token
    // deadline, but the 1.5 s total deadline must end it.
    let chunks = vec![delta_event("מילה ").into_bytes(); 100];
    let chat = chunked_server(chunks, Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(texts.len() >= 3, "got {} deltas", texts.len());
    assert!(matches!(err, Some(ProviderError::Timeout)), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(2500));
}

fn end_call_tool() -> ToolSpec {
    ToolSpec {
        name: "end_call".into(),
        description: "מסיים את השיחה כשהמתקשר נפרד".into(),
        parameters: serde_json::json!({"type": "object", "properties": {}}),
    }
}

#[tokio::test]
async fn a_request_with_tools_sends_them_and_gets_back_text_then_the_whole_call() {
    let server = MockServer::start().await;
    let call = serde_json::json!({"choices":[{"index":0,"delta":{"tool_calls":[
        {"index":0,"id":"call_end","type":"function","function":{"name":"end_call","arguments":"{"}}
    ]},"finish_reason":null}]});
    let rest = serde_json::json!({"choices":[{"index":0,"delta":{"tool_calls":[
        {"index":0,"function":{"arguments":"}"}}
    ]},"finish_reason":null}]});
    let body = format!(
        "{}data: {call}\n\ndata: {rest}\n\n{}",
        delta_event("להתראות!"),
        finish_events().replace("\"stop\"", "\"tool_calls\"")
    );
    let earlier = ToolCall {
        id: "call_hours".into(),
        name: "business_hours".into(),
        arguments: "{}".into(),
    };
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(serde_json::json!({
            "stream": true,
            "tools": [{"type": "function", "function": {
                "name": "end_call",
                "description": "מסיים את השיחה כשהמתקשר נפרד",
                "parameters": {"type": "object", "properties": {}},
            }}],
            "messages": [
                {"role": "user", "content": "מתי אתם פתוחים?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_hours", "type": "function",
                    "function": {"name": "business_hours", "arguments": "{}"},
                }]},
                {"role": "tool", "tool_call_id": "call_hours", "content": "{\"summary\":\"עד שש\"}"},
                {"role": "user", "content": "תודה, ביי"},
            ],
        })))
        .respond_with(sse(body))
        .expect(1)
        .mount(&server)
        .await;

    let chat = chat_against(&server).await;
    let messages = vec![
        ChatMessage::user("מתי אתם פתוחים?"),
        ChatMessage::assistant_tool_calls("", vec![earlier]),
        ChatMessage::tool_result("call_hours", r#"{"summary":"עד שש"}"#),
        ChatMessage::user("תודה, ביי"),
    ];
    let deltas: Vec<ChatDelta> = chat
        .stream_chat_tools(messages, vec![end_call_tool()])
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(
        deltas,
        vec![
            ChatDelta::Text("להתראות!".into()),
            ChatDelta::ToolCall(ToolCall {
                id: "call_end".into(),
                name: "end_call".into(),
                arguments: "{}".into(),
            }),
        ]
    );
}

#[tokio::test]
async fn a_plain_chat_offers_no_tools_at_all() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(format!("{}{}", delta_event("כן"), finish_events())))
        .mount(&server)
        .await;
    let chat = chat_against(&server).await;
    let (texts, err) = collect(chat.stream_chat(messages()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(texts, vec!["כן"]);
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert!(sent.get("tools").is_none(), "{sent}");
}
