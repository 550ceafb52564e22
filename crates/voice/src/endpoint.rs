//! Hebrew-aware endpointing: how long to wait for more speech, given what the caller has said so far.
//!
//! The call engine transcribes the audio at a short pause and asks
//! [`end_of_turn_wait`] how long the caller must stay silent before the turn
//! is theirs no more. A fixed wait is wrong both ways: it keeps a caller who
//! finished a question waiting, and it cuts off one who paused after "ו" or
//! in the middle of dictating a phone number. The answer comes from one
//! table, [`RULES`], read top to bottom, the first matching row winning;
//! each row carries a Hebrew example that a test feeds back through the
//! table, so a row nobody can reach is caught at once.
//!
//! # Why the rows are in this order
//! Whisper punctuates the audio *so far* as if it were final: a partial
//! "אפס חמש אפס" comes back as "050." and a pause after "של" may still end
//! in a full stop. So the evidence in the words (a partial number, a
//! trailing conjunction, a filler) is read before the full stop, and only a
//! question mark, which Whisper does not add without a question's
//! intonation, outranks them.

/// The business's end-of-turn settings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointBounds {
    /// The wait when nothing in the transcript says otherwise
    /// (`end_of_turn_ms`).
    pub base_ms: u32,
    /// No rule waits less (`end_of_turn_min_ms`).
    pub min_ms: u32,
    /// No rule waits more (`end_of_turn_max_ms`).
    pub max_ms: u32,
}

impl Default for EndpointBounds {
    fn default() -> Self {
        Self {
            base_ms: 600,
            min_ms: 300,
            max_ms: 1500,
        }
    }
}

/// The silence to wait for, and which rule chose it (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Milliseconds of caller silence that confirm the turn.
    pub ms: u32,
    /// The [`Rule::name`] of the row that matched.
    pub rule: &'static str,
}

/// One row of the endpointing table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Short snake_case name, reported in [`Wait::rule`].
    pub name: &'static str,
    /// Whether this row applies to the transcript.
    pub matches: fn(&Analysis) -> bool,
    /// The wait as a percentage of [`EndpointBounds::base_ms`], before
    /// clamping to the business's minimum and maximum.
    pub percent: u32,
    /// A partial transcript this row, and no row above it, must select.
    pub example_he: &'static str,
}

/// The endpointing table: first match wins. The last row matches anything.
pub const RULES: &[Rule] = &[
    Rule {
        name: "empty",
        matches: |a| a.words.is_empty(),
        percent: 100,
        example_he: " … ",
    },
    Rule {
        name: "complete_question",
        matches: is_complete_question,
        percent: 60,
        example_he: "מתי אתם פתוחים מחר?",
    },
    Rule {
        name: "dictating_digits",
        matches: is_dictating_digits,
        percent: 200,
        example_he: "המספר שלי הוא 050-12",
    },
    Rule {
        name: "trailing_conjunction",
        matches: ends_with_conjunction,
        percent: 180,
        example_he: "אני רוצה להזמין שולחן לשניים עם",
    },
    Rule {
        name: "trailing_filler",
        matches: ends_with_filler,
        percent: 180,
        example_he: "אני צריך תור ל... אממ",
    },
    Rule {
        name: "complete_sentence",
        matches: |a| matches!(a.final_punct, Some('.' | '!')),
        percent: 80,
        example_he: "אני רוצה לקבוע תור ליום שלישי.",
    },
    Rule {
        name: "no_cue",
        matches: |_| true,
        percent: 100,
        example_he: "כן זה בסדר",
    },
];

/// What the rules look at, computed once per transcript.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analysis {
    /// The words, punctuation stripped from their edges (a `-` inside a
    /// number such as `050-12` is kept).
    pub words: Vec<String>,
    /// The transcript's last character if it is `.`, `!` or `?`; an
    /// ellipsis ("..." or "…") is a trailing-off, not an ending, so `None`.
    pub final_punct: Option<char>,
    /// Digits at the end of the transcript, across spaces and dashes
    /// (`050 12` → `05012`), or spoken digits ("אפס חמש") as figures.
    pub trailing_digits: String,
    /// How many of the last words are digit groups or spoken digits.
    pub trailing_number_words: usize,
}

impl Analysis {
    /// Reads the transcript once for every rule.
    pub fn of(transcript: &str) -> Self {
        let text = transcript.trim();
        let ellipsis = text.ends_with("...") || text.ends_with('…');
        let final_punct = text
            .trim_end_matches(['"', '\'', ')', '״'])
            .chars()
            .next_back()
            .filter(|c| matches!(c, '.' | '!' | '?') && !ellipsis);
        let words: Vec<String> = text
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '…'))
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let mut trailing_digits = String::new();
        let mut trailing_number_words = 0;
        for word in words.iter().rev() {
            let digits = if word.chars().all(|c| c.is_ascii_digit() || c == '-') {
                word.chars().filter(char::is_ascii_digit).collect()
            } else if let Some(digit) = spoken_digit(word) {
                digit.to_string()
            } else {
                break;
            };
            trailing_digits.insert_str(0, &digits);
            trailing_number_words += 1;
        }
        Self {
            words,
            final_punct,
            trailing_digits,
            trailing_number_words,
        }
    }

    fn last_word(&self) -> Option<&str> {
        self.words.last().map(String::as_str)
    }
}

