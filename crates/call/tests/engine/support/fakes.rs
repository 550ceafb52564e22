//! Fake providers with scripted answers, delays on the paused clock and
//! failure injection; each records what it was asked.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use providers::{
    AudioInput, ChatMessage, LanguageModel, ProviderError, SpeechToText, TextToSpeech,
    TranscribeOptions,
};
use tokio::time::{Instant, sleep};

fn outage() -> ProviderError {
    ProviderError::Server { status: 503 }
}

/// Speech-to-text answering from a script, then with `default`.
pub struct FakeStt {
    pub delay: Duration,
    script: Mutex<VecDeque<Option<String>>>,
    default: Option<String>,
    pub calls: AtomicUsize,
    /// Bytes of each utterance it was given.
    pub heard_bytes: Mutex<Vec<usize>>,
}

impl FakeStt {
    /// Always answers `text` after `delay`.
    pub fn saying(text: &str, delay: Duration) -> Self {
        Self {
            delay,
            script: Mutex::new(VecDeque::new()),
            default: Some(text.to_owned()),
            calls: AtomicUsize::new(0),
            heard_bytes: Mutex::new(Vec::new()),
        }
    }

    /// Answers each scripted item once (`None` = an outage), then `text`.
    pub fn scripted(script: &[Option<&str>], then: &str, delay: Duration) -> Self {
        let stt = Self::saying(then, delay);
        *stt.script.lock().unwrap() = script.iter().map(|s| s.map(str::to_owned)).collect();
        stt
    }

    /// Always fails.
    pub fn failing(delay: Duration) -> Self {
        Self {
            default: None,
            ..Self::saying("", delay)
        }
    }
}

#[async_trait]
impl SpeechToText for FakeStt {
    fn name(&self) -> &'static str {
        "fake-stt"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn transcribe(
        &self,
        audio: AudioInput,
        _opts: TranscribeOptions,
    ) -> Result<String, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.heard_bytes.lock().unwrap().push(audio.bytes.len());
        sleep(self.delay).await;
        let next = self.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| self.default.clone())
            .ok_or_else(outage)
    }
}

/// One scripted answer of the language model.
#[derive(Clone, Debug)]
pub struct LlmReply {
    pub deltas: Vec<String>,
    /// Before the first delta.
    pub ttft: Duration,
    /// Between deltas.
    pub gap: Duration,
    /// Fail before answering.
    pub fail: bool,
}

impl LlmReply {
    pub fn new(deltas: &[&str], ttft_ms: u64, gap_ms: u64) -> Self {
        Self {
            deltas: deltas.iter().map(|d| (*d).to_owned()).collect(),
            ttft: Duration::from_millis(ttft_ms),
            gap: Duration::from_millis(gap_ms),
            fail: false,
        }
    }
}

/// Sets a flag when the reply stream is dropped (finished or cancelled).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A language model streaming scripted deltas.
pub struct FakeLlm {
    script: Mutex<VecDeque<LlmReply>>,
    default: LlmReply,
    /// The conversation of every request.
    pub seen: Mutex<Vec<Vec<ChatMessage>>>,
    /// When each stream yielded its last delta and ended.
    pub finished_at: Arc<Mutex<Vec<Instant>>>,
    /// A stream was dropped (after finishing or being cancelled).
    pub dropped: Arc<AtomicBool>,
}

impl FakeLlm {
    pub fn replying(default: LlmReply) -> Self {
        Self::scripted(&[], default)
    }

    pub fn scripted(script: &[LlmReply], default: LlmReply) -> Self {
        Self {
            script: Mutex::new(script.iter().cloned().collect()),
            default,
            seen: Mutex::new(Vec::new()),
            finished_at: Arc::new(Mutex::new(Vec::new())),
            dropped: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[async_trait]
impl LanguageModel for FakeLlm {
    fn name(&self) -> &'static str {
        "fake-llm"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> Result<BoxStream<'static, Result<String, ProviderError>>, ProviderError> {
        self.seen.lock().unwrap().push(messages);
        let reply = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.default.clone());
        if reply.fail {
            sleep(reply.ttft).await;
            return Err(outage());
        }
        let finished = self.finished_at.clone();
        let flag = DropFlag(self.dropped.clone());
        let state = (reply, 0_usize, finished, flag);
        Ok(
            stream::unfold(state, |(reply, i, finished, flag)| async move {
                let Some(delta) = reply.deltas.get(i).cloned() else {
                    finished.lock().unwrap().push(Instant::now());
                    return None;
                };
                sleep(if i == 0 { reply.ttft } else { reply.gap }).await;
                Some((Ok(delta), (reply, i + 1, finished, flag)))
            })
            .boxed(),
        )
    }
}

/// Text-to-speech producing `ms_per_char` of audio per character, each
/// synthesis filled with its own byte value so tests can tell replies apart.
pub struct FakeTts {
    pub delay: Duration,
    pub ms_per_char: usize,
    pub fail: AtomicBool,
    pub cached_calls: AtomicUsize,
    /// (text, fill byte) of every synthesis.
    pub said: Mutex<Vec<(String, u8)>>,
}

impl FakeTts {
    pub fn new(delay_ms: u64, ms_per_char: usize) -> Self {
        Self {
            delay: Duration::from_millis(delay_ms),
            ms_per_char,
            fail: AtomicBool::new(false),
            cached_calls: AtomicUsize::new(0),
            said: Mutex::new(Vec::new()),
        }
    }

    /// The fill byte of the synthesis of `text`.
    pub fn byte_of(&self, text: &str) -> Option<u8> {
        self.said
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| t == text)
            .map(|(_, b)| *b)
    }
}

#[async_trait]
impl TextToSpeech for FakeTts {
    fn name(&self) -> &'static str {
        "fake-tts"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn synthesize(&self, text: &str, _voice: Option<&str>) -> Result<Bytes, ProviderError> {
        sleep(self.delay).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err(outage());
        }
        let mut said = self.said.lock().unwrap();
        // 0x10.. keeps clear of 0xFF (silence) and repeats only after 200 lines.
        let fill = 0x10 + (said.len() % 200) as u8;
        said.push((text.to_owned(), fill));
        Ok(Bytes::from(vec![
            fill;
            text.chars().count() * self.ms_per_char * 8
        ]))
    }

    async fn synthesize_cached(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Bytes, ProviderError> {
        self.cached_calls.fetch_add(1, Ordering::SeqCst);
        self.synthesize(text, voice).await
    }
}
