//! Provider failures, deadlines, stalls, stop and shutdown: the call ends on
//! purpose and says why.

use std::sync::atomic::Ordering;
use std::time::Duration;

use agentlocator_call::{CallEvent, CallLimits, EndReason};
use tokio::time::Instant;

use crate::support::fakes::{FakeLlm, FakeStt, LlmReply};
use crate::support::logs::Logs;
use crate::support::{Options, Out, echoed, media_of, start, turns};
use crate::{CALLER_SAYS, Fakes, two_sentences};

fn closed(log: &[Out]) -> bool {
    log.iter().any(|o| matches!(o, Out::Close { .. }))
}

#[tokio::test(start_paused = true)]
async fn provider_failures_in_a_row_say_the_failover_line_then_close_the_socket() {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::new(
        FakeStt::failing(Duration::from_millis(100)),
        FakeLlm::replying(two_sentences()),
    );
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    call.speak(1000).await;
    // The first failure is apologised for (generation 3), not yet fatal.
    assert!(call.silence_until(5000, |log| echoed(log, "t3-s0")).await);
    assert!(!call.is_finished());
    call.speak(1000).await;
    assert!(call.silence_until(8000, closed).await);
    let (summary, log, events) = call.finish().await;

    let reason = "2 provider failures in a row (last: stt_server)";
    assert_eq!(
        summary.end,
        EndReason::Failover {
            reason: reason.to_owned()
        }
    );
    let said = fakes.tts.said.lock().unwrap().clone();
    assert_eq!(said.len(), 3, "greeting, apology, failover line: {said:?}");
    assert!(said[2].0.contains("הודעה"), "the line invites a message");
    assert!(!said[2].0.contains("צליל"), "no beep is promised");
    // The line is played, and heard, before the socket closes.
    let line_frames = media_of(&log, said[2].1);
    assert!(!line_frames.is_empty());
    let close = log
        .iter()
        .position(|o| matches!(o, Out::Close { .. }))
        .unwrap();
    let echo = log
        .iter()
        .position(|o| matches!(o, Out::Echoed { name, .. } if name == "t5-s0"))
        .unwrap();
    assert!(echo < close);
    assert!(matches!(&log[close], Out::Close { code: 1000, .. }));

    let records = turns(&events);
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|t| t.error_code.as_deref() == Some("stt_server"))
    );
    assert!(events.contains(&CallEvent::Failover {
        reason: reason.to_owned()
    }));
    let warns = logs.named("call_failover");
    assert_eq!(warns.len(), 1);
    assert_eq!(warns[0].level, tracing::Level::WARN);
    assert_eq!(warns[0].fields["reason"], reason);
    assert_eq!(warns[0].fields["call_sid"], "CAtest");
}

#[tokio::test(start_paused = true)]
async fn a_success_between_failures_resets_the_failure_streak() {
    let fakes = Fakes::new(
        // Each failing turn's transcription is tried twice.
        FakeStt::scripted(
            &[None, None, Some(CALLER_SAYS), None, None],
            CALLER_SAYS,
            Duration::from_millis(100),
        ),
        FakeLlm::replying(two_sentences()),
    );
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    for _ in 0..3 {
        call.speak(1000).await;
        call.silence(4000).await;
    }
    call.stop().await;
    let (summary, _, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::Stopped);
    let codes: Vec<_> = turns(&events).into_iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [
            Some("stt_server".to_owned()),
            None,
            Some("stt_server".to_owned())
        ]
    );
}

/// How a hedged test call ended, its one turn's record, and the stages
/// that sent a second request.
type HedgedTurn = (EndReason, agentlocator_call::TurnRecord, Vec<&'static str>);

/// One unspeculative turn on a quiet line, with every stage hedged after
/// `hedge`; `then` runs once the greeting has been synthesised: how the
/// call ended, the turn's record, and the stages it reported asking again.
async fn a_hedged_turn(fakes: &Fakes, hedge: Duration, then: impl FnOnce()) -> HedgedTurn {
    let mut call = start(Options::unspeculative(fakes.providers()).hedged_after(hedge));
    call.silence(1000).await;
    then();
    call.speak(1000).await;
    call.silence_until(10_000, closed).await;
    call.stop().await;
    let (summary, _, events) = call.finish().await;
    let asked_again = fakes
        .budget
        .sent()
        .into_iter()
        .filter_map(|(stage, sent)| (sent > 0).then_some(stage))
        .collect();
    let mut turns = turns(&events);
    assert_eq!(turns.len(), 1);
    (summary.end, turns.remove(0), asked_again)
}

/// [`a_hedged_turn`] whose first transcription request hangs (the next
/// takes 300 ms).
async fn a_turn_whose_transcription_hangs(hedge: Duration) -> HedgedTurn {
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(300)).taking(&[Duration::from_secs(60)]),
        FakeLlm::replying(two_sentences()),
    );
    a_hedged_turn(&fakes, hedge, || ()).await
}

