//! `transcribe_he`: Hebrew transcription plus the injected gibberish filter.

use std::sync::Mutex;

use agentlocator_providers::{
    AudioInput, DisabledSpeechToText, OpenAiSpeechToText, ProviderError, SpeechToText,
    TranscribeOptions, transcribe_he,
};
use async_trait::async_trait;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{http, openai_cfg};

/// A stand-in for `voice::gibberish::clean_transcript`: drops the subtitle
/// credit Whisper invents on silence, keeps everything else.
fn filter(text: &str) -> Option<String> {
    (!text.contains("תודה שצפיתם")).then(|| text.to_owned())
}

struct FixedStt {
    answer: String,
    seen: Mutex<Vec<TranscribeOptions>>,
}

#[async_trait]
impl SpeechToText for FixedStt {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn is_enabled(&self) -> bool {
        true
    }
    async fn transcribe(
        &self,
        _audio: AudioInput,
        opts: TranscribeOptions,
    ) -> Result<String, ProviderError> {
        self.seen.lock().unwrap().push(opts);
        Ok(self.answer.clone())
    }
}

fn fixed(answer: &str) -> FixedStt {
    FixedStt {
        answer: answer.into(),
        seen: Mutex::new(Vec::new()),
    }
}

#[tokio::test]
async fn a_real_short_answer_survives_and_is_trimmed() {
    let stt = fixed("  כן \n");
    let got = transcribe_he(&stt, AudioInput::mulaw_8k(vec![0xFF; 800]), filter)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("כן"));
    assert_eq!(stt.seen.lock().unwrap()[0].language, "he");
}

#[tokio::test]
async fn a_hallucinated_credit_is_dropped_by_the_filter() {
    let stt = fixed("תודה שצפיתם!");
    let got = transcribe_he(&stt, AudioInput::mulaw_8k(vec![0xFF; 800]), filter)
        .await
        .unwrap();
    assert_eq!(got, None);
}

#[tokio::test]
async fn empty_text_is_none_without_consulting_the_filter() {
    let stt = fixed("   ");
    let got = transcribe_he(
        &stt,
        AudioInput::wav(vec![0; 4]),
        |_: &str| -> Option<String> { panic!("filter must not see empty text") },
    )
    .await
    .unwrap();
    assert_eq!(got, None);
}

#[tokio::test]
async fn a_disabled_transcriber_is_an_error_not_silence() {
    let err = transcribe_he(
        &DisabledSpeechToText::new(),
        AudioInput::wav(vec![0; 4]),
        filter,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProviderError::Disabled));
}

#[tokio::test]
async fn the_openai_client_is_asked_for_hebrew_end_to_end() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        // The body holds binary audio, so match on a lossy view of it.
        .and(|req: &wiremock::Request| {
            String::from_utf8_lossy(&req.body).contains("name=\"language\"\r\n\r\nhe\r\n")
        })
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"text": "מתי אתם פתוחים?"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let stt = OpenAiSpeechToText::new(openai_cfg(&format!("{}/v1", server.uri())), http());
    let got = transcribe_he(&stt, AudioInput::mulaw_8k(vec![0xFF; 800]), filter)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("מתי אתם פתוחים?"));
}
