//! Deterministic synthetic background noise at 8 kHz (street, car, café) and SNR mixing, for testing turn-taking under noise.
//!
//! Test support, never compiled into the service: the families exist so that the VAD and the
//! turn detector can be measured on the same noise every run (a seed fully
//! determines the output), without checking recordings into the tree. Each
//! family imitates what fools an energy detector on a real line:
//! - **street**: pink + brown noise whose level drifts slowly, with a
//!   passing car every few seconds (a low-frequency swell over 2–4 s);
//! - **car**: low-passed brown rumble plus engine harmonics at 30–120 Hz
//!   whose pitch wanders;
//! - **café**: babble (several time-shifted, pitch-varied copies of real
//!   speech at low level) plus clatter (short bright transients).
//!
//! Output is `f32` in 16-bit sample units at an arbitrary nominal level;
//! [`mix_at_snr`] sets the level that matters.

use std::f32::consts::TAU;

/// The sample rate of everything generated here.
pub const SAMPLE_RATE: u32 = agentlocator_voice::TWILIO_SAMPLE_RATE;

/// A kind of background noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseFamily {
    /// Traffic: pink/brown noise, slow level drift, passing-car swells.
    Street,
    /// Inside a car: low rumble and engine harmonics.
    Car,
    /// A busy café: speech babble and clatter.
    Cafe,
}

impl NoiseFamily {
    /// Every family, in report order.
    pub const ALL: [NoiseFamily; 3] = [NoiseFamily::Street, NoiseFamily::Car, NoiseFamily::Cafe];

    /// A short lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            NoiseFamily::Street => "street",
            NoiseFamily::Car => "car",
            NoiseFamily::Cafe => "cafe",
        }
    }

    /// `samples` of this noise at 8 kHz. `babble` is speech (8 kHz) that
    /// the café family mixes into its crowd; the other families ignore it.
    /// The same arguments always give the same samples.
    pub fn generate(self, samples: usize, seed: u64, babble: &[i16]) -> Vec<f32> {
        match self {
            NoiseFamily::Street => street(samples, seed),
            NoiseFamily::Car => car(samples, seed),
            NoiseFamily::Cafe => cafe(samples, seed, babble),
        }
    }
}

/// A small, fast, seedable generator (xorshift64*): the sets must be
/// identical on every machine and run, which no OS randomness gives.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        // SplitMix64 step so that nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `[-1, 1)`.
    pub fn white(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }
}

fn seconds(s: f32) -> usize {
    (s * SAMPLE_RATE as f32) as usize
}

