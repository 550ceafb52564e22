//! Streamed chat completions: `POST {base}/chat/completions` with
//! `"stream": true`, parsed into a stream of text deltas with a
//! time-to-first-token deadline and an overall deadline.

use std::collections::VecDeque;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use super::envelope_error;
use crate::config::{OpenAiConfig, join_url};
use crate::error::ProviderError;
use crate::http::{check_status, read_capped};
use crate::sse::{SseEvent, SseParser};
use crate::traits::LanguageModel;
use crate::types::ChatMessage;

/// A non-streamed JSON answer (some compatible servers ignore `stream`)
/// bigger than this is not a chat reply.
pub(super) const JSON_ANSWER_CAP: u64 = 4 * 1024 * 1024;

/// Streaming chat against an OpenAI-compatible `/chat/completions`.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    // Shared with the outcome call in `super::outcome`: same server, model
    // and deadlines, one client.
    pub(super) cfg: OpenAiConfig,
    pub(super) http: reqwest::Client,
    pub(super) url: String,
}

impl OpenAiChat {
    /// Builds the client on a shared `reqwest::Client` (connection reuse).
    pub fn new(cfg: OpenAiConfig, http: reqwest::Client) -> Self {
        let url = join_url(&cfg.base_url, "chat/completions");
        Self { cfg, http, url }
    }
}

#[async_trait]
impl LanguageModel for OpenAiChat {
    fn name(&self) -> &'static str {
        "openai-chat"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> Result<BoxStream<'static, Result<String, ProviderError>>, ProviderError> {
        let started = Instant::now();
        let total_deadline = started + self.cfg.total_timeout;
        let first_deadline = (started + self.cfg.ttft_timeout).min(total_deadline);
        let body = json!({
            "model": self.cfg.chat_model,
            "messages": messages,
            "stream": true,
        });
        let request = self
            .http
            .post(&self.url)
            .bearer_auth(self.cfg.api_key.expose_secret())
            .header(ACCEPT, "text/event-stream")
            .json(&body)
            .send();
        let resp = timeout_at(first_deadline, request)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let resp = timeout_at(first_deadline, check_status(resp))
            .await
            .map_err(|_| ProviderError::Timeout)??;

        let is_json = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            let body = timeout_at(first_deadline, read_capped(resp, JSON_ANSWER_CAP))
                .await
                .map_err(|_| ProviderError::Timeout)??;
            let text = whole_json_answer(&body)?;
            return Ok(stream::iter((!text.is_empty()).then_some(Ok(text))).boxed());
        }

        Ok(delta_stream(
            resp.bytes_stream(),
            started,
            first_deadline,
            total_deadline,
        ))
    }
}

/// A complete (non-streamed) completion or an error envelope with status 200.
pub(super) fn whole_json_answer(body: &[u8]) -> Result<String, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Malformed(format!("chat answer is not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(envelope_error(err));
    }
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Malformed("chat answer has no message content".into()))
}

/// Turns the SSE byte stream into text deltas.
///
/// Public to the crate so tests can drive it with hand-cut byte chunks.
pub(crate) fn delta_stream<S, E>(
    bytes: S,
    started: Instant,
    first_deadline: Instant,
    total_deadline: Instant,
) -> BoxStream<'static, Result<String, ProviderError>>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<ProviderError>,
{
    let state = DeltaState {
        bytes: bytes.map(|r| r.map_err(Into::into)).boxed(),
        parser: SseParser::new(),
        pending: VecDeque::new(),
        got_first: false,
        done: false,
        saw_finish: false,
        started,
        first_deadline,
        total_deadline,
    };
    stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        let item = st.next_item().await?;
        // One error ends the stream: the caller must not keep waiting.
        let keep = item.is_ok().then_some(st);
        Some((item, keep))
    })
    .boxed()
}

struct DeltaState {
    bytes: BoxStream<'static, Result<Bytes, ProviderError>>,
    parser: SseParser,
    pending: VecDeque<Result<String, ProviderError>>,
    got_first: bool,
    /// `[DONE]` seen, an error queued, or the body ended.
    done: bool,
    /// A chunk carried `finish_reason`: a server that then closes without
    /// `[DONE]` still delivered a complete answer.
    saw_finish: bool,
    started: Instant,
    first_deadline: Instant,
    total_deadline: Instant,
}

impl DeltaState {
    async fn next_item(&mut self) -> Option<Result<String, ProviderError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if item.is_ok() && !self.got_first {
                    self.got_first = true;
                }
                return Some(item);
            }
            if self.done {
                return None;
            }
            let deadline = if self.got_first {
                self.total_deadline
            } else {
                self.first_deadline
            };
            match timeout_at(deadline, self.bytes.next()).await {
                Err(_) => {
                    self.done = true;
                    return Some(Err(ProviderError::Timeout));
                }
                Ok(Some(Ok(chunk))) => match self.parser.push(&chunk) {
                    Ok(events) => events.into_iter().for_each(|ev| self.handle(ev)),
                    Err(e) => self.fail(e),
                },
                Ok(Some(Err(e))) => self.fail(e),
                Ok(None) => {
                    if let Some(ev) = self.parser.finish() {
                        self.handle(ev);
                    }
                    if !self.done && !self.saw_finish {
                        self.fail(ProviderError::Http(
                            "chat stream ended before [DONE]".into(),
                        ));
                    }
                    self.done = true;
                }
            }
        }
    }

    fn fail(&mut self, e: ProviderError) {
        self.pending.push_back(Err(e));
        self.done = true;
    }

    fn handle(&mut self, ev: SseEvent) {
        if self.done {
            return; // anything after [DONE] or an error is ignored
        }
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        if data.is_empty() {
            return;
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                return self.fail(ProviderError::Malformed(format!(
                    "chat stream event is not JSON: {e}"
                )));
            }
        };
        if let Some(err) = v.get("error") {
            return self.fail(envelope_error(err));
        }
        if ev.event == "error" {
            return self.fail(envelope_error(&v));
        }
        let choice = v.pointer("/choices/0");
        if choice
            .and_then(|c| c.get("finish_reason"))
            .is_some_and(|f| !f.is_null())
        {
            self.saw_finish = true;
        }
        if let Some(delta) = choice
            .and_then(|c| c.pointer("/delta/content"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if !self.got_first && self.pending.is_empty() {
                let t_ttft_ms =
                    u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::debug!(t_ttft_ms, "first chat token");
            }
            self.pending.push_back(Ok(delta.to_owned()));
        }
    }
}
