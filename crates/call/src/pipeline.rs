//! The work of one reply, in its own task so the call task keeps hearing
//! (and can cancel it on barge-in): STT → gibberish gate → streamed LLM →
//! sentence splitter → TTS per sentence, each sentence's audio handed to the
//! call as soon as it exists — the first sentence never waits for the rest
//! of the reply. Fixed lines (greeting, apology, failover) take the short
//! path: cached TTS only.
//!
//! The task reports through a bounded channel; every message carries the
//! reply's generation so the call drops messages of a reply it cancelled.
//! When the call stops reading (its pacer is full), `send` waits, which
//! pauses this task: backpressure instead of buffering.

use bytes::Bytes;
use futures::future;
use futures::stream::{self, BoxStream, FuturesOrdered, StreamExt};
use providers::{
    AudioInput, ChatDelta, ChatMessage, DISABLED_REPLY_HE, ProviderError, TextToSpeech, ToolCall,
    ToolSpec, TranscribeOptions,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;
use voice::{SentenceSplitter, SplitterConfig, TranscriptContext};

use crate::hedge::{Again, Answer, ask_twice, until_first};
use crate::pacer::audio_duration;
use crate::{CallEnd, CallProviders, CallTools, FILLER_AFTER, HedgeAfter, ToolRecord};

/// Sentences synthesised at once: the next one is ready when the current
/// one ends, without flooding the TTS provider with a whole reply.
const MAX_TTS_IN_FLIGHT: usize = 2;

/// A reply is cut after this many sentences: a phone answer longer than
/// this is a model running away, and each sentence costs a TTS request.
const MAX_SENTENCES: u32 = 12;

/// Where a reply failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Stt,
    Llm,
    Tts,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Stt => "stt",
            Self::Llm => "llm",
            Self::Tts => "tts",
        }
    }
}

/// What a reply task reports, in order.
#[derive(Debug)]
pub(crate) enum PipelineMsg {
    /// The caller's words passed the gate (`None`: STT is disabled and the
    /// degraded line will be said).
    Transcript {
        generation: u32,
        text: Option<String>,
        at: Instant,
    },
    /// A transcription, model request or synthesis was sent twice (see
    /// `hedge`): one request more than the reply's own.
    Hedged { generation: u32 },
    /// The transcript was noise or a hallucination: no reply.
    Rejected {
        generation: u32,
        reason: &'static str,
        at: Instant,
    },
    /// One sentence, synthesised.
    Sentence {
        generation: u32,
        index: u32,
        text: String,
        audio: Bytes,
        /// When the splitter released the sentence.
        ready_at: Instant,
        /// When its audio came back from TTS.
        audio_at: Instant,
    },
    /// A tool ran in this reply (stored with the turn).
    ToolRan { generation: u32, record: ToolRecord },
    /// A tool armed the end of the call. Not tied to a generation: the tool
    /// acted even if the caller has since cut the reply short.
    CallEnding { end: CallEnd },
    /// Every sentence has been sent.
    Done { generation: u32 },
    /// A provider failed; nothing more comes from this reply.
    Failed {
        generation: u32,
        stage: Stage,
        kind: &'static str,
    },
}

impl PipelineMsg {
    /// The reply the message belongs to; `None` for what outlives replies.
    pub(crate) fn generation(&self) -> Option<u32> {
        match self {
            Self::CallEnding { .. } => None,
            Self::ToolRan { generation, .. }
            | Self::Transcript { generation, .. }
            | Self::Hedged { generation, .. }
            | Self::Rejected { generation, .. }
            | Self::Sentence { generation, .. }
            | Self::Done { generation }
            | Self::Failed { generation, .. } => Some(*generation),
        }
    }
}

/// A reply to the caller's utterance.
#[derive(Debug)]
pub(crate) struct ReplyJob {
    pub generation: u32,
    /// 8 kHz mu-law of the utterance.
    pub audio: Bytes,
    pub voiced_ms: u32,
    /// System prompt and history, without the new utterance.
    pub messages: Vec<ChatMessage>,
    pub voice: Option<String>,
    /// When the caller stopped talking (the end-of-turn wait before now):
    /// how long they have already waited for an answer.
    pub quiet_since: Instant,
    /// A reply to a guess at the end of the turn: it transcribes, asks the
    /// model and synthesises its first sentence, then holds (no further
    /// synthesis, no tool run) until this turns true. `None`: go at once.
    pub go: Option<watch::Receiver<bool>>,
    /// A check of a guess (see `session/guess.rs`): once transcribed, the
    /// model is asked only when this turns true, and never if it is
    /// dropped. `None`: at once.
    pub ask: Option<watch::Receiver<bool>>,
    /// When a slow request gets a second one beside it (see
    /// [`HedgeAfter`]).
    pub hedge_after: HedgeAfter,
}

