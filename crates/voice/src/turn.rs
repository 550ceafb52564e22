//! End-of-turn detection (endpointing): turns a stream of frames, each with
//! its VAD decision, into caller utterances for STT, plus the early signals
//! the call needs (speech started, barge-in).
//!
//! Time is counted in samples of the pushed audio (mu-law: one byte per
//! sample), never read from a clock, so behaviour is identical in tests,
//! under load and in the call simulator. The VAD decision itself comes from
//! [`crate::vad`]; what to do with an utterance (STT, filtering) is the
//! caller's business.
//!
//! Event order per utterance: `SpeechStarted`, optionally one `BargeIn`,
//! then exactly one of `UtteranceEnded` or `Discarded`. `push` returns at
//! most one event; when two fall due on the same frame the later one is
//! reported on the next push (see [`TurnDetector::push`]).

use std::collections::VecDeque;

use active::{ActiveLevel, RecentLevel};
use crowd::Crowd;
use fade::Fade;
use room::Room;

/// Endpointing thresholds, in milliseconds of audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// Sample rate of the pushed audio (Twilio: 8000).
    pub sample_rate: u32,
    /// Silence after speech that ends the utterance.
    pub end_silence_ms: u32,
    /// Voiced time below which an utterance is a blip (cough, click) and is
    /// discarded instead of transcribed.
    pub min_speech_ms: u32,
    /// Longest utterance (from onset, pre-roll excluded) before it is cut
    /// and delivered anyway, bounding memory and STT upload size.
    pub max_utterance_ms: u32,
    /// Continuous voice that counts as the caller interrupting the agent.
    pub barge_in_ms: u32,
    /// How much quieter the agent's own audio comes back on the caller's
    /// leg (echo return loss), in dB. Phones and networks give 20–30 dB
    /// or more, so 20 is the pessimistic end.
    pub echo_return_loss_db: u32,
    /// While the agent talks, how far above its expected echo a frame must
    /// be to count towards a barge-in, in dB.
    pub echo_margin_db: u32,
    /// Audio kept from before the onset, so the first phoneme (often a
    /// quiet fricative the VAD misses) reaches STT. The same amount of
    /// trailing silence is kept after the last voiced frame.
    pub pre_roll_ms: u32,
    /// Silence after speech at which the utterance so far is offered as a
    /// guess ([`TurnEvent::Paused`]), long before the end of turn; 0: never.
    /// In a room the VAD takes for voice, where it finds no silence, the
    /// line back at the room this long is the pause (see
    /// [`TurnConfig::room_end_db`]), and where the room cannot end the
    /// turn, the quiet hold's last [`HOLD_GUESS_LEAD_MS`].
    pub guess_after_ms: u32,
    /// Once a pause has begun, how long voice must last without a break
    /// to end it: a shorter blip is a clatter or a noise peak, not the
    /// caller going on. The end of turn waits for a blip in progress to
    /// fail, so this can delay an end by at most its own length. 0: any
    /// voiced frame ends a pause.
    pub resume_ms: u32,
    /// In the pause after the caller has spoken (once the VAD has called a
    /// frame silence), a voiced frame more than this many dB below the
    /// utterance's active speech level so far (see
    /// [`TurnDetector::push_heard`]) does not count as the caller going on:
    /// it is silence for the end-of-turn wait. Café babble and traffic keep the
    /// VAD voiced after the caller stops, but well below the caller's own
    /// level. Only frames pushed with a level are gated; 0: off.
    pub quiet_gate_db: u32,
    /// How long voice quieter than the caller can hold a turn open: once
    /// this long has passed since the caller was last clear (a voiced
    /// frame ending 400 ms whose mean level is within `quiet_hold_db` of
    /// their active level, on a line `room_clear_db` over the room), the
    /// turn ends, whatever the VAD hears. Café babble keeps the VAD voiced
    /// after the caller stops, with no pause for the quiet gate to act
    /// on; without a bound it held turns open for up to 12 s on the noise
    /// set. Never shorter than the end-of-turn wait in force. 0: off.
    pub quiet_hold_ms: u32,
    /// How far under the caller's active level voice still counts as the
    /// caller for [`TurnConfig::quiet_hold_ms`], in dB.
    pub quiet_hold_db: u32,
    /// For [`TurnConfig::quiet_hold_ms`], voice counts as the caller only
    /// while the line's 200 ms mean is more than this many dB over the
    /// room (see [`TurnConfig::stand_out_db`]). At 10 dB SNR café babble
    /// comes within `quiet_hold_db` of the caller's level and held turns
    /// open up to 23 s, into the caller's next sentence; it stays within
    /// this of the room. Not judged before the room is (the call's first
    /// second, or frames pushed without a level). 0: off.
    pub room_clear_db: u32,
    /// How far the line's level over 200 ms must rise over the room's
    /// (the quietest fifth of its last 10 s; of the last 2 s once those
    /// are 10 dB louder, a crowd that began mid-call), at least once, for an
    /// utterance to be the caller's, in dB; while the agent talks, that
    /// frame must also be over the echo gate. Café babble and traffic keep
    /// the VAD voiced while the caller is silent: an utterance that never
    /// stands out of the room is discarded, so it is never transcribed,
    /// never barges in and never cuts the agent off, and one that has not
    /// stood out for `quiet_hold_ms` is dropped then, so that the crowd
    /// does not fill an utterance up to `max_utterance_ms`. Judged once
    /// the line has been heard for a second, and only on frames pushed
    /// with a level; an utterance open when the room steps up (a crowd
    /// that began on a quiet line) is judged again, by its loudest 200 ms,
    /// once the room has settled and while it follows the step. 0: off.
    pub stand_out_db: u32,
    /// In a room the VAD takes for voice (café babble), where it finds no
    /// pause to end a turn on: once the caller has stood out of it, the
    /// line's 200 ms mean falling back to within this many dB of the room
    /// (as it stood when the caller stood out), or under the crowd's own
    /// ceiling for a caller well over it (see `EndRoom`), and staying
    /// there for the end-of-turn wait ends the turn, and
    /// staying there for `guess_after_ms` offers a guess, which the line
    /// rising out of it again makes stale. Only for a caller at least 18 dB
    /// over the room: a caller nearer to it speaks at the room's level in
    /// their quiet words, which a guess there would leave out. 0: off.
    pub room_end_db: u32,
    /// How much `end_silence_ms` was shortened by to take the VAD's
    /// hangover off it (the call does: the caller waits the configured
    /// silence, not that plus the hangover). The crowd score hears where
    /// the caller stopped without a hangover, and waits the whole silence
    /// from there.
    pub vad_hangover_ms: u32,
    /// How long a fade at the end of the caller's voice may last and still
    /// count toward the end-of-turn wait, in ms: voiced frames more than
    /// 18 dB under the utterance's active level, straight after 100 ms of
    /// the caller's full voice, then the VAD's pause. The wait, and the
    /// pause a guess waits for (`guess_after_ms`), count from where such a
    /// fade began (see `turn/fade.rs`); quieter voice that lasts longer is
    /// the caller's and keeps the whole wait. Only frames pushed with a
    /// level fade. 0: off.
    pub fade_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            sample_rate: crate::TWILIO_SAMPLE_RATE,
            end_silence_ms: 600,
            min_speech_ms: 250,
            max_utterance_ms: 30_000,
            barge_in_ms: 250,
            echo_return_loss_db: 20,
            echo_margin_db: 6,
            pre_roll_ms: 200,
            guess_after_ms: 200,
            resume_ms: RESUME_MS,
            quiet_gate_db: QUIET_GATE_DB,
            quiet_hold_ms: QUIET_HOLD_MS,
            quiet_hold_db: QUIET_HOLD_DB,
            room_clear_db: ROOM_CLEAR_DB,
            stand_out_db: STAND_OUT_DB,
            room_end_db: ROOM_END_DB,
            vad_hangover_ms: 0,
            fade_ms: FADE_MS,
        }
    }
}

