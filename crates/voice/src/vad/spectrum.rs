//! A fine spectrum's likelihood of speech for the VAD: a caller's voiced harmonics heard under steady noise that hides them in every octave band.
//!
//! Street noise at 10 dB SNR buries the quiet end of a sentence in the
//! whole band and in each of the four octave bands ([`super::bands`]): the
//! noise is smooth across frequency and the caller's energy is spread over
//! an octave with it. Voiced speech is not smooth: its energy sits in
//! harmonics of the pitch, 100–250 Hz apart, so in bins 31 Hz wide (a
//! 256-point spectrum of the last 32 ms) the harmonics stand well over the
//! noise even where the octave does not.
//!
//! Each bin from 300 Hz to 3.4 kHz keeps its own noise estimate, tracked
//! frame by frame from the probability that the bin holds speech
//! (Gerkmann & Hendriks, "Unbiased MMSE-based noise power estimation with
//! low complexity and low tracking delay", 2012): a bin that looks like
//! noise moves the estimate towards itself, one that looks like speech
//! hardly moves it. A frame's evidence is the mean over the bins of the
//! log-likelihood ratio of speech against noise under the Gaussian model
//! (Sohn, Kim & Sung, "A statistical model-based voice activity
//! detector", 1999), with each bin's speech-to-noise ratio taken as what
//! the bin shows over its noise.
//!
//! Like the bands, the likelihood counts only while the noise is steady:
//! café babble is voice too, harmonics and all, and the cue would hear the
//! crowd and hold every turn open. It counts while one of the bands was
//! steady within the last [`STEADY_HOLD_MS`]; a caller's long sentence can
//! make every band look unsteady for a moment (its pauses are what show
//! the noise).
//!
//! Measured on the noise set (`tests/noise_set.rs`, see BENCHMARKS.md):
//! street at 10 dB ends 30 of 30 turns on time with 1 cut-off, from 29
//! and 9; at 5 dB 21 and 21, from 14 and 33. Car, café and clean speech
//! end exactly as before.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::{VadConfig, dbfs_to_power, ms_to_samples, presence};

/// Samples per spectrum: 32 ms at 8 kHz, long enough to resolve the
/// harmonics of a low male voice (about 100 Hz apart) in 31 Hz bins.
const FFT_LEN: usize = 256;

/// Bins of a spectrum of [`FFT_LEN`] real samples.
const SPECTRUM_LEN: usize = FFT_LEN / 2 + 1;

/// Scratch the FFT may ask for: realfft's plan for 256 real samples asks
/// for none past its input's length (a test checks).
const SCRATCH_LEN: usize = FFT_LEN;

/// The telephone speech band the bins cover, in Hz: below it lives car
/// and traffic rumble, above it nothing a phone line carries.
const SPEECH_HZ: Range<f32> = 300.0..3_400.0;

/// A bin whose smoothed presence stays over this is taken for noise at
/// least `1 - PRESENCE_CAP` of the time (see [`presence::learn`]).
/// Gerkmann & Hendriks cap at 0.99; on the noise set that learned a step
/// of rumble in 3.5 s and held street turns open, while 0.8 learns it
/// within 2 s and cuts no more callers off.
const PRESENCE_CAP: f32 = 0.8;

/// How long the likelihood keeps counting after the last band was judged
/// steady (see the module doc).
const STEADY_HOLD_MS: u32 = 1_000;

/// A Hann window: each spectrum sees a smooth slice of the line, so one
/// loud harmonic does not leak over every bin.
fn window() -> &'static [f32; FFT_LEN] {
    static WINDOW: OnceLock<[f32; FFT_LEN]> = OnceLock::new();
    WINDOW.get_or_init(|| {
        std::array::from_fn(|i| {
            0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / FFT_LEN as f32).cos()
        })
    })
}

/// One plan for every call: planning allocates and takes microseconds.
fn plan() -> Arc<dyn RealToComplex<f32>> {
    static PLAN: OnceLock<Arc<dyn RealToComplex<f32>>> = OnceLock::new();
    Arc::clone(PLAN.get_or_init(|| RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN)))
}

/// The spectrum's state for one call: what it must remember, about 1 kB.
/// A frame's transform and its per-bin figures live on the stack, which
/// stays in the cache: with a thousand calls a call's own buffers are cold
/// at every frame, and rewriting 4 kB of them cost some 40 cache misses a
/// frame (cachegrind on `examples/vad_load.rs`). Its memory is
/// allocated once, when the call's VAD is made; a frame allocates nothing.
#[derive(Clone)]
pub(super) struct Spectrum {
    fft: Arc<dyn RealToComplex<f32>>,
    /// The last [`FFT_LEN`] samples, a ring whose oldest sample is at
    /// `oldest`: a frame overwrites its own length and moves nothing.
    history: [i16; FFT_LEN],
    oldest: usize,
    bins: Range<usize>,
    /// Each bin's noise power, and its smoothed presence of speech.
    noise: Vec<f32>,
    presence: Vec<f32>,
    /// Whether `noise` holds anything learned yet.
    learned: bool,
    /// No bin's noise is taken to be quieter than this.
    min_noise: f32,
    threshold: f32,
    hold_samples: u64,
    /// Samples since a band was last judged steady.
    since_steady: u64,
    /// Quiet frames not yet learned from (see [`Spectrum::push_quiet`]).
    quiet_frames: u32,
}