/// Starts a reply; dropping the handle cancels it.
pub(crate) fn spawn_reply(
    job: ReplyJob,
    providers: CallProviders,
    tx: mpsc::Sender<PipelineMsg>,
) -> AbortOnDropHandle<()> {
    // In the call's span, so what the reply and its tools log names the call.
    AbortOnDropHandle::new(tokio::spawn(reply(job, providers, tx).in_current_span()))
}

/// Starts saying a fixed line through the TTS cache.
pub(crate) fn spawn_say(
    generation: u32,
    text: String,
    voice: Option<String>,
    tts: Arc<dyn TextToSpeech>,
    again: Again,
    tx: mpsc::Sender<PipelineMsg>,
) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(async move {
        let ready_at = Instant::now();
        let ask = || tts.synthesize_cached(&text, voice.as_deref());
        let audio = ask_twice("tts", ask, again).await;
        if !report_second(&tx, generation, audio.requests).await {
            return;
        }
        let msg = match audio.result {
            Ok(audio) => PipelineMsg::Sentence {
                generation,
                index: 0,
                text,
                audio,
                ready_at,
                audio_at: Instant::now(),
            },
            Err(err) => PipelineMsg::Failed {
                generation,
                stage: Stage::Tts,
                kind: err.kind(),
            },
        };
        let failed = matches!(msg, PipelineMsg::Failed { .. });
        if tx.send(msg).await.is_ok() && !failed {
            let _ = tx.send(PipelineMsg::Done { generation }).await;
        }
    }))
}

async fn reply(job: ReplyJob, providers: CallProviders, tx: mpsc::Sender<PipelineMsg>) {
    let generation = job.generation;
    let user_text = if providers.stt.is_enabled() {
        let ask = || {
            let audio = AudioInput::mulaw_8k(job.audio.clone());
            providers
                .stt
                .transcribe(audio, TranscribeOptions::default())
        };
        let heard = ask_twice(
            "stt",
            ask,
            Again::hedged_after(job.hedge_after.stt, &providers.hedge_budget.stt),
        )
        .await;
        if !report_second(&tx, generation, heard.requests).await {
            return;
        }
        let raw = match heard.result {
            Ok(raw) => raw,
            Err(err) => {
                let _ = tx.send(failed(generation, Stage::Stt, &err)).await;
                return;
            }
        };
        let ctx = TranscriptContext {
            voiced_ms: Some(job.voiced_ms),
            mid_conversation: true,
        };
        match voice::check_transcript(&raw, &ctx) {
            Ok(text) => Some(text),
            Err(rejection) => {
                let msg = PipelineMsg::Rejected {
                    generation,
                    reason: rejection.as_str(),
                    at: Instant::now(),
                };
                let _ = tx.send(msg).await;
                return;
            }
        }
    } else {
        None
    };
    let msg = PipelineMsg::Transcript {
        generation,
        text: user_text.clone(),
        at: Instant::now(),
    };
    if tx.send(msg).await.is_err() {
        return;
    }
    if let Some(mut ask) = job.ask
        && ask.wait_for(|ask| *ask).await.is_err()
    {
        return;
    }

    let tts_again = Again::hedged_after(job.hedge_after.tts, &providers.hedge_budget.tts);
    let mut speaker = Speaker::new(generation, providers.tts.clone(), tts_again, job.voice, tx);
    speaker.quiet_since = job.quiet_since;
    speaker.go = job.go;
    let llm_again = Again::hedged_after(job.hedge_after.llm, &providers.hedge_budget.llm);
    if let (Some(text), Some(tools)) = (&user_text, providers.tools.clone()) {
        let mut messages = job.messages;
        messages.push(ChatMessage::user(text.clone()));
        converse(speaker, messages, &providers, llm_again, tools).await;
        return;
    }
    let deltas = match user_text {
        Some(text) => {
            let mut messages = job.messages;
            messages.push(ChatMessage::user(text));
            model_answer(&providers, messages, None, llm_again, &speaker)
        }
        // Without STT there is nothing to answer; say what the degraded
        // language model says (MISSION §11) instead of failing every turn.
        None => stream::once(async { Ok(ChatDelta::Text(DISABLED_REPLY_HE.to_owned())) }).boxed(),
    };
    if let Round::Stopped = model_round(&mut speaker, deltas, false).await {
        return;
    }
    speaker.finish().await;
}

