//! Structured call outcomes: a non-streamed chat completion with a strict JSON schema, or a JSON instruction where schemas are refused.

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use super::chat::{JSON_ANSWER_CAP, OpenAiChat, whole_json_answer};
use crate::error::{ProviderError, body_message, status_error};
use crate::http::{check_status, read_capped};
use crate::outcome::{
    CallOutcome, OUTCOME_SYSTEM_PROMPT_HE, OutcomeRequest, allowed_intents, outcome_schema,
    parse_outcome,
};
use crate::traits::OutcomeModel;
use crate::types::ChatMessage;

/// Error bodies are read only to decide on the fallback.
const ERROR_BODY_CAP: u64 = 64 * 1024;

/// How the output format is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `response_format: json_schema`, strict: the server enforces the shape.
    Schema,
    /// Only an instruction in the prompt, for servers (older vLLM, Ollama
    /// builds, proxies) that refuse `json_schema`; the answer may wrap the
    /// object in prose, and validation is all that stands between it and
    /// the database.
    Instruction,
}

#[async_trait]
impl OutcomeModel for OpenAiChat {
    fn name(&self) -> &'static str {
        "openai-outcome"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn call_outcome(&self, request: OutcomeRequest) -> Result<CallOutcome, ProviderError> {
        match self.ask(&request, Mode::Schema).await {
            Err(Rejected::Schema) => {
                tracing::info!("server rejected json_schema; asking with a JSON instruction");
                self.ask(&request, Mode::Instruction)
                    .await
                    .map_err(Rejected::into_error)
            }
            other => other.map_err(Rejected::into_error),
        }
    }
}

/// Why one attempt failed: the schema itself refused (worth one retry in
/// [`Mode::Instruction`]), or anything else.
enum Rejected {
    Schema,
    Other(ProviderError),
}

impl Rejected {
    fn into_error(self) -> ProviderError {
        match self {
            // Only reachable when the instruction attempt is refused the
            // same way, which a server without `response_format` cannot do.
            Self::Schema => ProviderError::Http("HTTP 400: response_format rejected".into()),
            Self::Other(e) => e,
        }
    }
}

impl From<ProviderError> for Rejected {
    fn from(e: ProviderError) -> Self {
        Self::Other(e)
    }
}

impl OpenAiChat {
    async fn ask(&self, request: &OutcomeRequest, mode: Mode) -> Result<CallOutcome, Rejected> {
        // A non-streamed answer arrives whole, so the first-token deadline of
        // live calls does not apply; the whole-answer deadline does.
        let deadline = Instant::now() + self.cfg.total_timeout;
        let body = request_body(&self.cfg.chat_model, request, mode);
        let send = self
            .http
            .post(&self.url)
            .bearer_auth(self.cfg.api_key.expose_secret())
            .json(&body)
            .send();
        let resp = timeout_at(deadline, send)
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(ProviderError::from)?;

        if mode == Mode::Schema && resp.status() == StatusCode::BAD_REQUEST {
            let headers = resp.headers().clone();
            let body = timeout_at(deadline, read_capped(resp, ERROR_BODY_CAP))
                .await
                .map_err(|_| ProviderError::Timeout)?
                .unwrap_or_default();
            if rejects_schema(&body) {
                return Err(Rejected::Schema);
            }
            return Err(status_error(StatusCode::BAD_REQUEST, &headers, &body).into());
        }

        let resp = timeout_at(deadline, check_status(resp))
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let body = timeout_at(deadline, read_capped(resp, JSON_ANSWER_CAP))
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let text = whole_json_answer(&body)?.text;
        Ok(parse_outcome(
            &text,
            &request.categories,
            mode == Mode::Instruction,
        )?)
    }
}

/// The chat request for one attempt.
fn request_body(model: &str, request: &OutcomeRequest, mode: Mode) -> Value {
    let schema = outcome_schema(&request.categories);
    let mut system = format!(
        "{OUTCOME_SYSTEM_PROMPT_HE}\n\nהקטגוריות של העסק: {}",
        allowed_intents(&request.categories).join(", ")
    );
    if mode == Mode::Instruction {
        system.push_str(&format!(
            "\n\nהחזר אך ורק אובייקט JSON אחד, בלי טקסט נוסף, לפי הסכמה הזו:\n{schema}"
        ));
    }
    let messages = vec![
        ChatMessage::system(system),
        ChatMessage::user(request.conversation.to_prompt_text()),
    ];
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": false,
    });
    if mode == Mode::Schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": "call_outcome", "strict": true, "schema": schema},
        });
    }
    body
}

/// Whether a 400 is about the output format rather than the request at
/// large: the message or the offending `param` names it.
fn rejects_schema(body: &[u8]) -> bool {
    let param = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/param")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let message = body_message(body).unwrap_or_default();
    [param, message].iter().any(|s| {
        let s = s.to_ascii_lowercase();
        s.contains("response_format") || s.contains("json_schema")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_400_naming_response_format_in_param_or_message_rejects_the_schema() {
        assert!(rejects_schema(
            br#"{"error":{"message":"Invalid parameter","param":"response_format"}}"#
        ));
        assert!(rejects_schema(
            br#"{"error":{"message":"json_schema is not supported by this model"}}"#
        ));
        assert!(!rejects_schema(
            br#"{"error":{"message":"model not found","param":"model"}}"#
        ));
        assert!(!rejects_schema(b"not json"));
    }
}