impl std::fmt::Debug for Spectrum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spectrum")
            .field("bins", &self.bins)
            .field("threshold", &self.threshold)
            .field("since_steady", &self.since_steady)
            .finish_non_exhaustive()
    }
}

impl Spectrum {
    /// The cue as `config` sets it, or none when its threshold is 0.
    pub(super) fn new(config: &VadConfig, sample_rate: u32) -> Option<Self> {
        let threshold = config.spectrum_threshold.clamp(0.0, 100.0);
        if threshold == 0.0 {
            return None;
        }
        let fft = plan();
        let bin_hz = sample_rate as f32 / FFT_LEN as f32;
        let nyquist_bin = FFT_LEN / 2;
        let bins = ((SPEECH_HZ.start / bin_hz).ceil() as usize).min(nyquist_bin)
            ..((SPEECH_HZ.end / bin_hz) as usize + 1).min(nyquist_bin);
        // White noise at the bands' floor puts this much power in a bin of
        // the windowed spectrum: its power per sample times the window's
        // energy.
        let window_energy: f32 = window().iter().map(|w| w * w).sum();
        let min_noise = dbfs_to_power(config.band_min_energy_dbfs) * window_energy;
        let hold_samples = ms_to_samples(STEADY_HOLD_MS, sample_rate);
        Some(Self {
            fft,
            history: [0; FFT_LEN],
            oldest: 0,
            noise: vec![min_noise; bins.len()],
            presence: vec![0.0; bins.len()],
            bins,
            learned: false,
            min_noise,
            threshold,
            hold_samples,
            since_steady: hold_samples,
            quiet_frames: 0,
        })
    }

    pub(super) fn reset(&mut self) {
        self.history = [0; FFT_LEN];
        self.oldest = 0;
        self.noise.fill(self.min_noise);
        self.presence.fill(0.0);
        self.learned = false;
        self.since_steady = self.hold_samples;
        self.quiet_frames = 0;
    }

    /// Keeps the frame's samples for the next spectrum, and whether the
    /// noise was steady.
    fn take(&mut self, frame: &[i16], steady: bool) {
        let n = frame.len().min(FFT_LEN);
        let newest = &frame[frame.len() - n..];
        let (to_end, from_start) = newest.split_at(n.min(FFT_LEN - self.oldest));
        self.history[self.oldest..self.oldest + to_end.len()].copy_from_slice(to_end);
        self.history[..from_start.len()].copy_from_slice(from_start);
        self.oldest = (self.oldest + n) % FFT_LEN;
        self.since_steady = if steady {
            0
        } else {
            self.since_steady.saturating_add(frame.len() as u64)
        };
    }

    /// Learns from a frame too quiet for the cue to count (see
    /// [`super::Vad::push`]) without its spectrum: every bin of such a
    /// frame lies far under the bins' least noise, so each bin learns what
    /// a bin of silence teaches (see [`Spectrum::learn_quiet_frames`]).
    pub(super) fn push_quiet(&mut self, frame: &[i16], steady: bool) {
        self.take(frame, steady);
        if !self.learned {
            self.noise.fill(self.min_noise);
            self.learned = true;
            return;
        }
        // Counted now, learned when a frame is next heard: on a quiet line
        // that is never, and the bins are not touched at all.
        self.quiet_frames = self.quiet_frames.saturating_add(1);
    }

    /// Learns what the quiet frames since the last heard one teach each
    /// bin: a bin of such a frame holds next to no power, and k of them
    /// are learned in one step ([`presence::learn_silence`]).
    fn learn_quiet_frames(&mut self) {
        let k = std::mem::take(&mut self.quiet_frames);
        if k == 0 {
            return;
        }
        let (kept_noise, kept_presence, empty) = presence::learn_silence(k);
        for (noise, present) in self.noise.iter_mut().zip(&mut self.presence) {
            *noise = (*noise * kept_noise).max(self.min_noise);
            *present = empty + (*present - empty) * kept_presence;
        }
    }

