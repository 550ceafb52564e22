//! Turn-taking under noise: the VAD and the turn detector, wired as a call
//! wires them, on street, car and café noise at 20/10/5 dB SNR.
//!
//! (a) false barge-in: 200 agent replies of 2–6 s during which the caller
//! is silent, so the caller's leg carries only the noise and the agent's
//! own echo (20–30 dB down); a `BargeIn` or an `UtteranceEnded` would cut
//! the agent off, and any utterance delivered would answer the noise.
//! (b) end of turn: Hebrew utterances in the same noise; each end must be
//! detected within the configured wait + 100 ms, and no `BargeIn` in the
//! silence after it may cancel the reply before it plays.
//!
//! `fixtures/caller-he.wav` (8 kHz PCM16, 21.7 s) has two Hebrew utterances,
//! around 3.0–7.5 s and 12.8–16.3 s. Where each starts and ends is found
//! on the clean file by ITU-T P.56 (`support/p56.rs`), not by eye: a turn
//! ended before that end cut the caller off, one ended more than 100 ms
//! after the wait was late. Run with `--nocapture` for the table:
//! `cargo test -p agentlocator-voice --test noise_set -- --nocapture`.

#[path = "support/noise.rs"]
mod noise;
#[path = "support/p56.rs"]
mod p56;

use agentlocator_voice::resample::resample;
use agentlocator_voice::{
    CrowdReading, EndedBy, TurnConfig, TurnDetector, TurnEvent, Vad, VadConfig, mulaw, wav,
};
use noise::{NoiseFamily, Rng};

const CALLER: &[u8] = include_bytes!("fixtures/caller-he.wav");
const SHALOM: &[u8] = include_bytes!("fixtures/shalom.wav");
/// Six utterances by six other espeak-ng voices, never tuned on
/// (`fixtures/make-held-out-he.sh`).
const HELD_OUT: &[u8] = include_bytes!("fixtures/held-out-he.wav");
const RATE: usize = 8_000;
const FRAME: usize = agentlocator_voice::TWILIO_FRAME_SAMPLES;
/// The business's end-of-turn silence the set is judged against.
const END_SILENCE_MS: u32 = 600;
/// Where caller-he.wav is split into its two utterances, in seconds: in
/// the 5 s pause between them, so that P.56 measures each on its own.
const CALLER_SPLIT: f32 = 10.0;
const SNRS: [f32; 3] = [20.0, 10.0, 5.0];
const REPLIES: usize = 200;
/// Loudness of the agent's TTS on its own leg (active RMS, dBFS).
const AGENT_DBFS: f32 = -18.0;
/// Where the end-of-turn target at SNR ≥ 10 dB is not met yet: babble
/// (café) keeps the VAD voiced after the caller stops. The quiet gate
/// (`TurnConfig::quiet_gate_db`) ignores such voice in a pause only when
/// it is 22 dB under the caller's level, since
/// clean Hebrew of the fixtures has stretches 17–25 dB under it that P.56
/// counts as speech; café babble sits 4–17 dB under. The quiet hold
/// (`TurnConfig::quiet_hold_ms`) bounds how late such a turn ends, see
/// [`HELD_OPEN_MAX_MS`]. The room (`TurnConfig::room_end_db`) ends a turn
/// once the line falls back to the crowd's level, for a caller 18 dB or
/// more over it. At 10 dB, where callers are nearer the crowd, the quiet
/// hold judged against the room (`TurnConfig::room_clear_db`) ends them.
/// In a room of talkers the crowd score (`turn/crowd.rs`) also ends a turn
/// once its summed evidence says where the caller stopped: café at 20 dB
/// 85 on time since a network over 640 ms scores the frames of a caller
/// well over the room (`turn/crowd/net.rs`), 84 since the room end judges
/// the line against the room as it stood when the caller stood out and
/// against the crowd's own ceiling (see `KNOWN_CUT_OFFS`), 82 since a caller clear of the room needs less
/// of that evidence (`turn/crowd.rs`, `STOPPED_NATS_CLEAR`), 81 since it reads the caller's
/// loud words as at least their own level + 7 dB (`LOUD_OVER_CALLER_DB`;
/// 79 at + 6 dB), 72 before, 68 with the room alone; at 10 dB 25 (24).
/// Street at 10 dB came off the list (87 before) when the street network
/// came to hold the VAD's pause and end the turn (`turn/crowd/net.rs`;
/// BENCHMARKS.md, "A street network"): it had ended late where it cut the
/// caller off. The last
/// number is the fewest ends on time of [`END_SEEDS`] × 3 the family may
/// give; a family that starts passing must be taken off the list.
const KNOWN_END_GAPS: [(NoiseFamily, f32, usize); 2] =
    [(NoiseFamily::Cafe, 20.0, 85), (NoiseFamily::Cafe, 10.0, 25)];
/// How late, at most, a turn of a [`KNOWN_END_GAPS`] family may end, past
/// the end of an utterance it did not cut off (ms); held-out café turns
/// at 10 dB SNR and more too. Measured on [`END_SEEDS`] seeds: 2,680
/// (café, 10 dB) and held-out 2,980, since the quiet hold is judged
/// against the room; on the first 10 seeds 2,120 and 1,960, and before
/// that rule 3,320 and, held-out, 23,340.
const HELD_OPEN_MAX_MS: u32 = 3_500;
/// How many noise seeds each family and SNR of the end-of-turn set runs.
const END_SEEDS: u64 = 30;

/// The end-of-turn set's first noise seed: 0, the seeds every floor and
/// ceiling here was measured on, unless `NOISE_SET_FIRST_SEED` says
/// otherwise. Other seeds are for the diagnostics, to check figures on
/// seeds nothing was tuned to (BENCHMARKS.md, "Where it stands"); the
/// gating tests then fail on their floors, which hold seeds 0–29.
/// A value that is not a number stops the run rather than quietly
/// measuring seeds 0–29 again.
fn first_end_seed() -> u64 {
    std::env::var("NOISE_SET_FIRST_SEED").map_or(0, |seed| {
        seed.parse()
            .unwrap_or_else(|_| panic!("NOISE_SET_FIRST_SEED must be a seed number, not {seed:?}"))
    })
}

/// The fewest of the held-out set's 180 ends that must come on time, per
/// family at SNR ≥ 10 dB, on [`END_SEEDS`] seeds. Café at 20 dB: 157 since
/// a frame under the quiet gate is the caller's silence to the café network
/// (`turn/crowd.rs`, `Crowd::follow`; BENCHMARKS.md, "Under the quiet gate,
/// the crowd's"), 156 since the wait counts from the caller's last word the café network is sure of
/// (`turn/crowd.rs`, `SURE_LOG_ODDS`; BENCHMARKS.md, "The wait counts from
/// the caller's last sure word"), 153 since the room is known for a crowd
/// from its first seconds (`turn/room.rs`, `SHARE_FRAMES`; BENCHMARKS.md,
/// "A café known from its first seconds"), 144 since a network over 640 ms
/// scores the frames of a caller well over the room (`turn/crowd/net.rs`;
/// BENCHMARKS.md, "The crowd network inside the detector"), 139 since the
/// room end judges the line against the room as it stood when the caller
/// stood out: it cuts off 5 fewer callers, and 8 more turns end later than
/// the wait + 100 ms (BENCHMARKS.md, "The room end judged against the
/// crowd, not the caller"); 147 since a caller clear of the room needs less
/// evidence, 146 since the crowd score reads the caller's loud words as at
/// least their own level lifted, 140 since it ends café turns
/// (`turn/crowd.rs`), 126 since the room did (`TurnConfig::room_end_db`; 4
/// of 60 on the first 10 seeds before). Car, and street at 20 dB, all since
/// the wait counts from where a fade began (`turn/fade.rs`); 146–151
/// before, each miss by a fade. Street at 10 dB: 177 since the street
/// network holds the VAD's pause and ends the turn (`turn/crowd/net.rs`),
/// 171 since the speech bands follow the street (`vad/bands.rs`), 162
/// before. Café at 10 dB: 1 since then, 2 before: the street network reads
/// a café whose room is not yet judged a crowd. More on time passes; fewer
/// fails.
const HELD_OUT_ON_TIME: [(NoiseFamily, f32, usize); 6] = [
    (NoiseFamily::Street, 20.0, 180),
    (NoiseFamily::Street, 10.0, 177),
    (NoiseFamily::Car, 20.0, 180),
    (NoiseFamily::Car, 10.0, 180),
    (NoiseFamily::Cafe, 20.0, 157),
    (NoiseFamily::Cafe, 10.0, 1),
];
/// How late the held-out set's turns may end on a clean line, in car
/// noise and in street noise at 20 dB (ms after the P.56 end): the
/// target, the end-of-turn wait + 100 ms. espeak-ng ends each utterance
/// in a fade of 100–140 ms at −39…−53 dBFS, under P.56's threshold but
/// plain to hear on a clean line; before the wait counted from where a
/// fade began (`turn/fade.rs`), the fourth utterance's ended its turn
/// 720 ms after the P.56 end in every seed, and the second's and the
/// sixth's in a few, at 720–740 ms (BENCHMARKS.md, "Held-out speakers").
const HELD_OUT_FADE_MAX_MS: u32 = END_SILENCE_MS + 100;
/// Of the held-out set's 6 ends on a clean line, the fewest on time: all
/// (5 before the fade counted, see [`HELD_OUT_FADE_MAX_MS`]).
const HELD_OUT_CLEAN_ON_TIME: usize = 6;
/// How long before the end of a held-out café turn at 10 dB SNR, on
/// average, the guess it is answered from must come, in ms: there the
/// quiet hold ends most turns, and its guess comes 800 ms before (718 on
/// average, measured; 283 when it came 300 ms before, BENCHMARKS.md,
/// "Early guesses on the quiet hold"), so that the reply is ready as the
/// hold ends.
const LOUD_CAFE_LEAD_MS: u32 = 700;

/// The fewest café turns at an SNR that must end on a standing guess (a
/// `Paused` with no `Resumed` after it), on the fixtures (of 90) and on
/// the held-out set (of 180). On the first 10 seeds, at 20 dB: 29 of 30
/// and 59 of 60 since a guess is also made before the quiet hold ends a
/// turn (`HOLD_GUESS_LEAD_MS`), 19 and 49 since one is made where the line
/// falls back to the room (`TurnConfig::room_end_db`), 3 and 5 when the
/// VAD's own pauses were the only ones. At 10 dB, where only the quiet
/// hold ends café turns: 29 and 57, against 1 and 1. On all 30 seeds at
/// 20 dB the fixtures' 87 became 86 when the room end came to judge the
/// line against the crowd's ceiling, and 91 and 182 on all 30 since a
/// network scores the frames of a caller well over the room
/// (`turn/crowd/net.rs`). 90 and 181 since the room is known for a crowd
/// from its first seconds (`turn/room.rs`, `SHARE_FRAMES`): one fixture
/// turn ends on the room 400 ms sooner, 160 ms after shalom.wav's P.56
/// end, and the guess standing then, the quiet hold's early one, lacks
/// its last syllable; eight more end sooner from theirs.
const CAFE_ANSWERED_FROM_GUESSES: [(f32, usize, usize); 2] = [(20.0, 90, 181), (10.0, 87, 171)];
/// Where noise that begins mid-call on a quiet line still makes a turn of
/// its own at SNR ≥ 10 dB before the room has learnt it, and in how many
/// of 30 lines at most. Street at 20 dB: a passing car's swell stands out
/// of the quiet line and the VAD ends it 0.8–2.1 s after the noise
/// begins, before the room has settled on the street (9; 24 more in
/// seeds 30–199). More fails the test; none means the family must come
/// off the list.
const KNOWN_MID_CALL_TURNS: [(NoiseFamily, f32, usize); 1] = [(NoiseFamily::Street, 20.0, 9)];
/// How long after noise begins on a quiet line the room has learnt it: its
/// step found once four fifths of its 2 s reading are the noise (1.6 s,
/// read within 100 ms), then settled 400 ms later. A turn of the noise
/// alone after that is the room taken for the caller.
const ROOM_LEARNS_MS: u32 = 2_200;
/// A failure if café at `snr` answered fewer of its turns from a guess
/// than [`CAFE_ANSWERED_FROM_GUESSES`] asks of the fixtures, or of the
/// held-out set if `held_out`.
fn too_few_answered_from_guesses(
    family: NoiseFamily,
    snr: f32,
    ends: &EndFigures,
    held_out: bool,
) -> Option<String> {
    let (_, fixtures, held) = CAFE_ANSWERED_FROM_GUESSES
        .into_iter()
        .find(|&(s, ..)| family == NoiseFamily::Cafe && s == snr)?;
    let fewest = if held_out { held } else { fixtures };
    (ends.confirmed.len() < fewest).then(|| {
        format!(
            "café at {snr} dB: {}/{} turns answered from a guess",
            ends.confirmed.len(),
            ends.ends
        )
    })
}