#[tokio::test(start_paused = true)]
async fn a_transcription_that_hangs_is_sent_again_and_the_caller_answered_instead_of_moved_to_the_recording()
 {
    // A second request 1.5 s into the first: the transcript 1.8 s after
    // the end of the turn, and the reply after it, well inside the turn's
    // 6 s deadline.
    let (end, turn, asked_again) =
        a_turn_whose_transcription_hangs(agentlocator_call::STT_HEDGE_AFTER).await;
    assert_eq!(end, EndReason::Stopped);
    assert_eq!(turn.error_code, None);
    assert_eq!(turn.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(turn.t_stt_ms, 1800);
    assert!(turn.agent_text.is_some());
    // The request that hung, wasted and reported for the service to count.
    assert_eq!(turn.wasted_calls, 1);
    assert_eq!(asked_again, ["stt"]);

    // With one request only, the deadline hands the caller to the
    // recording fallback.
    let (end, turn, asked_again) = a_turn_whose_transcription_hangs(Duration::ZERO).await;
    assert!(matches!(end, EndReason::Failover { .. }), "{end:?}");
    assert_eq!(turn.error_code.as_deref(), Some("deadline"));
    assert_eq!(asked_again, [] as [&str; 0]);
}

/// [`a_hedged_turn`] whose first model request hangs before its first
/// word (the next answers in 300 ms).
async fn a_turn_whose_model_hangs(hedge: Duration) -> HedgedTurn {
    let stuck = LlmReply::new(&["תשובה ", "שנתקעה."], 60_000, 0);
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(300)),
        FakeLlm::scripted(&[stuck], two_sentences()),
    );
    a_hedged_turn(&fakes, hedge, || ()).await
}

#[tokio::test(start_paused = true)]
async fn a_model_that_hangs_before_its_first_word_is_asked_again_and_the_caller_answered() {
    let (end, turn, asked_again) =
        a_turn_whose_model_hangs(agentlocator_call::LLM_HEDGE_AFTER).await;
    assert_eq!(end, EndReason::Stopped);
    assert_eq!(turn.error_code, None);
    // The second request's words, not the stuck one's.
    assert_eq!(
        turn.agent_text.as_deref(),
        Some(format!("{} {}", crate::REPLY_1, crate::REPLY_2).as_str())
    );
    // Its first word 2 s (the hedge) + 300 ms after the transcript.
    assert_eq!(turn.t_nlp_ms, 2300);
    assert_eq!(turn.wasted_calls, 1);
    assert_eq!(asked_again, ["llm"]);

    let (end, turn, asked_again) = a_turn_whose_model_hangs(Duration::ZERO).await;
    assert!(matches!(end, EndReason::Failover { .. }), "{end:?}");
    assert_eq!(turn.error_code.as_deref(), Some("deadline"));
    assert_eq!(asked_again, [] as [&str; 0]);
}