fn failed(generation: u32, stage: Stage, err: &ProviderError) -> PipelineMsg {
    PipelineMsg::Failed {
        generation,
        stage,
        kind: err.kind(),
    }
}

type Synthesis = (u32, String, Instant, Answer<Bytes>);

/// Rounds of tool calls one reply may make before it must just talk: a
/// model calling tools in a loop is cut off, not followed.
const MAX_TOOL_ROUNDS: usize = 3;

/// Longest wait for one tool; past it the model is told it timed out (the
/// tool itself may still finish and act).
const TOOL_TIMEOUT: Duration = Duration::from_secs(8);

/// When a turn that runs a tool has said nothing yet, its first filler is
/// due this long after the caller stopped talking (TTS of a cached filler
/// and the first chunk then land within about 1.5 s).
const FIRST_SOUND_WITHIN: Duration = Duration::from_millis(1300);

/// Fillers said at most while one tool runs (about 10 s of cover).
const MAX_FILLERS: usize = 6;

/// Said while a tool runs, varied so the caller does not hear a loop:
/// "One moment, I'm checking.", "A second, I'm on it.", "Almost there…",
/// "Still checking, thank you for waiting.", "Just a moment more."
pub(crate) const FILLERS_HE: &[&str] = &[
    "רגע אחד, אני בודקת.",
    "שנייה, אני מטפלת בזה.",
    "עוד רגע קט.",
    "אני עדיין בודקת, תודה על הסבלנות.",
    "רק עוד רגע.",
];

/// The sentences of one reply on their way to the call: split from the
/// model's text, synthesised a few at a time, sent in order — and an
/// estimate of when the caller will have heard them all, so a filler is
/// said before the silence grows.
struct Speaker {
    generation: u32,
    tts: Arc<dyn TextToSpeech>,
    /// When a synthesis is sent again.
    tts_again: Again,
    voice: Option<String>,
    tx: mpsc::Sender<PipelineMsg>,
    splitter: SentenceSplitter,
    pending: FuturesOrdered<futures::future::BoxFuture<'static, Synthesis>>,
    next_index: u32,
    /// When the audio sent so far ends playing, as far as this task knows.
    heard_by: Instant,
    /// When the caller stopped talking.
    quiet_since: Instant,
    /// Sentences handed to the call so far.
    delivered: u32,
    fillers: usize,
    /// Held until the turn is confirmed (see [`ReplyJob::go`]).
    go: Option<watch::Receiver<bool>>,
    /// Sentences written while held, beyond the first: synthesised once
    /// the turn is confirmed.
    held: VecDeque<String>,
}

impl Speaker {
    fn new(
        generation: u32,
        tts: Arc<dyn TextToSpeech>,
        tts_again: Again,
        voice: Option<String>,
        tx: mpsc::Sender<PipelineMsg>,
    ) -> Self {
        Self {
            generation,
            tts,
            tts_again,
            voice,
            tx,
            splitter: SentenceSplitter::new(SplitterConfig::default()),
            pending: FuturesOrdered::new(),
            next_index: 0,
            heard_by: Instant::now(),
            quiet_since: Instant::now(),
            delivered: 0,
            fillers: 0,
            go: None,
            held: VecDeque::new(),
        }
    }

    fn push_text(&mut self, delta: &str) {
        for sentence in self.splitter.push(delta) {
            self.enqueue(sentence, false);
        }
    }

    fn finish_text(&mut self) {
        if let Some(rest) = self.splitter.finish() {
            self.enqueue(rest, false);
        }
    }

