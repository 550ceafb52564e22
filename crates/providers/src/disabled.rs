//! Degraded-mode stand-ins, used when a provider's keys are absent or its
//! feature flag is off. They answer instantly and predictably so a call can
//! still end politely; `is_enabled()` is false so `/readyz` reports it.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use crate::error::ProviderError;
use crate::outcome::{CallOutcome, OutcomeRequest};
use crate::traits::{LanguageModel, OutcomeModel, RecordingFetcher, SpeechToText, TextToSpeech};
use crate::types::{AudioInput, CallRecording, ChatMessage, TranscribeOptions};

/// The line the disabled language model says: "I am not available right now".
pub const DISABLED_REPLY_HE: &str = "כרגע אינני פנוי";
/// 300 ms of mu-law silence at 8 kHz (0xFF is mu-law's zero level).
const SILENCE_BYTES: usize = 2400;

/// Warns the first time a disabled provider is actually used, then stays at
/// debug: once per process is enough to explain every degraded call, and
/// per-use warnings would flood the log during an outage.
#[derive(Debug, Default)]
struct WarnOnce(AtomicBool);

impl WarnOnce {
    fn note(&self, what: &'static str) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                provider = what,
                "provider disabled; using the degraded stand-in"
            );
        } else {
            tracing::debug!(
                provider = what,
                "provider disabled; using the degraded stand-in"
            );
        }
    }
}

/// Speech-to-text that always answers [`ProviderError::Disabled`].
#[derive(Debug, Default)]
pub struct DisabledSpeechToText {
    warned: WarnOnce,
}

impl DisabledSpeechToText {
    /// A new stand-in.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SpeechToText for DisabledSpeechToText {
    fn name(&self) -> &'static str {
        "disabled-stt"
    }

    fn is_enabled(&self) -> bool {
        false
    }

    async fn transcribe(
        &self,
        _audio: AudioInput,
        _opts: TranscribeOptions,
    ) -> Result<String, ProviderError> {
        self.warned.note("stt");
        Err(ProviderError::Disabled)
    }
}

/// A language model that answers every conversation with
/// [`DISABLED_REPLY_HE`] as a single delta.
#[derive(Debug, Default)]
pub struct DisabledLanguageModel {
    warned: WarnOnce,
}

impl DisabledLanguageModel {
    /// A new stand-in.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl LanguageModel for DisabledLanguageModel {
    fn name(&self) -> &'static str {
        "disabled-llm"
    }

    fn is_enabled(&self) -> bool {
        false
    }

    async fn stream_chat(
        &self,
        _messages: Vec<ChatMessage>,
    ) -> Result<BoxStream<'static, Result<String, ProviderError>>, ProviderError> {
        self.warned.note("llm");
        Ok(stream::once(async { Ok(DISABLED_REPLY_HE.to_owned()) }).boxed())
    }
}

/// Text-to-speech that returns about 300 ms of mu-law silence, so the
/// pipeline's timing (marks, barge-in) behaves as with real audio.
#[derive(Debug, Default)]
pub struct DisabledTextToSpeech {
    warned: WarnOnce,
}

impl DisabledTextToSpeech {
    /// A new stand-in.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TextToSpeech for DisabledTextToSpeech {
    fn name(&self) -> &'static str {
        "disabled-tts"
    }

    fn is_enabled(&self) -> bool {
        false
    }

    async fn synthesize(&self, _text: &str, _voice: Option<&str>) -> Result<Bytes, ProviderError> {
        self.warned.note("tts");
        Ok(Bytes::from(vec![0xFF; SILENCE_BYTES]))
    }
}

/// A recording fetcher for when Twilio credentials are missing.
#[derive(Debug, Default)]
pub struct DisabledRecordingFetcher {
    warned: WarnOnce,
}

impl DisabledRecordingFetcher {
    /// A new stand-in.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RecordingFetcher for DisabledRecordingFetcher {
    fn name(&self) -> &'static str {
        "disabled-recordings"
    }

    fn is_enabled(&self) -> bool {
        false
    }

    async fn fetch(&self, _recording_url: &str) -> Result<Bytes, ProviderError> {
        self.warned.note("recordings");
        Err(ProviderError::Disabled)
    }

    async fn recordings_of_call(
        &self,
        _call_sid: &str,
    ) -> Result<Vec<CallRecording>, ProviderError> {
        self.warned.note("recordings");
        Err(ProviderError::Disabled)
    }
}

/// An outcome model for when no LLM is configured: answers
/// [`ProviderError::Disabled`] so the post-call job stores its fallback.
#[derive(Debug, Default)]
pub struct DisabledOutcomeModel {
    warned: WarnOnce,
}

impl DisabledOutcomeModel {
    /// A new stand-in.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl OutcomeModel for DisabledOutcomeModel {
    fn name(&self) -> &'static str {
        "disabled-outcome"
    }

    fn is_enabled(&self) -> bool {
        false
    }

    async fn call_outcome(&self, _request: OutcomeRequest) -> Result<CallOutcome, ProviderError> {
        self.warned.note("outcome");
        Err(ProviderError::Disabled)
    }
}