/// Where a turn still ends inside the caller's speech at SNR ≥ 10 dB, and
/// how many such ends at most, on the fixtures (90 utterances) and on the
/// held-out set (180). Street at 10 dB buries much of caller-he.wav's
/// first utterance's last second (−35…−44 dBFS, P.56-active) under noise
/// at about −30 dBFS; where the VAD takes the street for voice half the
/// time, it still finds the caller's pauses there, and the room end
/// waits for a crowd (BENCHMARKS.md, "A crowd moves, the street drifts").
/// In café babble the line falls
/// back to the room inside a pause of 300–560 ms in a sentence, through
/// quiet syllables whose 200 ms mean stays within `room_end_db` of it,
/// and the room ends the turn. The first 10 seeds, which the rules were
/// tuned on, gave 1 and 3 for street and none for café: BENCHMARKS.md,
/// "Fresh seeds". The crowd score (`turn/crowd.rs`) cuts off one more
/// held-out caller at 10 dB. Since the speech bands follow the street
/// (`vad/bands.rs`), held-out street at 10 dB cuts off 5, not 4, and ends
/// 9 more turns on time. Café at 20 dB cut off 8 and 6: the room's
/// quietest fifth, filled with the caller's own gaps and quiet words as
/// they spoke, rose to their quiet words' level. Since the room end
/// judges the line against the room as it stood when the caller stood
/// out, 2 and 1 (on seeds 30–149, 20 and 6 against 54 and 17). Street
/// at 10 dB: 0 and 1 since the street network holds the VAD's pause
/// until it hears the caller stop (2 and 5 before). More fails the test;
/// none on the fixtures where some are allowed means the row must be
/// lowered.
const KNOWN_CUT_OFFS: [(NoiseFamily, f32, usize, usize); 3] = [
    (NoiseFamily::Street, 10.0, 0, 1),
    (NoiseFamily::Cafe, 20.0, 2, 1),
    (NoiseFamily::Cafe, 10.0, 2, 3),
];

/// How many cut-offs [`KNOWN_CUT_OFFS`] lets `family` at `snr` on the
/// fixtures and on the held-out set, if listed.
fn known_cut_offs(family: NoiseFamily, snr: f32) -> Option<(usize, usize)> {
    KNOWN_CUT_OFFS
        .iter()
        .find(|(f, s, ..)| (*f, *s) == (family, snr))
        .map(|&(_, _, fixtures, held_out)| (fixtures, held_out))
}

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
    /// The WebRTC VAD (libfvad, through the `webrtc-vad` crate) at 8 kHz
    /// in 20 ms frames, in its mode 0 (quality) to 3 (very aggressive),
    /// for comparison only.
    WebRtc(u8),
    /// RNNoise's voice probability (`nnnoiseless`, its pure-Rust port, a
    /// GRU trained on speech in real noise; 48 kHz, 10 ms frames) over this
    /// many hundredths, on the line upsampled with [`resample`], for
    /// comparison only.
    RnNoise(u8),
    /// Our VAD, overruled by RNNoise (as [`Ear::RnNoise`]) only where the
    /// detector finds the room fools our VAD.
    OursOrRnNoise(u8),
    /// Our VAD and turn detector on the line as RNNoise denoises it (at
    /// 48 kHz, back to 8 kHz), levels and bands included.
    OursDenoised,
    /// Not a detector: a bound on every detector. Given the clean speech
    /// and the noise apart, it hears the caller wherever they are at
    /// least this many dB over the noise, in the full band (high-passed
    /// as ours) or in one of our speech bands, and never hears the noise
    /// as voice. See [`audible_frames`].
    Oracle(i8),
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
    webrtc: webrtc_vad::Vad,
    rnnoise: Box<nnnoiseless::DenoiseState<'static>>,
    /// RNNoise's voice probability for the last 20 ms: the higher of its
    /// two 10 ms frames.
    rnnoise_prob: f32,
    detector: TurnDetector,
    mulaw: Vec<u8>,
    pcm: Vec<i16>,
}

/// earshot's frame: 16 ms at 16 kHz.
const EARSHOT_FRAME: usize = 256;

impl Hearing {
    fn new(ear: Ear) -> Self {
        let vad_config = VadConfig::default();
        // Each detector's own hangover comes off the wait, as the call
        // takes off ours. The WebRTC VAD's after a long burst, in 20 ms
        // frames (libfvad's vad_core.c, kOverHangMax2*): 7 frames in
        // modes 0–1, 5 in modes 2–3. earshot has none.
        let hangover_ms = match ear {
            Ear::Ours => vad_config.hangover_ms,
            Ear::Earshot | Ear::RnNoise(_) | Ear::Oracle(_) => 0,
            Ear::OursOrRnNoise(_) | Ear::OursDenoised => vad_config.hangover_ms,
            Ear::WebRtc(0 | 1) => 140,
            Ear::WebRtc(_) => 100,
        };
        let webrtc_mode = match ear {
            Ear::WebRtc(0) => webrtc_vad::VadMode::Quality,
            Ear::WebRtc(1) => webrtc_vad::VadMode::LowBitrate,
            Ear::WebRtc(2) => webrtc_vad::VadMode::Aggressive,
            _ => webrtc_vad::VadMode::VeryAggressive,
        };
        let turn = TurnConfig {
            end_silence_ms: END_SILENCE_MS - hangover_ms,
            vad_hangover_ms: hangover_ms,
            ..TurnConfig::default()
        };
        // What it hears is the caller, so any of it ends a pause, and no
        // level rule second-guesses it.
        let turn = match ear {
            Ear::Oracle(_) => TurnConfig {
                resume_ms: 0,
                quiet_gate_db: 0,
                quiet_hold_ms: 0,
                ..turn
            },
            _ => turn,
        };
        Self {
            ear,
            vad: Vad::new(vad_config),
            earshot: earshot::Detector::default_boxed(),
            carry: Vec::new(),
            earshot_voiced: false,
            webrtc: webrtc_vad::Vad::new_with_rate_and_mode(
                webrtc_vad::SampleRate::Rate8kHz,
                webrtc_mode,
            ),
            rnnoise: nnnoiseless::DenoiseState::new(),
            rnnoise_prob: 0.0,
            detector: TurnDetector::new(turn),
            mulaw: Vec::new(),
            pcm: Vec::new(),
        }
    }

    /// One 20 ms frame; `wide` is the same 20 ms of the line at 16 kHz
    /// (only read by earshot), `audible` the oracle's decision for it
    /// (only read by the oracle).
    fn push(&mut self, frame: &[i16], wide: &[i16], audible: bool) -> Option<TurnEvent> {
        self.mulaw.clear();
        mulaw::encode_into(frame, &mut self.mulaw);
        self.pcm.clear();
        mulaw::decode_into(&self.mulaw, &mut self.pcm);
        if self.ear == Ear::OursDenoised {
            self.denoise(wide);
        }
        // Our VAD always runs: its level feeds the turn detector either way.
        let ours = self.vad.push(&self.pcm);
        let voiced = match self.ear {
            Ear::Ours | Ear::OursDenoised => ours,
            Ear::Earshot => {
                self.carry.extend_from_slice(wide);
                while self.carry.len() >= EARSHOT_FRAME {
                    let score = self.earshot.predict_i16(&self.carry[..EARSHOT_FRAME]);
                    self.earshot_voiced = score >= 0.5;
                    self.carry.drain(..EARSHOT_FRAME);
                }
                self.earshot_voiced
            }
            // It takes only whole 10/20/30 ms frames: a file's last,
            // partial frame is silence to it.
            Ear::WebRtc(_) => self.webrtc.is_voice_segment(&self.pcm).unwrap_or(false),
            Ear::RnNoise(over) => self.rnnoise_hears(wide, over),
            Ear::OursOrRnNoise(over) => {
                let theirs = self.rnnoise_hears(wide, over);
                if self.detector.room_fools_the_vad() {
                    ours && theirs
                } else {
                    ours
                }
            }
            Ear::Oracle(_) => audible,
        };
        self.detector.push_frame(
            &self.mulaw,
            voiced,
            self.vad.last_energy_dbfs(),
            self.vad.bands_over_floor_db(),
        )
    }
}

impl Hearing {
    /// Replaces the frame's PCM with RNNoise's denoising of `wide` (the
    /// same 20 ms at 48 kHz), averaged back down to 8 kHz: the line carries
    /// nothing over 4 kHz, so six samples' mean is filter enough.
    fn denoise(&mut self, wide: &[i16]) {
        let mut out = [0.0f32; nnnoiseless::FRAME_SIZE];
        self.pcm.clear();
        for chunk in wide.chunks_exact(nnnoiseless::FRAME_SIZE) {
            let input: Vec<f32> = chunk.iter().map(|&s| f32::from(s)).collect();
            self.rnnoise.process_frame(&mut out, &input);
            self.pcm.extend(
                out.chunks_exact(6)
                    .map(|six| (six.iter().sum::<f32>() / 6.0).clamp(-32768.0, 32767.0) as i16),
            );
        }
    }

    /// Whether RNNoise's voice probability for this 20 ms of the 48 kHz
    /// line reaches `over` hundredths.
    fn rnnoise_hears(&mut self, wide: &[i16], over: u8) -> bool {
        let mut out = [0.0f32; nnnoiseless::FRAME_SIZE];
        self.rnnoise_prob = wide
            .chunks_exact(nnnoiseless::FRAME_SIZE)
            .map(|chunk| {
                let input: Vec<f32> = chunk.iter().map(|&s| f32::from(s)).collect();
                self.rnnoise.process_frame(&mut out, &input)
            })
            .fold(0.0, f32::max);
        self.rnnoise_prob * 100.0 >= f32::from(over)
    }
}

/// The line as earshot (16 kHz) or RNNoise (48 kHz) hears it: through
/// mu-law like the 8 kHz path, then upsampled (empty for the others, which
/// do not need it).
fn widen(line: &[i16], ear: Ear) -> Vec<i16> {
    let to_hz = match ear {
        Ear::Earshot => 2 * RATE as u32,
        Ear::RnNoise(_) | Ear::OursOrRnNoise(_) | Ear::OursDenoised => 6 * RATE as u32,
        _ => return Vec::new(),
    };
    let mut law = Vec::new();
    mulaw::encode_into(line, &mut law);
    let mut narrow = Vec::new();
    mulaw::decode_into(&law, &mut narrow);
    resample(&narrow, RATE as u32, to_hz)
}

/// How many times the line's rate `ear` hears at.
fn times(ear: Ear) -> usize {
    match ear {
        Ear::RnNoise(_) | Ear::OursOrRnNoise(_) | Ear::OursDenoised => 6,
        _ => 2,
    }
}

/// Frame `i`'s counterpart in `wide`, `times` the line's rate.
fn wide_frame(wide: &[i16], i: usize, times: usize) -> &[i16] {
    let from = (times * i * FRAME).min(wide.len());
    let to = (times * (i + 1) * FRAME).min(wide.len());
    &wide[from..to]
}

/// The speech the fixtures hold, pauses cut out: what the fake agent says.
fn agent_voice() -> Vec<i16> {
    noise::fixture_speech(&pcm(CALLER), &pcm(SHALOM), AGENT_DBFS)
}

/// The café's crowd talks without the fixtures' long pauses.
fn babble() -> Vec<i16> {
    agent_voice()
}

#[derive(Debug, Default)]
struct BargeFigures {
    /// Replies the noise cut off: a `BargeIn` or an `UtteranceEnded`
    /// during it, since the call stops the agent on either (a short "כן"
    /// over the agent never lasts a barge-in but is the caller taking the
    /// turn).
    false_barge_ins: usize,
    /// Utterances the silent caller's line delivered for transcription:
    /// the noise answered as if the caller had spoken.
    turns: usize,
}

/// (a): 200 agent replies over noise at `snr_db` below the caller's voice,
/// with the echo gate (`gated`) or without it (the agent's level never set).
fn false_barge_ins(family: NoiseFamily, snr_db: f32, gated: bool, ear: Ear) -> BargeFigures {
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
    let mut turns = 0;
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
        let event = hearing.push(frame, wide_frame(&wide, i, times(ear)), false);
        let ended = matches!(event, Some(TurnEvent::UtteranceEnded { .. }));
        turns += usize::from(ended);
        if talking && (ended || event == Some(TurnEvent::BargeIn)) {
            barged[reply] = true;
        }
    }
    BargeFigures {
        false_barge_ins: barged.iter().filter(|&&b| b).count(),
        turns,
    }
}

/// How long after a turn ends the reply starts playing with the
/// benchmark's fakes (STT 300 ms, LLM 300 ms and its first sentence, TTS
/// 150 ms): a `BargeIn` before then cancels the reply, since the caller
/// seems to go on talking.
const REPLY_STARTS_MS: usize = 1_000;

