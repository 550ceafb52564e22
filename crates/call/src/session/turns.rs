//! Turn-taking inside the call task: starting a reply when the caller's
//! utterance ends, following it through its task's messages and the mark
//! echoes, cutting it on barge-in, counting provider failures, and failing
//! over. Each finished caller turn yields one `turn_metrics` record.

use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use voice::TurnEvent;

use super::Call;
use super::guess::{Guess, Spare};
use crate::hedge::Again;
use crate::metrics::{TurnClock, TurnEnd, TurnOutcome, log_turn};
use crate::pacer::{audio_duration, parse_mark};
use crate::pipeline::{PipelineMsg, ReplyJob, Stage, spawn_reply, spawn_say};
use crate::{CallEvent, ToolRecord, TurnRecord};

/// Said after a failed turn that is not yet a reason to fail over: "Sorry,
/// I did not catch that. Could you say it again?"
pub(crate) const APOLOGY_HE: &str = "סליחה, לא שמעתי טוב. אפשר לחזור על זה?";

/// Network and jitter margin on the pacer's estimate of when Twilio
/// finishes playing: within it the agent still counts as talking.
const PLAYBACK_SLACK: Duration = Duration::from_millis(300);
/// Longest caller audio re-sent to STT when an utterance is carried over
/// into the next one (60 s of 8 kHz mu-law).
const MAX_CARRY_BYTES: usize = 480_000;

/// What is being said.
pub(crate) enum Kind {
    Greeting,
    Reply(Box<ReplyState>),
    Apology,
    Failover,
}

/// A caller turn in progress.
pub(crate) struct ReplyState {
    clock: TurnClock,
    /// The reply's first audio must exist by then.
    deadline: Instant,
    audio: Bytes,
    voiced_ms: u32,
    transcript_seen: bool,
    user_text: Option<String>,
    /// Tools run so far in this turn.
    tools: Vec<ToolRecord>,
    /// Guesses made during the utterance, the provider requests they
    /// wasted, and whether the reply is a confirmed guess.
    guesses: u32,
    wasted_calls: u32,
    speculative: bool,
    /// How the caller's turn before this reply was found to be over.
    end: TurnEnd,
    /// The guess this reply, a check of it, may hand over to (see
    /// `session/guess.rs`).
    pub(super) spare: Option<Spare>,
}

impl ReplyState {
    pub(super) fn new(
        started_at: OffsetDateTime,
        speech_end: Instant,
        cpu: Duration,
        deadline: Instant,
        audio: Bytes,
        voiced_ms: u32,
        end: TurnEnd,
    ) -> Self {
        Self {
            clock: TurnClock::new(started_at, speech_end, cpu),
            deadline,
            audio,
            voiced_ms,
            transcript_seen: false,
            user_text: None,
            tools: Vec::new(),
            guesses: 0,
            wasted_calls: 0,
            speculative: false,
            end,
            spare: None,
        }
    }

    /// Provider requests wasted on the turn: its guesses', and those of a
    /// guess still kept aside.
    fn wasted_calls(&self) -> u32 {
        self.wasted_calls
            .saturating_add(self.spare.as_ref().map_or(0, Spare::calls))
    }

    /// Notes the guesses of the utterance; `confirmed` when this reply is one.
    pub(super) fn speculated(&mut self, guesses: u32, wasted_calls: u32) {
        self.guesses = guesses;
        self.wasted_calls = wasted_calls;
        self.speculative = true;
    }
}

/// The one thing the agent is saying (or preparing to say).
pub(crate) struct Active {
    generation: u32,
    kind: Kind,
    /// Dropping it cancels the STT/LLM/TTS work at once.
    _task: AbortOnDropHandle<()>,
    /// Text of each sentence handed to the pacer, by index.
    sentences: Vec<String>,
    /// Sentences of which at least the first chunk went out.
    started: usize,
    /// Sentences whose marks were echoed: what the caller heard.
    heard: usize,
    pipeline_done: bool,
    error_code: Option<String>,
    /// The loudest frame of its audio so far (dBFS): how loud its echo on
    /// the caller's leg can be.
    pub(super) level_dbfs: Option<f32>,
}

