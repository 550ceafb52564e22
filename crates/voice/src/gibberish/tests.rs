use super::*;

/// Context shorthands for the table.
const LIVE_VOICED: TranscriptContext = TranscriptContext {
    voiced_ms: Some(900),
    mid_conversation: true,
};
const LIVE_BARELY: TranscriptContext = TranscriptContext {
    voiced_ms: Some(120),
    mid_conversation: true,
};
const LIVE_UNKNOWN: TranscriptContext = TranscriptContext {
    voiced_ms: None,
    mid_conversation: true,
};
const RECORDING: TranscriptContext = TranscriptContext {
    voiced_ms: None,
    mid_conversation: false,
};
const RECORDING_VOICED: TranscriptContext = TranscriptContext {
    voiced_ms: Some(3000),
    mid_conversation: false,
};

/// (transcript, context, expected): `Ok(text)` kept as `text`, `Err` dropped for that reason.
fn cases() -> Vec<(
    &'static str,
    TranscriptContext,
    Result<&'static str, Rejection>,
)> {
    use Rejection::*;
    vec![
        // Real short answers survive.
        ("כן", LIVE_VOICED, Ok("כן")),
        ("לא", LIVE_BARELY, Ok("לא")),
        ("  כן.  ", LIVE_UNKNOWN, Ok("כן.")),
        ("תודה, ביי", LIVE_VOICED, Ok("תודה, ביי")),
        ("כן תודה", LIVE_BARELY, Ok("כן תודה")),
        ("לא לא לא", LIVE_VOICED, Ok("לא לא לא")),
        ("אוקיי", RECORDING, Ok("אוקיי")),
        ("מחר בעשר", LIVE_VOICED, Ok("מחר בעשר")),
        ("054-1234567", LIVE_VOICED, Ok("054-1234567")),
        ("ok", LIVE_VOICED, Ok("ok")),
        (
            "אני רוצה לקבוע תור לתספורת מחר בבוקר",
            RECORDING,
            Ok("אני רוצה לקבוע תור לתספורת מחר בבוקר"),
        ),
        (
            "שלום, רציתי לשאול לגבי המחירים. תודה רבה",
            RECORDING,
            Ok("שלום, רציתי לשאול לגבי המחירים. תודה רבה"),
        ),
        // The tension: lone thanks mid-call with real voice is kept…
        ("תודה רבה", LIVE_VOICED, Ok("תודה רבה")),
        ("תודה רבה!", LIVE_VOICED, Ok("תודה רבה!")),
        ("Thank you.", LIVE_VOICED, Ok("Thank you.")),
        ("תודה", LIVE_VOICED, Ok("תודה")),
        // …but not with little voice, unknown voice, or as a whole recording.
        ("תודה רבה", LIVE_BARELY, Err(UnsupportedCourtesy)),
        ("תודה רבה.", LIVE_UNKNOWN, Err(UnsupportedCourtesy)),
        ("תודה רבה", RECORDING, Err(UnsupportedCourtesy)),
        ("תודה רבה", RECORDING_VOICED, Err(UnsupportedCourtesy)),
        ("תּוֹדָה רַבָּה", LIVE_BARELY, Err(UnsupportedCourtesy)),
        ("  תודה   רבה  לכם ...", RECORDING, Err(UnsupportedCourtesy)),
        ("Thank you.", RECORDING, Err(UnsupportedCourtesy)),
        ("THANKS!", LIVE_BARELY, Err(UnsupportedCourtesy)),
        // Credits and outros are never caller speech, whatever the audio.
        ("תודה שצפיתם!", LIVE_VOICED, Err(Credits)),
        ("תודה על הצפייה", RECORDING, Err(Credits)),
        ("כתוביות: עמית כהן", LIVE_VOICED, Err(Credits)),
        ("כְּתוּבִיּוֹת", RECORDING, Err(Credits)),
        ("תורגם על ידי קהילת אמרה", LIVE_VOICED, Err(Credits)),
        ("תרגום ע\"י: דנה", RECORDING, Err(Credits)),
        ("you", LIVE_VOICED, Err(Credits)),
        ("You.", RECORDING, Err(Credits)),
        ("Thanks for watching!", LIVE_VOICED, Err(Credits)),
        (
            "Subtitles by the Amara.org community",
            RECORDING,
            Err(Credits),
        ),
        // Filler, loops, empties and non-letters.
        ("", LIVE_VOICED, Err(Empty)),
        ("   ", RECORDING, Err(Empty)),
        ("א", LIVE_VOICED, Err(Empty)),
        ("אממ...", LIVE_VOICED, Err(Filler)),
        ("אה, אהה", LIVE_VOICED, Err(Filler)),
        ("Hmm.", LIVE_VOICED, Err(Filler)),
        ("uh um", RECORDING, Err(Filler)),
        ("תודה תודה תודה תודה", LIVE_VOICED, Err(Repetition)),
        ("la la la la", LIVE_VOICED, Err(Repetition)),
        (
            "אני לא יודע אני לא יודע אני לא יודע",
            RECORDING,
            Err(Repetition),
        ),
        ("...", LIVE_VOICED, Err(NoLetters)),
        ("♪ ♪ ♪", RECORDING, Err(NoLetters)),
        ("Продолжение следует", RECORDING, Err(NoLetters)),
        // Invented text: far more words than 150 ms of voice can hold.
        (
            "שלום אני רוצה לקבוע תור למחר בבוקר אם אפשר",
            TranscriptContext {
                voiced_ms: Some(150),
                mid_conversation: true,
            },
            Err(TooLongForAudio),
        ),
    ]
}

