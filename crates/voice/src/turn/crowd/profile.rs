//! The caller's spectrum and the room's, learnt as the line goes, and how a frame's spectrum lies between them: cues of whose voice a frame is, for the café network.
//!
//! Levels alone cannot tell a caller's quiet word from a swell of the
//! crowd at the same level. Their spectra differ: a voice has its own
//! shape, and the crowd's many voices average into another. The caller's
//! profile is learnt from the line's loud frames that stand over the
//! room, the room's from the frames at the room's level (BENCHMARKS.md,
//! "The caller's own spectrum against the room's", which measured these
//! cues first).

use crate::vad::MEL_BANDS;

/// Cues per frame: how much nearer the caller's shape the frame lies than
/// the room's, its rise over the room where the caller stands over it,
/// that less its plain mean rise, its largest rise, the rises' spread,
/// and each band's own rise over the room.
pub(super) const SPECTRAL_CUES: usize = 5 + MEL_BANDS;

/// Frames of a kind a profile's mean remembers: about 2 s of them.
const PROFILE_FRAMES: f32 = 100.0;
/// A frame is the caller's to learn from when it lies within this many dB
/// of the line's loud words, and this many over the room.
const CALLER_UNDER_LOUD_DB: f32 = 6.0;
const CALLER_OVER_ROOM_DB: f32 = 6.0;
/// A frame is the room's to learn from within this many dB of the room.
const ROOM_WITHIN_DB: f32 = 2.0;

/// A spectrum's running mean over the frames of one kind.
#[derive(Debug, Clone)]
struct Profile {
    mean: [f32; MEL_BANDS],
    /// Frames learnt, up to [`PROFILE_FRAMES`]: until then the mean is
    /// the plain mean of every frame learnt.
    frames: f32,
}

impl Profile {
    fn new() -> Self {
        Self {
            mean: [0.0; MEL_BANDS],
            frames: 0.0,
        }
    }

    fn learn(&mut self, bands: &[f32; MEL_BANDS]) {
        self.frames = (self.frames + 1.0).min(PROFILE_FRAMES);
        let rate = 1.0 / self.frames;
        for (mean, band) in self.mean.iter_mut().zip(bands) {
            *mean += rate * (band - *mean);
        }
    }

    fn known(&self) -> Option<&[f32; MEL_BANDS]> {
        (self.frames > 0.0).then_some(&self.mean)
    }
}

/// The caller's profile and the room's.
#[derive(Debug, Clone)]
pub(super) struct Profiles {
    caller: Profile,
    room: Profile,
}

impl Profiles {
    pub(super) fn new() -> Self {
        Self {
            caller: Profile::new(),
            room: Profile::new(),
        }
    }

