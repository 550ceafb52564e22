//! The simulator against the fake service: Twilio's side of a call, checked
//! from both ends.

use std::collections::HashSet;
use std::time::Duration;

use agentlocator_callsim::{
    HumanAnswer, SimError, SimMode, SimOptions, simulate_call, simulate_many,
};
use url::Url;

use crate::fake_service::{
    AUTH_TOKEN, BUSINESS, Behaviour, ENDPOINT_FRAMES, FakeService, GREETING_MS, HUMAN, PAUSE_MS,
    PUBLIC_BASE, REPLY_DELAY, REPLY_MS, WHISPER_MS, rms, tone,
};

/// 600 ms of speech then 200 ms of trailing silence, as a recording has.
fn utterance() -> Vec<u8> {
    let mut audio = tone(600);
    audio.extend(vec![voice::mulaw::SILENCE; 1_600]);
    audio
}

fn options(service: &FakeService, utterances: usize) -> SimOptions {
    let mut opts = SimOptions::new(service.base_url.clone(), "+97235550000", AUTH_TOKEN);
    opts.public_base_url = Some(Url::parse(PUBLIC_BASE).unwrap());
    opts.utterances = vec![utterance(); utterances];
    opts.wait_reply_timeout = Duration::from_secs(3);
    opts.reply_quiet = Duration::from_millis(300);
    opts
}

/// What the caller should feel: the server's endpointing silence plus its
/// thinking time, counted from the last voiced frame (not the file's end).
fn expected_felt_ms() -> std::ops::Range<f64> {
    let floor = (u64::from(ENDPOINT_FRAMES) * 20) as f64 + REPLY_DELAY.as_millis() as f64;
    floor - 30.0..floor + 200.0
}

#[tokio::test]
async fn a_streamed_call_counts_turns_and_measures_the_injected_reply_delay() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let report = simulate_call(&options(&service, 2)).await.unwrap();

    assert_eq!(report.mode, SimMode::Stream);
    assert!(!report.server_closed);
    assert_eq!(report.turns.len(), 2);
    for (i, turn) in report.turns.iter().enumerate() {
        assert_eq!(turn.turn, i as u32 + 1);
        let felt = turn.caller_felt_ms.expect("every turn was answered");
        assert!(
            expected_felt_ms().contains(&felt),
            "turn {}: {felt} ms",
            turn.turn
        );
        assert_eq!(turn.reply_audio_ms, REPLY_MS);
        // The reply came all at once: the only silence was the wait for it.
        assert_eq!(turn.longest_silence_ms, Some(felt));
    }
    assert_eq!(report.greeting_audio_ms, GREETING_MS);
    assert!(report.greeting_wait_ms.unwrap() < 100.0);
    assert_eq!(report.late_frames, 0, "audio sent ahead is never late");
    assert!(
        report.protocol_errors.is_empty(),
        "{:?}",
        report.protocol_errors
    );
}

#[tokio::test]
async fn the_service_sees_signed_requests_and_twilios_frames_in_order() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let mut opts = options(&service, 1);
    opts.call_sid = Some("CA0123456789abcdef0123456789abcdef".into());
    opts.from = "+972541112222".into();
    let report = simulate_call(&opts).await.unwrap();
    assert_eq!(report.call_sid, "CA0123456789abcdef0123456789abcdef");

    let seen = service.observed();
    assert_eq!(seen.incoming_signature_ok, [true]);
    assert_eq!(seen.handshake_signature_ok, [true]);
    let params = &seen.incoming[0];
    assert_eq!(params["CallSid"], "CA0123456789abcdef0123456789abcdef");
    assert_eq!(params["From"], "+972541112222");
    assert_eq!(params["To"], "+97235550000");
    assert_eq!(params["CallStatus"], "ringing");
    assert_eq!(params["Direction"], "inbound");
    assert_eq!(params["ApiVersion"], "2010-04-01");
    assert!(params["AccountSid"].starts_with("AC"));

    let start = &seen.starts[0];
    assert_eq!(start.call_sid, "CA0123456789abcdef0123456789abcdef");
    assert_eq!(start.account_sid, params["AccountSid"]);
    assert!(start.stream_sid.starts_with("MZ"));
    assert_eq!(start.custom_parameters["business_id"], "7");

    assert!(
        seen.chunks.len() > 50,
        "a real-time line: {}",
        seen.chunks.len()
    );
    for (i, (chunk, timestamp)) in seen.chunks.iter().enumerate() {
        assert_eq!(*chunk, i as u64 + 1);
        assert_eq!(*timestamp, i as u64 * 20);
    }
    assert_eq!(seen.stops, 1);
    assert!(seen.stream_ended.is_empty());
}