#[derive(Debug, Default)]
struct EndFigures {
    ends: usize,
    /// Turns whose reply a `BargeIn` would cancel before it plays: one
    /// within [`REPLY_STARTS_MS`] of the end, before the caller's next
    /// utterance.
    cancelled: usize,
    /// Ends detected after an utterance started and before it ended.
    cut_offs: usize,
    on_time: usize,
    delays_ms: Vec<u32>,
    /// The longest delay of an utterance that was not cut off, in ms: one
    /// that was may end only with the caller's next sentence.
    held_open_ms: u32,
    /// Guesses offered (`Paused`).
    guesses: usize,
    /// Guesses offered for a check (`StillPaused`), and of those, the
    /// ones whose audio held words the guess had not: the call answers
    /// the check's audio instead.
    checks: usize,
    checks_taken: usize,
    /// For each turn that ended on a standing guess, how long before its
    /// end the guess was offered, in ms.
    confirmed: Vec<u32>,
    /// Standing guesses offered before the caller's end: their reply
    /// misses what the caller said after them.
    guesses_short: usize,
    /// What ended each turn, and the signal-to-noise ratio it reported.
    ended_by: Vec<EndedBy>,
    snr_db: Vec<i16>,
    /// The utterances not ended on time, or cut off.
    misses: Vec<Miss>,
}

/// An utterance the detector did not end on time, or cut off.
#[derive(Debug)]
struct Miss {
    seed: u64,
    /// Which of the cases' lines it is on, and where it lies, in s.
    line: usize,
    from_s: f32,
    to_s: f32,
    /// The turn ends inside it or in the 3 s after it: ms from its end
    /// (negative inside it), and what ended each.
    ends: Vec<(i64, EndedBy)>,
    /// What the crowd score made of the line from the utterance's end to
    /// the turn's.
    read: String,
}

impl EndFigures {
    /// The mean delay of the ends detected, in ms.
    fn mean_ms(&self) -> u32 {
        self.delays_ms.iter().sum::<u32>() / self.delays_ms.len().max(1) as u32
    }

    /// The longest delay, in ms.
    fn max_ms(&self) -> u32 {
        self.delays_ms.iter().copied().max().unwrap_or(0)
    }

    /// How long before the turns' ends their standing guesses came, on
    /// average, in ms.
    fn lead_ms(&self) -> u32 {
        self.confirmed.iter().sum::<u32>() / self.confirmed.len().max(1) as u32
    }
}

/// An utterance's first and one-past-last sample.
type Span = (usize, usize);

/// Where each utterance of `pcm` starts and ends (P.56 on the clean
/// audio), `pcm` split at `splits` (samples) into one utterance each.
fn utterances(pcm: &[i16], splits: &[usize]) -> Vec<Span> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(splits);
    bounds.push(pcm.len());
    bounds
        .windows(2)
        .map(|w| {
            let a = p56::activity(&pcm[w[0]..w[1]], FRAME).expect("an utterance in each part");
            (w[0] + a.start, w[0] + a.end)
        })
        .collect()
}

/// Speech and where its utterances are.
type Case = (Vec<i16>, Vec<Span>);

/// The two fixtures as the end-of-turn set uses them, with their
/// utterances' (start, end) in samples.
fn end_cases() -> [Case; 2] {
    let caller = pcm(CALLER);
    let shalom = {
        let raw = pcm(SHALOM);
        let mut padded = vec![0i16; secs(2.0)];
        padded.extend(raw);
        padded.extend(vec![0i16; secs(2.0)]);
        padded
    };
    let caller_utterances = utterances(&caller, &[secs(CALLER_SPLIT)]);
    let shalom_utterances = utterances(&shalom, &[]);
    [(caller, caller_utterances), (shalom, shalom_utterances)]
}

/// Clean speech quieter than this (dBFS) is room tone, not the caller.
const AUDIBLE_MIN_DBFS: f32 = -60.0;

/// [`Ear::Oracle`]'s hearing, frame by frame: the frame lies in one of
/// `utterances` (so it knows where each ends), the clean speech in it is
/// over [`AUDIBLE_MIN_DBFS`], and the caller is at least `margin_db` over
/// `noise` (as mixed into the line) in the full band, high-passed, or in
/// one speech band.
fn audible_frames(speech: &[i16], utterances: &[Span], noise: &[f32], margin_db: i8) -> Vec<bool> {
    let clean: Vec<f32> = speech.iter().map(|&s| f32::from(s)).collect();
    let hp = |x: &[f32]| -> Vec<f32> {
        noise::high_passed(x.iter().copied())
            .chunks(FRAME)
            .map(noise::power)
            .collect()
    };
    let views = |x: &[f32]| -> Vec<Vec<f32>> {
        std::iter::once(hp(x))
            .chain(
                noise::BAND_CENTRES_HZ
                    .iter()
                    .map(|&c| noise::band_powers(x, c, FRAME)),
            )
            .collect()
    };
    let (speech_views, noise_views) = (views(&clean), views(noise));
    let margin = 10f32.powf(f32::from(margin_db) / 10.0);
    let raw: Vec<f32> = clean.chunks(FRAME).map(noise::power).collect();
    let threshold = 32768f32.powi(2) * 10f32.powf(AUDIBLE_MIN_DBFS / 10.0);
    let mut audible = vec![false; raw.len()];
    for &(start, end) in utterances {
        for f in start / FRAME..end.div_ceil(FRAME).min(raw.len()) {
            audible[f] = raw[f] > threshold
                && speech_views
                    .iter()
                    .zip(&noise_views)
                    .any(|(s, n)| s[f] > n[f] * margin);
        }
    }
    audible
}

/// The held-out speech, split into its utterances in the middle of each
/// stretch of 2 s or more of digital silence.
fn held_out_cases() -> [Case; 1] {
    [case_split_at_silences(pcm(HELD_OUT))]
}

/// A recording of utterances 2 s or more apart, with each one's span.
fn case_split_at_silences(speech: Vec<i16>) -> Case {
    let splits = p56::splits_at_silences(&speech, FRAME, secs(2.0));
    let utterances = utterances(&speech, &splits);
    (speech, utterances)
}

/// How much of the line a call's first turn follows: the greeting,
/// played over whatever noise the caller is in.
const FIRST_TURN_LEAD_S: f32 = 6.0;

/// Each utterance of `cases` as the first turn of a call: alone on its
/// line, [`FIRST_TURN_LEAD_S`] after the line opens, 4 s of line after it.
/// In the sets as recorded, an utterance follows the one before by 3–5 s,
/// so the detector's view of the line's loud words and of its room holds
/// the voice before it, and the noise is set under the whole file's
/// level; a first turn's view holds only the noise, set under its own.
fn first_turn_cases(cases: &[Case]) -> Vec<Case> {
    let margin = secs(0.3);
    cases
        .iter()
        .flat_map(|(speech, utterances)| {
            utterances.iter().map(move |&(start, end)| {
                let from = start.saturating_sub(margin);
                let lead = secs(FIRST_TURN_LEAD_S);
                let mut line = vec![0i16; lead];
                line.extend_from_slice(&speech[from..(end + margin).min(speech.len())]);
                line.resize(line.len() + secs(4.0), 0);
                (line, vec![(lead + start - from, lead + end - from)])
            })
        })
        .collect()
}

/// `speech` as the line carries it in `noisy` (noise family and SNR) for
/// noise seed `seed`, and the noise alone as mixed in (silence when
/// `noisy` is `None`).
fn noisy_line(
    speech: &[i16],
    noisy: Option<(NoiseFamily, f32)>,
    seed: u64,
    babble: &[i16],
) -> (Vec<i16>, Vec<f32>) {
    let Some((family, snr_db)) = noisy else {
        return (speech.to_vec(), vec![0.0; speech.len()]);
    };
    let scaled = noise_under(
        family,
        snr_db,
        seed,
        speech.len(),
        babble,
        noise::active_rms(speech),
    );
    (noise::add(speech, &scaled), scaled)
}

/// `samples` of noise `family` for seed `seed`, `snr_db` under a caller
/// whose active level is `caller_rms`: the noise set's lines' recipe.
fn noise_under(
    family: NoiseFamily,
    snr_db: f32,
    seed: u64,
    samples: usize,
    babble: &[i16],
    caller_rms: f32,
) -> Vec<f32> {
    let raw = family.generate(samples, seed * 31 + snr_db as u64, babble);
    noise::scale_to_snr(&raw, caller_rms, snr_db)
}

/// (b): when each utterance of `cases` ends is detected, for
/// [`END_SEEDS`] noise seeds (`None`: once, on the clean audio).
fn end_detection(cases: &[Case], noisy: Option<(NoiseFamily, f32)>, ear: Ear) -> EndFigures {
    let babble = babble();
    let mut figures = EndFigures::default();
    let bound = END_SILENCE_MS + 100;
    let seeds = if noisy.is_some() {
        let first = first_end_seed();
        first..first + END_SEEDS
    } else {
        0..1
    };
    for seed in seeds {
        for (line, (speech, utterances)) in cases.iter().enumerate() {
            let (mixed, noise) = noisy_line(speech, noisy, seed, &babble);
            let audible = match ear {
                Ear::Oracle(margin_db) => audible_frames(speech, utterances, &noise, margin_db),
                _ => Vec::new(),
            };
            let mut hearing = Hearing::new(ear);
            let wide = widen(&mixed, ear);
            let mut barge_ins = Vec::new();
            // The guess standing when each turn ended, if any: when it was
            // made, where its audio starts, its length, and whether it is
            // an early one still to be checked.
            let mut guess: Option<(usize, usize, usize, bool)> = None;
            let mut guessed = Vec::new();
            // Whether the caller's end lies between a guess's audio and a
            // later look's, which then hears words the guess lacks.
            let lacks_an_end = |guess_to: usize, to: usize| {
                utterances
                    .iter()
                    .any(|&(_, end)| guess_to < end && end <= to)
            };
            // What the crowd score made of each frame.
            let mut crowd = Vec::new();
            // Each end, and what ended it.
            let ends: Vec<(usize, EndedBy)> = mixed
                .chunks(FRAME)
                .enumerate()
                .filter_map(|(i, f)| {
                    let heard = audible.get(i).copied().unwrap_or(false);
                    let at = (i + 1) * FRAME;
                    let event = hearing.push(f, wide_frame(&wide, i, times(ear)), heard);
                    crowd.push(hearing.detector.crowd_reading());
                    match event {
                        Some(TurnEvent::UtteranceEnded {
                            audio,
                            ended_by,
                            snr_db,
                            ..
                        }) => {
                            figures.ended_by.push(ended_by);
                            figures.snr_db.extend(snr_db);
                            // An early guess still unchecked is checked
                            // against the turn's audio; one that lacks the
                            // caller's last words leaves the turn to be
                            // answered from its own.
                            let guess = guess.take().filter(|&(_, from, len, early)| {
                                if !early {
                                    return true;
                                }
                                figures.checks += 1;
                                // The turn's audio starts where the guess's does.
                                let short = lacks_an_end(from + len, from + audio.len());
                                figures.checks_taken += usize::from(short);
                                !short
                            });
                            guessed.push(guess.map(|(at, from, len, _)| {
                                // How far the guess's audio and the turn's run.
                                (at, from + len, from + audio.len())
                            }));
                            Some((at, ended_by))
                        }
                        Some(TurnEvent::BargeIn) => {
                            barge_ins.push(at);
                            None
                        }
                        Some(TurnEvent::Paused { audio, early, .. }) => {
                            figures.guesses += 1;
                            // The open utterance's audio runs up to now.
                            let start = at - hearing.detector.buffered_samples();
                            guess = Some((at, start, audio.len(), early));
                            None
                        }
                        Some(TurnEvent::StillPaused { audio, .. }) => {
                            figures.checks += 1;
                            // The call keeps the guess when the check's words
                            // are the guess's: not when the caller's end
                            // lies between the two.
                            let start = at - hearing.detector.buffered_samples();
                            let to = start + audio.len();
                            match guess.as_mut() {
                                Some(g) if !lacks_an_end(g.1 + g.2, to) => g.3 = false,
                                _ => {
                                    figures.checks_taken += 1;
                                    guess = Some((at, start, audio.len(), false));
                                }
                            }
                            None
                        }
                        Some(TurnEvent::Resumed | TurnEvent::Discarded) => {
                            guess = None;
                            None
                        }
                        _ => None,
                    }
                })
                .collect();
            let detected: Vec<usize> = ends.iter().map(|&(at, _)| at).collect();
            for (&d, g) in detected.iter().zip(&guessed) {
                let Some((at, guess_to, turn_to)) = *g else {
                    continue;
                };
                figures.confirmed.push(((d - at) * 1000 / RATE) as u32);
                // The reply to a guess answers only the audio it holds.
                if lacks_an_end(guess_to, turn_to) {
                    figures.guesses_short += 1;
                }
            }
            // A barge-in while the caller speaks is them going on; only one
            // in the silence after their end is the noise's.
            let silent = |b: usize| !utterances.iter().any(|&(start, end)| b > start && b <= end);
            for &d in &detected {
                let until = d + secs(REPLY_STARTS_MS as f32 / 1000.0);
                let next = utterances
                    .iter()
                    .map(|&(start, _)| start)
                    .filter(|&s| s > d)
                    .min();
                let until = next.map_or(until, |s| s.min(until));
                figures.cancelled +=
                    usize::from(barge_ins.iter().any(|&b| b > d && b <= until && silent(b)));
            }
            for &(start, end) in utterances {
                figures.ends += 1;
                // A turn ended while the caller was still speaking.
                let cut_offs = detected.iter().filter(|&&d| d > start && d < end).count();
                figures.cut_offs += cut_offs;
                let delay = detected
                    .iter()
                    .find(|&&d| d >= end)
                    .map(|&d| ((d - end) * 1000 / RATE) as u32);
                if let Some(ms) = delay {
                    figures.delays_ms.push(ms);
                    if cut_offs == 0 {
                        figures.held_open_ms = figures.held_open_ms.max(ms);
                    }
                }
                let on_time = delay.is_some_and(|ms| ms <= bound);
                figures.on_time += usize::from(on_time);
                if cut_offs > 0 || !on_time {
                    let ms = |at: usize| (at as i64 - end as i64) * 1000 / RATE as i64;
                    let first_end = detected.iter().find(|&&d| d >= end).copied();
                    let after = &crowd[(end / FRAME).min(crowd.len())
                        ..first_end
                            .map_or(crowd.len(), |d| d / FRAME)
                            .min(crowd.len())];
                    let share = |read: fn(&CrowdReading) -> bool| {
                        after.iter().filter(|r| read(r)).count() * 100 / after.len().max(1)
                    };
                    let peak = after.iter().map(|r| r.evidence).fold(0.0, f32::max);
                    let read = format!(
                        "read as talkers {}%, as a street {}%; evidence at most {peak:.1} of {:.0} nats",
                        share(|r| r.talkers),
                        share(|r| r.street),
                        after.last().map_or(0.0, |r| r.needed),
                    );
                    figures.misses.push(Miss {
                        read,
                        seed,
                        line,
                        from_s: start as f32 / RATE as f32,
                        to_s: end as f32 / RATE as f32,
                        ends: ends
                            .iter()
                            .filter(|&&(at, _)| at > start && at <= end + secs(3.0))
                            .map(|&(at, by)| (ms(at), by))
                            .collect(),
                    });
                }
            }
        }
    }
    figures
}

