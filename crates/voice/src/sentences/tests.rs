use super::*;
use proptest::prelude::*;

/// Feeds `tokens` one by one and returns everything emitted, `finish` included.
fn split(tokens: &[&str]) -> Vec<String> {
    let mut splitter = SentenceSplitter::default();
    let mut out: Vec<String> = tokens.iter().flat_map(|t| splitter.push(t)).collect();
    out.extend(splitter.finish());
    out
}

fn chars(text: &str) -> Vec<String> {
    text.chars().map(String::from).collect()
}

#[test]
fn a_hebrew_question_is_emitted_the_moment_its_question_mark_arrives() {
    let mut s = SentenceSplitter::default();
    assert!(s.push("שלום, איך אפשר לעזור").is_empty());
    assert!(s.push(" לך היום").is_empty());
    assert_eq!(s.push("?"), ["שלום, איך אפשר לעזור לך היום?"]);
    assert_eq!(s.finish(), None);
}

#[test]
fn a_period_after_a_number_or_a_latin_word_waits_for_one_more_character() {
    let mut s = SentenceSplitter::default();
    assert!(s.push("התור נקבע למחר בשעה 10.").is_empty());
    assert_eq!(s.push(" תודה"), ["התור נקבע למחר בשעה 10."]);
    assert!(s.push(" רבה, כתבו לנו ב-Gmail.").is_empty());
    assert_eq!(s.push(" ביי"), ["תודה רבה, כתבו לנו ב-Gmail."]);
    assert_eq!(s.finish().as_deref(), Some("ביי"));
}

#[test]
fn a_period_after_a_hebrew_word_ends_the_sentence_the_moment_it_arrives() {
    let mut s = SentenceSplitter::default();
    assert!(s.push("שלום, תודה שפנית").is_empty());
    assert_eq!(s.push(" אלינו."), ["שלום, תודה שפנית אלינו."]);
    assert_eq!(s.push(" אני מתנדב בצה״ל."), ["אני מתנדב בצה״ל."]);
    // An abbreviation still waits for what follows it.
    assert!(s.push(" התור בחדר מס.").is_empty());
    assert_eq!(
        s.push(" 5 בקומה השנייה."),
        ["התור בחדר מס. 5 בקומה השנייה."]
    );
}

#[test]
fn decimal_numbers_and_times_do_not_split() {
    assert_eq!(
        split(&[
            "המחיר הוא 3",
            ".",
            "5 שקלים לדקה. נתראה ב-10",
            ":",
            "30 בבוקר."
        ]),
        ["המחיר הוא 3.5 שקלים לדקה.", "נתראה ב-10:30 בבוקר."]
    );
}

#[test]
fn thousands_separators_do_not_end_the_first_clause() {
    let mut s = SentenceSplitter::new(SplitterConfig {
        min_chars: 12,
        first_clause_chars: Some(10),
    });
    let mut out = Vec::new();
    for c in chars("העלות השנתית היא 1,000 שקלים, כולל התקנה.") {
        out.extend(s.push(&c));
    }
    out.extend(s.finish());
    assert_eq!(out, ["העלות השנתית היא 1,000 שקלים,", "כולל התקנה."]);
}

#[test]
fn abbreviations_and_initials_do_not_end_a_sentence() {
    assert_eq!(
        split(&[
            "Dr. Cohen will see you at 10. ",
            "ד",
            "\"",
            "ר לוי מקבל בחדר מס. 5 מחר. ",
            "J. R. R. Tolkien wrote it."
        ]),
        [
            "Dr. Cohen will see you at 10.",
            "ד\"ר לוי מקבל בחדר מס. 5 מחר.",
            "J. R. R. Tolkien wrote it."
        ]
    );
}

#[test]
fn dotted_names_stay_in_one_sentence() {
    assert_eq!(
        split(&[
            "בקרו באתר שלנו example",
            ".",
            "co",
            ".",
            "il לפרטים נוספים",
            ".",
            " או התקשרו."
        ]),
        ["בקרו באתר שלנו example.co.il לפרטים נוספים.", "או התקשרו."]
    );
}

#[test]
fn short_fragments_join_the_next_sentence() {
    assert_eq!(
        split(&["כן! ", "אני יכול לעזור בזה. ", "בטח."]),
        ["כן! אני יכול לעזור בזה.", "בטח."]
    );
}

#[test]
fn newlines_and_sof_pasuq_end_sentences() {
    assert_eq!(
        split(&[
            "שעות הפתיחה שלנו הן:\n",
            "ראשון עד חמישי מתשע עד שש\n",
            "בראשית ברא אלהים את השמים׃ ",
            "והארץ היתה תהו"
        ]),
        [
            "שעות הפתיחה שלנו הן:",
            "ראשון עד חמישי מתשע עד שש",
            "בראשית ברא אלהים את השמים׃",
            "והארץ היתה תהו"
        ]
    );
}