/// Pink noise (−3 dB/octave) by Paul Kellet's economy filter.
fn pink(samples: usize, rng: &mut Rng) -> Vec<f32> {
    let (mut b0, mut b1, mut b2) = (0f32, 0f32, 0f32);
    (0..samples)
        .map(|_| {
            let w = rng.white();
            b0 = 0.99765 * b0 + w * 0.099_046;
            b1 = 0.96300 * b1 + w * 0.296_516_4;
            b2 = 0.57000 * b2 + w * 1.052_691_3;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect()
}

/// Brown noise (−6 dB/octave): leaky integrated white noise, so it does
/// not wander off to DC.
fn brown(samples: usize, rng: &mut Rng) -> Vec<f32> {
    let mut y = 0f32;
    (0..samples)
        .map(|_| {
            y = 0.995 * y + rng.white();
            y
        })
        .collect()
}

/// One-pole low-pass at `cutoff_hz`, in place.
fn low_pass(signal: &mut [f32], cutoff_hz: f32) {
    let a = (-TAU * cutoff_hz / SAMPLE_RATE as f32).exp();
    let mut y = 0f32;
    for s in signal {
        y = a * y + (1.0 - a) * *s;
        *s = y;
    }
}

fn normalise(signal: &mut [f32]) {
    let rms = rms(signal);
    if rms > 0.0 {
        for s in signal {
            *s *= 1000.0 / rms;
        }
    }
}

/// Root mean square of a whole signal.
pub fn rms(signal: &[f32]) -> f32 {
    if signal.is_empty() {
        return 0.0;
    }
    (signal.iter().map(|s| s * s).sum::<f32>() / signal.len() as f32).sqrt()
}

/// Street noise: see the module doc.
pub fn street(samples: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let pink = pink(samples, &mut rng);
    let brown = brown(samples, &mut rng);
    let mut swell_noise = brown.clone();
    low_pass(&mut swell_noise, 300.0);
    normalise(&mut swell_noise);
    let drift_hz = rng.range(0.1, 0.3);
    let drift_phase = rng.range(0.0, TAU);
    let mut out: Vec<f32> = pink
        .iter()
        .zip(&brown)
        .enumerate()
        .map(|(i, (p, b))| {
            let t = i as f32 / SAMPLE_RATE as f32;
            // ±3 dB of slow drift: traffic density changes.
            let drift = 1.0 + 0.4 * (TAU * drift_hz * t + drift_phase).sin();
            drift * (p * 0.6 + b * 0.08)
        })
        .collect();
    normalise(&mut out);
    // Passing cars: a raised-cosine swell up to ~4× (12 dB) the background.
    let mut at = seconds(rng.range(0.5, 4.0));
    while at < samples {
        let len = seconds(rng.range(2.0, 4.0));
        let gain = rng.range(1.5, 4.0);
        for k in 0..len.min(samples - at) {
            let shape = 0.5 - 0.5 * (TAU * k as f32 / len as f32).cos();
            out[at + k] += gain * shape * swell_noise[at + k];
        }
        at += len + seconds(rng.range(1.0, 6.0));
    }
    out
}

/// Car-cabin noise: see the module doc.
pub fn car(samples: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut rumble = brown(samples, &mut rng);
    low_pass(&mut rumble, 150.0);
    normalise(&mut rumble);
    let base_hz = rng.range(30.0, 40.0);
    let wobble_hz = rng.range(0.05, 0.2);
    let mut phase = [0f32; 3];
    let out = rumble
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let t = i as f32 / SAMPLE_RATE as f32;
            // The engine's pitch wanders ±15 % as the driver accelerates.
            let f0 = base_hz * (1.0 + 0.15 * (TAU * wobble_hz * t).sin());
            let mut engine = 0f32;
            for (h, p) in phase.iter_mut().enumerate() {
                *p = (*p + TAU * f0 * (h + 1) as f32 / SAMPLE_RATE as f32) % TAU;
                engine += p.sin() / (h + 1) as f32;
            }
            r + 500.0 * engine
        })
        .collect::<Vec<_>>();
    let mut out = out;
    normalise(&mut out);
    out
}

/// Café noise: see the module doc. Without `babble` it is clatter over a
/// faint pink bed.
pub fn cafe(samples: usize, seed: u64, babble: &[i16]) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<f32> = pink(samples, &mut rng).iter().map(|p| p * 0.05).collect();
    if !babble.is_empty() {
        // Eight talkers, each the source read from its own offset at its own
        // speed (a crude pitch shift: ±20 %), looping.
        for _ in 0..8 {
            let speed = rng.range(0.8, 1.2);
            let gain = rng.range(0.7, 1.0);
            let mut pos = rng.range(0.0, babble.len() as f32);
            for s in out.iter_mut() {
                let i = pos as usize % babble.len();
                let j = (i + 1) % babble.len();
                let frac = pos.fract();
                *s += gain * (f32::from(babble[i]) * (1.0 - frac) + f32::from(babble[j]) * frac);
                pos += speed;
            }
        }
    }
    normalise(&mut out);
    // Clatter: cups and cutlery, bright bursts decaying in 5–30 ms.
    let mut at = seconds(rng.range(0.1, 1.0));
    while at < samples {
        let decay = seconds(rng.range(0.005, 0.03)) as f32;
        let gain = rng.range(1.0, 4.0) * 1000.0;
        let mut prev = 0f32;
        for k in 0..seconds(0.15).min(samples - at) {
            let w = rng.white();
            // First difference: mostly high frequencies.
            out[at + k] += gain * (w - prev) * (-(k as f32) / decay).exp();
            prev = w;
        }
        at += seconds(rng.range(0.3, 2.0));
    }
    out
}

