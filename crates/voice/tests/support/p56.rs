//! Where an utterance ends, by ITU-T P.56 (method B) rather than by eye.
//!
//! P.56's active speech level A is the mean power of the frames above a
//! threshold that itself sits a margin (15.9 dB) below A; the two are
//! solved together by iterating to a fixed point. Speech is then the
//! frames above that threshold, and the utterance ends at the last one.
//! P.56's 200 ms hangover only bridges gaps for the level computation: it
//! does not move where the last active frame is, so it is left out.
//!
//! A standard answer matters here because the end is what the noise set
//! judges the turn detector against: a lenient end (a room-tone tail 40 dB
//! down counted as speech) rewards a detector that holds the turn open.

#![allow(dead_code)]

/// P.56's margin between the active speech level and the activity threshold.
pub const MARGIN_DB: f32 = 15.9;

/// The active speech level of `pcm` and where its speech starts and ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    /// Active speech level, dBFS (mean power of the active frames).
    pub level_dbfs: f32,
    /// First sample of the first active frame.
    pub start: usize,
    /// One past the last sample of the last active frame.
    pub end: usize,
}

fn power(frame: &[i16]) -> f64 {
    frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len() as f64
}

fn dbfs(power: f64) -> f32 {
    (10.0 * (power / (32768.0f64 * 32768.0)).max(1e-12).log10()) as f32
}

/// P.56 method B on `frame`-sample frames of `pcm`; `None` if it is all
/// digital silence.
pub fn activity(pcm: &[i16], frame: usize) -> Option<Activity> {
    let powers: Vec<f64> = pcm.chunks(frame).map(power).collect();
    let margin = 10f64.powf(f64::from(MARGIN_DB) / 10.0);
    // Start from the loudest frame and come down: each step lowers the
    // threshold and admits quieter frames, so A falls monotonically to the
    // largest fixed point, the level of the speech rather than of the pauses.
    let mut level = powers.iter().copied().fold(0f64, f64::max);
    if level <= 0.0 {
        return None;
    }
    for _ in 0..100 {
        let threshold = level / margin;
        let (sum, n) = powers
            .iter()
            .filter(|&&p| p > threshold)
            .fold((0f64, 0usize), |(s, n), &p| (s + p, n + 1));
        let next = sum / n as f64;
        if (next - level).abs() <= level * 1e-9 {
            break;
        }
        level = next;
    }
    let threshold = level / margin;
    let first = powers.iter().position(|&p| p > threshold)?;
    let last = powers.iter().rposition(|&p| p > threshold)?;
    Some(Activity {
        level_dbfs: dbfs(level),
        start: first * frame,
        end: ((last + 1) * frame).min(pcm.len()),
    })
}

/// Where a recording of several utterances splits into one each: the
/// middle of every stretch of at least `min_silence` samples of digital
/// silence (frames of `frame` samples all within ±7) after its first
/// sound, so that P.56 can measure each utterance on its own.
pub fn splits_at_silences(pcm: &[i16], frame: usize, min_silence: usize) -> Vec<usize> {
    let mut splits = Vec::new();
    let mut silent_from = None;
    for (i, chunk) in pcm.chunks(frame).enumerate() {
        let silent = chunk.iter().all(|&s| s.unsigned_abs() < 8);
        match (silent, silent_from) {
            (true, None) => silent_from = Some(i),
            (false, Some(from)) => {
                if from > 0 && (i - from) * frame >= min_silence {
                    splits.push((from + i) / 2 * frame);
                }
                silent_from = None;
            }
            _ => {}
        }
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 160;

    /// 1 s of a 440 Hz tone at `db` dBFS peak.
    fn tone(seconds: f32, db: f32) -> Vec<i16> {
        let amp = 32767.0 * 10f32.powf(db / 20.0);
        (0..(seconds * 8000.0) as usize)
            .map(|i| (amp * (i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin()) as i16)
            .collect()
    }

    fn burst_then_tail(tail_db: f32) -> Vec<i16> {
        let mut pcm = vec![0i16; 8000];
        pcm.extend(tone(1.0, -6.0));
        pcm.extend(tone(1.0, -6.0 - tail_db));
        pcm.extend(vec![0i16; 8000]);
        pcm
    }

    #[test]
    fn a_tail_20_db_under_the_burst_is_not_speech_so_the_end_is_the_bursts() {
        let a = activity(&burst_then_tail(20.0), FRAME).unwrap();
        assert_eq!((a.start, a.end), (8000, 16_000));
        // A 0 dBFS-peak sine is −3 dBFS mean power.
        assert!((a.level_dbfs - -9.0).abs() < 0.1, "{}", a.level_dbfs);
    }

    #[test]
    fn a_tail_10_db_under_the_burst_is_speech_so_the_end_is_the_tails() {
        let a = activity(&burst_then_tail(10.0), FRAME).unwrap();
        assert_eq!((a.start, a.end), (8000, 24_000));
        // Mean of −9 and −19 dBFS over equal time: 10·log10((1 + 0.1) / 2) − 9.
        assert!((a.level_dbfs - -11.6).abs() < 0.1, "{}", a.level_dbfs);
    }

    #[test]
    fn digital_silence_has_no_activity() {
        assert_eq!(activity(&[0i16; 1600], FRAME), None);
    }
}