impl Active {
    pub(super) fn new(generation: u32, kind: Kind, task: AbortOnDropHandle<()>) -> Self {
        Self {
            generation,
            kind,
            _task: task,
            sentences: Vec::new(),
            started: 0,
            heard: 0,
            pipeline_done: false,
            error_code: None,
            level_dbfs: None,
        }
    }

    pub(super) fn generation(&self) -> u32 {
        self.generation
    }

    /// The guess a reply keeps aside (see [`ReplyState::spare`]).
    pub(super) fn spare_mut(&mut self) -> Option<&mut Guess> {
        match &mut self.kind {
            Kind::Reply(reply) => reply.spare.as_mut().map(Spare::guess_mut),
            _ => None,
        }
    }

    /// When the guess kept aside answers unless the check has (see
    /// [`Spare::due`]).
    pub(super) fn spare_due(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Reply(reply) => reply.spare.as_ref().and_then(Spare::due),
            _ => None,
        }
    }

    pub(super) fn take_spare(&mut self) -> Option<Spare> {
        match &mut self.kind {
            Kind::Reply(reply) => reply.spare.take(),
            _ => None,
        }
    }

    /// Counts `calls` more provider requests as wasted on the turn.
    pub(super) fn add_wasted(&mut self, calls: u32) {
        if let Kind::Reply(reply) = &mut self.kind {
            reply.wasted_calls = reply.wasted_calls.saturating_add(calls);
        }
    }

    /// The reply is now `task`'s, as `generation`; the work of the task
    /// before it is dropped.
    pub(super) fn take_over(&mut self, generation: u32, task: AbortOnDropHandle<()>) {
        self.generation = generation;
        self._task = task;
    }

    /// Marks the turn as failed with `code`.
    pub(crate) fn set_error(&mut self, code: &str) {
        self.error_code = Some(code.to_owned());
    }

    /// The turn deadline, while the reply has no audio yet.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Reply(r) if r.clock.first_audio_at.is_none() && !self.pipeline_done => {
                Some(r.deadline)
            }
            _ => None,
        }
    }
}

/// An utterance to hear again with the next one.
pub(crate) struct Carry {
    audio: Bytes,
    voiced_ms: u32,
    started_at: OffsetDateTime,
}

impl Call {
    /// The job of a reply to `audio`, the caller quiet for `quiet_ms` by now.
    pub(super) fn reply_job(
        &mut self,
        audio: Bytes,
        voiced_ms: u32,
        quiet_ms: u32,
        go: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> ReplyJob {
        let now = Instant::now();
        ReplyJob {
            generation: self.next_generation(),
            audio,
            voiced_ms,
            messages: self.history.to_messages(),
            voice: self.setup.voice.clone(),
            quiet_since: now
                .checked_sub(Duration::from_millis(u64::from(quiet_ms)))
                .unwrap_or(now),
            go,
            ask: None,
            hedge_after: self.setup.limits.hedge_after,
        }
    }

    pub(super) fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Synthesises the tool fillers into the TTS cache while the greeting
    /// plays, so the first filler of the call costs no synthesis.
    pub(super) fn warm_fillers(&self) {
        if self.providers.tools.is_none() || !self.providers.tts.is_enabled() {
            return;
        }
        let (tts, voice) = (self.providers.tts.clone(), self.setup.voice.clone());
        tokio::spawn(async move {
            for line in crate::pipeline::FILLERS_HE {
                if tts.synthesize_cached(line, voice.as_deref()).await.is_err() {
                    return;
                }
            }
        });
    }

    pub(super) fn greet(&mut self) {
        if !self.setup.greeting.trim().is_empty() {
            self.say(Kind::Greeting, self.setup.greeting.clone());
        }
    }

    pub(super) fn say(&mut self, kind: Kind, text: String) {
        let generation = self.next_generation();
        let task = spawn_say(
            generation,
            text,
            self.setup.voice.clone(),
            self.providers.tts.clone(),
            Again::hedged_after(
                self.setup.limits.hedge_after.tts,
                &self.providers.hedge_budget.tts,
            ),
            self.pipe_tx.clone(),
        );
        self.active = Some(Active::new(generation, kind, task));
    }

    pub(super) fn on_turn_event(&mut self, event: TurnEvent) {
        match event {
            TurnEvent::SpeechStarted => self.speech_started_at = Some(OffsetDateTime::now_utc()),
            TurnEvent::Discarded => {
                self.speech_started_at = None;
                self.drop_guess("discarded");
            }
            TurnEvent::BargeIn => self.interrupt(),
            TurnEvent::Paused {
                audio,
                voiced_ms,
                early,
            } => self.start_guess(audio, voiced_ms, early),
            TurnEvent::StillPaused { audio, voiced_ms } => self.check_guess(audio, voiced_ms),
            TurnEvent::Resumed => self.drop_guess("resumed"),
            TurnEvent::UtteranceEnded {
                audio,
                voiced_ms,
                ended_by,
                snr_db,
                ..
            } => {
                // A short answer over the agent ("כן", "רגע") never reaches
                // the barge-in time but is still the caller taking the turn.
                self.interrupt();
                // The wait the guess's transcript chose, if it had one.
                let wait_ms = self
                    .turn_wait
                    .take()
                    .unwrap_or(self.setup.turn.end_silence_ms);
                let end = TurnEnd::new(ended_by, snr_db, wait_ms, self.setup.turn.quiet_hold_ms);
                self.check_at_the_end(&audio, voiced_ms);
                if !self.confirm_guess(end) {
                    self.start_reply(audio, voiced_ms, end);
                }
            }
        }
    }

    /// Whether audio of `active` may still be playing at Twilio.
    pub(super) fn is_playing(&self, active: &Active, now: Instant) -> bool {
        active.started > active.heard
            && (self.pacer.holds(active.generation)
                || self
                    .pacer
                    .play_until()
                    .is_some_and(|p| p + PLAYBACK_SLACK > now))
    }

    /// Whether the reply must not start yet: the caller went on speaking
    /// after their turn ended, before any of the answer left, and has the
    /// floor. Starting it would talk over them until their barge-in, or
    /// their new turn's end, cuts it; either now cancels it unheard. A blip
    /// lets it go a breath after it stops, not when it is dropped 600 ms
    /// later.
    pub(super) fn holds_the_reply(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| matches!(&a.kind, Kind::Reply(r) if r.clock.first_frame_at.is_none()))
            && self.hearing.caller_has_the_floor()
    }

