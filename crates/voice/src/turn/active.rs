//! The caller's level: their active speech level over an utterance (ITU-T P.56 method B on a histogram of its voiced frames' levels), and the line's level over the last 400 ms.
//!
//! P.56's level A is the mean power of the frames above A less 15.9 dB,
//! found coming down from the loudest frame. Kept as a histogram and
//! solved again from the whole utterance on every frame, a stretch of
//! noise the VAD called voice before the caller spoke (café babble, where
//! a call's first "utterance" starts on the crowd) drops out of the level
//! once the caller's louder speech is in: a running mean would keep it
//! for good and take later babble for the caller.

/// P.56's margin between the active level and the threshold below which a
/// frame is not counted into it, as a power ratio (15.9 dB).
const MARGIN: f32 = 38.904_514;

/// Levels are kept in 1 dB bins from -120 dBFS up to +7 dBFS.
pub(super) const BINS: usize = 128;
pub(super) const LOWEST_DBFS: f32 = -120.0;

/// The histogram bin of a finite level in dBFS: 1 dB wide, below
/// [`LOWEST_DBFS`] in bin 0, above the top in the last.
pub(super) fn bin(level_dbfs: f32) -> usize {
    // Saturating float-to-int cast: below -120 dBFS is bin 0.
    ((level_dbfs - LOWEST_DBFS).floor() as usize).min(BINS - 1)
}

/// An utterance's voiced levels and the P.56 level they give.
#[derive(Debug, Clone)]
pub(super) struct ActiveLevel {
    counts: [u32; BINS],
    /// Sum of the linear powers (full scale = 1) that fell in each bin.
    powers: [f32; BINS],
    /// The loudest bin with a frame in it: solving starts there.
    loudest: usize,
    /// The level solved from them; 0 before any frame.
    level: f32,
}

impl ActiveLevel {
    pub(super) fn new() -> Self {
        Self {
            counts: [0; BINS],
            powers: [0.0; BINS],
            loudest: 0,
            level: 0.0,
        }
    }

    /// Forgets every frame, for a new utterance.
    pub(super) fn clear(&mut self) {
        *self = Self::new();
    }

    /// The active level as a linear power (full scale = 1); `None` before
    /// any frame.
    pub(super) fn power(&self) -> Option<f32> {
        (self.level > 0.0).then_some(self.level)
    }

    /// Counts a voiced frame at `level_dbfs`, whose linear power (full
    /// scale = 1) is `power`, in; a non-finite level is ignored.
    pub(super) fn push(&mut self, level_dbfs: f32, power: f32) {
        if !level_dbfs.is_finite() {
            return;
        }
        let bin = bin(level_dbfs);
        self.counts[bin] += 1;
        self.powers[bin] += power;
        self.loudest = self.loudest.max(bin);
        // A frame under the margin is not counted into the level and
        // cannot move it: most of a pause's frames skip the solving.
        if power * MARGIN >= self.level {
            self.level = self.solve();
        }
    }

    /// Comes down the bins from the loudest, taking each one in while its
    /// frames' mean power is within the margin of the mean of those above:
    /// P.56's largest fixed point, in one pass with no logarithm.
    fn solve(&self) -> f32 {
        let (mut sum, mut count) = (0f32, 0u32);
        for bin in (0..=self.loudest).rev() {
            let n = self.counts[bin];
            if n == 0 {
                continue;
            }
            if count > 0 && self.powers[bin] / n as f32 * MARGIN < sum / count as f32 {
                break;
            }
            sum += self.powers[bin];
            count += n;
        }
        if count == 0 { 0.0 } else { sum / count as f32 }
    }
}

/// Frames over which [`RecentLevel`] averages: 400 ms of Twilio's 20 ms.
const RECENT_FRAMES: usize = 20;

/// The mean power of the last [`RECENT_FRAMES`] frames. Single frames of
/// café babble peak near a caller's level; their mean over 400 ms stays
/// near the crowd's, while a caller's words lift it.
#[derive(Debug, Clone)]
pub(super) struct RecentLevel<const N: usize = RECENT_FRAMES> {
    powers: [f32; N],
    next: usize,
    len: usize,
}