/// Where a guess's pause was heard (see [`TurnEvent::Paused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    /// The VAD heard no voice.
    Quiet,
    /// The line fell back to a room the VAD takes for voice (see
    /// [`TurnConfig::room_end_db`]).
    Room,
    /// The quiet hold is about to end the turn (see [`HOLD_CHECK_LEAD_MS`]).
    Hold,
    /// The quiet hold will end the turn in [`HOLD_GUESS_LEAD_MS`], in a
    /// room the VAD takes for voice or a crowd: an early guess, to be
    /// checked.
    EarlyHold,
    /// As [`Pause::EarlyHold`], and the guess was offered for a check
    /// ([`TurnEvent::StillPaused`]).
    HoldChecked,
    /// The crowd score says the caller stopped (see `turn/crowd.rs`).
    Crowd,
}

/// What the crowd score made of the line at a frame (see
/// [`TurnDetector::crowd_reading`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct CrowdReading {
    /// Whether the room was read as a crowd of talkers, in which the score
    /// may end turns.
    pub talkers: bool,
    /// Whether it was read as a street, scored by the street network.
    pub street: bool,
    /// The evidence that the caller stopped, in nats.
    pub evidence: f32,
    /// The evidence that ends this caller's turn, in nats.
    pub needed: f32,
}

/// What a [`TurnDetector::push`] noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The first voiced frame after silence: an utterance may be starting.
    SpeechStarted,
    /// Voice has lasted `barge_in_ms` without a break (and, while the
    /// agent's level is set, above its echo): if the agent is talking, the
    /// caller wants to interrupt. Sent at most once per utterance.
    BargeIn,
    /// A complete utterance, ready for STT.
    UtteranceEnded {
        /// 8 kHz mu-law: pre-roll, the speech, and up to `pre_roll_ms` of
        /// the trailing silence.
        audio: Vec<u8>,
        /// From onset to the end of the last voiced frame (pauses included,
        /// pre-roll and trailing silence excluded).
        speech_ms: u32,
        /// Time of voiced frames only.
        voiced_ms: u32,
        /// What ended it.
        ended_by: EndedBy,
        /// The caller's active speech level over the room's (the line's
        /// quietest fifth), in whole dB: the signal-to-noise ratio the
        /// turn was heard at. `None` before the room is judged (the call's
        /// first second) or for frames pushed without a level.
        snr_db: Option<i16>,
    },
    /// The utterance had less than `min_speech_ms` of voice and was dropped.
    Discarded,
    /// The caller has been quiet for `guess_after_ms` (with enough voice
    /// before), or, for a caller the room can end the turn of, the line
    /// has been back at the room that long, or the quiet hold may end the
    /// turn in [`HOLD_GUESS_LEAD_MS`], or the crowd score
    /// (`turn/crowd.rs`) in [`HOLD_CHECK_LEAD_MS`]: the utterance so far,
    /// to transcribe and answer on the chance that the turn is over. At
    /// most once per pause.
    Paused {
        /// As [`TurnEvent::UtteranceEnded`]'s audio, up to now.
        audio: Vec<u8>,
        /// Time of voiced frames so far.
        voiced_ms: u32,
        /// The guess came early, on the quiet hold: the caller's quiet
        /// last words may still follow it, unheard by the level rules, so
        /// it may answer only once a later look at the turn heard the same
        /// words: [`TurnEvent::StillPaused`], or, should another rule end
        /// the turn first, the turn's own audio.
        early: bool,
    },
    /// The quiet hold's pause that a [`TurnEvent::Paused`] was made in goes
    /// on, and the hold may end the turn in [`HOLD_CHECK_LEAD_MS`]: the
    /// utterance so far, to check the guess by. The guess came
    /// [`HOLD_GUESS_LEAD_MS`] before the hold's end, early enough for its
    /// reply to be ready when the turn ends, but in a crowd the caller's
    /// quiet last words can run on after it unheard by the level rules: if
    /// this audio's words are the guess's, the guess stands, and otherwise
    /// this audio is the better guess. At most once per pause.
    StillPaused {
        /// As [`TurnEvent::UtteranceEnded`]'s audio, up to now.
        audio: Vec<u8>,
        /// Time of voiced frames so far.
        voiced_ms: u32,
    },
    /// Voice came back after a [`TurnEvent::Paused`], or the line rose out
    /// of the room after one made there, or the caller was clear again
    /// after one made on the quiet hold, or the crowd score's evidence
    /// fell back after one made on it: that guess is stale.
    Resumed,
}

/// What ended an utterance (see [`TurnEvent::UtteranceEnded`]): in a
/// quiet line the VAD's pause, in a crowd the VAD takes for voice one of
/// the rules that stand in for it. A turn the quiet hold ended kept the
/// caller waiting longer than the end-of-turn wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The VAD heard no voice for the end-of-turn wait.
    Silence,
    /// The line was back at the room for the end-of-turn wait (see
    /// [`TurnConfig::room_end_db`]), or, in a room of talkers, the crowd
    /// score heard the caller stop that long ago (`turn/crowd.rs`).
    Room,
    /// The caller was not clear of the crowd for the quiet hold (see
    /// [`TurnConfig::quiet_hold_ms`]).
    QuietHold,
    /// The utterance reached [`TurnConfig::max_utterance_ms`].
    MaxLength,
    /// The stream ended ([`TurnDetector::finish`]).
    StreamEnd,
}

impl EndedBy {
    /// Every cause, in the order of [`EndedBy`]'s variants.
    pub const ALL: [Self; 5] = [
        Self::Silence,
        Self::Room,
        Self::QuietHold,
        Self::MaxLength,
        Self::StreamEnd,
    ];

    /// Its name in records and metrics: `silence`, `room`, `quiet_hold`,
    /// `max_length` or `stream_end`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silence => "silence",
            Self::Room => "room",
            Self::QuietHold => "quiet_hold",
            Self::MaxLength => "max_length",
            Self::StreamEnd => "stream_end",
        }
    }
}

