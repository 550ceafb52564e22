//! Voice activity detection: one speech/no-speech decision per frame of
//! 8 kHz telephone audio (any frame length; Twilio sends 20 ms = 160 samples).
//!
//! # Why a home-grown detector and not a crate
//! The candidates in pure Rust (e.g. `earshot`, a small neural VAD) expect
//! 16 kHz audio in 256-sample frames, so every 160-sample Twilio frame would
//! have to be upsampled and re-buffered, adding latency (decisions lag by up
//! to a frame), a resampler and a carry-over buffer per call, and several
//! times the CPU of the whole rest of the inbound path. Telephone speech in
//! a quiet-to-moderate line is separated well by energy over an adaptive
//! noise floor, and the residual false triggers (hold music, coughs, clicks)
//! are handled downstream anyway: the turn detector discards blips shorter
//! than `min_speech_ms`, and the transcript filter drops Whisper's
//! hallucinations. So this module keeps the decision cheap (no allocation
//! per frame; one integer pass over the frame, one more through four band
//! filters run side by side, and one 256-point FFT: about 2 µs per 20 ms
//! frame, 1.1 µs without the FFT; a frame of near silence skips both) and
//! explainable.
//!
//! Measured on the project's noise set (`tests/noise_set.rs`: street, car
//! and café noise at 20/10/5 dB SNR, see `BENCHMARKS.md`), a 200 Hz
//! high-pass was what the energy detector lacked: car rumble kept every
//! utterance open (0 of 30 ends on time at 10 dB) and now ends all 30 in
//! time even at 5 dB. Onset debouncing (40 ms of energy before speech) and
//! a smoothed noise floor were tried and dropped: both cut quiet Hebrew
//! syllables short. Street swells and café babble still hold some turns
//! open; a pause now needs 120 ms of voice to end ([`crate::turn`]), which
//! drops the short peaks but not babble. Four speech bands
//! ([`bands`]) hear a caller's quiet words under steady street noise: at
//! 10 dB SNR 29 of 30 ends on time and 9 cut-offs, from 23 and 16. A fine
//! spectrum ([`spectrum`]) hears most of the rest in the caller's
//! harmonics: 30 of 30 and 1 cut-off.
//!
//! `earshot` 1.2 and the WebRTC VAD (libfvad, `webrtc-vad` 0.4, modes
//! 0–3) were measured on the same set and the same turn detector
//! (BENCHMARKS.md): no false barge-in either, and none ends more turns on
//! time across the set. earshot ends fewer everywhere (street 2/30 at 20
//! dB, car 14/30 at 10 dB; ours 30 and 30). WebRTC's quality mode cut
//! off fewer callers in street noise than our bands alone (3 against 9 at
//! 10 dB; with the spectrum ours cuts off 1) and ends fewer street and
//! car turns on time, and its aggressive mode ends more
//! café turns at 20 dB (12/30 against 2) but cuts callers off in car
//! noise. In café babble at 10 dB both hold every turn open until the
//! line ends (babble *is* voice to them); ours lets go in its dips.
//!
//! # How it decides
//! - **Energy**: the frame's power after a 200 Hz high-pass (no DC, no
//!   car or traffic rumble) must exceed both an absolute floor
//!   (`min_energy_dbfs`) and the tracked noise floor plus `threshold_db`.
//! - **Noise floor**: minimum statistics — the minimum frame power over a
//!   sliding window (`floor_window_ms`, kept as a ring of block minima). Any
//!   stretch of real speech contains pauses, so the minimum follows the line
//!   noise, and after a step up in noise it catches up within one window.
//! - **Speech bands**: a frame is also energetic when one of four bands
//!   (400–3000 Hz) is `band_threshold_db` over that band's own noise,
//!   tracked frame by frame, in this frame and the one before, while the
//!   band's noise is steady (see [`bands`]).
//! - **Spectrum**: or when its 31 Hz bins from 300 Hz to 3.4 kHz, each
//!   over its own noise tracked frame by frame, make speech likely by
//!   `spectrum_threshold`, while the noise is steady and the frame is over
//!   `min_energy_dbfs` (see [`spectrum`]).
//! - **Zero-crossing rate**: speech *onset* also needs a crossing rate below
//!   `max_onset_zcr`. Voiced sounds (vowels, 100–1000 Hz energy) cross
//!   rarely; broadband noise bursts and clicks cross about every other
//!   sample. Once speech is under way the rate is not checked, so fricatives
//!   inside a word (ש, ס, צ) stay voiced.
//! - **Hangover**: after the last energetic frame the decision stays
//!   "voiced" for `hangover_ms`, bridging stop closures and short gaps.
//!
//! End-of-turn logic lives in [`crate::turn`], not here.

