//! Per-turn timing (DESIGN.md, "Metrics of a turn"): the instants a turn
//! passes through, turned into one [`TurnRecord`] and one `turn_metrics`
//! log line.
//!
//! Instants are `tokio::time::Instant`, so under a paused test clock every
//! duration is exact and repeatable; in production they are the monotonic
//! clock. Provider latencies are stamped inside the reply task, where they
//! happen, not when the call task gets round to reading them.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::TurnRecord;
use voice::EndedBy;

/// The instants of one turn, filled in as it progresses.
#[derive(Debug, Clone)]
pub(crate) struct TurnClock {
    pub started_at: OffsetDateTime,
    /// End of turn detected: the caller's speech is over.
    pub speech_end: Instant,
    /// CPU of the hearing path for the utterance.
    pub cpu: Duration,
    pub transcript_at: Option<Instant>,
    /// The first sentence left the splitter.
    pub first_sentence_at: Option<Instant>,
    /// The first sentence's audio came back from TTS.
    pub first_audio_at: Option<Instant>,
    /// The first reply frame was handed to the socket.
    pub first_frame_at: Option<Instant>,
}

/// How the caller's turn was found to be over, as its record tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TurnEnd {
    /// The wait that ended it: the end-of-turn silence (or the line's
    /// silence at the room); the quiet hold when that ended it, since the
    /// caller waited that long; 0 for an utterance cut at its longest.
    pub waited_ms: u32,
    pub ended_by: EndedBy,
    pub snr_db: Option<i16>,
}

impl TurnEnd {
    /// The end of a turn the detector ended `ended_by`, with the
    /// end-of-turn wait `wait_ms` in force and a quiet hold of `hold_ms`.
    pub(crate) fn new(ended_by: EndedBy, snr_db: Option<i16>, wait_ms: u32, hold_ms: u32) -> Self {
        let waited_ms = match ended_by {
            EndedBy::Silence | EndedBy::Room => wait_ms,
            // The hold is never shorter than the wait (`TurnConfig::quiet_hold_ms`).
            EndedBy::QuietHold => wait_ms.max(hold_ms),
            EndedBy::MaxLength | EndedBy::StreamEnd => 0,
        };
        Self {
            waited_ms,
            ended_by,
            snr_db,
        }
    }
}

/// How a turn ended, besides its timing.
#[derive(Debug, Clone, Default)]
pub(crate) struct TurnOutcome {
    pub barge_in: bool,
    pub user_text: Option<String>,
    pub agent_text: Option<String>,
    pub error_code: Option<String>,
    pub tools: Vec<crate::ToolRecord>,
    pub guesses: u32,
    pub wasted_calls: u32,
    pub speculative: bool,
}

fn ms_between(from: Instant, to: Option<Instant>) -> u64 {
    to.map_or(0, |to| {
        u64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(u64::MAX)
    })
}

impl TurnClock {
    pub(crate) fn new(started_at: OffsetDateTime, speech_end: Instant, cpu: Duration) -> Self {
        Self {
            started_at,
            speech_end,
            cpu,
            transcript_at: None,
            first_sentence_at: None,
            first_audio_at: None,
            first_frame_at: None,
        }
    }

    pub(crate) fn record(&self, turn_id: u32, end: TurnEnd, outcome: TurnOutcome) -> TurnRecord {
        TurnRecord {
            turn_id,
            started_at: self.started_at,
            t_audio_ms: u64::try_from(self.cpu.as_millis()).unwrap_or(u64::MAX),
            t_stt_ms: ms_between(self.speech_end, self.transcript_at),
            t_nlp_ms: self
                .transcript_at
                .map_or(0, |t| ms_between(t, self.first_sentence_at)),
            t_tts_ms: self
                .first_sentence_at
                .map_or(0, |t| ms_between(t, self.first_audio_at)),
            t_total_ms: ms_between(self.speech_end, self.first_frame_at),
            endpointing_ms: u64::from(end.waited_ms),
            ended_by: end.ended_by,
            snr_db: end.snr_db,
            barge_in: outcome.barge_in,
            user_text: outcome.user_text,
            agent_text: outcome.agent_text,
            error_code: outcome.error_code,
            tools: outcome.tools,
            guesses: outcome.guesses,
            wasted_calls: outcome.wasted_calls,
            speculative: outcome.speculative,
        }
    }
}

/// The one `turn_metrics` record per turn (MISSION §4). `error_code` is
/// left out of the record when the turn succeeded.
pub(crate) fn log_turn(call_sid: &str, business_id: i64, record: &TurnRecord) {
    tracing::info!(
        call_sid,
        business_id,
        turn_id = record.turn_id,
        t_audio_ms = record.t_audio_ms,
        t_stt_ms = record.t_stt_ms,
        t_nlp_ms = record.t_nlp_ms,
        t_tts_ms = record.t_tts_ms,
        t_total_ms = record.t_total_ms,
        endpointing_ms = record.endpointing_ms,
        ended_by = record.ended_by.as_str(),
        snr_db = record.snr_db,
        mode = "stream",
        barge_in = record.barge_in,
        guesses = record.guesses,
        wasted_calls = record.wasted_calls,
        speculative = record.speculative,
        error_code = record.error_code.as_deref(),
        "turn_metrics"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_span_runs_from_the_previous_stage_and_missing_stages_are_zero() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut clock = TurnClock::new(OffsetDateTime::UNIX_EPOCH, t0, ms(3));
        clock.transcript_at = Some(t0 + ms(300));
        clock.first_sentence_at = Some(t0 + ms(700));
        let end = TurnEnd::new(EndedBy::Silence, Some(30), 600, 1_800);
        let partial = clock.record(1, end, TurnOutcome::default());
        assert_eq!(
            (partial.t_stt_ms, partial.t_nlp_ms, partial.t_tts_ms),
            (300, 400, 0)
        );
        assert_eq!(partial.t_total_ms, 0);
        clock.first_audio_at = Some(t0 + ms(850));
        clock.first_frame_at = Some(t0 + ms(851));
        let full = clock.record(2, end, TurnOutcome::default());
        assert_eq!(
            (
                full.t_audio_ms,
                full.t_tts_ms,
                full.t_total_ms,
                full.endpointing_ms
            ),
            (3, 150, 851, 600)
        );
        assert_eq!((full.ended_by, full.snr_db), (EndedBy::Silence, Some(30)));
    }

    #[test]
    fn a_turn_the_quiet_hold_ended_reports_the_hold_as_its_wait_and_one_cut_at_its_longest_none() {
        let waited = |by| TurnEnd::new(by, None, 600, 1_800).waited_ms;
        assert_eq!(waited(EndedBy::Silence), 600);
        assert_eq!(waited(EndedBy::Room), 600);
        assert_eq!(waited(EndedBy::QuietHold), 1_800);
        assert_eq!(
            TurnEnd::new(EndedBy::QuietHold, None, 2_000, 1_800).waited_ms,
            2_000
        );
        assert_eq!(waited(EndedBy::MaxLength), 0);
    }
}