#[tokio::test]
async fn a_caller_who_hangs_up_is_reported_to_the_status_callback_as_completed() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let report = simulate_call(&options(&service, 1)).await.unwrap();

    let seen = service.observed();
    assert_eq!(seen.call_status_signature_ok, [true]);
    let params = &seen.call_status[0];
    assert_eq!(params["CallSid"], report.call_sid);
    assert_eq!(params["CallStatus"], "completed");
    let duration: f64 = params["CallDuration"].parse().unwrap();
    assert!(
        duration >= report.stream_s,
        "{duration} < {}",
        report.stream_s
    );
}

#[tokio::test]
async fn marks_are_echoed_once_the_audio_before_them_has_played() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let report = simulate_call(&options(&service, 2)).await.unwrap();
    assert_eq!(report.marks_echoed, 3);

    let seen = service.observed();
    for name in ["greeting", "reply-1", "reply-2"] {
        let (sent, ahead) = seen.marks_sent[name];
        let echoed = seen.marks_echoed[name];
        let waited = echoed - sent;
        assert!(
            ahead >= Duration::from_millis(250),
            "{name}: {ahead:?} queued"
        );
        assert!(
            waited + Duration::from_millis(30) >= ahead
                && waited <= ahead + Duration::from_millis(150),
            "{name}: echoed after {waited:?} with {ahead:?} of audio queued"
        );
    }
}

#[tokio::test]
async fn the_heard_track_is_time_aligned_and_makes_a_valid_wav() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let report = simulate_call(&options(&service, 1)).await.unwrap();

    // The greeting starts the track; the reply sits after a gap as long as
    // the caller's turn, the endpointing and the delay.
    let heard = &report.heard;
    // 20 ms frames of the track; audio starting mid-frame may touch one more.
    let loud: Vec<bool> = heard.chunks(160).map(|f| rms(f) >= 500.0).collect();
    let about = |frames: usize, ms: u64| (ms / 20..=ms / 20 + 1).contains(&(frames as u64));
    let first = loud.iter().position(|&l| l).unwrap();
    assert!(first <= 2, "greeting at frame {first}");
    let greeting_end = first + loud[first..].iter().position(|&l| !l).unwrap();
    assert!(
        about(greeting_end - first, GREETING_MS),
        "{}",
        greeting_end - first
    );
    let reply_start = greeting_end + loud[greeting_end..].iter().position(|&l| l).unwrap();
    let gap_ms = ((reply_start - greeting_end) * 20) as u64;
    // quiet (300) + speech (600) + endpointing (200) + delay (250).
    assert!((1_250..1_600).contains(&gap_ms), "gap {gap_ms} ms");
    let reply_frames = loud[reply_start..].iter().filter(|&&l| l).count();
    assert!(about(reply_frames, REPLY_MS), "{reply_frames}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heard.wav");
    std::fs::write(&path, voice::wav::write_mulaw_8k(heard)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let wav = voice::wav::parse(&bytes).unwrap();
    assert_eq!(wav.format, voice::WavFormat::MuLaw);
    assert_eq!((wav.sample_rate, wav.channels), (8_000, 1));
    assert_eq!(wav.data, &heard[..]);
}

