//! End-to-end check of the inbound audio path on real (synthetic) Hebrew
//! speech: WAV fixture → mu-law frames → VAD → end-of-turn detector.
//!
//! `fixtures/shalom.wav` is 8 kHz mono mu-law, made with
//! `espeak-ng -v he "שלום, אני רוצה לקבוע תור למחר בבוקר" -w shalom22.wav`
//! (22 050 Hz PCM16), converted by `wav::to_mulaw_8k_mono` and padded with
//! 0.5 s of mu-law silence on each side.

use agentlocator_voice::{TurnDetector, TurnEvent, Vad, mulaw, wav};

const FIXTURE: &[u8] = include_bytes!("fixtures/shalom.wav");
const FRAME: usize = agentlocator_voice::TWILIO_FRAME_SAMPLES;
/// Frames of padding silence on each side of the speech.
const PAD_FRAMES: usize = 25;

fn fixture_frames() -> Vec<Vec<u8>> {
    let mulaw = wav::to_mulaw_8k_mono(FIXTURE).expect("fixture parses");
    mulaw.chunks(FRAME).map(<[u8]>::to_vec).collect()
}

/// The fixture with deterministic white noise of ±`amplitude` added, as a
/// phone line would (about -49 dBFS for 200).
fn noisy_fixture_frames(amplitude: f64) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut pcm = Vec::new();
    mulaw::decode_into(&wav::to_mulaw_8k_mono(FIXTURE).unwrap(), &mut pcm);
    for s in &mut pcm {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let unit = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        *s = s.saturating_add((unit * amplitude) as i16);
    }
    let mut out = Vec::new();
    mulaw::encode_into(&pcm, &mut out);
    out.chunks(FRAME).map(<[u8]>::to_vec).collect()
}

/// Runs frames (plus a second of silence) through VAD and turn detection.
/// Guesses at pauses (`Paused`/`Resumed`) are left out: these tests are
/// about where utterances begin and end.
fn events_for(mut frames: Vec<Vec<u8>>) -> Vec<TurnEvent> {
    let mut vad = Vad::default();
    let mut turns = TurnDetector::default();
    let mut pcm = Vec::with_capacity(FRAME);
    let mut events = Vec::new();
    frames.extend(std::iter::repeat_n(vec![mulaw::SILENCE; FRAME], 50));
    for frame in &frames {
        pcm.clear();
        mulaw::decode_into(frame, &mut pcm);
        let voiced = vad.push(&pcm);
        events.extend(turns.push(frame, voiced).filter(|e| {
            !matches!(
                e,
                TurnEvent::Paused { .. } | TurnEvent::StillPaused { .. } | TurnEvent::Resumed
            )
        }));
    }
    events
}

#[test]
fn the_fixture_is_8k_mono_mulaw_as_twilio_sends_it() {
    let info = wav::parse(FIXTURE).unwrap();
    assert_eq!(info.format, wav::WavFormat::MuLaw);
    assert_eq!(
        (info.channels, info.sample_rate, info.bits_per_sample),
        (1, 8000, 8)
    );
    assert!(info.data.len() > 8000 * 2, "at least two seconds");
}

#[test]
fn hebrew_speech_is_voiced_and_the_padding_is_not() {
    let frames = fixture_frames();
    let mut vad = Vad::default();
    let mut pcm = Vec::with_capacity(FRAME);
    let decisions: Vec<bool> = frames
        .iter()
        .map(|f| {
            pcm.clear();
            mulaw::decode_into(f, &mut pcm);
            vad.push(&pcm)
        })
        .collect();
    let speech = &decisions[PAD_FRAMES..decisions.len() - PAD_FRAMES];
    assert!(
        decisions[..PAD_FRAMES].iter().all(|v| !v),
        "leading silence voiced"
    );
    // Allow the hangover to spill a few frames into the trailing padding.
    assert!(
        decisions[decisions.len() - PAD_FRAMES + 5..]
            .iter()
            .all(|v| !v),
        "trailing silence voiced"
    );
    let ratio = speech.iter().filter(|&&v| v).count() as f64 / speech.len() as f64;
    assert!(
        ratio > 0.7,
        "only {:.0}% of the speech frames voiced",
        ratio * 100.0
    );
}

#[test]
fn one_sentence_of_hebrew_becomes_exactly_one_utterance() {
    let frames = fixture_frames();
    let spoken_ms = ((frames.len() - 2 * PAD_FRAMES) * 20) as u32;
    let events = events_for(frames);
    assert_eq!(
        events.len(),
        3,
        "{:?}",
        events
            .iter()
            .map(|e| format!("{e:.10?}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(events[0], TurnEvent::SpeechStarted);
    assert_eq!(events[1], TurnEvent::BargeIn);
    let TurnEvent::UtteranceEnded {
        audio,
        speech_ms,
        voiced_ms,
        ..
    } = &events[2]
    else {
        panic!("expected an utterance, got {:?}", events[2]);
    };
    assert!(
        speech_ms.abs_diff(spoken_ms) < 300,
        "speech_ms {speech_ms} vs {spoken_ms}"
    );
    assert!(*voiced_ms > spoken_ms * 7 / 10);
    // The delivered audio is a valid STT upload.
    let upload = wav::write_mulaw_8k(audio);
    assert_eq!(wav::parse(&upload).unwrap().data, &audio[..]);
}

#[test]
fn hebrew_speech_over_line_noise_is_still_one_utterance() {
    let frames = noisy_fixture_frames(200.0);
    let spoken_ms = ((frames.len() - 2 * PAD_FRAMES) * 20) as u32;
    let events = events_for(frames);
    assert_eq!(
        events.len(),
        3,
        "{:?}",
        events
            .iter()
            .map(|e| format!("{e:.10?}"))
            .collect::<Vec<_>>()
    );
    let TurnEvent::UtteranceEnded { speech_ms, .. } = &events[2] else {
        panic!("expected an utterance, got {:?}", events[2]);
    };
    assert!(
        speech_ms.abs_diff(spoken_ms) < 400,
        "speech_ms {speech_ms} vs {spoken_ms}"
    );
}

#[test]
fn line_noise_alone_produces_no_utterance() {
    let frames = noisy_fixture_frames(200.0);
    // Keep only the padding on both sides: noise without speech.
    let noise_only: Vec<Vec<u8>> = frames[..PAD_FRAMES]
        .iter()
        .chain(&frames[frames.len() - PAD_FRAMES..])
        .cloned()
        .collect();
    let repeated: Vec<Vec<u8>> = std::iter::repeat_n(noise_only, 4).flatten().collect();
    assert!(events_for(repeated).is_empty());
}
