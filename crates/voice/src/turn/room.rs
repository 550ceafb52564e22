//! The room: the line's level when no one near the phone speaks (the quietest fifth of its last 10 s, forgotten down to 2 s after a step up or down), against which an utterance must stand out to be the caller's, and the crowd's ceiling.
//!
//! Café babble and traffic keep a VAD voiced while the caller is silent,
//! and an utterance of the crowd alone has its own P.56 level, so every
//! rule that compares with the utterance's level takes the crowd for the
//! caller. The room is measured across utterances instead: a caller close
//! to the phone lifts the line's 200 ms mean far over its quiet frames,
//! the crowd on its own does not (BENCHMARKS.md, "Turns of the room").

use super::active::{BINS, LOWEST_DBFS, RecentLevel, bin};

/// Frames the room is measured over: 10 s of Twilio's 20 ms.
const ROOM_FRAMES: usize = 500;
/// Frames of the room's recent reading: 2 s. A crowd that starts
/// mid-call (after a greeting over a quiet line, or a caller walking in)
/// fills the quietest fifth of 10 s only after 8 s, and is taken for the
/// caller until then; it fills that of 2 s in 1.6 s. When the reading of
/// the last 2 s is [`STEP_UP`] over the long one, the room has changed and
/// the older, quieter frames are forgotten. The short reading is not the
/// room otherwise: in a steady crowd it swings higher than the long one,
/// and a short answer would have to stand out of the swing
/// (BENCHMARKS.md).
const RECENT_FRAMES: usize = 100;
/// Frames after a step up at which the room has settled: the quiet frames
/// from before the step, at most the quietest fifth of the recent reading
/// that found it, have left that reading.
const SETTLE_FRAMES: usize = RECENT_FRAMES / QUIETEST_SHARE;
/// How far the room's recent reading must rise over its long one to be a
/// step, as a power ratio: 10 dB.
const STEP_UP: f32 = 10.0;
/// How far the room's recent reading must fall under its long one for the
/// room to have gone quiet (a caller who walked out of the café), as a
/// power ratio: 15 dB. Until the quiet fills a fifth of 10 s the room
/// still read the crowd, the caller's quiet words sat at its level, and
/// the room end cut callers off (BENCHMARKS.md, "Noise that stops
/// mid-call"). At 10 dB a lull of the crowd passed for it once in the
/// held-out set; at 15 and 20, never.
const STEP_DOWN: f32 = 31.622_776;
/// The frames [`Room::fools_the_vad`]'s running means weigh most: 5 s.
/// Until they span it, each is the plain mean of the frames heard: a
/// running mean rising from nothing read a café the VAD hears 90 % of the
/// time as a third 2 s into a call, where a first turn can begin; the
/// room did not fool the VAD yet, and a café the VAD hears less often was
/// taken for a street, not a crowd, whose turns waited for the quiet hold
/// (BENCHMARKS.md, "A café known from its first seconds").
const SHARE_FRAMES: u16 = 250;
/// The share of the room's frames the VAD must call voice for the room to
/// be one it cannot find pauses in. Chosen on the noise set (BENCHMARKS.md,
/// "Ending a turn on the room"): at 30 % street noise at 10 dB passed for
/// such a room often enough to cut its callers off 14 times in 30, at 40 %
/// never; at 60 % café at 20 dB ended 20 of 30 turns on time, not 25.
const FOOLED_SHARE: f32 = 0.4;
/// How far, on average, the level of the room's frames must move from one
/// frame to the next for it to be a crowd, in dB: talkers' syllables come
/// and go within a few frames, traffic swells over seconds. Measured on
/// the noise set's noise alone (BENCHMARKS.md, "A crowd moves, the street
/// drifts"): street 0.49–0.64 dB, car 1.53–1.95, café 2.06–2.54.
const CROWD_STEP_DB: f32 = 1.2;
/// How far, on average, the level of the room's frames must move from one
/// frame to the next for the crowd score to end turns in it (see
/// `turn/crowd.rs`), in dB. The score was fitted on café babble; in car
/// noise (steps of 1.53–1.95 dB) it took caller-he.wav's quiet last words
/// for the car and cut the caller off 4–6 times in 90 at 1.2 and 1–2 at
/// 1.8; café's are 2.06–2.54 (BENCHMARKS.md, "A crowd score that sums its
/// evidence").
const TALKERS_STEP_DB: f32 = 2.0;
/// The share of the room's frames the VAD must call voice for the crowd
/// score to end turns in it: car noise at 10 dB, whose pauses the VAD
/// finds, passed the step alone now and then. Not raised to the café's
/// least on the noise set (0.48 at 20 dB; a car's most, 0.36 at 5 dB):
/// a café 25 dB under the caller, in the call, reads less, and was then
/// taken for a street (BENCHMARKS.md, "A café known from its first
/// seconds").
const TALKERS_VOICED_SHARE: f32 = 0.2;
/// The largest frame-to-frame step counted into the mean, in dB: a
/// caller's onset, or a door banging, is one step, not a crowd.
const MAX_STEP_DB: f32 = 10.0;
/// Frames heard before the room is judged at all: a second. Before that
/// every utterance is taken for the caller's.
const MIN_FRAMES: usize = 50;
/// The room's level is the frame level this share of the frames kept is
/// under: 1 in 5.
const QUIETEST_SHARE: usize = 5;
/// The line's loud level is the frame level all but this share of the
/// frames kept is under: 1 in 20.
const LOUDEST_SHARE: usize = 20;
/// Frames between two readings of the room from its histogram: it moves
/// over seconds, and a reading walks the histogram.
const REFRESH_FRAMES: u8 = 5;
/// Frames of the line's mean that must stand out: 200 ms.
const LINE_FRAMES: usize = 10;
/// The crowd's ceiling is the 200 ms mean all but this share of the
/// frames heard without the caller stay under: 1 in 10. Measured on the
/// noise set (BENCHMARKS.md, "The room end judged against the crowd, not
/// the caller"): at 1 in 20 the fixtures' café turns at 20 dB were cut
/// off 34 times in 360 on fresh seeds, against 20.
const CEILING_SHARE: usize = 10;

