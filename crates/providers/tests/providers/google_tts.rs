//! Google TTS against a fake token endpoint (which verifies the RS256 JWT)
//! and a fake `text:synthesize`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentlocator_providers::config::DEFAULT_GOOGLE_VOICE;
use agentlocator_providers::{
    GoogleTextToSpeech, GoogleTtsConfig, ProviderError, ServiceAccountKey, TextToSpeech,
};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::http;

/// Test-only key, generated for these tests; it signs nothing real.
const TEST_KEY_PEM: &str = include_str!("../fixtures/test-only-service-account.pem");
const CLIENT_EMAIL: &str = "agentlocator-tts@test-project.iam.gserviceaccount.com";

fn public_key_der() -> Vec<u8> {
    let b64: String = TEST_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(b64).unwrap();
    RsaKeyPair::from_pkcs8(&der)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec()
}

fn key_json(token_uri: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "kid-1",
        "private_key": TEST_KEY_PEM,
        "client_email": CLIENT_EMAIL,
        "token_uri": token_uri,
    }))
    .unwrap()
}

/// The fake token endpoint: checks the assertion like Google would and
/// hands out numbered tokens.
struct TokenEndpoint {
    token_uri: String,
    expires_in: u64,
    issued: Arc<AtomicUsize>,
}

impl TokenEndpoint {
    fn check(&self, req: &Request) -> Result<(), String> {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let field = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .ok_or(format!("missing {k}"))
        };
        if field("grant_type")? != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return Err("wrong grant_type".into());
        }
        let jwt = field("assertion")?;
        let parts: Vec<&str> = jwt.split('.').collect();
        let [h, c, s] = parts[..] else {
            return Err("not three parts".into());
        };
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der())
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "bad signature".to_string())?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).unwrap()).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        let checks = [
            (header["alg"] == "RS256", "alg"),
            (header["kid"] == "kid-1", "kid"),
            (claims["iss"] == CLIENT_EMAIL, "iss"),
            (
                claims["scope"] == "https://www.googleapis.com/auth/cloud-platform",
                "scope",
            ),
            (claims["aud"] == self.token_uri.as_str(), "aud"),
            (iat.abs_diff(now) < 60, "iat"),
            (exp > iat && exp - iat <= 3600, "exp"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(format!("bad claim {what}")),
            None => Ok(()),
        }
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match self.check(req) {
            Ok(()) => {
                let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
                ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": format!("ya29.token-{n}"),
                    "expires_in": self.expires_in,
                    "token_type": "Bearer",
                }))
            }
            Err(why) => ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_grant", "error_description": why})),
        }
    }
}

/// A WAV the way Google returns MULAW: RIFF header, `fmt `, a `LIST`
/// chunk and an odd-sized chunk before `data`.
fn google_wav(samples: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut chunk = |id: &[u8], data: &[u8]| {
        body.extend_from_slice(id);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    };
    chunk(
        b"fmt ",
        &[
            7, 0, 1, 0, 0x40, 0x1F, 0, 0, 0x40, 0x1F, 0, 0, 1, 0, 8, 0, 0, 0,
        ],
    );
    chunk(b"LIST", b"INFOISFT\x0e\x00\x00\x00Lavf58.76.100\x00");
    chunk(b"odd!", b"abc");
    chunk(b"data", samples);
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVE");
    wav.extend_from_slice(&body);
    wav
}

/// Answers each synthesize request with a WAV whose samples are the UTF-8
/// bytes of the requested text, so tests can see what was asked, in order.
struct SynthEndpoint;

impl Respond for SynthEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let text = body["input"]["text"].as_str().unwrap();
        ResponseTemplate::new(200)
            .set_body_json(json!({"audioContent": STANDARD.encode(google_wav(text.as_bytes()))}))
    }
}

struct Fake {
    server: MockServer,
    tts: GoogleTextToSpeech,
    issued: Arc<AtomicUsize>,
}

impl Fake {
    async fn synth_requests(&self) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/v1/text:synthesize")
            .collect()
    }
}

