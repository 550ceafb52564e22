//! Google Cloud Text-to-Speech v1: Hebrew text → MULAW 8 kHz, which is
//! exactly what Twilio plays, so the only processing is stripping the WAV
//! header Google puts in front. Auth is a service-account JWT (see `auth.rs`).

pub(crate) mod auth;
mod text;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::config::{GoogleTtsConfig, join_url};
use crate::error::{ConfigError, ProviderError};
use crate::http::{check_status, read_capped};
use crate::traits::TextToSpeech;
use crate::wav;
use auth::GoogleAuth;

/// Phrases kept by [`GoogleTextToSpeech::synthesize_cached`]. Greetings and
/// fallback lines per business fit easily; model output never goes there.
pub const PHRASE_CACHE_CAPACITY: usize = 64;
/// Per-request deadline for one synthesis request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// 5000 bytes of text is under a minute of audio; base64 of that is < 1 MB.
const ANSWER_CAP: u64 = 8 * 1024 * 1024;

/// Text-to-speech through Google Cloud TTS.
pub struct GoogleTextToSpeech {
    http: reqwest::Client,
    synth_url: String,
    voice: String,
    language_code: String,
    auth: GoogleAuth,
    request_timeout: Duration,
    phrases: Mutex<PhraseCache>,
}

impl std::fmt::Debug for GoogleTextToSpeech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleTextToSpeech")
            .field("synth_url", &self.synth_url)
            .field("voice", &self.voice)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SynthAnswer {
    #[serde(rename = "audioContent")]
    audio_content: String,
}

impl GoogleTextToSpeech {
    /// Builds the client, reading the key file if it was given as one; fails
    /// if the service-account key is unusable, so a bad key is reported at
    /// startup rather than on the first call.
    pub fn new(cfg: GoogleTtsConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        let auth = GoogleAuth::new(&cfg.credentials.load()?, http.clone())?;
        Ok(Self {
            synth_url: join_url(&cfg.base_url, "v1/text:synthesize"),
            voice: text::normalise_hebrew(&cfg.voice),
            language_code: text::normalise_hebrew(&cfg.language_code),
            auth,
            http,
            request_timeout: REQUEST_TIMEOUT,
            phrases: Mutex::new(PhraseCache::new(PHRASE_CACHE_CAPACITY)),
        })
    }

    /// Overrides the per-request deadline (10 s by default).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    async fn synthesize_piece(
        &self,
        text: &str,
        voice: &str,
        language: &str,
    ) -> Result<Bytes, ProviderError> {
        let token = self.auth.token().await?;
        let body = json!({
            "input": {"text": text},
            "voice": {"languageCode": language, "name": voice},
            "audioConfig": {"audioEncoding": "MULAW", "sampleRateHertz": 8000},
        });
        let call = async {
            let resp = self
                .http
                .post(&self.synth_url)
                .bearer_auth(token.expose_secret())
                .json(&body)
                .send()
                .await?;
            let resp = check_status(resp).await?;
            read_capped(resp, ANSWER_CAP).await
        };
        let answer = match tokio::time::timeout(self.request_timeout, call).await {
            Err(_) => return Err(ProviderError::Timeout),
            Ok(Err(ProviderError::Unauthorized)) => {
                // A revoked or expired token: the next call mints a new one.
                self.auth.invalidate();
                return Err(ProviderError::Unauthorized);
            }
            Ok(r) => r?,
        };
        let answer: SynthAnswer = serde_json::from_slice(&answer)
            .map_err(|e| ProviderError::Malformed(format!("synthesize answer: {e}")))?;
        let audio = STANDARD
            .decode(answer.audio_content.as_bytes())
            .map_err(|e| ProviderError::Malformed(format!("audioContent is not base64: {e}")))?;
        wav::data_chunk(Bytes::from(audio))
    }

    fn cache_lookup(&self, key: &(String, String)) -> Option<Bytes> {
        self.lock_phrases().get(key)
    }

    fn lock_phrases(&self) -> std::sync::MutexGuard<'_, PhraseCache> {
        // Entries are inserted whole; a poisoned lock still holds valid data.
        self.phrases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TextToSpeech for GoogleTextToSpeech {
    fn name(&self) -> &'static str {
        "google-tts"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn synthesize(&self, text: &str, voice: Option<&str>) -> Result<Bytes, ProviderError> {
        let voice = voice.map_or_else(|| self.voice.clone(), text::normalise_hebrew);
        // The voice's own language wins so "he-IL-Standard-B" never goes out
        // with a mismatched languageCode (Google rejects that).
        let language = text::voice_language(&voice).unwrap_or_else(|| self.language_code.clone());
        let mut out = BytesMut::new();
        for piece in text::split_text(text, text::MAX_INPUT_BYTES) {
            out.extend_from_slice(&self.synthesize_piece(&piece, &voice, &language).await?);
        }
        Ok(out.freeze())
    }

    async fn synthesize_cached(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Bytes, ProviderError> {
        let voice_name = voice.map_or_else(|| self.voice.clone(), text::normalise_hebrew);
        let key = (voice_name, text.to_owned());
        if let Some(hit) = self.cache_lookup(&key) {
            return Ok(hit);
        }
        let audio = self.synthesize(text, Some(&key.0)).await?;
        self.lock_phrases().insert(key, audio.clone());
        Ok(audio)
    }
}

/// A bounded map evicting the oldest insertion: fixed phrases are few and
/// stable, so recency tracking would buy nothing.
struct PhraseCache {
    map: HashMap<(String, String), Bytes>,
    order: VecDeque<(String, String)>,
    capacity: usize,
}

impl PhraseCache {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn get(&self, key: &(String, String)) -> Option<Bytes> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: (String, String), audio: Bytes) {
        if self.map.insert(key.clone(), audio).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phrase_cache_evicts_the_oldest_entry_past_capacity() {
        let mut c = PhraseCache::new(2);
        let k = |s: &str| ("v".to_owned(), s.to_owned());
        c.insert(k("a"), Bytes::from_static(b"1"));
        c.insert(k("b"), Bytes::from_static(b"2"));
        c.insert(k("a"), Bytes::from_static(b"1"));
        c.insert(k("c"), Bytes::from_static(b"3"));
        assert!(c.get(&k("a")).is_none());
        assert!(c.get(&k("b")).is_some() && c.get(&k("c")).is_some());
        assert_eq!(c.map.len(), 2);
    }
}
