//! Sample-rate conversion for whole buffers of 16-bit mono audio.
//!
//! Used off the hot path: turning simulator WAV files (espeak-ng writes
//! 22 050 Hz) into 8 kHz for Twilio. Live call audio is 8 kHz on both legs
//! and never needs this. The converter is a Blackman-windowed sinc with
//! its cutoff below the lower Nyquist frequency, so downsampling does not
//! fold 4–11 kHz energy back into the telephone band the way naive linear
//! interpolation would. Coefficients are precomputed per fractional phase.

/// Zero crossings of the sinc on each side of the centre: 16 gives > 60 dB
/// stop-band with a Blackman window, plenty for telephone audio.
const HALF_ZEROS: f64 = 16.0;
/// Passband edge as a fraction of the lower Nyquist frequency; the rest is
/// the transition band.
const PASSBAND: f64 = 0.92;
/// Upper bound on precomputed phases; rates with a larger reduced ratio are
/// rounded to the nearest of this many phases (≤ 1/2048 sample of jitter).
const MAX_PHASES: u64 = 1024;
/// Cap on the kernel's reach in input samples, so absurd rate ratios cost
/// bounded memory (at most `MAX_PHASES * 2 * MAX_REACH` coefficients). It
/// only bites beyond a 1:30 ratio, where the filter is merely shortened.
const MAX_REACH: i64 = 512;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn windowed_sinc(x: f64, cutoff: f64, half_width: f64) -> f64 {
    if x.abs() >= half_width {
        return 0.0;
    }
    let y = std::f64::consts::PI * cutoff * x;
    let sinc = if y.abs() < 1e-12 { 1.0 } else { y.sin() / y };
    let u = std::f64::consts::PI * x / half_width;
    let blackman = 0.42 + 0.5 * u.cos() + 0.08 * (2.0 * u).cos();
    sinc * blackman
}

/// Resamples mono 16-bit audio from `from_hz` to `to_hz`.
///
/// Equal rates return a copy; a zero rate or empty input returns an empty
/// vector. Output length is about `input.len() * to_hz / from_hz`, so a
/// caller taking rates from untrusted files must bound them first (as
/// [`crate::wav::decode_mono_8k`] does).
pub fn resample(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if input.is_empty() || from_hz == 0 || to_hz == 0 {
        return Vec::new();
    }
    if from_hz == to_hz {
        return input.to_vec();
    }
    let (from, to) = (u64::from(from_hz), u64::from(to_hz));
    let cutoff = (to as f64 / from as f64).min(1.0) * PASSBAND;
    // Width of the kernel in input samples: wider when downsampling.
    let half_width = HALF_ZEROS / cutoff;
    let reach = (half_width.ceil() as i64).clamp(1, MAX_REACH);
    let taps = (2 * reach) as usize;
    let g = gcd(from, to);
    let phases = (to / g).min(MAX_PHASES);

    // table[p * taps + j] weighs input sample (i - reach + 1 + j) for an
    // output that falls `p / phases` of the way between input i and i + 1.
    let mut table = vec![0f32; phases as usize * taps];
    for (p, row) in table.chunks_exact_mut(taps).enumerate() {
        let frac = p as f64 / phases as f64;
        let mut sum = 0.0;
        let mut raw = vec![0f64; taps];
        for (j, w) in raw.iter_mut().enumerate() {
            let x = (j as i64 - reach + 1) as f64 - frac;
            *w = windowed_sinc(x, cutoff, half_width);
            sum += *w;
        }
        // Normalise each phase to unity DC gain so levels do not wobble.
        for (dst, w) in row.iter_mut().zip(raw) {
            *dst = (w / sum) as f32;
        }
    }

    let len = input.len() as u64;
    let out_len = (len - 1) * to / from + 1;
    let mut out = Vec::with_capacity(out_len as usize);
    for n in 0..out_len {
        let pos = n * from;
        let i = (pos / to) as i64;
        let phase = ((pos % to) * phases / to) as usize;
        let row = &table[phase * taps..(phase + 1) * taps];
        let start = i - reach + 1;
        let mut acc = 0f32;
        for (j, &w) in row.iter().enumerate() {
            let k = start + j as i64;
            if k >= 0 && (k as u64) < len {
                acc += f32::from(input[k as usize]) * w;
            }
        }
        out.push(acc.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn zero_crossings(x: &[i16]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
    }

    #[test]
    fn equal_rates_return_the_input_unchanged() {
        assert_eq!(resample(&[1, 2, 3], 8000, 8000), [1, 2, 3]);
    }

    #[test]
    fn degenerate_inputs_return_empty_without_panicking() {
        assert!(resample(&[], 22050, 8000).is_empty());
        assert!(resample(&[1, 2], 0, 8000).is_empty());
        assert!(resample(&[1, 2], 8000, 0).is_empty());
        assert_eq!(resample(&[i16::MAX], 22050, 8000).len(), 1);
    }

    #[test]
    fn downsampling_espeak_rate_keeps_a_speech_band_tone() {
        let input = sine(440.0, 22050, 1.0, 10_000.0);
        let out = resample(&input, 22050, 8000);
        assert!((out.len() as i64 - 8000).abs() <= 1, "len {}", out.len());
        // Skip the edges, where the kernel runs off the buffer.
        let middle = &out[400..7600];
        let crossings = zero_crossings(middle) as f64 / (7200.0 / 8000.0);
        assert!((crossings - 880.0).abs() < 6.0, "crossings/s {crossings}");
        let ratio = rms(middle) / rms(&input[1000..21000]);
        assert!((ratio - 1.0).abs() < 0.02, "gain {ratio}");
    }

    #[test]
    fn downsampling_removes_tones_above_the_new_nyquist() {
        // 6 kHz would alias to 2 kHz at 8 kHz without the low-pass filter.
        let input = sine(6000.0, 22050, 0.5, 10_000.0);
        let out = resample(&input, 22050, 8000);
        let ratio = rms(&out[200..out.len() - 200]) / rms(&input);
        assert!(ratio < 0.01, "alias leak {ratio}");
    }

    #[test]
    fn upsampling_preserves_a_tone() {
        let input = sine(1000.0, 8000, 0.5, 8_000.0);
        let out = resample(&input, 8000, 16000);
        assert!((out.len() as i64 - 8000).abs() <= 2);
        let ratio = rms(&out[400..7600]) / rms(&input[200..3800]);
        assert!((ratio - 1.0).abs() < 0.02, "gain {ratio}");
    }

    #[test]
    fn unusual_rate_pairs_fall_back_to_rounded_phases() {
        let input = sine(500.0, 8001, 0.5, 8_000.0);
        let out = resample(&input, 8001, 7993);
        let ratio = rms(&out[200..out.len() - 200]) / rms(&input);
        assert!((ratio - 1.0).abs() < 0.02, "gain {ratio}");
    }
}