    /// Learns from one frame; whether its bins make speech likely while
    /// the line's noise is steady (`steady`: a band judges it so now).
    pub(super) fn push(&mut self, frame: &[i16], steady: bool) -> bool {
        self.take(frame, steady);
        // Oldest first, in two straight runs (a chained iterator would
        // not vectorise).
        let (newer, older) = self.history.split_at(self.oldest);
        let mut input = [0f32; FFT_LEN];
        let (input_older, input_newer) = input.split_at_mut(older.len());
        let (window_older, window_newer) = window().split_at(older.len());
        for (samples, input, window) in [
            (older, input_older, window_older),
            (newer, input_newer, window_newer),
        ] {
            for ((x, &h), w) in input.iter_mut().zip(samples).zip(window) {
                *x = f32::from(h) * w;
            }
        }
        let mut output = [Complex::default(); SPECTRUM_LEN];
        let mut scratch = [Complex::default(); SCRATCH_LEN];
        // The buffers are the plan's own sizes (see `SCRATCH_LEN`), so
        // this cannot fail.
        let _ = self.fft.process_with_scratch(
            &mut input,
            &mut output,
            &mut scratch[..self.fft.get_scratch_len()],
        );
        self.learn_quiet_frames();
        let spectrum = &output[self.bins.clone()];
        if !self.learned {
            for (noise, bin) in self.noise.iter_mut().zip(spectrum) {
                *noise = bin.norm_sqr().max(self.min_noise);
            }
            self.learned = true;
            return false;
        }
        // This frame's power in each bin, and its ratio to the bin's noise.
        let mut power = [0f32; SPECTRUM_LEN];
        let mut snr = [0f32; SPECTRUM_LEN];
        let (power, snr) = (&mut power[..spectrum.len()], &mut snr[..spectrum.len()]);
        for ((power, snr), (bin, noise)) in power
            .iter_mut()
            .zip(snr.iter_mut())
            .zip(spectrum.iter().zip(&self.noise))
        {
            *power = bin.norm_sqr();
            *snr = *power / noise;
        }
        // Sohn's log-likelihood ratio per bin, with the bin's
        // speech-to-noise ratio estimated as what it shows over the noise
        // (snr - 1): snr - 1 - ln(snr) where snr > 1, else 0. The logs are
        // summed as the log of a product, eight bins at a time (each
        // factor at most 1e4, so the product stays finite in f32).
        let excess: f32 = snr.iter().map(|&snr| (snr - 1.0).max(0.0)).sum();
        let logs: f32 = snr
            .chunks(8)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&snr| snr.clamp(1.0, 1e4))
                    .product::<f32>()
                    .ln()
            })
            .sum();
        let evidence = excess - logs;
        for (((&power, &snr), noise), present) in power
            .iter()
            .zip(snr.iter())
            .zip(&mut self.noise)
            .zip(&mut self.presence)
        {
            presence::learn(noise, present, power, snr, self.min_noise, PRESENCE_CAP);
        }
        let likely = evidence / self.bins.len().max(1) as f32 > self.threshold;
        likely && self.since_steady < self.hold_samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_holds_the_last_samples_oldest_first_whatever_the_frame_lengths() {
        let mut spectrum = Spectrum::new(&VadConfig::default(), 8_000).expect("the spectrum is on");
        let mut line: Vec<i16> = vec![0; FFT_LEN];
        let mut next = 1i16;
        for len in [160, 80, 300, 7, 256, 1, 159, 160, 160] {
            let frame: Vec<i16> = (0..len)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            line.extend(&frame);
            spectrum.take(&frame, true);
            let (newer, older) = spectrum.history.split_at(spectrum.oldest);
            let held: Vec<i16> = older.iter().chain(newer).copied().collect();
            assert_eq!(held, line[line.len() - FFT_LEN..], "after a frame of {len}");
        }
    }

    #[test]
    fn the_plan_needs_no_more_scratch_than_the_stack_holds() {
        assert!(plan().get_scratch_len() <= SCRATCH_LEN);
        assert_eq!(plan().len(), FFT_LEN);
        assert_eq!(plan().complex_len(), SPECTRUM_LEN);
    }

    #[test]
    fn quiet_frames_learned_at_once_teach_each_bin_what_silent_frames_taught_one_by_one() {
        let config = VadConfig::default();
        let mut one_by_one = Spectrum::new(&config, 8_000).expect("the spectrum is on");
        // Hiss with a tone in it, so the bins' noise and presence differ.
        let mut state = 1u32;
        let mut hiss = |i: usize| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let tone = 3_000.0 * (i as f32 * 0.7).sin();
            (f32::from((state >> 20) as u16) - 2_048.0 + tone) as i16
        };
        let loud: Vec<Vec<i16>> = (0..40)
            .map(|f| (0..160).map(|i| hiss(f * 160 + i)).collect())
            .collect();
        let silence = [0i16; 160];
        for frame in &loud[..30] {
            one_by_one.push(frame, true);
        }
        // The first silent frame's spectrum still holds the loud one's
        // last 96 samples; from the next on, the spectrum is silence.
        one_by_one.push(&silence, true);
        let mut at_once = one_by_one.clone();
        for _ in 0..12 {
            one_by_one.push(&silence, true);
            at_once.push_quiet(&silence, true);
        }
        for frame in &loud[30..] {
            assert_eq!(
                one_by_one.push(frame, true),
                at_once.push(frame, true),
                "the same decision"
            );
            for (a, b) in one_by_one.noise.iter().zip(&at_once.noise) {
                assert!((a / b - 1.0).abs() < 1e-3, "noise {a} against {b}");
            }
            for (a, b) in one_by_one.presence.iter().zip(&at_once.presence) {
                assert!((a - b).abs() < 1e-3, "presence {a} against {b}");
            }
        }
    }
}
