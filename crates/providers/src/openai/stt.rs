//! Transcription: multipart `POST {base}/audio/transcriptions` with a named
//! file, the model, `language`, `response_format=json` and `temperature=0`
//! (deterministic output makes hallucination filtering predictable).

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{OpenAiConfig, join_url};
use crate::error::ProviderError;
use crate::http::{check_status, read_capped};
use crate::traits::SpeechToText;
use crate::types::{AudioFormat, AudioInput, TranscribeOptions};
use crate::wav;

/// A transcription answer is a short JSON object; anything this big is not.
const ANSWER_CAP: u64 = 1024 * 1024;

/// Speech-to-text against an OpenAI-compatible `/audio/transcriptions`.
#[derive(Debug, Clone)]
pub struct OpenAiSpeechToText {
    cfg: OpenAiConfig,
    http: reqwest::Client,
    url: String,
}

impl OpenAiSpeechToText {
    /// Builds the client on a shared `reqwest::Client` (connection reuse).
    pub fn new(cfg: OpenAiConfig, http: reqwest::Client) -> Self {
        let url = join_url(&cfg.base_url, "audio/transcriptions");
        Self { cfg, http, url }
    }
}

/// Only `text` is required: local servers omit `usage` and friends.
#[derive(Deserialize)]
struct Transcription {
    text: String,
}

#[async_trait]
impl SpeechToText for OpenAiSpeechToText {
    fn name(&self) -> &'static str {
        "openai-stt"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn transcribe(
        &self,
        audio: AudioInput,
        opts: TranscribeOptions,
    ) -> Result<String, ProviderError> {
        let bytes = match audio.format {
            AudioFormat::MulawRaw8k => wav::wrap_mulaw_8k(&audio.bytes),
            AudioFormat::Wav | AudioFormat::Mp3 => audio.bytes,
        };
        let len = bytes.len() as u64;
        let file = Part::stream_with_length(reqwest::Body::from(bytes), len)
            .file_name(format!("audio.{}", audio.format.extension()))
            .mime_str(audio.format.mime())
            .map_err(|e| ProviderError::Http(e.to_string()))?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.cfg.stt_model.clone())
            .text("language", opts.language)
            .text("response_format", "json")
            .text("temperature", "0");
        if let Some(prompt) = opts.prompt {
            form = form.text("prompt", prompt);
        }
        let call = async {
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(self.cfg.api_key.expose_secret())
                .multipart(form)
                .send()
                .await?;
            let resp = check_status(resp).await?;
            read_capped(resp, ANSWER_CAP).await
        };
        // One deadline over send + body, so a server that trickles its
        // answer cannot hold a call hostage.
        let body = tokio::time::timeout(self.cfg.stt_timeout, call)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let t: Transcription = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::Malformed(format!("transcription answer lacks text: {e}"))
        })?;
        Ok(t.text)
    }
}
