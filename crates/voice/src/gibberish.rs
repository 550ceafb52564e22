//! The transcript gate: decides whether an STT transcript is something the
//! caller said, or noise, filler, or one of Whisper's well-known
//! hallucinations on silence (subtitle credits above all). Audio-side
//! gating (VAD, endpointing) lives in [`crate::vad`] and [`crate::turn`];
//! this module only sees text plus a little context.
//!
//! # The rule, and the tension it resolves
//! Whisper, fed silence, hold music or line noise, tends to produce the
//! closing lines of the subtitled videos it was trained on: in Hebrew
//! "תודה רבה", "תודה שצפיתם", "כתוביות: …", "תורגם על ידי …"; in English
//! "you", "Thank you.", "Thanks for watching". But a caller really does say
//! "תודה רבה" at the end of a booking, and "כן", "לא", "תודה, ביי" are the
//! most important answers on a phone call. So phrases are split in tiers:
//!
//! 1. **Never caller speech** — subtitle/translation credits, "thanks for
//!    watching", "subscribe", a lone "you". Dropped whatever the audio:
//!    Whisper emits them on music and noise too, which a VAD may call
//!    voiced, so voiced audio proves there was *sound*, not that someone
//!    said these words.
//! 2. **Courtesy phrases a caller might say** — "תודה", "תודה רבה",
//!    "Thank you", as the *whole* transcript. Kept only with evidence: the
//!    call is `mid_conversation` (the agent just spoke, so thanks is a
//!    natural reply) **and** the VAD heard at least
//!    [`MIN_VOICED_MS_FOR_COURTESY`] of voice. A whole recording
//!    (`mid_conversation == false`) that is only "תודה רבה" is dropped: a
//!    message with nothing but thanks carries nothing, and it is the
//!    textbook hallucination on an empty voicemail. Unknown voicing (`None`)
//!    is no evidence.
//! 3. **Everything else** is kept unless it is empty, has no letters (or
//!    digits), is only filler ("אממ", "hmm"), is one token or short phrase
//!    repeated in a loop ("תודה תודה תודה תודה"), or has far more words than
//!    the voiced audio could hold. Courtesy words inside a longer answer
//!    ("כן תודה", "תודה, ביי") are ordinary speech.
//!
//! Matching is done on a normalised form: nikud and cantillation stripped,
//! geresh/gershayim and quotes removed (`ע"י` → `עי`), other punctuation
//! turned into spaces, Latin lowercased, whitespace collapsed.
//!
//! Deliberate deviation: digit-only transcripts ("054 1234567", "3") are
//! kept, because phone numbers, times and quantities are real answers and
//! Whisper does not typically hallucinate bare digits.

/// Voiced audio (ms) that makes a lone courtesy phrase believable mid-call.
pub const MIN_VOICED_MS_FOR_COURTESY: u32 = 400;

/// Upper bound on words per second of voiced audio (fast speech is ~5;
/// VAD misses some voiced frames), used to catch invented text.
const MAX_WORDS_PER_VOICED_SECOND: u32 = 10;
/// Words always allowed regardless of voiced time.
const WORD_ALLOWANCE: u32 = 3;

/// What is known about the audio a transcript came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TranscriptContext {
    /// Voiced time the VAD measured in the transcribed audio, if known.
    pub voiced_ms: Option<u32>,
    /// The transcript answers the agent inside a live call (as opposed to a
    /// standalone recording/voicemail).
    pub mid_conversation: bool,
}

/// Why a transcript was dropped (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Nothing, or a single letter.
    Empty,
    /// No Hebrew or Latin letters and no digits (e.g. "…", "♪", other scripts).
    NoLetters,
    /// Only hesitation sounds.
    Filler,
    /// One token or short phrase repeated in a loop.
    Repetition,
    /// A subtitle credit or video outro: never caller speech.
    Credits,
    /// A lone courtesy phrase without evidence that the caller said it.
    UnsupportedCourtesy,
    /// More words than the voiced audio could contain.
    TooLongForAudio,
}

impl Rejection {
    /// A short snake_case label for structured logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NoLetters => "no_letters",
            Self::Filler => "filler",
            Self::Repetition => "repetition",
            Self::Credits => "credits",
            Self::UnsupportedCourtesy => "unsupported_courtesy",
            Self::TooLongForAudio => "too_long_for_audio",
        }
    }
}

/// Tier 1, matched as a whole-word prefix of the normalised text.
const CREDIT_PREFIXES: &[&str] = &[
    "כתוביות",
    "תורגם",
    "תרגום עי",
    "תרגום על ידי",
    "תרגום וכתוביות",
    "תודה שצפיתם",
    "תודה על הצפייה",
    "תודה על הצפיה",
    "הירשמו לערוץ",
    "subtitles",
    "subtitled by",
    "translated by",
    "captions by",
    "transcribed by",
    "amara org",
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "like and subscribe",
];

/// Tier 1, matched against the whole normalised text only.
const CREDIT_EXACT: &[&str] = &["you", "צפייה מהנה"];

