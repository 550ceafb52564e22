//! Transcription against fake OpenAI-compatible servers.

use std::time::Duration;

use agentlocator_providers::{
    AudioInput, OpenAiSpeechToText, ProviderError, SpeechToText, TranscribeOptions,
};
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{http, openai_cfg};

async fn stt_with(answer: ResponseTemplate) -> (MockServer, OpenAiSpeechToText) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .and(header_is("authorization", "Bearer sk-test-key"))
        .respond_with(answer)
        .mount(&server)
        .await;
    let stt = OpenAiSpeechToText::new(openai_cfg(&format!("{}/v1", server.uri())), http());
    (server, stt)
}

fn ok_text(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({ "text": text }))
}

/// The value of a multipart text field, read from the raw body.
fn form_field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"\r\n\r\n");
    let start = body.find(&marker)? + marker.len();
    let end = start + body[start..].find("\r\n")?;
    Some(body[start..end].to_owned())
}

#[tokio::test]
async fn raw_mulaw_is_uploaded_as_a_named_wav_file_with_hebrew_settings() {
    let (server, stt) = stt_with(ok_text("שלום, אני רוצה לקבוע תור")).await;
    let text = stt
        .transcribe(
            AudioInput::mulaw_8k(vec![0xFFu8; 1600]),
            TranscribeOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(text, "שלום, אני רוצה לקבוע תור");

    let req = &server.received_requests().await.unwrap()[0];
    let content_type = req.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("multipart/form-data"));
    let body = String::from_utf8_lossy(&req.body);
    assert!(
        body.contains("name=\"file\"; filename=\"audio.wav\""),
        "{body}"
    );
    assert!(body.contains("Content-Type: audio/wav"));
    assert_eq!(
        form_field(&body, "model").as_deref(),
        Some("test-stt-model")
    );
    assert_eq!(form_field(&body, "language").as_deref(), Some("he"));
    assert_eq!(
        form_field(&body, "response_format").as_deref(),
        Some("json")
    );
    assert_eq!(form_field(&body, "temperature").as_deref(), Some("0"));
    // The uploaded file is a mu-law WAV: RIFF/WAVE, format tag 7, 8 kHz.
    let riff = req.body.windows(4).position(|w| w == b"RIFF").unwrap();
    let wav = &req.body[riff..];
    assert_eq!(&wav[8..12], b"WAVE");
    assert_eq!(u16::from_le_bytes([wav[20], wav[21]]), 7);
    assert_eq!(
        u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
        8000
    );
}

#[tokio::test]
async fn an_mp3_is_uploaded_unchanged_with_an_mp3_name_and_the_prompt() {
    let (server, stt) = stt_with(ok_text("כן")).await;
    let opts = TranscribeOptions {
        prompt: Some("מספרה אצל דני".into()),
        ..TranscribeOptions::default()
    };
    stt.transcribe(AudioInput::mp3(&b"ID3fake-mp3"[..]), opts)
        .await
        .unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&req.body);
    assert!(body.contains("filename=\"audio.mp3\""));
    assert!(body.contains("ID3fake-mp3"));
    assert_eq!(
        form_field(&body, "prompt").as_deref(),
        Some("מספרה אצל דני")
    );
}

#[tokio::test]
async fn error_statuses_map_to_typed_errors() {
    let cases: Vec<(ResponseTemplate, &str)> = vec![
        (ResponseTemplate::new(401), "unauthorized"),
        (
            ResponseTemplate::new(429).insert_header("retry-after", "2"),
            "rate_limited",
        ),
        (ResponseTemplate::new(500), "server"),
        (ResponseTemplate::new(503), "server"),
        (
            ResponseTemplate::new(400).set_body_json(
                serde_json::json!({"error": {"message": "Invalid file format.", "type": "invalid_request_error"}}),
            ),
            "http",
        ),
    ];
    for (answer, kind) in cases {
        let (_server, stt) = stt_with(answer).await;
        let err = stt
            .transcribe(AudioInput::wav(vec![0u8; 10]), TranscribeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{err:?}");
        if let ProviderError::RateLimited { retry_after } = err {
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
        }
    }
}

#[tokio::test]
async fn a_slow_transcription_times_out_at_the_configured_deadline() {
    let (_server, stt) = stt_with(ok_text("late").set_delay(Duration::from_secs(3))).await;
    let started = std::time::Instant::now();
    let err = stt
        .transcribe(AudioInput::wav(vec![0u8; 10]), TranscribeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_answer_without_text_is_malformed() {
    for answer in [
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"transcript": "x"})),
        ResponseTemplate::new(200).set_body_string("not json"),
    ] {
        let (_server, stt) = stt_with(answer).await;
        let err = stt
            .transcribe(AudioInput::wav(vec![0u8; 10]), TranscribeOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
    }
}

#[tokio::test]
async fn extra_fields_from_other_servers_are_ignored() {
    let (_server, stt) = stt_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "text": "לא", "language": "hebrew", "duration": 0.8, "segments": []
    })))
    .await;
    let text = stt
        .transcribe(AudioInput::wav(vec![0u8; 10]), TranscribeOptions::default())
        .await
        .unwrap();
    assert_eq!(text, "לא");
}
