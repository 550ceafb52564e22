//! Why a turn stays open in noise: for each utterance of the noise set
//! whose end is not detected on time, the voiced runs the VAD reports after
//! the true end, with their level against the caller's speech level and
//! the tracked floor, and their zero-crossing rate.
//!
//! A diagnostic, not a gate: ignored by default, run it with
//! `cargo test -p agentlocator-voice --test noise_diagnose -- --ignored --nocapture`.

#[path = "support/noise.rs"]
mod noise;
#[path = "support/p56.rs"]
mod p56;

use agentlocator_voice::{Vad, mulaw, wav};
use noise::{NoiseFamily, band_powers, high_passed, power};

const CALLER: &[u8] = include_bytes!("fixtures/caller-he.wav");
const SHALOM: &[u8] = include_bytes!("fixtures/shalom.wav");
const RATE: usize = 8_000;
const FRAME: usize = agentlocator_voice::TWILIO_FRAME_SAMPLES;

fn pcm(fixture: &[u8]) -> Vec<i16> {
    wav::decode_mono_8k(&wav::parse(fixture).unwrap()).unwrap()
}

fn secs(s: f32) -> usize {
    (s * RATE as f32) as usize
}

fn zcr(frame: &[i16]) -> f32 {
    let crossings = frame
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f32 / frame.len() as f32
}

/// Peak normalised autocorrelation over 2.5–12.5 ms lags (80–400 Hz pitch).
fn periodicity(frame: &[i16]) -> f32 {
    let mean = frame.iter().map(|&s| f32::from(s)).sum::<f32>() / frame.len() as f32;
    let x: Vec<f32> = frame.iter().map(|&s| f32::from(s) - mean).collect();
    let mut best = 0f32;
    for lag in 20..=100.min(x.len() - 1) {
        let (mut xy, mut xx, mut yy) = (0f32, 0f32, 0f32);
        for i in 0..x.len() - lag {
            xy += x[i] * x[i + lag];
            xx += x[i] * x[i];
            yy += x[i + lag] * x[i + lag];
        }
        best = best.max(xy / (xx * yy).sqrt().max(1e-9));
    }
    best
}

/// One voiced frame: level, floor, crossing rate.
struct Voiced {
    frame: usize,
    level: f32,
    floor: f32,
    zcr: f32,
    periodicity: f32,
}

#[test]
#[ignore = "diagnostic: prints, asserts nothing"]
fn print_what_the_vad_calls_voice_after_each_utterance_ends() {
    let caller = pcm(CALLER);
    let mut shalom = vec![0i16; secs(2.0)];
    shalom.extend(pcm(SHALOM));
    shalom.extend(vec![0i16; secs(2.0)]);
    let babble = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    // The ends the noise set judges against: P.56 on the clean audio,
    // caller-he.wav split into its two utterances in the pause at 10 s.
    let p56_end = |pcm: &[i16]| p56::activity(pcm, FRAME).unwrap().end;
    let split = secs(10.0);
    let caller_ends = vec![p56_end(&caller[..split]), split + p56_end(&caller[split..])];
    let shalom_end = p56_end(&shalom);
    for family in [NoiseFamily::Street, NoiseFamily::Cafe] {
        for snr in [20.0f32, 10.0] {
            for seed in 0..3u64 {
                let cases: [(&str, &[i16], Vec<usize>); 2] = [
                    ("caller", &caller, caller_ends.clone()),
                    ("shalom", &shalom, vec![shalom_end]),
                ];
                for (name, speech, ends) in cases {
                    let raw = family.generate(speech.len(), seed * 31 + snr as u64, &babble);
                    let mixed = noise::mix_at_snr(speech, &raw, snr);
                    let mut vad = Vad::default();
                    let mut enc = Vec::new();
                    let mut dec = Vec::new();
                    let mut voiced = Vec::new();
                    // The caller's level: mean power of the clean speech's
                    // active frames, in the mixed signal's scale.
                    let caller_db = 20.0 * (noise::active_rms(speech) / 32768.0).log10();
                    for (i, f) in mixed.chunks(FRAME).enumerate() {
                        enc.clear();
                        mulaw::encode_into(f, &mut enc);
                        dec.clear();
                        mulaw::decode_into(&enc, &mut dec);
                        let floor = vad.noise_floor_dbfs();
                        if vad.push(&dec) {
                            voiced.push(Voiced {
                                frame: i,
                                level: vad.last_energy_dbfs(),
                                floor,
                                zcr: zcr(&dec),
                                periodicity: periodicity(&dec),
                            });
                        }
                    }
                    let mut inside: Vec<f32> = voiced
                        .iter()
                        .filter(|v| v.level > caller_db - 10.0)
                        .filter(|v| {
                            ends.iter()
                                .any(|&e| v.frame * FRAME < e && v.frame * FRAME + secs(3.0) > e)
                        })
                        .map(|v| v.periodicity)
                        .collect();
                    inside.sort_by(f32::total_cmp);
                    if !inside.is_empty() {
                        let q = |p: f32| inside[((inside.len() - 1) as f32 * p) as usize];
                        println!(
                            "{} {snr} seed {seed} {name}: speech periodicity p10 {:.2} p25 {:.2} p50 {:.2}",
                            family.name(),
                            q(0.1),
                            q(0.25),
                            q(0.5)
                        );
                    }
                    for end in ends {
                        let from = end / FRAME;
                        let after: Vec<&Voiced> = voiced
                            .iter()
                            .filter(|v| v.frame >= from && v.frame < from + 100)
                            .collect();
                        println!(
                            "{} {snr} seed {seed} {name} end {:.2}s caller {caller_db:.1} dBFS:",
                            family.name(),
                            end as f32 / RATE as f32
                        );
                        let mut k = 0;
                        while k < after.len() {
                            let mut j = k;
                            while j + 1 < after.len() && after[j + 1].frame == after[j].frame + 1 {
                                j += 1;
                            }
                            let run = &after[k..=j];
                            let max = run.iter().map(|v| v.level).fold(f32::MIN, f32::max);
                            let zc = run.iter().map(|v| v.zcr).sum::<f32>() / run.len() as f32;
                            let pmax = run.iter().map(|v| v.periodicity).fold(0f32, f32::max);
                            let pmean =
                                run.iter().map(|v| v.periodicity).sum::<f32>() / run.len() as f32;
                            println!(
                                "  +{:>4} ms run {:>4} ms  max {:>6.1} dB (caller {:>5.1}, floor {:>5.1})  zcr {:.2} per mean {:.2} max {:.2}",
                                (run[0].frame - from) * 20,
                                run.len() * 20,
                                max,
                                max - caller_db,
                                max - run[0].floor,
                                zc,
                                pmean,
                                pmax
                            );
                            k = j + 1;
                        }
                    }
                }
            }
        }
    }
}