/// The line's frame levels over the last [`ROOM_FRAMES`], and its mean
/// power over the last [`LINE_FRAMES`].
#[derive(Debug, Clone)]
pub(super) struct Room {
    /// The frames kept.
    frames: Levels,
    /// How many of the last [`RECENT_FRAMES`] of them fell in each bin.
    recent: [u16; BINS],
    /// The room's level as a linear power (full scale = 1), as last read.
    level: f32,
    /// The level the loudest [`LOUDEST_SHARE`] of the frames kept reach,
    /// in dBFS, as last read: the caller's loud words, where there is one.
    loud_dbfs: f32,
    /// Frames pushed since `level` was read.
    stale: u8,
    /// Frames pushed since the last step up, up to [`ROOM_FRAMES`]: until
    /// then the long reading still counts the quiet frames that came just
    /// before the step and reads low, so the room is the louder of the two
    /// readings.
    since_step: u16,
    line: RecentLevel<LINE_FRAMES>,
    /// The share of the room's frames the VAD called voice, lately.
    voiced_share: Lately,
    /// The level of the last frame pushed with one, in dBFS.
    last_dbfs: Option<f32>,
    /// How far that frame's level moved from the one before, in dB.
    frame_step_db: Option<f32>,
    /// The mean of `frame_step_db` over the room's frames, lately.
    mean_frame_step_db: Lately,
    /// The line's 200 ms mean on frames heard without the caller or the
    /// agent, over the last 10 s of them (see [`Room::crowd_ceiling`]).
    crowd: Levels,
    /// How many times the room has gone quiet (see [`STEP_DOWN`]).
    quietened: u32,
}

/// Levels in 1 dB bins over the last [`ROOM_FRAMES`] counted.
#[derive(Debug, Clone)]
struct Levels {
    /// How many of the levels kept fell in each 1 dB bin.
    counts: [u16; BINS],
    /// The bin of each level kept, oldest at `next` once full.
    ring: [u8; ROOM_FRAMES],
    next: usize,
    len: usize,
}

