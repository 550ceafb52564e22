//! The agent's own voice, echoed back on the caller's leg, neither stops
//! the agent nor becomes a turn; the caller talking over it does.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::fakes::{FakeLlm, FakeStt, FakeTts, LlmReply};
use crate::support::{Options, clears, start, turns};
use crate::{CALLER_SAYS, Fakes};

const LONG_REPLY: &[&str] = &[
    "שלום, בשמחה אקבע לך תור לתספורת אצלנו במספרה! ",
    "יש לנו מקומות פנויים ביום שלישי וביום חמישי בבוקר. ",
    "וגם ביום שישי בצהריים, אם זה נוח לך יותר.",
];

fn loud_agent() -> Fakes {
    let fakes = Fakes {
        tts: std::sync::Arc::new(FakeTts::new(100, 30)),
        ..Fakes::new(
            FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
            FakeLlm::replying(LlmReply::new(LONG_REPLY, 300, 0)),
        )
    };
    fakes.tts.tone.store(true, Ordering::SeqCst);
    fakes
}

#[tokio::test(start_paused = true)]
async fn the_agents_echo_on_the_callers_leg_neither_interrupts_it_nor_becomes_a_turn() {
    let fakes = loud_agent();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(2000).await;
    call.speak(1200).await;
    // The reply starts about 1.2 s later and lasts about 4 s; its echo
    // comes back 20 dB down (a typical echo return loss) for 2 s of it.
    call.silence(1500).await;
    call.speak_quietly(2000, 20.0).await;
    call.silence(5000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    assert_eq!(clears(&log), 0, "the agent was not cut off");
    let turns = turns(&events);
    assert_eq!(turns.len(), 1, "the echo was no turn: {turns:?}");
    assert!(!turns[0].barge_in);
    assert_eq!(
        turns[0].agent_text.as_deref(),
        Some(LONG_REPLY.concat().trim())
    );
}

#[tokio::test(start_paused = true)]
async fn the_caller_talking_over_the_agent_still_interrupts_it() {
    let fakes = loud_agent();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(2000).await;
    call.speak(1200).await;
    call.silence(1500).await;
    call.speak(800).await;
    call.silence(4000).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    assert!(clears(&log) >= 1, "the agent stopped for the caller");
    assert!(turns(&events)[0].barge_in);
}
