use super::*;
use proptest::prelude::*;

const FRAME: usize = crate::TWILIO_FRAME_SAMPLES;

/// Pushes `count` 20 ms frames filled with `byte` and collects the events.
fn run(det: &mut TurnDetector, count: usize, voiced: bool, byte: u8) -> Vec<TurnEvent> {
    (0..count)
        .filter_map(|_| det.push(&[byte; FRAME], voiced))
        .collect()
}

fn speech(det: &mut TurnDetector, frames: usize) -> Vec<TurnEvent> {
    run(det, frames, true, 0x10)
}

fn silence(det: &mut TurnDetector, frames: usize) -> Vec<TurnEvent> {
    run(det, frames, false, 0xFF)
}

/// The default configuration without guesses at pauses, for tests of the
/// end of turn alone.
fn without_guesses() -> TurnConfig {
    TurnConfig {
        guess_after_ms: 0,
        ..TurnConfig::default()
    }
}

/// The detector of [`without_guesses`].
fn no_guesses() -> TurnDetector {
    TurnDetector::new(without_guesses())
}

fn ended(event: &TurnEvent) -> (usize, u32, u32) {
    match event {
        TurnEvent::UtteranceEnded {
            audio,
            speech_ms,
            voiced_ms,
            ..
        } => (audio.len(), *speech_ms, *voiced_ms),
        other => panic!("expected UtteranceEnded, got {other:?}"),
    }
}

/// What ended the utterance `event` ended, and the caller's level over
/// the room it reports.
fn ended_by(event: &TurnEvent) -> (EndedBy, Option<i16>) {
    match event {
        TurnEvent::UtteranceEnded {
            ended_by, snr_db, ..
        } => (*ended_by, *snr_db),
        other => panic!("expected UtteranceEnded, got {other:?}"),
    }
}

#[test]
fn silence_alone_never_emits_an_event() {
    let mut det = TurnDetector::default();
    assert!(silence(&mut det, 500).is_empty());
    assert!(!det.is_speaking());
    assert_eq!(det.finish(), None);
}

#[test]
fn the_first_voiced_frame_reports_speech_started() {
    let mut det = TurnDetector::default();
    silence(&mut det, 10);
    assert_eq!(
        det.push(&[0x10; FRAME], true),
        Some(TurnEvent::SpeechStarted)
    );
    assert!(det.is_speaking());
}

#[test]
fn a_cough_shorter_than_min_speech_is_discarded_after_the_end_silence() {
    let mut det = TurnDetector::default();
    // 200 ms of voice < 250 ms.
    assert_eq!(speech(&mut det, 10), [TurnEvent::SpeechStarted]);
    let events = silence(&mut det, 30);
    assert_eq!(events, [TurnEvent::Discarded]);
    assert!(!det.is_speaking());
}

#[test]
fn an_utterance_ends_on_the_frame_that_completes_the_end_silence() {
    let mut det = no_guesses();
    silence(&mut det, 20);
    speech(&mut det, 50);
    assert!(silence(&mut det, 29).is_empty(), "580 ms is not enough");
    let event = det.push(&[0xFF; FRAME], false).expect("600 ms ends it");
    let (len, speech_ms, voiced_ms) = ended(&event);
    assert_eq!((speech_ms, voiced_ms), (1000, 1000));
    // 200 ms pre-roll + 1000 ms speech + 200 ms of the trailing silence.
    assert_eq!(len, 1600 + 8000 + 1600);
}

#[test]
fn the_audio_holds_pre_roll_then_speech_then_a_short_tail() {
    let mut det = TurnDetector::default();
    run(&mut det, 20, false, 0x01);
    run(&mut det, 13, true, 0x02);
    let events = run(&mut det, 30, false, 0x03);
    let TurnEvent::UtteranceEnded { audio, .. } = &events[events.len() - 1] else {
        panic!("{events:?}");
    };
    assert!(audio[..1600].iter().all(|&b| b == 0x01));
    assert!(audio[1600..1600 + 13 * FRAME].iter().all(|&b| b == 0x02));
    assert!(audio[1600 + 13 * FRAME..].iter().all(|&b| b == 0x03));
    assert_eq!(audio.len(), 1600 + 13 * FRAME + 1600);
}

#[test]
fn pre_roll_is_shorter_when_speech_starts_right_away() {
    let mut det = no_guesses();
    run(&mut det, 3, false, 0x01);
    speech(&mut det, 20);
    let events = silence(&mut det, 30);
    assert_eq!(ended(&events[0]).0, 3 * FRAME + 20 * FRAME + 1600);
}

#[test]
fn short_pauses_stay_inside_one_utterance() {
    let mut det = no_guesses();
    let mut events = speech(&mut det, 25);
    events.extend(silence(&mut det, 20)); // 400 ms pause
    events.extend(speech(&mut det, 25));
    events.extend(silence(&mut det, 30));
    assert_eq!(events[0], TurnEvent::SpeechStarted);
    assert_eq!(events[1], TurnEvent::BargeIn);
    let (_, speech_ms, voiced_ms) = ended(&events[2]);
    assert_eq!((speech_ms, voiced_ms), (1400, 1000));
    assert_eq!(events.len(), 3);
}

#[test]
fn barge_in_fires_once_after_barge_in_ms_of_continuous_voice() {
    let mut det = TurnDetector::default();
    assert_eq!(
        det.push(&[0x10; FRAME], true),
        Some(TurnEvent::SpeechStarted)
    );
    for _ in 0..11 {
        assert_eq!(det.push(&[0x10; FRAME], true), None);
    }
    // 13th frame: 260 ms >= 250 ms of voice.
    assert_eq!(det.push(&[0x10; FRAME], true), Some(TurnEvent::BargeIn));
    assert!(speech(&mut det, 100).is_empty());
    silence(&mut det, 5);
    assert!(
        speech(&mut det, 100).is_empty(),
        "one barge-in per utterance"
    );
}

#[test]
fn broken_voice_does_not_count_as_barge_in() {
    let mut det = TurnDetector::default();
    let mut events = Vec::new();
    for _ in 0..5 {
        events.extend(speech(&mut det, 10)); // 200 ms
        events.extend(silence(&mut det, 2)); // 40 ms gap
    }
    assert_eq!(events, [TurnEvent::SpeechStarted]);
}

#[test]
fn max_utterance_cuts_a_monologue_and_the_next_one_starts_cleanly() {
    let config = TurnConfig {
        max_utterance_ms: 1000,
        ..TurnConfig::default()
    };
    let mut det = TurnDetector::new(config);
    silence(&mut det, 20);
    let events = speech(&mut det, 50);
    assert_eq!(events.len(), 3, "{events:?}");
    let (len, speech_ms, voiced_ms) = ended(&events[2]);
    assert_eq!((len, speech_ms, voiced_ms), (1600 + 8000, 1000, 1000));
    // Still talking: a fresh utterance with fresh barge-in.
    let events = speech(&mut det, 13);
    assert_eq!(events, [TurnEvent::SpeechStarted, TurnEvent::BargeIn]);
}

#[test]
fn time_is_counted_in_samples_whatever_the_frame_size() {
    let mut det = TurnDetector::default();
    let mut events = Vec::new();
    // 1 s of voice in 7-sample, 160-sample and 333-sample frames.
    for size in [7usize, 160, 333] {
        let mut left = 8000 / 3;
        while left > 0 {
            let n = size.min(left);
            events.extend(det.push(&vec![0x10; n], true));
            left -= n;
        }
    }
    events.extend(det.push(&[0xFF; 4800], false));
    let (_, speech_ms, voiced_ms) = ended(&events[events.len() - 1]);
    assert_eq!((speech_ms, voiced_ms), (999, 999));
}

