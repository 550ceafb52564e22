//! A caller in a café: the crowd the VAD hears while the caller is silent
//! is never a turn, never barges in, never cancels the reply and never
//! holds the caller's turn open.

#[path = "../../../voice/tests/support/noise.rs"]
#[allow(dead_code)]
mod noise;
#[path = "../../../voice/tests/support/p56.rs"]
mod p56;

use std::sync::atomic::Ordering;
use std::time::Duration;

use noise::NoiseFamily;

use crate::support::fakes::{FakeLlm, FakeStt};
use crate::support::{Options, Out, clears, media_of, start, turns};
use crate::{CALLER_SAYS, Fakes, REPLY_1, REPLY_2};

const CALLER: &[u8] = include_bytes!("../../../voice/tests/fixtures/caller-he.wav");
const SHALOM: &[u8] = include_bytes!("../../../voice/tests/fixtures/shalom.wav");
/// Six sentences by six other voices, 3 s apart (the noise set's held-out
/// speakers): the first two end at 6.7 and 13.4 s.
const HELD_OUT: &[u8] = include_bytes!("../../../voice/tests/fixtures/held-out-he.wav");
const RATE: usize = 8_000;

fn pcm(fixture: &[u8]) -> Vec<i16> {
    voice::wav::decode_mono_8k(&voice::wav::parse(fixture).unwrap()).unwrap()
}

/// The first utterance of caller-he.wav (3.0–7.5 s of its first 10 s).
fn first_utterance() -> Vec<i16> {
    pcm(CALLER)[..10 * RATE].to_vec()
}

/// `seconds` of a café line under `speech` (silence when empty), the crowd
/// `snr_db` under the speech's level (the first utterance's when there is
/// none), going on after it; `seed` picks the crowd.
fn cafe_line(speech: &[i16], seconds: usize, snr_db: f32, seed: u64) -> Vec<i16> {
    let level = if speech.is_empty() {
        noise::active_rms(&first_utterance())
    } else {
        noise::active_rms(speech)
    };
    let mut line = speech.to_vec();
    line.resize(seconds * RATE, 0);
    let crowd = noise::fixture_speech(&pcm(CALLER), &pcm(SHALOM), -18.0);
    let raw = NoiseFamily::Cafe.generate(line.len(), seed, &crowd);
    noise::add(&line, &noise::scale_to_snr(&raw, level, snr_db))
}

