//! The fake providers speak the documented formats (PROTOCOLS.md), checked
//! both by hand-parsing their answers and by pointing the service's real
//! clients at them.

use std::time::Duration;

use agentlocator_callsim::FakeLatencies;
use agentlocator_callsim::fake::{Script, serve, serve_scripted};
use base64::Engine as _;
use futures::StreamExt as _;
use providers::{
    AudioInput, ChatDelta, ChatMessage, GoogleTextToSpeech, GoogleTtsConfig, LanguageModel as _,
    OpenAiChat, OpenAiConfig, OpenAiSpeechToText, ServiceAccountKey, SpeechToText as _,
    TextToSpeech as _, ToolCall, ToolSpec, TranscribeOptions,
};
use serde_json::{Value, json};
use tokio::time::Instant;

async fn spawn(lat: FakeLatencies) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, lat));
    format!("http://{addr}")
}

fn is_hebrew(text: &str) -> bool {
    text.chars().any(|c| ('\u{05D0}'..='\u{05EA}').contains(&c))
}

/// A WAV file part holding `mulaw`.
fn wav_part(mulaw: &[u8]) -> reqwest::multipart::Part {
    let wav = voice::wav::write_mulaw_8k(mulaw);
    reqwest::multipart::Part::bytes(wav)
        .file_name("audio.wav")
        .mime_str("audio/wav")
        .unwrap()
}

/// The fake's transcription of `mulaw`, as Whisper's JSON `text`.
async fn transcribed(base: &str, mulaw: &[u8]) -> String {
    let form = reqwest::multipart::Form::new()
        .part("file", wav_part(mulaw))
        .text("model", "whisper-1")
        .text("language", "he")
        .text("response_format", "json");
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/audio/transcriptions"))
        .bearer_auth("sk-fake")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn transcription_answers_hebrew_json_text_after_the_stt_latency_the_same_for_the_same_utterance()
 {
    let base = spawn(FakeLatencies {
        stt_ms: 150,
        ..FakeLatencies::instant()
    })
    .await;
    let mut texts = Vec::new();
    // An utterance, the same heard again with more of it (a guess, then
    // the whole turn), the same audio from another call playing the same
    // recording, and another utterance.
    let one = [0xFF_u8; 8_000];
    let more: Vec<u8> = one.iter().copied().chain([0x7F; 1_600]).collect();
    for audio in [&one[..], &more, &one, &[0x7F; 8_000]] {
        let started = Instant::now();
        let text = transcribed(&base, audio).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(is_hebrew(&text), "{text}");
        texts.push(text);
    }
    assert_eq!(texts[0], texts[1], "the same utterance says the same words");
    assert_ne!(texts[1], texts[2], "another caller says the next line");
    assert_ne!(
        texts[2], texts[3],
        "successive utterances say different things"
    );
}

#[tokio::test]
async fn a_fake_given_the_callers_lines_transcribes_them_in_turn_and_round_again() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let lines = ["אפשר לדבר עם מישהו?", "תודה, להתראות"];
    let script = Script {
        caller: lines.map(str::to_owned).to_vec(),
        ..Default::default()
    };
    tokio::spawn(serve_scripted(listener, FakeLatencies::instant(), script));
    let mut said = Vec::new();
    // Three utterances that begin differently: three lines, not one.
    for first in [0x10_u8, 0x20, 0x30] {
        said.push(transcribed(&base, &[first; 4_000]).await);
    }
    assert_eq!(said, [lines[0], lines[1], lines[0]]);
}

