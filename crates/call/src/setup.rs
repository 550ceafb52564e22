//! What a call is started with: who is calling which business, what the
//! agent says and how, the providers it talks through, and the limits that
//! keep one call from hanging or growing without bound.

use std::sync::Arc;
use std::time::Duration;

use providers::{LanguageModel, SpeechToText, TextToSpeech};

use crate::CallTools;
use crate::hedge::HedgeBudget;

/// The outside services one call uses. Cheap to clone.
#[derive(Clone)]
pub struct CallProviders {
    /// Caller audio → text.
    pub stt: Arc<dyn SpeechToText>,
    /// Conversation → streamed reply.
    pub llm: Arc<dyn LanguageModel>,
    /// Reply sentences → mu-law 8 kHz audio.
    pub tts: Arc<dyn TextToSpeech>,
    /// The agent's actions in this call; `None`: it can only talk.
    pub tools: Option<Arc<dyn CallTools>>,
    /// The second requests it may send, shared with every other call of
    /// the process.
    pub hedge_budget: HedgeBudget,
}

impl std::fmt::Debug for CallProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallProviders")
            .field("stt", &self.stt.name())
            .field("llm", &self.llm.name())
            .field("tts", &self.tts.name())
            .field("tools", &self.tools.as_ref().map_or(0, |t| t.specs().len()))
            .finish()
    }
}

/// One call's identity and the business's settings for it.
#[derive(Debug, Clone)]
pub struct CallSetup {
    /// Twilio's `CA…`, for logs and records.
    pub call_sid: String,
    /// The `MZ…` every outbound frame must name; frames naming another
    /// stream are ignored.
    pub stream_sid: String,
    /// The business the call belongs to (already checked by the glue).
    pub business_id: i64,
    /// Said as soon as the call starts; synthesised through the TTS cache.
    pub greeting: String,
    /// The business's instructions to the language model, sent first.
    pub system_prompt: String,
    /// TTS voice; `None` uses the provider's configured voice.
    pub voice: Option<String>,
    /// Endpointing: end-of-turn silence, minimum speech, barge-in time…
    pub turn: voice::TurnConfig,
    /// How far the end-of-turn wait may move from `turn.end_silence_ms`
    /// with what the caller said (`base_ms` is taken from `turn`).
    pub endpoint: voice::EndpointBounds,
    /// Deadlines and bounds.
    pub limits: CallLimits,
}

/// Deadlines and bounds of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimits {
    /// From the end of the caller's speech to the reply's first audio; a
    /// turn that passes it hands the call to the recording fallback.
    pub turn_deadline: Duration,
    /// Provider failures in a row (turns that failed in STT, LLM or TTS)
    /// after which the call fails over.
    pub max_consecutive_failures: u32,
    /// Interval of the WebSocket ping and the `ws_heartbeat` log.
    pub heartbeat: Duration,
    /// Length of each outbound media chunk, in milliseconds of audio.
    pub chunk_ms: u32,
    /// Chat messages kept besides the system prompt; older ones are dropped.
    pub max_history_messages: usize,
    /// Text frames longer than this are ignored unparsed.
    pub max_frame_bytes: usize,
    /// How long the outbound channel may stay full before the peer is
    /// considered stalled and the call fails over.
    pub max_outbound_stall: Duration,
    /// The longest a call may last: then the agent says so and the call
    /// goes to the recording fallback.
    pub max_call: Duration,
    /// How long each stage's request may take before it is sent again
    /// beside itself, the first answer winning.
    pub hedge_after: HedgeAfter,
}

/// How long a live turn's provider request may go unanswered before the
/// same request is sent again beside it, the first answer winning; a first
/// request that fails retryably is sent again at once. A stage at zero
/// sends one request only. Each default sits far past the stage's usual
/// answer, so only a stuck request is doubled, and early enough that the
/// second still answers inside the 6 s turn deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HedgeAfter {
    /// A transcription, until its text.
    pub stt: Duration,
    /// A model request, until its first token or tool call.
    pub llm: Duration,
    /// A synthesis, until its audio.
    pub tts: Duration,
}

impl Default for HedgeAfter {
    fn default() -> Self {
        Self {
            stt: STT_HEDGE_AFTER,
            llm: LLM_HEDGE_AFTER,
            tts: TTS_HEDGE_AFTER,
        }
    }
}

impl HedgeAfter {
    /// Every stage at `after`: one setting for a test.
    pub fn all(after: Duration) -> Self {
        Self {
            stt: after,
            llm: after,
            tts: after,
        }
    }
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            turn_deadline: Duration::from_secs(6),
            max_consecutive_failures: 2,
            heartbeat: Duration::from_secs(15),
            chunk_ms: 20,
            max_history_messages: 40,
            // A 20 ms media frame is ~330 bytes of JSON; a `start` with many
            // parameters a few KB. 64 KiB leaves room and stops abuse.
            max_frame_bytes: 64 * 1024,
            max_outbound_stall: Duration::from_secs(5),
            max_call: Duration::from_secs(20 * 60),
            hedge_after: HedgeAfter::default(),
        }
    }
}

/// Default of [`HedgeAfter::stt`]. A few seconds of speech usually
/// transcribe within a second; past 1.5 s the request is most likely
/// stuck, and a second one still leaves the reply time before the 6 s turn
/// deadline.
pub const STT_HEDGE_AFTER: Duration = Duration::from_millis(1500);

/// Default of [`HedgeAfter::llm`]. A chat model's first token usually
/// comes within a second; the client gives up at 4 s, too late for a
/// second request to beat the turn deadline after a slow transcription.
pub const LLM_HEDGE_AFTER: Duration = Duration::from_millis(2000);

/// Default of [`HedgeAfter::tts`]. One sentence usually synthesises in a
/// few hundred milliseconds, and the client waits 10 s: a stuck first
/// sentence would otherwise outlast the turn deadline, and a stuck later
/// one leave the caller in silence mid-reply.
pub const TTS_HEDGE_AFTER: Duration = Duration::from_millis(1000);

/// Longest wait any limit may ask for: keeps instant arithmetic far from
/// overflow whatever the configuration says.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

impl CallLimits {
    /// The limits with every duration brought into a workable range (a zero
    /// heartbeat would spin, a huge deadline would overflow the clock).
    pub(crate) fn sanitized(mut self) -> Self {
        let ms = Duration::from_millis;
        self.turn_deadline = self.turn_deadline.clamp(ms(100), MAX_WAIT);
        self.heartbeat = self.heartbeat.clamp(ms(100), MAX_WAIT);
        self.max_outbound_stall = self.max_outbound_stall.clamp(ms(100), MAX_WAIT);
        self.max_call = self.max_call.clamp(ms(100), MAX_WAIT);
        let hedge = &mut self.hedge_after;
        for after in [&mut hedge.stt, &mut hedge.llm, &mut hedge.tts] {
            *after = (*after).min(MAX_WAIT);
        }
        self
    }

    /// Bytes of 8 kHz mu-law in one outbound chunk (160 for 20 ms).
    pub(crate) fn chunk_bytes(&self) -> usize {
        (self.chunk_ms.clamp(5, 200) as usize) * 8
    }

    /// The chunk length actually used (clamped like [`Self::chunk_bytes`]).
    pub(crate) fn chunk_duration(&self) -> Duration {
        Duration::from_millis(u64::from(self.chunk_ms.clamp(5, 200)))
    }
}