#[test]
fn empty_frames_change_nothing() {
    let mut det = TurnDetector::default();
    assert_eq!(det.push(&[], true), None);
    assert!(!det.is_speaking());
    speech(&mut det, 1);
    assert_eq!(det.push(&[], false), None);
    assert!(det.is_speaking());
}

#[test]
fn finish_delivers_an_open_utterance_or_discards_a_blip() {
    let mut det = TurnDetector::default();
    speech(&mut det, 20);
    let (len, speech_ms, _) = ended(&det.finish().unwrap());
    assert_eq!((len, speech_ms), (20 * FRAME, 400));
    assert_eq!(det.finish(), None);
    speech(&mut det, 2);
    assert_eq!(det.finish(), Some(TurnEvent::Discarded));
}

#[test]
fn a_frame_longer_than_the_limit_reports_start_then_end() {
    let config = TurnConfig {
        max_utterance_ms: 500,
        ..TurnConfig::default()
    };
    let mut det = TurnDetector::new(config);
    assert_eq!(
        det.push(&[0x10; 8000], true),
        Some(TurnEvent::SpeechStarted)
    );
    assert!(det.buffered_samples() <= 4000 + 1600);
    let (len, speech_ms, _) = ended(&det.push(&[0xFF; FRAME], false).unwrap());
    assert_eq!((len, speech_ms), (4000, 500));
    // The overflow and the silent frame became the next pre-roll.
    assert_eq!(det.buffered_samples(), 1600);
}

#[test]
fn reset_drops_the_open_utterance_silently() {
    let mut det = TurnDetector::default();
    speech(&mut det, 30);
    det.reset();
    assert!(!det.is_speaking());
    assert_eq!(det.buffered_samples(), 0);
    assert_eq!(det.finish(), None);
}

#[test]
fn zero_valued_config_still_makes_progress() {
    let config = TurnConfig {
        sample_rate: 0,
        end_silence_ms: 0,
        min_speech_ms: 0,
        max_utterance_ms: 0,
        barge_in_ms: 0,
        echo_return_loss_db: 0,
        echo_margin_db: 0,
        pre_roll_ms: 0,
        guess_after_ms: 0,
        resume_ms: 0,
        quiet_gate_db: 0,
        quiet_hold_ms: 0,
        quiet_hold_db: 0,
        room_clear_db: 0,
        stand_out_db: 0,
        room_end_db: 0,
        vad_hangover_ms: 0,
        fade_ms: 0,
    };
    let mut det = TurnDetector::new(config);
    assert_eq!(det.push(&[1, 2, 3], true), Some(TurnEvent::SpeechStarted));
    assert!(matches!(
        det.push(&[4], true),
        Some(TurnEvent::UtteranceEnded { .. })
    ));
}

/// The frame (1-based) whose push ended the utterance, if any, when the
/// VAD's decisions follow `pattern` (voiced or not, for so many frames).
fn frame_of_the_end(config: &TurnConfig, pattern: &[(bool, usize)]) -> Option<usize> {
    let mut det = TurnDetector::new(config.clone());
    pattern
        .iter()
        .flat_map(|&(voiced, n)| std::iter::repeat_n(voiced, n))
        .enumerate()
        .find_map(|(i, voiced)| {
            matches!(
                det.push(&[0xFF; FRAME], voiced),
                Some(TurnEvent::UtteranceEnded { .. })
            )
            .then_some(i + 1)
        })
}

#[test]
fn quiet_syllables_the_vad_hears_in_runs_of_100_ms_keep_the_turn_open() {
    // A caller's quiet last words under street noise: after a 300 ms
    // pause the VAD hears them in runs of 100 ms with 80 ms between. Each
    // run is the caller going on, so the wait starts again after the last.
    let words = [
        (true, 50),
        (false, 15),
        (true, 5),
        (false, 4),
        (true, 5),
        (false, 4),
        (true, 5),
        (false, 40),
    ];
    let config = without_guesses();
    assert_eq!(frame_of_the_end(&config, &words), Some(118));
    // Held to 120 ms, each run was a blip, and the turn ended inside them.
    let blips = TurnConfig {
        resume_ms: 120,
        ..config
    };
    assert_eq!(frame_of_the_end(&blips, &words), Some(80));
}

#[test]
fn a_blip_in_the_pause_after_speech_does_not_restart_the_wait_but_speech_does() {
    let config = TurnConfig {
        end_silence_ms: 600,
        resume_ms: 120,
        ..TurnConfig::default()
    };
    // 1 s of speech, 300 ms of pause, a 100 ms clatter, then quiet: the
    // turn ends 600 ms after the speech, as if the clatter were not there.
    assert_eq!(
        frame_of_the_end(&config, &[(true, 50), (false, 15), (true, 5), (false, 40)]),
        Some(80)
    );
    // The same pause followed by 200 ms of voice: the caller went on, so
    // the wait starts again after it.
    assert_eq!(
        frame_of_the_end(&config, &[(true, 50), (false, 15), (true, 10), (false, 40)]),
        Some(105)
    );
}

proptest! {
    #[test]
    fn never_panics_and_never_buffers_more_than_max_plus_pre_roll(
        end_silence_ms in 0u32..400,
        min_speech_ms in 0u32..300,
        max_utterance_ms in 0u32..600,
        barge_in_ms in 0u32..300,
        pre_roll_ms in 0u32..300,
        guess_after_ms in 0u32..400,
        frames in prop::collection::vec((0usize..600, any::<bool>()), 0..300),
    ) {
        let config = TurnConfig {
            sample_rate: 8000, end_silence_ms, min_speech_ms, max_utterance_ms, barge_in_ms, pre_roll_ms,
            guess_after_ms,
            ..TurnConfig::default()
        };
        let limit = (max_utterance_ms.max(1) as usize * 8) + pre_roll_ms as usize * 8;
        let mut det = TurnDetector::new(config);
        let mut open = false;
        let mut barged = false;
        for (len, voiced) in frames {
            let event = det.push(&vec![0x55; len], voiced);
            prop_assert!(det.buffered_samples() <= limit.max(1));
            match event {
                Some(TurnEvent::SpeechStarted) => { prop_assert!(!open); open = true; barged = false; }
                Some(TurnEvent::BargeIn) => { prop_assert!(open && !barged); barged = true; }
                Some(TurnEvent::UtteranceEnded { audio, .. }) => {
                    prop_assert!(open);
                    prop_assert!(audio.len() <= limit);
                    open = false;
                }
                Some(TurnEvent::Discarded) => { prop_assert!(open); open = false; }
                Some(TurnEvent::Paused { audio, .. }) => {
                    prop_assert!(open);
                    prop_assert!(audio.len() <= limit);
                }
                Some(TurnEvent::StillPaused { audio, .. }) => {
                    prop_assert!(open);
                    prop_assert!(audio.len() <= limit);
                }
                Some(TurnEvent::Resumed) => prop_assert!(open),
                None => {}
            }
        }
        let last = det.finish();
        prop_assert_eq!(last.is_some(), open);
    }
}