#[tokio::test]
async fn the_first_of_every_three_transcriptions_stalls_when_the_fake_is_told_to() {
    let base = spawn(FakeLatencies {
        stt_stall_every: 3,
        stall_ms: 2_000,
        ..FakeLatencies::instant()
    })
    .await;
    let http = reqwest::Client::new();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let form = reqwest::multipart::Form::new().part("file", wav_part(&[0xFF; 800]));
        let started = Instant::now();
        let response = http
            .post(format!("{base}/v1/audio/transcriptions"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        stalled.push(started.elapsed() >= Duration::from_millis(2_000));
    }
    assert_eq!(stalled, [true, false, false, true]);
}

#[tokio::test]
async fn the_first_of_every_two_chat_streams_and_syntheses_stalls_when_the_fake_is_told_to() {
    let base = spawn(FakeLatencies {
        llm_stall_every: 2,
        tts_stall_every: 2,
        stall_ms: 1_000,
        ..FakeLatencies::instant()
    })
    .await;
    let http = reqwest::Client::new();
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let response = http
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({
                "model": "gpt-4o-mini",
                "stream": true,
                "messages": [{"role": "user", "content": "מתי אתם פתוחים?"}],
            }))
            .send()
            .await
            .unwrap();
        // A stuck model: the headers at once, the first token late.
        let headers_at = started.elapsed();
        let first = response.bytes_stream().next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        let stall = Duration::from_millis(1_000);
        stalled.push((headers_at >= stall, started.elapsed() >= stall));
    }
    assert_eq!(stalled, [(false, true), (false, false), (false, true)]);

    let mut stalled = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let response = http
            .post(format!("{base}/v1/text:synthesize"))
            .bearer_auth("any-token-at-all")
            .json(&json!({"input": {"text": "שלום"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        stalled.push(started.elapsed() >= Duration::from_millis(1_000));
    }
    assert_eq!(stalled, [true, false, true]);
}

#[tokio::test]
async fn a_transcription_without_a_file_part_gets_openais_error_envelope() {
    let base = spawn(FakeLatencies::instant()).await;
    let form = reqwest::multipart::Form::new().text("model", "whisper-1");
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn streamed_chat_sends_sse_deltas_at_the_configured_pace_and_ends_with_done() {
    let base = spawn(FakeLatencies {
        llm_ttft_ms: 200,
        llm_tokens_per_s: 50.0,
        ..FakeLatencies::instant()
    })
    .await;
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({
            "model": "gpt-4o-mini",
            "stream": true,
            "messages": [
                {"role": "system", "content": "את פקידת קבלה"},
                {"role": "user", "content": "שלום, אני רוצה לקבוע תור"},
            ],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let mut body = String::new();
    let mut first_data_at = None;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        first_data_at.get_or_insert_with(|| started.elapsed());
        body.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let total = started.elapsed();

    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .expect("every event is a data line")
        })
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let mut text = String::new();
    let mut deltas = 0;
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        if let Some(content) = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            text.push_str(content);
            deltas += 1;
        }
    }
    assert!(is_hebrew(&text), "{text}");
    let sentences = text.matches(['.', '?', '!']).count();
    assert!(
        (2..=3).contains(&sentences),
        "{sentences} sentences: {text}"
    );
    assert_eq!(deltas, text.split(' ').count(), "one word per delta");

    assert!(first_data_at.unwrap() >= Duration::from_millis(200));
    let paced = Duration::from_millis(200 + 20 * (deltas as u64 - 1));
    assert!(total >= paced, "{total:?} for {deltas} tokens");
    assert!(total < paced + Duration::from_millis(500), "{total:?}");
}

#[tokio::test]
async fn a_non_streamed_chat_is_one_json_completion() {
    let base = spawn(FakeLatencies::instant()).await;
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "שלום"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert!(is_hebrew(
        body["choices"][0]["message"]["content"].as_str().unwrap()
    ));
}

#[tokio::test]
async fn a_fake_given_an_answer_says_it_at_every_turn() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = "שלום, תודה שפנית אלינו. מה נוח לך?";
    let script = Script {
        answer: Some(answer.into()),
        ..Default::default()
    };
    tokio::spawn(serve_scripted(listener, FakeLatencies::instant(), script));
    let mut cfg = OpenAiConfig::new("sk-fake".to_owned().into(), "gpt-4o-mini", "whisper-1");
    cfg.base_url = format!("{base}/v1");
    let chat = OpenAiChat::new(cfg, reqwest::Client::new());
    let mut messages = vec![ChatMessage::user("שלום")];
    for _ in 0..2 {
        let (said, _) = ask(&chat, messages.clone()).await;
        assert_eq!(said, answer);
        messages.push(ChatMessage::assistant(said));
        messages.push(ChatMessage::user("ומה עוד?"));
    }
}