#[tokio::test]
async fn a_clear_drops_unplayed_audio_and_releases_its_mark_at_once() {
    let service = FakeService::spawn(Behaviour::ClearMidReply).await;
    let report = simulate_call(&options(&service, 1)).await.unwrap();
    assert_eq!(report.clears, 1);

    let seen = service.observed();
    let cleared = seen.clear_sent.unwrap();
    let echoed = seen.marks_echoed["reply-1"];
    assert!(
        echoed >= cleared && echoed - cleared < Duration::from_millis(100),
        "the mark came back {:?} after the clear",
        echoed - cleared
    );
    // The reply was 2 s long; about 300 ms of it played before the clear.
    let loud_ms = report.heard.chunks(160).filter(|f| rms(f) >= 500.0).count() * 20;
    let reply_ms = loud_ms - GREETING_MS as usize;
    assert!(
        (240..=400).contains(&reply_ms),
        "{reply_ms} ms of the reply heard"
    );
}

#[tokio::test]
async fn a_reply_that_stalls_mid_way_makes_one_frame_late() {
    let service = FakeService::spawn(Behaviour::StallMidReply).await;
    let report = simulate_call(&options(&service, 1)).await.unwrap();
    assert_eq!(report.turns.len(), 1);
    assert_eq!(report.late_frames, 1);
    assert!(
        (80.0..200.0).contains(&report.max_underrun_ms),
        "{} ms",
        report.max_underrun_ms
    );
}

#[tokio::test]
async fn a_barging_in_caller_speaks_while_the_reply_still_plays() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let mut opts = options(&service, 2);
    opts.barge_in_after = Some(Duration::from_millis(100));
    let report = simulate_call(&opts).await.unwrap();
    assert_eq!(report.turns.len(), 2);

    let seen = service.observed();
    let (reply_sent, _) = seen.marks_sent["reply-1"];
    let cut_in = seen.speech_starts[1] - reply_sent;
    assert!(
        (Duration::from_millis(100)..Duration::from_millis(200)).contains(&cut_in),
        "the caller spoke {cut_in:?} into a {REPLY_MS} ms reply"
    );
}

#[tokio::test]
async fn a_server_that_closes_the_socket_gets_the_connect_action_request() {
    let service = FakeService::spawn(Behaviour::CloseAfterGreeting).await;
    let report = simulate_call(&options(&service, 2)).await.unwrap();

    assert!(report.server_closed);
    assert_eq!(report.mode, SimMode::RecordFallback);
    assert!(
        report
            .fallback_twiml
            .as_deref()
            .unwrap()
            .contains("<Record")
    );
    let seen = service.observed();
    assert_eq!(seen.stream_ended_signature_ok, [true]);
    let params = &seen.stream_ended[0];
    assert_eq!(params["CallSid"], report.call_sid);
    assert_eq!(params["CallStatus"], "in-progress");
    assert_eq!(seen.stops, 0, "no stop on a socket the server closed");
    assert!(
        seen.call_status.is_empty(),
        "the call goes on with the recording"
    );
    assert_eq!(seen.handle_recording_signature_ok, [true]);
    assert_eq!(seen.handle_recording[0]["CallSid"], report.call_sid);
    assert!(seen.handle_recording[0]["RecordingUrl"].contains("/Recordings/RE"));
}