#[test]
fn a_pause_offers_the_utterance_so_far_once_and_the_end_still_follows() {
    let mut det = TurnDetector::default();
    speech(&mut det, 25); // 500 ms
    let events = silence(&mut det, 13); // 260 ms
    let [
        TurnEvent::Paused {
            audio,
            voiced_ms,
            early,
        },
    ] = events.as_slice()
    else {
        panic!("expected one Paused, got {events:?}");
    };
    assert_eq!(*voiced_ms, 500);
    // A quiet pause is no early guess: no check need follow it.
    assert!(!early);
    // Speech and up to 200 ms of what followed.
    assert_eq!(audio.len(), 500 * 8 + 200 * 8);
    let events = silence(&mut det, 17); // to 600 ms
    assert_eq!(events.len(), 1);
    let (len, _, _) = ended(&events[0]);
    assert_eq!(len, audio.len(), "the guess heard what the turn holds");
}

#[test]
fn speaking_again_after_a_pause_makes_the_guess_stale_and_the_next_pause_guesses_again() {
    let mut det = TurnDetector::default();
    speech(&mut det, 25);
    assert!(matches!(
        silence(&mut det, 15)[..],
        [TurnEvent::Paused { .. }]
    ));
    assert_eq!(speech(&mut det, 10), [TurnEvent::Resumed]);
    let events = silence(&mut det, 13);
    let [TurnEvent::Paused { voiced_ms, .. }] = events.as_slice() else {
        panic!("expected a second Paused, got {events:?}");
    };
    assert_eq!(*voiced_ms, 700, "the new guess includes the new audio");
}

#[test]
fn a_pause_shorter_than_the_guess_wait_offers_no_guess_when_the_caller_goes_on() {
    let mut det = TurnDetector::default();
    speech(&mut det, 25);
    // 100 ms between two words: the next word's first frames are held back
    // until they last `resume_ms`, but they are not more pause.
    assert_eq!(silence(&mut det, 5), []);
    assert_eq!(speech(&mut det, 25), []);
    let events = silence(&mut det, 11);
    let [TurnEvent::Paused { voiced_ms, .. }] = events.as_slice() else {
        panic!("expected one Paused after the real pause, got {events:?}");
    };
    assert_eq!(*voiced_ms, 1000);
}

#[test]
fn no_guess_is_offered_for_a_blip_shorter_than_min_speech() {
    let mut det = TurnDetector::default();
    speech(&mut det, 10); // 200 ms < 250 ms
    assert_eq!(silence(&mut det, 30), [TurnEvent::Discarded]);
}

#[test]
fn a_shorter_wait_set_for_this_utterance_ends_it_sooner_and_the_next_one_waits_as_configured() {
    let mut det = no_guesses();
    speech(&mut det, 25);
    det.set_end_silence_ms(300);
    let events = silence(&mut det, 15);
    assert_eq!(events.len(), 1, "ended after 300 ms: {events:?}");
    ended(&events[0]);
    speech(&mut det, 25);
    assert!(silence(&mut det, 29).is_empty(), "back to 600 ms");
    assert_eq!(silence(&mut det, 1).len(), 1);
}

#[test]
fn a_wait_shortened_below_the_silence_already_heard_ends_on_the_next_frame() {
    let mut det = no_guesses();
    speech(&mut det, 25);
    silence(&mut det, 20); // 400 ms
    det.set_end_silence_ms(250);
    assert_eq!(silence(&mut det, 1).len(), 1);
}

/// A second of a quiet room (-70 dBFS, no voice), as a call begins while
/// the agent greets: what the room rule measures the line against.
fn quiet_room(det: &mut TurnDetector) {
    quiet_line(det, 50);
}

/// Pushes `frames` 20 ms frames of a quiet line the VAD hears as silence.
fn quiet_line(det: &mut TurnDetector, frames: usize) {
    for _ in 0..frames {
        assert_eq!(det.push_heard(&[0xFF; FRAME], false, -70.0), None);
    }
}

/// Fails unless `events` hold no turn: nothing but utterances started,
/// barge-ins and utterances discarded.
fn assert_no_turn(events: &[(usize, TurnEvent)]) {
    assert!(
        kinds(events)
            .iter()
            .all(|(_, kind)| ["started", "barge-in", "discarded"].contains(kind)),
        "{:?}",
        kinds(events)
    );
}

/// Pushes `count` voiced 20 ms frames at `level_dbfs`.
fn heard(det: &mut TurnDetector, count: usize, level_dbfs: f32) -> Vec<TurnEvent> {
    (0..count)
        .filter_map(|_| det.push_heard(&[0x10; FRAME], true, level_dbfs))
        .collect()
}

#[test]
fn the_agents_own_echo_never_barges_in() {
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    // Agent at -18 dBFS: its echo comes back 20–30 dB down, so the gate
    // sits at -18 - 20 + 6 = -32 dBFS.
    det.set_agent_level(Some(-18.0));
    let events = heard(&mut det, 150, -38.0);
    // Never over the gate, so it never stands out of the room either:
    // dropped as the room 1.8 s in (the quiet hold), and heard afresh.
    assert_eq!(
        events,
        vec![
            TurnEvent::SpeechStarted,
            TurnEvent::Discarded,
            TurnEvent::SpeechStarted
        ]
    );
}

#[test]
fn a_caller_talking_over_the_agent_barges_in_after_barge_in_ms() {
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    det.set_agent_level(Some(-18.0));
    // Echo first, then the caller's voice on top of it.
    assert_eq!(heard(&mut det, 20, -38.0), vec![TurnEvent::SpeechStarted]);
    let events = heard(&mut det, 12, -24.0);
    assert_eq!(events, vec![], "before 250 ms of caller voice");
    assert_eq!(heard(&mut det, 1, -24.0), vec![TurnEvent::BargeIn]);
}

#[test]
fn a_dip_to_echo_level_restarts_the_barge_in_clock() {
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    det.set_agent_level(Some(-18.0));
    let mut events = heard(&mut det, 10, -24.0);
    events.extend(heard(&mut det, 1, -40.0));
    events.extend(heard(&mut det, 12, -24.0));
    assert_eq!(events, vec![TurnEvent::SpeechStarted]);
    assert_eq!(heard(&mut det, 1, -24.0), vec![TurnEvent::BargeIn]);
}

#[test]
fn once_the_agent_stops_quiet_voice_counts_again() {
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    det.set_agent_level(Some(-18.0));
    assert_eq!(heard(&mut det, 20, -38.0), vec![TurnEvent::SpeechStarted]);
    det.set_agent_level(None);
    assert_eq!(heard(&mut det, 13, -38.0), vec![TurnEvent::BargeIn]);
}

#[test]
fn an_utterance_of_the_agents_echo_alone_is_discarded_and_offers_no_guess() {
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    det.set_agent_level(Some(-18.0));
    // Voice at the echo's level (-38 dBFS < -18 - 20 + 6), for a second.
    let mut events = heard(&mut det, 50, -38.0);
    events.extend(silence(&mut det, 40));
    assert_eq!(events, [TurnEvent::SpeechStarted, TurnEvent::Discarded]);
}

/// Frame by frame, when each event of `events` came.
fn heard_at(det: &mut TurnDetector, count: usize, level_dbfs: f32) -> Vec<(usize, TurnEvent)> {
    (0..count)
        .filter_map(|i| Some((i, det.push_heard(&[0x10; FRAME], true, level_dbfs)?)))
        .collect()
}

#[test]
fn voice_far_below_the_callers_level_in_a_pause_ends_the_turn_on_time() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    // The caller at -20 dBFS, a frame the VAD calls silence, then café
    // babble at -45 dBFS that it calls voice: 25 dB down, past the gate.
    heard(&mut det, 50, -20.0);
    assert!(silence(&mut det, 1).is_empty());
    // 40 frames: a new utterance would start on the next (onsets are not
    // gated; the echo gate and min_speech_ms deal with those).
    let events = heard_at(&mut det, 40, -45.0);
    assert_eq!(events.len(), 2);
    // 600 ms of silence: the silent frame and 29 gated ones.
    assert_eq!(events[0].0, 28);
    assert_eq!(events[1], (29, TurnEvent::SpeechStarted));
    let (_, speech_ms, voiced_ms) = ended(&events[0].1);
    assert_eq!((speech_ms, voiced_ms), (1_000, 1_000));
}

