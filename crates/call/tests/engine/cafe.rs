//! A caller in a café: the crowd the VAD hears while the caller is silent
//! is never a turn, never barges in and never cancels the reply.

#[path = "../../../voice/tests/support/noise.rs"]
#[allow(dead_code)]
mod noise;

use std::sync::atomic::Ordering;

use noise::NoiseFamily;

use crate::support::{Options, clears, start, turns};
use crate::{CALLER_SAYS, Fakes, REPLY_1, REPLY_2};

const CALLER: &[u8] = include_bytes!("../../../voice/tests/fixtures/caller-he.wav");
const SHALOM: &[u8] = include_bytes!("../../../voice/tests/fixtures/shalom.wav");
const RATE: usize = 8_000;

fn pcm(fixture: &[u8]) -> Vec<i16> {
    voice::wav::decode_mono_8k(&voice::wav::parse(fixture).unwrap()).unwrap()
}

/// `seconds` of a café line at `snr_db` under the caller of caller-he.wav:
/// its first utterance (3.0–7.5 s) when `with_caller`, the crowd alone
/// otherwise, and the crowd going on after it.
fn cafe_line(seconds: usize, snr_db: f32, with_caller: bool) -> Vec<i16> {
    let caller = pcm(CALLER);
    let first_utterance = &caller[..10 * RATE];
    let mut speech = if with_caller {
        first_utterance.to_vec()
    } else {
        Vec::new()
    };
    speech.resize(seconds * RATE, 0);
    let crowd = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    let raw = NoiseFamily::Cafe.generate(speech.len(), 82, &crowd);
    let scaled = noise::scale_to_snr(&raw, noise::active_rms(first_utterance), snr_db);
    noise::add(&speech, &scaled)
}

#[tokio::test(start_paused = true)]
async fn a_caller_in_a_cafe_is_answered_in_full_while_the_crowd_goes_on() {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    // The greeting over a quiet line, then the café: the room must learn
    // the crowd as it comes, not only a crowd that was there all along.
    call.silence(4000).await;
    call.play(&cafe_line(16, 20.0, true)).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    assert_eq!(clears(&log), 0, "the crowd cut the agent off");
    let turns = turns(&events);
    assert_eq!(turns.len(), 1, "the crowd became a turn: {turns:?}");
    assert!(!turns[0].barge_in, "{turns:?}");
    assert_eq!(
        turns[0].agent_text.as_deref(),
        Some(format!("{REPLY_1} {REPLY_2}").as_str()),
        "the reply was played in full"
    );
    assert_eq!(turns[0].user_text.as_deref(), Some(CALLER_SAYS));
}

#[tokio::test(start_paused = true)]
async fn twenty_seconds_of_a_cafe_with_the_caller_silent_are_no_turn_and_reach_no_provider() {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.play(&cafe_line(20, 20.0, false)).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    assert_eq!(clears(&log), 0);
    assert_eq!(turns(&events), []);
    assert_eq!(fakes.stt.calls.load(Ordering::SeqCst), 0);
    assert_eq!(fakes.llm.seen.lock().unwrap().len(), 0);
}