/// Tier 2, matched against the whole normalised text only.
const COURTESY_EXACT: &[&str] = &[
    "תודה",
    "תודה רבה",
    "תודה רבה רבה",
    "תודה לך",
    "תודה לכם",
    "תודה רבה לך",
    "תודה רבה לכם",
    "thank you",
    "thanks",
    "thank you very much",
    "thank you so much",
    "thank you all",
];

/// Hesitation sounds, after collapsing repeated letters ("אממם" → "אמ").
const FILLERS: &[&str] = &[
    "אמ", "אה", "אהמ", "המ", "מ", "הממ", "אמה", "uh", "um", "uhm", "hm", "m", "mh", "mhm", "ah",
    "eh", "er", "erm", "oh", "ahm", "em", "huh",
];

fn is_hebrew_letter(c: char) -> bool {
    matches!(c, '\u{05D0}'..='\u{05EA}' | '\u{05F0}'..='\u{05F2}')
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || (matches!(c, '\u{00C0}'..='\u{024F}') && c.is_alphabetic())
}

/// Characters that vanish in normalisation (rather than splitting words):
/// nikud and cantillation, geresh/gershayim and quotes, bidi and
/// zero-width marks.
fn is_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{0591}'..='\u{05BD}'
            | '\u{05BF}'
            | '\u{05C1}'
            | '\u{05C2}'
            | '\u{05C4}'
            | '\u{05C5}'
            | '\u{05C7}'
            | '\u{05F3}'
            | '\u{05F4}'
            | '\''
            | '"'
            | '‘'
            | '’'
            | '“'
            | '”'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The matching form described in the module docs.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if is_ignorable(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// "אממם" → "אמ", "hmmm" → "hm": fillers come with any number of repeats.
fn collapse_repeats(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut last = None;
    for c in token.chars() {
        if last != Some(c) {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

fn starts_with_phrase(text: &str, phrase: &str) -> bool {
    text.strip_prefix(phrase)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// Whether the tokens are one n-gram (n ≤ 3) repeated: at least 4 times for
/// a single word, 3 times for a phrase. "כן כן כן" (three) stays speech.
fn is_loop(tokens: &[&str]) -> bool {
    (1..=3).any(|n| {
        let min_repeats = if n == 1 { 4 } else { 3 };
        tokens.len() >= n * min_repeats
            && tokens.len().is_multiple_of(n)
            && tokens.chunks(n).all(|chunk| chunk == &tokens[..n])
    })
}

/// Classifies a transcript: the trimmed text if it is caller speech, or
/// why it is not. See the module docs for the rule.
pub fn check_transcript(text: &str, ctx: &TranscriptContext) -> Result<String, Rejection> {
    let trimmed = text.trim();
    let norm = normalize(trimmed);
    let letters = norm
        .chars()
        .filter(|&c| is_hebrew_letter(c) || is_latin_letter(c))
        .count();
    let digits = norm.chars().any(|c| c.is_ascii_digit());
    if norm.is_empty() {
        return Err(if trimmed.is_empty() {
            Rejection::Empty
        } else {
            Rejection::NoLetters
        });
    }
    if letters == 0 && !digits {
        return Err(Rejection::NoLetters);
    }
    if letters < 2 && !digits {
        return Err(Rejection::Empty);
    }
    let tokens: Vec<&str> = norm.split(' ').collect();
    if tokens
        .iter()
        .all(|t| FILLERS.contains(&collapse_repeats(t).as_str()))
    {
        return Err(Rejection::Filler);
    }
    if is_loop(&tokens) {
        return Err(Rejection::Repetition);
    }
    if CREDIT_EXACT.contains(&norm.as_str())
        || CREDIT_PREFIXES.iter().any(|p| starts_with_phrase(&norm, p))
    {
        return Err(Rejection::Credits);
    }
    if COURTESY_EXACT.contains(&norm.as_str()) {
        let voiced_enough = ctx
            .voiced_ms
            .is_some_and(|ms| ms >= MIN_VOICED_MS_FOR_COURTESY);
        if !(ctx.mid_conversation && voiced_enough) {
            return Err(Rejection::UnsupportedCourtesy);
        }
    }
    if let Some(ms) = ctx.voiced_ms {
        let allowed = WORD_ALLOWANCE
            .saturating_add(ms / 1000 * MAX_WORDS_PER_VOICED_SECOND)
            .saturating_add(ms % 1000 * MAX_WORDS_PER_VOICED_SECOND / 1000);
        if tokens.len() > allowed as usize {
            return Err(Rejection::TooLongForAudio);
        }
    }
    Ok(trimmed.to_string())
}

/// The trimmed transcript if it is caller speech, `None` for empty text,
/// filler, loops and Whisper silence hallucinations (see the module docs).
pub fn clean_transcript(text: &str, ctx: &TranscriptContext) -> Option<String> {
    check_transcript(text, ctx).ok()
}

#[cfg(test)]
mod tests;