/// Tuning for [`Vad`]. All durations are converted to samples once.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Sample rate of the audio pushed (Twilio: 8000).
    pub sample_rate: u32,
    /// How far above the noise floor a frame's power must be, in dB.
    pub threshold_db: f32,
    /// Frames quieter than this (dBFS) are never speech, however quiet the line.
    pub min_energy_dbfs: f32,
    /// Highest zero-crossing rate (crossings per sample, 0..1) that may
    /// *start* speech.
    pub max_onset_zcr: f32,
    /// How long the decision stays voiced after the last energetic frame.
    pub hangover_ms: u32,
    /// Window over which the noise floor is the minimum frame power.
    pub floor_window_ms: u32,
    /// Noise floor assumed before any audio has been seen (dBFS).
    pub initial_floor_dbfs: f32,
    /// How far over its own noise estimate one speech band (see
    /// [`bands`]) must be, in this frame and the one before, for the frame
    /// to count as energetic when the whole band is not, in dB. The
    /// estimate follows the band's mean noise, not its quietest frames:
    /// noise alone seldom stands a few dB over its mean two frames running.
    pub band_threshold_db: f32,
    /// A band quieter than this (dBFS) never counts.
    pub band_min_energy_dbfs: f32,
    /// The bands count only while the line's noise is steady in them: a
    /// spread of at most this many dB between a band's quietest frame and
    /// its 20th percentile over the last 4 s. 0 turns the bands off, and
    /// the spectrum with them.
    pub band_steady_db: f32,
    /// How likely a frame's fine spectrum must make speech for the frame
    /// to count as energetic when neither the whole band nor a band is:
    /// the mean log-likelihood ratio of speech over noise per bin, in nats
    /// (see [`spectrum`]). 0 turns the spectrum off.
    pub spectrum_threshold: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            sample_rate: crate::TWILIO_SAMPLE_RATE,
            threshold_db: 9.0,
            min_energy_dbfs: -48.0,
            max_onset_zcr: 0.35,
            hangover_ms: 80,
            floor_window_ms: 2_000,
            // A typical quiet phone line; a noisier one is learned within one window.
            initial_floor_dbfs: -55.0,
            band_threshold_db: 2.5,
            band_min_energy_dbfs: -50.0,
            band_steady_db: 5.0,
            spectrum_threshold: 1.0,
        }
    }
}

/// Block minima kept for a noise floor: the window is split in this many
/// blocks so that the floor can rise again as old blocks fall out.
const FLOOR_BLOCKS: usize = 6;

/// Minimum statistics: the least frame power over a sliding window, kept
/// as a ring of block minima. Any stretch of real speech contains pauses,
/// so the minimum follows the line noise, and after a step up in noise it
/// catches up within one window.
#[derive(Debug, Clone)]
struct MinTracker {
    block_samples: u64,
    initial: f32,
    fill: u64,
    block_min: f32,
    blocks: [f32; FLOOR_BLOCKS],
    next: usize,
    blocks_min: f32,
}

impl MinTracker {
    fn new(window_samples: u64, initial: f32) -> Self {
        Self {
            block_samples: (window_samples / FLOOR_BLOCKS as u64).max(1),
            initial,
            fill: 0,
            block_min: f32::INFINITY,
            blocks: [initial; FLOOR_BLOCKS],
            next: 0,
            blocks_min: initial,
        }
    }

