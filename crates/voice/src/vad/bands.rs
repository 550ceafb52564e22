//! Speech-band energy for the VAD: a caller's quiet words heard under steady noise in the bands where that noise is weak.
//!
//! Street and traffic noise is loud low down and weak at 1–3 kHz, where
//! speech keeps its formants, so speech under it in the whole band is
//! still above it in a band. Each of four bands (an octave wide, centred at
//! 400, 800, 1600 and 3000 Hz) keeps its own noise estimate, tracked frame
//! by frame from the probability that the band holds speech
//! ([`super::presence`]), and makes a frame energetic when it and the
//! frame before it are [`VadConfig::band_threshold_db`] over that
//! estimate. The estimate follows a passing car's swell as it rises; the
//! minimum of the last 2 s, which the bands used before, lagged behind it,
//! so the swell's upper edge in the 400 Hz band kept street turns open
//! (BENCHMARKS.md, "Speech bands that follow the street").
//!
//! Such a noise estimate is only fair when the noise is steady: café
//! babble is speech too, seldom near its quietest, so the bands would hear
//! the crowd and hold every turn open. A band therefore counts only while
//! its levels over the last 4 s are steady: the 20th percentile within
//! [`VadConfig::band_steady_db`] of the minimum. On the noise set's noise
//! alone (median over 4 s windows, `tests/noise_diagnose.rs`) that spread
//! is 2–4 dB for street and car and 11–15 dB for café babble. A caller
//! talking with the usual pauses keeps it low: the pauses show the noise.

use super::{VadConfig, db_to_power_ratio, dbfs_to_power, power_to_dbfs, presence};

/// Centre of each band, in Hz.
const CENTRES_HZ: [f32; 4] = [400.0, 800.0, 1600.0, 3000.0];

/// Quality of each band-pass: about an octave wide.
const Q: f32 = 1.4;

/// Frames of levels over which a band's steadiness is judged (4 s of
/// Twilio's 20 ms frames).
const LEVEL_FRAMES: usize = 200;

/// Before this many frames nothing is judged steady: a few frames of a
/// new call say nothing about its noise.
const MIN_LEVEL_FRAMES: usize = 50;

/// How often, in frames, a band's steadiness is judged again.
const JUDGE_EVERY: u8 = 10;

/// Levels are kept in 1 dB bins from [`LOWEST_DBFS`] up.
const LEVEL_BINS: usize = 128;
const LOWEST_DBFS: f32 = -120.0;

/// A filter state quieter than this is set to zero at the end of a frame
/// (see [`Filters::powers`]).
const SILENT_STATE: f32 = 1e-6;

/// A band's noise estimate never falls more than this under
/// [`VadConfig::band_min_energy_dbfs`], under which no band counts: on a
/// silent line it stays near, and the caller's first word is measured
/// against it.
const MIN_NOISE_UNDER_DB: f32 = 10.0;

/// A band whose smoothed presence stays over this is taken for noise at
/// least `1 - PRESENCE_CAP` of the time (see [`presence::learn`]):
/// Gerkmann & Hendriks' own cap. The spectrum's bins learn faster (0.8);
/// a band at 0.8 took a quiet vowel held 200 ms for noise within its
/// first 150 ms, and through a step up in noise the band's steadiness
/// (below) silences it anyway. On the noise set 0.9 and 0.99 gave the
/// same figures, and 0.8 one more held-out street turn on time at 10 dB.
const PRESENCE_CAP: f32 = 0.99;

/// Number of bands.
const BANDS: usize = CENTRES_HZ.len();

/// The four bands, or none when [`VadConfig::band_steady_db`] is 0.
#[derive(Debug, Clone)]
pub(super) struct Bands {
    filters: Option<Filters>,
    threshold_ratio: f32,
    min_power: f32,
    /// No band's noise is taken to be quieter than this.
    min_noise: f32,
    steady_db: f32,
}