    fn enqueue(&mut self, text: String, cached: bool) {
        if self.go.is_some() && (self.next_index as usize + self.held.len()) >= 1 {
            self.held.push_back(text);
            return;
        }
        if self.next_index >= MAX_SENTENCES {
            return;
        }
        let (tts, voice, index) = (self.tts.clone(), self.voice.clone(), self.next_index);
        let again = self.tts_again.clone();
        self.pending.push_back(Box::pin(async move {
            let ready_at = Instant::now();
            let ask = || {
                if cached {
                    tts.synthesize_cached(&text, voice.as_deref())
                } else {
                    tts.synthesize(&text, voice.as_deref())
                }
            };
            let audio = ask_twice("tts", ask, again).await;
            (index, text, ready_at, audio)
        }));
        self.next_index += 1;
    }

    /// Waits until the turn is confirmed (at once when not held), then
    /// queues what was written meanwhile. False: the guess was abandoned.
    async fn confirmed(&mut self) -> bool {
        while self.go.is_some() {
            // The first sentence is synthesised (and handed over, to be
            // held by the call) while the turn is not yet confirmed.
            tokio::select! {
                biased;
                Some(done) = self.pending.next(), if !self.pending.is_empty() => {
                    if !self.deliver(done).await {
                        return false;
                    }
                }
                go = wait_go(&mut self.go) => {
                    if !go {
                        return false;
                    }
                    self.go_on();
                }
            }
        }
        true
    }

    /// The turn is confirmed: what was written meanwhile is synthesised.
    fn go_on(&mut self) {
        self.go = None;
        while let Some(text) = self.held.pop_front() {
            self.enqueue(text, false);
        }
    }

    /// Says the rest, then reports the reply done (or empty).
    async fn finish(mut self) {
        if !self.confirmed().await || !self.drain().await {
            return;
        }
        let generation = self.generation;
        let msg = if self.next_index == 0 {
            PipelineMsg::Failed {
                generation,
                stage: Stage::Llm,
                kind: "empty",
            }
        } else {
            PipelineMsg::Done { generation }
        };
        let _ = self.send(msg).await;
    }

    /// Queues the next filler line (through the TTS cache).
    fn filler(&mut self) {
        let line = FILLERS_HE[(self.generation as usize + self.fillers) % FILLERS_HE.len()];
        self.fillers += 1;
        self.enqueue(line.to_owned(), true);
    }

    /// Hands one synthesised sentence to the call. False: stop (the call is
    /// gone or TTS failed, which was reported).
    async fn deliver(&mut self, done: Synthesis) -> bool {
        let (index, text, ready_at, audio) = done;
        if !report_second(&self.tx, self.generation, audio.requests).await {
            return false;
        }
        let msg = match audio.result {
            Ok(audio) => {
                let now = Instant::now();
                self.heard_by = self.heard_by.max(now) + audio_duration(audio.len());
                self.delivered += 1;
                PipelineMsg::Sentence {
                    generation: self.generation,
                    index,
                    text,
                    audio,
                    ready_at,
                    audio_at: now,
                }
            }
            Err(err) => failed(self.generation, Stage::Tts, &err),
        };
        let stop = matches!(msg, PipelineMsg::Failed { .. });
        self.tx.send(msg).await.is_ok() && !stop
    }

    /// Delivers every queued sentence. False as for [`Self::deliver`].
    async fn drain(&mut self) -> bool {
        while let Some(done) = self.pending.next().await {
            if !self.deliver(done).await {
                return false;
            }
        }
        true
    }

    /// Sends a message that is not a sentence; false once the call is gone.
    /// (It holds no borrow of the speaker across the wait, which is not
    /// `Sync`.)
    fn send(&self, msg: PipelineMsg) -> impl Future<Output = bool> + Send + 'static {
        let tx = self.tx.clone();
        async move { tx.send(msg).await.is_ok() }
    }
}

/// Sleeps until `at`; forever when `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves when a held reply may go on (true) or its guess was dropped
/// (false); pending forever when not held.
async fn wait_go(go: &mut Option<watch::Receiver<bool>>) -> bool {
    match go {
        Some(go) => go.wait_for(|go| *go).await.is_ok(),
        None => std::future::pending().await,
    }
}

/// What the model said in one round: text went to the speaker as it came;
/// the tool calls wait for the round's end.
enum Round {
    Calls(String, Vec<ToolCall>),
    Finished,
    Stopped,
}

