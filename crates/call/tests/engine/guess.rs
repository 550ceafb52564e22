//! Speculative turns: a pause starts the reply early, held silent; the end
//! of the turn releases it, and more speech throws it away.

use std::sync::atomic::Ordering;
use std::time::Duration;

use providers::ChatRole;
use tokio::time::Instant;

use crate::support::{Options, Out, start, turns};
use crate::{CALLER_SAYS, Fakes, REPLY_1};

fn first_frame_after(log: &[Out], from: Instant) -> Instant {
    log.iter()
        .find_map(|o| match o {
            Out::Media { at, .. } if *at >= from => Some(*at),
            _ => None,
        })
        .expect("a reply frame")
}

/// Caller-felt latency (end of speech → first reply frame) with and
/// without guesses, on the same fakes.
async fn felt(speculative: bool) -> (Duration, agentlocator_call::TurnRecord) {
    let fakes = Fakes::standard();
    let mut call = start(Options::guessing(fakes.providers(), speculative));
    call.silence(1000).await;
    call.speak(1000).await;
    let stopped = Instant::now();
    call.silence(4000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;
    (
        first_frame_after(&log, stopped) - stopped,
        turns(&events).remove(0),
    )
}

#[tokio::test(start_paused = true)]
async fn a_guess_at_the_pause_answers_as_soon_as_the_turn_ends_instead_of_starting_then() {
    let (plain, plain_turn) = felt(false).await;
    let (guessed, turn) = felt(true).await;
    // The guess starts 200 ms (the default) into the 600 ms end-of-turn
    // wait: STT and the model get a 400 ms head start.
    assert!(
        plain - guessed >= Duration::from_millis(380),
        "with a guess {guessed:?}, without {plain:?}"
    );
    assert!(guessed <= Duration::from_millis(810), "{guessed:?}");
    assert!(turn.speculative && !plain_turn.speculative);
    assert_eq!((turn.guesses, turn.wasted_calls), (1, 0));
    assert_eq!(turn.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(turn.agent_text, plain_turn.agent_text);
}

#[tokio::test(start_paused = true)]
async fn talking_on_after_a_pause_drops_the_guess_unheard_and_answers_the_whole_utterance() {
    let fakes = Fakes::standard();
    let mut opts = Options::new(fakes.providers());
    opts.turn.end_silence_ms = 1200;
    let mut call = start(opts);
    call.silence(1000).await;
    call.speak(600).await;
    // Long enough for a guess to transcribe and synthesise its first
    // sentence (ready 850 ms into the pause), short of the end of turn.
    call.silence(1000).await;
    call.speak(600).await;
    let stopped = Instant::now();
    call.silence(4000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    // Two transcriptions: the guess's (600 ms of speech) and the whole.
    let heard = fakes.stt.heard_bytes.lock().unwrap().clone();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(
        heard[1] > heard[0] + 600 * 8,
        "the second heard the new audio too"
    );
    // The dropped guess had synthesised its first sentence; not a frame of
    // it reached the caller.
    let said = fakes.tts.said.lock().unwrap().clone();
    let firsts: Vec<u8> = said
        .iter()
        .filter(|(text, _)| text == REPLY_1)
        .map(|(_, byte)| *byte)
        .collect();
    assert_eq!(
        firsts.len(),
        2,
        "the guess and the reply each synthesised it"
    );
    let stale = firsts[0];
    assert!(
        !log.iter()
            .any(|o| matches!(o, Out::Media { bytes, .. } if bytes[0] == stale)),
        "stale audio reached the caller"
    );
    assert!(first_frame_after(&log, stopped) > stopped);

    let turns = turns(&events);
    assert_eq!(turns.len(), 1);
    let turn = &turns[0];
    assert_eq!(turn.guesses, 2);
    assert!(turn.speculative);
    // The dropped guess: its transcription, its model request, one synthesis.
    assert_eq!(turn.wasted_calls, 3);
    // The model saw the caller once: the history holds confirmed turns only.
    let seen = fakes.llm.seen.lock().unwrap().clone();
    let last = seen.last().unwrap();
    let users = last.iter().filter(|m| m.role == ChatRole::User).count();
    assert_eq!(users, 1);
    assert_eq!(fakes.stt.calls.load(Ordering::SeqCst), 2);
}

type Heard = (Fakes, Vec<agentlocator_call::TurnRecord>, Duration);

/// A caller whose guess transcript is `heard`, speaking `first` ms, pausing
/// `pause` ms, then (when `then` > 0) speaking `then` ms more, with STT and
/// the model's first token taking `provider_ms` each.
async fn pausing(heard: &str, provider_ms: u64, first: u64, pause: u64, then: u64) -> Heard {
    let mut reply = crate::two_sentences();
    reply.ttft = Duration::from_millis(provider_ms);
    let fakes = Fakes::new(
        crate::support::fakes::FakeStt::saying(heard, Duration::from_millis(provider_ms)),
        crate::support::fakes::FakeLlm::replying(reply),
    );
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;
    call.speak(first).await;
    call.silence(pause).await;
    call.speak(then).await;
    let stopped = Instant::now();
    call.silence(4000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;
    let felt = first_frame_after(&log, stopped) - stopped;
    (fakes, turns(&events), felt)
}

#[tokio::test(start_paused = true)]
async fn words_that_stop_mid_phrase_wait_longer_so_a_pause_after_a_preposition_is_not_cut_off() {
    // "I'd like to book a table for…": a 800 ms pause, then the rest.
    let (fakes, turns, _) = pausing("אני רוצה להזמין שולחן ל", 200, 800, 800, 600).await;
    assert_eq!(turns.len(), 1, "one turn, not cut at the pause: {turns:?}");
    assert_eq!(turns[0].endpointing_ms, 1080, "600 ms × 1.8");
    let heard = fakes.stt.heard_bytes.lock().unwrap().clone();
    assert!(
        *heard.last().unwrap() >= (800 + 800 + 600) * 8,
        "the reply heard the whole utterance: {heard:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn with_quick_providers_a_complete_question_is_answered_before_the_configured_wait() {
    // The guess is ready before 600 ms of silence: a question need not
    // wait that long, a plain statement does.
    let (_, question, asked) = pausing("מה שעות הפתיחה שלכם?", 50, 1000, 0, 0).await;
    let (_, statement, said) = pausing("אני רוצה לקבוע תור לתספורת", 50, 1000, 0, 0).await;
    assert_eq!(question[0].endpointing_ms, 360, "600 ms × 0.6");
    assert_eq!(statement[0].endpointing_ms, 600);
    assert!(
        said - asked >= Duration::from_millis(100),
        "question {asked:?}, statement {said:?}"
    );
}

/// What the caller said after going on, and what the call did.
struct WentOn {
    fakes: Fakes,
    log: Vec<Out>,
    turns: Vec<agentlocator_call::TurnRecord>,
    /// When they went on, and when they stopped again.
    went_on: Instant,
    stopped: Instant,
}

/// A caller who speaks a second, and 650 ms into the silence, 50 ms after
/// their turn ended and 150 ms before its guessed reply would play, goes
/// on in `bursts` of `burst_ms`, `gap_ms` apart.
async fn going_on(bursts: usize, burst_ms: u64, gap_ms: u64) -> WentOn {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;
    call.speak(1000).await;
    call.silence(650).await;
    let went_on = Instant::now();
    for burst in 0..bursts {
        if burst > 0 {
            call.silence(gap_ms).await;
        }
        call.speak(burst_ms).await;
    }
    let stopped = Instant::now();
    call.silence(4000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;
    WentOn {
        fakes,
        log,
        turns: turns(&events),
        went_on,
        stopped,
    }
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_goes_on_just_after_their_turn_ends_is_not_talked_over() {
    // Without waiting, the reply would talk over them until their
    // barge-in, 250 ms on.
    let WentOn {
        fakes,
        log,
        turns,
        went_on,
        stopped,
    } = going_on(1, 800, 0).await;

    assert_eq!(crate::support::clears(&log), 0, "the agent cut itself off");
    assert!(
        first_frame_after(&log, went_on) >= stopped,
        "the agent spoke while the caller did"
    );
    // One turn, heard again whole: one transcription of both parts, and
    // the model told of the caller once.
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert!(
        !turns[0].barge_in && turns[0].agent_text.is_some(),
        "{turns:?}"
    );
    assert_eq!(turns[0].user_text.as_deref(), Some(CALLER_SAYS));
    let heard = fakes.stt.heard_bytes.lock().unwrap().clone();
    assert!(
        *heard.last().unwrap() >= (1000 + 650 + 800) * 8,
        "both parts sent together: {heard:?}"
    );
    let seen = fakes.llm.seen.lock().unwrap().clone();
    let said = crate::support::users_in(seen.last().unwrap());
    assert_eq!(said, [CALLER_SAYS], "the first part told twice");
    // The answer to the first part, cancelled unheard, counts as wasted.
    assert!(turns[0].wasted_calls >= 3, "{turns:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cough_just_after_the_turn_ends_delays_the_reply_by_a_breath_not_until_it_is_dropped() {
    // 100 ms of a cough as the guessed reply is about to play: too short
    // to be a turn, and dropped only 600 ms after it.
    let WentOn {
        log,
        turns,
        stopped: coughed,
        ..
    } = going_on(1, 100, 0).await;

    // The VAD's 80 ms hangover, then a breath of 200 ms.
    let waited = first_frame_after(&log, coughed) - coughed;
    assert!(
        waited <= Duration::from_millis(300),
        "the reply waited {waited:?} after the cough"
    );
    assert_eq!(crate::support::clears(&log), 0);
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert!(!turns[0].barge_in, "{turns:?}");
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_goes_on_in_short_bursts_is_not_talked_over_in_their_breaths() {
    // Bursts of 120 ms, each too short to barge in (with the VAD's 80 ms
    // hangover, 200 of the 250 ms), 150 ms apart: the reply, ready 200 ms
    // after the end, must not start in a breath between them.
    let WentOn {
        log,
        turns,
        went_on,
        stopped,
        ..
    } = going_on(5, 120, 150).await;

    assert!(
        first_frame_after(&log, went_on) >= stopped,
        "the agent spoke {:?} after the caller went on, before they stopped",
        first_frame_after(&log, went_on) - went_on
    );
    assert_eq!(crate::support::clears(&log), 0);
    assert_eq!(turns.len(), 1, "{turns:?}");
}
