//! The provider traits. Each is object-safe, `Send + Sync`, and meant to
//! be held as `Arc<dyn …>` in the service state so tests and degraded mode can
//! swap implementations without the pipeline noticing.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::ProviderError;
use crate::outcome::{CallOutcome, OutcomeRequest};
use crate::types::{
    AudioInput, CallRecording, ChatDelta, ChatMessage, ToolSpec, TranscribeOptions,
};

/// Audio → text.
#[async_trait]
pub trait SpeechToText: Send + Sync {
    /// Short stable name for logs and metrics.
    fn name(&self) -> &'static str;
    /// False for the degraded stand-in; reported by `/readyz`.
    fn is_enabled(&self) -> bool;
    /// Transcribes one utterance or recording. Raw mu-law is wrapped in a WAV
    /// header by implementations that upload files.
    async fn transcribe(
        &self,
        audio: AudioInput,
        opts: TranscribeOptions,
    ) -> Result<String, ProviderError>;
}

/// Messages → a stream of text deltas, or of text and tool calls.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// Short stable name for logs and metrics.
    fn name(&self) -> &'static str;
    /// False for the degraded stand-in; reported by `/readyz`.
    fn is_enabled(&self) -> bool;
    /// Starts a streamed completion. The outer error covers failures before
    /// the answer starts (auth, rate limit, no headers in time); the stream
    /// then yields non-empty deltas and ends after at most one error item.
    async fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> Result<BoxStream<'static, Result<String, ProviderError>>, ProviderError>;

    /// Like [`stream_chat`](Self::stream_chat), offering the model `tools`:
    /// text deltas come as soon as they arrive, each tool call once whole
    /// and its arguments valid JSON. The default offers no tools and yields
    /// only text, so a model without tool support still answers in words.
    async fn stream_chat_tools(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolSpec>,
    ) -> Result<BoxStream<'static, Result<ChatDelta, ProviderError>>, ProviderError> {
        let _ = tools;
        let text = self.stream_chat(messages).await?;
        Ok(text.map(|item| item.map(ChatDelta::Text)).boxed())
    }
}

/// Text → raw mu-law 8 kHz mono (no header), ready for Twilio.
#[async_trait]
pub trait TextToSpeech: Send + Sync {
    /// Short stable name for logs and metrics.
    fn name(&self) -> &'static str;
    /// False for the degraded stand-in; reported by `/readyz`.
    fn is_enabled(&self) -> bool;
    /// Synthesizes `text` with `voice`, or the configured voice when `None`.
    async fn synthesize(&self, text: &str, voice: Option<&str>) -> Result<Bytes, ProviderError>;
    /// Like [`synthesize`](Self::synthesize) but may answer from a small
    /// in-memory cache: meant for fixed phrases (greetings, fallback lines),
    /// not for model output. The default does not cache.
    async fn synthesize_cached(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Bytes, ProviderError> {
        self.synthesize(text, voice).await
    }
}

/// A Twilio `RecordingUrl` → the audio file's bytes.
#[async_trait]
pub trait RecordingFetcher: Send + Sync {
    /// Short stable name for logs and metrics.
    fn name(&self) -> &'static str;
    /// False for the degraded stand-in; reported by `/readyz`.
    fn is_enabled(&self) -> bool;
    /// Downloads the recording (WAV unless the URL names another extension).
    async fn fetch(&self, recording_url: &str) -> Result<Bytes, ProviderError>;
    /// The recordings Twilio holds for a call: how a recording whose
    /// `<Record action>` request never arrived is found afterwards.
    async fn recordings_of_call(&self, call_sid: &str)
    -> Result<Vec<CallRecording>, ProviderError>;
}

/// A finished call → its structured, validated outcome for the owner.
///
/// Separate from [`LanguageModel`] because it runs after the call, off the
/// latency path, and its answer is data to store rather than speech.
#[async_trait]
pub trait OutcomeModel: Send + Sync {
    /// Short stable name for logs and metrics.
    fn name(&self) -> &'static str;
    /// False for the degraded stand-in; the post-call job then stores its
    /// own fallback summary without asking.
    fn is_enabled(&self) -> bool;
    /// Asks for the outcome. Output that fails the schema or validation is
    /// [`ProviderError::InvalidOutput`], so the caller can retry or fall back.
    async fn call_outcome(&self, request: OutcomeRequest) -> Result<CallOutcome, ProviderError>;
}