#[tokio::test]
async fn a_transfer_that_the_human_answers_plays_the_whisper_and_ends_with_a_hangup() {
    let service = FakeService::spawn(Behaviour::TransferAfterGreeting).await;
    let report = simulate_call(&options(&service, 2)).await.unwrap();

    assert_eq!(report.mode, SimMode::Transfer);
    assert!(!report.ended_by_agent);
    let transfer = report.transfer.as_ref().expect("the call was transferred");
    assert_eq!(transfer.dialled, HUMAN);
    assert_eq!(transfer.caller_id, BUSINESS);
    assert_eq!(transfer.whisper_ms, WHISPER_MS);
    assert_eq!(transfer.whisper_text, None);
    assert_eq!(transfer.dial_status, "completed");
    assert_eq!(transfer.after, "hangup");

    let seen = service.observed();
    assert_eq!(seen.transfer_whisper_signature_ok, [true]);
    let leg = &seen.transfer_whisper[0];
    assert!(leg["CallSid"].starts_with("CA") && leg["CallSid"] != report.call_sid);
    assert_eq!(leg["ParentCallSid"], report.call_sid);
    assert_eq!(leg["To"], HUMAN);
    assert!(!leg.contains_key("DialCallStatus"));
    assert_eq!(seen.whisper_fetches, ["wh1sper-t0ken"]);
    assert_eq!(seen.transfer_ended_signature_ok, [true]);
    let ended = &seen.transfer_ended[0];
    assert_eq!(ended["CallSid"], report.call_sid);
    assert_eq!(ended["DialCallStatus"], "completed");
    assert!(ended["DialCallDuration"].parse::<u32>().unwrap() > 0);
    assert!(seen.handle_recording.is_empty());
    assert_eq!(seen.call_status[0]["CallStatus"], "completed");
}

#[tokio::test]
async fn a_transfer_nobody_answers_posts_no_answer_and_leaves_a_message() {
    let service = FakeService::spawn(Behaviour::TransferAfterGreeting).await;
    let mut opts = options(&service, 1);
    opts.human = HumanAnswer::NoAnswer;
    let report = simulate_call(&opts).await.unwrap();

    assert_eq!(report.mode, SimMode::Transfer);
    let transfer = report.transfer.as_ref().unwrap();
    assert_eq!(transfer.dial_status, "no-answer");
    assert_eq!(transfer.after, "recording");
    assert_eq!(transfer.whisper_ms, 0, "nobody picked up to hear it");

    let seen = service.observed();
    assert!(seen.transfer_whisper.is_empty());
    assert_eq!(seen.transfer_ended[0]["DialCallStatus"], "no-answer");
    assert_eq!(seen.handle_recording_signature_ok, [true]);
    assert_eq!(seen.handle_recording[0]["CallSid"], report.call_sid);
}

#[tokio::test]
async fn a_busy_human_is_reported_to_the_dial_action_as_busy() {
    let service = FakeService::spawn(Behaviour::TransferAfterGreeting).await;
    let mut opts = options(&service, 1);
    opts.human = HumanAnswer::Busy;
    let report = simulate_call(&opts).await.unwrap();
    assert_eq!(report.transfer.unwrap().after, "recording");
    assert_eq!(
        service.observed().transfer_ended[0]["DialCallStatus"],
        "busy"
    );
}

#[tokio::test]
async fn a_hangup_after_the_stream_is_the_agent_ending_the_call() {
    let service = FakeService::spawn(Behaviour::HangupAfterGreeting).await;
    let report = simulate_call(&options(&service, 2)).await.unwrap();

    assert!(report.ended_by_agent);
    assert!(report.server_closed);
    assert_eq!(report.mode, SimMode::Stream);
    assert!(report.transfer.is_none());
    let seen = service.observed();
    assert!(seen.handle_recording.is_empty());
    assert_eq!(seen.call_status[0]["CallStatus"], "completed");
}

#[tokio::test]
async fn a_pause_inside_a_reply_is_the_longest_silence_the_caller_heard() {
    let service = FakeService::spawn(Behaviour::PauseMidReply).await;
    let mut opts = options(&service, 1);
    // Long enough that the pause does not end the reply.
    opts.reply_quiet = Duration::from_millis(1_500);
    let report = simulate_call(&opts).await.unwrap();

    assert_eq!(report.turns.len(), 1);
    let turn = &report.turns[0];
    assert_eq!(turn.reply_audio_ms, 600, "both halves are one reply");
    let silence = turn.longest_silence_ms.unwrap();
    let pause = PAUSE_MS as f64;
    assert!(
        (pause - 60.0..=pause + 60.0).contains(&silence),
        "{silence} ms"
    );
    assert_eq!(report.longest_silence_ms, Some(silence));
}

