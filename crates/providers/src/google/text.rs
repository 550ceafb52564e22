//! Text preparation for Google TTS: splitting long text under the API's input
//! limit at sentence boundaries, and normalising the legacy `iw` code.

/// Google's limit on `input.text`, in bytes (Hebrew is ~2 bytes a letter).
pub(crate) const MAX_INPUT_BYTES: usize = 5000;

/// Replaces the legacy ISO code `iw` with `he` in a language code or voice
/// name (`iw-IL-Wavenet-A` → `he-IL-Wavenet-A`).
pub(crate) fn normalise_hebrew(code: &str) -> String {
    match code.strip_prefix("iw") {
        Some(rest) if rest.is_empty() || rest.starts_with('-') => format!("he{rest}"),
        _ => code.to_owned(),
    }
}

/// The language code a voice name implies (`he-IL-Wavenet-A` → `he-IL`).
pub(crate) fn voice_language(voice: &str) -> Option<String> {
    let mut parts = voice.splitn(3, '-');
    let (lang, region, _name) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!("{lang}-{region}"))
}

/// Splits `text` into pieces of at most `max` bytes, preferring sentence
/// ends, then spaces, and cutting inside a word only for a single word
/// longer than the limit. Pieces are trimmed; empty ones are dropped.
pub(crate) fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(4); // room for any one UTF-8 character
    let mut units: Vec<&str> = Vec::new();
    for sentence in sentences(text) {
        if sentence.len() <= max {
            units.push(sentence);
            continue;
        }
        for word in sentence.split_inclusive(char::is_whitespace) {
            if word.len() <= max {
                units.push(word);
            } else {
                units.extend(char_pieces(word, max));
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for u in units {
        if cur.len() + u.len() > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(u);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Sentences including their terminator and the whitespace after it.
fn sentences(text: &str) -> Vec<&str> {
    const ENDS: [char; 6] = ['.', '!', '?', '…', '\n', '׃'];
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !ENDS.contains(&c) {
            continue;
        }
        // "3.5" or "www.x" is not a sentence end: require space or the end.
        let mut end = i + c.len_utf8();
        match chars.peek() {
            Some(&(_, n)) if n.is_whitespace() => {}
            Some(_) => continue,
            None => {}
        }
        while let Some(&(j, n)) = chars.peek() {
            if !n.is_whitespace() {
                break;
            }
            end = j + n.len_utf8();
            chars.next();
        }
        out.push(&text[start..end]);
        start = end;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn char_pieces(word: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut last = 0;
    for (i, c) in word.char_indices() {
        if i + c.len_utf8() - start > max {
            out.push(&word[start..last]);
            start = last;
        }
        last = i + c.len_utf8();
    }
    out.push(&word[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split_text("שלום. מה שלומך?", 5000), vec!["שלום. מה שלומך?"]);
    }

    #[test]
    fn long_text_splits_at_sentence_ends_under_the_limit() {
        let sentence = "זהו משפט ארוך למדי שנועד לבדוק חלוקה. ";
        let text = sentence.repeat(300);
        assert!(text.len() > MAX_INPUT_BYTES);
        let pieces = split_text(&text, MAX_INPUT_BYTES);
        assert!(pieces.len() >= 2);
        for p in &pieces {
            assert!(p.len() <= MAX_INPUT_BYTES);
            assert!(p.ends_with('.'), "piece should end a sentence");
        }
        let joined: String = pieces.join(" ");
        assert_eq!(joined, text.trim());
    }

    #[test]
    fn decimals_are_not_sentence_ends() {
        assert_eq!(
            sentences("מחיר 3.5 שקל. תודה"),
            vec!["מחיר 3.5 שקל. ", "תודה"]
        );
    }

    #[test]
    fn a_giant_word_is_cut_on_character_boundaries() {
        let word = "א".repeat(30);
        let pieces = split_text(&word, 11);
        assert!(pieces.iter().all(|p| p.len() <= 11));
        assert_eq!(pieces.concat(), word);
    }

    #[test]
    fn iw_is_normalised_to_he() {
        assert_eq!(normalise_hebrew("iw-IL"), "he-IL");
        assert_eq!(normalise_hebrew("iw-IL-Wavenet-A"), "he-IL-Wavenet-A");
        assert_eq!(normalise_hebrew("iw"), "he");
        assert_eq!(normalise_hebrew("he-IL"), "he-IL");
        assert_eq!(normalise_hebrew("iwx"), "iwx");
    }

    #[test]
    fn a_voice_names_its_language() {
        assert_eq!(voice_language("he-IL-Standard-B").as_deref(), Some("he-IL"));
        assert_eq!(voice_language("custom"), None);
    }
}