/// The endpointing state machine for one call's inbound audio.
///
/// Holds at most `pre_roll + max_utterance` samples of audio.
#[derive(Debug, Clone)]
pub struct TurnDetector {
    config: TurnConfig,
    end_silence: u64,
    min_speech: u64,
    max_utterance: u64,
    barge_in: u64,
    guess_after: u64,
    /// The end-of-turn silence of the current utterance (see
    /// [`TurnDetector::set_end_silence_ms`]).
    end_silence_now: u64,
    /// The pause a `Paused` was reported in, while it lasts.
    paused: Option<Pause>,
    pre_roll: usize,
    tail: u64,
    /// The last `pre_roll` samples heard while idle.
    ring: VecDeque<u8>,
    speaking: bool,
    /// The utterance so far, pre-roll first.
    audio: Vec<u8>,
    pre_roll_len: usize,
    /// Samples since onset, silence included.
    span: u64,
    /// `span` at the end of the last voiced frame.
    speech_end: u64,
    voiced: u64,
    /// Voiced samples in a row that were also above the echo gate.
    barge_run: u64,
    /// Voiced samples of the utterance above the echo gate: an utterance
    /// with too few is the agent's own echo.
    voiced_above_echo: u64,
    silence_run: u64,
    /// The fade at the end of the caller's voice (see [`TurnConfig::fade_ms`]).
    fade: Fade,
    /// Samples since the VAD itself last heard voice, before the quiet gate
    /// and the resume rule: a guess needs a pause the caller really made,
    /// not voice that only does not keep the turn open.
    quiet_run: u64,
    /// See [`TurnConfig::resume_ms`], in samples.
    resume: u64,
    /// Voiced samples in a row heard in a pause, not yet `resume` long.
    resume_run: u64,
    /// While the agent talks: the level (dBFS) a frame must exceed to
    /// count towards a barge-in.
    echo_gate_dbfs: Option<f32>,
    /// The utterance's active speech level, from its voiced frames.
    active: ActiveLevel,
    /// `active`'s power when the caller was last clear of the crowd (see
    /// [`TurnConfig::quiet_hold_ms`]): what the crowd's voice after them,
    /// counted in until the hold ends the turn, has not lowered.
    caller_active: Option<f32>,
    /// The line's level over the utterance's last 400 ms.
    recent: RecentLevel,
    /// [`TurnConfig::quiet_gate_db`] as a power ratio; 0: off.
    quiet_gate: f32,
    /// [`TurnConfig::quiet_hold_ms`] in samples; 0: off.
    quiet_hold: u64,
    /// [`TurnConfig::quiet_hold_db`] as a power ratio.
    quiet_hold_ratio: f32,
    /// [`TurnConfig::room_clear_db`] as a power ratio; 0: off.
    room_clear: f32,
    /// Samples since the caller's last clear frame (see
    /// [`TurnConfig::quiet_hold_ms`]).
    since_clear: u64,
    /// The line's level when the caller is silent, across utterances.
    room: Room,
    /// The crowd score and the evidence that the caller stopped.
    crowd: Crowd,
    /// [`TurnConfig::stand_out_db`] as a power ratio; 0: off.
    stand_out: f32,
    /// The line stood out of the room during the utterance.
    stood_out: bool,
    /// Samples of the utterance the room judged and that did not stand
    /// out of it, while none has.
    room_span: u64,
    /// The line's loudest 200 ms mean in the utterance, as a power.
    loudest: f32,
    /// [`TurnConfig::room_end_db`] as a power ratio; 0: off.
    room_end: f32,
    /// What the room end judges this utterance's end against, fixed when
    /// it stood out (see [`EndRoom`]).
    end_room: Option<EndRoom>,
    /// [`ROOM_END_CLEAR_DB`] as a power ratio.
    room_end_clear: f32,
    /// [`CEILING_CLEAR_DB`] as a power ratio.
    ceiling_clear: f32,
    /// Samples since the line was last more than `room_end` over the room
    /// for longer than [`ROOM_GRAZE_MS`].
    at_the_room: u64,
    /// Samples in a row the line has been over the room's `room_end`
    /// while `at_the_room` went on counting: a graze, at most
    /// [`ROOM_GRAZE_MS`].
    grazing: u64,
    /// [`ROOM_GRAZE_MS`] in samples.
    room_graze: u64,
    /// [`HOLD_GUESS_LEAD_MS`] in samples.
    hold_guess_lead: u64,
    /// [`HOLD_CHECK_LEAD_MS`] in samples.
    hold_check_lead: u64,
    /// [`STREET_HOLD_MS`] in samples.
    street_hold: u64,
    /// [`TurnConfig::vad_hangover_ms`] in samples.
    vad_hangover: u64,
    /// [`BREATH_MS`] in samples.
    breath: u64,
    /// [`ROOM_ONSET_DB`] as a power ratio.
    room_onset: f32,
    barge_in_sent: bool,
    /// The max length was reached on a frame that already reported
    /// something; the end is reported on the next push.
    end_pending: bool,
}

/// The room an utterance's end is judged against, as it stood when the
/// caller stood out of it. While the caller speaks, the room's quietest
/// fifth fills with their own gaps and quiet words, and reads up to 15 dB
/// over the crowd (café at 20 dB SNR: -54 dBFS before caller-he.wav's
/// first sentence, -38.5 dBFS 1.7 s into it); the room end then took the
/// caller's quiet last words, at -36 to -42 dBFS, for the crowd and cut
/// them off (BENCHMARKS.md, "The room end judged against the crowd, not
/// the caller").
#[derive(Debug, Clone, Copy)]
struct EndRoom {
    /// The room's level, as a linear power. The room may fall under it
    /// (the crowd went quiet), not rise over it.
    level: f32,
    /// The crowd's ceiling (see `Room::crowd_ceiling`), if heard.
    ceiling: Option<f32>,
    /// `Room::quietened` then: once the room has gone quiet since (the
    /// caller walked out of the café), the ceiling is a crowd that is gone
    /// and would hide the caller's quiet words on the quiet line.
    quietened: u32,
}

impl Default for TurnDetector {
    fn default() -> Self {
        Self::new(TurnConfig::default())
    }
}

/// Initial capacity of an utterance buffer: 5 s covers most answers on a
/// phone call without regrowing.
const TYPICAL_UTTERANCE_MS: u32 = 5_000;

/// Default of [`TurnConfig::fade_ms`]. Measured on the noise set
/// (BENCHMARKS.md, "A fade at the end of the caller's voice"): espeak-ng's
/// fades last 100–140 ms; at 120 ms one held-out turn in street noise at
/// 20 dB SNR still ended 740 ms after the caller; 160–240 ms end every
/// held-out turn on a clean line, in car noise and in street noise at
/// 20 dB on time, and cut no caller off.
const FADE_MS: u32 = 160;

/// Default of [`TurnConfig::resume_ms`]. Measured on the noise set
/// (BENCHMARKS.md, "A shorter blip"): under street noise at 10 dB SNR the
/// VAD hears a caller's quiet last words in runs of 100 ms, and at 120 ms
/// each was a blip and the turn ended inside them: 34 cut-offs in 180
/// utterances on fresh seeds, 20 at 100 ms (80 gives the same as 100).
const RESUME_MS: u32 = 100;

/// Default of [`TurnConfig::quiet_gate_db`].
/// Measured on the noise set (BENCHMARKS.md): P.56's 15.9 dB, or 20, cuts
/// off clean Hebrew whose quiet stretches sit 17–25 dB under the active
/// level as the VAD's high-passed level reads them; 22 is the least that
/// cuts off nothing.
const QUIET_GATE_DB: u32 = 22;

/// Default of [`TurnConfig::quiet_hold_ms`] and
/// [`TurnConfig::quiet_hold_db`]. Measured on the noise set (BENCHMARKS.md):
/// the fixtures' clean Hebrew runs on for up to 1.08 s after its last clear
/// frame (13–23 dB under its active level), which 1.8 s never cuts short;
/// at 1.3 s it ended that turn 220 ms after the caller, too close. Single
/// frames of café babble at 20 dB SNR came within 12 dB of a low voice
/// (the held-out set's, whose high-passed level is 4 dB under its full
/// one) and held its turns open up to 23 s; over 400 ms the crowd stays
/// more than 10 dB under it, and those turns end at most 2.2 s late.
const QUIET_HOLD_MS: u32 = 1_800;
const QUIET_HOLD_DB: u32 = 10;

/// Default of [`TurnConfig::room_clear_db`]. Measured on the noise set
/// (BENCHMARKS.md, "The quiet hold on the room"): held-out café turns at
/// 10 dB SNR end at most 1.96 s after the caller (23.3 s without it) and
/// none is cut off (9 without it); at 8 dB one is still held 9.0 s, at
/// 10 dB three are cut off. Babble alone reaches 7–11 dB over the room.
const ROOM_CLEAR_DB: u32 = 9;

/// Default of [`TurnConfig::stand_out_db`]. Measured on the noise set
/// (BENCHMARKS.md): at 12 dB one stretch of café babble in 18 minutes of
/// a silent caller stood out and became a turn, at 13 none; at 14 every
/// caller utterance at 10 dB SNR or more still stands out, and so do all
/// short answers of 400 ms and 26 of 27 of 250 ms in café babble at
/// 10 dB; at 20 dB, 2 of 27 of those would.
const STAND_OUT_DB: u32 = 14;

/// Default of [`TurnConfig::room_end_db`]. Measured on the noise set
/// (BENCHMARKS.md, "Ending a turn on the room"): café at 20 dB SNR ends
/// 25 of 30 turns on time (14 without it) and the held-out speakers 41 of
/// 60 (4), with no cut-off; at 4 dB 19 and 24; at 8 dB café is cut off 8
/// times in 30 and the held-out speakers 7 in 60.
const ROOM_END_DB: u32 = 6;