#[test]
fn voice_under_the_quiet_gate_ends_the_turn_but_starts_no_guess() {
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    assert!(silence(&mut det, 1).is_empty());
    // 25 dB down: not the caller going on, but not a pause they made
    // either, so no transcription is spent on it.
    let events = heard_at(&mut det, 29, -45.0);
    assert!(
        matches!(events.as_slice(), [(28, TurnEvent::UtteranceEnded { .. })]),
        "{events:?}"
    );
}

#[test]
fn quiet_syllables_within_the_gate_keep_the_turn_open() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    silence(&mut det, 1);
    // 18 dB down: quiet syllables, still the caller (for 1.2 s, inside
    // the quiet hold).
    assert!(heard(&mut det, 60, -38.0).is_empty());
    assert!(det.is_speaking());
}

#[test]
fn quiet_voice_holds_the_turn_open_no_longer_than_the_quiet_hold_after_the_caller_was_last_clear() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    // Babble 18 dB under the caller (not counted into their level, as
    // P.56 counts nothing 15.9 dB under it), right after their last word
    // and with no pause: the quiet gate never acts, the hold does. The
    // last 400 ms stay within 10 dB of the caller while two of their
    // frames are in them (the 18th babble frame), and 1.8 s is 90 frames
    // from there.
    let events = heard_at(&mut det, 130, -38.0);
    let first = events.first().map(|(at, event)| (*at, ended(event).1));
    assert_eq!(
        first,
        Some((107, 3_160)),
        "ended 1.8 s after the caller was clear"
    );
    assert_eq!(events[1], (108, TurnEvent::SpeechStarted));
}

#[test]
fn on_a_line_the_vad_finds_pauses_in_the_quiet_holds_guess_comes_300_ms_before_it_unchecked() {
    // As above, with guesses: the room is quiet, the VAD's pause nearly
    // always ends such turns, and no early guess is spent on the hold.
    let mut det = TurnDetector::default();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    let events = heard_at(&mut det, 108, -38.0);
    assert_eq!(kinds(&events), [(92, "paused"), (107, "ended")]);
    assert!(matches!(
        events[0].1,
        TurnEvent::Paused { early: false, .. }
    ));
}

#[test]
fn a_clear_word_inside_quiet_voice_restarts_the_quiet_hold() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    assert!(heard(&mut det, 80, -38.0).is_empty());
    // A 200 ms word 4 dB under: the caller, clear enough. Without it the
    // turn would end 28 frames into the babble that follows.
    assert!(heard(&mut det, 10, -24.0).is_empty());
    assert!(heard(&mut det, 80, -38.0).is_empty());
    assert!(det.is_speaking());
}

#[test]
fn a_single_frame_near_the_callers_level_does_not_restart_the_quiet_hold() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    // Babble whose loudest frames, one in ten, come within 6 dB of the
    // caller: over 400 ms the crowd stays more than 10 dB under them.
    let mut at = None;
    for i in 0..200 {
        let level = if i % 10 == 9 { -26.0 } else { -38.0 };
        if matches!(
            heard(&mut det, 1, level).as_slice(),
            [TurnEvent::UtteranceEnded { .. }]
        ) {
            at = Some(i);
            break;
        }
    }
    assert_eq!(at, Some(107), "ended 1.8 s after the caller was clear");
}

#[test]
fn the_quiet_hold_never_ends_a_turn_before_the_wait_in_force() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    // The endpointing rules asked for 2.5 s (digits being dictated).
    det.set_end_silence_ms(2_500);
    let events = heard_at(&mut det, 160, -38.0);
    let first = events.first().map(|(at, event)| (*at, ended(event).1));
    // 125 frames after the caller was last clear, at the 18th.
    assert_eq!(
        first,
        Some((142, 3_860)),
        "ended 2.5 s after the caller was clear"
    );
}

#[test]
fn voice_continuing_from_speech_is_not_gated_only_voice_after_a_pause_is() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    // No pause began: a quiet stretch is still the caller talking (for
    // 1.2 s, inside the quiet hold).
    assert!(heard(&mut det, 60, -50.0).is_empty());
    assert!(det.is_speaking());
}

#[test]
fn the_quiet_gate_is_off_at_zero_and_for_frames_without_a_level() {
    let mut det = TurnDetector::new(TurnConfig {
        guess_after_ms: 0,
        quiet_gate_db: 0,
        quiet_hold_ms: 0,
        ..TurnConfig::default()
    });
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    silence(&mut det, 1);
    assert!(heard(&mut det, 100, -60.0).is_empty());
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    silence(&mut det, 1);
    assert!(
        speech(&mut det, 100).is_empty(),
        "push() has no level to gate"
    );
}

#[test]
fn quiet_frames_are_not_counted_into_the_callers_level() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 10, -20.0);
    // More than 15.9 dB under the active level: not counted into it (as
    // P.56), so a long quiet stretch cannot lower the gate onto the noise.
    // Counted, the level would be -24.6 dBFS and the gate -46.6.
    heard(&mut det, 20, -37.0);
    assert!(det.below_caller(level_power(-42.5)));
    assert!(!det.below_caller(level_power(-41.5)));
}

#[test]
fn a_turn_that_began_on_babble_judges_the_crowd_against_the_callers_own_level() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    // A café line: 5 s of crowd the VAD calls voice starts the utterance,
    // then the caller at -20 dBFS for 1 s, then the crowd again, 17 dB
    // under them.
    heard(&mut det, 250, -38.0);
    heard(&mut det, 50, -20.0);
    let events = heard_at(&mut det, 150, -37.0);
    // Had the crowd's first 5 s stayed in the caller's level (-27.4
    // dBFS), the crowd would be within the hold's 10 dB of it and hold
    // the turn open.
    assert!(
        matches!(events.first(), Some((_, TurnEvent::UtteranceEnded { .. }))),
        "{events:?}"
    );
}

/// Pushes `count` voiced frames of café babble the VAD calls voice,
/// swinging 4 dB either way of -40 dBFS, each frame's bytes its index
/// (from `from`), so that a test can tell where audio came from.
fn crowd_at(det: &mut TurnDetector, from: usize, count: usize) -> Vec<(usize, TurnEvent)> {
    (from..from + count)
        .filter_map(|i| {
            let level = if i % 2 == 0 { -36.0 } else { -44.0 };
            Some((i, det.push_heard(&[i as u8; FRAME], true, level)?))
        })
        .collect()
}

#[test]
fn a_crowd_that_never_stands_out_of_the_room_is_dropped_never_a_turn_nor_a_barge_in() {
    let mut det = TurnDetector::default();
    // Ten seconds of a café and no caller: the crowd starts an utterance,
    // is judged once the room has been heard for a second, and is dropped
    // 1.8 s (the quiet hold) later, again and again.
    let events = crowd_at(&mut det, 0, 500);
    let dropped: Vec<usize> = events
        .iter()
        .filter(|(_, e)| *e == TurnEvent::Discarded)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(dropped, [138, 228, 318, 408, 498], "{events:?}");
    assert!(
        events
            .iter()
            .all(|(_, e)| matches!(e, TurnEvent::SpeechStarted | TurnEvent::Discarded)),
        "{events:?}"
    );
}

