//! Greeting, turns, history, streaming and barge-in.

use std::sync::atomic::Ordering;
use std::time::Duration;

use agentlocator_call::EndReason;
use providers::ChatRole;
use tokio::time::Instant;

use crate::support::fakes::{FakeLlm, FakeStt, FakeTts, LlmReply};
use crate::support::logs::Logs;
use crate::support::{
    GREETING, Options, Out, echoed, first_frame_of, marks, media_of, start, turns,
};
use crate::{CALLER_SAYS, Fakes, REPLY_1, REPLY_2, two_sentences};

#[tokio::test(start_paused = true)]
async fn the_greeting_is_synthesised_through_the_cache_and_paced_out_first_with_its_mark() {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    let t0 = Instant::now();
    call.silence(1000).await;
    call.stop().await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::Stopped);
    assert_eq!(summary.turns, 0);
    assert!(events.is_empty());
    assert_eq!(fakes.tts.cached_calls.load(Ordering::SeqCst), 1);
    let byte = fakes
        .tts
        .byte_of(GREETING)
        .expect("the greeting was synthesised");
    assert!(matches!(&log[0], Out::Media { bytes, .. } if bytes[0] == byte));
    let frames = media_of(&log, byte);
    let chars = GREETING.chars().count();
    assert_eq!(frames.len(), (chars * 10 * 8).div_ceil(160));
    // Near real time: a lead of at most two chunks beyond the one playing.
    let first = frames[0];
    assert_eq!(
        first,
        t0 + Duration::from_millis(100),
        "sent as soon as synthesised"
    );
    for (i, at) in frames.iter().enumerate() {
        let earliest = first + Duration::from_millis(20) * (i.saturating_sub(2) as u32);
        assert!(*at >= earliest, "frame {i} left {:?} early", earliest - *at);
        assert!(*at <= earliest + Duration::from_millis(20));
    }
    assert_eq!(marks(&log), ["t1-s0"]);
    let mark_at = log
        .iter()
        .position(|o| matches!(o, Out::Mark { .. }))
        .unwrap();
    assert_eq!(mark_at, frames.len(), "the mark follows the last chunk");
    assert!(echoed(&log, "t1-s0"));
}