fn percentile(values: &mut [f32], p: f32) -> f32 {
    values.sort_by(f32::total_cmp);
    values[((values.len() - 1) as f32 * p) as usize]
}

/// How much of the callers' speech no detector can hear: per family and
/// SNR, the share of caller-he.wav's P.56-active frames (clean level over
/// -60 dBFS) whose clean power, high-passed as the VAD hears it, is under
/// the noise's in the same frame (local SNR < 0 dB); and, for street at
/// 10 dB, whether pitch periodicity tells the quiet stretch of its first
/// utterance (5.4–7.48 s) from the noise alone (8.2–12 s).
#[test]
#[ignore = "diagnostic: prints, asserts nothing"]
fn print_how_much_of_the_callers_speech_lies_under_the_noise() {
    let caller = pcm(CALLER);
    let babble = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    let split = secs(10.0);
    let spans: Vec<(usize, usize)> = [(0, split), (split, caller.len())]
        .iter()
        .map(|&(a, b)| {
            let act = p56::activity(&caller[a..b], FRAME).unwrap();
            (a + act.start, a + act.end)
        })
        .collect();
    let clean = high_passed(caller.iter().map(|&s| f32::from(s)));
    for family in NoiseFamily::ALL {
        for snr in [20.0f32, 10.0] {
            let (mut under, mut active) = (0usize, 0usize);
            let (mut quiet_stretch, mut noise_alone) = (Vec::new(), Vec::new());
            for seed in 0..10u64 {
                let raw = family.generate(caller.len(), seed * 31 + snr as u64, &babble);
                let scaled = noise::scale_to_snr(&raw, noise::active_rms(&caller), snr);
                let heard_noise = high_passed(scaled.iter().copied());
                for &(start, end) in &spans {
                    for f in start / FRAME..end.div_ceil(FRAME) {
                        let (a, b) = (f * FRAME, ((f + 1) * FRAME).min(caller.len()));
                        let speech = power(&clean[a..b]);
                        if 10.0 * (speech / (32768.0 * 32768.0)).max(1e-12).log10() < -60.0 {
                            continue;
                        }
                        active += 1;
                        under += usize::from(speech < power(&heard_noise[a..b]));
                    }
                }
                if family == NoiseFamily::Street && snr == 10.0 {
                    let mixed = noise::add(&caller, &scaled);
                    let line = high_passed(mixed.iter().map(|&s| f32::from(s)));
                    let frames = |from: f32, to: f32| {
                        (secs(from) / FRAME..secs(to) / FRAME)
                            .map(|f| f * FRAME..(f + 1) * FRAME)
                            .collect::<Vec<_>>()
                    };
                    let periodic = |r: std::ops::Range<usize>| {
                        let frame: Vec<i16> = line[r].iter().map(|&x| noise::to_i16(x)).collect();
                        periodicity(&frame)
                    };
                    quiet_stretch.extend(frames(5.4, 7.48).into_iter().map(periodic));
                    noise_alone.extend(frames(8.2, 12.0).into_iter().map(periodic));
                }
            }
            println!(
                "{} {snr} dB: {:.0}% of the caller's P.56-active frames are under the noise",
                family.name(),
                100.0 * under as f32 / active.max(1) as f32
            );
            if !quiet_stretch.is_empty() {
                println!(
                    "  periodicity: quiet stretch median {:.2}; noise alone median {:.2}, p90 {:.2}",
                    percentile(&mut quiet_stretch, 0.5),
                    percentile(&mut noise_alone, 0.5),
                    percentile(&mut noise_alone, 0.9)
                );
            }
        }
    }
}