impl Bands {
    pub(super) fn new(config: &VadConfig, sample_rate: u32) -> Self {
        let steady_db = config.band_steady_db.clamp(0.0, 60.0);
        let filters = (steady_db > 0.0).then(|| Filters::new(sample_rate as f32));
        let min_power = dbfs_to_power(config.band_min_energy_dbfs);
        Self {
            filters,
            threshold_ratio: db_to_power_ratio(config.band_threshold_db.clamp(0.0, 60.0)),
            min_power,
            min_noise: min_power * db_to_power_ratio(-MIN_NOISE_UNDER_DB),
            steady_db,
        }
    }

    pub(super) fn reset(&mut self) {
        if let Some(filters) = &mut self.filters {
            filters.reset();
        }
    }

    /// Whether one band or more judges the line's noise steady now.
    pub(super) fn any_steady(&self) -> bool {
        self.filters
            .as_ref()
            .is_some_and(|filters| filters.bands.iter().any(|band| band.steady))
    }

    /// Filters one frame through every band and learns from it; whether a
    /// steady band found it well over its noise.
    pub(super) fn push(&mut self, frame: &[i16]) -> bool {
        let Some(filters) = &mut self.filters else {
            return false;
        };
        let powers = filters.powers(frame);
        self.learn(powers, powers.map(power_to_dbfs))
    }

    /// Learns from a frame too quiet for any band to hear (see
    /// [`super::Vad::push`]) without filtering it: each band's power is
    /// taken as the frame's whole `power`, which no band-pass can exceed,
    /// and the filters rest, their ringing long died away.
    pub(super) fn push_quiet(&mut self, frame: &[i16], power: f32) {
        if let Some(filters) = &mut self.filters {
            filters.rest(frame);
            self.learn([power; BANDS], [power_to_dbfs(power); BANDS]);
        }
    }

    /// Each band's noise, levels and steadiness learn from this frame's
    /// `powers` (and the same as `levels_dbfs`); whether a steady band
    /// found it well over its noise.
    fn learn(&mut self, powers: [f32; BANDS], levels_dbfs: [f32; BANDS]) -> bool {
        let Some(filters) = &mut self.filters else {
            return false;
        };
        filters.since_judged += 1;
        let judge = filters.since_judged >= JUDGE_EVERY;
        if judge {
            filters.since_judged = 0;
        }
        let mut heard = false;
        for (band, power) in filters.bands.iter_mut().zip(powers) {
            if band.noise == 0.0 {
                // A call's first frame: all there is to go on.
                band.noise = power.max(self.min_noise);
                continue;
            }
            // Two frames running: one frame of steady noise stands a few
            // dB over its mean now and then, by chance; two seldom do
            // (BENCHMARKS.md, "Speech bands that follow the street").
            let snr = power / band.noise;
            let over = power > self.min_power && snr > self.threshold_ratio;
            heard |= band.steady && over && band.was_over;
            band.was_over = over;
            presence::learn(
                &mut band.noise,
                &mut band.presence,
                power,
                snr,
                self.min_noise,
                PRESENCE_CAP,
            );
        }
        filters.levels.push(levels_dbfs);
        if judge {
            for (lane, band) in filters.bands.iter_mut().enumerate() {
                (band.steady, band.quietest_fifth_dbfs) =
                    filters.levels.judge(lane, self.steady_db);
            }
        }
        filters.last_dbfs = levels_dbfs;
        heard
    }

    /// How far the last frame's level in each band lies over that band's
    /// quietest fifth of the last 4 s, in dB; `None` with the bands off or
    /// before they have heard [`MIN_LEVEL_FRAMES`].
    pub(super) fn over_quietest_fifth_db(&self) -> Option<[f32; BANDS]> {
        let filters = self.filters.as_ref()?;
        (filters.levels.len >= MIN_LEVEL_FRAMES).then(|| {
            std::array::from_fn(|k| filters.last_dbfs[k] - filters.bands[k].quietest_fifth_dbfs)
        })
    }
}