#[tokio::test(start_paused = true)]
async fn one_turn_transcribes_the_caller_streams_the_reply_and_logs_its_metrics() {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::standard();
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    call.speak(1200).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t2-s1")).await);
    call.stop().await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(
        summary,
        agentlocator_call::CallSummary {
            end: EndReason::Stopped,
            turns: 1
        }
    );
    assert_eq!(fakes.stt.calls.load(Ordering::SeqCst), 1);
    let seen = fakes.llm.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let roles: Vec<_> = seen[0].iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [ChatRole::System, ChatRole::Assistant, ChatRole::User]
    );
    assert_eq!(seen[0][1].content, GREETING, "the greeting was heard");
    assert_eq!(seen[0][2].content, CALLER_SAYS);
    assert_eq!(marks(&log), ["t1-s0", "t2-s0", "t2-s1"]);
    for sentence in [REPLY_1, REPLY_2] {
        let byte = fakes
            .tts
            .byte_of(sentence)
            .expect("each sentence synthesised");
        assert!(!media_of(&log, byte).is_empty());
    }

    let turns = turns(&events);
    assert_eq!(turns.len(), 1);
    let turn = &turns[0];
    assert_eq!(turn.turn_id, 1);
    assert_eq!(turn.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(
        turn.agent_text.as_deref(),
        Some(format!("{REPLY_1} {REPLY_2}").as_str())
    );
    assert_eq!(turn.error_code, None);
    assert!(!turn.barge_in);
    assert_eq!(
        (
            turn.t_stt_ms,
            turn.t_nlp_ms,
            turn.t_tts_ms,
            turn.t_total_ms,
            turn.endpointing_ms
        ),
        (200, 300, 100, 600, 600)
    );

    let lines = logs.named("turn_metrics");
    assert_eq!(lines.len(), 1);
    let f = &lines[0].fields;
    assert_eq!(lines[0].level, tracing::Level::INFO);
    for (key, value) in [
        ("call_sid", "CAtest"),
        ("business_id", "7"),
        ("turn_id", "1"),
        ("mode", "stream"),
        ("t_stt_ms", "200"),
        ("t_nlp_ms", "300"),
        ("t_tts_ms", "100"),
        ("t_total_ms", "600"),
        ("endpointing_ms", "600"),
        ("barge_in", "false"),
    ] {
        assert_eq!(f.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert!(f.contains_key("t_audio_ms"));
    assert!(
        !f.contains_key("error_code"),
        "a good turn has no error code"
    );
}

#[tokio::test(start_paused = true)]
async fn the_second_turn_sends_the_model_the_first_exchange() {
    let fakes = Fakes::new(
        FakeStt::scripted(
            &[Some(CALLER_SAYS)],
            "מחר בעשר בבוקר",
            Duration::from_millis(200),
        ),
        FakeLlm::scripted(
            &[two_sentences()],
            LlmReply::new(&["מעולה, קבעתי לך למחר בעשר."], 300, 0),
        ),
    );
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;
    call.speak(1200).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t2-s1")).await);
    call.speak(800).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t3-s0")).await);
    call.stop().await;
    let (summary, _, events) = call.finish().await;

    assert_eq!(summary.turns, 2);
    let seen = fakes.llm.seen.lock().unwrap().clone();
    let second: Vec<_> = seen[1]
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    let reply_1 = format!("{REPLY_1} {REPLY_2}");
    assert_eq!(
        second,
        [
            (ChatRole::System, "את פקידת קבלה מנומסת."),
            (ChatRole::Assistant, GREETING),
            (ChatRole::User, CALLER_SAYS),
            (ChatRole::Assistant, reply_1.as_str()),
            (ChatRole::User, "מחר בעשר בבוקר"),
        ]
    );
    let ids: Vec<_> = turns(&events).iter().map(|t| t.turn_id).collect();
    assert_eq!(ids, [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn the_first_reply_frame_leaves_while_the_model_is_still_writing() {
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
        FakeLlm::replying(LlmReply::new(
            &[
                "שלום, בשמחה אקבע לך תור! ",
                "רק רגע, אני בודקת את היומן. ",
                "יש לנו מקום מחר בעשר.",
            ],
            300,
            1500,
        )),
    );
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    call.speak(1200).await;
    assert!(call.silence_until(8000, |log| echoed(log, "t2-s2")).await);
    call.stop().await;
    let (_, log, events) = call.finish().await;

    let finished = fakes.llm.finished_at.lock().unwrap()[0];
    let byte = fakes.tts.byte_of(REPLY_1).unwrap();
    let first_frame = media_of(&log, byte)[0];
    assert!(
        finished - first_frame >= Duration::from_secs(2),
        "first audio {first_frame:?}, model done {finished:?}"
    );
    assert_eq!(turns(&events)[0].t_total_ms, 600);
}

#[tokio::test(start_paused = true)]
async fn barge_in_clears_twilio_cancels_the_reply_and_keeps_only_what_was_heard() {
    let s0 = "שלום, בשמחה אקבע לך תור לתספורת אצלנו במספרה!";
    let s1 = "יש לנו מקומות פנויים ביום שלישי וביום חמישי בבוקר.";
    let s2 = "וגם ביום שישי בצהריים, אם זה נוח לך יותר.";
    let fakes = Fakes {
        tts: std::sync::Arc::new(FakeTts::new(100, 20)),
        ..Fakes::new(
            FakeStt::scripted(
                &[Some(CALLER_SAYS)],
                "רגע, יום שלישי מתאים",
                Duration::from_millis(200),
            ),
            FakeLlm::scripted(
                &[LlmReply::new(&[s0, " ", s1, " ", s2], 300, 0)],
                LlmReply::new(&["מעולה, אז ביום שלישי."], 300, 0),
            ),
        )
    };
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;
    call.speak(1200).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t2-s0")).await);
    call.silence(200).await;
    call.speak(700).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t3-s0")).await);
    call.stop().await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(summary.turns, 2);
    let clear = log
        .iter()
        .position(|o| matches!(o, Out::Clear { .. }))
        .expect("a clear was sent");
    let Out::Clear { at: clear_at } = log[clear] else {
        unreachable!()
    };
    for sentence in [s0, s1, s2] {
        if let Some(byte) = fakes.tts.byte_of(sentence) {
            assert!(
                media_of(&log[clear..], byte).is_empty(),
                "audio of the cancelled reply after the clear"
            );
        }
    }
    assert!(!media_of(&log[..clear], fakes.tts.byte_of(s1).unwrap()).is_empty());
    // The clear went out once the caller had talked for the barge-in time.
    let speech_from = clear_at - Duration::from_millis(250);
    assert!(
        log.iter()
            .any(|o| matches!(o, Out::Media { at, .. } if *at >= speech_from && *at < clear_at))
    );

    let seen = fakes.llm.seen.lock().unwrap().clone();
    let history: Vec<_> = seen[1]
        .iter()
        .map(|m| (m.role, m.content.clone()))
        .collect();
    assert_eq!(history[3], (ChatRole::Assistant, format!("{s0}…")));
    assert_eq!(
        history[4],
        (ChatRole::User, "רגע, יום שלישי מתאים".to_owned())
    );
    assert_eq!(history.len(), 5);

    let turns = turns(&events);
    assert!(turns[0].barge_in);
    assert_eq!(turns[0].agent_text.as_deref(), Some(s0));
    assert_eq!(turns[0].error_code, None);
    assert!(!turns[1].barge_in);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_transcript_gets_no_reply_and_is_not_a_turn() {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::new(
        FakeStt::saying("תודה שצפיתם!", Duration::from_millis(200)),
        FakeLlm::replying(two_sentences()),
    );
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;
    call.speak(1000).await;
    call.silence(2000).await;
    call.stop().await;
    let (summary, log, _) = call.finish().await;

    assert_eq!(summary.turns, 0);
    assert!(fakes.llm.seen.lock().unwrap().is_empty());
    assert_eq!(marks(&log), ["t1-s0"]);
    let rejected = logs.named("transcript_rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].fields["reason"], "credits");
}

#[tokio::test(start_paused = true)]
async fn speech_that_resumes_before_the_transcript_is_heard_again_with_the_rest() {
    let fakes = Fakes::new(
        FakeStt::saying(CALLER_SAYS, Duration::from_millis(1000)),
        FakeLlm::replying(two_sentences()),
    );
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;
    call.speak(1000).await;
    // The utterance ends after 600 ms of silence; STT is still busy when
    // the caller goes on talking.
    call.silence(700).await;
    call.speak(800).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t3-s1")).await);
    call.stop().await;
    let (summary, _, events) = call.finish().await;

    let heard = fakes.stt.heard_bytes.lock().unwrap().clone();
    assert_eq!(heard.len(), 2);
    assert!(
        heard[1] > heard[0] + 8 * 800,
        "both utterances sent together: {heard:?}"
    );
    assert_eq!(
        fakes.llm.seen.lock().unwrap().len(),
        1,
        "only the joined one answered"
    );
    assert_eq!(summary.turns, 1);
    assert_eq!(turns(&events)[0].user_text.as_deref(), Some(CALLER_SAYS));
}

#[tokio::test(start_paused = true)]
async fn the_caller_waits_the_configured_end_of_turn_silence_and_not_the_vad_hangover_on_top() {
    let fakes = Fakes::standard();
    let mut call = start(Options::unspeculative(fakes.providers()));
    call.silence(1000).await;
    call.speak(1200).await;
    let speech_ended = Instant::now();
    assert!(call.silence_until(5000, |log| echoed(log, "t2-s1")).await);
    call.stop().await;
    let (_, log, _) = call.finish().await;

    let first_reply = first_frame_of(&log, &fakes.tts, REPLY_1);
    // 600 ms of end-of-turn silence + 600 ms of pipeline (STT 200, NLP 300,
    // TTS 100), within one 20 ms frame.
    let felt = first_reply - speech_ended;
    assert!(
        felt >= Duration::from_millis(1180) && felt <= Duration::from_millis(1220),
        "caller felt {felt:?}"
    );
}