#[test]
fn the_caller_over_the_crowd_stands_out_and_keeps_what_they_said_under_the_dropped_crowd() {
    let mut det = no_guesses();
    let events = crowd_at(&mut det, 0, 139);
    assert_eq!(events.last(), Some(&(138, TurnEvent::Discarded)));
    // The caller, 20 dB over the crowd, for a second, then the crowd.
    let mut events = heard(&mut det, 50, -20.0);
    let later = crowd_at(&mut det, 189, 150);
    events.extend(later.into_iter().map(|(_, e)| e));
    assert_eq!(events[..2], [TurnEvent::SpeechStarted, TurnEvent::BargeIn]);
    let Some(TurnEvent::UtteranceEnded { audio, .. }) = events.get(2) else {
        panic!("{events:?}");
    };
    // The dropped utterance's last 200 ms open this one: a caller who
    // began under the crowd keeps their first syllable.
    assert_eq!(audio[..FRAME], [129u8; FRAME]);
    assert_eq!(audio[9 * FRAME..10 * FRAME], [138u8; FRAME]);
}

#[test]
fn a_caller_who_stands_out_just_before_the_crowds_utterance_is_dropped_is_not_cut_off_by_the_quiet_hold()
 {
    let mut det = no_guesses();
    // The crowd opens an utterance at frame 139 that the quiet hold would
    // drop at 228 (see the test above). The caller begins at 226, 20 dB
    // over the crowd; the VAD, in the babble, calls their first frames
    // unvoiced, so they stand out of the room before they are clear of it.
    let events = crowd_at(&mut det, 0, 226);
    assert_eq!(events.last(), Some(&(139, TurnEvent::SpeechStarted)));
    let mut events: Vec<TurnEvent> = (0..4)
        .filter_map(|_| det.push_heard(&[0x10; FRAME], false, -24.0))
        .collect();
    events.extend(heard(&mut det, 50, -20.0));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TurnEvent::UtteranceEnded { .. })),
        "the turn ended under the caller's first words: {events:?}"
    );
    // Their turn ends once they stop, and not on the hold.
    let later = crowd_at(&mut det, 280, 150);
    let (at, end) = later
        .iter()
        .find(|(_, e)| matches!(e, TurnEvent::UtteranceEnded { .. }))
        .expect("the caller's turn ends");
    assert!(*at < 280 + 60, "ended at frame {at}");
    assert_ne!(ended_by(end).0, EndedBy::QuietHold);
}

#[test]
fn the_caller_has_the_floor_once_they_stand_out_of_the_crowd_and_the_crowd_alone_never_has() {
    let mut det = no_guesses();
    // The crowd opens utterance after utterance and never has the floor.
    for (i, _) in crowd_at(&mut det, 0, 200) {
        assert!(!det.caller_has_the_floor(), "the crowd, frame {i}");
    }
    assert!(det.is_speaking());
    // The caller, 20 dB over it: theirs as soon as the line's 200 ms mean
    // stands out, on their second frame.
    heard(&mut det, 1, -20.0);
    assert!(!det.caller_has_the_floor());
    heard(&mut det, 1, -20.0);
    assert!(det.caller_has_the_floor());
    // Their turn ends on the room; the crowd that opens the next is not them.
    let events = crowd_at(&mut det, 201, 60);
    assert!(
        events
            .iter()
            .any(|(_, e)| matches!(e, TurnEvent::UtteranceEnded { .. })),
        "{events:?}"
    );
    assert!(det.is_speaking() && !det.caller_has_the_floor());
}

#[test]
fn a_blip_has_the_floor_for_a_breath_after_it_and_a_turn_until_it_ends() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    // 60 ms of voice, then the line quiet: the floor for 180 ms more of
    // it, not 200 (the VAD's own hangover comes before these).
    heard(&mut det, 3, -20.0);
    assert!(det.caller_has_the_floor());
    quiet_line(&mut det, 9);
    assert!(det.caller_has_the_floor());
    quiet_line(&mut det, 1);
    assert!(det.is_speaking() && !det.caller_has_the_floor());
    // They go on, past the 250 ms a turn needs: their pause no longer
    // gives up the floor, since their end will be a turn of its own.
    heard(&mut det, 13, -20.0);
    quiet_line(&mut det, 20);
    assert!(det.caller_has_the_floor());
    let events: Vec<TurnEvent> = (0..20)
        .filter_map(|_| det.push_heard(&[0xFF; FRAME], false, -70.0))
        .collect();
    assert!(
        matches!(events[..], [TurnEvent::UtteranceEnded { .. }]),
        "{events:?}"
    );
    assert!(!det.caller_has_the_floor());
}

#[test]
fn a_crowd_that_begins_on_a_quiet_line_stands_out_of_it_only_until_the_room_has_learnt_it() {
    let mut det = no_guesses();
    // Five seconds of a quiet line (the greeting heard in a quiet room),
    // then ten of a café: its first utterance stood out of the quiet line,
    // and is judged again, and dropped, once the room has settled on it.
    quiet_line(&mut det, 250);
    let events = crowd_at(&mut det, 0, 500);
    assert_no_turn(&events);
    // The caller who spoke over the quiet line just before it began keeps
    // their turn: they stand out of the crowd too.
    let mut det = no_guesses();
    quiet_room(&mut det);
    caller_at(&mut det, 0, 50, -18.0);
    let events = crowd_at(&mut det, 50, 200);
    assert_eq!(kinds(&events).first(), Some(&(157, "ended")));
}

#[test]
fn a_crowd_that_fills_in_over_seconds_is_judged_again_as_the_room_rises_with_it() {
    let mut det = no_guesses();
    // A quiet line, then a café that fills in: 2.4 s of a thinner crowd
    // (-48 and -52 dBFS, with one swell to -34) that the room steps up to
    // and settles on, then the full crowd (-36 and -44), 8 dB up: too
    // little for another step. The swell stood 17 dB over the room it
    // settled on, and stands 9.5 dB over the room it becomes.
    quiet_line(&mut det, 250);
    let mut events = Vec::new();
    for i in 0..120 {
        let level = match i {
            60..70 => -34.0,
            _ if i % 2 == 0 => -48.0,
            _ => -52.0,
        };
        events.extend(det.push_heard(&[0x11; FRAME], true, level).map(|e| (i, e)));
    }
    events.extend(crowd_at(&mut det, 120, 400));
    assert_no_turn(&events);
}

#[test]
fn the_room_rule_is_off_at_zero() {
    let mut det = TurnDetector::new(TurnConfig {
        stand_out_db: 0,
        quiet_hold_ms: 0,
        ..TurnConfig::default()
    });
    // As before the rule: one utterance of crowd, which barges in.
    let events = crowd_at(&mut det, 0, 500);
    assert_eq!(
        events,
        [(0, TurnEvent::SpeechStarted), (12, TurnEvent::BargeIn)]
    );
}

/// Pushes `count` voiced frames of the caller at `level_dbfs`, as
/// [`crowd_at`] numbers them.
fn caller_at(
    det: &mut TurnDetector,
    from: usize,
    count: usize,
    level_dbfs: f32,
) -> Vec<(usize, TurnEvent)> {
    (from..from + count)
        .filter_map(|i| Some((i, det.push_heard(&[i as u8; FRAME], true, level_dbfs)?)))
        .collect()
}

/// Frames from the caller's last until the turn ended, in a café whose
/// crowd the VAD calls voice: 5 s of crowd, the caller at `caller_dbfs`
/// for a second, then the crowd for 3 s.
fn end_after_the_caller_in_a_cafe(config: TurnConfig, caller_dbfs: f32) -> Option<usize> {
    cafe_turn(config, caller_dbfs).map(|(i, _)| i + 1 - 300)
}