/// A reply that may run tools: stream the model's answer, say its text,
/// run the tools it calls (fillers over a slow one), feed the results back
/// and stream the continuation, for at most [`MAX_TOOL_ROUNDS`] rounds.
async fn converse(
    mut speaker: Speaker,
    mut messages: Vec<ChatMessage>,
    providers: &CallProviders,
    again: Again,
    tools: Arc<dyn CallTools>,
) {
    let specs = tools.specs();
    for round in 0..=MAX_TOOL_ROUNDS {
        // The last round offers no tools: the model must answer in words.
        let offered = if round < MAX_TOOL_ROUNDS {
            specs.clone()
        } else {
            Vec::new()
        };
        let deltas = model_answer(
            providers,
            messages.clone(),
            Some(offered),
            again.clone(),
            &speaker,
        );
        // After a tool, the model answers again: the caller, who has
        // heard nothing yet, may not wait for that in silence either.
        match model_round(&mut speaker, deltas, round > 0).await {
            Round::Stopped => return,
            Round::Finished => break,
            Round::Calls(text, calls) => {
                messages.push(ChatMessage::assistant_tool_calls(text, calls.clone()));
                for call in calls {
                    let Some(content) = run_tool(&mut speaker, &tools, &call).await else {
                        return;
                    };
                    messages.push(ChatMessage::tool_result(call.id, content));
                }
            }
        }
    }
    speaker.finish().await;
}

/// Tells the session when an answer took `requests` > 1 (see `hedge`):
/// one more for the turn's wasted calls; false once the session is gone.
async fn report_second(tx: &mpsc::Sender<PipelineMsg>, generation: u32, requests: u32) -> bool {
    requests <= 1 || tx.send(PipelineMsg::Hedged { generation }).await.is_ok()
}

/// The model's answer to `messages` (offered `tools`; `None` asks without
/// them), as one stream that asks only when first read: the first-token
/// wait then falls inside [`model_round`], whose fillers keep the cadence
/// after a tool. The request is sent again per `again`, counted to its
/// first token; a second request is reported before any of the answer,
/// and a failure comes as the stream's one item.
fn model_answer(
    providers: &CallProviders,
    messages: Vec<ChatMessage>,
    tools: Option<Vec<ToolSpec>>,
    again: Again,
    speaker: &Speaker,
) -> BoxStream<'static, Result<ChatDelta, ProviderError>> {
    let (llm, tx, generation) = (
        providers.llm.clone(),
        speaker.tx.clone(),
        speaker.generation,
    );
    stream::once(async move {
        let ask = || {
            until_first(async {
                match &tools {
                    Some(tools) => llm.stream_chat_tools(messages.clone(), tools.clone()).await,
                    None => Ok(llm
                        .stream_chat(messages.clone())
                        .await?
                        .map(|d| d.map(ChatDelta::Text))
                        .boxed()),
                }
            })
        };
        let answer = ask_twice("llm", ask, again).await;
        // A session gone ignores the stream anyway.
        let _ = report_second(&tx, generation, answer.requests).await;
        match answer.result {
            Ok(deltas) => deltas,
            Err(err) => stream::once(future::ready(Err(err))).boxed(),
        }
    })
    .flatten()
    .boxed()
}