#[test]
fn every_row_of_the_decision_table_holds() {
    let mut failures = Vec::new();
    for (text, ctx, expected) in cases() {
        let got = check_transcript(text, &ctx);
        if got.as_deref().map_err(|r| *r) != expected {
            failures.push(format!(
                "{text:?} {ctx:?}: expected {expected:?}, got {got:?}"
            ));
        }
        assert_eq!(clean_transcript(text, &ctx).is_some(), expected.is_ok());
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_table_covers_both_sides_of_the_tension() {
    let rows = cases();
    assert!(rows.len() >= 25);
    let kept = rows.iter().filter(|r| r.2.is_ok()).count();
    assert!(kept >= 10 && rows.len() - kept >= 10);
}

#[test]
fn the_courtesy_threshold_is_inclusive() {
    let at = |ms| TranscriptContext {
        voiced_ms: Some(ms),
        mid_conversation: true,
    };
    assert!(clean_transcript("תודה רבה", &at(MIN_VOICED_MS_FOR_COURTESY)).is_some());
    assert!(clean_transcript("תודה רבה", &at(MIN_VOICED_MS_FOR_COURTESY - 1)).is_none());
}

#[test]
fn normalisation_strips_nikud_quotes_punctuation_and_case() {
    assert_eq!(normalize("  שָׁלוֹם, ד\"ר   COHEN!! "), "שלום דר cohen");
    assert_eq!(normalize("תודה\u{05BE}רבה\u{05C3}"), "תודה רבה");
    assert_eq!(normalize("\u{200F}תודה\u{200E}"), "תודה");
}

#[test]
fn rejection_labels_are_snake_case() {
    assert_eq!(
        Rejection::UnsupportedCourtesy.as_str(),
        "unsupported_courtesy"
    );
    assert_eq!(Rejection::TooLongForAudio.as_str(), "too_long_for_audio");
}

#[test]
fn absurd_inputs_do_not_panic() {
    let long = "תודה ".repeat(10_000);
    assert_eq!(
        check_transcript(&long, &LIVE_VOICED),
        Err(Rejection::Repetition)
    );
    let ctx = TranscriptContext {
        voiced_ms: Some(u32::MAX),
        mid_conversation: true,
    };
    assert!(clean_transcript("\u{0591}\u{05C7}x\u{FEFF}y", &ctx).is_some());
    assert_eq!(
        check_transcript("\u{0591}\u{05B0}", &ctx),
        Err(Rejection::NoLetters)
    );
}
