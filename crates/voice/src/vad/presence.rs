//! Noise power tracked from the probability that speech is present, one step per frame: what the speech bands and the fine spectrum's bins each know of the line's noise.
//!
//! Gerkmann & Hendriks, "Unbiased MMSE-based noise power estimation with
//! low complexity and low tracking delay" (2012): a frame that looks like
//! noise (little over the estimate) moves the estimate towards itself, one
//! that looks like speech hardly moves it. Noise that swells slowly, a
//! passing car, is followed as it rises, where a minimum over the last
//! seconds lags a whole window behind it and takes the swell for voice.

/// The a priori speech-to-noise ratio assumed of a frame that holds
/// speech, for the presence probability (15 dB, as Gerkmann & Hendriks).
const XI_SPEECH: f32 = 31.6;

/// How much of the noise estimate carries over to the next frame.
const NOISE_SMOOTHING: f32 = 0.8;

/// How much of the smoothed presence carries over to the next frame.
const PRESENCE_SMOOTHING: f32 = 0.9;

/// Learns from one frame whose power is `snr` times the current `noise`
/// (`power` itself): moves `noise`, kept at or over `floor`, and the
/// smoothed `presence` of speech. Once the smoothed presence passes `cap`,
/// each frame is taken for noise at least `1 - cap` of the time, so noise
/// that steps up and stays is learned in the end instead of being heard as
/// speech for good; the lower the cap, the sooner, and the sooner a
/// sustained sound is taken for noise too.
#[inline]
pub(super) fn learn(
    noise: &mut f32,
    presence: &mut f32,
    power: f32,
    snr: f32,
    floor: f32,
    cap: f32,
) {
    // Past this the presence is 1 to f32's precision.
    let mut p = if snr > 30.0 {
        1.0
    } else {
        1.0 / (1.0 + (1.0 + XI_SPEECH) * (-snr * (XI_SPEECH / (1.0 + XI_SPEECH))).exp())
    };
    *presence = PRESENCE_SMOOTHING * *presence + (1.0 - PRESENCE_SMOOTHING) * p;
    if *presence > cap {
        p = p.min(cap);
    }
    let expected = (1.0 - p) * power + p * *noise;
    *noise = (NOISE_SMOOTHING * *noise + (1.0 - NOISE_SMOOTHING) * expected).max(floor);
}

/// What `k` frames with no power teach at once, as
/// `(kept_noise, kept_presence, empty)`: the noise becomes `kept_noise`
/// of itself (before the floor), and the smoothed presence moves towards
/// `empty`, the presence of a frame with no power, keeping
/// `kept_presence` of its distance from it. Each such frame is one step of
/// [`learn`] with `p = empty`; k of them are that step to the k-th power.
pub(super) fn learn_silence(k: u32) -> (f32, f32, f32) {
    let k = i32::try_from(k).unwrap_or(i32::MAX);
    let p = 1.0 / (2.0 + XI_SPEECH);
    let kept_noise = (NOISE_SMOOTHING + (1.0 - NOISE_SMOOTHING) * p).powi(k);
    (kept_noise, PRESENCE_SMOOTHING.powi(k), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `frames` frames, the i-th of power `power(i)`, at `cap`.
    fn fed(
        noise: &mut f32,
        presence: &mut f32,
        frames: usize,
        power: impl Fn(usize) -> f32,
        cap: f32,
    ) {
        for frame in 0..frames {
            let power = power(frame);
            let snr = power / *noise;
            learn(noise, presence, power, snr, 1e-3, cap);
        }
    }

    #[test]
    fn noise_that_rises_slowly_is_followed_as_it_rises() {
        let (mut noise, mut presence) = (1.0f32, 0.0f32);
        // A swell: 12 dB over two seconds of 20 ms frames.
        let swell = |frame: usize| 10f32.powf(1.2 * (frame + 1) as f32 / 100.0);
        fed(&mut noise, &mut presence, 100, swell, 0.99);
        let top = swell(99);
        assert!(
            noise > top / 2.0,
            "the swell's top is learned within 3 dB: {noise} of {top}"
        );
    }

    #[test]
    fn a_voice_is_not_taken_for_noise_until_it_is_held_past_the_cap() {
        let voice = |_| 100.0; // 20 dB over the noise
        for cap in [0.8, 0.99] {
            let (mut noise, mut presence) = (1.0f32, 0.0f32);
            fed(&mut noise, &mut presence, 15, voice, cap);
            assert!(
                noise < 1.26,
                "cap {cap}: 300 ms of voice move the noise {noise}"
            );
        }
        // Held 600 ms, the smoothed presence passes 0.8 but not 0.99.
        let held = |cap| {
            let (mut noise, mut presence) = (1.0f32, 0.0f32);
            fed(&mut noise, &mut presence, 30, voice, cap);
            noise
        };
        assert!(held(0.8) > 10.0, "at 0.8 it is learned: {}", held(0.8));
        assert!(held(0.99) < 1.26, "at 0.99 it is not: {}", held(0.99));
    }

    #[test]
    fn silence_learned_at_once_is_silence_learned_frame_by_frame() {
        let floor = 1e-9;
        let (mut one_by_one, mut presence) = (1.0f32, 0.7f32);
        for _ in 0..7 {
            learn(&mut one_by_one, &mut presence, 0.0, 0.0, floor, 0.8);
        }
        let (kept_noise, kept_presence, p) = learn_silence(7);
        let at_once = kept_noise;
        let presence_at_once = p + (0.7 - p) * kept_presence;
        assert!(
            (one_by_one - at_once).abs() < 1e-5,
            "{one_by_one} vs {at_once}"
        );
        assert!(
            (presence - presence_at_once).abs() < 1e-5,
            "{presence} vs {presence_at_once}"
        );
    }
}