    /// The caller talks over the agent: stop talking at once, cancel the
    /// reply's work, keep in the history only what was heard.
    fn interrupt(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        let now = Instant::now();
        let playing = self.is_playing(&active, now);
        let finished = active.pipeline_done && !playing && !self.pacer.holds(active.generation);
        if playing {
            // Queued before any further media, and the pacer is emptied
            // below, so nothing of this reply follows the clear.
            self.send_clear();
        }
        self.pacer.clear();
        tracing::debug!(generation = active.generation, playing, "barge_in");
        if playing && active.heard > 0 {
            self.history.mark_interrupted();
        }
        let Active {
            kind,
            sentences,
            heard,
            error_code,
            ..
        } = active;
        let Kind::Reply(reply) = kind else {
            return;
        };
        // The caller went on before any of the answer was heard, and it
        // did nothing (no tool ran): hear the turn again, joined with what
        // they are saying now, as one turn, one transcript and one reply.
        let unanswered =
            !finished && reply.clock.first_frame_at.is_none() && reply.tools.is_empty();
        if !reply.transcript_seen || unanswered {
            if let Some(text) = reply.user_text.as_deref() {
                self.history.unsay_user(text);
            }
            // What it spent counts as wasted on the joined turn.
            let spent = u32::try_from(sentences.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1 + u32::from(reply.transcript_seen));
            self.turn_guesses = self.turn_guesses.saturating_add(reply.guesses);
            self.turn_wasted = self
                .turn_wasted
                .saturating_add(reply.wasted_calls().saturating_add(spent));
            self.carry = Some(Carry {
                audio: reply.audio.clone(),
                voiced_ms: reply.voiced_ms,
                started_at: reply.clock.started_at,
            });
            return;
        }
        let (barge_in, error_code) = if finished {
            (false, error_code)
        } else if reply.clock.first_frame_at.is_none() {
            (true, error_code.or_else(|| Some("superseded".to_owned())))
        } else {
            (true, error_code)
        };
        self.record_turn(*reply, &sentences[..heard], barge_in, error_code);
    }

