//! Hebrew transcription followed by a gibberish filter. The filter is passed
//! in (the service wires `voice::gibberish::clean_transcript`) so this crate
//! stays independent of `crates/voice`.

use crate::error::ProviderError;
use crate::traits::SpeechToText;
use crate::types::{AudioInput, TranscribeOptions};

/// Transcribes `audio` as Hebrew and runs the result through `filter`.
///
/// `Ok(None)` means "nothing worth answering": empty text, or text the filter
/// rejected (Whisper's subtitle-credit hallucinations on silence, filler).
/// Provider failures stay errors so the caller can tell silence from outage.
pub async fn transcribe_he(
    stt: &dyn SpeechToText,
    audio: AudioInput,
    filter: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ProviderError> {
    let opts = TranscribeOptions {
        language: "he".to_owned(),
        prompt: None,
    };
    let text = stt.transcribe(audio, opts).await?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(filter(text))
}
