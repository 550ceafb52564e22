//! Streaming sentence splitting for TTS: LLM tokens go in, speakable
//! sentences come out as soon as they are certainly complete, so the first
//! one can be synthesised while the model is still writing the rest.
//!
//! Boundaries are `. ! ? … ; :`, their CJK/Arabic forms, the Hebrew sof
//! pasuq `׃`, and newlines — but not inside numbers (`3.5`, `10:30`,
//! `1,000`), dotted names (`example.co.il`, `e.g.`) or after common
//! abbreviations (`Dr.`, `מס.`). A terminator only ends a sentence when
//! followed by whitespace; `!`, `?`, `…`, `;`, `׃` and newlines at the very
//! end of the text so far are final at once, while `.` and `:` wait for one
//! more character because they are the ambiguous ones — except a `.` after a
//! Hebrew word, which is neither a decimal point nor inside a dotted name. Fragments shorter
//! than `min_chars` ("כן!", "1.") join the next sentence instead of becoming
//! a choppy TTS request of their own. Before the first sentence is out, a
//! long clause may also end at a comma (`first_clause_chars`), which trims
//! time-to-first-audio on long openings.
//!
//! Input is `&str`, so splits are always on char boundaries; tokens of a
//! single Hebrew letter or a lone punctuation mark are fine. The price of
//! cutting at `!`/`?` without lookahead: in the rare `מה?כן` with no space,
//! split across tokens right after the `?`, the cut happens anyway;
//! punctuation or closing quotes that arrive right after such a cut are
//! attached to the finished sentence (dropped, since TTS has already
//! been given it) rather than spoken alone.

/// Tuning for [`SentenceSplitter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitterConfig {
    /// Sentences shorter than this many characters join the next one.
    pub min_chars: usize,
    /// Before any sentence has been emitted, a comma also ends a chunk once
    /// the chunk is at least this many characters. `None` disables it.
    pub first_clause_chars: Option<usize>,
}

impl Default for SplitterConfig {
    fn default() -> Self {
        Self {
            min_chars: 12,
            first_clause_chars: Some(40),
        }
    }
}

/// Accumulates streamed text and hands out complete sentences.
#[derive(Debug, Clone, Default)]
pub struct SentenceSplitter {
    config: SplitterConfig,
    buf: String,
    /// Byte offset in `buf` from which no boundary has been ruled out yet.
    scan_from: usize,
    emitted: usize,
    /// The last sentence was cut at the very end of the text: trailing
    /// terminators or closing quotes that arrive next belong to it.
    skip_orphans: bool,
}

/// Abbreviations (lowercase, without the dot) after which `.` is not a
/// sentence end. Hebrew mostly abbreviates with geresh/gershayim, which
/// never end a sentence; these are the dotted forms seen in practice.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "inc", "ltd", "co", "corp",
    "no", "approx", "dept", "est", "ave", "tel", "mt", "מס", "רח", "טל", "עמ", "שד", "גב", "פרופ",
    "סמ", "מר", "דר",
];

fn is_terminator(c: char) -> bool {
    matches!(
        c,
        '.' | '!'
            | '?'
            | '…'
            | ';'
            | ':'
            | '׃'
            | '\n'
            | '。'
            | '！'
            | '？'
            | '؟'
            | '‼'
            | '⁇'
            | '⁈'
            | '⁉'
            | '；'
    )
}

fn is_comma(c: char) -> bool {
    matches!(c, ',' | '،' | '，')
}

/// Characters that close a sentence after its terminator (`?"`, `.)`).
fn is_closing(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | ')' | ']' | '}' | '»' | '״' | '׳'
    )
}