#[test]
fn the_truth_is_p56_activity_and_clean_speech_is_neither_cut_off_nor_late() {
    for (speech, utterances) in end_cases() {
        for (start, end) in utterances {
            println!(
                "P.56 utterance {:.2}–{:.2} s of {:.2} s",
                start as f32 / RATE as f32,
                end as f32 / RATE as f32,
                speech.len() as f32 / RATE as f32
            );
        }
    }
    let clean = end_detection(&end_cases(), None, Ear::Ours);
    println!(
        "clean: {}/{} on time, {} cut-offs, delays {:?} ms",
        clean.on_time, clean.ends, clean.cut_offs, clean.delays_ms
    );
    assert_eq!(clean.cut_offs, 0, "a turn ended inside clean speech");
    assert_eq!(clean.on_time, clean.ends, "{clean:?}");
}

#[test]
fn street_car_and_cafe_noise_neither_barge_in_cut_off_nor_hold_the_turn_open() {
    println!(
        "\n{:<7} {:>6} | {:>14} {:>14} {:>6} | {:>13} {:>8} {:>9} {:>10} {:>10} | {:>7} {:>8} {:>7} {:>5}",
        "noise",
        "SNR dB",
        "false barge-in",
        "(no echo gate)",
        "turns",
        "ends on time",
        "cut-offs",
        "cancelled",
        "mean ms",
        "max ms",
        "guesses",
        "answered",
        "lead ms",
        "short"
    );
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let barge = false_barge_ins(family, snr, true, Ear::Ours);
            let ungated = false_barge_ins(family, snr, false, Ear::Ours);
            let ends = end_detection(&end_cases(), Some((family, snr)), Ear::Ours);
            let (mean, max) = (ends.mean_ms(), ends.max_ms());
            println!(
                "{:<7} {:>6} | {:>10}/{REPLIES} {:>10}/{REPLIES} {:>6} | {:>10}/{:<2} {:>8} {:>9} {:>10} {:>10} | {:>7} {:>5}/{:<2} {:>7} {:>5}",
                family.name(),
                snr,
                barge.false_barge_ins,
                ungated.false_barge_ins,
                barge.turns,
                ends.on_time,
                ends.ends,
                ends.cut_offs,
                ends.cancelled,
                mean,
                max,
                ends.guesses,
                ends.confirmed.len(),
                ends.ends,
                ends.lead_ms(),
                ends.guesses_short
            );
            if snr >= 10.0 {
                let silent_line = [
                    (barge.false_barge_ins, "replies cut off by the noise"),
                    (barge.turns, "turns of noise alone"),
                    (ends.cancelled, "replies the noise would cancel"),
                    (ends.guesses_short, "guesses answered short of the caller"),
                ];
                failures.extend(too_few_answered_from_guesses(family, snr, &ends, false));
                for (count, what) in silent_line {
                    if count > 0 {
                        failures.push(format!("{} at {snr} dB: {count} {what}", family.name()));
                    }
                }
                let allowed = known_cut_offs(family, snr).map_or(0, |(fixtures, _)| fixtures);
                if ends.cut_offs > allowed {
                    failures.push(format!(
                        "{} at {snr} dB: {} cut-offs",
                        family.name(),
                        ends.cut_offs
                    ));
                }
                if ends.cut_offs == 0 && allowed > 0 {
                    failures.push(format!(
                        "{} at {snr} dB cuts no fixture off: lower KNOWN_CUT_OFFS to 0",
                        family.name()
                    ));
                }
                let floor = KNOWN_END_GAPS
                    .iter()
                    .find(|(f, s, _)| (*f, *s) == (family, snr))
                    .map(|&(.., floor)| floor);
                let known = floor.is_some();
                if ends.on_time < floor.unwrap_or(ends.ends) {
                    failures.push(format!(
                        "{} at {snr} dB: {}/{} ends on time",
                        family.name(),
                        ends.on_time,
                        ends.ends
                    ));
                }
                if known && ends.held_open_ms > HELD_OPEN_MAX_MS {
                    failures.push(format!(
                        "{} at {snr} dB: a turn held open {} ms past the caller",
                        family.name(),
                        ends.held_open_ms
                    ));
                }
                if ends.on_time == ends.ends && known {
                    failures.push(format!(
                        "{} at {snr} dB meets the target: take it off KNOWN_END_GAPS",
                        family.name()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The median of `values` (0 when empty).
fn median(values: &[i16]) -> i16 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// Each utterance of café at 20 dB and street at 10 dB that is not ended
/// on time, or is cut off, in both sets and both layouts: where it lies,
/// and the ends around it with what ended each. The misses of a row are
/// most often a few utterances that miss in seed after seed (BENCHMARKS.md,
/// "Café at 20 dB: where the misses are"). A diagnostic: run it with
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture each_turn_that_misses`,
/// on other seeds with `NOISE_SET_FIRST_SEED` (see [`first_end_seed`]).
#[test]
#[ignore = "diagnostic: prints, asserts nothing"]
fn print_each_turn_that_misses_and_what_ended_the_turns_around_it() {
    let sets = [
        ("fixtures", end_cases().to_vec()),
        ("held-out", held_out_cases().to_vec()),
        ("first turns, fixtures", first_turn_cases(&end_cases())),
        ("first turns, held-out", first_turn_cases(&held_out_cases())),
    ];
    for noisy in [(NoiseFamily::Cafe, 20.0), (NoiseFamily::Street, 10.0)] {
        for (name, cases) in &sets {
            let figures = end_detection(cases, Some(noisy), Ear::Ours);
            println!(
                "\n{} at {} dB, {name}: {} of {} miss",
                noisy.0.name(),
                noisy.1,
                figures.misses.len(),
                figures.ends
            );
            let mut by_utterance = std::collections::BTreeMap::<_, usize>::new();
            for miss in &figures.misses {
                println!(
                    "  seed {:>2} line {} {:>6.2}–{:<6.2} s | {:?} | {}",
                    miss.seed, miss.line, miss.from_s, miss.to_s, miss.ends, miss.read
                );
                *by_utterance
                    .entry(format!(
                        "line {} {:.2}–{:.2} s",
                        miss.line, miss.from_s, miss.to_s
                    ))
                    .or_default() += 1;
            }
            for (utterance, count) in by_utterance {
                println!("  {count:>3} × {utterance}");
            }
        }
    }
}

/// What the call records of each turn in the noise (`call_turn.ended_by`
/// and `snr_db`): which rule ended it, and the caller's level over the
/// room. An operator reads noisy calls off those, so the SNR must follow
/// the noise, and the rule must say which turns a crowd ended.
#[test]
fn each_turn_reports_what_ended_it_and_an_snr_that_follows_the_noise() {
    println!(
        "\n{:<7} {:>6} | {:>8} {:>5} {:>10} {:>10} | {:>9} {:>9}",
        "noise", "SNR dB", "silence", "room", "quiet hold", "max length", "SNR p50", "SNR range"
    );
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        let mut medians = Vec::new();
        for snr in SNRS {
            let ends = end_detection(&end_cases(), Some((family, snr)), Ear::Ours);
            let count = |by| ends.ended_by.iter().filter(|&&b| b == by).count();
            let turns = ends.ended_by.len();
            medians.push(median(&ends.snr_db));
            let fails = [
                // A line the VAD finds the pauses in is never ended by a
                // rule that stands in for them.
                family == NoiseFamily::Car && count(EndedBy::Silence) < turns,
                snr >= 10.0 && count(EndedBy::MaxLength) > 0,
                // A café at 20 dB is ended mostly by the line falling back
                // to the crowd, one at 10 dB by the quiet hold.
                family == NoiseFamily::Cafe
                    && snr == 20.0
                    && count(EndedBy::Room) <= count(EndedBy::QuietHold),
                family == NoiseFamily::Cafe
                    && snr == 10.0
                    && count(EndedBy::QuietHold) * 4 < turns * 3,
            ];
            if fails.iter().any(|&f| f) {
                failures.push(format!(
                    "{} at {snr} dB: ended by {:?}",
                    family.name(),
                    ends.ended_by
                ));
            }
            println!(
                "{:<7} {:>6} | {:>8} {:>5} {:>10} {:>10} | {:>9} {:>4}…{:<4}",
                family.name(),
                snr,
                count(EndedBy::Silence),
                count(EndedBy::Room),
                count(EndedBy::QuietHold),
                count(EndedBy::MaxLength),
                median(&ends.snr_db),
                ends.snr_db.iter().min().unwrap_or(&0),
                ends.snr_db.iter().max().unwrap_or(&0),
            );
        }
        // 10 dB more noise reads 7–13 dB less (the caller's level takes in
        // some of the noise, the room is its quietest fifth); at 5 dB the
        // two blend, but it still reads less.
        let drop = medians[0] - medians[1];
        if !(7..=13).contains(&drop) || medians[2] >= medians[1] {
            failures.push(format!(
                "{}: SNR p50 {medians:?} at {SNRS:?} dB",
                family.name()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Whether the first of `ends` (samples) at or after an utterance's `end`
/// comes within the end-of-turn wait + 100 ms of it.
fn ended_on_time(ends: &[usize], end: usize) -> bool {
    let bound = secs((END_SILENCE_MS + 100) as f32 / 1000.0);
    ends.iter()
        .find(|&&d| d >= end)
        .is_some_and(|&d| d - end <= bound)
}

/// Where our detector ends a turn in `line`: the sample after each end.
fn turn_ends(line: &[i16]) -> Vec<usize> {
    let mut hearing = Hearing::new(Ear::Ours);
    line.chunks(FRAME)
        .enumerate()
        .filter_map(|(i, frame)| {
            matches!(
                hearing.push(frame, &[], false),
                Some(TurnEvent::UtteranceEnded { .. })
            )
            .then_some((i + 1) * FRAME)
        })
        .collect()
}

/// Noise that begins mid-call on a line that was quiet: the greeting
/// heard in a quiet room, then the caller walks into the street or a café,
/// or a car starts. For each family and SNR, 30 seeds of 4 s of silence
/// then 20 s of the noise alone, and the turns it would have answered.
/// Once the room has learnt the noise (its step found and settled,
/// [`ROOM_LEARNS_MS`] after the noise begins) none may come at SNR ≥ 10
/// dB; before, [`KNOWN_MID_CALL_TURNS`] bounds them.
#[test]
fn noise_that_begins_mid_call_while_the_caller_is_silent_is_no_turn() {
    let babble = babble();
    let level = noise::active_rms(&pcm(CALLER));
    let onset = secs(4.0);
    let learnt = onset + secs(ROOM_LEARNS_MS as f32 / 1000.0);
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let (mut early, mut late) = (0, 0);
            for seed in 0..30 {
                let mut line = vec![0i16; onset];
                line.extend(
                    noise_under(family, snr, seed, secs(20.0), &babble, level)
                        .into_iter()
                        .map(noise::to_i16),
                );
                for end in turn_ends(&line) {
                    if end <= learnt {
                        early += 1;
                    } else {
                        late += 1;
                    }
                }
            }
            println!(
                "{:<7} {:>4} dB, beginning mid-call: {early} turns of noise alone before the room learnt it, {late} after, in 30 lines",
                family.name(),
                snr
            );
            let known = KNOWN_MID_CALL_TURNS
                .iter()
                .find(|(f, s, _)| (*f, *s) == (family, snr))
                .map(|&(.., turns)| turns);
            if snr >= 10.0 && (late > 0 || early > known.unwrap_or(0)) {
                failures.push(format!(
                    "{} at {snr} dB: {early} turns before the room learnt the noise, {late} after",
                    family.name()
                ));
            }
            if early == 0 && known.is_some() {
                failures.push(format!(
                    "{} at {snr} dB makes no turn: take it off KNOWN_MID_CALL_TURNS",
                    family.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A caller who speaks as the noise begins: they walk into the café or
/// the street talking, or start 0.3–4 s after. The room is still learning
/// the noise, and judges the open utterance again as it does (see
/// [`noise_that_begins_mid_call_while_the_caller_is_silent_is_no_turn`]);
/// the caller must still be heard. For each family and SNR, 10 seeds × 5
/// starts of shalom.wav after 4 s of a quiet line. Lost: no turn ends
/// after they begin and within 5 s of their end, so they were dropped
/// with the crowd; none may be at SNR ≥ 10 dB. Turns that end later than
/// [`HELD_OPEN_MAX_MS`] after them are counted apart.
#[test]
fn a_caller_who_speaks_as_the_noise_begins_is_heard() {
    let babble = babble();
    let caller = pcm(SHALOM);
    let speech = p56::activity(&caller, FRAME).expect("shalom.wav speaks");
    let level = noise::active_rms(&caller);
    let onset = secs(4.0);
    let held = secs(HELD_OPEN_MAX_MS as f32 / 1000.0);
    // Long enough for any end of their turn, short of the next turn of a
    // crowd the room would drop.
    let lost_after = secs(5.0);
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let (mut calls, mut lost, mut held_open, mut on_time, mut cut_offs) = (0, 0, 0, 0, 0);
            for seed in 0..10 {
                for after_s in [0.3, 0.8, 1.5, 2.5, 4.0] {
                    let at = onset + secs(after_s);
                    let mut line = vec![0.0; onset];
                    line.extend(noise_under(family, snr, seed, secs(14.0), &babble, level));
                    for (x, &s) in line[at..].iter_mut().zip(&caller) {
                        *x += f32::from(s);
                    }
                    let line: Vec<i16> = line.into_iter().map(noise::to_i16).collect();
                    let ends = turn_ends(&line);
                    let (start, end) = (at + speech.start, at + speech.end);
                    calls += 1;
                    cut_offs += ends.iter().filter(|&&d| d > start && d < end).count();
                    let turn = ends.iter().find(|&&d| d > start && d <= end + lost_after);
                    lost += usize::from(turn.is_none());
                    held_open += usize::from(turn.is_some_and(|&d| d > end + held));
                    on_time += usize::from(ended_on_time(&ends, end));
                }
            }
            println!(
                "{:<7} {:>4} dB, speaking as it begins: {on_time}/{calls} on time, {cut_offs} cut-offs, {held_open} held open past {HELD_OPEN_MAX_MS} ms, {lost} lost",
                family.name(),
                snr
            );
            if snr >= 10.0 && lost > 0 {
                failures.push(format!(
                    "{} at {snr} dB: {lost} of {calls} callers lost",
                    family.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Noise that begins while the agent talks, on a line that was quiet: the
/// caller walks out into the street mid-reply. For each family and SNR,
/// 20 replies of 6 s after 4 s of a quiet line, the noise beginning 1–4 s
/// into each and going on after it; a reply counts if a `BargeIn` or an
/// end of turn comes while it plays.
#[test]
fn noise_that_begins_during_a_reply_neither_cuts_it_off_nor_becomes_a_turn() {
    let babble = babble();
    let level = noise::active_rms(&pcm(CALLER));
    let agent = agent_voice();
    let (reply_from, reply_to) = (secs(4.0), secs(10.0));
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let (mut cut, mut turns) = (0, 0);
            for seed in 0..20 {
                let mut rng = Rng::new(seed + 7);
                let onset = reply_from + secs(rng.range(1.0, 4.0));
                let mut line = vec![0f32; secs(16.0)];
                let noise = noise_under(family, snr, seed, line.len() - onset, &babble, level);
                for (x, n) in line[onset..].iter_mut().zip(noise) {
                    *x += n;
                }
                let (delay, loudest) = lay_echo(
                    &mut line,
                    reply_from,
                    reply_to - reply_from,
                    &agent,
                    &mut rng,
                );
                let line: Vec<i16> = line.into_iter().map(noise::to_i16).collect();
                let mut hearing = Hearing::new(Ear::Ours);
                let mut was_cut = false;
                for (i, frame) in line.chunks(FRAME).enumerate() {
                    let talking = (reply_from..reply_to + delay).contains(&(i * FRAME));
                    hearing.detector.set_agent_level(talking.then_some(loudest));
                    let event = hearing.push(frame, &[], false);
                    let ended = matches!(event, Some(TurnEvent::UtteranceEnded { .. }));
                    turns += usize::from(ended);
                    was_cut |= talking && (ended || event == Some(TurnEvent::BargeIn));
                }
                cut += usize::from(was_cut);
            }
            println!(
                "{:<7} {:>4} dB, beginning during a reply: {cut}/20 replies cut off, {turns} turns",
                family.name(),
                snr
            );
            if snr >= 10.0 && cut + turns > 0 {
                failures.push(format!(
                    "{} at {snr} dB: {cut} replies cut off, {turns} turns",
                    family.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Lays `len` samples of the agent's voice, from a random place in
/// `agent`, onto the caller's leg `line` from sample `from` as its echo:
/// 20–30 dB down and 40–120 ms late, as in the false barge-in test.
/// Returns the delay and the loudest frame of what the agent said (dBFS),
/// as the call tells the detector.
fn lay_echo(
    line: &mut [f32],
    from: usize,
    len: usize,
    agent: &[i16],
    rng: &mut Rng,
) -> (usize, f32) {
    let start = rng.range(0.0, (agent.len() - len) as f32) as usize;
    let words = &agent[start..start + len];
    let gain = 10f32.powf(-rng.range(20.0, 30.0) / 20.0);
    let delay = secs(rng.range(0.04, 0.12));
    for (x, &s) in line[from + delay..].iter_mut().zip(words) {
        *x += f32::from(s) * gain;
    }
    (delay, loudest_frame_dbfs(words))
}

/// A call that begins in the noise: the caller phones from the street, a
/// car or a café, so the detector hears the noise from the first frame,
/// with no quiet second to learn the line on, under the greeting's echo.
/// For each family and SNR, 20 calls: a greeting of 2.5–4 s from 0.2 s,
/// then, 0.5–1.5 s after it, the caller (shalom.wav). The greeting must
/// not be cut off (a `BargeIn` or an end of turn while it plays), the
/// noise must make no turn before the caller speaks, and the caller's
/// first turn must end, within [`HELD_OPEN_MAX_MS`] of their end.
#[test]
fn a_call_that_begins_in_the_noise_keeps_its_greeting_and_hears_the_first_turn() {
    let babble = babble();
    let agent = agent_voice();
    let caller = pcm(SHALOM);
    let (speech_from, speech_to) = {
        let active = p56::activity(&caller, FRAME).expect("shalom.wav speaks");
        (active.start, active.end)
    };
    let level = noise::active_rms(&caller);
    let greeting_from = secs(0.2);
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let (mut cut, mut early, mut on_time, mut cut_offs, mut lost) = (0, 0, 0, 0, 0);
            for seed in 0..20 {
                let mut rng = Rng::new(seed + 99);
                let greeting_len = secs(rng.range(2.5, 4.0));
                let caller_at = greeting_from + greeting_len + secs(rng.range(0.5, 1.5));
                let len = caller_at + caller.len() + secs(3.0);
                let mut line = noise_under(family, snr, seed, len, &babble, level);
                let (delay, loudest) =
                    lay_echo(&mut line, greeting_from, greeting_len, &agent, &mut rng);
                for (x, &s) in line[caller_at..].iter_mut().zip(&caller) {
                    *x += f32::from(s);
                }
                let greeting = greeting_from..greeting_from + greeting_len + delay;
                let (start, end) = (caller_at + speech_from, caller_at + speech_to);
                let line: Vec<i16> = line.into_iter().map(noise::to_i16).collect();
                let mut hearing = Hearing::new(Ear::Ours);
                let (mut was_cut, mut ends) = (false, Vec::new());
                for (i, frame) in line.chunks(FRAME).enumerate() {
                    let talking = greeting.contains(&(i * FRAME));
                    hearing.detector.set_agent_level(talking.then_some(loudest));
                    let event = hearing.push(frame, &[], false);
                    let ended = matches!(event, Some(TurnEvent::UtteranceEnded { .. }));
                    was_cut |= talking && (ended || event == Some(TurnEvent::BargeIn));
                    if ended {
                        ends.push((i + 1) * FRAME);
                    }
                }
                cut += usize::from(was_cut);
                early += ends.iter().filter(|&&d| d <= start).count();
                cut_offs += ends.iter().filter(|&&d| d > start && d < end).count();
                let delay_ms = ends
                    .iter()
                    .find(|&&d| d >= end)
                    .map(|&d| (d - end) * 1000 / RATE);
                on_time += usize::from(ended_on_time(&ends, end));
                lost += usize::from(
                    ends.iter().all(|&d| d <= start)
                        || delay_ms.is_some_and(|ms| ms > HELD_OPEN_MAX_MS as usize),
                );
            }
            println!(
                "{:<7} {:>4} dB, from the first frame: {cut}/20 greetings cut off, {early} turns before the caller | first turn {on_time}/20 on time, {cut_offs} cut-offs, {lost} lost or held open",
                family.name(),
                snr
            );
            if snr >= 10.0 && cut + early + lost > 0 {
                failures.push(format!(
                    "{} at {snr} dB: {cut} greetings cut off, {early} turns of noise, {lost} first turns lost or held open",
                    family.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Noise that stops mid-call: the caller walks out of the café or the
/// street into a quiet room, or the car stops, and speaks 1 or 2 s later
/// (caller-he.wav's two utterances). For each family and SNR, 10 seeds of
/// 10 s of the noise alone, then the quiet line and the caller.
#[test]
fn a_caller_who_leaves_the_noise_is_neither_cut_off_nor_kept_waiting_on_the_quiet_line() {
    let babble = babble();
    let caller = pcm(CALLER);
    let level = noise::active_rms(&caller);
    let spans = utterances(&caller, &[secs(CALLER_SPLIT)]);
    let noisy = secs(10.0);
    let mut failures = Vec::new();
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let (mut ends, mut on_time, mut cut_offs) = (0, 0, 0);
            for seed in 0..10 {
                for gap in [1.0, 2.0] {
                    // caller-he.wav speaks from 3.0 s: `gap` s after the noise.
                    let skip = secs(3.0 - gap);
                    let mut line: Vec<i16> = noise_under(family, snr, seed, noisy, &babble, level)
                        .into_iter()
                        .map(noise::to_i16)
                        .collect();
                    line.extend(&caller[skip..]);
                    let detected = turn_ends(&line);
                    for &(start, end) in &spans {
                        let (start, end) = (start - skip + noisy, end - skip + noisy);
                        ends += 1;
                        cut_offs += detected.iter().filter(|&&d| d > start && d < end).count();
                        on_time += usize::from(ended_on_time(&detected, end));
                    }
                }
            }
            println!(
                "{:<7} {:>4} dB, then quiet: {on_time}/{ends} ends on time, {cut_offs} cut-offs",
                family.name(),
                snr
            );
            if snr >= 10.0 && (cut_offs > 0 || on_time < ends) {
                failures.push(format!(
                    "{} at {snr} dB: {on_time}/{ends} on time, {cut_offs} cut-offs",
                    family.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Writes, for `benches/crowd_frames.py` and `benches/crowd_score_fit.py`,
/// one CSV row per 20 ms frame of every line of the end-of-turn set and of
/// the held-out set, as recorded and as first turns (the `-first` files,
/// see [`first_turn_cases`]), in café, street and car noise, at 20 and
/// 10 dB SNR, 30 seeds each, into `CROWD_FRAMES_DIR`: what the line holds (its
/// high-passed level, periodicity, crossing rate and the level in each
/// speech band, all dBFS, then the turn detector's own crowd cues) beside
/// the truth (whether the frame is inside a P.56 utterance, the caller's
/// clean level and how far they stand over the noise in the best of the
/// full band and the four bands). The study asks whether a learned mix of
/// such cues hears the caller's quiet words under the crowd better than
/// the level rules do (BENCHMARKS.md, "A learned score of the crowd's
/// frames"); the fit gives the crowd score its weights (`turn/crowd.rs`),
/// and `benches/crowd_net_fit.py` the network's (`turn/crowd/net.rs`).
/// For café it also writes each line's PCM under `pcm/`, which
/// `benches/crowd_spectrum.py` reads for the line's fine spectrum:
/// `CROWD_FRAMES_DIR=/tmp/crowd cargo test --release -p agentlocator-voice --test noise_set -- --ignored crowd_study`.
/// With `CROWD_TRAINING_WAV` naming a file of other speakers
/// (`benches/make-training-he.sh`) it writes theirs too, as `training`,
/// for a score to be fitted on without the held-out set.
#[test]
#[ignore = "writes files; run by benches/crowd_frames.py's instructions"]
fn write_noisy_frames_for_the_crowd_study() {
    use std::io::Write as _;
    let dir = std::env::var("CROWD_FRAMES_DIR").expect("CROWD_FRAMES_DIR names the directory");
    std::fs::create_dir_all(&dir).unwrap();
    let babble = babble();
    let pcm_dir = format!("{dir}/pcm");
    std::fs::create_dir_all(&pcm_dir).unwrap();
    let mut sets = vec![
        ("fixtures", end_cases().to_vec()),
        ("held-out", held_out_cases().to_vec()),
        ("fixtures-first", first_turn_cases(&end_cases())),
        ("held-out-first", first_turn_cases(&held_out_cases())),
    ];
    // Other speakers to fit a study's score on, so that the held-out set
    // stays the judge (`benches/make-training-he.sh` makes them).
    if let Ok(path) = std::env::var("CROWD_TRAINING_WAV") {
        let speech = pcm(&std::fs::read(path).expect("CROWD_TRAINING_WAV is readable"));
        sets.push(("training", vec![case_split_at_silences(speech)]));
    }
    for (name, cases) in &sets {
        for (family, snr) in [
            (NoiseFamily::Cafe, 20.0f32),
            (NoiseFamily::Cafe, 10.0),
            (NoiseFamily::Street, 20.0),
            (NoiseFamily::Street, 10.0),
            (NoiseFamily::Car, 20.0),
            (NoiseFamily::Car, 10.0),
        ] {
            // Café keeps its old names; the others name their family.
            let path = match family {
                NoiseFamily::Cafe => format!("{dir}/{name}-{snr}.csv"),
                other => format!("{dir}/{name}-{}-{snr}.csv", other.name()),
            };
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            for seed in 0..END_SEEDS {
                for (case, (speech, utterances)) in cases.iter().enumerate() {
                    let (mixed, noise) = noisy_line(speech, Some((family, snr)), seed, &babble);
                    // The line as Twilio carries it: through mu-law.
                    let mut law = Vec::new();
                    mulaw::encode_into(&mixed, &mut law);
                    let mut line = Vec::new();
                    mulaw::decode_into(&law, &mut line);
                    if family == NoiseFamily::Cafe {
                        // The line itself, for the study of its fine
                        // spectrum (`benches/crowd_spectrum.py`): PCM16, little-endian.
                        let bytes: Vec<u8> = line.iter().flat_map(|s| s.to_le_bytes()).collect();
                        std::fs::write(format!("{pcm_dir}/{name}-{snr}-{seed}-{case}.s16"), bytes)
                            .unwrap();
                    }
                    let line: Vec<f32> = line.iter().map(|&s| f32::from(s)).collect();
                    let clean: Vec<f32> = speech.iter().map(|&s| f32::from(s)).collect();
                    let views = |x: &[f32]| -> Vec<Vec<f32>> {
                        std::iter::once(
                            noise::high_passed(x.iter().copied())
                                .chunks(FRAME)
                                .map(noise::power)
                                .collect(),
                        )
                        .chain(
                            noise::BAND_CENTRES_HZ
                                .iter()
                                .map(|&c| noise::band_powers(x, c, FRAME)),
                        )
                        .collect()
                    };
                    let (heard, caller, crowd) = (views(&line), views(&clean), views(&noise));
                    // The detector's own cues for its crowd score, as a call hears the line.
                    let mut hearing = Hearing::new(Ear::Ours);
                    for f in 0..heard[0].len() {
                        hearing.push(
                            &mixed[f * FRAME..((f + 1) * FRAME).min(mixed.len())],
                            &[],
                            false,
                        );
                        let cues: Vec<String> = match hearing.detector.crowd_cues() {
                            Some(cues) => cues.iter().map(|c| format!("{c:.2}")).collect(),
                            None => vec!["nan".into(); 8],
                        };
                        let at = f * FRAME;
                        let inside = utterances.iter().any(|&(s, e)| at + FRAME > s && at < e);
                        let over = (0..caller.len())
                            .map(|v| dbfs(caller[v][f]) - dbfs(crowd[v][f]))
                            .fold(f32::MIN, f32::max);
                        let frame = &line[at..(at + FRAME).min(line.len())];
                        let crossings = frame
                            .windows(2)
                            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                            .count();
                        let bands: Vec<String> = heard[1..]
                            .iter()
                            .map(|b| format!("{:.1}", dbfs(b[f])))
                            .collect();
                        writeln!(
                            out,
                            "{seed},{case},{f},{},{over:.1},{:.1},{:.1},{:.3},{:.3},{},{}",
                            u8::from(inside),
                            dbfs(caller[0][f]),
                            dbfs(heard[0][f]),
                            noise::pitch_periodicity(
                                &line,
                                (at + FRAME).min(line.len()),
                                2 * FRAME
                            ),
                            crossings as f32 / frame.len() as f32,
                            bands.join(","),
                            cues.join(",")
                        )
                        .unwrap();
                    }
                }
            }
        }
    }
}

/// Writes the end-of-turn set's mixed lines (8 kHz PCM16 WAV) and a
/// `truth.json` with each file's utterances, so that a detector outside
/// this crate (Pipecat's Silero, `benches/silero_noise_set.py`) is
/// judged on exactly the audio and the truth this test uses:
/// `NOISE_SET_DUMP=/tmp/noise-set cargo test -p agentlocator-voice --test noise_set -- --ignored dump`.
#[test]
#[ignore = "writes files; run by benches/silero_noise_set.sh"]
fn dump_the_end_of_turn_set_for_other_detectors() {
    let dir = std::path::PathBuf::from(
        std::env::var("NOISE_SET_DUMP").expect("NOISE_SET_DUMP names the directory to write"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let babble = babble();
    let mut truth = Vec::new();
    let mut lines = vec![None];
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            lines.push(Some((family, snr)));
        }
    }
    for noisy in lines {
        let seeds = if noisy.is_some() { 10 } else { 1 };
        for seed in 0..seeds {
            for (case, (speech, utterances)) in end_cases().into_iter().enumerate() {
                let (mixed, noise) = noisy_line(&speech, noisy, seed, &babble);
                let name = match noisy {
                    Some((family, snr_db)) => {
                        format!("{}-{snr_db}-{seed}-{case}.wav", family.name())
                    }
                    None => format!("clean-{case}.wav"),
                };
                std::fs::write(dir.join(&name), wav::write_pcm16(&mixed, RATE as u32)).unwrap();
                if noisy.is_some() {
                    // The noise alone, for a line that carries it from the
                    // call's first frame (`simulate-call --background`).
                    let noise: Vec<i16> = noise.into_iter().map(noise::to_i16).collect();
                    let alone = name.replace(".wav", "-noise.wav");
                    std::fs::write(dir.join(alone), wav::write_pcm16(&noise, RATE as u32)).unwrap();
                }
                let spans: Vec<String> = utterances
                    .iter()
                    .map(|(start, end)| format!("[{start},{end}]"))
                    .collect();
                let (family, snr) = noisy.map_or(("clean", 0.0), |(f, s)| (f.name(), s));
                truth.push(format!(
                    r#"{{"file":"{name}","family":"{family}","snr_db":{snr},"utterances":[{}]}}"#,
                    spans.join(",")
                ));
            }
        }
    }
    let json = format!(
        r#"{{"sample_rate":{RATE},"end_silence_ms":{END_SILENCE_MS},"lines":[{}]}}"#,
        truth.join(",")
    );
    std::fs::write(dir.join("truth.json"), json).unwrap();
}

/// The same set with `earshot` and the WebRTC VAD deciding instead of our
/// VAD, so that the choice of detector is measured rather than assumed
/// (see BENCHMARKS.md). A comparison, not a gate on this crate: run it with
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture beside_our_vad`.
#[test]
#[ignore = "comparison with other detectors; slow in a debug build"]
fn other_detectors_on_the_same_noise_are_measured_beside_our_vad() {
    let ears = [
        ("earshot", Ear::Earshot),
        ("webrtc mode 0", Ear::WebRtc(0)),
        ("webrtc mode 1", Ear::WebRtc(1)),
        ("webrtc mode 2", Ear::WebRtc(2)),
        ("webrtc mode 3", Ear::WebRtc(3)),
    ];
    for (name, ear) in ears {
        let clean = end_detection(&end_cases(), None, ear);
        println!(
            "\n{name}: clean {}/{} on time, {} cut-offs, delays {:?} ms\n{:<7} {:>6} | {:>17} | {:>13} {:>8} {:>10} {:>10}",
            clean.on_time,
            clean.ends,
            clean.cut_offs,
            clean.delays_ms,
            "noise",
            "SNR dB",
            "false barge-in",
            "ends on time",
            "cut-offs",
            "mean ms",
            "max ms"
        );
        let mut ends_seen = clean.delays_ms.len();
        for family in NoiseFamily::ALL {
            for snr in SNRS {
                let barge = false_barge_ins(family, snr, true, ear).false_barge_ins;
                let ends = end_detection(&end_cases(), Some((family, snr)), ear);
                let (mean, max) = (ends.mean_ms(), ends.max_ms());
                println!(
                    "{:<7} {:>6} | {:>13}/{REPLIES} | {:>10}/{:<2} {:>8} {:>10} {:>10}",
                    family.name(),
                    snr,
                    barge,
                    ends.on_time,
                    ends.ends,
                    ends.cut_offs,
                    mean,
                    max
                );
                ends_seen += ends.delays_ms.len();
            }
        }
        // The harness fed the detector at all: some utterance ended somewhere.
        assert!(ends_seen > 0, "{name} never ended an utterance");
    }
}

/// RNNoise's voice probability deciding instead of our VAD, and
/// overruling it only in a room that fools it, on the fixtures and the
/// held-out speakers, at three thresholds each: a learned detector trained
/// on speech in real noise, measured rather than assumed (see
/// BENCHMARKS.md, "RNNoise's voice probability"). Run it with
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture rnnoise`.
#[test]
#[ignore = "comparison with another detector; slow"]
fn rnnoise_on_the_same_noise_is_measured_beside_our_vad() {
    println!(
        "\n{:<14} {:<7} {:>6} | {:>14} | {:>12} {:>8} {:>8} {:>8}",
        "ear", "noise", "SNR dB", "false barge-in", "on time", "cut-offs", "mean ms", "max ms"
    );
    let sets = [
        ("fixtures", end_cases().to_vec()),
        ("held-out", held_out_cases().to_vec()),
    ];
    let only: Option<String> = std::env::var("EARS").ok();
    for (name, ear) in [
        ("ours", Ear::Ours),
        ("denoised", Ear::OursDenoised),
        ("rnnoise 0.3", Ear::RnNoise(30)),
        ("rnnoise 0.5", Ear::RnNoise(50)),
        ("rnnoise 0.7", Ear::RnNoise(70)),
        ("crowd: 0.1", Ear::OursOrRnNoise(10)),
        ("crowd: 0.3", Ear::OursOrRnNoise(30)),
        ("crowd: 0.5", Ear::OursOrRnNoise(50)),
    ] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|e| e == name))
        {
            continue;
        }
        let clean = end_detection(&end_cases(), None, ear);
        println!(
            "{name:<14} clean {}/{} on time, {} cut-offs",
            clean.on_time, clean.ends, clean.cut_offs
        );
        // The harness fed the detector at all: a clean line's turns end.
        assert!(clean.ends > 0, "{name} never ended an utterance");
        for family in [NoiseFamily::Street, NoiseFamily::Cafe] {
            for snr in [20.0, 10.0] {
                let barge = false_barge_ins(family, snr, true, ear).false_barge_ins;
                for (set, cases) in &sets {
                    let ends = end_detection(cases, Some((family, snr)), ear);
                    println!(
                        "{name:<14} {:<7} {:>6} | {:>10}/{REPLIES} | {:>5}/{:<3} {set:<8} {:>4} {:>8} {:>8}",
                        family.name(),
                        snr,
                        barge,
                        ends.on_time,
                        ends.ends,
                        ends.cut_offs,
                        ends.mean_ms(),
                        ends.max_ms()
                    );
                }
            }
        }
    }
}

/// What no detector that hears only the line can beat: [`Ear::Oracle`]
/// on the fixtures and the held-out speakers, for a caller heard from
/// 3 dB over the noise down to 6 dB under it. Where the oracle itself
/// cuts callers off or ends late, the target asks for more than the audio
/// holds. Run it with
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture oracle`.
#[test]
#[ignore = "a bound, not a detector: prints the table"]
fn an_oracle_that_hears_the_caller_wherever_they_are_over_the_noise_bounds_every_detector() {
    for (set, cases) in [
        ("fixtures", end_cases().to_vec()),
        ("held-out", held_out_cases().to_vec()),
    ] {
        println!(
            "\n{:<8} {:<7} {:>6} | {:>30} | {:>30} | {:>30} | {:>30}",
            set, "noise", "SNR dB", "heard from +3 dB", "from 0 dB", "from -3 dB", "from -6 dB"
        );
        let clean = end_detection(&cases, None, Ear::Oracle(0));
        assert!(
            clean.on_time == clean.ends && clean.cut_offs == 0,
            "the oracle fails the {set} set's clean speech: {clean:?}"
        );
        for family in NoiseFamily::ALL {
            for snr in SNRS {
                let cells: Vec<String> = [3, 0, -3, -6]
                    .into_iter()
                    .map(|margin| {
                        let ends = end_detection(&cases, Some((family, snr)), Ear::Oracle(margin));
                        format!(
                            "{:>3}/{} on time, {:>2} cut, max {:>5}",
                            ends.on_time,
                            ends.ends,
                            ends.cut_offs,
                            ends.max_ms()
                        )
                    })
                    .collect();
                println!(
                    "{:<8} {:<7} {:>6} | {}",
                    set,
                    family.name(),
                    snr,
                    cells.join(" | ")
                );
            }
        }
    }
}

/// The detector's settings were measured on the fixtures; here it hears
/// six other voices and sentences, with pauses of 250–350 ms inside four
/// of them, in the same noise, judged the same way. What it must not do
/// on them: cut a caller off on a clean line, or in street or car noise
/// at SNR ≥ 10 dB more often than [`KNOWN_CUT_OFFS`] lets it, cut
/// one off in café at SNR ≥ 10 dB or hold one open there longer than
/// [`HELD_OPEN_MAX_MS`], end fewer turns on time than
/// [`HELD_OUT_ON_TIME`] (clean: [`HELD_OUT_CLEAN_ON_TIME`]), or end one
/// later than [`HELD_OUT_FADE_MAX_MS`] where only a fade makes turns late.
/// The rest is printed for BENCHMARKS.md:
/// `cargo test --release -p agentlocator-voice --test noise_set -- --nocapture held_out`.
#[test]
fn held_out_speakers_are_not_cut_off_and_their_turns_end_no_later_than_measured() {
    let cases = held_out_cases();
    assert_eq!(cases[0].1.len(), 6, "six utterances: {:?}", cases[0].1);
    let clean = end_detection(&cases, None, Ear::Ours);
    println!(
        "\nheld-out clean: {}/{} on time, {} cut-offs, delays {:?} ms",
        clean.on_time, clean.ends, clean.cut_offs, clean.delays_ms
    );
    let mut failures = Vec::new();
    if clean.cut_offs > 0 {
        failures.push(format!("clean: {} cut-offs", clean.cut_offs));
    }
    if clean.on_time < HELD_OUT_CLEAN_ON_TIME || clean.max_ms() > HELD_OUT_FADE_MAX_MS {
        failures.push(format!("clean: {:?} ms", clean.delays_ms));
    }
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let ends = end_detection(&cases, Some((family, snr)), Ear::Ours);
            let (mean, max) = (ends.mean_ms(), ends.max_ms());
            println!(
                "held-out {:<7} {:>4} dB | {:>2}/{} on time, {:>2} cut-offs, mean {:>5} ms, max {:>5} ms | {:>3} guesses, {:>2} answered, lead {:>4} ms, {} short | {:>3} checked, {:>2} taken",
                family.name(),
                snr,
                ends.on_time,
                ends.ends,
                ends.cut_offs,
                mean,
                max,
                ends.guesses,
                ends.confirmed.len(),
                ends.lead_ms(),
                ends.guesses_short,
                ends.checks,
                ends.checks_taken
            );
            let name = format!("{} at {snr} dB", family.name());
            if snr >= 10.0 && ends.guesses_short > 0 {
                failures.push(format!(
                    "{name}: {} guesses answered short of the caller",
                    ends.guesses_short
                ));
            }
            failures.extend(too_few_answered_from_guesses(family, snr, &ends, true));
            if (family, snr) == (NoiseFamily::Cafe, 10.0) && ends.lead_ms() < LOUD_CAFE_LEAD_MS {
                failures.push(format!(
                    "{name}: guesses {} ms before the end on average",
                    ends.lead_ms()
                ));
            }
            let allowed = known_cut_offs(family, snr).map_or(0, |(_, held_out)| held_out);
            match family {
                _ if snr < 10.0 => {}
                _ if ends.cut_offs > allowed => {
                    failures.push(format!("{name}: {} cut-offs", ends.cut_offs));
                }
                NoiseFamily::Cafe if ends.held_open_ms > HELD_OPEN_MAX_MS => {
                    failures.push(format!("{name}: a turn held open {} ms", ends.held_open_ms));
                }
                NoiseFamily::Car | NoiseFamily::Street
                    if (family, snr) != (NoiseFamily::Street, 10.0)
                        && max > HELD_OUT_FADE_MAX_MS =>
                {
                    failures.push(format!("{name}: a turn ended {max} ms after the caller"));
                }
                _ => {}
            }
            let fewest = HELD_OUT_ON_TIME
                .iter()
                .find(|&&(f, s, _)| (f, s) == (family, snr))
                .map_or(0, |&(.., fewest)| fewest);
            if ends.on_time < fewest {
                failures.push(format!(
                    "{name}: {}/{} ends on time",
                    ends.on_time, ends.ends
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Each utterance as the first turn of a call ([`first_turn_cases`]): the
/// fewest ends on time, the most cut-offs, the most guesses answered
/// short of the caller and the latest end, on the fixtures (of 90) and on
/// the held-out set (of 180), as measured on [`END_SEEDS`] seeds (café at
/// 20 dB since `LOUD_OVER_CALLER_DB`, the rest at SNR ≥ 10 dB when the
/// layout was added, and at 5 dB, which the issue asks to have reported,
/// on 2026-12-04; BENCHMARKS.md, "A call's first turn").
/// Better passes; worse in any column fails.
/// - Street at 10 dB: caller-he.wav's first utterance is cut off 11 times
///   in 30 (12 before the speech bands followed the street) where its
///   quiet words (−29…−45 dBFS, 5.46–6.18 s of the file) lie under the
///   street, against 2 in all 90 recorded turns. The
///   detector is not what differs: in the very noise it has in the
///   recording, the utterance alone is cut off as often as there
///   ([`print_each_utterance_alone_and_among_the_others_in_the_same_noise`]);
///   the street's passing cars and slow drift put the noise under
///   those words louder in these lines than in the recording.
/// - Café at 20 dB: the crowd score gained nothing here while it read
///   the caller's loud words from the line alone. With no voice before it
///   on the line, the crowd's frames stand 1 dB higher over the room and
///   2 dB nearer the loud words, and the score took a quarter to a third
///   of them for the caller (a seventh in the recorded layout): 110
///   held-out turns on time. Reading the loud words as at least the
///   caller's own level + 7 dB (`LOUD_OVER_CALLER_DB`): 126, against 146
///   in the recorded layout. At + 6 dB, 121, and one fixture turn was
///   answered from a guess made 160 ms before shalom.wav's P.56 end, its
///   quiet last syllable under the crowd; at + 7 dB none is, and one
///   more fixture turn is cut off (7 of 90). Since a caller clear of
///   the room needs less evidence that they stopped
///   (`STOPPED_NATS_CLEAR`): 134 held-out and 75 fixture turns. Since the
///   room end judges the line against the room as it stood when the
///   caller stood out, and the crowd's ceiling: 127 and 78, 2 fixture
///   cut-offs fewer, and one fixture turn answered from a guess short of
///   caller-he.wav's quiet last second; at café 10 dB one more held-out
///   cut-off. On seeds 30–149, 316 and 533 on time against 308 and 532,
///   the cut-offs at 20 dB 23 and 7 against 24 and 7, the short guesses
///   2 against 1, and at 10 dB the cut-offs 13 and 10 against 14 and 10.
///   Since a network over 640 ms scores the frames of a caller well over
///   the room (`turn/crowd/net.rs`): 139 and 84, one fixture cut-off
///   fewer; on seeds 30–149 the misses of the target (late or cut off)
///   fell from 194 to 134 held-out and from 53 to 22 on the fixtures.
/// - Café at 10 dB: a held-out turn is held open 4,160 ms (2,980 recorded).
/// - Since the street network holds the VAD's pause and ends the turn
///   (`turn/crowd/net.rs`): street at 10 dB 90 · 0 and 178 · 0, from
///   83 · 11 and 177 · 2; at 5 dB, out of what it was fitted on, 59 · 41
///   and 172 · 16, from 65 · 39 and 174 · 17; café at 20 dB 83 and 138,
///   from 84 and 139, where its room is not yet judged a crowd.
/// - Since the room is known for a crowd from its first seconds
///   (`turn/room.rs`, `SHARE_FRAMES`): café at 20 dB 85 and 140.
/// - Since the wait counts from the caller's last word the café network
///   is sure of (`turn/crowd.rs`, `SURE_LOG_ODDS`): café at 20 dB 85 and
///   148.
/// - Since a frame under the quiet gate is the caller's silence to the
///   café network (`Crowd::follow`): café at 20 dB 86 and 150.
/// - Since the quiet hold counts from where the caller stands out of the
///   room (`TurnDetector::judge_room`): no held-out café turn at 20 dB is
///   cut off, where one was on its first words.
const FIRST_TURNS: [(NoiseFamily, f32, FirstTurns, FirstTurns); 9] = [
    (NoiseFamily::Street, 20.0, (90, 0, 0, 640), (180, 0, 0, 700)),
    (NoiseFamily::Street, 10.0, (90, 0, 0, 640), (178, 0, 0, 760)),
    (NoiseFamily::Car, 20.0, (90, 0, 0, 640), (180, 0, 0, 600)),
    (NoiseFamily::Car, 10.0, (90, 0, 0, 640), (180, 0, 0, 600)),
    (
        NoiseFamily::Cafe,
        20.0,
        (86, 4, 1, 2_040),
        (150, 0, 0, 3_080),
    ),
    (NoiseFamily::Cafe, 10.0, (22, 2, 0, 3_440), (2, 2, 0, 4_160)),
    (
        NoiseFamily::Street,
        5.0,
        (59, 41, 0, 600),
        (172, 16, 0, 860),
    ),
    (NoiseFamily::Car, 5.0, (90, 0, 0, 640), (180, 0, 0, 700)),
    (NoiseFamily::Cafe, 5.0, (24, 2, 0, 4_080), (3, 9, 0, 4_260)),
];

/// Of a set's first turns: the fewest on time, the most cut-offs, the
/// most guesses answered short of the caller, and how late at most (ms)
/// a turn that cut no one off may end.
type FirstTurns = (usize, usize, usize, u32);

/// A caller's first turn meets the noise after the greeting, with no
/// earlier voice on the line for the detector to measure the room and
/// the caller's loud words by; it must end and be cut off no worse than
/// [`FIRST_TURNS`] says. The table for BENCHMARKS.md:
/// `cargo test --release -p agentlocator-voice --test noise_set -- --nocapture first_turn`.
#[test]
fn a_callers_first_turn_in_noise_ends_on_time_and_is_cut_off_no_more_than_measured() {
    let sets = [
        ("fixtures", first_turn_cases(&end_cases())),
        ("held-out", first_turn_cases(&held_out_cases())),
    ];
    let mut failures = Vec::new();
    for (family, snr, fixtures, held_out) in FIRST_TURNS {
        for ((name, cases), (fewest_on_time, cut_offs, short, held_open_ms)) in
            sets.iter().zip([fixtures, held_out])
        {
            let ends = end_detection(cases, Some((family, snr)), Ear::Ours);
            println!(
                "first turns, {name:<8} {:<7} {:>4} dB | {:>3}/{} on time, {:>2} cut-offs, mean {:>5} ms, held open {:>5} ms | {:>3} guesses, {:>3} answered, lead {:>4} ms, {} short | {:>3} checked, {:>2} taken",
                family.name(),
                snr,
                ends.on_time,
                ends.ends,
                ends.cut_offs,
                ends.mean_ms(),
                ends.held_open_ms,
                ends.guesses,
                ends.confirmed.len(),
                ends.lead_ms(),
                ends.guesses_short,
                ends.checks,
                ends.checks_taken
            );
            let row = format!("{name}, {} at {snr} dB", family.name());
            if ends.on_time < fewest_on_time {
                failures.push(format!("{row}: {}/{} on time", ends.on_time, ends.ends));
            }
            if ends.cut_offs > cut_offs {
                failures.push(format!("{row}: {} cut-offs", ends.cut_offs));
            }
            if ends.held_open_ms > held_open_ms {
                failures.push(format!("{row}: a turn held open {} ms", ends.held_open_ms));
            }
            if ends.guesses_short > short {
                failures.push(format!(
                    "{row}: {} guesses short of the caller",
                    ends.guesses_short
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The loudest `len` samples of each utterance of `cases`: a short answer
/// ("כן", "לא", "רגע") as a caller gives it.
fn short_words(cases: &[Case], len: usize) -> Vec<Vec<i16>> {
    let mut words = Vec::new();
    for (speech, utterances) in cases {
        for &(start, end) in utterances {
            let energy = |from: usize| -> f64 {
                speech[from..from + len]
                    .iter()
                    .map(|&s| f64::from(s).powi(2))
                    .sum()
            };
            let from = (start..end.saturating_sub(len))
                .step_by(FRAME)
                .max_by(|&a, &b| energy(a).total_cmp(&energy(b)))
                .unwrap_or(start);
            words.push(speech[from..from + len].to_vec());
        }
    }
    words
}

/// A caller's short answer, alone after 4 s of the room, must still stand
/// out of it: the room rule (`TurnConfig::stand_out_db`) that keeps the
/// crowd from taking turns must not take a "כן" for the crowd. Every word
/// of 400 ms at SNR ≥ 10 dB is heard; the 250 ms figures are printed:
/// `cargo test --release -p agentlocator-voice --test noise_set -- --nocapture short_answers`.
#[test]
fn short_answers_stand_out_of_the_room_at_10_db_and_more() {
    let babble = babble();
    let cases: Vec<Case> = end_cases().into_iter().chain(held_out_cases()).collect();
    let lead_in = secs(4.0);
    let mut failures = Vec::new();
    for len_ms in [250usize, 400] {
        let words = short_words(&cases, secs(len_ms as f32 / 1000.0));
        for family in NoiseFamily::ALL {
            for snr in [20.0, 10.0] {
                let mut heard = 0;
                let mut tried = 0;
                for (k, word) in words.iter().enumerate() {
                    let mut speech = vec![0i16; lead_in];
                    speech.extend_from_slice(word);
                    speech.extend(vec![0i16; secs(2.0)]);
                    for seed in 0..3u64 {
                        let raw = family.generate(speech.len(), seed * 31 + k as u64, &babble);
                        let noise = noise::scale_to_snr(&raw, noise::active_rms(word), snr);
                        let line = noise::add(&speech, &noise);
                        let mut hearing = Hearing::new(Ear::Ours);
                        let ended = line.chunks(FRAME).enumerate().any(|(i, f)| {
                            matches!(
                                hearing.push(f, &[], false),
                                Some(TurnEvent::UtteranceEnded { .. })
                            ) && (i + 1) * FRAME > lead_in
                        });
                        // A café turn the quiet hold still holds open counts:
                        // how late a short turn ends there is the known gap
                        // (KNOWN_END_GAPS), not the room rule's doing.
                        let open = matches!(
                            hearing.detector.finish(),
                            Some(TurnEvent::UtteranceEnded { .. })
                        );
                        tried += 1;
                        heard += usize::from(ended || open);
                    }
                }
                println!(
                    "short answers of {len_ms} ms, {:<7} {snr:>4} dB: {heard}/{tried} heard",
                    family.name()
                );
                if len_ms >= 400 && heard < tried {
                    failures.push(format!(
                        "{} at {snr} dB: {heard}/{tried} words of {len_ms} ms heard",
                        family.name()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Twice the fixtures' speech with its pauses cut out (21.7 s) after 2 s
/// of silence, then 3 s of silence, on the line `noisy` makes of it with
/// noise seed `seed`: when the caller stops, and when the detector ended
/// a turn, in seconds.
fn monologue_ends(noisy: Option<(NoiseFamily, f32)>, seed: u64) -> (f32, Vec<f32>) {
    let speech = agent_voice();
    let mut line = vec![0i16; secs(2.0)];
    line.extend_from_slice(&speech);
    line.extend_from_slice(&speech);
    let stops = line.len() as f32 / RATE as f32;
    line.resize(line.len() + secs(3.0), 0);
    let (mixed, _) = noisy_line(&line, noisy, seed, &babble());
    let mut hearing = Hearing::new(Ear::Ours);
    let ends = mixed
        .chunks(FRAME)
        .enumerate()
        .filter(|(_, f)| {
            matches!(
                hearing.push(f, &[], false),
                Some(TurnEvent::UtteranceEnded { .. })
            )
        })
        .map(|(i, _)| ((i + 1) * FRAME) as f32 / RATE as f32)
        .collect();
    (stops, ends)
}

/// A caller who talks on without a pause: their own quieter frames fill
/// the line's quietest fifth and become the room (within 2 s, by its
/// step rule). The rules that judge the caller against the room
/// (`TurnConfig::room_clear_db`, `TurnConfig::room_end_db`) must still
/// not end their turn before they stop, on a clean line or in noise. With
/// `room_clear_db` at 11 dB instead of 9, street noise at 20 dB cuts this
/// caller off 11.3 s in; at 18, a clean line does.
#[test]
fn a_caller_talking_twenty_seconds_without_a_pause_is_not_cut_off_by_the_room() {
    let lines = [
        None,
        Some((NoiseFamily::Street, 20.0)),
        Some((NoiseFamily::Car, 20.0)),
        Some((NoiseFamily::Cafe, 20.0)),
    ];
    for noisy in lines {
        let (stops, ends) = monologue_ends(noisy, 0);
        assert!(
            ends.len() == 1 && ends[0] >= stops,
            "{noisy:?}: the caller talked until {stops:.2} s, turns ended at {ends:?} s"
        );
    }
}

/// The same monologue in every noise, 10 seeds each: how often a turn
/// ends inside it, and whether one ends after it. For BENCHMARKS.md:
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture monologues`.
#[test]
#[ignore = "figures for BENCHMARKS.md"]
fn monologues_without_a_pause_in_every_noise() {
    println!(
        "\n{:<7} {:>6} | {:>22} {:>16}",
        "noise", "SNR dB", "seeds cut off (times)", "ended after it"
    );
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let (mut cut, mut times, mut ended) = (0, 0, 0);
            for seed in 0..10 {
                let (stops, ends) = monologue_ends(Some((family, snr)), seed);
                let inside = ends.iter().filter(|&&e| e < stops).count();
                cut += usize::from(inside > 0);
                times += inside;
                ended += usize::from(ends.iter().any(|&e| e >= stops));
            }
            println!(
                "{:<7} {:>6} | {:>14}/10 ({:>3}) {:>13}/10",
                family.name(),
                snr,
                cut,
                times,
                ended
            );
        }
    }
}

/// How far each noise's level moves from one 20 ms frame to the next, as
/// the room measures it (`turn::room`'s crowd rule), on 10 s of the noise
/// alone per seed: the mean step per line, over 20 seeds.
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture frame_to_frame`
#[test]
#[ignore = "diagnostic: prints, asserts nothing"]
fn print_how_far_each_noise_moves_from_frame_to_frame() {
    let babble = babble();
    let level = noise::active_rms(&agent_voice());
    for family in NoiseFamily::ALL {
        for snr in SNRS {
            let mut means: Vec<f32> = (0..20)
                .map(|seed| {
                    let line: Vec<i16> = noise_under(family, snr, seed, secs(10.0), &babble, level)
                        .into_iter()
                        .map(noise::to_i16)
                        .collect();
                    let mut hearing = Hearing::new(Ear::Ours);
                    let levels: Vec<f32> = line
                        .chunks(FRAME)
                        .map(|frame| {
                            hearing.push(frame, &[], false);
                            hearing.vad.last_energy_dbfs()
                        })
                        .skip(100)
                        .collect();
                    let steps: Vec<f32> = levels.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
                    steps.iter().sum::<f32>() / steps.len() as f32
                })
                .collect();
            means.sort_by(f32::total_cmp);
            println!(
                "{:<7} {snr:>4} dB: mean step {:.2}–{:.2} dB, median {:.2}",
                family.name(),
                means[0],
                means[19],
                means[10]
            );
        }
    }
}

/// Whether a turn ends differently for the voices before it on the line
/// or for the noise under it: each utterance of the fixtures and of the
/// held-out set played alone on its line, in the very noise it has among
/// the others (same seed, length and level), beside the line as recorded.
/// Only the turns of that utterance are judged. For BENCHMARKS.md, "A
/// call's first turn":
/// `cargo test --release -p agentlocator-voice --test noise_set -- --ignored --nocapture alone_and_among`.
#[test]
#[ignore = "prints a study; run by BENCHMARKS.md's instructions"]
fn print_each_utterance_alone_and_among_the_others_in_the_same_noise() {
    let babble = babble();
    let bound = secs((END_SILENCE_MS + 100) as f32 / 1000.0);
    let margin = secs(0.3);
    let ends_of = |line: &[i16]| -> Vec<usize> {
        let mut hearing = Hearing::new(Ear::Ours);
        line.chunks(FRAME)
            .enumerate()
            .filter_map(|(i, frame)| match hearing.push(frame, &[], false) {
                Some(TurnEvent::UtteranceEnded { .. }) => Some((i + 1) * FRAME),
                _ => None,
            })
            .collect()
    };
    for (name, cases) in [
        ("fixtures", end_cases().to_vec()),
        ("held-out", held_out_cases().to_vec()),
    ] {
        for (family, snr) in [
            (NoiseFamily::Street, 10.0),
            (NoiseFamily::Cafe, 20.0),
            (NoiseFamily::Cafe, 10.0),
        ] {
            // (on time, cut-offs): among the others, alone.
            let mut figures = [(0, 0); 2];
            for seed in 0..END_SEEDS {
                for (speech, utterances) in &cases {
                    let level = noise::active_rms(speech);
                    let noise = noise_under(family, snr, seed, speech.len(), &babble, level);
                    let among = ends_of(&noise::add(speech, &noise));
                    for &(start, end) in utterances {
                        let mut only = vec![0i16; speech.len()];
                        let (from, to) = (
                            start.saturating_sub(margin),
                            (end + margin).min(speech.len()),
                        );
                        only[from..to].copy_from_slice(&speech[from..to]);
                        let alone = ends_of(&noise::add(&only, &noise));
                        for (ends, (on_time, cut_offs)) in
                            [&among, &alone].into_iter().zip(&mut figures)
                        {
                            *cut_offs += ends.iter().filter(|&&d| d > start && d < end).count();
                            *on_time += usize::from(
                                ends.iter()
                                    .find(|&&d| d >= end)
                                    .is_some_and(|&d| d - end <= bound),
                            );
                        }
                    }
                }
            }
            let [
                (among_on_time, among_cut_offs),
                (alone_on_time, alone_cut_offs),
            ] = figures;
            println!(
                "{name:<8} {:<7} {snr:>4} dB | among the others {among_on_time:>3} on time, {among_cut_offs:>2} cut-offs | alone {alone_on_time:>3} on time, {alone_cut_offs:>2} cut-offs",
                family.name()
            );
        }
    }
}

/// Street and car noise alone, 60 s of each at three levels and 5 seeds
/// (its first 2 s left out, while the VAD learns the line): the share of
/// frames the VAD calls voiced, and its runs of 100 ms (enough to restart
/// an end-of-turn wait) and 250 ms (a barge-in, were the echo gate not
/// there). A recording's voiced time (`vad::voiced_ms`), which gates a
/// voicemail's transcription, counts the same frames. Before the speech
/// bands followed the street (`vad/bands.rs`), street noise at −25 and
/// −35 dBFS was 19 % and 18 % voiced, in 44 and 42 runs of 250 ms; now
/// 3.5 % and 2.2 %, in 6 each.
#[test]
fn street_and_car_noise_alone_is_voice_in_under_one_frame_in_twenty() {
    const SECONDS: f32 = 60.0;
    println!("\nnoise   dBFS | voiced % | runs of 100 ms | runs of 250 ms");
    for family in [NoiseFamily::Street, NoiseFamily::Car] {
        for dbfs in [-25.0f32, -35.0, -45.0] {
            let (mut voiced, mut frames, mut runs_100, mut runs_250) = (0, 0, 0, 0);
            for seed in 0..5 {
                let noise = family.generate(secs(SECONDS), seed, &[]);
                let gain = 10f32.powf(dbfs / 20.0) * 32768.0 / noise::rms(&noise);
                let line: Vec<i16> = noise.iter().map(|&x| noise::to_i16(x * gain)).collect();
                let mut vad = Vad::default();
                let mut run = 0;
                for (i, frame) in line.chunks(FRAME).enumerate() {
                    let is_voiced = vad.push(frame);
                    if i < 100 {
                        continue;
                    }
                    frames += 1;
                    if is_voiced {
                        voiced += 1;
                        run += 1;
                    } else {
                        runs_100 += usize::from(run >= 5);
                        runs_250 += usize::from(run >= 13);
                        run = 0;
                    }
                }
            }
            let share = voiced as f32 / frames as f32;
            println!(
                "{:<7} {:>4} | {:>8.2} | {:>14} | {:>14}",
                family.name(),
                dbfs,
                100.0 * share,
                runs_100,
                runs_250
            );
            assert!(
                share < 0.05,
                "{} at {dbfs} dBFS alone is voiced in {:.1} % of frames",
                family.name(),
                100.0 * share
            );
        }
    }
}