/// The wait after `transcript`, always within `[min_ms, max_ms]` (a
/// maximum below the minimum is read as the minimum).
pub fn end_of_turn_wait(transcript: &str, bounds: &EndpointBounds) -> Wait {
    let analysis = Analysis::of(transcript);
    let rule = RULES
        .iter()
        .find(|rule| (rule.matches)(&analysis))
        .unwrap_or(&RULES[RULES.len() - 1]);
    let scaled = u64::from(bounds.base_ms) * u64::from(rule.percent) / 100;
    let max = bounds.max_ms.max(bounds.min_ms);
    let ms = u32::try_from(scaled)
        .unwrap_or(u32::MAX)
        .clamp(bounds.min_ms, max);
    Wait {
        ms,
        rule: rule.name,
    }
}

/// Whether two transcripts hold the same words, punctuation aside: how a
/// second look at a longer stretch of the same pause is judged to have
/// heard nothing more than the first.
pub fn same_words(a: &str, b: &str) -> bool {
    Analysis::of(a).words == Analysis::of(b).words
}

/// Words that open a question; with a full stop or "!" after them the
/// caller has asked, whatever punctuation the STT chose.
const INTERROGATIVES: &[&str] = &[
    "מה", "מתי", "איפה", "כמה", "למה", "האם", "אפשר", "מי", "איך", "איזה", "איזו", "היכן",
];

fn is_complete_question(a: &Analysis) -> bool {
    if a.final_punct == Some('?') {
        return true;
    }
    let opens_with_question = a
        .words
        .first()
        .is_some_and(|w| INTERROGATIVES.contains(&w.strip_prefix('ו').unwrap_or(w)));
    opens_with_question && matches!(a.final_punct, Some('.' | '!'))
}

/// A number still being said: it ends the transcript without a full stop
/// ("בשעה 8" may go on to "8 וחצי"), or it is a phone number too short to
/// be whole, full stop or not, or spoken digits run on ("אפס חמש אפס").
fn is_dictating_digits(a: &Analysis) -> bool {
    if a.trailing_digits.is_empty() {
        return false;
    }
    let spoken_run =
        a.trailing_number_words >= 2 || a.last_word().and_then(spoken_digit) == Some('0');
    a.final_punct.is_none() || is_partial_phone_number(&a.trailing_digits) || spoken_run
}

/// Israeli numbers are 9 (landline) or 10 (mobile) digits from a leading 0,
/// or 11–12 from 972.
fn is_partial_phone_number(digits: &str) -> bool {
    if digits.starts_with("972") {
        digits.len() < 11
    } else {
        digits.starts_with('0') && digits.len() < 9
    }
}

fn spoken_digit(word: &str) -> Option<char> {
    let digit = match word {
        "אפס" => '0',
        "אחת" | "אחד" => '1',
        "שתיים" | "שתים" | "שניים" | "שנים" => '2',
        "שלוש" | "שלש" => '3',
        "ארבע" => '4',
        "חמש" => '5',
        "שש" => '6',
        "שבע" => '7',
        "שמונה" => '8',
        "תשע" => '9',
        _ => return None,
    };
    Some(digit)
}

/// Conjunctions and prepositions that cannot end a thought.
const CONJUNCTIONS: &[&str] = &[
    "ו",
    "ש",
    "אבל",
    "או",
    "כי",
    "של",
    "עם",
    "על",
    "אל",
    "את",
    "אז",
    "גם",
    "אם",
    "בשביל",
    "לפני",
    "אחרי",
    "עד",
    "כמו",
    "אצל",
    "בין",
    "לגבי",
    "מאשר",
    "כדי",
];

/// Hebrew writes "and", "that", "to", "in"… as one-letter prefixes. A prefix
/// letter left alone is a word the STT heard begin ("ל", "ב"). A prefix
/// stripped from a longer word is only trusted where it cannot make another
/// word: "ו" before any conjunction ("ושל", "ועם"), "ש" only before
/// אם/גם/אז, since "שאל" (asked) is not "ש" + "אל".
fn ends_with_conjunction(a: &Analysis) -> bool {
    let Some(last) = a.last_word() else {
        return false;
    };
    if last.chars().count() == 1 && "ושהבלמכ".contains(last) {
        return true;
    }
    if CONJUNCTIONS.contains(&last) {
        return true;
    }
    let after_vav = last.strip_prefix('ו').unwrap_or(last);
    if after_vav != last && CONJUNCTIONS.contains(&after_vav) {
        return true;
    }
    after_vav
        .strip_prefix('ש')
        .is_some_and(|rest| ["אם", "גם", "אז"].contains(&rest))
}

/// Hesitation sounds and stalling words, after drawn-out letters are
/// collapsed ("אממממ" → "אמ", "אהה" → "אה").
const FILLERS: &[&str] = &["אמ", "אה", "אהמ", "המ", "אמה", "כאילו", "רגע", "נו", "יעני"];

fn ends_with_filler(a: &Analysis) -> bool {
    let Some(last) = a.last_word() else {
        return false;
    };
    let mut collapsed = String::new();
    for c in last.chars().map(|c| if c == 'ם' { 'מ' } else { c }) {
        if !collapsed.ends_with(c) {
            collapsed.push(c);
        }
    }
    FILLERS.contains(&collapsed.as_str())
}

#[cfg(test)]
mod tests;