    fn reset(&mut self) {
        self.fill = 0;
        self.block_min = f32::INFINITY;
        self.blocks = [self.initial; FLOOR_BLOCKS];
        self.next = 0;
        self.blocks_min = self.initial;
    }

    /// The least power of the window so far.
    fn floor(&self) -> f32 {
        self.blocks_min.min(self.block_min)
    }

    /// Counts in a frame of `n` samples whose power is `power`.
    fn push(&mut self, power: f32, n: u64) {
        self.block_min = self.block_min.min(power);
        self.fill += n;
        if self.fill >= self.block_samples {
            self.blocks[self.next] = self.block_min;
            self.next = (self.next + 1) % FLOOR_BLOCKS;
            self.blocks_min = self.blocks.iter().copied().fold(f32::INFINITY, f32::min);
            self.block_min = f32::INFINITY;
            self.fill = 0;
        }
    }
}

/// Pole of each of the two cascaded DC-blocking sections, times 256
/// (0.85): together they cut 50 Hz by ~24 dB and 100 Hz by ~14 dB, and
/// pass the telephone band from 300 Hz within 1 dB. Car and traffic rumble
/// lives below 200 Hz; telephone speech does not.
const HIGH_PASS_POLE: i32 = 218;

/// Full-scale power of a 16-bit sample, so `power / FULL_SCALE` is 0 dBFS
/// for a full-scale square wave.
const FULL_SCALE: f32 = 32768.0 * 32768.0;

fn db_to_power_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// The power of a level in dBFS, clamped to -120..0 dBFS.
fn dbfs_to_power(dbfs: f32) -> f32 {
    FULL_SCALE * db_to_power_ratio(dbfs.clamp(-120.0, 0.0))
}

/// A frame this many dB under the quietest level any cue counts (the
/// whole band's `min_energy_dbfs`, a band's `band_min_energy_dbfs`) is
/// silence to the bands and the spectrum: with the defaults, -70 dBFS,
/// about a mu-law step of hiss.
const QUIET_UNDER_DB: f32 = 20.0;

fn power_to_dbfs(power: f32) -> f32 {
    10.0 * (power / FULL_SCALE).max(1e-12).log10()
}

fn ms_to_samples(ms: u32, sample_rate: u32) -> u64 {
    u64::from(ms) * u64::from(sample_rate) / 1000
}

/// An adaptive energy + zero-crossing voice activity detector.
///
/// Allocates only when created (the spectrum's memory, about 1 kB), so it
/// is `Send`, cheap to create per call, and never allocates per frame.
#[derive(Debug, Clone)]
pub struct Vad {
    threshold_ratio: f32,
    min_power: f32,
    /// Frames at or under this power are silence to the bands and the
    /// spectrum (see [`Vad::push`]).
    quiet_power: f32,
    max_onset_zcr: f32,
    hangover_samples: u64,
    hangover_left: u64,
    floor: MinTracker,
    bands: bands::Bands,
    spectrum: Option<spectrum::Spectrum>,
    voiced: bool,
    last_power: f32,
    /// The two high-pass sections' last input and output.
    high_pass: [(i32, i32); 2],
}

impl Default for Vad {
    fn default() -> Self {
        Self::new(VadConfig::default())
    }
}

impl Vad {
    /// Creates a detector; nonsensical values are clamped rather than rejected.
    pub fn new(config: VadConfig) -> Self {
        let sample_rate = config.sample_rate.max(1);
        let initial_floor = dbfs_to_power(config.initial_floor_dbfs);
        let min_power = dbfs_to_power(config.min_energy_dbfs);
        let band_min_power = dbfs_to_power(config.band_min_energy_dbfs);
        Self {
            threshold_ratio: db_to_power_ratio(config.threshold_db.clamp(0.0, 60.0)),
            min_power,
            quiet_power: min_power.min(band_min_power) * db_to_power_ratio(-QUIET_UNDER_DB),
            max_onset_zcr: config.max_onset_zcr.clamp(0.0, 1.0),
            hangover_samples: ms_to_samples(config.hangover_ms, sample_rate),
            hangover_left: 0,
            floor: MinTracker::new(
                ms_to_samples(config.floor_window_ms, sample_rate),
                initial_floor,
            ),
            bands: bands::Bands::new(&config, sample_rate),
            spectrum: spectrum::Spectrum::new(&config, sample_rate),
            voiced: false,
            last_power: 0.0,
            high_pass: [(0, 0); 2],
        }
    }

