use super::*;

fn wait(transcript: &str) -> Wait {
    end_of_turn_wait(transcript, &EndpointBounds::default())
}

#[test]
fn every_rules_hebrew_example_selects_its_own_row() {
    for rule in RULES {
        assert_eq!(
            wait(rule.example_he).rule,
            rule.name,
            "example {:?}",
            rule.example_he
        );
    }
}

#[test]
fn rule_names_are_unique_and_the_last_row_catches_everything() {
    for (i, rule) in RULES.iter().enumerate() {
        assert!(
            RULES[..i].iter().all(|r| r.name != rule.name),
            "{}",
            rule.name
        );
    }
    let last = RULES.last().unwrap();
    assert!((last.matches)(&Analysis::of("משהו שאף כלל לא מכיר")));
}

#[test]
fn a_complete_question_is_answered_sooner_than_the_base_wait() {
    assert_eq!(
        wait("יש לכם מקום הערב?"),
        Wait {
            ms: 360,
            rule: "complete_question"
        }
    );
    // Whisper often puts a full stop after a question; the opening word says it.
    assert_eq!(wait("כמה זה עולה.").rule, "complete_question");
    assert_eq!(wait("ומה עם החניה.").rule, "complete_question");
    // An interrogative without any ending is still going.
    assert_ne!(wait("מה קורה עם").rule, "complete_question");
}

#[test]
fn a_complete_sentence_waits_a_little_less_than_the_base() {
    assert_eq!(
        wait("תודה, זה הכל!"),
        Wait {
            ms: 480,
            rule: "complete_sentence"
        }
    );
    assert_eq!(wait("שולחן לארבעה בשעה 8.").rule, "complete_sentence");
}

#[test]
fn an_ellipsis_is_a_trailing_off_not_an_ending() {
    assert_eq!(wait("אני חושב שאולי...").rule, "no_cue");
    assert_eq!(wait("אני חושב שאולי…").ms, 600);
}

#[test]
fn a_trailing_conjunction_or_preposition_waits_longer() {
    for transcript in [
        "אני רוצה תור למחר ו",
        "אני רוצה תור למחר, אבל",
        "שולחן ליד החלון של",
        "אני אבוא עם.",
        "רציתי לשאול אם",
        "זה בשביל",
        "אני רוצה ל",
        "ושל",
        "שולחן לשניים ועם",
        "אני אבוא רק שאם",
    ] {
        assert_eq!(
            wait(transcript),
            Wait {
                ms: 1080,
                rule: "trailing_conjunction"
            },
            "{transcript}"
        );
    }
}

#[test]
fn a_prefix_is_only_stripped_where_it_cannot_make_another_word() {
    // "שאל" is "asked", "בעל" is "owner": whole words, not ש/ב + a preposition.
    assert_eq!(wait("הוא שאל").rule, "no_cue");
    assert_eq!(wait("אני הבעל").rule, "no_cue");
}

#[test]
fn a_phone_number_being_dictated_waits_twice_as_long() {
    for transcript in [
        "המספר שלי 050",
        "המספר שלי 050-12",
        "050 123.",
        "אפס חמש אפס",
        "אפס חמש אפס.",
        "זה אפס",
        "+972 50",
        "בשעה 8",
    ] {
        assert_eq!(
            wait(transcript),
            Wait {
                ms: 1200,
                rule: "dictating_digits"
            },
            "{transcript}"
        );
    }
}

#[test]
fn a_whole_phone_number_with_a_full_stop_is_a_complete_sentence() {
    assert_eq!(wait("המספר שלי 050-1234567.").rule, "complete_sentence");
    assert_eq!(wait("03-5551234.").rule, "complete_sentence");
}

#[test]
fn a_filler_at_the_end_waits_longer_however_drawn_out() {
    for transcript in ["אממ", "אני רוצה אה", "אהה...", "אמממם", "רגע", "זה כאילו,"]
    {
        assert_eq!(
            wait(transcript),
            Wait {
                ms: 1080,
                rule: "trailing_filler"
            },
            "{transcript}"
        );
    }
}

#[test]
fn an_empty_transcript_waits_the_base() {
    assert_eq!(
        wait(""),
        Wait {
            ms: 600,
            rule: "empty"
        }
    );
    assert_eq!(
        wait("  ?! "),
        Wait {
            ms: 600,
            rule: "empty"
        }
    );
}

#[test]
fn the_wait_never_leaves_the_businesss_bounds() {
    let tight = EndpointBounds {
        base_ms: 600,
        min_ms: 500,
        max_ms: 900,
    };
    assert_eq!(end_of_turn_wait("מה השעה?", &tight).ms, 500);
    assert_eq!(end_of_turn_wait("אפס חמש", &tight).ms, 900);
    // A base outside the bounds is pulled in too.
    let odd = EndpointBounds {
        base_ms: 2000,
        min_ms: 300,
        max_ms: 1500,
    };
    assert_eq!(end_of_turn_wait("כן", &odd).ms, 1500);
    // A maximum below the minimum cannot panic the call.
    let inverted = EndpointBounds {
        base_ms: 600,
        min_ms: 800,
        max_ms: 400,
    };
    assert_eq!(end_of_turn_wait("ו", &inverted).ms, 800);
}

#[test]
fn a_transcript_that_only_gained_punctuation_holds_the_same_words_and_one_that_went_on_does_not() {
    let so_far = "אני רוצה לקבוע תור ליום שלישי";
    assert!(same_words(so_far, "אני רוצה לקבוע תור ליום שלישי."));
    assert!(same_words("מתי אתם פתוחים?", "מתי, אתם פתוחים."));
    assert!(!same_words(so_far, "אני רוצה לקבוע תור ליום שלישי בבוקר."));
    assert!(!same_words("המספר שלי 050-12", "המספר שלי 050-123"));
}