#[tokio::test]
async fn synthesis_is_a_mulaw_wav_of_about_sixty_ms_per_character_and_not_silence() {
    let base = spawn(FakeLatencies {
        tts_ms: 100,
        ..FakeLatencies::instant()
    })
    .await;
    let text = "שלום, במה אוכל לעזור?";
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/text:synthesize"))
        .bearer_auth("any-token-at-all")
        .json(&json!({
            "input": {"text": text},
            "voice": {"languageCode": "he-IL", "name": "he-IL-Wavenet-A"},
            "audioConfig": {"audioEncoding": "MULAW", "sampleRateHertz": 8000},
        }))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let wav = base64::engine::general_purpose::STANDARD
        .decode(body["audioContent"].as_str().unwrap())
        .unwrap();
    assert_eq!(&wav[..4], b"RIFF", "MULAW content starts with a WAV header");
    let info = voice::wav::parse(&wav).unwrap();
    assert_eq!(info.format, voice::WavFormat::MuLaw);
    assert_eq!((info.sample_rate, info.channels), (8_000, 1));
    assert_eq!(info.data.len(), text.chars().count() * 60 * 8);
    let loud = info
        .data
        .chunks(160)
        .filter(|f| crate::fake_service::rms(f) >= 500.0)
        .count();
    assert_eq!(loud, info.data.len() / 160, "every frame is audible");
}