    /// Forgets everything learned (noise floor, hangover), as for a new call.
    pub fn reset(&mut self) {
        self.hangover_left = 0;
        self.floor.reset();
        self.bands.reset();
        if let Some(spectrum) = &mut self.spectrum {
            spectrum.reset();
        }
        self.voiced = false;
        self.last_power = 0.0;
        self.high_pass = [(0, 0); 2];
    }

    /// Classifies one frame of linear samples; `true` means speech.
    ///
    /// An empty frame changes nothing and repeats the last decision. Frames
    /// much shorter than 10 ms are accepted but decide poorly: power and
    /// crossing rate need a few pitch periods to mean anything.
    pub fn push(&mut self, frame: &[i16]) -> bool {
        if frame.is_empty() {
            return self.voiced;
        }
        let n = frame.len() as u64;
        let nf = n as f32;
        // Integer accumulation: exact, and faster than floats per sample.
        // i64 cannot overflow: 2^30 per sample times any realistic frame.
        let (sum, sum_sq) = frame.iter().fold((0i64, 0i64), |(sum, sum_sq), &s| {
            let s = i64::from(s);
            (sum + s, sum_sq + s * s)
        });
        let mean = sum as f32 / nf;
        // AC power: a DC offset on the line is not speech.
        let ac_power = (sum_sq as f32 / nf - mean * mean).max(0.0);
        // A frame far under every cue's floor is silence to all of them
        // (see `quiet_power`): it skips the high-pass, the bands' filters
        // and the FFT, which are most of the VAD's cost, and many of a
        // call's frames are the caller listening (BENCHMARKS.md, "inbound
        // path"). Its power stands in for the high-passed one: both are
        // 20 dB under the absolute floor, where a frame is never speech
        // and, as a noise floor, sets no threshold (unless
        // `threshold_db` is over 20).
        let quiet = ac_power <= self.quiet_power;
        let (power, zcr) = if quiet {
            self.rest_high_pass(frame);
            (ac_power, 0.0)
        } else {
            let (filtered, crossings) = self.run_high_pass(frame);
            // The high-passed power drops rumble; the lower of the two
            // also drops the filter's own ringing after a step (a burst
            // ending in silence, an offset appearing), which is energy
            // the input does not have.
            (ac_power.min(filtered / nf), crossings as f32 / nf)
        };
        self.last_power = power;

        let threshold = self
            .min_power
            .max(self.floor.floor() * self.threshold_ratio);
        // The bands and the spectrum learn from every frame: their noise
        // estimates must follow the line. A quiet frame they learn
        // without filtering or a transform.
        let in_a_band = if quiet {
            self.bands.push_quiet(frame, ac_power);
            false
        } else {
            self.bands.push(frame)
        };
        let steady = self.bands.any_steady();
        let in_the_spectrum = self.spectrum.as_mut().is_some_and(|spectrum| {
            if quiet {
                spectrum.push_quiet(frame, steady);
                false
            } else {
                spectrum.push(frame, steady)
            }
        });
        // The spectrum hears faint harmonics; under the absolute floor
        // they are a fade or room tone, not the caller.
        let energetic =
            power > threshold || in_a_band || (in_the_spectrum && power > self.min_power);
        let active = if self.voiced {
            energetic
        } else {
            energetic && zcr <= self.max_onset_zcr
        };
        if active {
            self.hangover_left = self.hangover_samples;
            self.voiced = true;
        } else {
            // Voiced while any hangover is left at the start of the frame,
            // so the tail lasts `hangover_ms` rounded up to whole frames.
            self.voiced = self.hangover_left > 0;
            self.hangover_left = self.hangover_left.saturating_sub(n);
        }

        // Raw frame powers, not smoothed ones: the floor must be able to
        // drop into the short (20–100 ms) gaps between words, or a long
        // sentence would drag it up to speech level. (Measured: averaging
        // over even 40 ms cut utterances short on the noise set.)
        self.floor.push(power, n);
        self.voiced
    }

