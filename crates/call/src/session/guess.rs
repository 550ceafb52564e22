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

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::Call;
use super::turns::{Active, Kind, ReplyState};
use crate::metrics::TurnEnd;
use crate::pipeline::{PipelineMsg, spawn_reply};

/// A reply started on a guess that the caller's turn is over.
pub(crate) struct Guess {
    generation: u32,
    task: AbortOnDropHandle<()>,
    go: watch::Sender<bool>,
    audio: Bytes,
    voiced_ms: u32,
    started_at: OffsetDateTime,
    /// What the reply task sent while held, in order.
    held: Vec<PipelineMsg>,
    /// Provider requests made so far: the transcription, then the model
    /// once transcribed, then one synthesis per sentence.
    calls: u32,
}

impl Call {
    /// The caller paused: answer the utterance so far, held.
    pub(super) fn start_guess(&mut self, audio: Vec<u8>, voiced_ms: u32) {
        // No guess while the agent talks (its words are still entering the
        // history), over a carried utterance (the turn joins two), without
        // STT (nothing to gain) or while the call is ending.
        if self.active.is_some()
            || self.carry.is_some()
            || self.ending.is_some()
            || self.pending_end.is_some()
            || !self.providers.stt.is_enabled()
        {
            return;
        }
        self.drop_guess("superseded");
        let (go, go_rx) = watch::channel(false);
        let audio = Bytes::from(audio);
        let guess_after_ms = self.setup.turn.guess_after_ms;
        let job = self.reply_job(audio.clone(), voiced_ms, guess_after_ms, Some(go_rx));
        let generation = job.generation;
        let task = spawn_reply(job, self.providers.clone(), self.pipe_tx.clone());
        self.turn_guesses += 1;
        tracing::debug!(generation, voiced_ms, "turn_guess");
        self.guess = Some(Guess {
            generation,
            task,
            go,
            audio,
            voiced_ms,
            started_at: self
                .speech_started_at
                .unwrap_or_else(OffsetDateTime::now_utc),
            held: Vec::new(),
            calls: 1,
        });
    }

    /// Drops the guess and everything it started; its requests count as
    /// wasted on the turn that follows.
    pub(super) fn drop_guess(&mut self, why: &'static str) {
        if let Some(guess) = self.guess.take() {
            // Its transcript no longer says how the turn ends.
            if self.turn_wait.take().is_some() {
                self.hearing
                    .set_end_of_turn_ms(self.setup.turn.end_silence_ms);
            }
            self.turn_wasted += guess.calls;
            tracing::debug!(generation = guess.generation, why, "turn_guess_dropped");
        }
    }

    /// Takes a message of the held guess. False: not the guess's.
    pub(super) fn hold_for_guess(&mut self, msg: PipelineMsg) -> Result<(), PipelineMsg> {
        let Some(guess) = self
            .guess
            .as_mut()
            .filter(|g| msg.generation() == Some(g.generation))
        else {
            return Err(msg);
        };
        match &msg {
            // Not a turn, or a provider failed: the confirmed turn starts
            // afresh rather than inherit a dead guess.
            PipelineMsg::Rejected { .. } | PipelineMsg::Failed { .. } => {
                self.drop_guess("failed");
                return Ok(());
            }
            PipelineMsg::Transcript {
                text: Some(text), ..
            } => {
                guess.calls += 1;
                // What the caller said so far decides how long to wait
                // before taking it as the end of the turn.
                let bounds = voice::EndpointBounds {
                    base_ms: self.setup.turn.end_silence_ms,
                    ..self.setup.endpoint
                };
                let wait = voice::end_of_turn_wait(text, &bounds);
                tracing::debug!(wait_ms = wait.ms, rule = wait.rule, "end_of_turn_wait");
                self.hearing.set_end_of_turn_ms(wait.ms);
                self.turn_wait = Some(wait.ms);
            }
            PipelineMsg::Sentence { .. } => guess.calls += 1,
            _ => {}
        }
        guess.held.push(msg);
        Ok(())
    }

    /// The turn ended with nothing said since the last pause: the guess
    /// becomes the reply and plays. False when there is no usable guess.
    pub(super) fn confirm_guess(&mut self, end: TurnEnd) -> bool {
        let Some(guess) = self.guess.take() else {
            return false;
        };
        if self.carry.is_some() {
            self.turn_wasted += guess.calls;
            return false;
        }
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