/// The speech of the project's two fixtures with their pauses cut out
/// (caller-he.wav's utterances at 3.0–7.48 s and 12.76–16.28 s, shalom.wav
/// less half a second each end), scaled to `active_dbfs` of active level:
/// what the noise set's fake agent says and its café crowd talks.
pub fn fixture_speech(caller: &[i16], shalom: &[i16], active_dbfs: f32) -> Vec<i16> {
    let at = |s: f32| (s * SAMPLE_RATE as f32) as usize;
    let mut out = Vec::new();
    out.extend_from_slice(&caller[at(3.0)..at(7.48)]);
    out.extend_from_slice(&caller[at(12.76)..at(16.28)]);
    out.extend_from_slice(&shalom[at(0.5)..shalom.len() - at(0.5)]);
    let gain = 10f32.powf(active_dbfs / 20.0) * 32768.0 / active_rms(&out);
    out.iter().map(|&s| to_i16(f32::from(s) * gain)).collect()
}

/// RMS of `speech` over its active part: 20 ms frames within 30 dB of its
/// loudest frame (pauses and padding would otherwise make it look quieter,
/// and every SNR easier, than it is).
pub fn active_rms(speech: &[i16]) -> f32 {
    let frames: Vec<f32> = speech
        .chunks(agentlocator_voice::TWILIO_FRAME_SAMPLES)
        .map(|f| f.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / f.len() as f32)
        .collect();
    let loudest = frames.iter().copied().fold(0f32, f32::max);
    let active: Vec<f32> = frames.into_iter().filter(|&p| p > loudest * 1e-3).collect();
    if active.is_empty() {
        return 0.0;
    }
    (active.iter().sum::<f32>() / active.len() as f32).sqrt()
}

/// Scales `noise` so that its RMS is `snr_db` below `speech_rms`.
pub fn scale_to_snr(noise: &[f32], speech_rms: f32, snr_db: f32) -> Vec<f32> {
    let noise_rms = rms(noise);
    if noise_rms == 0.0 {
        return noise.to_vec();
    }
    let gain = speech_rms / 10f32.powf(snr_db / 20.0) / noise_rms;
    noise.iter().map(|n| n * gain).collect()
}

/// `speech` plus `noise` (repeated if shorter) at `snr_db`, where the
/// speech level is its [`active_rms`]. Saturates at 16 bits.
pub fn mix_at_snr(speech: &[i16], noise: &[f32], snr_db: f32) -> Vec<i16> {
    add(speech, &scale_to_snr(noise, active_rms(speech), snr_db))
}

/// `speech` plus `noise` as it is (repeated if shorter). Saturates at
/// 16 bits.
pub fn add(speech: &[i16], noise: &[f32]) -> Vec<i16> {
    if noise.is_empty() {
        return speech.to_vec();
    }
    speech
        .iter()
        .zip(noise.iter().cycle())
        .map(|(&s, n)| to_i16(f32::from(s) + n))
        .collect()
}

/// The VAD's speech bands' centres (`vad/bands.rs`), for measuring what
/// those bands hear.
pub const BAND_CENTRES_HZ: [f32; 4] = [400.0, 800.0, 1600.0, 3000.0];

/// The VAD's 200 Hz high-pass (two DC-blocking sections, pole 0.85), in
/// floating point: what the detector can hear of a signal.
pub fn high_passed(signal: impl Iterator<Item = f32>) -> Vec<f32> {
    let mut state = [(0f32, 0f32); 2];
    signal
        .map(|mut x| {
            for (last_in, last_out) in &mut state {
                let y = x - *last_in + 0.85 * *last_out;
                (*last_in, *last_out) = (x, y);
                x = y;
            }
            x
        })
        .collect()
}

