//! The room: the line's level when no one near the phone speaks (the quietest fifth of its last 10 s), against which an utterance must stand out to be the caller's.
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
/// Frames heard before the room is judged at all: a second. Before that
/// every utterance is taken for the caller's.
const MIN_FRAMES: usize = 50;
/// The room's level is the frame level this share of the frames kept is
/// under: 1 in 5.
const QUIETEST_SHARE: usize = 5;
/// Frames between two readings of the room from its histogram: it moves
/// over seconds, and a reading walks the histogram.
const REFRESH_FRAMES: u8 = 5;
/// Frames of the line's mean that must stand out: 200 ms.
const LINE_FRAMES: usize = 10;

/// The line's frame levels over the last [`ROOM_FRAMES`], and its mean
/// power over the last [`LINE_FRAMES`].
#[derive(Debug, Clone)]
pub(super) struct Room {
    /// How many of the frames kept fell in each 1 dB bin.
    counts: [u16; BINS],
    /// The bin of each frame kept, oldest at `next` once full.
    ring: [u8; ROOM_FRAMES],
    next: usize,
    len: usize,
    /// The room's level as a linear power (full scale = 1), as last read.
    level: f32,
    /// Frames pushed since `level` was read.
    stale: u8,
    line: RecentLevel<LINE_FRAMES>,
}

impl Room {
    pub(super) fn new() -> Self {
        Self {
            counts: [0; BINS],
            ring: [0; ROOM_FRAMES],
            next: 0,
            len: 0,
            level: 0.0,
            stale: 0,
            line: RecentLevel::new(),
        }
    }

    /// Counts a frame at `level_dbfs`, of linear `power`, in; a frame
    /// without a level (non-finite) is ignored.
    pub(super) fn push(&mut self, level_dbfs: f32, power: f32) {
        if !level_dbfs.is_finite() {
            return;
        }
        self.line.push(power);
        let bin = bin(level_dbfs);
        if self.len == ROOM_FRAMES {
            self.counts[usize::from(self.ring[self.next])] -= 1;
        } else {
            self.len += 1;
        }
        self.counts[bin] += 1;
        // BINS fits a u8.
        self.ring[self.next] = bin as u8;
        self.next = (self.next + 1) % ROOM_FRAMES;
        self.stale += 1;
        if self.stale >= REFRESH_FRAMES || self.len <= MIN_FRAMES {
            self.level = self.read();
            self.stale = 0;
        }
    }

    /// Whether the line's last 200 ms stand more than `ratio` (a power
    /// ratio) over the room; `None` until the room has been heard for
    /// [`MIN_FRAMES`].
    pub(super) fn stands_out(&self, ratio: f32) -> Option<bool> {
        (self.len >= MIN_FRAMES).then(|| self.line.power() > self.level * ratio)
    }

    /// The level of the bin the quietest [`QUIETEST_SHARE`] of the frames
    /// reaches up to, at the bin's middle, as a linear power.
    fn read(&self) -> f32 {
        let wanted = self.len.div_ceil(QUIETEST_SHARE);
        let mut seen = 0;
        let bin = self
            .counts
            .iter()
            .position(|&n| {
                seen += usize::from(n);
                seen >= wanted
            })
            .unwrap_or(BINS - 1);
        10f32.powf((LOWEST_DBFS + bin as f32 + 0.5) / 10.0)
    }
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
    fn frames_without_a_level_are_not_counted() {
        let mut room = Room::new();
        push(&mut room, f32::INFINITY, MIN_FRAMES);
        assert_eq!(room.stands_out(10.0), None);
    }
}
