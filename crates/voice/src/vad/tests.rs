use super::*;
use crate::TWILIO_FRAME_SAMPLES as FRAME;

/// Deterministic white noise (xorshift), uniform in ±amplitude.
struct Noise(u64);

impl Noise {
    fn sample(&mut self, amplitude: f64) -> i16 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        (unit * amplitude) as i16
    }

    fn frames(&mut self, count: usize, amplitude: f64) -> Vec<i16> {
        (0..count * FRAME).map(|_| self.sample(amplitude)).collect()
    }
}

/// A vowel-like signal: 200 Hz fundamental plus harmonics up to 1 kHz.
fn voiced(count: usize, amplitude: f64) -> Vec<i16> {
    (0..count * FRAME)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let mut v = 0.0;
            for (k, weight) in [(1.0, 1.0), (2.0, 0.6), (3.0, 0.4), (4.0, 0.3), (5.0, 0.2)] {
                v += weight * (2.0 * std::f64::consts::PI * 200.0 * k * t).sin();
            }
            (amplitude * v / 2.5) as i16
        })
        .collect()
}

/// White noise through a one-pole low-pass at `pole`, times `gain`.
fn low_passed(noise: &mut Noise, count: usize, amplitude: f64, pole: f64, gain: f64) -> Vec<i16> {
    let mut state = 0.0;
    (0..count * FRAME)
        .map(|_| {
            state = pole * state + (1.0 - pole) * f64::from(noise.sample(amplitude));
            (state * gain) as i16
        })
        .collect()
}

/// Low-passed (brown-ish) noise: rumble with a low crossing rate.
fn rumble(noise: &mut Noise, count: usize, amplitude: f64) -> Vec<i16> {
    low_passed(noise, count, amplitude, 0.85, 3.0)
}

fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| x.saturating_add(y))
        .collect()
}

fn decisions(vad: &mut Vad, audio: &[i16]) -> Vec<bool> {
    audio.chunks(FRAME).map(|f| vad.push(f)).collect()
}

#[test]
fn digital_silence_is_never_speech() {
    let mut vad = Vad::default();
    assert!(
        decisions(&mut vad, &vec![0; 200 * FRAME])
            .iter()
            .all(|v| !v)
    );
}

#[test]
fn low_line_noise_is_never_speech() {
    let mut vad = Vad::default();
    let audio = Noise(7).frames(500, 150.0);
    assert!(decisions(&mut vad, &audio).iter().all(|v| !v));
    assert!(
        vad.noise_floor_dbfs() < -50.0,
        "floor {}",
        vad.noise_floor_dbfs()
    );
}

#[test]
fn a_voiced_signal_is_detected_within_a_frame_and_released_after_the_hangover() {
    let mut vad = Vad::default();
    let mut noise = Noise(1);
    let mut audio = noise.frames(50, 100.0);
    audio.extend(mix(&voiced(50, 4000.0), &noise.frames(50, 100.0)));
    audio.extend(noise.frames(50, 100.0));
    let d = decisions(&mut vad, &audio);
    assert!(d[..50].iter().all(|v| !v));
    assert!(d[50..100].iter().all(|&v| v), "{:?}", &d[50..100]);
    // 80 ms hangover = 4 frames, then silence.
    assert!(d[100..104].iter().all(|&v| v));
    assert!(d[104..].iter().all(|v| !v), "{:?}", &d[100..]);
}

#[test]
fn a_quiet_talker_over_moderate_noise_is_still_detected() {
    let mut vad = Vad::default();
    let mut noise = Noise(3);
    let mut audio = noise.frames(100, 300.0);
    // About 12 dB above the noise (-45 dBFS noise, -33 dBFS voice).
    audio.extend(mix(&voiced(50, 2000.0), &noise.frames(50, 300.0)));
    let d = decisions(&mut vad, &audio);
    assert!(d[..100].iter().all(|v| !v));
    let hits = d[100..].iter().filter(|&&v| v).count();
    assert!(hits >= 48, "only {hits} of 50 speech frames detected");
}

#[test]
fn broadband_noise_bursts_do_not_start_speech() {
    let mut vad = Vad::default();
    let mut noise = Noise(11);
    let mut audio = Vec::new();
    for _ in 0..10 {
        audio.extend(vec![0i16; 25 * FRAME]);
        // 60 ms of loud hiss or a click train.
        audio.extend(noise.frames(3, 12_000.0));
    }
    let voiced_frames = decisions(&mut vad, &audio).iter().filter(|&&v| v).count();
    assert_eq!(voiced_frames, 0);
}