/// [`a_hedged_turn`] whose first synthesis after the greeting hangs (the
/// next takes 100 ms).
async fn a_turn_whose_synthesis_hangs(hedge: Duration) -> HedgedTurn {
    let fakes = Fakes::standard();
    a_hedged_turn(&fakes, hedge, || {
        fakes.tts.stall_next.store(1, Ordering::SeqCst)
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_synthesis_that_hangs_is_asked_again_and_the_reply_plays() {
    let (end, turn, asked_again) =
        a_turn_whose_synthesis_hangs(agentlocator_call::TTS_HEDGE_AFTER).await;
    assert_eq!(end, EndReason::Stopped);
    assert_eq!(turn.error_code, None);
    assert_eq!(
        turn.agent_text.as_deref(),
        Some(format!("{} {}", crate::REPLY_1, crate::REPLY_2).as_str())
    );
    // The hedge's 1 s, then the second request's 100 ms, instead of the
    // first sentence's usual 100 ms.
    let (_, plain, _) = a_hedged_turn(&Fakes::standard(), Duration::ZERO, || ()).await;
    assert_eq!(turn.t_total_ms, plain.t_total_ms + 1000);
    assert_eq!(turn.wasted_calls, 1);
    assert_eq!(asked_again, ["tts"]);

    let (end, turn, asked_again) = a_turn_whose_synthesis_hangs(Duration::ZERO).await;
    assert!(matches!(end, EndReason::Failover { .. }), "{end:?}");
    assert_eq!(turn.error_code.as_deref(), Some("deadline"));
    assert_eq!(asked_again, [] as [&str; 0]);
}

/// One unspeculative turn on a quiet line whose model requests fail
/// `failures` times first (an outage after 100 ms): its record, and the
/// requests the model saw.
async fn a_turn_whose_model_fails(failures: usize) -> (agentlocator_call::TurnRecord, usize) {
    let outage = LlmReply {
        fail: true,
        ..LlmReply::new(&[], 100, 0)
    };
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(300)),
        FakeLlm::scripted(&vec![outage; failures], two_sentences()),
    );
    let turn = the_one_turn_of(&fakes, || ()).await;
    (turn, fakes.llm.seen.lock().unwrap().len())
}

/// The one turn of a caller who says a second's worth on a quiet line,
/// answered at the turn's end (no guesses); `then` runs once the
/// greeting has been synthesised.
async fn the_one_turn_of(fakes: &Fakes, then: impl FnOnce()) -> agentlocator_call::TurnRecord {
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    then();
    call.speak(1000).await;
    call.silence(5000).await;
    call.stop().await;
    let (_, _, events) = call.finish().await;
    let mut turns = turns(&events);
    assert_eq!(turns.len(), 1);
    turns.remove(0)
}

#[tokio::test(start_paused = true)]
async fn a_model_request_that_meets_an_outage_is_asked_again_and_the_caller_answered() {
    // The outage costs the caller 100 ms, not an apology and their
    // sentence said again.
    let (answered, requests) = a_turn_whose_model_fails(1).await;
    assert_eq!(answered.error_code, None);
    assert_eq!(
        answered.agent_text.as_deref(),
        Some(format!("{} {}", crate::REPLY_1, crate::REPLY_2).as_str())
    );
    assert_eq!((requests, answered.wasted_calls), (2, 1));
    let (plain, _) = a_turn_whose_model_fails(0).await;
    assert_eq!(answered.t_total_ms, plain.t_total_ms + 100);
    // Asked twice, failed twice: the turn fails as before.
    let (failed, requests) = a_turn_whose_model_fails(2).await;
    assert_eq!(failed.error_code.as_deref(), Some("llm_server"));
    assert_eq!(requests, 2);
}

/// One unspeculative turn on a quiet line whose first `failures`
/// syntheses fail (an outage): its record.
async fn a_turn_whose_synthesis_fails(failures: usize) -> agentlocator_call::TurnRecord {
    let fakes = Fakes::standard();
    the_one_turn_of(&fakes, || {
        fakes.tts.fail_next.store(failures, Ordering::SeqCst)
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_synthesis_that_meets_an_outage_is_asked_again_and_the_reply_plays() {
    let answered = a_turn_whose_synthesis_fails(1).await;
    assert_eq!(answered.error_code, None);
    assert_eq!(
        answered.agent_text.as_deref(),
        Some(format!("{} {}", crate::REPLY_1, crate::REPLY_2).as_str())
    );
    assert_eq!(answered.wasted_calls, 1);
    // It costs the caller the failed request's time.
    let plain = a_turn_whose_synthesis_fails(0).await;
    let tts_ms = Fakes::standard().tts.delay.as_millis() as u64;
    assert_eq!(answered.t_total_ms, plain.t_total_ms + tts_ms);
    // An outage that outlasts the second request: the turn fails as
    // before.
    let failed = a_turn_whose_synthesis_fails(10).await;
    assert_eq!(failed.error_code.as_deref(), Some("tts_server"));
}

#[tokio::test(start_paused = true)]
async fn a_turn_past_its_deadline_fails_over() {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
        FakeLlm::replying(LlmReply::new(&["מאוחר מדי."], 10_000, 0)),
    );
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    call.speak(1000).await;
    let spoke_until = Instant::now();
    assert!(call.silence_until(12_000, closed).await);
    let (summary, log, events) = call.finish().await;

    let reason = "turn deadline of 6000 ms passed";
    assert_eq!(
        summary.end,
        EndReason::Failover {
            reason: reason.to_owned()
        }
    );
    let records = turns(&events);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error_code.as_deref(), Some("deadline"));
    assert_eq!(records[0].user_text.as_deref(), Some(CALLER_SAYS));
    // End of speech is 600 ms of silence after the last voiced frame.
    let Some(Out::Close { at, .. }) = log.iter().find(|o| matches!(o, Out::Close { .. })) else {
        unreachable!()
    };
    let failover_at = spoke_until + Duration::from_millis(600) + Duration::from_secs(6);
    assert!(
        *at >= failover_at && *at < failover_at + Duration::from_secs(3),
        "{at:?}"
    );
    assert_eq!(logs.named("call_failover")[0].fields["reason"], reason);
}

#[tokio::test(start_paused = true)]
async fn stop_in_the_middle_of_a_reply_ends_the_call_and_cancels_its_work() {
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
        FakeLlm::replying(LlmReply::new(
            &[
                "שלום, בשמחה אקבע לך תור! ",
                "רק רגע, אני בודקת את היומן. ",
                "יש מקום.",
            ],
            300,
            3000,
        )),
    );
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    call.speak(1000).await;
    assert!(call.silence_until(3000, |log| echoed(log, "t2-s0")).await);
    call.stop().await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::Stopped);
    assert!(
        fakes.llm.dropped.load(Ordering::SeqCst),
        "the model stream was dropped"
    );
    assert!(
        fakes.llm.finished_at.lock().unwrap().is_empty(),
        "…before it finished"
    );
    assert!(
        !log.iter().any(|o| matches!(o, Out::Close { .. })),
        "Twilio closes, not us"
    );
    let records = turns(&events);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error_code.as_deref(), Some("call_ended"));
    assert_eq!(
        records[0].agent_text.as_deref(),
        Some("שלום, בשמחה אקבע לך תור!")
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_tells_the_caller_in_hebrew_then_moves_them_to_the_recording() {
    let fakes = Fakes::standard();
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(500).await;
    call.shutdown.cancel();
    assert!(call.silence_until(8000, closed).await);
    let (summary, log, _) = call.finish().await;
    assert_eq!(
        summary.end,
        EndReason::Failover {
            reason: "server draining".to_owned()
        }
    );
    let said = fakes.tts.said.lock().unwrap().clone();
    let line = said.last().expect("a line was said");
    assert!(
        line.0.contains("הודעה"),
        "the line invites a message: {said:?}"
    );
    let close = log
        .iter()
        .position(|o| matches!(o, Out::Close { .. }))
        .unwrap();
    let heard = media_of(&log[..close], line.1);
    assert!(
        !heard.is_empty(),
        "the line is played before the socket closes"
    );
    assert!(matches!(&log[close], Out::Close { code: 1000, .. }));
}

#[tokio::test(start_paused = true)]
async fn a_call_at_its_maximum_length_is_told_so_and_moved_to_the_recording() {
    let fakes = Fakes::standard();
    let limits = CallLimits {
        max_call: Duration::from_secs(3),
        ..CallLimits::default()
    };
    let mut call = start(Options {
        limits,
        ..Options::new(fakes.providers())
    });
    assert!(call.silence_until(12_000, closed).await);
    let (summary, _, _) = call.finish().await;
    assert_eq!(
        summary.end,
        EndReason::Failover {
            reason: "the call passed its 3 s limit".to_owned()
        }
    );
    let said = fakes.tts.said.lock().unwrap().clone();
    assert!(said.last().unwrap().0.contains("זמן רב"), "{said:?}");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_cannot_grow_memory_and_the_call_ends() {
    let fakes = Fakes::standard();
    let limits = CallLimits::default();
    let stall = limits.max_outbound_stall;
    let mut call = start(Options {
        outbound_capacity: 4,
        read_outbound: false,
        limits,
        ..Options::new(fakes.providers())
    });
    let t0 = Instant::now();
    // The caller keeps talking and gets a reply the peer never reads.
    call.silence(500).await;
    call.speak(1000).await;
    for _ in 0..400 {
        if call.is_finished() {
            break;
        }
        call.silence(20).await;
    }
    let ended = Instant::now();
    let unread = call.unread.take().unwrap();
    let (summary, _, events) = call.finish().await;

    assert_eq!(
        summary.end,
        EndReason::Failover {
            reason: "outbound stalled".to_owned()
        }
    );
    assert!(
        ended - t0 <= stall + Duration::from_millis(200),
        "{:?}",
        ended - t0
    );
    assert!(
        unread.len() <= 4,
        "only the channel's capacity was ever queued"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, CallEvent::Failover { .. }))
    );
}
