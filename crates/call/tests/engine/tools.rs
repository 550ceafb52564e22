//! The agent's tools in a call: the model's tool call is run, a filler
//! covers a slow tool, the result goes back to the model, the run is stored
//! with its turn, and a tool can end the call.

use std::sync::Arc;
use std::time::Duration;

use agentlocator_call::{CallEnd, EndReason};
use providers::ChatRole;
use tokio::time::Instant;

use crate::support::fakes::{FakeLlm, FakeStt, FakeTools, FakeTts, LlmReply};
use crate::support::{Options, Out, start, turns};
use crate::{CALLER_SAYS, Fakes};

const ANSWER: &str = "רשמתי את ההודעה, והיא תועבר לבעל העסק.";
const GOODBYE: &str = "תודה שהתקשרת, יום טוב.";

/// Fakes whose model calls `tool` once, then says `then`.
fn calling(tool: &str, then: &str, tools: FakeTools) -> (Fakes, Arc<FakeTools>) {
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
        FakeLlm::scripted(
            &[LlmReply::calling(tool, r#"{"message":"תחזרו אליי"}"#, 300)],
            LlmReply::new(&[then], 300, 0),
        ),
    );
    (fakes, Arc::new(tools))
}

/// Arrival times of the agent's audio frames after `from`.
fn frames_after(log: &[Out], from: Instant) -> Vec<Instant> {
    log.iter()
        .filter_map(|o| match o {
            Out::Media { at, .. } if *at >= from => Some(*at),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_three_second_tool_gets_a_filler_within_700_ms_and_the_caller_never_waits_over_1_5_s() {
    let (fakes, tools) = calling("take_message", ANSWER, FakeTools::new(3000));
    let mut providers = fakes.providers();
    providers.tools = Some(tools.clone());
    let mut call = start(Options::new(providers));
    call.silence(2000).await; // the greeting
    call.speak(1000).await;
    let spoke_until = Instant::now();
    call.silence(7000).await;
    call.stop().await;
    let (summary, log, events) = call.finish().await;
    assert_eq!(summary.end, EndReason::Stopped);

    let runs = tools.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1, "the tool ran once");
    let (name, arguments, decided, finished) = runs[0].clone();
    assert_eq!(name, "take_message");
    assert!(arguments.contains("תחזרו אליי"));
    let finished = finished.expect("the tool finished");

    let frames = frames_after(&log, spoke_until);
    let first = frames[0];
    assert!(
        first - decided <= Duration::from_millis(700 + 100 + 20),
        "the first filler frame came {:?} after the tool was called",
        first - decided
    );
    // From the first sound of the reply to its last, no gap over 1.5 s.
    let longest = frames.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest <= Duration::from_millis(1500),
        "a silence of {longest:?}"
    );
    assert!(
        *frames.last().unwrap() > finished,
        "the answer came after the tool"
    );

    // The model's second request carried the call and its result.
    let seen = fakes.llm.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let second = &seen[1];
    let call_msg = &second[second.len() - 2];
    assert_eq!(call_msg.tool_calls[0].name, "take_message");
    let result = &second[second.len() - 1];
    assert_eq!(result.role, ChatRole::Tool);
    assert_eq!(result.tool_call_id.as_deref(), Some("call_take_message"));
    assert!(result.content.contains(r#""ok":true"#));

    // The run is stored with its turn, and the caller heard filler then answer.
    let turns = turns(&events);
    assert_eq!(turns.len(), 1);
    let record = &turns[0].tools;
    assert_eq!(record.len(), 1);
    assert_eq!(record[0].name, "take_message");
    assert!(record[0].duration_ms >= 3000, "{:?}", record[0]);
    let heard = turns[0].agent_text.clone().unwrap();
    assert!(heard.ends_with(ANSWER), "{heard}");
    assert!(
        heard.len() > ANSWER.len(),
        "a filler was said first: {heard}"
    );
}

#[tokio::test(start_paused = true)]
async fn however_long_the_tool_the_caller_never_waits_much_longer_than_a_filler_gap() {
    // Tools ending at every point of the filler cadence, including just
    // before a filler is due, when only the model's answer is left to come.
    for tool_ms in (1_000..=4_000).step_by(50) {
        let (fakes, tools) = calling("take_message", ANSWER, FakeTools::new(tool_ms));
        let mut providers = fakes.providers();
        providers.tools = Some(tools);
        let mut call = start(Options::new(providers));
        call.silence(2000).await; // the greeting
        call.speak(1000).await;
        let spoke_until = Instant::now();
        call.silence(tool_ms + 4000).await;
        call.stop().await;
        let (_, log, _) = call.finish().await;
        let frames = frames_after(&log, spoke_until);
        let longest = frames.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            longest <= Duration::from_millis(1_100),
            "a {tool_ms} ms tool left a silence of {longest:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_quick_tool_is_answered_without_any_filler() {
    let (fakes, tools) = calling("take_message", ANSWER, FakeTools::new(100));
    let mut providers = fakes.providers();
    providers.tools = Some(tools.clone());
    let mut call = start(Options::new(providers));
    call.silence(2000).await;
    call.speak(1000).await;
    call.silence(4000).await;
    call.stop().await;
    let (_, _, events) = call.finish().await;
    let turns = turns(&events);
    assert_eq!(turns[0].agent_text.as_deref(), Some(ANSWER));
}

#[tokio::test(start_paused = true)]
async fn end_call_says_goodbye_then_closes_the_stream_so_twilio_hangs_up() {
    let mut tools = FakeTools::new(50);
    tools.ends = Some(("end_call", CallEnd::Hangup));
    let (fakes, tools) = calling("end_call", GOODBYE, tools);
    let mut providers = fakes.providers();
    providers.tools = Some(tools.clone());
    let mut call = start(Options::new(providers));
    call.silence(2000).await;
    call.speak(1000).await;
    call.silence_until(6000, |log| {
        log.iter().any(|o| matches!(o, Out::Close { .. }))
    })
    .await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::HungUp);
    let close = log
        .iter()
        .position(|o| matches!(o, Out::Close { .. }))
        .expect("the socket is closed on purpose");
    let goodbye_heard = log
        .iter()
        .position(|o| matches!(o, Out::Echoed { name, .. } if name.starts_with("t2")))
        .expect("the goodbye was played to the end");
    assert!(
        goodbye_heard < close,
        "closed only after the goodbye was heard"
    );
    assert!(matches!(&log[close], Out::Close { reason, .. } if reason == "goodbye"));
    assert_eq!(turns(&events)[0].agent_text.as_deref(), Some(GOODBYE));
}

#[tokio::test(start_paused = true)]
async fn barging_in_over_a_filler_cuts_the_speech_but_the_transfer_that_ran_still_ends_the_call() {
    let mut tools = FakeTools::new(2500);
    tools.ends = Some(("transfer_to_human", CallEnd::Transfer));
    let (mut fakes, tools) = calling("transfer_to_human", "מעבירה אותך.", tools);
    // Long enough a filler (about a second) to talk over.
    fakes.tts = Arc::new(FakeTts::new(100, 60));
    let mut providers = fakes.providers();
    providers.tools = Some(tools.clone());
    let mut call = start(Options::new(providers));
    call.silence(2000).await;
    call.speak(1000).await;
    // Wait for the filler to start, then talk over it.
    call.silence_until(3000, |log| {
        log.iter()
            .filter(|o| matches!(o, Out::Media { .. }))
            .count()
            > 80
    })
    .await;
    call.speak(800).await;
    call.silence_until(8000, |log| {
        log.iter().any(|o| matches!(o, Out::Close { .. }))
    })
    .await;
    let (summary, log, _) = call.finish().await;

    assert!(
        log.iter().any(|o| matches!(o, Out::Clear { .. })),
        "the filler was cut"
    );
    let runs = tools.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert!(
        runs[0].3.is_some(),
        "the tool finished although its reply was cut"
    );
    assert_eq!(summary.end, EndReason::Transferred);
}

#[tokio::test(start_paused = true)]
async fn in_a_turn_that_runs_a_tool_the_caller_hears_something_within_1_5_s_of_stopping() {
    // The end-of-turn wait, STT and the model's first answer already took
    // about 1.1 s when a 500 ms tool starts.
    let (fakes, tools) = calling("take_message", ANSWER, FakeTools::new(500));
    let mut providers = fakes.providers();
    providers.tools = Some(tools.clone());
    let mut call = start(Options::new(providers));
    call.silence(2000).await;
    call.speak(1000).await;
    let stopped_talking = Instant::now();
    call.silence(4000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    let first = frames_after(&log, stopped_talking)[0];
    assert!(
        first - stopped_talking <= Duration::from_millis(1500),
        "the caller waited {:?} in silence",
        first - stopped_talking
    );
    let heard = turns(&events)[0].agent_text.clone().unwrap();
    assert!(
        heard.ends_with(ANSWER) && heard.len() > ANSWER.len(),
        "{heard}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_model_stuck_after_a_tool_is_asked_again_while_fillers_keep_the_caller_company() {
    // The model's answer after the tool hangs before its first word; the
    // second request 2 s in answers, and fillers cover the wait.
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
        FakeLlm::scripted(
            &[
                LlmReply::calling("take_message", r#"{"message":"תחזרו אליי"}"#, 300),
                LlmReply::new(&["תשובה שנתקעה."], 60_000, 0),
            ],
            LlmReply::new(&[ANSWER], 300, 0),
        ),
    );
    let mut providers = fakes.providers();
    providers.tools = Some(Arc::new(FakeTools::new(500)));
    let mut call = start(Options::new(providers));
    call.silence(2000).await;
    call.speak(1000).await;
    let spoke_until = Instant::now();
    call.silence(8000).await;
    call.stop().await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::Stopped);
    let turns = turns(&events);
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].error_code, None);
    let heard = turns[0].agent_text.clone().unwrap();
    assert!(heard.ends_with(ANSWER), "{heard}");
    assert!(turns[0].wasted_calls >= 1, "{:?}", turns[0]);
    let frames = frames_after(&log, spoke_until);
    let longest = frames.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest <= Duration::from_millis(1_100),
        "a silence of {longest:?}"
    );
}