#[test]
fn fricatives_inside_speech_keep_it_voiced() {
    let mut vad = Vad::default();
    let mut noise = Noise(5);
    let mut audio = vec![0i16; 20 * FRAME];
    audio.extend(voiced(10, 4000.0));
    // A 100 ms "ס": hiss with a high crossing rate, at speech level.
    audio.extend(noise.frames(5, 4000.0));
    audio.extend(voiced(10, 4000.0));
    let d = decisions(&mut vad, &audio);
    assert!(d[20..45].iter().all(|&v| v), "{:?}", &d[20..45]);
}

#[test]
fn the_noise_floor_adapts_to_a_step_up_in_rumble_within_the_floor_window() {
    let mut vad = Vad::default();
    let mut noise = Noise(9);
    let quiet = noise.frames(50, 50.0);
    decisions(&mut vad, &quiet);
    // Low-frequency rumble passes the onset test, so it counts as speech
    // until the floor has caught up.
    let loud = rumble(&mut noise, 200, 2000.0);
    let d = decisions(&mut vad, &loud);
    assert!(
        d[..5].iter().any(|&v| v),
        "the step itself should look like speech"
    );
    // The window is 2 s; allow one block (1/6 of it) for the rotation.
    assert!(
        d[120..].iter().all(|v| !v),
        "still voiced after 2.4 s: floor {}",
        vad.noise_floor_dbfs()
    );
    // Speech well above the new floor is detected again.
    let talk = mix(&voiced(25, 12_000.0), &rumble(&mut noise, 25, 2000.0));
    let d = decisions(&mut vad, &talk);
    assert!(d.iter().filter(|&&v| v).count() >= 23);
}

#[test]
fn a_dc_offset_is_not_speech() {
    let mut vad = Vad::default();
    assert!(
        decisions(&mut vad, &vec![3000; 100 * FRAME])
            .iter()
            .all(|v| !v)
    );
}

#[test]
fn any_frame_length_is_accepted_and_gives_consistent_decisions() {
    let audio = [
        vec![0i16; 40 * FRAME],
        voiced(40, 4000.0),
        vec![0; 40 * FRAME],
    ]
    .concat();
    let mut vad = Vad::default();
    assert!(!vad.push(&[]));
    let mut tiny = Vec::new();
    for chunk in audio.chunks(80) {
        tiny.push(vad.push(chunk));
    }
    let mut vad = Vad::default();
    let big: Vec<bool> = audio.chunks(800).map(|c| vad.push(c)).collect();
    assert!(tiny[80..160].iter().all(|&v| v) && tiny[..80].iter().all(|v| !v));
    assert!(big[8..16].iter().all(|&v| v) && big[..8].iter().all(|v| !v));
    // One-sample frames carry no usable power (the mean is the sample) but
    // must still be harmless.
    let mut vad = Vad::default();
    for &s in &audio {
        vad.push(&[s]);
    }
    assert!(!vad.push(&audio[..2]));
}

#[test]
fn reset_forgets_the_noise_floor_and_the_hangover() {
    let mut vad = Vad::default();
    decisions(&mut vad, &voiced(10, 4000.0));
    assert!(vad.is_voiced());
    vad.reset();
    assert!(!vad.is_voiced());
    assert!((vad.noise_floor_dbfs() + 55.0).abs() < 0.1);
}

#[test]
fn extreme_configs_and_samples_do_not_panic() {
    let config = VadConfig {
        sample_rate: 0,
        threshold_db: f32::NAN,
        min_energy_dbfs: 100.0,
        max_onset_zcr: -1.0,
        hangover_ms: u32::MAX,
        floor_window_ms: 0,
        initial_floor_dbfs: f32::NEG_INFINITY,
        band_threshold_db: f32::NAN,
        band_min_energy_dbfs: f32::NEG_INFINITY,
        band_steady_db: 100.0,
        spectrum_threshold: f32::NAN,
    };
    let mut vad = Vad::new(config);
    vad.push(&[i16::MIN; 4000]);
    vad.push(&[i16::MAX, i16::MIN, i16::MAX]);
    let _ = vad.last_energy_dbfs();
}

#[test]
fn the_detector_can_move_to_another_thread() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Vad>();
}

#[test]
fn a_recording_of_silence_has_no_voiced_time_and_a_tone_has_most_of_it() {
    let silence = vec![0i16; 8000 * 3];
    assert_eq!(voiced_ms(&silence, 8000), 0);
    let mut speech = vec![0i16; 8000];
    speech.extend((0..8000 * 2).map(|n| {
        let t = n as f32 / 8000.0;
        ((t * 2.0 * std::f32::consts::PI * 220.0).sin() * 6000.0
            + (t * 2.0 * std::f32::consts::PI * 660.0).sin() * 2000.0) as i16
    }));
    let ms = voiced_ms(&speech, 8000);
    assert!((1600..=2200).contains(&ms), "{ms}");
}

