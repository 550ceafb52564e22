//! Clients for any OpenAI-compatible server (OpenAI, vLLM, Ollama, a local
//! Whisper server): streamed chat completions and audio transcription. Only
//! the base URL and model names change between servers, so nothing here
//! assumes OpenAI-only fields in answers.

mod chat;
mod outcome;
mod stt;

pub use chat::OpenAiChat;
pub use stt::OpenAiSpeechToText;

use crate::error::ProviderError;

/// Maps an `{"error":{"message","type","code"}}` envelope that arrived inside
/// a 200 answer (mid-stream, or as a JSON body) to a typed error.
pub(crate) fn envelope_error(err: &serde_json::Value) -> ProviderError {
    let field = |k: &str| err.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let (kind, code) = (field("type"), field("code"));
    let message = match err.get("message").and_then(|v| v.as_str()) {
        Some(m) => crate::error::truncate(m),
        None => crate::error::truncate(&err.to_string()),
    };
    if [kind, code]
        .iter()
        .any(|s| s.contains("rate_limit") || s.contains("insufficient_quota"))
    {
        ProviderError::RateLimited { retry_after: None }
    } else if code == "invalid_api_key" || kind == "authentication_error" {
        ProviderError::Unauthorized
    } else {
        ProviderError::Http(format!("provider error: {message}"))
    }
}
