//! The per-frame inbound path of a call, as the call task runs it for every
//! 20 ms Twilio media message: base64 payload → mu-law bytes → linear PCM →
//! VAD decision → end-of-turn detector. Also each step alone.
//!
//! Frames cycle through the espeak Hebrew fixture (speech and silence), so
//! the detectors see realistic state changes rather than one constant frame.

use std::hint::black_box;

use agentlocator_voice::{TWILIO_FRAME_SAMPLES, TurnConfig, TurnDetector, Vad, mulaw, wav};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/shalom.wav");

/// The fixture as 160-byte mu-law frames.
fn frames() -> Vec<Vec<u8>> {
    let audio = wav::to_mulaw_8k_mono(FIXTURE).expect("fixture parses");
    audio
        .chunks_exact(TWILIO_FRAME_SAMPLES)
        .map(<[u8]>::to_vec)
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let payloads: Vec<String> = frames.iter().map(|f| STANDARD.encode(f)).collect();
    let pcm_frames: Vec<Vec<i16>> = frames
        .iter()
        .map(|f| {
            let mut pcm = Vec::new();
            mulaw::decode_into(f, &mut pcm);
            pcm
        })
        .collect();

    let mut group = c.benchmark_group("inbound_frame");

    {
        let mut vad = Vad::default();
        let mut turns = TurnDetector::default();
        let mut bytes = [0u8; 3 * TWILIO_FRAME_SAMPLES];
        let mut pcm = Vec::with_capacity(TWILIO_FRAME_SAMPLES);
        let mut i = 0;
        group.bench_function("full_path", |b| {
            b.iter(|| {
                let payload = &payloads[i % payloads.len()];
                i += 1;
                let n = STANDARD
                    .decode_slice(black_box(payload.as_bytes()), &mut bytes)
                    .unwrap_or(0);
                let mulaw_frame = &bytes[..n];
                pcm.clear();
                mulaw::decode_into(mulaw_frame, &mut pcm);
                let voiced = vad.push(&pcm);
                black_box(turns.push(mulaw_frame, voiced))
            })
        });
    }

    {
        let mut bytes = [0u8; 3 * TWILIO_FRAME_SAMPLES];
        let mut i = 0;
        group.bench_function("base64_decode", |b| {
            b.iter(|| {
                let payload = &payloads[i % payloads.len()];
                i += 1;
                black_box(
                    STANDARD
                        .decode_slice(black_box(payload.as_bytes()), &mut bytes)
                        .unwrap_or(0),
                )
            })
        });
    }

    {
        let mut pcm = Vec::with_capacity(TWILIO_FRAME_SAMPLES);
        let mut i = 0;
        group.bench_function("mulaw_decode", |b| {
            b.iter(|| {
                pcm.clear();
                mulaw::decode_into(black_box(&frames[i % frames.len()]), &mut pcm);
                i += 1;
                black_box(pcm.len())
            })
        });
    }

    {
        let mut vad = Vad::default();
        let mut i = 0;
        group.bench_function("vad_push", |b| {
            b.iter(|| {
                let voiced = vad.push(black_box(&pcm_frames[i % pcm_frames.len()]));
                i += 1;
                black_box(voiced)
            })
        });
    }

    {
        // A server at load: a thousand calls' VADs take a frame each in
        // turn, so no call's state is still in the cache when its next
        // frame comes, as under the sustained load benchmark. Each call
        // starts at its own place in the fixture.
        let calls = 1_000;
        let mut vads: Vec<Vad> = (0..calls).map(|_| Vad::default()).collect();
        let mut i = 0;
        group.bench_function("vad_push_across_1000_calls", |b| {
            b.iter(|| {
                let call = i % calls;
                let frame = (i / calls + call * 7) % pcm_frames.len();
                i += 1;
                black_box(vads[call].push(black_box(&pcm_frames[frame])))
            })
        });
    }

    {
        // Decisions precomputed so this measures the state machine alone.
        let mut vad = Vad::default();
        let decisions: Vec<bool> = pcm_frames.iter().map(|f| vad.push(f)).collect();
        let mut turns = TurnDetector::default();
        let mut i = 0;
        group.bench_function("turn_push", |b| {
            b.iter(|| {
                let k = i % frames.len();
                i += 1;
                black_box(turns.push(black_box(&frames[k]), decisions[k]))
            })
        });
    }

    {
        // With the VAD's levels, as the call pushes frames: the room (see
        // `TurnConfig::stand_out_db`) is measured and judged only here.
        let mut vad = Vad::default();
        let heard: Vec<(bool, f32)> = pcm_frames
            .iter()
            .map(|f| (vad.push(f), vad.last_energy_dbfs()))
            .collect();
        let rules_off = TurnConfig {
            stand_out_db: 0,
            room_end_db: 0,
            ..TurnConfig::default()
        };
        for (name, config) in [
            ("turn_push_heard", TurnConfig::default()),
            ("turn_push_heard_room_rules_off", rules_off),
        ] {
            let mut turns = TurnDetector::new(config);
            let mut i = 0;
            group.bench_function(name, |b| {
                b.iter(|| {
                    let k = i % frames.len();
                    i += 1;
                    let (voiced, level) = heard[k];
                    black_box(turns.push_heard(black_box(&frames[k]), voiced, level))
                })
            });
        }
    }

    {
        // As the call pushes frames since the crowd score: with each speech
        // band's level over its quiet fifth too.
        let mut vad = Vad::default();
        let heard: Vec<(bool, f32, Option<[f32; 4]>)> = pcm_frames
            .iter()
            .map(|f| {
                let voiced = vad.push(f);
                (voiced, vad.last_energy_dbfs(), vad.bands_over_floor_db())
            })
            .collect();
        let mut turns = TurnDetector::default();
        let mut i = 0;
        group.bench_function("turn_push_frame", |b| {
            b.iter(|| {
                let k = i % frames.len();
                i += 1;
                let (voiced, level, bands) = heard[k];
                black_box(turns.push_frame(black_box(&frames[k]), voiced, level, bands))
            })
        });
    }

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
