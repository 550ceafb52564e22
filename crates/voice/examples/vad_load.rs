//! A thousand calls' VADs taking frames in turn, as a loaded server runs them: for counting cache misses.
//!
//! Under the load benchmark no call's state is still in the cache when its
//! next frame comes, so what a frame costs there is largely the memory it
//! touches. Timings on a shared machine are too noisy to show that, and
//! cachegrind's counts are exact:
//!
//! ```sh
//! cargo build --release -p agentlocator-voice --example vad_load
//! valgrind --tool=cachegrind --cache-sim=yes --LL=2097152,16,64 \
//!     target/release/examples/vad_load
//! ```
//!
//! (`--LL` models a 2 MiB second-level cache, this machine's per core.)
//! Each call starts at its own place in the fixture. An argument sets the
//! frames per call (default 60), for timing it instead.

use agentlocator_voice::{TWILIO_FRAME_SAMPLES, Vad, mulaw, wav};

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/shalom.wav");
const CALLS: usize = 1_000;

fn main() {
    let audio = wav::to_mulaw_8k_mono(FIXTURE).expect("the fixture parses");
    let frames: Vec<Vec<i16>> = audio
        .chunks_exact(TWILIO_FRAME_SAMPLES)
        .map(|frame| {
            let mut pcm = Vec::new();
            mulaw::decode_into(frame, &mut pcm);
            pcm
        })
        .collect();
    let mut vads: Vec<Vad> = (0..CALLS).map(|_| Vad::default()).collect();
    let frames_per_call: usize = std::env::args()
        .nth(1)
        .map_or(60, |n| n.parse().expect("frames per call, a number"));
    let mut voiced = 0usize;
    for round in 0..frames_per_call {
        for (call, vad) in vads.iter_mut().enumerate() {
            let frame = &frames[(round + call * 7) % frames.len()];
            voiced += usize::from(vad.push(std::hint::black_box(frame)));
        }
    }
    println!("{} frames pushed, {voiced} voiced", CALLS * frames_per_call);
}