/// How long the line may rise out of the room, once back at it, without
/// restarting the room end's wait (see [`TurnConfig::room_end_db`]), in
/// ms. Measured on the noise set (BENCHMARKS.md, "Grazing the room"):
/// the crowd's 200 ms mean hovers at the room's ceiling and crosses it
/// for a frame; café at 20 dB SNR then ends 26 of 30 turns on time (25
/// without), at most 1,080 ms after the caller (1,980). Up to 60 ms
/// gives the same; at 80 ms a caller at 20 dB is cut off.
const ROOM_GRAZE_MS: u32 = 20;

/// How far over the room a frame must stand for the room end (see
/// [`TurnConfig::room_end_db`]) not to end the turn on it, in dB: the
/// caller going on after a pause as long as the wait, whose first frame
/// the room's 200 ms mean does not show yet. Measured on the noise set
/// (BENCHMARKS.md, "The caller going on as the room ends the turn"): café
/// at 20 dB SNR cuts callers off 16 times in 180 (19 without it), 20 on
/// other seeds (22), and ends 3 and 1 more on time; at 9 dB the same
/// cut-offs, and 1 fewer end on time than at 12.
const ROOM_ONSET_DB: u32 = 12;

/// How much less an open utterance must stand out of the room when judged
/// again after a step up than `stand_out_db` asks of a fresh one, as a
/// power ratio: 3 dB. For 10 s after a step the room is the louder of
/// its long reading and that of its last 2 s, which swings higher in a
/// crowd, and with the caller in it. Measured on the noise set
/// (BENCHMARKS.md, "A crowd that fills in"): at the full 14 dB, 87 of 100
/// callers at 5 dB SNR who begin speaking as the crowd does are lost or
/// held open past 2.5 s (29 when the utterance was judged once, at the
/// settling); at 11 dB, 20; at 10.5 dB a crowd alone makes a turn again.
const AGAIN_SLACK: f32 = 1.995_262_3;

/// How long before the quiet hold ends a turn (see
/// [`TurnConfig::quiet_hold_ms`]) the utterance so far is offered to check
/// the guess by ([`TurnEvent::StillPaused`]), in ms; also how long before
/// the crowd score may end a turn it offers its guess. Measured on the
/// noise set (BENCHMARKS.md, "Guesses on the quiet hold"), as the hold's
/// guess: at 300 café turns at 10 dB SNR are answered from a guess 29
/// times in 30, and none of 150 on fresh seeds is short of the caller; at
/// 500, 7 in 30 are, since their last words run on 1.3–1.4 s after they
/// were last clear of the crowd.
const HOLD_CHECK_LEAD_MS: u32 = 300;

/// The room's level from which a line that is not a crowd of talkers is
/// read as a street (or a car) by the street network (`turn/crowd/net.rs`),
/// in dBFS. Measured on the noise set (BENCHMARKS.md, "A street network"),
/// with a network fitted on street lines alone: from −40 dBFS street at
/// 10 dB does not gain (the street sits under it at times), from −45 and
/// −50 it does; from −60 that network held car turns at 10 dB open (61 of
/// 90 fixture turns on time). Fitted on street and car lines, from −60 no
/// car row moves. A clean line's room lies far under it.
const STREET_FROM_DBFS: f32 = -60.0;
/// How long past the wait, at most, the street network holds the VAD's
/// pause for the evidence that the caller stopped, in ms: a bound on a
/// turn held open by a street the network takes for the caller. Measured
/// on the noise set: 500, 1,000 and 2,000 ms give the same figures at
/// SNR ≥ 10 dB.
const STREET_HOLD_MS: u32 = 1_000;

/// How long before the quiet hold ends a turn the utterance so far is
/// offered as a guess, in ms, where the room is a crowd or the VAD takes
/// it for voice (elsewhere [`HOLD_CHECK_LEAD_MS`]): in a crowd whose
/// caller the room cannot end the turn of (under 18 dB over it), nothing
/// else is a pause, and a guess [`HOLD_CHECK_LEAD_MS`] before the end
/// left the caller waiting for most of STT, the model and TTS after the
/// hold. This early, some guesses miss the caller's quiet last words; the
/// check at [`HOLD_CHECK_LEAD_MS`] catches them. Measured on the noise set
/// (BENCHMARKS.md, "Early guesses on the quiet hold"): held-out café
/// turns at 10 dB SNR are answered from guesses 718 ms before their end
/// on average (283 at 300 ms, 545 at 600); from 1,000 ms, 5–11 of the
/// fixtures' café turns at 20 dB ended before their check was due and
/// lost their guess to the turn's own audio.
const HOLD_GUESS_LEAD_MS: u32 = 800;

/// How long the VAD may hear no voice, after its own hangover, while a
/// caller who went on with less than a turn's voice so far keeps the
/// floor (see [`TurnDetector::caller_has_the_floor`]), in ms: the breaths
/// between their words. A caller who goes on in bursts too short to barge in would
/// otherwise have a waiting reply start in their first breath and talk
/// over the rest (`a_caller_who_goes_on_in_short_bursts_is_not_talked_over_in_their_breaths`);
/// the cost is that a cough delays it this much after its end.
const BREATH_MS: u32 = 200;

/// How far the caller's active level must be over the room for
/// [`TurnConfig::room_end_db`] to end their turns, in dB. Without it, café
/// at 10 dB SNR is cut off 21 times in 30; callers there are 16–20 dB over
/// the room, and their quiet words sit at its level.
const ROOM_END_CLEAR_DB: u32 = 18;

/// How far the caller's active level must be over the crowd's ceiling
/// for the room end to count the line back at the room under it, in dB.
/// A crowd's 200 ms mean swings over the room's `room_end_db`, and held
/// callers' turns open past the wait; nearer the crowd, their quiet words
/// lie under its ceiling. Measured on the noise set (BENCHMARKS.md, "The
/// room end judged against the crowd, not the caller"): held-out first
/// turns in café at 20 dB SNR end on time 533 times in 720 on fresh seeds
/// at 12 dB, 515 at 15 (and none more at 9 or 6); at 9 dB the fixtures'
/// first turns in café at 10 dB are cut off 29 times in 360, against 13.
const CEILING_CLEAR_DB: u32 = 12;

/// A setting in dB as a power ratio; 0 dB, a rule turned off, as 0.
fn power_ratio_or_off(db: u32) -> f32 {
    match db {
        0 => 0.0,
        db => 10f32.powf(db as f32 / 10.0),
    }
}

/// A frame's level as a linear power (full scale = 1), converted once per
/// frame for every rule that compares levels. A frame pushed without a
/// level (non-finite) is infinitely loud: never under the caller.
fn level_power(level_dbfs: f32) -> f32 {
    if level_dbfs.is_finite() {
        10f32.powf(level_dbfs / 10.0)
    } else {
        f32::INFINITY
    }
}