#[tokio::test]
async fn streaming_off_is_reported_as_record_mode_without_a_websocket() {
    let service = FakeService::spawn(Behaviour::RecordOnly).await;
    let report = simulate_call(&options(&service, 1)).await.unwrap();
    assert_eq!(report.mode, SimMode::Record);
    assert!(report.incoming_twiml.contains("<Record"));
    assert!(report.turns.is_empty());
    assert!(service.observed().handshake_signature_ok.is_empty());
}

#[tokio::test]
async fn a_wrong_auth_token_is_refused_by_the_service_and_reported() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let mut opts = options(&service, 1);
    opts.auth_token = "not-the-token".into();
    let err = simulate_call(&opts).await.unwrap_err();
    assert!(matches!(err, SimError::Status { status: 403, .. }), "{err}");
    assert_eq!(service.observed().incoming_signature_ok, [false]);
}

#[tokio::test]
async fn a_wav_file_of_hebrew_speech_is_one_caller_turn() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let wav = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../voice/tests/fixtures/shalom.wav"
    ))
    .unwrap();
    let mut opts = options(&service, 0);
    opts.utterances = vec![voice::wav::to_mulaw_8k_mono(&wav).unwrap()];
    let report = simulate_call(&opts).await.unwrap();
    assert_eq!(report.turns.len(), 1);
    let felt = report.turns[0].caller_felt_ms.unwrap();
    assert!(expected_felt_ms().contains(&felt), "{felt} ms");
}

#[tokio::test]
async fn many_calls_at_once_get_distinct_call_sids_and_one_summary() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let summary = simulate_many(&options(&service, 1), 5, Duration::from_millis(20)).await;

    assert_eq!(summary.calls, 5);
    assert_eq!(summary.completed, 5, "{:?}", summary.failures);
    assert_eq!(summary.turns, 5);
    assert_eq!(summary.caller_felt_ms.count, 5);
    let p50 = summary.caller_felt_ms.p50.unwrap();
    assert!(expected_felt_ms().contains(&p50), "p50 {p50} ms");
    assert_eq!(summary.late_fraction, 0.0);
    assert_eq!(summary.longest_silence_ms.count, 5);
    let silence = summary.longest_silence_ms.p95.unwrap();
    assert!(expected_felt_ms().contains(&silence), "p95 {silence} ms");
    assert_eq!((summary.streamed, summary.to_recording), (5, 0));
    assert!(summary.frames_sent > 0);
    assert_eq!(
        summary.send_lateness_ms.count as u64, summary.frames_sent,
        "every caller frame's lateness is in the histogram"
    );
    assert!(summary.send_late_frames <= summary.frames_sent);
    assert!(summary.generator_cpu_s.is_some_and(|s| s >= 0.0));
    assert!(summary.wall_s > 0.0);
    let sids: HashSet<_> = service
        .observed()
        .incoming
        .iter()
        .map(|p| p["CallSid"].clone())
        .collect();
    assert_eq!(sids.len(), 5);
}

#[tokio::test]
async fn with_a_duration_the_caller_goes_round_its_utterances_until_time_is_up() {
    let service = FakeService::spawn(Behaviour::Answer).await;
    let mut opts = options(&service, 1);
    // A turn takes about 2 s here (0.8 s said, 0.45 s to the reply, 0.4 s
    // of reply, 0.3 s quiet) after a 0.6 s greeting: the second turn starts
    // near 2.6 s, inside the 3 s, and the third would start past it.
    opts.duration = Some(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let report = simulate_call(&opts).await.unwrap();

    assert_eq!(report.mode, SimMode::Stream);
    let turns: Vec<u32> = report.turns.iter().map(|t| t.turn).collect();
    assert_eq!(turns, [1, 2], "one utterance said twice");
    assert!(report.turns.iter().all(|t| t.caller_felt_ms.is_some()));
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(report.stream_s >= 3.0, "{} s", report.stream_s);
    // One caller frame per 20 ms the stream was open.
    assert!(report.frames_sent >= 150, "{} frames", report.frames_sent);
    assert!(report.send_late_frames <= report.frames_sent);
}