#[tokio::test(start_paused = true)]
async fn a_caller_in_a_cafe_is_answered_in_full_while_the_crowd_goes_on() {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    // The greeting over a quiet line, then the café: the room must learn
    // the crowd as it comes, not only a crowd that was there all along.
    call.silence(4000).await;
    call.play(&cafe_line(&first_utterance(), 16, 20.0, 82))
        .await;
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

/// The one turn of [`first_utterance`] 6 s into a café `snr_db` under it
/// (long enough for the room to show that it fools the VAD), the crowd
/// there from the call's start, with guesses (`speculative`) or without.
async fn a_turn_in_a_cafe(snr_db: f32, speculative: bool) -> agentlocator_call::TurnRecord {
    a_turn_in_a_cafe_heard_by(&Fakes::standard(), snr_db, speculative)
        .await
        .0
}

/// As [`a_turn_in_a_cafe`], with `fakes` for the providers; with what
/// the fake Twilio was sent.
async fn a_turn_in_a_cafe_heard_by(
    fakes: &Fakes,
    snr_db: f32,
    speculative: bool,
) -> (agentlocator_call::TurnRecord, Vec<Out>) {
    let mut call = start(Options::guessing(fakes.providers(), speculative));
    let mut speech = vec![0; 6 * RATE];
    speech.extend(first_utterance());
    call.play(&cafe_line(&speech, 20, snr_db, 1)).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;
    let mut turns = turns(&events);
    assert_eq!(turns.len(), 1, "{turns:?}");
    (turns.remove(0), log)
}

#[tokio::test(start_paused = true)]
async fn in_a_cafe_the_reply_is_guessed_where_the_line_falls_back_to_the_crowd() {
    // The VAD hears the crowd as voice and never pauses: the guess is made
    // 200 ms after the line fell back to the crowd's level, well before
    // the turn ends, so the reply starts sooner after it: 180 ms after the
    // end with these fakes, against 600 ms without a guess.
    let plain = a_turn_in_a_cafe(20.0, false).await;
    let guessed = a_turn_in_a_cafe(20.0, true).await;
    assert!(guessed.speculative && !plain.speculative);
    // Two guesses in the caller's own pauses, each dropped as they went on,
    // then one early on the quiet hold, dropped for the one made 500 ms
    // of audio later where the line fell back to the crowd, which
    // answered: the first three's transcriptions and two model requests
    // were wasted.
    assert_eq!((guessed.guesses, guessed.wasted_calls), (4, 5));
    assert!(
        plain.t_total_ms >= guessed.t_total_ms + 340,
        "end of turn → first reply frame: {} ms with the guess, {} ms without",
        guessed.t_total_ms,
        plain.t_total_ms
    );
    assert_eq!(guessed.user_text, plain.user_text);
    assert_eq!(guessed.agent_text, plain.agent_text);
}

#[tokio::test(start_paused = true)]
async fn in_a_loud_cafe_the_reply_guessed_before_the_quiet_hold_plays_the_moment_the_hold_ends() {
    // 10 dB over the crowd the caller is too near it for the line's fall
    // to end their turn; the quiet hold does, 1.8 s after they were last
    // clear of it. The guess comes 800 ms before that, and is ready when
    // the hold ends (600 ms of STT, model and TTS with these fakes); its
    // check, 300 ms before, heard the same words.
    let plain = a_turn_in_a_cafe(10.0, false).await;
    let guessed = a_turn_in_a_cafe(10.0, true).await;
    assert!(guessed.speculative && !plain.speculative);
    assert_eq!(guessed.ended_by, voice::EndedBy::QuietHold);
    assert!(
        guessed.t_total_ms <= 20 && plain.t_total_ms >= 580,
        "end of turn → first reply frame: {} ms with the guess, {} ms without",
        guessed.t_total_ms,
        plain.t_total_ms
    );
    // The guess and its check; the check's transcription is wasted (it
    // asks the model only once it is judged to have heard more).
    assert_eq!((guessed.guesses, guessed.wasted_calls), (2, 1));
    assert_eq!(guessed.user_text, plain.user_text);
    assert_eq!(guessed.agent_text, plain.agent_text);
}

/// The café turn of [`in_a_loud_cafe_the_reply_guessed_before_the_quiet_hold_plays_the_moment_the_hold_ends`],
/// its guess heard as `guess_heard` and its check as the caller's whole
/// sentence, STT taking `stt_ms`.
async fn a_checked_turn_in_a_loud_cafe(
    guess_heard: &str,
    stt_ms: u64,
) -> (Fakes, agentlocator_call::TurnRecord) {
    let fakes = Fakes::new(
        FakeStt::scripted(
            &[Some(guess_heard)],
            CALLER_SAYS,
            Duration::from_millis(stt_ms),
        ),
        FakeLlm::replying(crate::two_sentences()),
    );
    let (turn, log) = a_turn_in_a_cafe_heard_by(&fakes, 10.0, true).await;
    assert_eq!(turn.ended_by, voice::EndedBy::QuietHold);
    // A guess that lost to its check had synthesised the first sentence
    // too; only the answer's reached the caller.
    let synthesised: Vec<u8> = (fakes.tts.said.lock().unwrap().iter())
        .filter(|(text, _)| text == REPLY_1)
        .map(|&(_, byte)| byte)
        .collect();
    let sent: Vec<u8> = synthesised
        .iter()
        .copied()
        .filter(|&b| {
            log.iter()
                .any(|o| matches!(o, Out::Media { bytes, .. } if bytes[0] == b))
        })
        .collect();
    assert_eq!(
        sent,
        synthesised[synthesised.len() - 1..],
        "{synthesised:?}"
    );
    (fakes, turn)
}

/// The caller's words in the last request the model saw, and how many
/// requests it saw.
fn what_the_model_heard(fakes: &Fakes) -> (Vec<String>, usize) {
    let seen = fakes.llm.seen.lock().unwrap().clone();
    (crate::support::users_in(seen.last().unwrap()), seen.len())
}

/// Asserts that the turn of [`a_checked_turn_in_a_loud_cafe`] was answered
/// as the whole sentence, the model asked `requests` times, the first reply
/// frame `reply_ms` after the end, and `wasted` provider requests spent.
async fn a_checked_turn_answers_the_whole_sentence(
    guess_heard: &str,
    stt_ms: u64,
    requests: usize,
    reply_ms: std::ops::RangeInclusive<u64>,
    wasted: u32,
) {
    let (fakes, turn) = a_checked_turn_in_a_loud_cafe(guess_heard, stt_ms).await;
    assert_eq!(turn.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(
        what_the_model_heard(&fakes),
        (vec![CALLER_SAYS.to_owned()], requests)
    );
    assert!(
        reply_ms.contains(&turn.t_total_ms),
        "end of turn → first reply frame: {} ms",
        turn.t_total_ms
    );
    assert_eq!((turn.guesses, turn.wasted_calls), (2, wasted));
}

#[tokio::test(start_paused = true)]
async fn a_check_that_hears_the_callers_last_words_under_the_crowd_answers_the_turn_instead_of_the_guess()
 {
    // The guess, 800 ms before the hold's end, lacked the caller's quiet
    // last words; the check heard them. The reply answers the whole
    // sentence, as late as a guess at the check would have; the guess and
    // the check each asked the model, and the guess's transcription, model
    // request and first synthesis are wasted.
    a_checked_turn_answers_the_whole_sentence("אני רוצה לקבוע", 200, 2, 280..=320, 3).await;
}

#[tokio::test(start_paused = true)]
async fn a_turn_that_ends_before_its_check_is_transcribed_is_answered_by_the_guess_once_the_words_agree()
 {
    // STT takes 400 ms: the check's transcript comes 100 ms after the hold
    // ended the turn. It heard what the guess did, so the guess's reply,
    // ready since the end, plays then; the check alone would have been
    // ready 400 ms later. The check never asked the model.
    a_checked_turn_answers_the_whole_sentence(CALLER_SAYS, 400, 1, 80..=120, 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_turn_that_ends_before_its_check_is_transcribed_is_answered_by_the_check_when_it_heard_more()
 {
    // As above, but the guess lacked the last words: the check's own reply
    // answers, 400 ms of the model and TTS after its transcript.
    a_checked_turn_answers_the_whole_sentence("אני רוצה לקבוע", 400, 2, 480..=520, 3).await;
}

/// The café turn of [`a_checked_turn_in_a_loud_cafe`] whose guess heard
/// the whole sentence in 400 ms, and whose check, still transcribing when
/// the turn ends, hears `check` (`None`: an outage), each request taking
/// `check_ms`. Asserts that the guess answered it, as the caller said it,
/// with `wasted` provider requests, and returns the turn.
async fn a_turn_whose_check_cannot_answer(
    check: &[Option<&str>],
    check_ms: u64,
    wasted: u32,
) -> agentlocator_call::TurnRecord {
    let guess_ms = Duration::from_millis(400);
    let script: Vec<_> = [Some(CALLER_SAYS)].iter().chain(check).copied().collect();
    let check_ms = Duration::from_millis(check_ms);
    let fakes = Fakes::new(
        FakeStt::scripted(&script, CALLER_SAYS, guess_ms).taking(&[guess_ms, check_ms, check_ms]),
        FakeLlm::replying(crate::two_sentences()),
    );
    let (turn, log) = a_turn_in_a_cafe_heard_by(&fakes, 10.0, true).await;
    assert_eq!(turn.ended_by, voice::EndedBy::QuietHold);
    assert_eq!(turn.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(
        turn.agent_text.as_deref(),
        Some(format!("{REPLY_1} {REPLY_2}").as_str()),
        "the reply was played in full"
    );
    assert_eq!(turn.error_code, None);
    assert_eq!(
        what_the_model_heard(&fakes),
        (vec![CALLER_SAYS.to_owned()], 1)
    );
    assert_eq!(clears(&log), 0);
    // The guess and its check, whose transcriptions are wasted.
    assert_eq!((turn.guesses, turn.wasted_calls), (2, wasted));
    turn
}

#[tokio::test(start_paused = true)]
async fn a_check_that_fails_after_the_turn_ended_leaves_the_answer_to_the_guess() {
    // The check meets an STT outage 100 ms after the hold ended the turn,
    // and its second try another 400 ms later: the guess, ready since the
    // end, answers then, instead of an apology.
    let turn = a_turn_whose_check_cannot_answer(&[None, None], 400, 2).await;
    assert_eq!(turn.t_total_ms, 500);
}

#[tokio::test(start_paused = true)]
async fn a_check_heard_as_no_words_after_the_turn_ended_leaves_the_answer_to_the_guess() {
    // The check's transcript is empty (the crowd's tail, heard as
    // nothing): not a turn of its own, but the guess heard the caller.
    let turn = a_turn_whose_check_cannot_answer(&[Some("")], 400, 1).await;
    assert_eq!(turn.t_total_ms, 100);
}

#[tokio::test(start_paused = true)]
async fn a_check_whose_transcription_hangs_leaves_the_answer_to_the_guess_instead_of_the_voicemail()
{
    // The check's request hangs. The guess answers once the check has
    // taken as long again as the guess's own transcription (400 ms), and
    // at least 500 ms more: 600 ms after the end, since the check began
    // 300 ms before it. Without that, the turn's 6 s deadline would hand
    // the call to the recording fallback.
    let turn = a_turn_whose_check_cannot_answer(&[Some(CALLER_SAYS)], 60_000, 1).await;
    assert_eq!(turn.t_total_ms, 600);
}

#[tokio::test(start_paused = true)]
async fn a_cafe_turn_records_what_ended_it_how_long_that_waited_and_the_callers_level_over_the_crowd()
 {
    use voice::EndedBy;
    let clear = a_turn_in_a_cafe(20.0, true).await;
    let loud = a_turn_in_a_cafe(10.0, true).await;
    // 20 dB over the crowd, the line falling back to it ends the turn
    // after the usual wait; 10 dB over it, only the quiet hold does, and
    // the caller waited the hold, not the 600 ms the wait says.
    assert_eq!((clear.ended_by, clear.endpointing_ms), (EndedBy::Room, 600));
    assert_eq!(
        (loud.ended_by, loud.endpointing_ms),
        (EndedBy::QuietHold, 1_800)
    );
    // Over the room, the crowd's quietest fifth, the caller stands some
    // 5 dB more than over the crowd's mean, which the line was mixed at.
    let (clear_db, loud_db) = (clear.snr_db.unwrap(), loud.snr_db.unwrap());
    assert!((20..=30).contains(&clear_db), "{clear_db} dB");
    assert!((10..=20).contains(&loud_db), "{loud_db} dB");
    assert!(
        (9..=11).contains(&(clear_db - loud_db)),
        "the crowd 10 dB louder: {clear_db} and {loud_db} dB"
    );
}

#[tokio::test(start_paused = true)]
async fn twenty_seconds_of_a_cafe_with_the_caller_silent_are_no_turn_and_reach_no_provider() {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.play(&cafe_line(&[], 20, 20.0, 82)).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    assert_eq!(clears(&log), 0);
    assert_eq!(turns(&events), []);
    assert_eq!(fakes.stt.calls.load(Ordering::SeqCst), 0);
    assert_eq!(fakes.llm.seen.lock().unwrap().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_crowd_that_begins_after_the_greeting_while_the_caller_is_silent_is_no_turn() {
    // The caller walks into a café after the greeting: the crowd stands out
    // of the quiet line it began on, until the room has learnt it.
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(4000).await;
    call.play(&cafe_line(&[], 16, 20.0, 82)).await;
    call.stop().await;
    let (_, _, events) = call.finish().await;

    assert_eq!(turns(&events), []);
    assert_eq!(fakes.llm.seen.lock().unwrap().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_walks_out_of_the_cafe_is_not_cut_off_on_the_quiet_line() {
    // Ten seconds of a loud café, then a quiet line and, a second later,
    // the caller's sentence, whose quiet last words sit at the level the
    // room still remembers for the crowd.
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    let mut line = cafe_line(&[], 10, 10.0, 0);
    line.extend(&first_utterance()[2 * RATE..]);
    line.extend(vec![0; 3 * RATE]);
    call.play(&line).await;
    call.stop().await;
    let (_, _, events) = call.finish().await;

    let turns = turns(&events);
    assert_eq!(turns.len(), 1, "the sentence was cut in two: {turns:?}");
    assert_eq!(turns[0].user_text.as_deref(), Some(CALLER_SAYS));
}

#[tokio::test(start_paused = true)]
async fn a_low_voice_in_a_loud_cafe_is_answered_before_their_next_sentence() {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(4000).await;
    // Two sentences 3 s apart, the crowd 10 dB under them: near enough to
    // a low voice to pass for it, unless judged against the room.
    let two_sentences = &pcm(HELD_OUT)[..RATE * 27 / 2];
    call.play(&cafe_line(two_sentences, 18, 10.0, 82)).await;
    call.stop().await;
    let (_, _, events) = call.finish().await;

    let turns = turns(&events);
    assert_eq!(turns.len(), 2, "one turn per sentence: {turns:?}");
    assert!(
        turns
            .iter()
            .all(|t| t.user_text.as_deref() == Some(CALLER_SAYS))
    );
    assert_eq!(
        turns[1].agent_text.as_deref(),
        Some(format!("{REPLY_1} {REPLY_2}").as_str()),
        "the second reply was played in full"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cafe_caller_the_room_cuts_off_in_a_pause_is_not_talked_over_when_they_go_on() {
    // The noise set's café line at 20 dB for its seed 15 (noise seed
    // 15 × 31 + 20): the crowd from the call's start, and the room ends
    // the caller's turn in their 560 ms pause at 5.66–6.22 s. The reply
    // to the first half is ready before the barge-in of the second.
    let caller = pcm(CALLER);
    let crowd = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    let raw = NoiseFamily::Cafe.generate(caller.len(), 15 * 31 + 20, &crowd);
    let level = noise::active_rms(&caller);
    let mut line = noise::add(&caller, &noise::scale_to_snr(&raw, level, 20.0));
    line.truncate(12 * RATE);
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    let began = tokio::time::Instant::now();
    call.play(&line).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;

    assert_eq!(clears(&log), 0, "the agent talked over the caller");
    // One turn: the first half heard again with the rest, as one.
    let turns = turns(&events);
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert!(!turns[0].barge_in, "{turns:?}");
    assert_eq!(
        turns[0].agent_text.as_deref(),
        Some(format!("{REPLY_1} {REPLY_2}").as_str()),
        "the whole sentence was answered in full"
    );
    let heard = fakes.stt.heard_bytes.lock().unwrap().clone();
    assert!(
        *heard.last().unwrap() >= (7_480 - 3_020) * RATE / 1000,
        "the last transcription held the whole sentence: {heard:?}"
    );
    // The answer to the first half was synthesised and never played; the
    // answer to the whole began once the caller had finished.
    let answers: Vec<u8> = fakes
        .tts
        .said
        .lock()
        .unwrap()
        .iter()
        .filter(|(text, _)| text == REPLY_1)
        .map(|&(_, byte)| byte)
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(
        media_of(&log, answers[0]),
        [],
        "the first half's answer played"
    );
    let first = media_of(&log, answers[1])[0] - began;
    assert!(
        first >= Duration::from_millis(7_480),
        "the reply began {first:?} into the line, before the caller's end at 7.48 s"
    );
}

/// How long the agent talks while the caller is still speaking, on the
/// noise set's lines (caller-he.wav in café and street noise, its 30
/// seeds): where the noise ends a turn inside the caller's speech, the
/// reply to the first part may start before their barge-in stops it.
/// Also how many lines the call did not record as two turns, one per
/// sentence. Provider timings are the bench's (STT 300 ms, first token
/// 300 ms, TTS 150 ms) unless `STT`, `TTFT` and `TTS` give others, in ms.
#[tokio::test(start_paused = true)]
#[ignore = "diagnostic: prints, asserts nothing"]
async fn print_how_long_the_agent_talks_over_callers_the_noise_cuts_off() {
    use crate::support::Out;
    use crate::support::fakes::{FakeLlm, FakeStt, FakeTts};
    // caller-he.wav's utterances, P.56 activity as the noise set finds it.
    let spans = [(3.02f32, 7.48f32), (12.92, 16.28)];
    let caller = pcm(CALLER);
    let crowd = noise::fixture_speech(&caller, &pcm(SHALOM), -18.0);
    let level = noise::active_rms(&caller);
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    for (family, snr) in [
        (NoiseFamily::Cafe, 20.0f32),
        (NoiseFamily::Cafe, 10.0),
        (NoiseFamily::Street, 10.0),
    ] {
        let (mut over_ms, mut lines_over, mut clears_n, mut not_two) = (0u64, 0, 0, 0);
        for seed in 0..seeds {
            let raw = family.generate(caller.len(), seed * 31 + snr as u64, &crowd);
            let line = noise::add(&caller, &noise::scale_to_snr(&raw, level, snr));
            let mut reply = crate::two_sentences();
            let ms = |k: &str, d: u64| {
                std::env::var(k)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(d)
            };
            reply.ttft = Duration::from_millis(ms("TTFT", 300));
            let fakes = Fakes {
                tts: std::sync::Arc::new(FakeTts::new(ms("TTS", 150), 10)),
                ..Fakes::new(
                    FakeStt::saying(crate::CALLER_SAYS, Duration::from_millis(ms("STT", 300))),
                    FakeLlm::replying(reply),
                )
            };
            let mut call = start(Options::new(fakes.providers()));
            let began = tokio::time::Instant::now();
            call.play(&line).await;
            call.silence(3000).await;
            call.stop().await;
            let (_, log, events) = call.finish().await;
            let over: u64 = log
                .iter()
                .filter_map(|o| match o {
                    Out::Media { at, bytes } => {
                        let t = (*at - began).as_secs_f32();
                        spans
                            .iter()
                            .any(|&(a, b)| t >= a && t < b)
                            .then_some(bytes.len() as u64 / 8)
                    }
                    _ => None,
                })
                .sum();
            over_ms += over;
            lines_over += usize::from(over > 0);
            clears_n += clears(&log);
            not_two += usize::from(turns(&events).len() != 2);
        }
        println!(
            "{} {snr} dB, {seeds} lines: agent over the caller on {lines_over} lines, {over_ms} ms in all; clears {clears_n}; lines not of two turns {not_two}",
            family.name()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_crowd_score_hears_the_bands_the_call_hands_it_and_ends_a_cafe_turn_sooner() {
    // The held-out set's third sentence (16.18–22.00 s of held-out-he.wav,
    // P.56 end at 21.80 s) 6 s into a café 25 dB under it, the crowd from
    // the call's first frame. The VAD takes the crowd for voice; the crowd
    // score, which reads the speech bands the call hands the detector,
    // hears where the caller stopped. Without the bands the room ended the
    // turn later, and the reply began 1,820 ms after the caller.
    let mut speech = vec![0; 6 * RATE];
    speech.extend(&pcm(HELD_OUT)[16_180 * RATE / 1000..22_000 * RATE / 1000]);
    let caller_end = Duration::from_millis(6_000 + 21_800 - 16_180);
    let line = cafe_line(&speech, 17, 25.0, 8);
    let CafeCall { turns, reply, .. } =
        the_reply_in_a_cafe(&line, Duration::from_secs(6), caller_end).await;

    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0].ended_by, voice::EndedBy::Room);
    assert!(
        reply <= Duration::from_millis(1_500),
        "the reply began {reply:?} after the caller"
    );
}

#[tokio::test(start_paused = true)]
async fn a_callers_first_turn_in_a_cafe_ends_on_the_crowd_score_though_no_voice_came_before() {
    // The held-out set's sixth sentence, the caller's first, 6 s into a
    // café 20 dB under it (seed 0). The line's loud words over 10 s are
    // still the crowd's swells, and read against them the crowd sounds
    // like the caller; read against the caller's own level, it does not.
    // Before the score read it so, the quiet hold ended the turn on seed
    // 3 and the reply began 2,320 ms after the caller. (Seed 3 now answers
    // 1,740 ms after them: the café network, which scores this caller,
    // is slower to hear them stop there, and sooner on most lines:
    // BENCHMARKS.md, "The crowd network inside the detector".)
    let CafeCall { turns, reply, .. } = the_sixth_sentence_in_a_cafe(0).await;

    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0].ended_by, voice::EndedBy::Room);
    assert!(
        reply <= Duration::from_millis(1_200),
        "the reply began {reply:?} after the caller"
    );
}

#[tokio::test(start_paused = true)]
async fn a_swell_of_the_crowd_in_a_calls_first_seconds_is_not_answered_as_a_turn() {
    // The held-out set's sixth sentence, 6 s into a café 20 dB under it
    // (seed 8), the greeting over the crowd's first seconds. A swell stood
    // out of the room as those seconds had it, the quiet hold ended it as
    // a turn, and the agent answered the crowd 5.5 s in, before the caller
    // had said a word. Judged again against the room when the hold ends
    // it, it is the room's.
    let call = the_sixth_sentence_in_a_cafe(8).await;

    assert!(!call.answered_the_crowd, "{:?}", call.turns);
    assert_eq!(call.turns.len(), 1, "{:?}", call.turns);
}

/// The held-out set's sixth sentence, the caller's first, 6 s into a café
/// 20 dB under it from the call's first frame, crowd `seed`.
async fn the_sixth_sentence_in_a_cafe(seed: u64) -> CafeCall {
    let sentences = held_out_sentences();
    let (part, activity) = &sentences[3];
    let margin = RATE * 3 / 10;
    let (from, to) = (activity.start - margin, activity.end + margin);
    let mut speech = vec![0; 6 * RATE];
    speech.extend(&part[from..to]);
    let caller_end = Duration::from_millis(((speech.len() - margin) * 1000 / RATE) as u64);
    let line = cafe_line(&speech, speech.len() / RATE + 7, 20.0, seed);
    the_reply_in_a_cafe(&line, Duration::from_secs(6), caller_end).await
}

/// What one café call made of the caller: its turns, how long after the
/// caller's end the first reply that began after they did went out (zero
/// if before their end), and whether a reply went out before they began:
/// one to the crowd.
struct CafeCall {
    turns: Vec<agentlocator_call::TurnRecord>,
    reply: Duration,
    answered_the_crowd: bool,
}

/// One call of the café `line` with the standard fakes, the caller
/// speaking from `caller_start` to `caller_end` into it.
async fn the_reply_in_a_cafe(
    line: &[i16],
    caller_start: Duration,
    caller_end: Duration,
) -> CafeCall {
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    let began = tokio::time::Instant::now();
    call.play(line).await;
    call.stop().await;
    let (_, log, events) = call.finish().await;
    // Each synthesis of the reply, by when its first frame went out.
    let replies: Vec<Duration> = (fakes.tts.said.lock().unwrap().iter())
        .filter(|(said, _)| said == REPLY_1)
        .filter_map(|&(_, byte)| media_of(&log, byte).first().map(|&at| at - began))
        .collect();
    let reply = (replies.iter().copied())
        .filter(|&at| at >= caller_start)
        .min()
        .expect("the caller was answered");
    CafeCall {
        turns: turns(&events),
        reply: reply.saturating_sub(caller_end),
        answered_the_crowd: replies.iter().any(|&at| at < caller_start),
    }
}

/// The held-out set's sentences that the café sweep plays (its first,
/// second, third and sixth), each with its P.56 activity: the file split
/// in the middle of each stretch of 2 s or more of digital silence, as
/// the noise set splits it.
fn held_out_sentences() -> Vec<(Vec<i16>, p56::Activity)> {
    let speech = pcm(HELD_OUT);
    let mut bounds = vec![0];
    bounds.extend(p56::splits_at_silences(&speech, 160, 2 * RATE));
    bounds.push(speech.len());
    [0, 1, 2, 5]
        .into_iter()
        .map(|k| {
            let part = speech[bounds[k]..bounds[k + 1]].to_vec();
            let activity = p56::activity(&part, 160).expect("a sentence in each part");
            (part, activity)
        })
        .collect()
}

/// How soon a café caller hears the reply in the call, over 160 lines:
/// four held-out sentences, each 6 or 8 s into a café 20 or 25 dB under
/// it (the crowd from the call's first frame, the greeting over it), noise
/// seeds 0–9, with the standard fakes. Prints the mean, median and 90th
/// percentile of the first reply frame after the caller's P.56 end, how
/// many came within 1,200 ms, how many turns the room or the crowd score
/// ended, and every line that made more than one turn (BENCHMARKS.md, "A
/// call's first turn"):
/// `cargo test -p agentlocator-call --test engine -- --ignored --nocapture replies_in_160_cafe_calls`.
#[tokio::test(start_paused = true)]
#[ignore = "diagnostic: prints, asserts nothing"]
async fn print_how_soon_the_replies_in_160_cafe_calls_come() {
    println!("{}", replies_in_a_cafe([20.0, 25.0]).await);
}

/// As [`print_how_soon_the_replies_in_160_cafe_calls_come`], the crowd 10
/// or 15 dB under the caller, where the quiet hold ends most turns:
/// `cargo test -p agentlocator-call --test engine -- --ignored --nocapture replies_in_160_loud_cafe_calls`.
#[tokio::test(start_paused = true)]
#[ignore = "diagnostic: prints, asserts nothing"]
async fn print_how_soon_the_replies_in_160_loud_cafe_calls_come() {
    println!("{}", replies_in_a_cafe([10.0, 15.0]).await);
}

/// The 160 café calls of [`print_how_soon_the_replies_in_160_cafe_calls_come`]
/// must answer within 1,200 ms no fewer times than measured: 150 since
/// the wait counts from the caller's last word the café network is sure
/// of (p90 1,160 ms; 1,140 ms since a frame under the quiet gate is the
/// caller's silence to that network, 1,120 ms since the quiet hold counts
/// from where the caller stands out), 148 since the room is known for a
/// crowd from its first seconds (146 before).
/// The noise set alone cannot hold this: it has no café at 25 dB, where
/// the VAD hears the crowd less, and a crowd's share raised to 0.4 passed
/// it while these calls fell to 140 (BENCHMARKS.md, "A café known from its
/// first seconds"). The clock is paused, so the figures repeat.
///
/// In 2 of the calls the crowd makes a turn before the caller speaks, and
/// the agent answers it (6 before the quiet hold judged a turn again
/// against the room): a gap not closed yet (BENCHMARKS.md, "The café
/// sweep's calls that answered the crowd"), held here so that it cannot
/// widen. Those calls' replies are timed from the caller's own turn;
/// before that was so, the sweep read them as 0 ms.
#[tokio::test(start_paused = true)]
async fn cafe_callers_at_20_and_25_db_hear_the_reply_within_1200_ms_no_less_often_than_measured() {
    let replies = replies_in_a_cafe([20.0, 25.0]).await;
    assert!(replies.within_1200_ms >= 150, "{replies}");
    assert!(replies.p90_ms <= 1_120, "{replies}");
    assert!(replies.answered_the_crowd <= 2, "{replies}");
}

/// How soon the replies came in the café sweep, and what it cost.
struct CafeReplies {
    calls: usize,
    mean_ms: u128,
    median_ms: u128,
    p90_ms: u128,
    within_1200_ms: usize,
    /// First turns the room or the crowd score ended.
    room_ends: usize,
    /// Calls in which the agent answered the crowd before the caller
    /// spoke.
    answered_the_crowd: usize,
    guesses: u32,
    wasted: u32,
}

impl std::fmt::Display for CafeReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.calls;
        write!(
            f,
            "{n} café calls: the reply {} ms after the caller on average, median {} ms, 90th percentile {} ms; {} within 1,200 ms; {} first turns ended on the room or the crowd score; {} calls answered the crowd before the caller spoke; {:.2} guesses and {:.2} wasted provider requests a turn",
            self.mean_ms,
            self.median_ms,
            self.p90_ms,
            self.within_1200_ms,
            self.room_ends,
            self.answered_the_crowd,
            f64::from(self.guesses) / n as f64,
            f64::from(self.wasted) / n as f64
        )
    }
}

/// The café sweep at `snrs` (see [`print_how_soon_the_replies_in_160_cafe_calls_come`]).
async fn replies_in_a_cafe(snrs: [f32; 2]) -> CafeReplies {
    let margin = RATE * 3 / 10;
    let mut replies = Vec::new();
    let mut room_ends = 0;
    let mut answered_the_crowd = 0;
    let (mut guesses, mut wasted) = (0, 0);
    for (k, (part, activity)) in held_out_sentences().iter().enumerate() {
        let from = activity.start.saturating_sub(margin);
        let to = (activity.end + margin).min(part.len());
        for lead in [6, 8] {
            for snr_db in snrs {
                for seed in 0..10 {
                    let mut speech = vec![0; lead * RATE];
                    speech.extend(&part[from..to]);
                    let caller_end = Duration::from_millis(
                        ((speech.len() - (to - activity.end)) * 1000 / RATE) as u64,
                    );
                    let line = cafe_line(&speech, speech.len() / RATE + 7, snr_db, seed);
                    let caller_start = Duration::from_secs(lead as u64);
                    let CafeCall {
                        turns,
                        reply,
                        answered_the_crowd: answered,
                    } = the_reply_in_a_cafe(&line, caller_start, caller_end).await;
                    answered_the_crowd += usize::from(answered);
                    if turns.len() != 1 {
                        let ended: Vec<_> = turns.iter().map(|t| t.ended_by).collect();
                        println!(
                            "sentence {k}, {lead} s in, {snr_db} dB, seed {seed}: {} turns, ended by {ended:?}",
                            turns.len()
                        );
                    }
                    // The caller's turn is the last: the crowd's, if any,
                    // came before it.
                    let theirs = turns.last().expect("the caller made a turn");
                    room_ends += usize::from(theirs.ended_by == voice::EndedBy::Room);
                    guesses += theirs.guesses;
                    wasted += theirs.wasted_calls;
                    replies.push(reply.as_millis());
                }
            }
        }
    }
    replies.sort_unstable();
    let n = replies.len();
    CafeReplies {
        calls: n,
        mean_ms: replies.iter().sum::<u128>() / n as u128,
        median_ms: replies[n / 2],
        p90_ms: replies[n * 9 / 10],
        within_1200_ms: replies.iter().filter(|&&ms| ms <= 1_200).count(),
        room_ends,
        answered_the_crowd,
        guesses,
        wasted,
    }
}

#[tokio::test(start_paused = true)]
async fn a_turn_that_ends_before_its_early_guess_is_checked_is_checked_against_its_own_audio() {
    // The held-out set's fourth sentence, 6 s into a café 18 dB under it,
    // crowd seed 5: guesses in the caller's pauses, each dropped as they
    // go on, then one early on the quiet hold; the line's fall ends the
    // turn (on the room) 300 ms later, before that guess's check is due
    // (500 ms after it), so the turn's own audio checks it. (This was the
    // first sentence at 15 dB on crowd seed 0 until a caller clear of the
    // crowd needed less evidence, on seed 1 until the room end judged the
    // line against the crowd's own ceiling, then this sentence at 20 dB
    // on seed 9 until the café network heard such callers stop; each now
    // ends its turn before the early guess, or answers from a later one.)
    let (part, activity) = &held_out_sentences()[3];
    let margin = RATE * 3 / 10;
    let mut speech = vec![0; 6 * RATE];
    speech.extend(&part[activity.start - margin..(activity.end + margin).min(part.len())]);
    let line = cafe_line(&speech, speech.len() / RATE + 7, 18.0, 5);
    let the_turn = |ends_after: usize| {
        let line = line.clone();
        async move {
            let fakes = Fakes::new(
                FakeStt::ending_after(
                    ends_after,
                    "אני רוצה לקבוע",
                    CALLER_SAYS,
                    Duration::from_millis(200),
                ),
                FakeLlm::replying(crate::two_sentences()),
            );
            let mut call = start(Options::new(fakes.providers()));
            call.play(&line).await;
            call.stop().await;
            let (_, _, events) = call.finish().await;
            let mut turns = turns(&events);
            assert_eq!(turns.len(), 1);
            let heard = fakes.stt.heard_bytes.lock().unwrap().clone();
            (turns.remove(0), heard, what_the_model_heard(&fakes).0)
        }
    };
    // It heard the whole sentence: the guess answers once the check's
    // transcript agreed, 600 ms after the guess (its transcription, the
    // model and TTS), 300 ms after the end; the check never asked the
    // model.
    let (agreed, heard, model) = the_turn(0).await;
    assert_eq!(agreed.ended_by, voice::EndedBy::Room);
    assert_eq!(agreed.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(model, [CALLER_SAYS]);
    assert_eq!(agreed.t_total_ms, 300);
    // The last two transcriptions: the early guess's, and the turn's,
    // which holds 300 ms more.
    let [.., guess, turn] = heard[..] else {
        panic!("{heard:?}")
    };
    assert_eq!(turn - guess, 300 * 8);
    // The caller's last words came after the early guess: the turn's own
    // audio answers.
    let (checked, _, model) = the_turn(turn).await;
    assert_eq!(checked.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(model, [CALLER_SAYS]);
    // Its transcription, the model and TTS after the end.
    assert_eq!(checked.t_total_ms, 600);
}

#[tokio::test(start_paused = true)]
async fn a_check_whose_transcription_fails_leaves_the_guess_to_be_checked_against_the_turn() {
    // The early guess heard the caller; its check met an STT outage, on
    // its second try too, before the turn ended. The guess stays
    // unchecked, so the turn's own audio checks it at the end: the same
    // words, and the guess answers once that transcript is back (200 ms
    // with these fakes), not 600 ms later as the turn's own reply would.
    let ms = Duration::from_millis;
    let fakes = Fakes::new(
        FakeStt::scripted(&[Some(CALLER_SAYS), None, None], CALLER_SAYS, ms(200)).taking(&[
            ms(200),
            ms(100),
            ms(100),
        ]),
        FakeLlm::replying(crate::two_sentences()),
    );
    let (turn, _) = a_turn_in_a_cafe_heard_by(&fakes, 10.0, true).await;
    assert_eq!(turn.ended_by, voice::EndedBy::QuietHold);
    assert_eq!(turn.user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(turn.error_code, None);
    assert_eq!(turn.t_total_ms, 200);
    assert!(turn.speculative);
    // The guess, its failed check's two, and the turn's own.
    assert_eq!(fakes.stt.calls.load(Ordering::SeqCst), 4);
    // The failed check's transcriptions, and the turn's.
    assert_eq!((turn.guesses, turn.wasted_calls), (3, 3));
}