/// The frame that ended the caller's turn of
/// [`end_after_the_caller_in_a_cafe`], and the event.
fn cafe_turn(config: TurnConfig, caller_dbfs: f32) -> Option<(usize, TurnEvent)> {
    let mut det = TurnDetector::new(config);
    crowd_at(&mut det, 0, 250);
    caller_at(&mut det, 250, 50, caller_dbfs);
    crowd_at(&mut det, 300, 150)
        .into_iter()
        .find(|(_, e)| matches!(e, TurnEvent::UtteranceEnded { .. }))
}

#[test]
fn each_turn_says_what_ended_it_and_how_far_the_caller_stood_over_the_room() {
    // A quiet line: the VAD's pause, the caller 50 dB over the line.
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    let end = silence(&mut det, 40).pop().unwrap();
    assert_eq!(ended_by(&end), (EndedBy::Silence, Some(50)));
    // A café the VAD takes for voice (its quietest fifth at -44 dBFS):
    // the line back at the room for a caller 26 dB over it, the quiet
    // hold for one 18 dB over it, whose level the crowd's louder frames
    // (within P.56's 15.9 dB) pull down by 2 dB.
    let (_, end) = cafe_turn(without_guesses(), -18.0).unwrap();
    assert_eq!(ended_by(&end), (EndedBy::Room, Some(26)));
    let (_, end) = cafe_turn(without_guesses(), -26.0).unwrap();
    assert_eq!(ended_by(&end), (EndedBy::QuietHold, Some(16)));
    // The longest utterance, and the stream's end; before the room has
    // been heard for a second, no level over it.
    let mut det = TurnDetector::new(TurnConfig {
        max_utterance_ms: 1000,
        ..TurnConfig::default()
    });
    let end = speech(&mut det, 50).pop().unwrap();
    assert_eq!(ended_by(&end), (EndedBy::MaxLength, None));
    speech(&mut det, 20);
    assert_eq!(ended_by(&det.finish().unwrap()).0, EndedBy::StreamEnd);
}

#[test]
fn in_a_crowd_the_vad_takes_for_voice_the_turn_ends_when_the_line_falls_back_to_the_room() {
    // The caller 26 dB over the room (its quietest fifth: the crowd's
    // -44 dBFS frames): once the 200 ms mean is back within 6 dB of the
    // room, 600 ms end the turn, where the quiet hold would wait 1.8 s
    // after the line was last 9 dB over the room.
    let config = without_guesses();
    assert_eq!(
        end_after_the_caller_in_a_cafe(config.clone(), -18.0),
        Some(39)
    );
    let without = TurnConfig {
        room_end_db: 0,
        ..config
    };
    assert_eq!(end_after_the_caller_in_a_cafe(without, -18.0), Some(99));
}

#[test]
fn a_caller_less_than_18_db_over_the_room_is_not_ended_by_it() {
    // 17.5 dB over the room: they stand out, but their quiet words would
    // be at the room's level, so the room does not end their turn; the
    // quiet hold does, as it would without the room end.
    let config = without_guesses();
    let without = TurnConfig {
        room_end_db: 0,
        ..config.clone()
    };
    assert_eq!(
        end_after_the_caller_in_a_cafe(config.clone(), -26.0),
        Some(99)
    );
    assert_eq!(end_after_the_caller_in_a_cafe(without, -26.0), Some(99));
    // 21.5 dB over it (their P.56 level, which the crowd's louder frames
    // pull down, still clears 18 dB), the room ends the turn.
    assert_eq!(end_after_the_caller_in_a_cafe(config, -22.0), Some(39));
}

#[test]
fn a_crowd_holds_a_quiet_callers_turn_only_while_the_line_stands_clear_of_the_room() {
    // The caller 17.5 dB over the room: the crowd's frames come within
    // 15.9 dB of them and count into their P.56 level as the seconds
    // pass, until the crowd is within the quiet hold's 10 dB of it. Only
    // the room tells them apart: the crowd's 200 ms mean stays 5 dB over
    // it, never 9, and the quiet hold ends the turn 1.8 s after the
    // caller's last 200 ms.
    let config = TurnConfig {
        room_end_db: 0,
        ..without_guesses()
    };
    assert_eq!(
        end_after_the_caller_in_a_cafe(config.clone(), -26.0),
        Some(99)
    );
    let without = TurnConfig {
        room_clear_db: 0,
        ..config
    };
    assert_eq!(end_after_the_caller_in_a_cafe(without, -26.0), None);
}

#[test]
fn a_room_the_vad_finds_pauses_in_never_ends_a_turn_on_its_level() {
    // Traffic the VAD hears as noise, then the caller, then their quiet
    // last words at the traffic's level, which the VAD hears as voice: the
    // caller is still talking, and only the VAD's pause may end the turn.
    let mut det = no_guesses();
    for _ in 0..250 {
        assert_eq!(det.push_heard(&[0x10; FRAME], false, -40.0), None);
    }
    heard(&mut det, 50, -18.0);
    assert_eq!(heard(&mut det, 60, -40.0), []);
    assert!(det.is_speaking());
}

#[test]
fn street_noise_the_vad_takes_for_voice_never_ends_a_turn_on_its_level() {
    // Traffic the VAD hears as voice throughout, its level drifting by
    // half a dB: the caller's quiet last words would sit at its level, as
    // in a café, but it is no crowd, and only the quiet hold ends the turn.
    let traffic = |det: &mut TurnDetector, from: usize, count: usize| -> Option<usize> {
        (from..from + count).find(|&i| {
            let level = if i % 2 == 0 { -40.0 } else { -40.5 };
            matches!(
                det.push_heard(&[i as u8; FRAME], true, level),
                Some(TurnEvent::UtteranceEnded { .. })
            )
        })
    };
    let mut det = no_guesses();
    assert_eq!(traffic(&mut det, 0, 250), None);
    caller_at(&mut det, 250, 50, -18.0);
    assert_eq!(traffic(&mut det, 300, 150).map(|i| i + 1 - 300), Some(99));
}

/// The events after the caller's last frame until their turn ended
/// (numbered from that frame) in a café whose crowd the VAD calls voice:
/// 5 s of crowd, the caller at -18 dBFS for a second, then what `after`
/// pushes from frame 300 on.
fn after_the_caller_in_a_cafe(
    config: TurnConfig,
    after: impl FnOnce(&mut TurnDetector) -> Vec<(usize, TurnEvent)>,
) -> Vec<(usize, TurnEvent)> {
    after_a_caller_at(config, -18.0, after)
}

/// As [`after_the_caller_in_a_cafe`], the caller at `caller_dbfs`.
fn after_a_caller_at(
    config: TurnConfig,
    caller_dbfs: f32,
    after: impl FnOnce(&mut TurnDetector) -> Vec<(usize, TurnEvent)>,
) -> Vec<(usize, TurnEvent)> {
    let mut det = TurnDetector::new(config);
    crowd_at(&mut det, 0, 250);
    caller_at(&mut det, 250, 50, caller_dbfs);
    let mut events = after(&mut det);
    let end = events
        .iter()
        .position(|(_, e)| matches!(e, TurnEvent::UtteranceEnded { .. }));
    events.truncate(end.map_or(0, |end| end + 1));
    events.into_iter().map(|(i, e)| (i + 1 - 300, e)).collect()
}