#[tokio::test]
async fn synthesis_without_a_bearer_token_is_unauthenticated() {
    let base = spawn(FakeLatencies::instant()).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/text:synthesize"))
        .json(&json!({"input": {"text": "שלום"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_token_endpoint_trades_a_jwt_assertion_for_a_bearer_token() {
    let base = spawn(FakeLatencies::instant()).await;
    let http = reqwest::Client::new();
    let body: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "aGVhZGVy.Y2xhaW1z.c2ln"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"})
    );
    let refused = http
        .post(format!("{base}/token"))
        .form(&[("grant_type", "password"), ("assertion", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn the_written_credentials_let_the_real_google_client_synthesise_from_the_fake() {
    let base = spawn(FakeLatencies::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("google.json");
    agentlocator_callsim::write_google_credentials(&path, &format!("{base}/token")).unwrap();

    let key = ServiceAccountKey::from_file(&path).unwrap();
    assert_eq!(key.token_uri, format!("{base}/token"));
    assert!(key.private_key_id.is_some());
    let mut cfg = GoogleTtsConfig::new(key);
    cfg.base_url = base;
    let tts = GoogleTextToSpeech::new(cfg, reqwest::Client::new()).unwrap();
    let audio = tts.synthesize("שלום", None).await.unwrap();
    assert_eq!(
        audio.len(),
        4 * 60 * 8,
        "the client unwrapped the WAV header"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a private key file is private");
    }
}

#[tokio::test]
async fn the_real_openai_clients_understand_the_fake() {
    let base = spawn(FakeLatencies::instant()).await;
    let mut cfg = OpenAiConfig::new("sk-fake".to_owned().into(), "gpt-4o-mini", "whisper-1");
    cfg.base_url = format!("{base}/v1");

    let stt = OpenAiSpeechToText::new(cfg.clone(), reqwest::Client::new());
    let text = stt
        .transcribe(
            AudioInput::mulaw_8k(vec![0xFF_u8; 8_000]),
            TranscribeOptions::default(),
        )
        .await
        .unwrap();
    assert!(is_hebrew(&text), "{text}");

    let chat = OpenAiChat::new(cfg, reqwest::Client::new());
    let deltas: Vec<String> = chat
        .stream_chat(vec![
            ChatMessage::system("פקידת קבלה"),
            ChatMessage::user(text),
        ])
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert!(deltas.len() > 5, "streamed, not whole: {deltas:?}");
    assert!(is_hebrew(&deltas.concat()));
}

#[tokio::test]
async fn the_real_outcome_client_gets_a_valid_hebrew_outcome_from_the_fake() {
    let base = spawn(FakeLatencies::instant()).await;
    let mut cfg = OpenAiConfig::new("sk-fake".to_owned().into(), "gpt-4o-mini", "whisper-1");
    cfg.base_url = format!("{base}/v1");
    let model = OpenAiChat::new(cfg, reqwest::Client::new());
    let outcome = providers::OutcomeModel::call_outcome(
        &model,
        providers::OutcomeRequest {
            categories: vec!["קביעת תור".into()],
            conversation: providers::Conversation::Turns(vec![providers::ConversationLine {
                speaker: providers::Speaker::Caller,
                text: "שלום, זה דני, אני צריך קביעת תור ליום שלישי.".into(),
            }]),
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.intent, "קביעת תור");
    assert!(is_hebrew(&outcome.summary) && outcome.summary.contains("יום שלישי"));
}

fn receptionist_tools() -> Vec<ToolSpec> {
    let tool = |name: &str, description: &str| ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters: json!({"type": "object", "properties": {}}),
    };
    vec![
        tool("transfer_to_human", "מעביר את השיחה לנציג אנושי"),
        tool("end_call", "מסיים את השיחה"),
        tool("business_hours", "שעות הפתיחה של העסק"),
        tool("take_message", "רושם הודעה לבעל העסק"),
    ]
}

async fn fake_chat() -> OpenAiChat {
    let base = spawn(FakeLatencies::instant()).await;
    let mut cfg = OpenAiConfig::new("sk-fake".to_owned().into(), "gpt-4o-mini", "whisper-1");
    cfg.base_url = format!("{base}/v1");
    OpenAiChat::new(cfg, reqwest::Client::new())
}

async fn ask(chat: &OpenAiChat, messages: Vec<ChatMessage>) -> (String, Vec<ToolCall>) {
    let deltas: Vec<ChatDelta> = chat
        .stream_chat_tools(messages, receptionist_tools())
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let mut text = String::new();
    let mut calls = Vec::new();
    for delta in deltas {
        match delta {
            ChatDelta::Text(t) => text.push_str(&t),
            ChatDelta::ToolCall(call) => calls.push(call),
        }
    }
    (text, calls)
}

#[tokio::test]
async fn a_caller_asking_for_a_person_gets_a_transfer_call_from_the_fake() {
    let chat = fake_chat().await;
    let (text, calls) = ask(
        &chat,
        vec![
            ChatMessage::system("פקידת קבלה"),
            ChatMessage::user("אפשר לדבר עם נציג בבקשה?"),
        ],
    )
    .await;
    assert!(is_hebrew(&text), "{text}");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].name, "transfer_to_human");
    let arguments: Value = serde_json::from_str(&calls[0].arguments).unwrap();
    assert!(
        is_hebrew(arguments["reason"].as_str().unwrap()),
        "{arguments}"
    );
}

#[tokio::test]
async fn after_the_hours_tool_answers_the_fake_says_its_summary() {
    let chat = fake_chat().await;
    let mut messages = vec![ChatMessage::user("מתי אתם פתוחים מחר?")];
    let (_, calls) = ask(&chat, messages.clone()).await;
    assert_eq!(calls[0].name, "business_hours");
    messages.push(ChatMessage::assistant_tool_calls("", calls.clone()));
    messages.push(ChatMessage::tool_result(
        calls[0].id.clone(),
        json!({"summary": "מחר אנחנו פתוחים משמונה עד ארבע."}).to_string(),
    ));
    let (text, more) = ask(&chat, messages).await;
    assert!(more.is_empty(), "{more:?}");
    assert_eq!(text, "מחר אנחנו פתוחים משמונה עד ארבע.");
}

#[tokio::test]
async fn words_that_ask_for_no_tool_get_the_ordinary_answer() {
    let chat = fake_chat().await;
    let (text, calls) = ask(&chat, vec![ChatMessage::user("אני רוצה לקבוע תור")]).await;
    assert!(calls.is_empty(), "{calls:?}");
    assert!(is_hebrew(&text), "{text}");
}