/// How steady each family's noise is in the VAD's speech bands: over 4 s
/// windows of the noise alone (one a second, 10 seeds), the median of the
/// spread between a window's quietest frame and its 20th percentile, in
/// dB. The bands count only where it is at most `VadConfig::band_steady_db`.
#[test]
#[ignore = "diagnostic: prints, asserts nothing"]
fn print_how_steady_each_noise_is_in_the_speech_bands() {
    let caller = pcm(CALLER);
    let babble = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    let window = 200;
    for family in NoiseFamily::ALL {
        for snr in [20.0f32, 10.0] {
            let mut line = String::new();
            for centre in noise::BAND_CENTRES_HZ {
                let mut spreads = Vec::new();
                for seed in 0..10u64 {
                    let raw = family.generate(caller.len(), seed * 31 + snr as u64, &babble);
                    let scaled = noise::scale_to_snr(&raw, noise::active_rms(&caller), snr);
                    let levels: Vec<f32> = band_powers(&scaled, centre, FRAME)
                        .iter()
                        .map(|p| 10.0 * p.max(1e-3).log10())
                        .collect();
                    for start in (0..levels.len().saturating_sub(window)).step_by(50) {
                        let mut w = levels[start..start + window].to_vec();
                        let min = percentile(&mut w, 0.0);
                        spreads.push(percentile(&mut w, 0.2) - min);
                    }
                }
                line += &format!(" {centre} Hz {:.1}", percentile(&mut spreads, 0.5));
            }
            println!("{} {snr} dB: spread in dB by band:{line}", family.name());
        }
    }
}

/// Whether pitch periodicity tells a caller from the café's crowd: per
/// SNR, the spread of [`noise::pitch_periodicity`] over the last 40 ms of each
/// frame of the line (high-passed as the VAD hears it), by what the
/// frame holds: the caller at least as loud as the crowd, the caller
/// 0–6 dB under it, further under, or the crowd alone. 10 seeds.
#[test]
#[ignore = "diagnostic: prints, asserts nothing"]
fn print_how_periodic_the_caller_and_the_crowd_are() {
    let caller = pcm(CALLER);
    let babble = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    let clean = high_passed(caller.iter().map(|&s| f32::from(s)));
    let names = [
        "caller ≥ crowd",
        "caller 0–6 dB under",
        "caller > 6 dB under",
        "crowd alone",
    ];
    for snr in [20.0f32, 10.0, 5.0] {
        let mut by_kind: [Vec<f32>; 4] = Default::default();
        for seed in 0..10u64 {
            let raw = NoiseFamily::Cafe.generate(caller.len(), seed * 31 + snr as u64, &babble);
            let scaled = noise::scale_to_snr(&raw, noise::active_rms(&caller), snr);
            let crowd = high_passed(scaled.iter().copied());
            let mixed = noise::add(&caller, &scaled);
            let line = high_passed(mixed.iter().map(|&s| f32::from(s)));
            for f in 1..caller.len() / FRAME {
                let frame = f * FRAME..(f + 1) * FRAME;
                let speech = power(&clean[frame.clone()]);
                let over_crowd = 10.0 * (speech.max(1e-3) / power(&crowd[frame.clone()])).log10();
                let silent = 10.0 * (speech / (32768.0 * 32768.0)).max(1e-12).log10() < -60.0;
                let kind = match over_crowd {
                    _ if silent => 3,
                    db if db >= 0.0 => 0,
                    db if db >= -6.0 => 1,
                    _ => 2,
                };
                by_kind[kind].push(noise::pitch_periodicity(&line, frame.end, 2 * FRAME));
            }
        }
        for (values, name) in by_kind.iter_mut().zip(names) {
            println!(
                "café {snr} dB, {name}: {} frames, p10 {:.2} p50 {:.2} p90 {:.2}",
                values.len(),
                percentile(values, 0.1),
                percentile(values, 0.5),
                percentile(values, 0.9)
            );
        }
    }
}
