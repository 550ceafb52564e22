//! The fade at the end of the caller's voice: how much of what the VAD heard last was the caller trailing off after a word, not speaking.
//!
//! A voice often ends a sentence in a short decay or breath far under its
//! words: espeak-ng's held-out speakers end each sentence in 100–140 ms at
//! −38…−53 dBFS, some 20 dB under their active level. P.56 does not count
//! it as speech, and neither does a listener waiting for the answer, but
//! the VAD hears it on a clean line, and the end-of-turn wait counted from
//! its end ended those turns 720 ms after the caller (BENCHMARKS.md, "A
//! fade at the end of the caller's voice"). The wait, and the pause a guess
//! waits for, count from where the fade began instead, when it is short and
//! follows the caller's full voice: a caller's quiet words last longer, or
//! come among other quiet words, and keep the whole wait.

/// How far under the utterance's active level a voiced frame is a fade,
/// as a power ratio (18 dB). At 17 dB, held-out street turns at 20 dB SNR
/// were cut off 4 times in 180; at 19 dB, caller-he.wav in street noise at
/// 10 dB once more in 90; 18 dB cut off none.
pub(super) const FADE_RATIO: f32 = 63.095_734;

/// How long the caller's voice must have stayed within [`FADE_RATIO`] of
/// their active level right before a fade, in ms. Without it, the quiet
/// last second of caller-he.wav, heard in runs under street noise at
/// 10 dB SNR, was taken for fades and cut off 18 times in 90 (2 without
/// the fade); at 160 ms, too few of the held-out sentences' fades followed
/// it, and one held-out turn in street noise at 20 dB SNR ended 720 ms
/// after the caller.
pub(super) const FULL_VOICE_MS: u32 = 100;

/// Voiced frames against the caller's active level, as they come.
#[derive(Debug, Clone)]
pub(super) struct Fade {
    /// The longest fade that counts, in samples; 0: off.
    max: u64,
    /// [`FULL_VOICE_MS`] in samples.
    full_min: u64,
    /// Voiced samples since the caller's last frame within [`FADE_RATIO`]
    /// of their active level.
    run: u64,
    /// Voiced samples in a row within it, up to now or to the fade.
    full: u64,
    /// Whether the fade under way began straight after at least
    /// `full_min` of full voice.
    after_full_voice: bool,
}

impl Fade {
    /// Fades up to `max` samples count, after `full_min` samples of full
    /// voice.
    pub(super) fn new(max: u64, full_min: u64) -> Self {
        Self {
            max,
            full_min,
            run: 0,
            full: 0,
            after_full_voice: false,
        }
    }

    /// Starts afresh, for a new utterance or after a pause.
    pub(super) fn clear(&mut self) {
        *self = Self::new(self.max, self.full_min);
    }

    /// Counts a voiced frame of `n` samples in, `under` the fade's level
    /// or not.
    pub(super) fn voiced(&mut self, under: bool, n: u64) {
        if under {
            if self.run == 0 {
                self.after_full_voice = self.full >= self.full_min;
            }
            self.run += n;
            self.full = 0;
        } else {
            self.run = 0;
            self.full += n;
        }
    }

    /// How much of the voice heard last was a fade, in samples, as the
    /// VAD pauses: the fade less the VAD's `hangover` (its voiced frames
    /// after the caller, which the end-of-turn wait already counts), when
    /// it followed full voice and lasted at most the longest that counts;
    /// otherwise 0.
    pub(super) fn faded_for(&self, hangover: u64) -> u64 {
        let fade = self.run.saturating_sub(hangover);
        if self.after_full_voice && fade <= self.max {
            fade
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: u64 = 160;

    fn after_full_voice(frames: u64) -> Fade {
        let mut fade = Fade::new(8 * N, 5 * N);
        for _ in 0..frames {
            fade.voiced(false, N);
        }
        fade
    }

    #[test]
    fn a_short_fade_after_full_voice_counts_less_the_vads_hangover() {
        let mut fade = after_full_voice(5);
        for _ in 0..6 {
            fade.voiced(true, N);
        }
        assert_eq!(fade.faded_for(0), 6 * N);
        assert_eq!(fade.faded_for(4 * N), 2 * N);
    }

    #[test]
    fn quiet_voice_longer_than_a_fade_counts_for_nothing() {
        let mut fade = after_full_voice(50);
        for _ in 0..9 {
            fade.voiced(true, N);
        }
        assert_eq!(fade.faded_for(0), 0);
        // The VAD's hangover is no part of the caller's quiet words.
        assert_eq!(fade.faded_for(N), 8 * N);
    }

    #[test]
    fn quiet_voice_after_a_short_word_is_no_fade() {
        // Quiet words, one louder frame among them, then quiet again: the
        // caller's own quiet speech, not a fade off their full voice.
        let mut fade = after_full_voice(50);
        for _ in 0..4 {
            fade.voiced(true, N);
        }
        fade.voiced(false, N);
        for _ in 0..3 {
            fade.voiced(true, N);
        }
        assert_eq!(fade.faded_for(0), 0);
        fade.clear();
        assert_eq!(fade.faded_for(0), 0);
    }
}