    fn start_reply(&mut self, audio: Vec<u8>, voiced_ms: u32, end: TurnEnd) {
        let now = Instant::now();
        let started_at = self
            .speech_started_at
            .take()
            .unwrap_or_else(OffsetDateTime::now_utc);
        let (audio, voiced_ms, started_at) = match self.carry.take() {
            Some(carry) if carry.audio.len() + audio.len() <= MAX_CARRY_BYTES => {
                let mut joined = Vec::with_capacity(carry.audio.len() + audio.len());
                joined.extend_from_slice(&carry.audio);
                joined.extend_from_slice(&audio);
                (
                    joined,
                    carry.voiced_ms.saturating_add(voiced_ms),
                    carry.started_at,
                )
            }
            _ => (audio, voiced_ms, started_at),
        };
        let audio = Bytes::from(audio);
        let job = self.reply_job(
            audio.clone(),
            voiced_ms,
            self.setup.turn.end_silence_ms,
            None,
        );
        let generation = job.generation;
        let task = spawn_reply(job, self.providers.clone(), self.pipe_tx.clone());
        let mut reply = ReplyState::new(
            started_at,
            now,
            self.hearing.cpu(),
            now + self.setup.limits.turn_deadline,
            audio,
            voiced_ms,
            end,
        );
        reply.guesses = std::mem::take(&mut self.turn_guesses);
        reply.wasted_calls = std::mem::take(&mut self.turn_wasted);
        self.active = Some(Active::new(generation, Kind::Reply(Box::new(reply)), task));
    }

    pub(super) fn on_pipeline(&mut self, msg: PipelineMsg) {
        let Err(msg) = self.hold_for_guess(msg) else {
            return;
        };
        let Some(msg) = self.settle_spare(msg) else {
            return;
        };
        let Some(generation) = msg.generation() else {
            if let PipelineMsg::CallEnding { end } = msg {
                // The tool acted: the call ends once the agent has said
                // what it is saying now (or at once, if nothing).
                tracing::info!(end = ?end, "call_ending_by_tool");
                self.pending_end.get_or_insert(end);
            }
            return;
        };
        let Some(active) = self.active.as_mut().filter(|a| a.generation == generation) else {
            tracing::debug!(generation, "message of a cancelled reply dropped");
            return;
        };
        match msg {
            // A transcription sent twice: one answer goes unused.
            PipelineMsg::Hedged { .. } => active.add_wasted(1),
            PipelineMsg::Transcript { text, at, .. } => {
                if let Kind::Reply(reply) = &mut active.kind {
                    reply.clock.transcript_at = Some(at);
                    reply.transcript_seen = true;
                    if let Some(text) = &text {
                        self.history.push_user(text);
                    }
                    reply.user_text = text;
                }
            }
            PipelineMsg::Rejected { reason, at, .. } => {
                if let Kind::Reply(reply) = &active.kind {
                    // Not a turn: nothing was said to answer.
                    tracing::info!(
                        reason,
                        t_stt_ms = u64::try_from(
                            at.saturating_duration_since(reply.clock.speech_end)
                                .as_millis()
                        )
                        .unwrap_or(u64::MAX),
                        "transcript_rejected"
                    );
                }
                self.active = None;
            }
            PipelineMsg::Sentence {
                index,
                text,
                audio,
                ready_at,
                audio_at,
                ..
            } => {
                match &mut active.kind {
                    Kind::Reply(reply) if reply.clock.first_sentence_at.is_none() => {
                        reply.clock.first_sentence_at = Some(ready_at);
                        reply.clock.first_audio_at = Some(audio_at);
                    }
                    Kind::Failover => {
                        if let Some(ending) = &mut self.ending {
                            ending.deadline = Instant::now()
                                + audio_duration(audio.len())
                                + super::failover::PLAY_SLACK;
                        }
                    }
                    _ => {}
                }
                let level = voice::vad::loudest_frame_dbfs(&audio);
                active.level_dbfs = Some(active.level_dbfs.map_or(level, |l| l.max(level)));
                active.sentences.push(text);
                self.pacer.push(generation, index, audio);
            }
            PipelineMsg::Done { .. } => {
                active.pipeline_done = true;
                if matches!(active.kind, Kind::Reply(_)) {
                    self.consecutive_failures = 0;
                }
                self.check_complete();
            }
            PipelineMsg::ToolRan { record, .. } => {
                if let Kind::Reply(reply) = &mut active.kind {
                    reply.tools.push(record);
                }
            }
            PipelineMsg::CallEnding { .. } => {}
            PipelineMsg::Failed { stage, kind, .. } => self.on_failure(stage, kind),
        }
    }