async fn fake_with(expires_in: u64, synth: impl Respond + 'static) -> Fake {
    let server = MockServer::start().await;
    let token_uri = format!("{}/token", server.uri());
    let issued = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(TokenEndpoint {
            token_uri: token_uri.clone(),
            expires_in,
            issued: issued.clone(),
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/text:synthesize"))
        .respond_with(synth)
        .mount(&server)
        .await;
    let key = ServiceAccountKey::from_json(&key_json(&token_uri)).unwrap();
    let mut cfg = GoogleTtsConfig::new(key);
    cfg.base_url = server.uri();
    let tts = GoogleTextToSpeech::new(cfg, http())
        .unwrap()
        .with_request_timeout(Duration::from_millis(500));
    Fake {
        server,
        tts,
        issued,
    }
}

#[tokio::test]
async fn synthesis_returns_only_the_data_chunk_as_mulaw_8k() {
    let fake = fake_with(3600, SynthEndpoint).await;
    let audio = fake
        .tts
        .synthesize("שלום, במה אפשר לעזור?", None)
        .await
        .unwrap();
    assert_eq!(&audio[..], "שלום, במה אפשר לעזור?".as_bytes());

    let req = &fake.synth_requests().await[0];
    assert_eq!(
        req.headers.get("authorization").unwrap(),
        "Bearer ya29.token-1"
    );
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        json!({
            "input": {"text": "שלום, במה אפשר לעזור?"},
            "voice": {"languageCode": "he-IL", "name": DEFAULT_GOOGLE_VOICE},
            "audioConfig": {"audioEncoding": "MULAW", "sampleRateHertz": 8000},
        })
    );
}

#[tokio::test]
async fn two_syntheses_share_one_verified_token() {
    let fake = fake_with(3600, SynthEndpoint).await;
    fake.tts.synthesize("אחת", None).await.unwrap();
    fake.tts.synthesize("שתיים", None).await.unwrap();
    assert_eq!(fake.issued.load(Ordering::SeqCst), 1);
    for req in fake.synth_requests().await {
        assert_eq!(
            req.headers.get("authorization").unwrap(),
            "Bearer ya29.token-1"
        );
    }
}

#[tokio::test]
async fn concurrent_first_calls_make_one_token_request() {
    let fake = Arc::new(fake_with(3600, SynthEndpoint).await);
    let calls = (0..6).map(|i| {
        let fake = fake.clone();
        tokio::spawn(async move { fake.tts.synthesize(&format!("משפט {i}"), None).await })
    });
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(fake.issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_close_to_expiry_is_refreshed_before_the_next_synthesis() {
    // 200 s left is inside the 5-minute refresh margin: never reuse it.
    let fake = fake_with(200, SynthEndpoint).await;
    fake.tts.synthesize("אחת", None).await.unwrap();
    fake.tts.synthesize("שתיים", None).await.unwrap();
    assert_eq!(fake.issued.load(Ordering::SeqCst), 2);
    let reqs = fake.synth_requests().await;
    assert_eq!(
        reqs[1].headers.get("authorization").unwrap(),
        "Bearer ya29.token-2"
    );
}

#[tokio::test]
async fn text_over_the_input_limit_is_split_at_sentences_and_concatenated() {
    let fake = fake_with(3600, SynthEndpoint).await;
    let sentence = "זהו משפט בעברית שחוזר על עצמו כדי לעבור את המגבלה. ";
    let text = sentence.repeat(150);
    assert!(text.len() > 5000);
    let audio = fake.tts.synthesize(&text, None).await.unwrap();

    let reqs = fake.synth_requests().await;
    assert!(
        reqs.len() >= 2,
        "expected several requests, got {}",
        reqs.len()
    );
    let mut sent = Vec::new();
    for r in &reqs {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let piece = body["input"]["text"].as_str().unwrap().to_owned();
        assert!(piece.len() <= 5000);
        assert!(piece.ends_with('.'), "pieces end at a sentence");
        sent.push(piece);
    }
    // Audio is the pieces' audio in order, with nothing lost between them.
    assert_eq!(&audio[..], sent.concat().as_bytes());
    assert_eq!(sent.join(" "), text.trim());
}

#[tokio::test]
async fn cached_phrases_are_synthesized_once_per_voice() {
    let fake = fake_with(3600, SynthEndpoint).await;
    let a = fake
        .tts
        .synthesize_cached("ברוכים הבאים", None)
        .await
        .unwrap();
    let b = fake
        .tts
        .synthesize_cached("ברוכים הבאים", None)
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(fake.synth_requests().await.len(), 1);
    fake.tts
        .synthesize_cached("ברוכים הבאים", Some("he-IL-Standard-B"))
        .await
        .unwrap();
    assert_eq!(fake.synth_requests().await.len(), 2);
}

#[tokio::test]
async fn a_legacy_iw_voice_is_sent_as_he() {
    let fake = fake_with(3600, SynthEndpoint).await;
    fake.tts
        .synthesize("שלום", Some("iw-IL-Standard-B"))
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&fake.synth_requests().await[0].body).unwrap();
    assert_eq!(
        body["voice"],
        json!({"languageCode": "he-IL", "name": "he-IL-Standard-B"})
    );
}

#[tokio::test]
async fn a_401_from_the_api_drops_the_cached_token() {
    let fake = fake_with(3600, ResponseTemplate::new(401)).await;
    let err = fake.tts.synthesize("שלום", None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized), "{err:?}");
    let _ = fake.tts.synthesize("שלום", None).await;
    assert_eq!(fake.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_typed() {
    let fake = fake_with(
        3600,
        ResponseTemplate::new(429).insert_header("retry-after", "3"),
    )
    .await;
    match fake.tts.synthesize("שלום", None).await.unwrap_err() {
        ProviderError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("{other:?}"),
    }
    let fake = fake_with(3600, ResponseTemplate::new(503)).await;
    let err = fake.tts.synthesize("שלום", None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Server { status: 503 }));
}

#[tokio::test]
async fn a_rejected_assertion_is_unauthorized_and_no_synthesis_is_attempted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    let key = ServiceAccountKey::from_json(&key_json(&format!("{}/token", server.uri()))).unwrap();
    let mut cfg = GoogleTtsConfig::new(key);
    cfg.base_url = server.uri();
    let tts = GoogleTextToSpeech::new(cfg, http()).unwrap();
    let err = tts.synthesize("שלום", None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_answers_are_reported_as_malformed() {
    for answer in [
        ResponseTemplate::new(200).set_body_json(json!({"audioContent": "%%% not base64"})),
        ResponseTemplate::new(200).set_body_json(json!({"audio": "AAAA"})),
        ResponseTemplate::new(200)
            .set_body_json(json!({"audioContent": STANDARD.encode(b"RIFF\x04\x00\x00\x00WAVE")})),
    ] {
        let fake = fake_with(3600, answer).await;
        let err = fake.tts.synthesize("שלום", None).await.unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_slow_synthesis_times_out() {
    let fake = fake_with(
        3600,
        ResponseTemplate::new(200)
            .set_body_json(json!({"audioContent": ""}))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let started = std::time::Instant::now();
    let err = fake.tts.synthesize("שלום", None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_key_file_is_read_and_a_broken_one_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("sa.json");
    std::fs::write(&good, key_json("http://127.0.0.1:1/token")).unwrap();
    let key = ServiceAccountKey::from_file(&good).unwrap();
    assert_eq!(key.client_email, CLIENT_EMAIL);
    assert!(!format!("{key:?}").contains("BEGIN PRIVATE KEY"));

    let bad = dir.path().join("broken.json");
    std::fs::write(
        &bad,
        b"{\"client_email\": \"x\", \"private_key\": \"nope\"}",
    )
    .unwrap();
    let err = ServiceAccountKey::from_file(&bad).unwrap_err().to_string();
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("PEM"), "{err}");

    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, b"garbage").unwrap();
    let err = ServiceAccountKey::from_file(&not_json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not.json"), "{err}");
}

#[test]
fn a_client_given_a_key_file_reads_it_when_built_and_names_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("sa.json");
    std::fs::write(&good, key_json("http://127.0.0.1:1/token")).unwrap();
    GoogleTextToSpeech::new(GoogleTtsConfig::new(good), http()).unwrap();

    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, b"garbage").unwrap();
    let err = GoogleTextToSpeech::new(GoogleTtsConfig::new(bad), http())
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.json"), "{err}");
}