#[test]
fn car_rumble_below_200_hz_is_not_speech_however_loud() {
    let mut vad = Vad::default();
    // 50 Hz and 100 Hz engine tones at about -28 dBFS, as loud as a
    // talker: an energy detector without the high-pass would call every
    // frame speech.
    let engine: Vec<i16> = (0..100 * FRAME)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let w = 2.0 * std::f64::consts::PI * t;
            (1000.0 * (w * 50.0).sin() + 600.0 * (w * 100.0).sin()) as i16
        })
        .collect();
    let mut audio = vec![0i16; 25 * FRAME];
    audio.extend(engine);
    let d = decisions(&mut vad, &audio);
    assert!(
        d.iter().all(|v| !v),
        "{} frames voiced",
        d.iter().filter(|&&v| v).count()
    );
}

#[test]
fn the_loudest_frame_sets_the_level_of_agent_audio() {
    let mut audio = Vec::new();
    crate::mulaw::encode_into(
        &[vec![0i16; 10 * FRAME], voiced(2, 8000.0)].concat(),
        &mut audio,
    );
    let level = loudest_frame_dbfs(&audio);
    // An 8000-peak harmonic mix: about -21 dBFS RMS; the silence around
    // it does not pull the level down.
    assert!((-23.0..-19.0).contains(&level), "{level}");
    assert!(loudest_frame_dbfs(&[]) <= -119.0);
}