    /// Learns from a frame at `level_dbfs` with these mel bands, on a line
    /// whose room is at `room_dbfs`, from a caller whose loud words reach
    /// `caller_loud_dbfs` (`None` while no caller's utterance is open), and
    /// returns its cues (see [`SPECTRAL_CUES`]); each cue that needs a
    /// profile not learnt yet is 0.
    pub(super) fn hear(
        &mut self,
        bands: &[f32; MEL_BANDS],
        level_dbfs: f32,
        room_dbfs: f32,
        caller_loud_dbfs: Option<f32>,
    ) -> [f32; SPECTRAL_CUES] {
        if caller_loud_dbfs.is_some_and(|loud| {
            level_dbfs >= loud - CALLER_UNDER_LOUD_DB
                && level_dbfs >= room_dbfs + CALLER_OVER_ROOM_DB
        }) {
            self.caller.learn(bands);
        }
        if level_dbfs <= room_dbfs + ROOM_WITHIN_DB {
            self.room.learn(bands);
        }
        let mut cues = [0.0; SPECTRAL_CUES];
        let Some(room) = self.room.known() else {
            return cues;
        };
        // The shape: the bands less their mean, so that a louder frame of
        // the same voice has the same shape.
        let shape = |b: &[f32; MEL_BANDS]| {
            let mean = b.iter().sum::<f32>() / MEL_BANDS as f32;
            b.map(|x| x - mean)
        };
        let distance = |a: &[f32; MEL_BANDS], b: &[f32; MEL_BANDS]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let own = shape(bands);
        let rise: [f32; MEL_BANDS] = std::array::from_fn(|b| bands[b] - room[b]);
        let mean_rise = rise.iter().sum::<f32>() / MEL_BANDS as f32;
        // Where the caller stands over the room, band by band: a matched
        // filter on the caller's voice.
        let (nearer_caller, matched) = match self.caller.known() {
            Some(caller) => {
                let over =
                    std::array::from_fn::<f32, MEL_BANDS, _>(|b| (caller[b] - room[b]).max(0.0));
                let total = over.iter().sum::<f32>() + 1e-9;
                let matched = over.iter().zip(&rise).map(|(o, r)| o / total * r).sum();
                (
                    distance(&own, &shape(room)) - distance(&own, &shape(caller)),
                    matched,
                )
            }
            None => (0.0, 0.0),
        };
        let spread =
            (rise.iter().map(|r| (r - mean_rise).powi(2)).sum::<f32>() / MEL_BANDS as f32).sqrt();
        cues[0] = nearer_caller;
        cues[1] = matched;
        cues[2] = matched - mean_rise;
        cues[3] = rise.iter().copied().fold(f32::MIN, f32::max);
        cues[4] = spread;
        cues[5..].copy_from_slice(&rise);
        cues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: f32 = -45.0;
    const LOUD: f32 = -20.0;

    /// A voice's shape: loud low bands falling away, 10 dB over a flat room.
    fn voice() -> [f32; MEL_BANDS] {
        std::array::from_fn(|b| 60.0 - 2.0 * b as f32)
    }

    /// The crowd's shape: flat.
    fn room() -> [f32; MEL_BANDS] {
        [35.0; MEL_BANDS]
    }

    #[test]
    fn no_cue_is_read_before_the_room_has_been_heard() {
        let mut profiles = Profiles::new();
        // The caller alone: loud, far over the room.
        assert_eq!(
            profiles.hear(&voice(), LOUD, ROOM, Some(LOUD)),
            [0.0; SPECTRAL_CUES]
        );
    }

    #[test]
    fn a_quiet_frame_of_the_callers_shape_reads_nearer_the_caller_than_one_of_the_rooms() {
        let mut profiles = Profiles::new();
        for _ in 0..50 {
            profiles.hear(&room(), ROOM, ROOM, None);
            profiles.hear(&voice(), LOUD, ROOM, Some(LOUD));
        }
        // Both at the same level, 4 dB over the room: neither is learnt from.
        let quiet_word = voice().map(|x| x - 21.0);
        let swell = room().map(|x| x + 4.0);
        let word = profiles.hear(&quiet_word, ROOM + 4.0, ROOM, Some(LOUD));
        let crowd = profiles.hear(&swell, ROOM + 4.0, ROOM, Some(LOUD));
        assert!(
            word[0] > 0.0,
            "the word lies nearer the caller: {}",
            word[0]
        );
        assert!(
            crowd[0] < 0.0,
            "the swell lies nearer the room: {}",
            crowd[0]
        );
        // The swell rises 4 dB in every band; the word rises where the
        // caller is loud, which is what the matched rise weighs.
        assert_eq!(crowd[5..], [4.0; MEL_BANDS]);
        assert!(word[2] > crowd[2], "{} against {}", word[2], crowd[2]);
    }

    #[test]
    fn loud_frames_heard_while_no_caller_speaks_are_not_learnt_as_the_callers() {
        let mut profiles = Profiles::new();
        profiles.hear(&room(), ROOM, ROOM, None);
        // A call's first turn: the crowd's swells are the line's loud words.
        for _ in 0..50 {
            profiles.hear(&room().map(|x| x + 25.0), LOUD, ROOM, None);
        }
        assert_eq!(profiles.caller.known(), None);
        profiles.hear(&voice(), LOUD, ROOM, Some(LOUD));
        assert_eq!(profiles.caller.known(), Some(&voice()));
    }

    #[test]
    fn a_profile_is_the_mean_of_its_frames_until_it_is_full_then_follows_the_newest() {
        let mut profile = Profile::new();
        profile.learn(&[0.0; MEL_BANDS]);
        profile.learn(&[10.0; MEL_BANDS]);
        assert_eq!(profile.known(), Some(&[5.0; MEL_BANDS]));
        for _ in 0..1_000 {
            profile.learn(&[20.0; MEL_BANDS]);
        }
        assert!((profile.known().unwrap()[0] - 20.0).abs() < 1e-3);
    }
}