/// Streams one model answer: text into the speaker as it comes (TTS of one
/// sentence overlapping the next being written), tool calls collected.
async fn model_round(
    speaker: &mut Speaker,
    mut deltas: BoxStream<'static, Result<ChatDelta, ProviderError>>,
    after_tool: bool,
) -> Round {
    let mut text = String::new();
    let mut calls = Vec::new();
    // After a tool the model needs its first token and sentence again:
    // fillers keep the cadence the tool's fillers had (the first within
    // FIRST_SOUND_WITHIN of the caller's last word, later ones FILLER_AFTER
    // past what is playing) until the model's first sentence plays, else a
    // tool ending just before its next filler leaves the caller a silence
    // of a filler gap plus the model's latency, and a model request stuck
    // until its second is sent (see `hedge`) leaves a longer one.
    let may_fill = after_tool && speaker.tts.is_enabled();
    let said_before = speaker.delivered;
    let mut fillers_here = 0;
    loop {
        // With nothing in flight, every sentence delivered this round was
        // a filler: the model has said nothing yet.
        let fill_at = (may_fill
            && speaker.fillers < MAX_FILLERS
            && speaker.pending.is_empty()
            && speaker.delivered == said_before + fillers_here)
            .then(|| {
                if speaker.delivered == 0 {
                    speaker.quiet_since + FIRST_SOUND_WITHIN
                } else {
                    speaker.heard_by + FILLER_AFTER
                }
            });
        tokio::select! {
            biased;
            () = sleep_until_some(fill_at), if fill_at.is_some() => {
                speaker.filler();
                fillers_here += 1;
            }
            Some(done) = speaker.pending.next(), if !speaker.pending.is_empty() => {
                if !speaker.deliver(done).await {
                    return Round::Stopped;
                }
            }
            confirmed = wait_go(&mut speaker.go), if speaker.go.is_some() => {
                if !confirmed {
                    return Round::Stopped;
                }
                speaker.go_on();
            }
            delta = deltas.next(), if speaker.pending.len() < MAX_TTS_IN_FLIGHT => match delta {
                Some(Ok(ChatDelta::Text(delta))) => {
                    text.push_str(&delta);
                    speaker.push_text(&delta);
                }
                Some(Ok(ChatDelta::ToolCall(call))) => calls.push(call),
                Some(Err(err)) => {
                    // Say what is complete; a half sentence is dropped.
                    let _ = speaker.drain().await
                        && speaker.send(failed(speaker.generation, Stage::Llm, &err)).await;
                    return Round::Stopped;
                }
                None => break,
            },
        }
    }
    speaker.finish_text();
    if calls.is_empty() {
        Round::Finished
    } else {
        Round::Calls(text, calls)
    }
}

/// Runs one tool in a task of its own (a barge-in cancels this reply, not
/// the tool), saying fillers while it takes long, and reports it. Returns
/// the result for the model; `None` when the call is gone.
async fn run_tool(
    speaker: &mut Speaker,
    tools: &Arc<dyn CallTools>,
    call: &ToolCall,
) -> Option<String> {
    // A guess never acts: a tool runs only once the turn is confirmed.
    if !speaker.confirmed().await {
        return None;
    }
    let started = Instant::now();
    let task = {
        let (tools, tx) = (tools.clone(), speaker.tx.clone());
        let (name, arguments) = (call.name.clone(), call.arguments.clone());
        tokio::spawn(
            async move {
                let output = tools.run(&name, &arguments).await;
                if let Some(end) = output.ends_call {
                    let _ = tx.send(PipelineMsg::CallEnding { end }).await;
                }
                output.content
            }
            .in_current_span(),
        )
    };
    tokio::pin!(task);
    let give_up = started + TOOL_TIMEOUT;
    let may_fill = speaker.tts.is_enabled();
    let content = loop {
        // A filler 700 ms after the tool started, or 700 ms after what the
        // caller is hearing ends, whichever is later — but when nothing has
        // been said yet, no later than the caller's wait since they stopped
        // talking allows: the tool came after the end-of-turn wait, the
        // transcription and the model's first answer.
        let mut filler_at = started.max(speaker.heard_by) + FILLER_AFTER;
        if speaker.delivered == 0 {
            filler_at = filler_at
                .min(speaker.quiet_since + FIRST_SOUND_WITHIN)
                .max(started);
        }
        let filler_at = filler_at.min(give_up);
        tokio::select! {
            biased;
            joined = &mut task => {
                break joined.unwrap_or_else(|_| r#"{"ok":false,"error":"tool_failed"}"#.to_owned());
            }
            Some(done) = speaker.pending.next(), if !speaker.pending.is_empty() => {
                if !speaker.deliver(done).await {
                    return None;
                }
            }
            () = tokio::time::sleep_until(filler_at), if speaker.pending.is_empty() => {
                if Instant::now() >= give_up {
                    tracing::warn!(tool = %call.name, "tool_timeout");
                    break r#"{"ok":false,"error":"timeout"}"#.to_owned();
                }
                if may_fill && speaker.fillers < MAX_FILLERS {
                    speaker.filler();
                } else {
                    // Nothing more to say: wait for the tool or its limit.
                    speaker.heard_by = give_up;
                }
            }
        }
    };
    let record = ToolRecord {
        name: call.name.clone(),
        arguments: call.arguments.clone(),
        result: content.clone(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let msg = PipelineMsg::ToolRan {
        generation: speaker.generation,
        record,
    };
    speaker.send(msg).await.then_some(content)
}
