//! Fake providers with scripted answers, delays on the paused clock and
//! failure injection; each records what it was asked.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentlocator_call::{CallEnd, CallTools, ToolOutput};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use providers::{
    AudioInput, ChatDelta, ChatMessage, LanguageModel, ProviderError, SpeechToText, TextToSpeech,
    ToolCall, ToolSpec, TranscribeOptions,
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
    /// Audio shorter than this many bytes hears this text instead.
    short: Option<(usize, String)>,
    /// How long each request takes, in the order asked, before `delay`.
    delays: Mutex<VecDeque<Duration>>,
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
            short: None,
            delays: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes `delays[k]` over its `k`-th request, then its delay.
    pub fn taking(self, delays: &[Duration]) -> Self {
        *self.delays.lock().unwrap() = delays.iter().copied().collect();
        self
    }

    /// Answers `text`, but `short` for audio of fewer than `bytes`: a
    /// caller whose last words only the longer audio holds.
    pub fn ending_after(bytes: usize, short: &str, text: &str, delay: Duration) -> Self {
        Self {
            short: Some((bytes, short.to_owned())),
            ..Self::saying(text, delay)
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
        let len = audio.bytes.len();
        self.heard_bytes.lock().unwrap().push(len);
        let delay = self.delays.lock().unwrap().pop_front();
        sleep(delay.unwrap_or(self.delay)).await;
        if let Some((bytes, short)) = &self.short
            && len < *bytes
        {
            return Ok(short.clone());
        }
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
    /// Tool calls sent after the text (only to a request offering tools).
    pub tool_calls: Vec<ToolCall>,
}

impl LlmReply {
    pub fn new(deltas: &[&str], ttft_ms: u64, gap_ms: u64) -> Self {
        Self {
            deltas: deltas.iter().map(|d| (*d).to_owned()).collect(),
            ttft: Duration::from_millis(ttft_ms),
            gap: Duration::from_millis(gap_ms),
            fail: false,
            tool_calls: Vec::new(),
        }
    }

    /// The model decides to call `name` with `arguments`, after `ttft_ms`.
    pub fn calling(name: &str, arguments: &str, ttft_ms: u64) -> Self {
        Self {
            tool_calls: vec![ToolCall {
                id: format!("call_{name}"),
                name: name.to_owned(),
                arguments: arguments.to_owned(),
            }],
            ..Self::new(&[], ttft_ms, 0)
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
    /// The tools each request offered (names).
    pub offered: Mutex<Vec<Vec<String>>>,
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
            offered: Mutex::new(Vec::new()),
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

    async fn stream_chat_tools(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolSpec>,
    ) -> Result<BoxStream<'static, Result<ChatDelta, ProviderError>>, ProviderError> {
        self.offered
            .lock()
            .unwrap()
            .push(tools.iter().map(|t| t.name.clone()).collect());
        let mut reply = self.next_reply(messages).await?;
        if tools.is_empty() {
            reply.tool_calls.clear();
        }
        let calls = std::mem::take(&mut reply.tool_calls);
        let (ttft, gap) = (reply.ttft, reply.gap);
        let text = stream::iter(reply.deltas.clone()).then(move |d| async move {
            sleep(gap).await;
            Ok::<_, ProviderError>(ChatDelta::Text(d))
        });
        let calls = stream::iter(calls).map(|c| Ok(ChatDelta::ToolCall(c)));
        Ok(stream::once(async move { sleep(ttft).await })
            .filter_map(|()| async { None })
            .chain(text)
            .chain(calls)
            .boxed())
    }

    async fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> Result<BoxStream<'static, Result<String, ProviderError>>, ProviderError> {
        let reply = self.next_reply(messages).await?;
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

impl FakeLlm {
    async fn next_reply(&self, messages: Vec<ChatMessage>) -> Result<LlmReply, ProviderError> {
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
        Ok(reply)
    }
}

/// One run of a fake tool: name, arguments, when it started and finished.
pub type ToolRun = (String, String, Instant, Option<Instant>);

/// The agent's tools, each answering after `delay`; records every run.
pub struct FakeTools {
    pub delay: Duration,
    /// What the tool named does to the call.
    pub ends: Option<(&'static str, CallEnd)>,
    /// (name, arguments, when it started, when it finished) of every run.
    pub runs: Arc<Mutex<Vec<ToolRun>>>,
}

impl FakeTools {
    pub fn new(delay_ms: u64) -> Self {
        Self {
            delay: Duration::from_millis(delay_ms),
            ends: None,
            runs: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

#[async_trait]
impl CallTools for FakeTools {
    fn specs(&self) -> Vec<ToolSpec> {
        ["take_message", "end_call", "transfer_to_human"]
            .map(|name| ToolSpec {
                name: name.to_owned(),
                description: format!("{name} (fake)"),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
            })
            .to_vec()
    }

    async fn run(&self, name: &str, arguments: &str) -> ToolOutput {
        let index = {
            let mut runs = self.runs.lock().unwrap();
            runs.push((name.to_owned(), arguments.to_owned(), Instant::now(), None));
            runs.len() - 1
        };
        sleep(self.delay).await;
        self.runs.lock().unwrap()[index].3 = Some(Instant::now());
        ToolOutput {
            content: format!(r#"{{"ok":true,"tool":"{name}"}}"#),
            ends_call: self.ends.filter(|(n, _)| *n == name).map(|(_, end)| end),
        }
    }
}

/// Text-to-speech producing `ms_per_char` of audio per character, each
/// synthesis filled with its own byte value so tests can tell replies apart.
pub struct FakeTts {
    pub delay: Duration,
    pub ms_per_char: usize,
    pub fail: AtomicBool,
    /// The next this many syntheses fail (an outage), then it answers.
    pub fail_next: AtomicUsize,
    /// The next this many syntheses hang for a minute before answering.
    pub stall_next: AtomicUsize,
    /// Audio that swings (a square wave) instead of a constant: it has a
    /// level, so its echo can be heard on the caller's leg.
    pub tone: AtomicBool,
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
            fail_next: AtomicUsize::new(0),
            stall_next: AtomicUsize::new(0),
            tone: AtomicBool::new(false),
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
        let stalls = (self.stall_next)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        sleep(if stalls {
            Duration::from_secs(60)
        } else {
            self.delay
        })
        .await;
        let one_of_the_next = (self.fail_next)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if one_of_the_next || self.fail.load(Ordering::SeqCst) {
            return Err(outage());
        }
        let mut said = self.said.lock().unwrap();
        // 0x10.. keeps clear of 0xFF (silence) and repeats only after 200 lines.
        let fill = 0x10 + (said.len() % 200) as u8;
        said.push((text.to_owned(), fill));
        let len = text.chars().count() * self.ms_per_char * 8;
        if self.tone.load(Ordering::SeqCst) {
            // A square wave at about -20 dBFS, a voice's level on the line.
            let (up, down) = (voice::mulaw::encode(3000), voice::mulaw::encode(-3000));
            let swing = (0..len).map(|i| if i % 2 == 0 { up } else { down });
            return Ok(Bytes::from(swing.collect::<Vec<u8>>()));
        }
        Ok(Bytes::from(vec![fill; len]))
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
