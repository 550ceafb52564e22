//! The real-time call engine: one task per Twilio Media Streams call, from
//! the caller's audio to the agent's paced reply.
//!
//! What lives here: waiting for the stream's `start` ([`await_start`]), and
//! [`run_call`], which hears (mu-law decode → VAD → end of turn), thinks
//! (STT → gibberish gate → streamed LLM → sentence splitter), speaks (TTS per
//! sentence → a near-real-time pacer with a `mark` per sentence), handles
//! barge-in, the heartbeat, per-turn metrics and failover.
//!
//! What does not: the WebSocket itself, signatures, tenants and the
//! database. The service reads the socket through a [`FrameSource`], writes
//! the [`Outgoing`] channel to it and stores the [`CallEvent`]s; that keeps
//! this crate testable frame by frame under a paused clock, with no network
//! (STYLE habit 12): tests feed a channel.
//!
//! Contract with the glue:
//! - every text frame from the socket comes out of the source as
//!   [`Incoming::Text`], a close as [`Incoming::Close`] or `None`;
//! - every [`Outgoing`] is written to the socket in order; when the call
//!   returns (or sends [`Outgoing::Close`]) the socket should be closed —
//!   that is how a failing call is handed to Twilio's recording fallback;
//! - [`CallEvent`]s are sent with `try_send`: a full observer channel loses
//!   events rather than slowing the call.

#![warn(missing_docs)]

mod hearing;
mod hedge;
mod history;
mod inbound;
mod metrics;
mod pacer;
mod pipeline;
mod session;
mod setup;
mod start;
mod tools;

pub use hedge::HedgeBudget;
pub use session::run_call;
pub use setup::{
    CallLimits, CallProviders, CallSetup, HedgeAfter, LLM_HEDGE_AFTER, STT_HEDGE_AFTER,
    TTS_HEDGE_AFTER,
};
pub use start::{StartError, await_start};
pub use tools::{CallEnd, CallTools, FILLER_AFTER, ToolOutput, ToolRecord};

use tokio::sync::mpsc;

/// A frame read from the media WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text frame: Twilio's JSON messages.
    Text(String),
    /// A binary frame: never sent by Twilio, ignored with a warning.
    Binary(Vec<u8>),
    /// The answer to one of our pings.
    Pong,
    /// The peer closed the socket.
    Close,
}

/// Where a call's inbound frames come from. The service reads the socket
/// itself here, so a frame reaches the call with no task or channel in
/// between (at 50 frames a second per call, a hop each costs a server core
/// a measurable share); tests feed an [`mpsc::Receiver`].
pub trait FrameSource: Send {
    /// The next frame; `None` once the socket is gone. Must be cancel-safe:
    /// the call polls it in a `select!` and drops it whenever a timer wins,
    /// and no frame may be lost when it does.
    fn recv(&mut self) -> impl Future<Output = Option<Incoming>> + Send;
}

impl FrameSource for mpsc::Receiver<Incoming> {
    fn recv(&mut self) -> impl Future<Output = Option<Incoming>> + Send {
        mpsc::Receiver::recv(self)
    }
}

/// A frame to write to the media WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text frame: one Media Streams message (`media`, `mark`, `clear`).
    Text(String),
    /// A WebSocket ping (the heartbeat).
    Ping,
    /// Close the socket on purpose (failover, shutdown).
    Close {
        /// WebSocket close code.
        code: u16,
        /// Short reason for the close frame.
        reason: String,
    },
}

/// Something the service may want to store or count; sent without waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// One speech → response round finished (replied, interrupted or failed).
    Turn(TurnRecord),
    /// The caller pressed a key.
    Dtmf {
        /// `0`–`9`, `*` or `#`. Never log it: callers key in card and ID
        /// numbers.
        digit: String,
    },
    /// The call is being handed to the recording fallback.
    Failover {
        /// Why, for logs and the call log.
        reason: String,
    },
}

/// Metrics and text of one turn (DESIGN.md, "Metrics of a turn").
///
/// All durations are milliseconds on a monotonic clock; a stage the turn
/// never reached is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRecord {
    /// 1, 2, … in the order turns finish; only turns that reached the
    /// language model (or failed trying) are numbered.
    pub turn_id: u32,
    /// Wall-clock time (UTC) at which the caller started speaking.
    pub started_at: time::OffsetDateTime,
    /// CPU time spent decoding and classifying the turn's audio frames.
    pub t_audio_ms: u64,
    /// End of caller speech (end of turn detected) → transcript.
    pub t_stt_ms: u64,
    /// Transcript → first sentence of the reply ready for TTS.
    pub t_nlp_ms: u64,
    /// First sentence → its first audio bytes.
    pub t_tts_ms: u64,
    /// End of caller speech → first reply frame handed to the socket.
    pub t_total_ms: u64,
    /// The wait that ended the caller's turn before STT started: the
    /// end-of-turn silence in force; for a turn the quiet hold ended (a
    /// crowd the VAD takes for voice), the hold; 0 for one cut at its
    /// longest.
    pub endpointing_ms: u64,
    /// What ended the caller's turn: the VAD's silence, the line back at
    /// the room, the quiet hold, or the utterance's longest.
    pub ended_by: voice::EndedBy,
    /// The caller's speech level over the line's background, in dB (see
    /// [`voice::TurnEvent::UtteranceEnded`]); `None` in the call's first
    /// second.
    pub snr_db: Option<i16>,
    /// The caller interrupted this reply.
    pub barge_in: bool,
    /// What the caller said (after the gibberish gate); `None` when STT was
    /// unavailable or failed.
    pub user_text: Option<String>,
    /// What the caller actually heard: sentences whose marks were echoed.
    pub agent_text: Option<String>,
    /// `stage_kind` of a failure (`stt_timeout`, `llm_server`, `tts_http`,
    /// `deadline`, `llm_empty`, `call_ended`), `None` for a good turn.
    pub error_code: Option<String>,
    /// The tools the agent ran in this turn, in order.
    pub tools: Vec<ToolRecord>,
    /// Guesses at the end of this turn made while the caller paused.
    pub guesses: u32,
    /// Provider requests (transcriptions, model requests, syntheses) that
    /// made no part of the reply: those of guesses the caller talked past
    /// and of checks, and a request sent a second time after a failure or
    /// a slow answer (see [`HedgeAfter`]).
    pub wasted_calls: u32,
    /// The reply was a confirmed guess, prepared before the turn ended.
    pub speculative: bool,
}

/// Why [`run_call`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// Twilio sent `stop`: the call or stream ended normally.
    Stopped,
    /// The socket closed or the inbound channel was dropped.
    PeerClosed,
    /// A tool handed the caller to a person: the socket was closed on
    /// purpose after the agent's last words, for `stream_ended` to `<Dial>`.
    Transferred,
    /// A tool ended the call: the socket was closed on purpose after the
    /// agent's goodbye, for `stream_ended` to `<Hangup/>`.
    HungUp,
    /// The call could not go on; the socket was closed on purpose so that
    /// Twilio continues with the recording fallback.
    Failover {
        /// Why (also logged at WARN and sent as [`CallEvent::Failover`]).
        reason: String,
    },
}

/// What [`run_call`] reports when it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    /// Why the call ended.
    pub end: EndReason,
    /// How many [`TurnRecord`]s were produced.
    pub turns: u32,
}