/// The four band-pass biquads, run side by side over each sample (four
/// independent recurrences the compiler can keep in one vector register),
/// and what each band has learned. RBJ band-pass with 0 dB peak gain,
/// coefficients normalised by a0: b1 is 0 and b2 is -b0.
#[derive(Debug, Clone)]
struct Filters {
    b0: [f32; BANDS],
    a1: [f32; BANDS],
    a2: [f32; BANDS],
    /// The last two inputs (shared by all bands) and outputs.
    x: [f32; 2],
    y1: [f32; BANDS],
    y2: [f32; BANDS],
    /// Frames since the bands' steadiness was last judged.
    since_judged: u8,
    bands: [Band; BANDS],
    levels: Levels<BANDS>,
    /// The last frame's level in each band, in dBFS.
    last_dbfs: [f32; BANDS],
}

/// What one band has learned of the line, besides its levels.
#[derive(Debug, Clone)]
struct Band {
    /// The band's noise power (0 before the call's first frame), and its
    /// smoothed presence of speech.
    noise: f32,
    presence: f32,
    /// Whether the last frame stood [`VadConfig::band_threshold_db`] over
    /// the noise.
    was_over: bool,
    steady: bool,
    /// The band's quietest fifth of the last 4 s, in dBFS, as last judged.
    quietest_fifth_dbfs: f32,
}

impl Filters {
    fn new(sample_rate: f32) -> Self {
        let mut b0 = [0.0; BANDS];
        let mut a1 = [0.0; BANDS];
        let mut a2 = [0.0; BANDS];
        for (k, centre) in CENTRES_HZ.iter().enumerate() {
            // Kept under Nyquist for a low sample rate.
            let w0 = std::f32::consts::TAU * centre.min(sample_rate * 0.45) / sample_rate;
            let alpha = w0.sin() / (2.0 * Q);
            let a0 = 1.0 + alpha;
            b0[k] = alpha / a0;
            a1[k] = -2.0 * w0.cos() / a0;
            a2[k] = (1.0 - alpha) / a0;
        }
        let band = Band {
            noise: 0.0,
            presence: 0.0,
            was_over: false,
            steady: false,
            quietest_fifth_dbfs: LOWEST_DBFS,
        };
        Self {
            b0,
            a1,
            a2,
            x: [0.0; 2],
            y1: [0.0; BANDS],
            y2: [0.0; BANDS],
            since_judged: 0,
            bands: std::array::from_fn(|_| band.clone()),
            levels: Levels::new(),
            last_dbfs: [LOWEST_DBFS; BANDS],
        }
    }

    fn reset(&mut self) {
        self.x = [0.0; 2];
        self.y1 = [0.0; BANDS];
        self.y2 = [0.0; BANDS];
        self.since_judged = 0;
        for band in &mut self.bands {
            band.noise = 0.0;
            band.presence = 0.0;
            band.was_over = false;
            band.steady = false;
            band.quietest_fifth_dbfs = LOWEST_DBFS;
        }
        self.levels = Levels::new();
        self.last_dbfs = [LOWEST_DBFS; BANDS];
    }

    /// Leaves the filters as a quiet frame would: its last two samples as
    /// the inputs, and no ringing.
    fn rest(&mut self, frame: &[i16]) {
        let x2 = match frame {
            [.., before_last, _] => f32::from(*before_last),
            _ => self.x[0],
        };
        let x1 = frame.last().map_or(self.x[0], |&s| f32::from(s));
        self.x = [x1, x2];
        self.y1 = [0.0; BANDS];
        self.y2 = [0.0; BANDS];
    }