    fn on_failure(&mut self, stage: Stage, kind: &'static str) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        active.pipeline_done = true;
        tracing::warn!(
            call_sid = %self.setup.call_sid,
            business_id = self.setup.business_id,
            stage = stage.as_str(),
            error_kind = kind,
            "provider_failed"
        );
        match active.kind {
            Kind::Reply(_) => {
                let code = format!("{}_{kind}", stage.as_str());
                active.error_code = Some(code.clone());
                let nothing_said = active.sentences.is_empty();
                self.consecutive_failures += 1;
                let limit = self.setup.limits.max_consecutive_failures.max(1);
                if self.consecutive_failures >= limit {
                    let reason = format!(
                        "{} provider failures in a row (last: {code})",
                        self.consecutive_failures
                    );
                    self.fail_over(reason, Some(super::failover::LINE_HE));
                    return;
                }
                self.check_complete();
                if nothing_said
                    && stage != Stage::Tts
                    && self.active.is_none()
                    && self.providers.tts.is_enabled()
                {
                    self.say(Kind::Apology, APOLOGY_HE.to_owned());
                }
            }
            // Without the line there is nothing left to wait for.
            Kind::Failover => self.active = None,
            Kind::Greeting | Kind::Apology => self.check_complete(),
        }
    }

    pub(super) fn on_mark(&mut self, name: &str) {
        let Some((generation, index)) = parse_mark(name) else {
            tracing::debug!(mark = name, "mark not ours");
            return;
        };
        let Some(active) = self.active.as_mut().filter(|a| a.generation == generation) else {
            return;
        };
        // Twilio plays in order: an echo confirms every sentence before it.
        let upto = (index as usize + 1).min(active.sentences.len());
        while active.heard < upto {
            if !matches!(active.kind, Kind::Failover) {
                self.history.push_heard(&active.sentences[active.heard]);
            }
            active.heard += 1;
        }
        self.check_complete();
    }

    pub(super) fn on_release(&mut self, release: &crate::pacer::Release, now: Instant) {
        let Some(active) = self
            .active
            .as_mut()
            .filter(|a| a.generation == release.generation)
        else {
            return;
        };
        if release.first_of_segment {
            active.started += 1;
        }
        if let Kind::Reply(reply) = &mut active.kind
            && reply.clock.first_frame_at.is_none()
            && release.media.is_some()
        {
            reply.clock.first_frame_at = Some(now);
        }
    }

    /// Ends the active line once it is fully said and heard.
    fn check_complete(&mut self) {
        let done = self
            .active
            .as_ref()
            .is_some_and(|a| a.pipeline_done && a.heard >= a.sentences.len());
        if !done {
            return;
        }
        if let Some(active) = self.active.take()
            && let Kind::Reply(reply) = active.kind
        {
            self.record_turn(*reply, &active.sentences, false, active.error_code);
        }
    }

    /// Drops the active line (and any guess); a caller turn still gets its
    /// record.
    pub(super) fn abandon_active(&mut self) {
        self.drop_guess("call_ending");
        let Some(active) = self.active.take() else {
            return;
        };
        if let Kind::Reply(reply) = active.kind {
            let error_code = active.error_code.or_else(|| {
                (!active.pipeline_done || active.heard < active.sentences.len())
                    .then(|| "call_ended".to_owned())
            });
            self.record_turn(*reply, &active.sentences[..active.heard], false, error_code);
        }
    }

    fn record_turn(
        &mut self,
        reply: ReplyState,
        heard: &[String],
        barge_in: bool,
        error_code: Option<String>,
    ) {
        self.turns += 1;
        let wasted_calls = reply.wasted_calls();
        let outcome = TurnOutcome {
            barge_in,
            user_text: reply.user_text,
            agent_text: (!heard.is_empty()).then(|| heard.join(" ")),
            error_code,
            tools: reply.tools,
            guesses: reply.guesses,
            wasted_calls,
            speculative: reply.speculative,
        };
        let record: TurnRecord = reply.clock.record(self.turns, reply.end, outcome);
        log_turn(&self.setup.call_sid, self.setup.business_id, &record);
        self.emit(CallEvent::Turn(record));
    }
}