impl Levels {
    fn new() -> Self {
        Self {
            counts: [0; BINS],
            ring: [0; ROOM_FRAMES],
            next: 0,
            len: 0,
        }
    }

    /// Counts `level_dbfs` in, forgetting the oldest once full; returns
    /// its bin.
    fn push(&mut self, level_dbfs: f32) -> usize {
        if self.len == ROOM_FRAMES {
            self.counts[usize::from(self.ring[self.next])] -= 1;
        } else {
            self.len += 1;
        }
        let bin = bin(level_dbfs);
        self.counts[bin] += 1;
        // BINS fits a u8.
        self.ring[self.next] = bin as u8;
        self.next = (self.next + 1) % ROOM_FRAMES;
        bin
    }

    /// The bin of the level counted `ago` levels before the next one.
    fn bin_ago(&self, ago: usize) -> u8 {
        self.ring[(self.next + ROOM_FRAMES - ago) % ROOM_FRAMES]
    }
}

/// A mean over the last [`SHARE_FRAMES`] values pushed, most weighed:
/// the plain mean until they span that, then a running one, so that the
/// room is a crowd, or not, from its first seconds.
#[derive(Debug, Clone, Default)]
struct Lately {
    mean: f32,
    /// Values counted in, up to [`SHARE_FRAMES`].
    count: u16,
}

impl Lately {
    fn push(&mut self, value: f32) {
        self.count = (self.count + 1).min(SHARE_FRAMES);
        self.mean += (value - self.mean) / f32::from(self.count);
    }
}

impl Room {
    pub(super) fn new() -> Self {
        Self {
            frames: Levels::new(),
            recent: [0; BINS],
            level: 0.0,
            loud_dbfs: LOWEST_DBFS,
            stale: 0,
            since_step: ROOM_FRAMES as u16,
            line: RecentLevel::new(),
            voiced_share: Lately::default(),
            last_dbfs: None,
            frame_step_db: None,
            mean_frame_step_db: Lately::default(),
            crowd: Levels::new(),
            quietened: 0,
        }
    }

    /// Counts a frame at `level_dbfs`, of linear `power`, in; a frame
    /// without a level (non-finite) is ignored. True on the frame the room
    /// has settled after a step up (see [`SETTLE_FRAMES`]), and on each
    /// reading after it while the room still follows the step (10 s): what
    /// stood out of the quieter room before may not stand out of this one.
    /// A crowd can take seconds to fill in (a room filling up, a first
    /// sparse stretch of babble), and the room rises with it.
    pub(super) fn push(&mut self, level_dbfs: f32, power: f32) -> bool {
        if !level_dbfs.is_finite() {
            self.frame_step_db = None;
            return false;
        }
        self.frame_step_db = self.last_dbfs.map(|last| (level_dbfs - last).abs());
        self.last_dbfs = Some(level_dbfs);
        self.line.push(power);
        if self.frames.len >= RECENT_FRAMES {
            let left = self.frames.bin_ago(RECENT_FRAMES);
            self.recent[usize::from(left)] -= 1;
        }
        let bin = self.frames.push(level_dbfs);
        self.recent[bin] += 1;
        self.since_step = (self.since_step + 1).min(ROOM_FRAMES as u16);
        let settled = usize::from(self.since_step) == SETTLE_FRAMES;
        self.stale += 1;
        let len = self.frames.len;
        if self.stale < REFRESH_FRAMES && len > MIN_FRAMES && !settled {
            return false;
        }
        self.stale = 0;
        let long = read(&self.frames.counts, len.div_ceil(QUIETEST_SHARE));
        let recent = read(
            &self.recent,
            len.min(RECENT_FRAMES).div_ceil(QUIETEST_SHARE),
        );
        self.loud_dbfs = 10.0 * read(&self.frames.counts, len - len / LOUDEST_SHARE).log10();
        if recent > long * STEP_UP {
            self.step_to(recent);
            self.since_step = 0;
            return false;
        }
        if recent * STEP_DOWN < long {
            // The room went quiet: forgotten at once as after a step up, so
            // that the caller's quiet words are not taken for the crowd.
            self.step_to(recent);
            self.quietened += 1;
            self.since_step = ROOM_FRAMES as u16;
            return false;
        }
        let following = usize::from(self.since_step) < ROOM_FRAMES;
        self.level = if following { long.max(recent) } else { long };
        following && usize::from(self.since_step) >= SETTLE_FRAMES
    }