    /// The frame's power in each band, leaving out its first quarter: a
    /// filter rings on for a few milliseconds after loud audio stops,
    /// energy the frame itself does not have (a burst of hiss followed by
    /// silence would otherwise ring into a low-pitched "onset").
    fn powers(&mut self, frame: &[i16]) -> [f32; BANDS] {
        let [mut x1, mut x2] = self.x;
        let (mut y1, mut y2) = (self.y1, self.y2);
        let settle = frame.len() / 4;
        let mut sums = [0f32; BANDS];
        for (i, &s) in frame.iter().enumerate() {
            let x = f32::from(s);
            let d = x - x2;
            let mut y = [0f32; BANDS];
            for k in 0..BANDS {
                y[k] = self.b0[k] * d - self.a1[k] * y1[k] - self.a2[k] * y2[k];
            }
            (x2, x1) = (x1, x);
            (y2, y1) = (y1, y);
            if i >= settle {
                for k in 0..BANDS {
                    sums[k] += y[k] * y[k];
                }
            }
        }
        self.x = [x1, x2];
        // Ringing dies away towards zero through subnormal floats, each of
        // which costs the CPU a hundred times a normal one: in digital
        // silence that was every sample, ten times the whole VAD's cost.
        // A millionth of the least sample step is silence.
        for y in y1.iter_mut().chain(&mut y2) {
            if y.abs() < SILENT_STATE {
                *y = 0.0;
            }
        }
        (self.y1, self.y2) = (y1, y2);
        let counted = (frame.len() - settle).max(1) as f32;
        sums.map(|sum| sum / counted)
    }
}

/// Each band's levels over the last [`LEVEL_FRAMES`] frames, as
/// histograms of 1 dB bins (fixed size, no allocation). The bands' entries
/// lie side by side, so a frame touches one slot of the ring and a few
/// bins for all of them: with a thousand calls no call's state stays in
/// the cache from one frame to the next, and a ring and a histogram per
/// band made a frame touch up to four cache lines per band.
#[derive(Debug, Clone)]
struct Levels<const LANES: usize> {
    len: usize,
    next: usize,
    ring: [[u8; LANES]; LEVEL_FRAMES],
    /// Frames per bin: at most [`LEVEL_FRAMES`], so a byte holds it.
    counts: [[u8; LANES]; LEVEL_BINS],
}

const _: () = assert!(LEVEL_FRAMES <= u8::MAX as usize);

impl<const LANES: usize> Levels<LANES> {
    fn new() -> Self {
        Self {
            len: 0,
            next: 0,
            ring: [[0; LANES]; LEVEL_FRAMES],
            counts: [[0; LANES]; LEVEL_BINS],
        }
    }

    /// Counts in one frame's level in each lane.
    fn push(&mut self, dbfs: [f32; LANES]) {
        // Saturating float-to-int cast: below -120 dBFS is bin 0.
        let bins =
            dbfs.map(|dbfs| ((dbfs - LOWEST_DBFS).round() as usize).min(LEVEL_BINS - 1) as u8);
        let slot = &mut self.ring[self.next];
        if self.len == LEVEL_FRAMES {
            for (lane, &old) in slot.iter().enumerate() {
                self.counts[usize::from(old)][lane] -= 1;
            }
        } else {
            self.len += 1;
        }
        *slot = bins;
        for (lane, &bin) in bins.iter().enumerate() {
            self.counts[usize::from(bin)][lane] += 1;
        }
        self.next = (self.next + 1) % LEVEL_FRAMES;
    }

    /// Whether `lane`'s 20th percentile is within `spread_db` of its minimum.
    #[cfg(test)]
    fn is_steady(&self, lane: usize, spread_db: f32) -> bool {
        self.judge(lane, spread_db).0
    }

    /// From one walk of `lane`'s histogram: whether its 20th percentile is
    /// within `spread_db` of its minimum (never before
    /// [`MIN_LEVEL_FRAMES`]), and that 20th percentile, in dBFS.
    fn judge(&self, lane: usize, spread_db: f32) -> (bool, f32) {
        let want = self.len.div_ceil(5).max(1);
        let mut seen = 0;
        let mut lowest = None;
        let fifth = self
            .counts
            .iter()
            .enumerate()
            .find_map(|(bin, counts)| {
                let count = usize::from(counts[lane]);
                if count > 0 {
                    lowest.get_or_insert(bin);
                }
                seen += count;
                (seen >= want).then_some(bin)
            })
            .unwrap_or(LEVEL_BINS - 1);
        let steady = self.len >= MIN_LEVEL_FRAMES
            && lowest.is_some_and(|lowest| (fifth - lowest) as f32 <= spread_db);
        (steady, LOWEST_DBFS + fifth as f32)
    }
}

#[cfg(test)]
mod tests;