impl<const N: usize> RecentLevel<N> {
    pub(super) fn new() -> Self {
        Self {
            powers: [0.0; N],
            next: 0,
            len: 0,
        }
    }

    /// Forgets every frame, for a new utterance.
    pub(super) fn clear(&mut self) {
        *self = Self::new();
    }

    /// Counts a frame of linear `power` (full scale = 1) in. A frame
    /// without a level (infinite) makes the mean infinite until it has
    /// fallen out.
    pub(super) fn push(&mut self, power: f32) {
        self.powers[self.next] = power;
        self.next = (self.next + 1) % N;
        self.len = (self.len + 1).min(N);
    }

    /// The mean power of the frames kept (0 before any).
    pub(super) fn power(&self) -> f32 {
        let sum: f32 = self.powers[..self.len].iter().sum();
        sum / self.len.max(1) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dbfs(power: f32) -> f32 {
        10.0 * power.log10()
    }

    fn linear(dbfs: f32) -> f32 {
        10f32.powf(dbfs / 10.0)
    }

    /// Counts a frame at `dbfs` in, as the turn detector does.
    fn push(level: &mut ActiveLevel, dbfs: f32) {
        level.push(dbfs, linear(dbfs));
    }

    #[test]
    fn steady_speech_is_its_own_level() {
        let mut level = ActiveLevel::new();
        assert_eq!(level.power(), None);
        for _ in 0..50 {
            push(&mut level, -24.0);
        }
        assert!((dbfs(level.power().unwrap()) + 24.0).abs() < 0.01);
    }

    #[test]
    fn babble_heard_before_the_caller_spoke_drops_out_of_the_level() {
        let mut level = ActiveLevel::new();
        // Two seconds of crowd the VAD took for voice, then the caller,
        // 16 dB louder, for a little over two seconds.
        for _ in 0..100 {
            push(&mut level, -40.0);
        }
        assert!((dbfs(level.power().unwrap()) + 40.0).abs() < 0.01);
        for _ in 0..120 {
            push(&mut level, -24.0);
        }
        let db = dbfs(level.power().unwrap());
        assert!((db + 24.0).abs() < 0.01, "level {db} dBFS");
    }

    #[test]
    fn quiet_syllables_within_the_margin_count_and_room_tone_under_it_does_not() {
        let mut level = ActiveLevel::new();
        for _ in 0..50 {
            push(&mut level, -20.0);
            push(&mut level, -30.0);
            push(&mut level, -60.0);
        }
        // The mean power of -20 and -30 dBFS frames: -22.6 dBFS.
        let db = dbfs(level.power().unwrap());
        assert!((db + 22.6).abs() < 0.1, "level {db} dBFS");
    }

    #[test]
    fn a_level_outside_the_bins_is_counted_at_their_edge_and_nan_is_not() {
        let mut level = ActiveLevel::new();
        push(&mut level, f32::NAN);
        push(&mut level, f32::NEG_INFINITY);
        assert_eq!(level.power(), None);
        push(&mut level, -200.0);
        push(&mut level, 30.0);
        assert!(level.power().is_some());
    }

    #[test]
    fn the_recent_level_is_the_mean_power_of_the_last_400_ms() {
        let mut recent: RecentLevel = RecentLevel::new();
        recent.push(linear(-20.0));
        assert!((dbfs(recent.power()) + 20.0).abs() < 0.01);
        // One frame at -20 among twenty: a mean 13 dB down.
        for _ in 0..19 {
            recent.push(linear(-60.0));
        }
        assert!(
            (dbfs(recent.power()) + 33.0).abs() < 0.1,
            "{}",
            dbfs(recent.power())
        );
        recent.push(linear(-60.0));
        assert!(
            (dbfs(recent.power()) + 60.0).abs() < 0.01,
            "{}",
            dbfs(recent.power())
        );
    }
}
