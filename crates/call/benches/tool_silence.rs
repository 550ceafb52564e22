//! Benchmark: the silence a caller hears in a turn that runs a slow tool.
//!
//! The engine runs in real time (not on a paused clock) with fake providers
//! at the load benchmark's latencies (STT 300 ms, model 300 ms to the first
//! token then a word every 33 ms, TTS 150 ms and 60 ms of audio per
//! character) and a tool that takes 0.5 s, 2 s or 5 s. The caller speaks,
//! the model calls the tool, and the fake Twilio logs when each audio frame
//! arrives. Reported per tool length, median and worst over the runs: the
//! time from the model's tool call to the first filler frame, and the
//! longest gap in the agent's audio from its first frame of the reply to
//! its last (what the caller hears as silence while the tool runs).
//!
//! `cargo bench -p agentlocator-call --bench tool_silence [-- RUNS]`

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

#[allow(dead_code, unused_imports)]
#[path = "../tests/engine/support/mod.rs"]
mod support;

use support::fakes::{FakeLlm, FakeStt, FakeTools, FakeTts, LlmReply};
use support::{Options, Out, start};

/// The model's words after the tool answered, one delta a word.
const ANSWER: &[&str] = &[
    "רשמתי ",
    "את ",
    "ההודעה ",
    "שלך, ",
    "והיא ",
    "תועבר ",
    "לבעל ",
    "העסק ",
    "עוד ",
    "היום.",
];

struct Run {
    to_filler: Duration,
    longest_gap: Duration,
    speech_end_to_first_sound: Duration,
}

async fn one_run(tool_ms: u64) -> Run {
    let tools = Arc::new(FakeTools::new(tool_ms));
    let providers = agentlocator_call::CallProviders {
        stt: Arc::new(FakeStt::saying(
            "אני רוצה להשאיר הודעה לבעל העסק",
            Duration::from_millis(300),
        )),
        llm: Arc::new(FakeLlm::scripted(
            &[LlmReply::calling(
                "take_message",
                r#"{"message":"תחזרו אליי מחר"}"#,
                300,
            )],
            LlmReply::new(ANSWER, 300, 33),
        )),
        tts: Arc::new(FakeTts::new(150, 60)),
        tools: Some(tools.clone()),
        hedge_budget: Default::default(),
    };
    let mut call = start(Options::new(providers));
    call.silence(2500).await; // the greeting
    call.speak(1200).await;
    let spoke_until = Instant::now();
    call.silence(tool_ms + 4000).await;
    call.stop().await;
    let (_, log, _) = call.finish().await;

    let runs = tools.runs.lock().unwrap().clone();
    let decided = runs.first().expect("the model called the tool").2;
    let frames: Vec<Instant> = log
        .iter()
        .filter_map(|o| match o {
            Out::Media { at, .. } if *at >= spoke_until => Some(*at),
            _ => None,
        })
        .collect();
    let first_after_decision = frames
        .iter()
        .find(|at| **at >= decided)
        .copied()
        .unwrap_or(decided);
    // A frame is 20 ms of audio: the silence is the gap beyond it.
    let frame = Duration::from_millis(20);
    let longest_gap = frames
        .windows(2)
        .map(|w| (w[1] - w[0]).saturating_sub(frame))
        .max()
        .unwrap_or_default();
    Run {
        to_filler: first_after_decision - decided,
        longest_gap,
        speech_end_to_first_sound: frames.first().map_or(Duration::ZERO, |f| *f - spoke_until),
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    println!(
        "tool_ms runs  to_filler_ms(med/max)  longest_gap_ms(med/max)  speech_end_to_first_sound_ms(med)"
    );
    for tool_ms in [500, 2000, 5000] {
        let mut all = Vec::new();
        for _ in 0..runs {
            all.push(one_run(tool_ms).await);
        }
        let fill: Vec<_> = all.iter().map(|r| r.to_filler).collect();
        let gap: Vec<_> = all.iter().map(|r| r.longest_gap).collect();
        let first: Vec<_> = all.iter().map(|r| r.speech_end_to_first_sound).collect();
        println!(
            "{tool_ms:>7} {runs:>4}  {:>9}/{:<9}  {:>11}/{:<11}  {:>10}",
            ms(median(fill.clone())),
            ms(fill.iter().copied().max().unwrap_or_default()),
            ms(median(gap.clone())),
            ms(gap.iter().copied().max().unwrap_or_default()),
            ms(median(first)),
        );
    }
}