/// Each event's frame and kind, without its audio.
fn kinds(events: &[(usize, TurnEvent)]) -> Vec<(usize, &'static str)> {
    events
        .iter()
        .map(|(i, e)| {
            let kind = match e {
                TurnEvent::Paused { .. } => "paused",
                TurnEvent::StillPaused { .. } => "still paused",
                TurnEvent::Resumed => "resumed",
                TurnEvent::UtteranceEnded { .. } => "ended",
                TurnEvent::SpeechStarted => "started",
                TurnEvent::BargeIn => "barge-in",
                TurnEvent::Discarded => "discarded",
            };
            (*i, kind)
        })
        .collect()
}

#[test]
fn in_a_crowd_the_vad_takes_for_voice_the_line_back_at_the_room_is_offered_as_a_guess() {
    // The VAD never pauses in the crowd; the line's 200 ms mean back at
    // the room for 200 ms is the pause a guess is made in, 400 ms before
    // the room ends the turn, and the guess holds all the turn will.
    let events = after_the_caller_in_a_cafe(TurnConfig::default(), |det| crowd_at(det, 300, 150));
    assert_eq!(kinds(&events), [(19, "paused"), (39, "ended")]);
    assert_the_guess_is_the_turn_so_far(&events);
    // Without the room end, nothing in the crowd is a pause: only the
    // quiet hold, nearing its end, offers a guess, and checks it.
    let without = TurnConfig {
        room_end_db: 0,
        ..TurnConfig::default()
    };
    let events = after_the_caller_in_a_cafe(without, |det| crowd_at(det, 300, 150));
    assert_eq!(
        kinds(&events),
        [(59, "paused"), (84, "still paused"), (99, "ended")]
    );
}

/// The events after a caller 17.5 dB over the crowd stops (numbered from
/// their last frame), as [`after_the_caller_in_a_cafe`]: the room cannot
/// end their turn, so the quiet hold does, 1.8 s after they were last clear.
fn after_a_quiet_caller_in_a_cafe(
    after: impl FnOnce(&mut TurnDetector) -> Vec<(usize, TurnEvent)>,
) -> Vec<(usize, TurnEvent)> {
    after_a_caller_at(TurnConfig::default(), -26.0, after)
}

/// From frame 300: `frames` of the crowd, 200 ms of the caller at -26
/// dBFS, then the crowd for 3 s.
fn a_word_in_the_crowd(det: &mut TurnDetector, frames: usize) -> Vec<(usize, TurnEvent)> {
    let mut events = crowd_at(det, 300, frames);
    events.extend(caller_at(det, 300 + frames, 10, -26.0));
    events.extend(crowd_at(det, 310 + frames, 150));
    events
}

/// Asserts that `events` are a guess, then the end of the turn, and that
/// the guess holds all the turn's audio up to it.
fn assert_the_guess_is_the_turn_so_far(events: &[(usize, TurnEvent)]) {
    let [
        (_, TurnEvent::Paused { audio: guess, .. }),
        (_, TurnEvent::UtteranceEnded { audio, .. }),
    ] = events
    else {
        panic!("a guess, then the end: {:?}", kinds(events))
    };
    assert_eq!(
        audio[..guess.len()],
        guess[..],
        "the guess is the turn so far"
    );
}

#[test]
fn where_only_the_quiet_hold_ends_a_turn_the_turn_so_far_is_guessed_800_ms_before_it_and_checked_300_ms_before()
 {
    // The VAD never pauses in the crowd and the room may not end this
    // caller's turn: the guess comes 40 frames before the hold ends the
    // turn, early enough for the reply to be ready at the end, and the
    // check 15 frames before it; each holds the turn so far.
    let events = after_a_quiet_caller_in_a_cafe(|det| crowd_at(det, 300, 150));
    assert_eq!(
        kinds(&events),
        [(59, "paused"), (84, "still paused"), (99, "ended")]
    );
    let [
        (
            _,
            TurnEvent::Paused {
                audio: guess,
                early: true,
                ..
            },
        ),
        (_, TurnEvent::StillPaused { audio: check, .. }),
        (_, TurnEvent::UtteranceEnded { audio, .. }),
    ] = &events[..]
    else {
        panic!("an early guess, its check, the end: {:?}", kinds(&events))
    };
    assert!(guess.len() < check.len());
    assert_eq!(
        audio[..guess.len()],
        guess[..],
        "the guess is the turn so far"
    );
    assert_eq!(
        audio[..check.len()],
        check[..],
        "the check is the turn so far"
    );
    // Without the hold, no guess either.
    let mut det = TurnDetector::new(TurnConfig {
        quiet_hold_ms: 0,
        ..TurnConfig::default()
    });
    crowd_at(&mut det, 0, 250);
    caller_at(&mut det, 250, 50, -26.0);
    let events = crowd_at(&mut det, 300, 150);
    assert!(
        !events
            .iter()
            .any(|(_, e)| matches!(e, TurnEvent::Paused { .. })),
        "{:?}",
        kinds(&events)
    );
}

#[test]
fn the_caller_clear_of_the_crowd_again_makes_the_holds_guess_stale_and_the_hold_starts_over() {
    // 200 ms of the caller after the guess: it lacks them, so it is stale
    // at once, and the hold and its guess count again from their last frame.
    // The check of the first guess came before the caller did.
    let events = after_a_quiet_caller_in_a_cafe(|det| a_word_in_the_crowd(det, 90));
    assert_eq!(
        kinds(&events),
        [
            (59, "paused"),
            (84, "still paused"),
            (91, "resumed"),
            (159, "paused"),
            (184, "still paused"),
            (199, "ended")
        ]
    );
}

#[test]
fn the_caller_going_on_as_the_room_would_end_their_turn_keeps_it() {
    // The crowd lulls to the room's level, and the caller goes on 14 dB
    // over it on the very frame the room's wait runs out: the 200 ms mean
    // does not show them yet, their frame does.
    let going_on = |det: &mut TurnDetector| {
        let mut events = crowd_at(det, 300, 28);
        events.extend(caller_at(det, 328, 10, -44.0));
        events.extend(caller_at(det, 338, 25, -30.0));
        events.extend(crowd_at(det, 363, 150));
        events
    };
    let events = after_the_caller_in_a_cafe(without_guesses(), going_on);
    assert!(
        events.last().is_some_and(|&(i, _)| i > 63),
        "ended while the caller went on: {:?}",
        kinds(&events)
    );
}

#[test]
fn a_rise_out_of_the_room_makes_the_guess_stale_and_the_line_back_at_the_room_guesses_again() {
    // After the guess, 200 ms of voice 10 dB over the crowd's loud frames
    // (the caller's quiet words, or a swell): they are not in the guess,
    // which is stale once the rise has outlasted a graze (its second frame).
    let events =
        after_the_caller_in_a_cafe(TurnConfig::default(), |det| a_word_in_the_crowd(det, 25));
    assert_eq!(
        kinds(&events),
        [
            (19, "paused"),
            (27, "resumed"),
            (54, "paused"),
            (74, "ended")
        ]
    );
}