    /// Forgets all but the last 2 s, whose reading `recent` the room now is.
    /// The ring keeps every frame's bin, so the frames from before the step
    /// just stop being counted; they leave the ring unread as new frames
    /// take their places.
    fn step_to(&mut self, recent: f32) {
        self.frames.counts = self.recent;
        self.frames.len = self.frames.len.min(RECENT_FRAMES);
        self.level = recent;
    }

    /// The line's mean power over its last 200 ms.
    pub(super) fn line(&self) -> f32 {
        self.line.power()
    }

    /// Counts what the VAD made of a frame of the room (one heard while the
    /// caller is not speaking).
    pub(super) fn heard_by_the_vad(&mut self, voiced: bool) {
        self.voiced_share.push(if voiced { 1.0 } else { 0.0 });
        if let Some(step) = self.frame_step_db {
            self.mean_frame_step_db.push(step.min(MAX_STEP_DB));
        }
    }

    /// Counts the line's 200 ms mean into the crowd's ceiling: for a frame
    /// heard while neither the caller nor the agent speaks.
    pub(super) fn heard_without_anyone(&mut self) {
        if self.last_dbfs.is_some() && self.line.power() > 0.0 {
            self.crowd.push(10.0 * self.line.power().log10());
        }
    }

    /// The crowd's ceiling: the line's 200 ms mean that, heard without the
    /// caller or the agent, stays under it all but one time in
    /// [`CEILING_SHARE`], as a linear power; `None` until a second of such
    /// frames. A crowd's mean swings well over its quietest fifth, the
    /// room: talkers' syllables fill some 200 ms and leave others.
    pub(super) fn crowd_ceiling(&self) -> Option<f32> {
        (self.crowd.len >= MIN_FRAMES).then(|| {
            read(
                &self.crowd.counts,
                self.crowd.len - self.crowd.len / CEILING_SHARE,
            )
        })
    }

    /// How many times the room has gone quiet: a crowd's ceiling read
    /// before the last time is a crowd that is gone.
    pub(super) fn quietened(&self) -> u32 {
        self.quietened
    }

    /// Whether the VAD takes this room for voice so often that it cannot
    /// find the caller's pauses in it, and the room is a crowd: its level
    /// moves from frame to frame as talkers' syllables do. Street noise
    /// at 10 dB SNR can pass the VAD's share too, and there the caller's
    /// quiet words sit at the room's level, as in a café; but the VAD
    /// still finds the caller's pauses there.
    pub(super) fn fools_the_vad(&self) -> bool {
        self.voiced_share.mean > FOOLED_SHARE && self.mean_frame_step_db.mean > CROWD_STEP_DB
    }

    /// Whether the room is a crowd of talkers the crowd score may end
    /// turns in: its level moves from frame to frame more than a car's
    /// engine and rumble do (over [`TALKERS_STEP_DB`] on average), and the
    /// VAD takes it for voice more than [`TALKERS_VOICED_SHARE`] of the
    /// time. Judged once the room is.
    pub(super) fn is_talkers(&self) -> bool {
        self.judged()
            && self.mean_frame_step_db.mean > TALKERS_STEP_DB
            && self.voiced_share.mean > TALKERS_VOICED_SHARE
    }

    /// The level the line's loudest twentieth of its last 10 s reaches, in
    /// dBFS: a caller's loud words over a crowd, the crowd's swells alone.
    pub(super) fn loud_dbfs(&self) -> f32 {
        self.loud_dbfs
    }

    /// The room's level as a linear power (full scale = 1); 0 before any
    /// frame.
    pub(super) fn level(&self) -> f32 {
        self.level
    }