/// Mean power of a frame.
pub fn power(frame: &[f32]) -> f32 {
    frame.iter().map(|x| x * x).sum::<f32>() / frame.len().max(1) as f32
}

/// A band's powers in `frame`-sample frames: RBJ band-pass (0 dB peak,
/// Q 1.4) at `centre_hz`, as the VAD's speech bands filter (`vad/bands.rs`).
pub fn band_powers(line: &[f32], centre_hz: f32, frame: usize) -> Vec<f32> {
    let w0 = TAU * centre_hz / SAMPLE_RATE as f32;
    let alpha = w0.sin() / (2.0 * 1.4);
    let (b0, a1, a2) = (
        alpha / (1.0 + alpha),
        -2.0 * w0.cos() / (1.0 + alpha),
        (1.0 - alpha) / (1.0 + alpha),
    );
    let (mut x1, mut x2, mut y1, mut y2) = (0f32, 0f32, 0f32, 0f32);
    let filtered: Vec<f32> = line
        .iter()
        .map(|&x| {
            let y = b0 * (x - x2) - a1 * y1 - a2 * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            y
        })
        .collect();
    filtered.chunks(frame).map(power).collect()
}

/// Peak normalised cross-correlation of the `window` samples of `x`
/// ending at `end` with the same span one pitch period earlier, over
/// periods of 2.5–16.6 ms (60–400 Hz): how strongly one voice's pitch
/// repeats there. Both spans are full
/// length and normalised by their own energies, so short lags gain
/// nothing.
pub fn pitch_periodicity(x: &[f32], end: usize, window: usize) -> f32 {
    const LAGS: std::ops::RangeInclusive<usize> = 20..=133;
    if end < window + LAGS.end() {
        return 0.0;
    }
    let a = &x[end - window..end];
    let energy_a: f32 = a.iter().map(|v| v * v).sum();
    LAGS.map(|lag| {
        let b = &x[end - window - lag..end - lag];
        let energy_b: f32 = b.iter().map(|v| v * v).sum();
        let dot: f32 = a.iter().zip(b).map(|(p, q)| p * q).sum();
        dot / (energy_a * energy_b).sqrt().max(1e-9)
    })
    .fold(0.0, f32::max)
}

/// Rounds and saturates to a 16-bit sample.
pub fn to_i16(x: f32) -> i16 {
    x.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech_like() -> Vec<i16> {
        (0..8000)
            .map(|i| {
                let on = (i / 1600) % 2 == 0;
                if on {
                    (3000.0 * (TAU * 200.0 * i as f32 / 8000.0).sin()) as i16
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_noise_and_another_seed_does_not() {
        for family in NoiseFamily::ALL {
            let babble = speech_like();
            let a = family.generate(4000, 7, &babble);
            assert_eq!(a, family.generate(4000, 7, &babble), "{}", family.name());
            assert_ne!(a, family.generate(4000, 8, &babble), "{}", family.name());
        }
    }

    #[test]
    fn mixing_at_10_db_puts_the_noise_10_db_below_the_active_speech() {
        let speech = speech_like();
        let noise = street(speech.len(), 1);
        let mixed = mix_at_snr(&speech, &noise, 10.0);
        let residual: Vec<f32> = mixed
            .iter()
            .zip(&speech)
            .map(|(&m, &s)| f32::from(m) - f32::from(s))
            .collect();
        let snr = 20.0 * (active_rms(&speech) / rms(&residual)).log10();
        assert!((snr - 10.0).abs() < 0.2, "measured SNR {snr}");
    }

    #[test]
    fn car_noise_lives_below_a_few_hundred_hertz() {
        let noise = car(16_000, 3);
        // A low-frequency signal changes little from one sample to the next.
        let diff: Vec<f32> = noise.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(rms(&diff) < 0.2 * rms(&noise));
    }
}
