//! Synthetic "speech" for the fake TTS: a soft voiced tone with a syllable
//! rhythm. Not silence, so a VAD, an ear or a waveform view can tell it is
//! the agent talking; not noise, so it is pleasant on a demo call.

use std::f64::consts::TAU;

const RATE: f64 = 8_000.0;
/// The speaking voice's pitch, Hz (a low female or high male voice).
const PITCH_HZ: f64 = 180.0;
/// Syllables per second: the envelope's rate.
const SYLLABLES_HZ: f64 = 4.0;
/// Peak amplitude, about −12 dBFS: clearly voiced, never clipping.
const PEAK: f64 = 8_000.0;
/// Fade in and out, ms, so the audio does not click at its edges.
const FADE_MS: f64 = 10.0;

/// `ms` milliseconds of speech-like 8 kHz mu-law.
pub(crate) fn speechlike(ms: u64) -> Vec<u8> {
    let samples = (ms * 8) as usize;
    let fade = FADE_MS * RATE / 1000.0;
    (0..samples)
        .map(|n| {
            let t = n as f64 / RATE;
            // Fundamental plus two weaker harmonics: a buzz like a vowel.
            let voice = (TAU * PITCH_HZ * t).sin()
                + 0.5 * (TAU * 2.0 * PITCH_HZ * t).sin()
                + 0.25 * (TAU * 3.0 * PITCH_HZ * t).sin();
            // Syllables: loud, then a dip that never falls to silence, so a
            // VAD does not cut the reply into pieces.
            let syllable = 0.6 + 0.4 * (TAU * SYLLABLES_HZ * t).sin().abs();
            let edge = (n as f64 / fade).min((samples - n) as f64 / fade).min(1.0);
            let sample = PEAK / 1.75 * voice * syllable * edge;
            voice::mulaw::encode(sample as i16)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speechlike_audio_has_the_asked_length_and_is_loud_enough_to_hear() {
        let audio = speechlike(500);
        assert_eq!(audio.len(), 4_000);
        let rms = (audio
            .iter()
            .map(|&b| f64::from(voice::mulaw::decode(b)).powi(2))
            .sum::<f64>()
            / audio.len() as f64)
            .sqrt();
        assert!(rms > 1_000.0, "rms {rms}");
    }
}