    /// Runs the two high-pass sections over `frame`: the filtered
    /// frame's summed power, and how often the input crossed zero.
    fn run_high_pass(&mut self, frame: &[i16]) -> (f32, u32) {
        let mut filtered_sq: i64 = 0;
        let mut crossings: u32 = 0;
        let mut previous_negative = frame[0] < 0;
        let mut high_pass = self.high_pass;
        for &s in frame {
            let mut x = i32::from(s);
            for (last_in, last_out) in &mut high_pass {
                let y = x - *last_in + ((*last_out * HIGH_PASS_POLE) >> 8);
                (*last_in, *last_out) = (x, y);
                x = y;
            }
            filtered_sq += i64::from(x) * i64::from(x);
            let negative = s < 0;
            crossings += u32::from(negative != previous_negative);
            previous_negative = negative;
        }
        self.high_pass = high_pass;
        (filtered_sq as f32, crossings)
    }

    /// Leaves the high-pass as a quiet frame would: its last sample as
    /// the first section's input, and no ringing (a quiet frame's own is
    /// a few sample steps, gone within a frame).
    fn rest_high_pass(&mut self, frame: &[i16]) {
        let last = frame.last().map_or(0, |&s| i32::from(s));
        self.high_pass = [(last, 0), (0, 0)];
    }

    /// The last decision returned by [`Vad::push`].
    pub fn is_voiced(&self) -> bool {
        self.voiced
    }

    /// AC power of the last non-empty frame, in dBFS (for logs and tuning).
    pub fn last_energy_dbfs(&self) -> f32 {
        power_to_dbfs(self.last_power)
    }

    /// The current noise-floor estimate, in dBFS.
    pub fn noise_floor_dbfs(&self) -> f32 {
        power_to_dbfs(self.floor.floor())
    }

    /// How far the last frame's level in each of the four speech bands
    /// (400, 800, 1600 and 3000 Hz) lies over that band's quietest fifth of
    /// the last 4 s, in dB; `None` with the bands off or in a call's first
    /// second. The turn detector's crowd score reads it
    /// ([`crate::turn::TurnDetector::push_frame`]).
    pub fn bands_over_floor_db(&self) -> Option<[f32; 4]> {
        self.bands.over_quietest_fifth_db()
    }
}

/// How much of a whole recording is speech, in milliseconds: the VAD run
/// over it in 20 ms frames. Used to gate a voicemail before transcription —
/// Whisper invents text for silence and noise, so audio with (almost) no
/// speech is better not sent at all.
pub fn voiced_ms(pcm: &[i16], sample_rate: u32) -> u32 {
    let frame = (sample_rate as usize / 50).max(1);
    let mut vad = Vad::new(VadConfig {
        sample_rate,
        ..VadConfig::default()
    });
    let voiced = pcm.chunks(frame).filter(|f| vad.push(f)).count();
    u32::try_from(voiced * 20).unwrap_or(u32::MAX)
}

/// The level (AC power) of the loudest 20 ms frame of 8 kHz mu-law audio, in dBFS
/// (`-120` for empty audio): what the call reports as the agent's level
/// to [`crate::TurnDetector::set_agent_level`] while it plays that audio.
pub fn loudest_frame_dbfs(mulaw: &[u8]) -> f32 {
    let loudest = mulaw
        .chunks(crate::TWILIO_FRAME_SAMPLES)
        .map(|frame| {
            // AC power, as the VAD measures the caller: a DC offset makes
            // no echo.
            let n = frame.len() as i64;
            let (sum, sum_sq) = frame.iter().fold((0i64, 0i64), |(s, q), &b| {
                let v = i64::from(crate::mulaw::decode(b));
                (s + v, q + v * v)
            });
            (sum_sq - sum * sum / n) as f32 / n as f32
        })
        .fold(0f32, f32::max);
    power_to_dbfs(loudest)
}

mod bands;
mod presence;
mod spectrum;
#[cfg(test)]
mod tests;
