//! The project's Hebrew endpointing set: pauses in realistic phone-call speech, scored for a fixed wait and for the rules.
//!
//! Each case is what the STT returned for the audio up to a pause, whether
//! the caller had in fact finished, and how long the pause lasted before
//! they spoke again (for a finished caller, how long they would have stayed
//! silent: the agent's reply comes first). Transcripts are written the way
//! Whisper returns partial Hebrew audio: digits as figures, a full stop it
//! guessed, sometimes none. The set is hand-written, not recorded, and
//! includes the cases the rules get wrong (a caller who pauses after a
//! complete sentence and goes on) so that the comparison stays honest.
//!
//! Run with `--nocapture` to see the figures:
//! `cargo test -p agentlocator-voice --test endpointing_set -- --nocapture`.

use agentlocator_voice::{EndpointBounds, end_of_turn_wait};

/// `(transcript at the pause, the speaker was done, actual pause in ms)`.
const CASES: &[(&str, bool, u32)] = &[
    // Booking a table or an appointment: finished requests and questions.
    ("שלום, אני רוצה להזמין שולחן לארבעה להערב.", true, 3000),
    ("יש לכם מקום הערב בשמונה?", true, 3000),
    ("מתי אתם פתוחים ביום שישי?", true, 3000),
    ("כמה עולה תספורת לגבר?", true, 3000),
    ("אפשר לקבוע תור למחר בבוקר?", true, 3000),
    ("איפה אתם נמצאים בדיוק.", true, 3000),
    ("האם יש חניה ליד המסעדה?", true, 3000),
    ("למה אף אחד לא עונה בטלפון?", true, 3000),
    ("אני רוצה לקבוע תור לטיפול שיניים.", true, 3000),
    ("תודה רבה, זה הכל!", true, 3000),
    ("כן, זה מתאים לי.", true, 3000),
    ("לא, תודה.", true, 3000),
    ("מה השעות שלכם?", true, 3000),
    ("אפשר לדבר עם מישהו מהצוות?", true, 3000),
    ("אני מעדיף בשעה שבע.", true, 3000),
    ("השם שלי דני כהן.", true, 3000),
    ("קוראים לי מיכל לוי.", true, 3000),
    ("המספר שלי 050-1234567.", true, 3000),
    ("אפשר גם ביום ראשון?", true, 3000),
    ("כמה זמן זה לוקח.", true, 3000),
    // Finished answers the STT left unpunctuated: the rules have no cue.
    ("כן בסדר", true, 3000),
    ("לא צריך", true, 3000),
    ("מעולה תודה", true, 3000),
    ("יום שלישי", true, 3000),
    // Finished, but ending in a number without a full stop: the rules wait
    // longer than they needed to (the cost of the digits row).
    ("שולחן לשעה 8", true, 3000),
    ("אנחנו נהיה 4", true, 3000),
    // Mid-phrase pauses after a conjunction or a preposition.
    ("אני רוצה להזמין שולחן לשניים ו", false, 800),
    ("אני רוצה להזמין שולחן לשניים ו", false, 950),
    ("אני אבוא עם", false, 900),
    ("אני אבוא עם", false, 1150),
    ("שולחן ליד החלון של", false, 700),
    ("רציתי לשאול על", false, 850),
    ("אני צריך תור אבל", false, 1000),
    ("זה בשביל", false, 750),
    ("אני רוצה לבוא מחר או", false, 900),
    ("תגידו לי אם", false, 1100),
    ("יש לי שאלה לגבי", false, 950),
    ("אני אגיע עם הילדים וגם", false, 800),
    ("זה בגלל ש", false, 1050),
    ("אני רוצה ל", false, 700),
    ("התור היה אצל", false, 1200),
    ("תרשמו את זה על השם של", false, 1000),
    ("זה לפני", false, 650),
    // A phone number or a time dictated in groups.
    ("המספר שלי 050", false, 900),
    ("המספר שלי 050-123", false, 1100),
    ("אפס חמש אפס", false, 800),
    ("אפס חמש אפס שתיים שלוש", false, 1000),
    ("054 76", false, 1150),
    ("המספר הוא 03.", false, 700),
    ("אפס חמש שתיים.", false, 950),
    ("תרשום 052", false, 1300),
    // Hesitations and fillers.
    ("אני רוצה אממ", false, 900),
    ("אה", false, 1000),
    ("רגע", false, 1400),
    ("זה כאילו", false, 750),
    ("אני צריך תור ל... אהה", false, 1100),
    ("אמממ...", false, 1200),
    // Mid-phrase pauses with no cue in the words.
    ("אני רוצה לבוא", false, 650),
    ("השם שלי", false, 700),
    ("קוראים לי", false, 500),
    // A complete sentence, then more after a short breath: the rules cut
    // these off sooner than the fixed wait would.
    ("אני רוצה להזמין שולחן.", false, 520),
    ("יש לי שאלה.", false, 500),
    ("מה השעה?", false, 400),
    // Short breaths any wait survives.
    ("אני רוצה", false, 300),
    ("שלום", false, 250),
];

/// What a wait does on the set.
struct Score {
    /// Unfinished callers whose pause reached the wait.
    cut_offs: usize,
    /// Mean wait a finished caller sits through, in ms.
    mean_done_wait_ms: f64,
}

fn score(wait_for: impl Fn(&str) -> u32) -> Score {
    let mut cut_offs = 0;
    let mut done_total = 0u64;
    let mut done_count = 0u64;
    for &(transcript, done, pause_ms) in CASES {
        let wait = wait_for(transcript);
        if done {
            done_total += u64::from(wait);
            done_count += 1;
        } else if pause_ms >= wait {
            cut_offs += 1;
        }
    }
    Score {
        cut_offs,
        mean_done_wait_ms: done_total as f64 / done_count as f64,
    }
}

#[test]
fn the_set_is_big_enough_to_mean_something() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let done = CASES.iter().filter(|c| c.1).count();
    assert!(done >= 20 && CASES.len() - done >= 30, "{done} finished");
}

#[test]
fn the_rules_cut_off_fewer_callers_than_a_fixed_600_ms_without_a_longer_mean_wait() {
    let bounds = EndpointBounds::default();
    let fixed = score(|_| bounds.base_ms);
    let rules = score(|t| end_of_turn_wait(t, &bounds).ms);
    let unfinished = CASES.iter().filter(|c| !c.1).count();
    println!(
        "endpointing set: {} cases ({unfinished} mid-phrase pauses, {} finished turns); bounds {}/{}/{} ms",
        CASES.len(),
        CASES.len() - unfinished,
        bounds.min_ms,
        bounds.base_ms,
        bounds.max_ms,
    );
    println!(
        "fixed {} ms: {} cut-offs, mean wait when done {:.0} ms",
        bounds.base_ms, fixed.cut_offs, fixed.mean_done_wait_ms
    );
    println!(
        "rules:       {} cut-offs, mean wait when done {:.0} ms",
        rules.cut_offs, rules.mean_done_wait_ms
    );
    assert!(rules.cut_offs < fixed.cut_offs);
    assert!(rules.mean_done_wait_ms <= fixed.mean_done_wait_ms);
}