impl TurnDetector {
    /// Creates a detector. A zero sample rate or max length is raised to
    /// the smallest workable value instead of failing.
    pub fn new(config: TurnConfig) -> Self {
        let rate = u64::from(config.sample_rate.max(1));
        let samples = |ms: u32| u64::from(ms) * rate / 1000;
        let pre_roll = usize::try_from(samples(config.pre_roll_ms)).unwrap_or(usize::MAX);
        Self {
            end_silence: samples(config.end_silence_ms).max(1),
            min_speech: samples(config.min_speech_ms),
            max_utterance: samples(config.max_utterance_ms).max(1),
            barge_in: samples(config.barge_in_ms),
            guess_after: samples(config.guess_after_ms),
            end_silence_now: samples(config.end_silence_ms).max(1),
            paused: None,
            pre_roll,
            tail: samples(config.pre_roll_ms),
            ring: VecDeque::with_capacity(pre_roll.min(1 << 20)),
            speaking: false,
            audio: Vec::new(),
            pre_roll_len: 0,
            span: 0,
            speech_end: 0,
            voiced: 0,
            barge_run: 0,
            voiced_above_echo: 0,
            silence_run: 0,
            fade: Fade::new(samples(config.fade_ms), samples(fade::FULL_VOICE_MS)),
            quiet_run: 0,
            resume: samples(config.resume_ms),
            resume_run: 0,
            echo_gate_dbfs: None,
            active: ActiveLevel::new(),
            caller_active: None,
            recent: RecentLevel::new(),
            quiet_gate: power_ratio_or_off(config.quiet_gate_db),
            quiet_hold: samples(config.quiet_hold_ms),
            quiet_hold_ratio: 10f32.powf(config.quiet_hold_db as f32 / 10.0),
            room_clear: power_ratio_or_off(config.room_clear_db),
            since_clear: 0,
            room: Room::new(),
            crowd: Crowd::new(samples(crowd::CLEAR_FOR_MS)),
            stand_out: power_ratio_or_off(config.stand_out_db),
            stood_out: false,
            room_span: 0,
            loudest: 0.0,
            room_end: power_ratio_or_off(config.room_end_db),
            end_room: None,
            room_end_clear: 10f32.powf(ROOM_END_CLEAR_DB as f32 / 10.0),
            ceiling_clear: 10f32.powf(CEILING_CLEAR_DB as f32 / 10.0),
            at_the_room: 0,
            grazing: 0,
            room_graze: samples(ROOM_GRAZE_MS),
            hold_guess_lead: samples(HOLD_GUESS_LEAD_MS),
            hold_check_lead: samples(HOLD_CHECK_LEAD_MS),
            street_hold: samples(STREET_HOLD_MS),
            vad_hangover: samples(config.vad_hangover_ms),
            breath: samples(BREATH_MS),
            room_onset: power_ratio_or_off(ROOM_ONSET_DB),
            barge_in_sent: false,
            end_pending: false,
            config,
        }
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    /// Whether an utterance is open (between `SpeechStarted` and its end).
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Whether the caller has the floor: an open utterance has stood out
    /// of the room (see [`TurnConfig::stand_out_db`]; any utterance, with
    /// the rule off), and either it holds `min_speech_ms` of voice, so its
    /// end will be a turn of its own, or the VAD heard voice within the
    /// last [`BREATH_MS`]. A reply started now would talk over the caller
    /// and be cut when their turn ends. The crowd's own utterances, which
    /// never stand out, never have it; a blip loses it that long after it
    /// stops.
    pub fn caller_has_the_floor(&self) -> bool {
        self.speaking
            && self.may_barge_in()
            && (self.voiced_above_echo >= self.min_speech.max(1) || self.quiet_run < self.breath)
    }

    /// Samples of audio held right now (pre-roll ring or open utterance).
    pub fn buffered_samples(&self) -> usize {
        if self.speaking {
            self.audio.len()
        } else {
            self.ring.len()
        }
    }

    /// Tells the detector how loud the agent's own audio is while it plays
    /// (`Some(dBFS)`: the loudest 20 ms frame of what is being sent now),
    /// or that it stopped (`None`).
    ///
    /// While set, a frame counts towards a barge-in only if its level (see
    /// [`TurnDetector::push_heard`]) is at least `echo_margin_db` above the
    /// expected echo, `level - echo_return_loss_db`: the agent hearing
    /// itself must not stop itself, a caller talking over it must. Onset
    /// and end of utterance are not gated, but an utterance with less than
    /// `min_speech_ms` of voice above the gate is discarded (nor is it
    /// offered as a guess): it was the agent's echo, not the caller.
    pub fn set_agent_level(&mut self, level_dbfs: Option<f32>) {
        self.echo_gate_dbfs = level_dbfs.map(|level| {
            level - self.config.echo_return_loss_db as f32 + self.config.echo_margin_db as f32
        });
    }

    /// Feeds one frame of mu-law audio with its VAD decision, as
    /// [`TurnDetector::push_heard`] with no level: the echo gate of
    /// [`TurnDetector::set_agent_level`] always passes.
    pub fn push(&mut self, mulaw: &[u8], voiced: bool) -> Option<TurnEvent> {
        self.push_heard(mulaw, voiced, f32::INFINITY)
    }

    /// Feeds one frame of mu-law audio with its VAD decision and its level
    /// in dBFS (e.g. [`crate::Vad::last_energy_dbfs`]), which the barge-in
    /// echo gate and the quiet gate read.
    ///
    /// The quiet gate ([`TurnConfig::quiet_gate_db`]): the utterance's
    /// active speech level is tracked as P.56 does, the mean power of its
    /// voiced frames within 15.9 dB of that mean; in a pause, a voiced frame
    /// more than `quiet_gate_db` below it is taken as unvoiced. Speech that
    /// runs on without a pause is never gated: a quiet stretch of the
    /// caller's own is not noise. A non-finite level (as from
    /// [`TurnDetector::push`]) is never gated.
    ///
    /// Returns at most one event. Empty frames are ignored. If one frame
    /// both starts an utterance and fills `max_utterance_ms` (only possible
    /// with frames longer than the limit), `SpeechStarted` is returned now
    /// and `UtteranceEnded` on the next push, whose own audio then goes to
    /// the pre-roll of whatever comes after.
    pub fn push_heard(&mut self, mulaw: &[u8], voiced: bool, level_dbfs: f32) -> Option<TurnEvent> {
        self.push_frame(mulaw, voiced, level_dbfs, None)
    }

    /// As [`TurnDetector::push_heard`], with how far each speech band's
    /// level lies over its quiet fifth ([`crate::Vad::bands_over_floor_db`]),
    /// which the crowd score reads to end turns a crowd holds open.
    pub fn push_frame(
        &mut self,
        mulaw: &[u8],
        voiced: bool,
        level_dbfs: f32,
        bands_db: Option<[f32; 4]>,
    ) -> Option<TurnEvent> {
        if mulaw.is_empty() {
            return None;
        }
        let power = level_power(level_dbfs);
        let settled = self.room.push(level_dbfs, power);
        // Without the bands there are no cues, nor a room in dB to read.
        let room_dbfs = (bands_db.is_some() && self.room.judged() && self.room.level() > 0.0)
            .then(|| 10.0 * self.room.level().log10());
        // The open utterance's level: between utterances the last one's
        // says nothing of whoever speaks next.
        let caller_power = self.caller_power().filter(|_| self.speaking);
        self.crowd.hear(
            level_dbfs,
            room_dbfs,
            self.room.loud_dbfs(),
            caller_power,
            bands_db,
        );
        if self.speaking {
            self.loudest = self.loudest.max(self.room.line());
            if settled {
                self.judge_again();
            }
        }
        if !(self.speaking && self.stood_out) {
            self.room.heard_by_the_vad(voiced);
            // The agent's echo lifts the line: it is no part of the crowd.
            if self.echo_gate_dbfs.is_none() {
                self.room.heard_without_anyone();
            }
        }
        if self.end_pending {
            let event = self.finish_utterance(EndedBy::MaxLength);
            self.feed_ring(mulaw);
            return Some(event);
        }
        if !self.speaking {
            if !voiced {
                self.feed_ring(mulaw);
                return None;
            }
            self.start_utterance();
            let above_echo = self.above_echo(level_dbfs);
            self.judge_room(mulaw.len() as u64, power, above_echo);
            self.active.push(level_dbfs, power);
            if let Some(rest) = self.append(mulaw, true, above_echo) {
                self.end_pending = true;
                // The ring was emptied into the utterance; keep what did
                // not fit as pre-roll for the next one.
                self.feed_ring(rest);
            }
            return Some(TurnEvent::SpeechStarted);
        }

        let above_echo = self.above_echo(level_dbfs);
        self.judge_room(mulaw.len() as u64, power, above_echo);
        self.follow_the_room(mulaw.len() as u64, power);
        // Judged once a frame, once the room has heard it.
        self.crowd.read_as_street(self.in_the_street());
        // Before the caller stood out, the crowd alone is no evidence
        // that they stopped: they had not begun.
        if self.stood_out {
            self.crowd
                .follow(mulaw.len() as u64, self.below_caller(power));
        } else {
            self.crowd.clear();
        }
        self.recent.push(power);
        self.since_clear = if voiced
            && !self.under_caller(self.recent.power(), self.quiet_hold_ratio)
            && self.clear_of_the_room()
        {
            0
        } else {
            self.since_clear + mulaw.len() as u64
        };
        self.quiet_run = if voiced {
            0
        } else if self.quiet_run == 0 {
            // A pause the caller made begins where their voice faded: a
            // guess made later than that starts the reply later. Read
            // before `append` takes the fade into the end-of-turn wait and
            // clears it, on this same frame.
            self.fade.faded_for(self.vad_hangover) + mulaw.len() as u64
        } else {
            self.quiet_run + mulaw.len() as u64
        };
        // Only in a pause: see `TurnConfig::quiet_gate_db`.
        let voiced = voiced && !(self.silence_run > 0 && self.below_caller(power));
        let (voiced, held_back) = self.resumes(voiced, mulaw.len() as u64);
        if voiced {
            self.active.push(level_dbfs, power);
            self.fade.voiced(
                self.under_caller(power, fade::FADE_RATIO),
                mulaw.len() as u64,
            );
        }
        if self.since_clear == 0 {
            self.caller_active = self.active.power();
        }
        let overflow = self.append(mulaw, voiced, above_echo);
        // The frames that waited for the pause to end were voice after all.
        self.voiced += held_back;
        if above_echo {
            self.voiced_above_echo += held_back;
        }
        if let Some(rest) = overflow {
            let event = self.finish_utterance(EndedBy::MaxLength);
            self.feed_ring(rest);
            return Some(event);
        }
        // The VAD's own pause would end the turn on this frame: that is
        // what ended it, whichever rule is checked first.
        let silent_end =
            !voiced && self.silence_run >= self.end_silence_now && self.resume_run == 0;
        let ended_by = |rule| if silent_end { EndedBy::Silence } else { rule };
        // An utterance that has not stood out for the hold is the room's
        // (`room_span` stops counting once it stands out); the room alone is
        // dropped keeping its tail, whichever hold ends it.
        if self.quiet_hold > 0
            && (self.room_span >= self.quiet_hold || self.since_clear >= self.held_for())
        {
            // Judged again against the room as it is now, as after a step
            // (`judge_again`): in a call's first seconds the room is still
            // being learnt, and a swell of the crowd can stand out of it
            // and be answered as a turn (BENCHMARKS.md, "The café sweep's
            // calls that answered the crowd").
            if self.stood_out && !self.still_stands_out() {
                self.stood_out = false;
                self.end_room = None;
                self.room_span = self.span;
            }
            return Some(if self.only_the_room() {
                self.drop_the_room()
            } else {
                self.finish_utterance(ended_by(EndedBy::QuietHold))
            });
        }
        // A graze in progress might be the caller going on: its outcome
        // decides, as with a blip in a quiet pause.
        // Nor on a frame that itself stands well out of the room: the
        // caller going on, whom the 200 ms mean has not caught up with.
        if self.back_at_the_room_for(self.end_silence_now)
            && power <= self.end_room_level() * self.room_onset
        {
            return Some(self.finish_utterance(ended_by(EndedBy::Room)));
        }
        if self.crowd_says_stopped(self.crowd.stopped_for(), self.crowd_wait()) {
            return Some(self.finish_utterance(ended_by(EndedBy::Room)));
        }
        // A guess at the room goes stale as the line rises out of it (a
        // swell of the crowd, or the caller's quiet words, which would not
        // be in the guess); one on the quiet hold as the caller is clear of
        // the crowd again.
        let stale = match self.paused {
            Some(Pause::Room) => self.at_the_room == 0,
            Some(Pause::Hold | Pause::EarlyHold | Pause::HoldChecked) => self.since_clear == 0,
            Some(Pause::Crowd) => self.crowd.went_on(),
            _ => false,
        };
        if stale {
            self.paused = None;
            return Some(TurnEvent::Resumed);
        }
        if voiced {
            if self.paused == Some(Pause::Quiet) {
                self.paused = None;
                return Some(TurnEvent::Resumed);
            }
            if !self.barge_in_sent && self.barge_run >= self.barge_in && self.may_barge_in() {
                self.barge_in_sent = true;
                return Some(TurnEvent::BargeIn);
            }
        } else if silent_end && !self.street_holds_the_pause() {
            // A blip in progress might be the caller going on: its outcome
            // decides, which costs at most `resume_ms` of delay.
            return Some(self.finish_utterance(EndedBy::Silence));
        }
        if self.paused == Some(Pause::EarlyHold)
            && self.since_clear + self.hold_check_lead >= self.held_for()
        {
            self.paused = Some(Pause::HoldChecked);
            let (audio, voiced_ms) = self.so_far();
            return Some(TurnEvent::StillPaused { audio, voiced_ms });
        }
        // The VAD's own pause after an early guess on the quiet hold: a
        // guess made in it holds all the caller said, where the early one
        // may lack their quiet last words.
        if self.paused == Some(Pause::EarlyHold) && self.quiet_run >= self.guess_after {
            self.paused = None;
        }
        // Quiet or held-back voice ends a turn but starts no guess: it is
        // most often the caller's next word or a quiet stretch of theirs,
        // and each guess they talk past wastes requests. So a guess waits
        // for the VAD's own pause, or, in a room it takes for voice, for
        // the line back at the room, or for the quiet hold to be nearly up.
        if self.guess_after == 0
            || self.paused.is_some()
            || self.voiced_above_echo < self.min_speech.max(1)
            || self.only_the_room()
        {
            return None;
        }
        let pause = if self.quiet_run >= self.guess_after {
            Pause::Quiet
        } else if self.back_at_the_room_for(self.guess_after) {
            Pause::Room
        } else if self.crowd_says_stopped(
            self.crowd.maybe_stopped_for(),
            self.crowd_wait().saturating_sub(self.hold_check_lead),
        ) {
            Pause::Crowd
        } else {
            self.hold_pause()?
        };
        self.paused = Some(pause);
        let (audio, voiced_ms) = self.so_far();
        Some(TurnEvent::Paused {
            audio,
            voiced_ms,
            early: pause == Pause::EarlyHold,
        })
    }

    /// The open utterance's audio so far, as a guess takes it, and its
    /// voiced time in ms.
    fn so_far(&self) -> (Vec<u8>, u32) {
        let mut audio = self.audio.clone();
        audio.truncate(self.kept_len());
        (audio, self.to_ms(self.voiced))
    }

    /// Ends the current utterance after `ms` of silence instead of the
    /// configured `end_silence_ms` (at least one sample): how a wait chosen
    /// from what the caller said applies. The next utterance starts again
    /// from the configured value. A silence already that long ends the
    /// utterance on the next silent frame.
    pub fn set_end_silence_ms(&mut self, ms: u32) {
        let rate = u64::from(self.config.sample_rate.max(1));
        self.end_silence_now = (u64::from(ms) * rate / 1000).max(1);
    }

    /// Ends the stream: an open utterance is delivered (or discarded) now.
    pub fn finish(&mut self) -> Option<TurnEvent> {
        if self.speaking {
            Some(self.finish_utterance(EndedBy::StreamEnd))
        } else {
            None
        }
    }

    /// Drops any open utterance and the pre-roll without reporting them,
    /// e.g. when the call hands over to the recording fallback.
    pub fn reset(&mut self) {
        self.ring.clear();
        self.audio = Vec::new();
        self.speaking = false;
        self.end_pending = false;
    }

    fn feed_ring(&mut self, mulaw: &[u8]) {
        if self.pre_roll == 0 {
            return;
        }
        let keep = &mulaw[mulaw.len().saturating_sub(self.pre_roll)..];
        let overflow = (self.ring.len() + keep.len()).saturating_sub(self.pre_roll);
        self.ring.drain(..overflow);
        self.ring.extend(keep);
    }

    fn start_utterance(&mut self) {
        let typical = u64::from(TYPICAL_UTTERANCE_MS) * u64::from(self.config.sample_rate) / 1000;
        // Capped so that a wild sample rate in the config cannot ask for gigabytes up front.
        let capacity = typical.min(self.max_utterance).min(1 << 20) as usize + self.ring.len();
        self.audio = Vec::with_capacity(capacity);
        self.audio.extend(self.ring.drain(..));
        self.pre_roll_len = self.audio.len();
        self.speaking = true;
        self.span = 0;
        self.speech_end = 0;
        self.voiced = 0;
        self.barge_run = 0;
        self.voiced_above_echo = 0;
        self.silence_run = 0;
        self.fade.clear();
        self.quiet_run = 0;
        self.resume_run = 0;
        self.active.clear();
        self.caller_active = None;
        self.recent.clear();
        self.since_clear = 0;
        self.stood_out = false;
        self.end_room = None;
        self.room_span = 0;
        self.loudest = 0.0;
        self.at_the_room = 0;
        self.grazing = 0;
        self.crowd.clear();
        self.barge_in_sent = false;
        self.paused = None;
        self.end_silence_now = self.end_silence;
    }

    /// Whether a VAD-voiced frame of an open utterance counts as voice.
    ///
    /// In a pause, only once voice has lasted `resume_ms` without a break:
    /// street and café noise trip the VAD in short peaks (clatter, a swell's
    /// crest, a babble syllable), and without this each one would restart
    /// the end-of-turn wait. A caller going on talks for longer than that.
    /// Also returns, once voice ends a pause, how many samples before this
    /// frame it waited for: they were voice, for the utterance's counts.
    fn resumes(&mut self, voiced: bool, n: u64) -> (bool, u64) {
        if self.silence_run == 0 || !voiced {
            self.resume_run = 0;
            return (voiced, 0);
        }
        self.resume_run += n;
        if self.resume_run < self.resume {
            return (false, 0);
        }
        let held_back = self.resume_run - n;
        self.resume_run = 0;
        (true, held_back)
    }

    /// Whether a frame of linear `power` (see [`level_power`]) is more
    /// than the quiet gate below the utterance's active level: noise under
    /// the caller, not the caller.
    fn below_caller(&self, power: f32) -> bool {
        self.quiet_gate != 0.0 && self.under_caller(power, self.quiet_gate)
    }

    /// Whether linear `power` is more than `ratio` (a power ratio) under
    /// the utterance's active level. No level (infinite power), or no
    /// active level yet, is not.
    fn under_caller(&self, power: f32, ratio: f32) -> bool {
        self.active
            .power()
            .is_some_and(|active| power * ratio < active)
    }

    /// The quiet hold's guess, once it is due. It comes early only in a
    /// room the VAD takes for voice or a crowd of talkers, where the hold
    /// is what ends turns; on a line the VAD finds pauses in, its own
    /// pause nearly always ends the turn first, and an early guess would
    /// be work thrown away (BENCHMARKS.md, "Early guesses on the quiet
    /// hold").
    fn hold_pause(&self) -> Option<Pause> {
        if self.quiet_hold == 0 {
            return None;
        }
        let (pause, lead) = if self.room.fools_the_vad() || self.room.is_talkers() {
            (Pause::EarlyHold, self.hold_guess_lead)
        } else {
            (Pause::Hold, self.hold_check_lead)
        };
        (self.since_clear + lead >= self.held_for()).then_some(pause)
    }

    /// How long after the caller was last clear the quiet hold ends the
    /// turn: never before the wait in force.
    fn held_for(&self) -> u64 {
        self.quiet_hold.max(self.end_silence_now)
    }

    /// Whether the line stands clear of the room for the quiet hold (see
    /// [`TurnConfig::room_clear_db`]); so it does while the room is not
    /// judged yet.
    fn clear_of_the_room(&self) -> bool {
        self.room_clear == 0.0 || self.room.stands_out(self.room_clear) != Some(false)
    }

    /// Judges the frame of `n` samples just pushed against the room (see
    /// [`TurnConfig::stand_out_db`]). While the agent talks, its echo lifts
    /// the line over the room too: only a frame also over the echo gate
    /// can stand out then. A frame without a level (infinite `power`)
    /// always does: there is nothing to judge it by.
    fn judge_room(&mut self, n: u64, power: f32, above_echo: bool) {
        if self.stand_out == 0.0 || self.stood_out {
            return;
        }
        if power.is_infinite() {
            self.stood_out = true;
            return;
        }
        match self.room.stands_out(self.stand_out) {
            Some(true) if above_echo => {
                self.stood_out = true;
                // Standing out of the room is more than the quiet hold's
                // clear of it, even on a frame the VAD, in the crowd, has
                // not called voice yet: the hold counts from here, not
                // from when the crowd opened the utterance, or it ends the
                // turn on the caller's first words.
                self.since_clear = 0;
                self.end_room = Some(EndRoom {
                    level: self.room.level(),
                    ceiling: self.room.crowd_ceiling(),
                    quietened: self.room.quietened(),
                });
            }
            Some(_) => self.room_span += n,
            None => {}
        }
    }

    /// Judges the open utterance again once the room has settled after a
    /// step up, and as it goes on following the step: a crowd that began on
    /// a quiet line stood out of it, and does not of the room it has
    /// become. The caller who spoke before it began, or speaks over it,
    /// still stands out of it, by [`AGAIN_SLACK`] less than a fresh
    /// utterance must.
    fn judge_again(&mut self) {
        if self.stood_out && !self.still_stands_out() {
            self.stood_out = false;
            self.end_room = None;
            self.room_span = 0;
        }
    }

    /// Whether the open utterance, which stood out of the room, stands out
    /// of the room as it is now, by [`AGAIN_SLACK`] less than a fresh
    /// utterance must.
    fn still_stands_out(&self) -> bool {
        self.stand_out == 0.0 || self.loudest > self.room.level() * self.stand_out / AGAIN_SLACK
    }

    /// Whether the room judged the utterance and nothing of it stood out:
    /// the crowd or the street, not the caller.
    fn only_the_room(&self) -> bool {
        !self.stood_out && self.room_span > 0
    }

    /// Whether the utterance stood out of the room (or the rule is off): a
    /// barge-in stops the agent at once, so it waits for that proof, even
    /// in the call's first second, before the room can judge.
    fn may_barge_in(&self) -> bool {
        self.stand_out == 0.0 || self.stood_out
    }

    /// Counts a frame of `n` samples and linear `power` into how long the
    /// line has been back at the room (see [`TurnConfig::room_end_db`]). A
    /// rise out of it no longer than [`ROOM_GRAZE_MS`] is the crowd's 200
    /// ms mean grazing the room's ceiling and does not restart the count.
    fn follow_the_room(&mut self, n: u64, power: f32) {
        let risen = if self.room_end > 0.0 && power.is_finite() && self.room.judged() {
            Some(self.room.line() > self.room_top())
        } else {
            None
        };
        match risen {
            Some(false) => {
                self.grazing = 0;
                self.at_the_room += n;
            }
            Some(true) if self.at_the_room > 0 && self.grazing + n <= self.room_graze => {
                self.grazing += n;
                self.at_the_room += n;
            }
            _ => {
                self.grazing = 0;
                self.at_the_room = 0;
            }
        }
    }

    /// Whether the line has been back at the room for `samples`, no graze
    /// in progress, and the room may end this utterance.
    fn back_at_the_room_for(&self, samples: u64) -> bool {
        self.at_the_room >= samples && self.grazing == 0 && self.back_to_the_room()
    }

    /// Whether the crowd score may act on this utterance (the caller
    /// stood out of a room of talkers) and says, through `since` (its
    /// `stopped_for` or `maybe_stopped_for`), that the caller stopped
    /// `samples` ago or more.
    fn crowd_says_stopped(&self, since: Option<u64>, samples: u64) -> bool {
        self.stood_out
            && (self.room.is_talkers() || self.crowd.reads_a_street())
            && since.is_some_and(|since| since >= samples)
    }

    /// Whether the line is a street's or a car's: a room judged, not of
    /// talkers, at [`STREET_FROM_DBFS`] or over. The crowd score then
    /// reads it with the street network (`turn/crowd/net.rs`).
    fn in_the_street(&self) -> bool {
        !self.room.is_talkers()
            && self.room.judged()
            && self.room.level() > 0.0
            && 10.0 * self.room.level().log10() >= STREET_FROM_DBFS
    }

    /// Whether, in the street, the VAD's pause is held: the crowd score
    /// has not yet the evidence to offer the turn as a guess, and the
    /// pause has not run [`STREET_HOLD_MS`] past the wait. The caller's
    /// quiet words under the street are silence to the VAD, and its pause
    /// alone cut them off.
    fn street_holds_the_pause(&self) -> bool {
        self.crowd.reads_a_street()
            && self.crowd.maybe_stopped_for().is_none()
            && self.silence_run < self.end_silence_now + self.street_hold
    }

    /// The wait the crowd score ends a turn after, counted from the
    /// caller's last word: the one in force, with the VAD's hangover back.
    fn crowd_wait(&self) -> u64 {
        self.end_silence_now + self.vad_hangover
    }

    /// The last frame's crowd cues (see `turn/crowd.rs`), for the study
    /// that fits the score's weights; `None` before the room and the bands
    /// were judged, or for a frame without a level.
    #[doc(hidden)]
    pub fn crowd_cues(&self) -> Option<[f32; crowd::CUES]> {
        self.crowd.cues()
    }

    /// What the crowd score makes of the line at the last frame, for the
    /// diagnostic that asks why a turn in a crowd ended late.
    #[doc(hidden)]
    pub fn crowd_reading(&self) -> CrowdReading {
        CrowdReading {
            talkers: self.room.is_talkers(),
            street: self.crowd.reads_a_street(),
            evidence: self.crowd.evidence(),
            needed: self.crowd.stopped_nats(),
        }
    }

    /// Whether the room is one the VAD takes for voice, for the studies
    /// that try another detector there.
    #[doc(hidden)]
    pub fn room_fools_the_vad(&self) -> bool {
        self.room.fools_the_vad()
    }

    /// Whether the line falling back to the room ends this utterance (see
    /// [`TurnConfig::room_end_db`]): the caller stood out of a room the VAD
    /// takes for voice, and stands clear of it.
    fn back_to_the_room(&self) -> bool {
        self.room_end > 0.0
            && self.stood_out
            && self.room.fools_the_vad()
            && self.under_caller(self.end_room_level(), self.room_end_clear)
    }

    /// The room's level for the room end (see [`EndRoom`]), as a linear
    /// power.
    fn end_room_level(&self) -> f32 {
        let now = self.room.level();
        self.end_room.map_or(now, |room| room.level.min(now))
    }

    /// How loud the line's 200 ms mean may be and still be back at the
    /// room (see [`TurnConfig::room_end_db`]): `room_end` over the room,
    /// or, for a caller [`CEILING_CLEAR_DB`] over it, the crowd's
    /// ceiling, if higher and the crowd is still there.
    fn room_top(&self) -> f32 {
        let top = self.end_room_level() * self.room_end;
        let ceiling = self
            .end_room
            .filter(|room| room.quietened == self.room.quietened())
            .and_then(|room| room.ceiling)
            .filter(|&ceiling| self.under_caller(ceiling, self.ceiling_clear));
        ceiling.map_or(top, |ceiling| top.max(ceiling))
    }

    /// Discards an utterance of the room alone, keeping its last
    /// `pre_roll_ms` as the next one's pre-roll: the caller may have just
    /// begun under it.
    fn drop_the_room(&mut self) -> TurnEvent {
        let tail = self
            .audio
            .split_off(self.audio.len().saturating_sub(self.pre_roll));
        // Discarded: the room alone ended nothing.
        let event = self.finish_utterance(EndedBy::QuietHold);
        self.feed_ring(&tail);
        event
    }

    fn above_echo(&self, level_dbfs: f32) -> bool {
        self.echo_gate_dbfs.is_none_or(|gate| level_dbfs > gate)
    }

    /// Appends as much of the frame as `max_utterance` allows. Returns the
    /// part that did not fit (possibly empty) once the limit is reached.
    fn append<'f>(&mut self, mulaw: &'f [u8], voiced: bool, above_echo: bool) -> Option<&'f [u8]> {
        let room = self.max_utterance.saturating_sub(self.span);
        let take = (mulaw.len() as u64).min(room) as usize;
        let (used, rest) = mulaw.split_at(take);
        self.audio.extend_from_slice(used);
        let n = take as u64;
        self.span += n;
        if voiced {
            self.voiced += n;
            self.barge_run = if above_echo { self.barge_run + n } else { 0 };
            if above_echo {
                self.voiced_above_echo += n;
            }
            self.silence_run = 0;
            self.speech_end = self.span;
        } else {
            if self.silence_run == 0 {
                // The pause began where the caller's voice faded, not
                // where the VAD let go of it. What they say after it is
                // heard afresh: a fade follows full voice directly.
                self.silence_run = self.fade.faded_for(self.vad_hangover);
                self.fade.clear();
            }
            self.silence_run += n;
            self.barge_run = 0;
        }
        (self.span >= self.max_utterance).then_some(rest)
    }

    fn finish_utterance(&mut self, ended_by: EndedBy) -> TurnEvent {
        self.speaking = false;
        self.end_pending = false;
        let audio = std::mem::take(&mut self.audio);
        if self.voiced_above_echo < self.min_speech || self.voiced == 0 || self.only_the_room() {
            return TurnEvent::Discarded;
        }
        let mut audio = audio;
        audio.truncate(self.kept_len());
        TurnEvent::UtteranceEnded {
            audio,
            speech_ms: self.to_ms(self.speech_end),
            voiced_ms: self.to_ms(self.voiced),
            ended_by,
            snr_db: self.snr_db(),
        }
    }

    /// The caller's active level as a power (see [`level_power`]): when
    /// they were last clear of the crowd, or else so far.
    fn caller_power(&self) -> Option<f32> {
        self.caller_active.or(self.active.power())
    }

    /// The caller's active level (see [`TurnDetector::caller_power`]) over
    /// the room's, in whole dB, once the room is judged.
    fn snr_db(&self) -> Option<i16> {
        let active = self.caller_power()?;
        let room = self.room.level();
        (self.room.judged() && room > 0.0)
            // `as` saturates; both lie within the level bins' 128 dB.
            .then(|| (10.0 * (active / room).log10()).round() as i16)
    }

    /// The utterance's audio worth transcribing: pre-roll, speech and up to
    /// `pre_roll_ms` of what followed.
    fn kept_len(&self) -> usize {
        let keep = self.pre_roll_len as u64 + (self.speech_end + self.tail).min(self.span);
        usize::try_from(keep).unwrap_or(usize::MAX)
    }

    fn to_ms(&self, samples: u64) -> u32 {
        let ms = samples * 1000 / u64::from(self.config.sample_rate.max(1));
        u32::try_from(ms).unwrap_or(u32::MAX)
    }
}

mod active;
mod crowd;
mod fade;
mod room;
#[cfg(test)]
mod tests;
