//! Speculative turns: when the caller pauses briefly, their words so far are transcribed and answered at once, held silent until the turn is confirmed.
//!
//! A guess is a reply task started on the audio up to the pause. While
//! held it transcribes, asks the model and synthesises the first sentence,
//! and its messages wait here, out of the history and away from the
//! pacer. If the caller goes on talking the guess is dropped with all its
//! work (counted as wasted provider calls) and the next pause guesses
//! again with the new audio; when the turn ends with nothing said since
//! the pause, the guess becomes the turn's reply and its first sentence
//! plays at once. Nothing a guess prepared reaches the caller or the
//! history unless it is confirmed, and a guess never runs a tool.
//!
//! In a crowd the guess comes early, and the detector offers the audio a
//! little later for a check (`TurnEvent::StillPaused`): the caller's quiet
//! last words can run on under the crowd after the guess. The check is a
//! second reply task; if its words are the guess's, the guess stands and
//! the check is dropped, and otherwise the check becomes the guess. A turn
//! that ends while the check is still transcribing is answered by the
//! check, with the guess kept aside (`ReplyState::spare`) to take over if
//! the check's words turn out to be its own, or the check cannot answer:
//! its transcription fails, hears no words, or takes as long again as the
//! guess's did and [`CHECK_PATIENCE`] more.

use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::Call;
use super::turns::{Active, Kind, ReplyState};
use crate::metrics::TurnEnd;
use crate::pipeline::{PipelineMsg, spawn_reply};

/// How much longer than the guess's own transcription a check that answers
/// a turn may take before the guess it keeps aside answers instead: by then
/// the check's request is most likely stuck, and the turn's deadline would
/// hand the call to the recording fallback while a reply stands ready.
const CHECK_PATIENCE: Duration = Duration::from_millis(500);

/// A reply started on a guess that the caller's turn is over.
pub(crate) struct Guess {
    generation: u32,
    task: AbortOnDropHandle<()>,
    go: watch::Sender<bool>,
    audio: Bytes,
    voiced_ms: u32,
    started_at: OffsetDateTime,
    /// When its task was started, and how long its transcription took.
    asked_at: Instant,
    transcribed_in: Option<Duration>,
    /// What the reply task sent while held, in order.
    held: Vec<PipelineMsg>,
    /// Provider requests made so far other than the model's: the
    /// transcription (two when hedged), then one synthesis per sentence.
    requests: u32,
    /// What it heard, once transcribed.
    transcript: Option<String>,
    /// A check asks the model only once this is sent (see
    /// `ReplyJob::ask`): until its transcript is judged, it may be no
    /// more than the guess's words again.
    ask: Option<watch::Sender<bool>>,
    /// Made early, and not checked yet (see `TurnEvent::Paused`): it may
    /// not answer as it is.
    unchecked: bool,
}

/// The guess a reply to a turn that ended during the guess's check keeps
/// aside, with what lets the check ask the model should it answer.
pub(crate) struct Spare {
    guess: Guess,
    ask: Option<watch::Sender<bool>>,
    /// When the check began.
    check_asked_at: Instant,
}

impl Call {
    /// The caller paused: answer the utterance so far, held; an `early`
    /// guess answers only once checked.
    pub(super) fn start_guess(&mut self, audio: Vec<u8>, voiced_ms: u32, early: bool) {
        if !self.may_guess() {
            return;
        }
        self.drop_guess("superseded");
        let mut guess = self.spawn_guess(audio, voiced_ms, false);
        guess.unchecked = early;
        self.guess = Some(guess);
    }

    /// The pause of the standing guess goes on: answer the utterance so
    /// far too, to check the guess by. Without a guess it is one.
    pub(super) fn check_guess(&mut self, audio: Vec<u8>, voiced_ms: u32) {
        if self.guess.is_none() {
            return self.start_guess(audio, voiced_ms, false);
        }
        if !self.may_guess() {
            return;
        }
        self.drop_check("superseded");
        self.check = Some(self.spawn_guess(audio, voiced_ms, true));
    }