#[test]
fn a_crowd_grazing_the_rooms_ceiling_for_a_frame_neither_restarts_the_wait_nor_stales_the_guess() {
    // The crowd's 200 ms mean sits 0.9 dB under the room end's ceiling (6
    // dB over its -44 dBFS quiet frames). A louder frame of babble lifts
    // it 0.3 dB over for one frame, a quieter one brings it back: the
    // turn ends and is answered from its guess as if it had not. Over it
    // for three frames, the line has risen out of the room.
    let graze = |det: &mut TurnDetector, frames: &[f32]| {
        let mut events = crowd_at(det, 300, 25);
        for (k, &level) in frames.iter().enumerate() {
            let i = 325 + k;
            events.extend(
                det.push_heard(&[i as u8; FRAME], true, level)
                    .map(|e| (i, e)),
            );
        }
        events.extend(crowd_at(det, 325 + frames.len(), 150));
        events
    };
    let events =
        after_the_caller_in_a_cafe(TurnConfig::default(), |det| graze(det, &[-33.0, -50.0]));
    assert_eq!(kinds(&events), [(19, "paused"), (39, "ended")]);
    let events = after_the_caller_in_a_cafe(TurnConfig::default(), |det| {
        graze(det, &[-33.0, -36.0, -44.0, -60.0])
    });
    assert_eq!(
        kinds(&events),
        [
            (19, "paused"),
            (27, "resumed"),
            (38, "paused"),
            (58, "ended")
        ]
    );
}

#[test]
fn an_utterance_judged_again_must_stand_3_db_less_over_the_room_than_a_fresh_one() {
    assert!((10.0 * AGAIN_SLACK.log10() - 3.0).abs() < 1e-4);
}

/// Frames of VAD silence until `event` comes, after 1 s of the caller at
/// −20 dBFS and then `fade` frames of them at `fade_dbfs`.
fn silent_frames_to(
    config: TurnConfig,
    fade: usize,
    fade_dbfs: f32,
    event: fn(&TurnEvent) -> bool,
) -> usize {
    let mut det = TurnDetector::new(config);
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    heard(&mut det, fade, fade_dbfs);
    silent_frames_until(&mut det, event)
}

/// Frames of VAD silence pushed until `event` comes.
fn silent_frames_until(det: &mut TurnDetector, event: fn(&TurnEvent) -> bool) -> usize {
    (1..=100)
        .find(|_| det.push(&[0xFF; FRAME], false).as_ref().is_some_and(event))
        .expect("the event never came")
}

fn utterance_ended(event: &TurnEvent) -> bool {
    matches!(event, TurnEvent::UtteranceEnded { .. })
}

/// Frames of VAD silence until the open utterance ends (see
/// [`silent_frames_to`]).
fn silent_frames_to_the_end(config: TurnConfig, fade: usize, fade_dbfs: f32) -> usize {
    silent_frames_to(config, fade, fade_dbfs, utterance_ended)
}

#[test]
fn the_wait_counts_from_where_the_callers_voice_faded_off_their_last_word() {
    // 120 ms trailing off 20 dB under the caller's words: the turn ends
    // 600 ms after the fade began, 480 ms into the VAD's pause.
    assert_eq!(silent_frames_to_the_end(without_guesses(), 6, -40.0), 24);
    let off = TurnConfig {
        fade_ms: 0,
        ..without_guesses()
    };
    assert_eq!(silent_frames_to_the_end(off, 6, -40.0), 30);
    // With a VAD that holds on 80 ms after voice, the last 80 ms it heard
    // are its hangover, which the wait already counts: 40 ms of fade.
    let hangover = TurnConfig {
        vad_hangover_ms: 80,
        ..without_guesses()
    };
    assert_eq!(silent_frames_to_the_end(hangover, 6, -40.0), 28);
}

#[test]
fn quiet_words_after_the_callers_last_word_keep_the_whole_wait() {
    // 300 ms as far under: the caller's quiet words, not a fade.
    assert_eq!(silent_frames_to_the_end(without_guesses(), 15, -40.0), 30);
    // 15 dB under is within reach of their active level: voice.
    assert_eq!(silent_frames_to_the_end(without_guesses(), 6, -35.0), 30);
}

#[test]
fn quiet_words_after_a_pause_are_no_fade_of_the_voice_before_it() {
    let mut det = no_guesses();
    quiet_room(&mut det);
    heard(&mut det, 50, -20.0);
    silence(&mut det, 15);
    // 160 ms of quiet words, 20 dB under, after the pause: the caller's,
    // and the whole wait follows them.
    heard(&mut det, 8, -40.0);
    assert_eq!(silent_frames_until(&mut det, utterance_ended), 30);
}

#[test]
fn a_guess_comes_as_soon_after_a_fade_as_after_a_clean_stop() {
    let paused = |e: &TurnEvent| matches!(e, TurnEvent::Paused { .. });
    // 200 ms after the caller: 80 ms into the VAD's pause after a 120 ms
    // fade, 200 ms into it after a clean stop.
    let config = TurnConfig::default();
    assert_eq!(silent_frames_to(config.clone(), 6, -40.0, paused), 4);
    assert_eq!(silent_frames_to(config, 0, -40.0, paused), 10);
}

#[test]
fn a_room_the_callers_own_gaps_lift_does_not_end_their_turn_on_their_quiet_words() {
    // A café whose quietest fifth is -54 dBFS; the caller talks for 3 s
    // at -18 dBFS with a gap at -40 dBFS every fourth frame, enough for
    // the room's 2 s reading to step up to their gaps; then they go on in
    // quiet words at -43 dBFS for a second, 11 dB over the crowd's room
    // and within 6 dB of the stepped one, and stop.
    let crowd = |i: usize| if i.is_multiple_of(2) { -46.0 } else { -54.0 };
    let mut det = TurnDetector::new(without_guesses());
    let mut events = Vec::new();
    let mut hear =
        |det: &mut TurnDetector, from: usize, to: usize, level: &dyn Fn(usize) -> f32| {
            for i in from..to {
                if let Some(e) = det.push_heard(&[0; FRAME], true, level(i)) {
                    events.push((i, e));
                }
            }
        };
    hear(&mut det, 0, 250, &crowd);
    hear(&mut det, 250, 400, &|i| {
        if i.is_multiple_of(4) { -40.0 } else { -18.0 }
    });
    hear(&mut det, 400, 450, &|_| -43.0);
    hear(&mut det, 450, 600, &crowd);
    let ends: Vec<_> = events
        .iter()
        .filter(|(_, e)| matches!(e, TurnEvent::UtteranceEnded { .. }))
        .map(|(i, e)| (*i, ended_by(e).0))
        .collect();
    // One turn, ended by the room after their last quiet word, not inside
    // them: the wait after the 200 ms mean is back at the crowd's room,
    // 180 ms after the caller.
    assert_eq!(ends, [(488, EndedBy::Room)], "{:?}", kinds(&events));
}

#[test]
fn a_crowd_whose_200_ms_mean_swings_over_its_room_ends_a_clear_callers_turn_under_its_own_ceiling()
{
    // Babble of bursts: its frames are at -50 dBFS (the room, the
    // quietest fifth) or -34, so its 200 ms mean swings between -38 and
    // -35.5 dBFS, 12 to 14.5 dB over the room. The caller at -18 dBFS is
    // 17 dB over the crowd's ceiling: the line back under that ceiling
    // ends their turn as the line back at a room ends it (780 ms after
    // them), where the line within 6 dB of the room never comes and the
    // quiet hold ends it 2.16 s after them.
    let burst = |i: usize| {
        let loud = if (i / 10).is_multiple_of(2) { 7 } else { 4 };
        if i % 10 < loud { -34.0 } else { -50.0 }
    };
    let mut det = TurnDetector::new(without_guesses());
    for i in 0..250 {
        det.push_heard(&[0; FRAME], true, burst(i));
    }
    caller_at(&mut det, 250, 50, -18.0);
    let end = (300..450).find_map(|i| match det.push_heard(&[0; FRAME], true, burst(i)) {
        Some(e @ TurnEvent::UtteranceEnded { .. }) => Some((i + 1 - 300, ended_by(&e).0)),
        _ => None,
    });
    assert_eq!(end, Some((39, EndedBy::Room)));
}