/// A steady tone at `hz`.
fn tone(count: usize, hz: f64, amplitude: f64) -> Vec<i16> {
    (0..count * FRAME)
        .map(|i| (amplitude * (std::f64::consts::TAU * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// Traffic noise: white noise through a leaky integrator (brown, falling
/// 6 dB an octave from about 25 Hz), loud low down and faint at 1–3 kHz.
fn traffic(noise: &mut Noise, count: usize, amplitude: f64) -> Vec<i16> {
    low_passed(noise, count, amplitude, 0.98, 8.0)
}

fn without_bands() -> Vad {
    Vad::new(VadConfig {
        band_steady_db: 0.0,
        ..VadConfig::default()
    })
}

/// Syllables: `count` frames of which 10 in every 15 carry a steady tone
/// at `hz` and 5 are gaps (the pauses between syllables).
fn syllables(count: usize, hz: f64, amplitude: f64) -> Vec<i16> {
    tone(count, hz, amplitude)
        .chunks(FRAME)
        .enumerate()
        .flat_map(|(i, f)| {
            let on = i % 15 < 10;
            f.iter().map(move |&s| if on { s } else { 0 })
        })
        .collect()
}

#[test]
fn a_quiet_voice_under_steady_rumble_is_heard_in_a_speech_band() {
    // Traffic at about -31 dBFS, then 3 s of syllables at 1.6 kHz 10 dB
    // under it: the whole band barely moves, the 1600 Hz band rises well
    // over its floor.
    let mut noise = Noise(21);
    let mut audio = traffic(&mut noise, 250, 2000.0);
    let traffic_then = traffic(&mut noise, 150, 2000.0);
    audio.extend(mix(&traffic_then, &syllables(150, 1600.0, 400.0)));
    let with = decisions(&mut Vad::default(), &audio);
    let without = decisions(&mut without_bands(), &audio);
    // (Its first second is a step up from silence; the floors learn it.)
    assert!(
        with[150..250].iter().all(|v| !v),
        "steady rumble alone is not speech"
    );
    let heard = |d: &[bool]| (250..400).filter(|i| (i - 250) % 15 < 10 && d[*i]).count();
    // A band hears two frames running, so each syllable from its second
    // frame on: 90 of 100 at least.
    assert!(heard(&with) >= 90, "bands heard {} of 100", heard(&with));
    assert_eq!(heard(&without), 0, "the whole band alone hears nothing");
}

/// Voiced speech as the spectrum sees it: harmonics of a pitch that
/// glides ±10% around `f0` three times a second (as intonation does, so
/// no harmonic sits in one bin for long), up to 3.4 kHz, the k-th weaker
/// by `1/k^slope`, at about `amplitude` in 16-bit units.
fn voice(count: usize, f0: f64, slope: f64, amplitude: f64) -> Vec<i16> {
    let harmonics = (3400.0 / (f0 * 1.1)) as usize;
    let mut phase = 0.0;
    (0..count * FRAME)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let pitch = f0 * (1.0 + 0.1 * (std::f64::consts::TAU * 3.0 * t).sin());
            phase += std::f64::consts::TAU * pitch / 8000.0;
            let v: f64 = (1..=harmonics)
                .map(|k| (phase * k as f64).sin() / (k as f64).powf(slope))
                .sum();
            (amplitude * v) as i16
        })
        .collect()
}

fn without_spectrum() -> Vad {
    Vad::new(VadConfig {
        spectrum_threshold: 0.0,
        ..VadConfig::default()
    })
}

#[test]
fn a_voice_9_db_under_traffic_noise_is_heard_in_its_harmonics_and_the_noise_alone_is_not() {
    // Traffic at about -31 dBFS falls 6 dB an octave; the voice's
    // harmonics fall 3 dB an octave, so over 1 kHz they stand out of the
    // noise bin by bin while the whole band and each octave band stay
    // within a few dB of their noise.
    let mut noise = Noise(33);
    let mut audio = traffic(&mut noise, 250, 2000.0);
    let traffic_then = traffic(&mut noise, 100, 2000.0);
    let voice = voice(100, 200.0, 0.5, 1000.0);
    let gain = (power(&traffic_then) / power(&voice) / 10f64.powf(0.9)).sqrt();
    let voice: Vec<i16> = voice
        .iter()
        .map(|&s| (f64::from(s) * gain) as i16)
        .collect();
    audio.extend(mix(&traffic_then, &voice));
    let with = decisions(&mut Vad::default(), &audio);
    let without = decisions(&mut without_spectrum(), &audio);
    let voiced = |d: &[bool], frames: std::ops::Range<usize>| frames.filter(|&i| d[i]).count();
    // (Its first second is a step up from silence; the floors learn it.)
    assert_eq!(voiced(&with, 150..250), 0, "traffic alone is not speech");
    assert!(
        voiced(&with, 250..350) >= 95,
        "the spectrum heard {} of 100",
        voiced(&with, 250..350)
    );
    // The upper bands, where the voice (falling 3 dB an octave) comes
    // nearest the traffic (6 dB), hear it now and then; the harmonics are
    // what hear it throughout.
    assert!(
        voiced(&without, 250..350) <= 20,
        "the bands alone heard {} of 100",
        voiced(&without, 250..350)
    );
}

#[test]
fn a_crowd_of_talkers_is_not_heard_in_the_spectrum_since_its_levels_are_never_steady() {
    // Three talkers at once over a quiet line, each in syllables of 100-300 ms: harmonics
    // everywhere, and levels never steady, so the spectrum must leave the
    // crowd to the other cues.
    let mut noise = Noise(34);
    let frames = 400;
    let mut crowd = noise.frames(frames, 60.0);
    for f0 in [110.0, 170.0, 230.0] {
        let talker = voice(frames, f0, 0.5, 300.0);
        let mut frame = 0;
        while frame < frames {
            let syllable = 5 + (noise.sample(1000.0).unsigned_abs() as usize % 11);
            let on = noise.sample(1000.0) > 0;
            for i in frame * FRAME..((frame + syllable).min(frames)) * FRAME {
                if on {
                    crowd[i] = crowd[i].saturating_add(talker[i]);
                }
            }
            frame += syllable;
        }
    }
    let with = decisions(&mut Vad::default(), &crowd);
    let without = decisions(&mut without_spectrum(), &crowd);
    assert_eq!(with, without);
}

fn power(signal: &[i16]) -> f64 {
    signal.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / signal.len() as f64
}

#[test]
fn after_a_second_each_speech_band_reports_how_far_a_frame_stands_over_its_quiet_fifth() {
    let mut vad = Vad::default();
    let mut noise = Noise(7);
    for frame in noise.frames(49, 300.0).chunks(FRAME) {
        vad.push(frame);
        assert_eq!(vad.bands_over_floor_db(), None);
    }
    for frame in noise.frames(51, 300.0).chunks(FRAME) {
        vad.push(frame);
    }
    let steady = vad.bands_over_floor_db().expect("judged after a second");
    assert!(steady.iter().all(|db| db.abs() < 6.0), "{steady:?}");
    // A 1600 Hz tone over the same noise stands out in its own band most.
    let tone: Vec<i16> = (0..FRAME)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (8000.0 * (std::f64::consts::TAU * 1600.0 * t).sin()) as i16
        })
        .collect();
    vad.push(&mix(&tone, &noise.frames(1, 300.0)));
    let over = vad.bands_over_floor_db().unwrap();
    assert!(over[2] > 20.0, "{over:?}");
    assert!(over[2] > over[0] + 10.0, "{over:?}");
}