    /// The turn ended with an early guess that was never checked: its own
    /// audio is the check.
    pub(super) fn check_at_the_end(&mut self, audio: &[u8], voiced_ms: u32) {
        if self.check.is_none() && self.guess.as_ref().is_some_and(|g| g.unchecked) {
            self.check_guess(audio.to_vec(), voiced_ms);
        }
    }

    /// No guess while the agent talks (its words are still entering the
    /// history), over a carried utterance (the turn joins two), without
    /// STT (nothing to gain) or while the call is ending.
    fn may_guess(&self) -> bool {
        self.active.is_none()
            && self.carry.is_none()
            && self.ending.is_none()
            && self.pending_end.is_none()
            && self.providers.stt.is_enabled()
    }

    /// A held reply to `audio`; a `check` asks the model only once told.
    fn spawn_guess(&mut self, audio: Vec<u8>, voiced_ms: u32, check: bool) -> Guess {
        let (go, go_rx) = watch::channel(false);
        let (ask, ask_rx) = check.then(|| watch::channel(false)).unzip();
        let audio = Bytes::from(audio);
        let guess_after_ms = self.setup.turn.guess_after_ms;
        let mut job = self.reply_job(audio.clone(), voiced_ms, guess_after_ms, Some(go_rx));
        job.ask = ask_rx;
        let generation = job.generation;
        let task = spawn_reply(job, self.providers.clone(), self.pipe_tx.clone());
        self.turn_guesses += 1;
        tracing::debug!(generation, voiced_ms, "turn_guess");
        Guess {
            generation,
            task,
            go,
            audio,
            voiced_ms,
            started_at: self
                .speech_started_at
                .unwrap_or_else(OffsetDateTime::now_utc),
            asked_at: Instant::now(),
            transcribed_in: None,
            held: Vec::new(),
            requests: 1,
            transcript: None,
            ask,
            unchecked: false,
        }
    }

    /// Drops the guess, and its check, and everything they started; their
    /// requests count as wasted on the turn that follows.
    pub(super) fn drop_guess(&mut self, why: &'static str) {
        self.drop_check(why);
        self.drop_guess_alone(why);
    }

    /// Drops the check of the guess; its requests count as wasted.
    fn drop_check(&mut self, why: &'static str) {
        if let Some(check) = self.check.take() {
            self.turn_wasted += check.calls();
            tracing::debug!(generation = check.generation, why, "turn_check_dropped");
        }
    }

    fn drop_guess_alone(&mut self, why: &'static str) {
        if let Some(guess) = self.guess.take() {
            // Its transcript no longer says how the turn ends.
            if self.turn_wait.take().is_some() {
                self.hearing
                    .set_end_of_turn_ms(self.setup.turn.end_silence_ms);
            }
            self.turn_wasted += guess.calls();
            tracing::debug!(generation = guess.generation, why, "turn_guess_dropped");
        }
    }

    /// Takes a message of the held guess, of its check, or of the guess
    /// kept aside by the reply. False: none of theirs.
    pub(super) fn hold_for_guess(&mut self, msg: PipelineMsg) -> Result<(), PipelineMsg> {
        let generation = msg.generation();
        if self
            .check
            .as_ref()
            .is_some_and(|c| generation == Some(c.generation))
        {
            self.hold_for_check(msg);
            return Ok(());
        }
        if let Some(spare) = self
            .active
            .as_mut()
            .and_then(|a| a.spare_mut())
            .filter(|s| generation == Some(s.generation))
        {
            spare.hear(msg);
            return Ok(());
        }
        let Some(guess) = self
            .guess
            .as_mut()
            .filter(|g| generation == Some(g.generation))
        else {
            return Err(msg);
        };
        // Not a turn, or a provider failed: the confirmed turn starts
        // afresh rather than inherit a dead guess.
        if matches!(
            msg,
            PipelineMsg::Rejected { .. } | PipelineMsg::Failed { .. }
        ) {
            self.drop_guess("failed");
            return Ok(());
        }
        let heard = transcript_of(&msg);
        guess.hear(msg);
        if let Some(heard) = heard {
            self.wait_after(&heard);
        }
        Ok(())
    }

