//! Shared fakes and builders for the provider tests.

use std::time::Duration;

use agentlocator_providers::{OpenAiConfig, ProviderError};
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use secrecy::SecretString;

/// A fresh client per test, like the service's shared one.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// OpenAI settings against `base` with short deadlines so timeout tests
/// finish in well under a second.
pub fn openai_cfg(base: &str) -> OpenAiConfig {
    OpenAiConfig {
        api_key: SecretString::from("sk-test-key"),
        base_url: base.to_owned(),
        chat_model: "test-chat-model".into(),
        stt_model: "test-stt-model".into(),
        ttft_timeout: Duration::from_millis(300),
        total_timeout: Duration::from_millis(1500),
        stt_timeout: Duration::from_millis(300),
    }
}

/// Serves `router` on 127.0.0.1:0 and returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// A response body sent as these exact chunks, with a pause before each so
/// the client really receives them as separate reads.
pub fn chunked_body(chunks: Vec<Vec<u8>>, pause: Duration) -> axum::body::Body {
    let stream = futures::stream::iter(chunks).then(move |c| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(Bytes::from(c))
    });
    axum::body::Body::from_stream(stream)
}

/// Drains a delta stream into its texts and the error that ended it.
pub async fn collect(
    mut s: BoxStream<'static, Result<String, ProviderError>>,
) -> (Vec<String>, Option<ProviderError>) {
    let mut texts = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(t) => texts.push(t),
            Err(e) => {
                assert!(s.next().await.is_none(), "stream must end after an error");
                return (texts, Some(e));
            }
        }
    }
    (texts, None)
}

/// One SSE `data:` event carrying a content delta.
pub fn delta_event(content: &str) -> String {
    let chunk = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n")
}

/// The closing events of a well-formed stream.
pub fn finish_events() -> String {
    let chunk = serde_json::json!({
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    });
    format!("data: {chunk}\n\ndata: [DONE]\n\n")
}
