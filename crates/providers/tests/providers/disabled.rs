//! The degraded-mode stand-ins, used through the same `Arc<dyn …>` handles
//! the service holds.

use std::sync::Arc;

use agentlocator_providers::{
    AudioInput, ChatMessage, DISABLED_REPLY_HE, DisabledLanguageModel, DisabledOutcomeModel,
    DisabledRecordingFetcher, DisabledSpeechToText, DisabledTextToSpeech, LanguageModel,
    OutcomeModel, ProviderError, RecordingFetcher, SpeechToText, TextToSpeech, TranscribeOptions,
};

use crate::helpers::collect;

#[tokio::test]
async fn the_disabled_language_model_says_the_fixed_hebrew_line_as_one_delta() {
    let llm: Arc<dyn LanguageModel> = Arc::new(DisabledLanguageModel::new());
    assert!(!llm.is_enabled());
    let stream = llm
        .stream_chat(vec![ChatMessage::user("שלום")])
        .await
        .unwrap();
    let (texts, err) = collect(stream).await;
    assert!(err.is_none());
    assert_eq!(texts, vec![DISABLED_REPLY_HE.to_owned()]);
    assert_eq!(DISABLED_REPLY_HE, "כרגע אינני פנוי");
}

#[tokio::test]
async fn the_disabled_voice_is_300_ms_of_mulaw_silence() {
    let tts: Arc<dyn TextToSpeech> = Arc::new(DisabledTextToSpeech::new());
    assert!(!tts.is_enabled());
    for audio in [
        tts.synthesize("שלום", None).await.unwrap(),
        tts.synthesize_cached("שלום", Some("he-IL-Wavenet-B"))
            .await
            .unwrap(),
    ] {
        assert_eq!(audio.len(), 2400);
        assert!(audio.iter().all(|&b| b == 0xFF));
    }
}

#[tokio::test]
async fn the_disabled_transcriber_and_fetcher_answer_disabled() {
    let stt: Arc<dyn SpeechToText> = Arc::new(DisabledSpeechToText::new());
    let rec: Arc<dyn RecordingFetcher> = Arc::new(DisabledRecordingFetcher::new());
    assert!(!stt.is_enabled() && !rec.is_enabled());
    let e = stt
        .transcribe(AudioInput::wav(vec![0; 4]), TranscribeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Disabled));
    assert_eq!(e.kind(), "disabled");
    let e = rec.fetch("https://api.twilio.com/x").await.unwrap_err();
    assert!(matches!(e, ProviderError::Disabled));
}

#[test]
fn every_provider_has_a_distinct_name_for_metrics() {
    let names = [
        DisabledLanguageModel::new().name(),
        DisabledTextToSpeech::new().name(),
        SpeechToText::name(&DisabledSpeechToText::new()),
        DisabledRecordingFetcher::new().name(),
        DisabledOutcomeModel::new().name(),
    ];
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
}