    /// What the caller said so far decides how long to wait before taking
    /// it as the end of the turn.
    fn wait_after(&mut self, transcript: &str) {
        let bounds = voice::EndpointBounds {
            base_ms: self.setup.turn.end_silence_ms,
            ..self.setup.endpoint
        };
        let wait = voice::end_of_turn_wait(transcript, &bounds);
        tracing::debug!(wait_ms = wait.ms, rule = wait.rule, "end_of_turn_wait");
        self.hearing.set_end_of_turn_ms(wait.ms);
        self.turn_wait = Some(wait.ms);
    }

    /// Takes a message of the check. Its transcript judges the guess: the
    /// same words, and the guess stands; others, and the check is the
    /// better guess. A check that fails leaves the guess unchecked, to be
    /// checked against the turn's own audio at its end.
    fn hold_for_check(&mut self, msg: PipelineMsg) {
        let Some(check) = self.check.as_mut() else {
            return;
        };
        if matches!(
            msg,
            PipelineMsg::Rejected { .. } | PipelineMsg::Failed { .. }
        ) {
            self.drop_check("check_failed");
            return;
        }
        let heard = transcript_of(&msg);
        check.hear(msg);
        let Some(heard) = heard else {
            return;
        };
        if let Some(guess) = self.guess.as_mut().filter(|g| g.heard_as(&heard)) {
            guess.unchecked = false;
            self.drop_check("agreed");
        } else {
            self.drop_guess_alone("checked");
            self.guess = self.check.take();
            if let Some(guess) = self.guess.as_mut() {
                guess.release();
            }
            self.wait_after(&heard);
        }
    }

    /// A message of a reply that answers a turn ended during its check,
    /// while the guess it checked is kept aside. If the check heard the
    /// guess's words, or cannot answer (its transcription failed or heard
    /// no words), the guess, sooner ready, takes the reply over and the
    /// check's work is dropped. Returns the message when it is still the
    /// reply's to take.
    pub(super) fn settle_spare(&mut self, msg: PipelineMsg) -> Option<PipelineMsg> {
        let heard = match &msg {
            PipelineMsg::Transcript {
                text: Some(text), ..
            } => Some(text.as_str()),
            PipelineMsg::Rejected { .. } | PipelineMsg::Failed { .. } => None,
            _ => return Some(msg),
        };
        let Some(active) = self
            .active
            .as_mut()
            .filter(|a| msg.generation() == Some(a.generation()))
        else {
            return Some(msg);
        };
        let Some(spare) = active.spare_mut() else {
            return Some(msg);
        };
        if let Some(heard) = heard
            && !spare.heard_as(heard)
        {
            if let Some(Spare { guess, ask, .. }) = active.take_spare() {
                if let Some(ask) = ask {
                    let _ = ask.send(true);
                }
                active.add_wasted(guess.calls());
                tracing::debug!(generation = guess.generation, "turn_spare_dropped");
            }
            return Some(msg);
        }
        let why = if heard.is_some() {
            "agreed"
        } else {
            "check_failed"
        };
        self.spare_takes_over(why);
        None
    }

    /// The check answering the turn has taken too long (see
    /// [`CHECK_PATIENCE`]): the guess kept aside answers instead.
    pub(super) fn settle_overdue_spare(&mut self, now: Instant) {
        if self
            .active
            .as_ref()
            .and_then(Active::spare_due)
            .is_some_and(|due| now >= due)
        {
            self.spare_takes_over("check_overdue");
        }
    }