#[test]
fn exclamations_ellipses_and_semicolons_split() {
    assert_eq!(
        split(&[
            "רגע אחד בבקשה… ",
            "אני בודק את היומן; ",
            "מצאתי תור פנוי!!",
            " מעולה"
        ]),
        [
            "רגע אחד בבקשה…",
            "אני בודק את היומן;",
            "מצאתי תור פנוי!!",
            "מעולה"
        ]
    );
}

#[test]
fn punctuation_that_arrives_after_an_early_cut_is_not_spoken_alone() {
    let mut s = SentenceSplitter::default();
    assert_eq!(s.push("האם אתה בטוח בזה?"), ["האם אתה בטוח בזה?"]);
    assert!(s.push("!").is_empty());
    assert!(s.push("\"").is_empty());
    assert!(s.push(" כן, אני בטוח").is_empty());
    assert_eq!(s.finish().as_deref(), Some("כן, אני בטוח"));
}

#[test]
fn a_long_opening_clause_is_cut_at_a_comma_but_later_ones_are_not() {
    let text = "בסדר גמור, אני רושם את הפרטים שלך עכשיו במערכת, ואחר כך אשלח לך הודעה, עם כל הפרטים של התור שקבענו יחד.";
    assert_eq!(
        split(&chars(text).iter().map(String::as_str).collect::<Vec<_>>()),
        [
            "בסדר גמור, אני רושם את הפרטים שלך עכשיו במערכת,",
            "ואחר כך אשלח לך הודעה, עם כל הפרטים של התור שקבענו יחד."
        ]
    );
}

#[test]
fn the_first_clause_rule_can_be_turned_off() {
    let mut s = SentenceSplitter::new(SplitterConfig {
        min_chars: 12,
        first_clause_chars: None,
    });
    assert!(
        s.push("בסדר גמור, אני רושם את הפרטים שלך עכשיו במערכת, ואחר כך ")
            .is_empty()
    );
}

#[test]
fn mixed_hebrew_and_english_with_prices() {
    assert_eq!(
        split(&[
            "The Pro plan costs $12",
            ".",
            "50 per month. ",
            "האם זה מתאים לך",
            "?",
            " Great!"
        ]),
        [
            "The Pro plan costs $12.50 per month.",
            "האם זה מתאים לך?",
            "Great!"
        ]
    );
}

#[test]
fn quotes_and_brackets_stay_with_their_sentence() {
    assert_eq!(
        split(&["הוא אמר \"אני מגיע מחר.\" ", "(ואז ביטל את התור.) ", "סוף."]),
        ["הוא אמר \"אני מגיע מחר.\"", "(ואז ביטל את התור.)", "סוף."]
    );
}

#[test]
fn finish_returns_none_for_leftover_punctuation_and_resets() {
    let mut s = SentenceSplitter::default();
    s.push(" … ");
    assert_eq!(s.finish(), None);
    assert!(s.push("משפט חדש לגמרי כאן. ").len() == 1);
    assert_eq!(s.finish(), None);
}

#[test]
fn whitespace_inside_a_sentence_is_collapsed() {
    assert_eq!(
        split(&["שורה   ראשונה\tעם רווחים ארוכים."]),
        ["שורה ראשונה עם רווחים ארוכים."]
    );
}

const TEXTS: &[&str] = &[
    "שלום! אני הסוכן של המספרה. איך אפשר לעזור? יש תור פנוי ב-10:30, או ב-14:00… מה מתאים לך?",
    "Dr. Levi charges ₪3.5 per minute; e.g. 10 minutes cost ₪35. בסדר? כן!\nתודה רבה, להתראות.",
    "בראשית ברא אלהים את השמים ואת הארץ׃ והארץ היתה תהו ובהו, וחשך על פני תהום׃",
];

proptest! {
    #[test]
    fn how_the_text_is_chunked_never_changes_the_sentences(
        text_index in 0..TEXTS.len(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let text = TEXTS[text_index];
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| boundaries[c.index(boundaries.len())]).collect();
        points.sort_unstable();
        points.dedup();
        let mut tokens = Vec::new();
        let mut last = 0;
        for p in points {
            tokens.push(&text[last..p]);
            last = p;
        }
        tokens.push(&text[last..]);
        prop_assert_eq!(split(&tokens), split(&[text]));
    }

    #[test]
    fn arbitrary_text_never_panics_and_loses_no_letters(text in "\\PC{0,200}", cut in 0usize..200) {
        // Only punctuation and whitespace may be dropped or merged; every
        // letter and digit comes out once, in order.
        let cut = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
        let out = split(&[&text[..cut], &text[cut..]]);
        let letters = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>();
        prop_assert_eq!(letters(&out.concat()), letters(&text));
    }
}