/// Whether the last word of `text` is an abbreviation,
/// an initial (`J.`) or an initialism (`e.g.`, `ת.ז.`).
fn ends_with_abbreviation(text: &str) -> bool {
    let word = text
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() || word.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    if word.contains('.') || word.chars().count() == 1 {
        return true;
    }
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

/// Whether the last word of `text` is written in Hebrew letters only
/// (niqqud, geresh and gershayim allowed, as in `צה״ל`).
fn ends_with_hebrew_word(text: &str) -> bool {
    let word = text.rsplit(char::is_whitespace).next().unwrap_or("");
    word.chars().any(|c| matches!(c, 'א'..='ת'))
        && word
            .chars()
            .all(|c| matches!(c, '\u{0591}'..='\u{05F4}' | '\'' | '"'))
}

/// Collapses whitespace runs (newlines included) to single spaces.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

enum Scan {
    /// A sentence ends at this byte offset.
    Boundary(usize),
    /// Nothing final yet; more text is needed.
    Wait,
}

impl SentenceSplitter {
    /// Creates a splitter with the given thresholds.
    pub fn new(config: SplitterConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Adds streamed text and returns every sentence it completed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        let mut delta = delta;
        if self.skip_orphans {
            let rest = delta
                .trim_start_matches(|c: char| (is_terminator(c) && c != '\n') || is_closing(c));
            if !rest.is_empty() {
                self.skip_orphans = false;
            }
            delta = rest;
        }
        self.buf.push_str(delta);
        let mut out = Vec::new();
        while let Scan::Boundary(end) = self.scan() {
            let sentence = tidy(&self.buf[..end]);
            self.buf.drain(..end);
            self.scan_from = 0;
            self.skip_orphans = self.buf.is_empty();
            if sentence.chars().any(char::is_alphanumeric) {
                self.emitted += 1;
                out.push(sentence);
            }
        }
        out
    }

    /// Ends the stream: returns whatever is left (however short) and resets
    /// the splitter for the next response. `None` if nothing speakable is left.
    pub fn finish(&mut self) -> Option<String> {
        let rest = tidy(&self.buf);
        *self = Self::new(self.config.clone());
        rest.chars().any(char::is_alphanumeric).then_some(rest)
    }

    fn scan(&mut self) -> Scan {
        let buf = self.buf.as_str();
        let mut iter = buf[self.scan_from..].char_indices();
        while let Some((offset, c)) = iter.next() {
            let at = self.scan_from + offset;
            let first_clause = self.emitted == 0 && self.config.first_clause_chars.is_some();
            if !(is_terminator(c) || (first_clause && is_comma(c))) {
                continue;
            }
            // A newline is final by itself.
            let mut end = at + c.len_utf8();
            if c != '\n' {
                while let Some(d) = buf[end..].chars().next() {
                    if (is_terminator(d) && d != '\n') || is_closing(d) {
                        end += d.len_utf8();
                    } else {
                        break;
                    }
                }
            }
            let follower = buf[end..].chars().next();
            let final_here = match follower {
                _ if c == '\n' => true,
                Some(d) => d.is_whitespace(),
                None => {
                    let prev_digit = buf[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|p| p.is_ascii_digit());
                    // A period after a Hebrew word cannot be a decimal
                    // point or part of a dotted name: it ends the sentence
                    // now, a token sooner (~33 ms at 30 tokens/s).
                    let ambiguous = (c == '.' && !ends_with_hebrew_word(&buf[..at]))
                        || c == ':'
                        || (is_comma(c) && prev_digit);
                    if ambiguous {
                        self.scan_from = at;
                        return Scan::Wait;
                    }
                    true
                }
            };
            if !final_here || (c == '.' && ends_with_abbreviation(&buf[..at])) {
                continue;
            }
            let length = buf[..end].trim().chars().count();
            let needed = if is_comma(c) {
                self.config.first_clause_chars.unwrap_or(usize::MAX)
            } else {
                self.config.min_chars
            };
            if length >= needed {
                return Scan::Boundary(end);
            }
            // Skip the rest of the group: it was judged as a whole.
            while iter.offset() + self.scan_from < end {
                if iter.next().is_none() {
                    break;
                }
            }
        }
        self.scan_from = buf.len();
        Scan::Wait
    }
}

#[cfg(test)]
mod tests;