    /// The guess kept aside by the reply becomes the reply; the check's
    /// transcription, all it did, is wasted.
    fn spare_takes_over(&mut self, why: &'static str) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let Some(Spare { guess: spare, .. }) = active.take_spare() else {
            return;
        };
        tracing::debug!(generation = spare.generation, why, "turn_spare_took_over");
        active.add_wasted(1);
        active.take_over(spare.generation, spare.task);
        let _ = spare.go.send(true);
        for msg in spare.held {
            self.on_pipeline(msg);
        }
    }

    /// The turn ended with nothing said since the last pause: the guess
    /// becomes the reply and plays. False when there is no usable guess.
    /// A check still transcribing is the reply, the guess kept aside.
    pub(super) fn confirm_guess(&mut self, end: TurnEnd) -> bool {
        let spare = match self.check.take() {
            Some(check) => self.guess.replace(check),
            None => None,
        };
        let Some(mut guess) = self.guess.take() else {
            return false;
        };
        // A carried utterance is heard again whole, and an early guess
        // never answers unchecked (here, when no check could start).
        if self.carry.is_some() || (guess.unchecked && spare.is_none()) {
            self.turn_wasted += guess.calls() + spare.map_or(0, |s| s.calls());
            return false;
        }
        // The check answers unless it heard the spare's words; without one
        // it answers in any case.
        let spare = match spare {
            Some(spare) => Some(Spare {
                guess: spare,
                ask: guess.ask.take(),
                check_asked_at: guess.asked_at,
            }),
            None => {
                guess.release();
                None
            }
        };
        let now = Instant::now();
        let started_at = self.speech_started_at.take().unwrap_or(guess.started_at);
        let mut reply = ReplyState::new(
            started_at,
            now,
            self.hearing.cpu(),
            now + self.setup.limits.turn_deadline,
            guess.audio,
            guess.voiced_ms,
            end,
        );
        reply.speculated(
            std::mem::take(&mut self.turn_guesses),
            std::mem::take(&mut self.turn_wasted),
        );
        reply.spare = spare;
        self.active = Some(Active::new(
            guess.generation,
            Kind::Reply(Box::new(reply)),
            guess.task,
        ));
        let _ = guess.go.send(true);
        tracing::debug!(generation = guess.generation, "turn_guess_confirmed");
        for msg in guess.held {
            self.on_pipeline(msg);
        }
        true
    }
}

impl Spare {
    pub(super) fn guess_mut(&mut self) -> &mut Guess {
        &mut self.guess
    }

    pub(super) fn calls(&self) -> u32 {
        self.guess.calls()
    }

    /// When the guess answers if the check has not by then: once the
    /// check has taken as long again as the guess's transcription, and
    /// [`CHECK_PATIENCE`] more at least. None while the guess itself is
    /// transcribing.
    pub(super) fn due(&self) -> Option<Instant> {
        let took = self.guess.transcribed_in?;
        Some(self.check_asked_at + took + took.max(CHECK_PATIENCE))
    }
}

impl Guess {
    /// Provider requests it made so far: [`Guess::requests`], and the
    /// model's once transcribed, unless it has not asked yet.
    pub(super) fn calls(&self) -> u32 {
        self.requests + u32::from(self.transcript.is_some() && self.ask.is_none())
    }

    /// A check may ask the model now.
    fn release(&mut self) {
        if let Some(ask) = self.ask.take() {
            let _ = ask.send(true);
        }
    }

    /// Whether its transcript holds the words `heard` does.
    fn heard_as(&self, heard: &str) -> bool {
        self.transcript
            .as_deref()
            .is_some_and(|own| voice::same_words(own, heard))
    }

    /// Holds a message of its reply task, counting the provider requests
    /// it tells of.
    fn hear(&mut self, msg: PipelineMsg) {
        match &msg {
            PipelineMsg::Transcript {
                text: Some(text),
                at,
                ..
            } => {
                self.transcript = Some(text.clone());
                self.transcribed_in = Some(at.saturating_duration_since(self.asked_at));
            }
            PipelineMsg::Hedged { .. } | PipelineMsg::Sentence { .. } => self.requests += 1,
            _ => {}
        }
        self.held.push(msg);
    }
}

/// The words of a transcript message.
fn transcript_of(msg: &PipelineMsg) -> Option<String> {
    match msg {
        PipelineMsg::Transcript {
            text: Some(text), ..
        } => Some(text.clone()),
        _ => None,
    }
}