    /// Whether the line's last 200 ms stand more than `ratio` (a power
    /// ratio) over the room; `None` until the room has been heard for
    /// [`MIN_FRAMES`].
    pub(super) fn stands_out(&self, ratio: f32) -> Option<bool> {
        self.judged()
            .then(|| self.line.power() > self.level * ratio)
    }

    /// Whether the room has been heard for [`MIN_FRAMES`], so that its
    /// level means something.
    pub(super) fn judged(&self) -> bool {
        self.frames.len >= MIN_FRAMES
    }
}

/// The level of the bin the quietest `wanted` frames counted in `counts`
/// reach up to, at the bin's middle, as a linear power.
fn read(counts: &[u16; BINS], wanted: usize) -> f32 {
    let mut seen = 0;
    let bin = counts
        .iter()
        .position(|&n| {
            seen += usize::from(n);
            seen >= wanted
        })
        .unwrap_or(BINS - 1);
    10f32.powf((LOWEST_DBFS + bin as f32 + 0.5) / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(room: &mut Room, dbfs: f32, frames: usize) {
        for _ in 0..frames {
            room.push(dbfs, 10f32.powf(dbfs / 10.0));
        }
    }

    #[test]
    fn the_loud_level_is_what_the_loudest_twentieth_of_the_last_ten_seconds_reaches() {
        let mut room = Room::new();
        // A caller's loud words, a tenth of the line, over a quiet room.
        for _ in 0..50 {
            push(&mut room, -40.0, 9);
            push(&mut room, -10.0, 1);
        }
        assert!(
            (room.loud_dbfs() - -9.5).abs() < 1.0,
            "{}",
            room.loud_dbfs()
        );
        // Ten more seconds of the room alone: the words are forgotten.
        push(&mut room, -40.0, 500);
        assert!(
            (room.loud_dbfs() - -39.5).abs() < 1.0,
            "{}",
            room.loud_dbfs()
        );
    }

    #[test]
    fn a_room_of_talkers_is_a_crowd_the_vad_hears_some_of_whose_level_moves_more_than_a_cars() {
        // Steps of 3 dB, as babble's; the VAD hearing it a third of the time.
        let mut talkers = Room::new();
        for frame in 0..300 {
            push(&mut talkers, if frame % 2 == 0 { -40.0 } else { -37.0 }, 1);
            talkers.heard_by_the_vad(frame % 3 == 0);
        }
        assert!(talkers.is_talkers());
        // A car's engine: steps of 1.5 dB, heard as often.
        let mut car = Room::new();
        for frame in 0..300 {
            push(&mut car, if frame % 2 == 0 { -40.0 } else { -38.5 }, 1);
            car.heard_by_the_vad(frame % 3 == 0);
        }
        assert!(!car.is_talkers());
        // Talkers the VAD finds the pauses of: never voiced.
        let mut quiet = Room::new();
        for frame in 0..300 {
            push(&mut quiet, if frame % 2 == 0 { -40.0 } else { -37.0 }, 1);
            quiet.heard_by_the_vad(false);
        }
        assert!(!quiet.is_talkers());
    }

    /// 2 s of babble's 3 dB steps, the VAD hearing one frame in `every`.
    fn two_seconds_of_babble_heard_one_frame_in(every: usize) -> Room {
        let mut room = Room::new();
        for frame in 0..100 {
            push(&mut room, if frame % 2 == 0 { -40.0 } else { -37.0 }, 1);
            room.heard_by_the_vad(frame % every == 0);
        }
        room
    }

    #[test]
    fn a_crowd_is_known_for_one_two_seconds_into_the_call_where_a_first_turn_can_begin() {
        // The VAD's share is the plain mean of the frames so far, not a
        // running mean rising from nothing, which read these as a third of
        // what they are: a crowd of talkers the VAD hears a third of the
        // time, and one it hears throughout, which hides the caller's pauses.
        assert!(two_seconds_of_babble_heard_one_frame_in(3).is_talkers());
        assert!(two_seconds_of_babble_heard_one_frame_in(1).fools_the_vad());
    }

    /// Whether 6 s of a room the VAD calls voice throughout, its level
    /// moving `step_db` every other frame, fools the VAD as a crowd does.
    fn a_crowd_with_steps_of(step_db: f32) -> bool {
        let mut room = Room::new();
        for i in 0..300 {
            let dbfs = if i % 2 == 0 { -40.0 } else { -40.0 + step_db };
            room.push(dbfs, 10f32.powf(dbfs / 10.0));
            room.heard_by_the_vad(true);
        }
        room.fools_the_vad()
    }

    #[test]
    fn a_room_the_vad_calls_voice_is_a_crowd_only_if_its_level_moves_as_syllables_do() {
        // Traffic drifts half a dB a frame; talkers' syllables jump 4.
        assert!(!a_crowd_with_steps_of(0.5));
        assert!(!a_crowd_with_steps_of(CROWD_STEP_DB * 0.9));
        assert!(a_crowd_with_steps_of(CROWD_STEP_DB * 1.1));
        assert!(a_crowd_with_steps_of(4.0));
    }

    #[test]
    fn the_room_is_not_judged_before_a_second_has_been_heard() {
        let mut room = Room::new();
        push(&mut room, -60.0, MIN_FRAMES - 1);
        assert_eq!(room.stands_out(10.0), None);
        push(&mut room, -60.0, 1);
        assert_eq!(room.stands_out(10.0), Some(false));
    }

    #[test]
    fn a_voice_over_a_quiet_room_stands_out_and_a_steady_crowd_does_not() {
        let mut room = Room::new();
        // Two seconds of crowd at -40 dBFS, swinging 4 dB either way.
        for i in 0..100 {
            push(&mut room, if i % 2 == 0 { -36.0 } else { -44.0 }, 1);
        }
        assert_eq!(room.stands_out(10f32.powf(1.4)), Some(false));
        // The caller, 20 dB over the crowd, for 200 ms.
        push(&mut room, -20.0, LINE_FRAMES);
        assert_eq!(room.stands_out(10f32.powf(1.4)), Some(true));
    }

    #[test]
    fn the_room_forgets_what_it_heard_more_than_ten_seconds_ago() {
        let mut room = Room::new();
        // A quiet room, then a crowd 30 dB louder for longer than the
        // room remembers: the crowd is the room now.
        push(&mut room, -70.0, ROOM_FRAMES);
        push(&mut room, -40.0, ROOM_FRAMES);
        assert_eq!(room.stands_out(10.0), Some(false));
    }

    #[test]
    fn a_crowd_that_starts_mid_call_is_the_room_within_two_seconds() {
        let mut room = Room::new();
        // Five seconds of a quiet line, then a crowd at -40 dBFS: once more
        // than four in five of the last 2 s are the crowd (1.62 s, read
        // within the next 100 ms), it is the room. Over 10 s alone it
        // would take 8 s.
        push(&mut room, -90.0, 250);
        push(&mut room, -40.0, 80);
        assert_eq!(room.stands_out(10.0), Some(true));
        push(&mut room, -40.0, 1 + usize::from(REFRESH_FRAMES));
        assert_eq!(room.stands_out(10.0), Some(false));
        // The quiet line before it is forgotten: the crowd stays the room
        // (over 10 s, the quiet fifth would have come back as the crowd's
        // quiet frames, 10 dB under it, came and went), and the counts
        // stay whole as the ring wraps over the forgotten frames.
        for i in 0..3 * ROOM_FRAMES {
            push(&mut room, if i % 2 == 0 { -35.0 } else { -45.0 }, 1);
            assert_eq!(room.stands_out(10f32.powf(1.4)), Some(false), "frame {i}");
        }
        assert_eq!(
            room.frames
                .counts
                .iter()
                .map(|&n| usize::from(n))
                .sum::<usize>(),
            ROOM_FRAMES
        );
        assert_eq!(
            room.recent.iter().map(|&n| usize::from(n)).sum::<usize>(),
            RECENT_FRAMES
        );
    }

    #[test]
    fn once_settled_after_a_step_the_room_is_the_new_crowd_and_asks_for_judging_again_while_it_follows_it()
     {
        let mut room = Room::new();
        // A quiet line, then a crowd whose frames spread over -55…-30 dBFS:
        // the recent reading that finds the step still holds the last quiet
        // frames, and so, for 10 s, does the long one.
        push(&mut room, -90.0, 250);
        let crowd = |i: usize| -55.0 + (i * 7 % 26) as f32;
        let mut judged = Vec::new();
        for i in 0..700 {
            let dbfs = crowd(i);
            if room.push(dbfs, 10f32.powf(dbfs / 10.0)) {
                judged.push(i);
            }
            if i == 149 {
                let level = 10.0 * room.level().log10();
                assert!(
                    level > -51.0,
                    "the crowd's quietest fifth, not lower: {level}"
                );
            }
        }
        // Stepped 81 frames in (read on the 85th), settled 20 later, then
        // judged again at each reading until 10 s after the step.
        assert_eq!(judged.first(), Some(&104));
        assert!(judged.windows(2).all(|w| w[1] - w[0] == 5), "{judged:?}");
        assert_eq!(judged.last(), Some(&(84 + ROOM_FRAMES - 5)));
    }

    #[test]
    fn a_room_that_goes_quiet_is_quiet_within_half_a_second() {
        let mut room = Room::new();
        // Ten seconds of a crowd at -40 dBFS, then a quiet line: once a
        // fifth of the last 2 s are quiet (400 ms, read within the next
        // 100 ms) the room is the quiet line, not after 2 s of a fifth of
        // 10 s. A caller's quiet words at -45 dBFS then stand out of it.
        push(&mut room, -40.0, ROOM_FRAMES);
        push(&mut room, -75.0, RECENT_FRAMES / QUIETEST_SHARE - 1);
        push(&mut room, -45.0, LINE_FRAMES);
        assert_eq!(room.stands_out(10f32.powf(1.4)), Some(false));
        let mut room = Room::new();
        push(&mut room, -40.0, ROOM_FRAMES);
        push(
            &mut room,
            -75.0,
            RECENT_FRAMES / QUIETEST_SHARE + usize::from(REFRESH_FRAMES),
        );
        push(&mut room, -45.0, LINE_FRAMES);
        assert_eq!(room.stands_out(10f32.powf(1.4)), Some(true));
    }

    #[test]
    fn the_steps_are_10_db_up_and_15_down() {
        assert!((10.0 * STEP_UP.log10() - 10.0).abs() < 1e-4);
        assert!((10.0 * STEP_DOWN.log10() - 15.0).abs() < 1e-4);
    }

    #[test]
    fn the_crowds_ceiling_is_what_its_200_ms_mean_stays_under_nine_times_in_ten() {
        let mut room = Room::new();
        // A crowd whose 200 ms mean sits at -45 dBFS; one frame in ten is
        // counted while a swell lifts the mean to -30 dBFS. Nine in ten
        // stay under the crowd's -45, not the swells' -30.
        for i in 0..500 {
            let dbfs = -45.0;
            push(&mut room, dbfs, 1);
            if i == MIN_FRAMES - 2 {
                assert_eq!(room.crowd_ceiling(), None, "not before a second");
            }
            if i % 10 == 0 {
                room.line = RecentLevel::new();
                room.line.push(10f32.powf(-3.0));
            }
            room.heard_without_anyone();
            room.line = RecentLevel::new();
            for _ in 0..LINE_FRAMES {
                room.line.push(10f32.powf(dbfs / 10.0));
            }
        }
        let ceiling = 10.0 * room.crowd_ceiling().unwrap().log10();
        assert!((ceiling - -44.5).abs() < 1.0, "{ceiling}");
    }

    #[test]
    fn frames_without_a_level_are_not_counted() {
        let mut room = Room::new();
        push(&mut room, f32::INFINITY, MIN_FRAMES);
        assert_eq!(room.stands_out(10.0), None);
    }
}
