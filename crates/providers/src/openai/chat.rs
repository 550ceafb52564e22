//! Streamed chat completions: `POST {base}/chat/completions` with
//! `"stream": true`, parsed into a stream of text deltas and whole tool calls
//! with a time-to-first-token deadline and an overall deadline.

use std::collections::{BTreeMap, VecDeque};

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
use crate::types::{ChatDelta, ChatMessage, ToolCall, ToolSpec};

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
        // No tools offered, so no tool calls can come: only text passes.
        let deltas = self.start(messages, Vec::new()).await?;
        Ok(deltas
            .filter_map(|item| {
                futures::future::ready(match item {
                    Ok(ChatDelta::Text(text)) => Some(Ok(text)),
                    Ok(ChatDelta::ToolCall(_)) => None,
                    Err(e) => Some(Err(e)),
                })
            })
            .boxed())
    }

    async fn stream_chat_tools(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolSpec>,
    ) -> Result<BoxStream<'static, Result<ChatDelta, ProviderError>>, ProviderError> {
        self.start(messages, tools).await
    }
}

impl OpenAiChat {
    async fn start(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolSpec>,
    ) -> Result<BoxStream<'static, Result<ChatDelta, ProviderError>>, ProviderError> {
        let started = Instant::now();
        let total_deadline = started + self.cfg.total_timeout;
        let first_deadline = (started + self.cfg.ttft_timeout).min(total_deadline);
        let body = request_body(&self.cfg.chat_model, &messages, &tools);
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
            let answer = whole_json_answer(&body)?;
            let text = (!answer.text.is_empty()).then_some(ChatDelta::Text(answer.text));
            let calls = answer.tool_calls.into_iter().map(ChatDelta::ToolCall);
            return Ok(stream::iter(text.into_iter().chain(calls).map(Ok)).boxed());
        }

        Ok(delta_stream(
            resp.bytes_stream(),
            started,
            first_deadline,
            total_deadline,
        ))
    }
}

/// The streamed request; `tools` only when some are offered, since some
/// compatible servers reject an empty list.
fn request_body(model: &str, messages: &[ChatMessage], tools: &[ToolSpec]) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
    });
    if !tools.is_empty() {
        body["tools"] = json!(tools);
    }
    body
}

/// A whole (non-streamed) chat answer: what it said and the tools it called.
#[derive(Debug)]
pub(super) struct WholeAnswer {
    pub(super) text: String,
    pub(super) tool_calls: Vec<ToolCall>,
}

/// A complete (non-streamed) completion or an error envelope with status 200.
pub(super) fn whole_json_answer(body: &[u8]) -> Result<WholeAnswer, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Malformed(format!("chat answer is not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(envelope_error(err));
    }
    let message = v.pointer("/choices/0/message");
    let mut tool_calls = Vec::new();
    let listed = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array);
    for (position, call) in listed.into_iter().flatten().enumerate() {
        let mut partial = PartialCall::default();
        partial.absorb(call);
        tool_calls.push(partial.finish(position as u64)?);
    }
    let text = message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match text {
        Some(text) => Ok(WholeAnswer { text, tool_calls }),
        // An answer that only calls tools has `content: null`.
        None if !tool_calls.is_empty() => Ok(WholeAnswer {
            text: String::new(),
            tool_calls,
        }),
        None => Err(ProviderError::Malformed(
            "chat answer has no message content".into(),
        )),
    }
}

/// A tool call as its fragments arrive: the first carries the id and name,
/// the rest only pieces of the arguments.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl PartialCall {
    /// Takes one `tool_calls[]` entry (a fragment, or a whole call).
    fn absorb(&mut self, fragment: &Value) {
        let text = |pointer: &str| {
            fragment
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let Some(id) = text("/id") {
            id.clone_into(&mut self.id);
        }
        // Replaced, not appended: some servers repeat the name on every
        // fragment of the call.
        if let Some(name) = text("/function/name") {
            name.clone_into(&mut self.name);
        }
        if let Some(arguments) = text("/function/arguments") {
            self.arguments.push_str(arguments);
        }
    }

    /// The whole call, or `Malformed` when the model named no function or its
    /// arguments are not JSON: running a tool on a guess would be worse than
    /// the turn failing.
    fn finish(self, index: u64) -> Result<ToolCall, ProviderError> {
        if self.name.is_empty() {
            return Err(ProviderError::Malformed(format!(
                "tool call {index} has no function name"
            )));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&self.arguments) {
            return Err(ProviderError::Malformed(format!(
                "arguments of tool call {index} ({}) are not JSON: {e}",
                self.name
            )));
        }
        // A few compatible servers send no id; the result must still quote
        // one, and the index is unique within the answer.
        let id = if self.id.is_empty() {
            format!("call_{index}")
        } else {
            self.id
        };
        Ok(ToolCall {
            id,
            name: self.name,
            arguments: self.arguments,
        })
    }
}

/// Turns the SSE byte stream into text deltas and whole tool calls.
///
/// Public to the crate so tests can drive it with hand-cut byte chunks.
pub(crate) fn delta_stream<S, E>(
    bytes: S,
    started: Instant,
    first_deadline: Instant,
    total_deadline: Instant,
) -> BoxStream<'static, Result<ChatDelta, ProviderError>>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<ProviderError>,
{
    let state = DeltaState {
        bytes: bytes.map(|r| r.map_err(Into::into)).boxed(),
        parser: SseParser::new(),
        pending: VecDeque::new(),
        calls: BTreeMap::new(),
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
    pending: VecDeque<Result<ChatDelta, ProviderError>>,
    /// Tool calls still arriving, by their `index`: sent on only when the
    /// answer says it is finished, so a cut-off call is never run.
    calls: BTreeMap<u64, PartialCall>,
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
    async fn next_item(&mut self) -> Option<Result<ChatDelta, ProviderError>> {
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
            self.flush_calls();
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
        if let Some(delta) = choice
            .and_then(|c| c.pointer("/delta/content"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            self.note_first_token();
            self.pending
                .push_back(Ok(ChatDelta::Text(delta.to_owned())));
        }
        let fragments = choice
            .and_then(|c| c.pointer("/delta/tool_calls"))
            .and_then(Value::as_array);
        for (position, fragment) in fragments.into_iter().flatten().enumerate() {
            let index = fragment
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            self.calls.entry(index).or_default().absorb(fragment);
            // The model has started answering, even if nothing can be said
            // yet: the first-token deadline no longer applies.
            self.note_first_token();
            self.got_first = true;
        }
        if choice
            .and_then(|c| c.get("finish_reason"))
            .is_some_and(|f| !f.is_null())
        {
            self.saw_finish = true;
            self.flush_calls();
        }
    }

    fn note_first_token(&self) {
        if !self.got_first && self.pending.is_empty() {
            let t_ttft_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::debug!(t_ttft_ms, "first chat token");
        }
    }

    /// Sends on every call gathered so far, in index order; the first that
    /// is not whole ends the stream.
    fn flush_calls(&mut self) {
        for (index, call) in std::mem::take(&mut self.calls) {
            match call.finish(index) {
                Ok(call) => self.pending.push_back(Ok(ChatDelta::ToolCall(call))),
                Err(e) => return self.fail(e),
            }
        }
    }
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
