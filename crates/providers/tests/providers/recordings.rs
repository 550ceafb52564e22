//! Twilio recording downloads: origin lock, no redirects, auth, retries and
//! size cap.

use std::time::Duration;

use agentlocator_providers::{
    ProviderError, RecordingFetcher, TwilioRecordingFetcher, TwilioRestConfig,
};
use axum::Router;
use axum::routing::get;
use secrecy::SecretString;
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{chunked_body, serve};

const REC_PATH: &str = "/2010-04-01/Accounts/AC123/Recordings/RE456";

fn fetcher_for(base: &str) -> TwilioRecordingFetcher {
    let cfg = TwilioRestConfig {
        account_sid: "AC123".into(),
        auth_token: SecretString::from("twilio-secret-token"),
        api_base_url: base.to_owned(),
    };
    TwilioRecordingFetcher::new(cfg, reqwest::Client::builder())
        .unwrap()
        .with_first_backoff(Duration::from_millis(10))
        .with_try_timeout(Duration::from_millis(300))
}

/// `AC123:twilio-secret-token`, base64.
const BASIC: &str = "Basic QUMxMjM6dHdpbGlvLXNlY3JldC10b2tlbg==";

#[tokio::test]
async fn a_recording_is_fetched_as_wav_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REC_PATH}.wav")))
        .and(header_is("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"RIFF....WAVE".to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    let fetcher = fetcher_for(&server.uri());
    assert!(fetcher.is_enabled());
    let audio = fetcher
        .fetch(&format!("{}{REC_PATH}", server.uri()))
        .await
        .unwrap();
    assert_eq!(&audio[..], b"RIFF....WAVE");
}

#[tokio::test]
async fn an_explicit_extension_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REC_PATH}.mp3")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ID3".to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    let audio = fetcher_for(&server.uri())
        .fetch(&format!("{}{REC_PATH}.mp3", server.uri()))
        .await
        .unwrap();
    assert_eq!(&audio[..], b"ID3");
}

#[tokio::test]
async fn urls_off_the_twilio_origin_are_refused_without_any_request() {
    let twilio = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let fetcher = fetcher_for(&twilio.uri());
    let port = twilio.address().port();
    let hostile = [
        // another port on the same host
        format!("{}{REC_PATH}", elsewhere.uri()),
        // another host name for the same address
        format!("http://localhost:{port}{REC_PATH}"),
        // another scheme
        format!("https://127.0.0.1:{port}{REC_PATH}"),
        // credentials smuggled in the URL
        format!("http://evil:pw@127.0.0.1:{port}{REC_PATH}"),
        // an internal metadata service and junk
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ];
    for url in hostile {
        let err = fetcher.fetch(&url).await.unwrap_err();
        assert!(matches!(err, ProviderError::Refused(_)), "{url}: {err:?}");
        assert_eq!(err.kind(), "refused");
    }
    assert!(twilio.received_requests().await.unwrap().is_empty());
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redirect_is_refused_and_its_target_never_contacted() {
    let twilio = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/stolen?signature=s3cr3t", elsewhere.uri()).as_str(),
        ))
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"RIFF".to_vec()))
        .mount(&elsewhere)
        .await;
    let err = fetcher_for(&twilio.uri())
        .fetch(&format!("{}{REC_PATH}", twilio.uri()))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Refused(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("302"), "{message}");
    assert!(message.contains(&elsewhere.uri()), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    // Refused at once: a redirect does not go away by asking again.
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_404_is_retried_until_the_recording_exists() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"audio".to_vec()))
        .mount(&server)
        .await;
    let audio = fetcher_for(&server.uri())
        .fetch(&format!("{}{REC_PATH}", server.uri()))
        .await
        .unwrap();
    assert_eq!(&audio[..], b"audio");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_server_error_then_a_slow_try_are_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ok".to_vec()))
        .with_priority(3)
        .mount(&server)
        .await;
    let audio = fetcher_for(&server.uri())
        .fetch(&format!("{}{REC_PATH}", server.uri()))
        .await
        .unwrap();
    assert_eq!(&audio[..], b"ok");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_recording_that_never_appears_gives_up_after_two_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let err = fetcher_for(&server.uri())
        .fetch(&format!("{}{REC_PATH}", server.uri()))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn bad_credentials_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let err = fetcher_for(&server.uri())
        .fetch(&format!("{}{REC_PATH}", server.uri()))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized));
    assert!(!format!("{err:?}").contains("twilio-secret-token"));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_recording_over_the_size_cap_is_refused_by_its_length_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![0u8; 2048]))
        .mount(&server)
        .await;
    let err = fetcher_for(&server.uri())
        .with_max_bytes(1024)
        .fetch(&format!("{}{REC_PATH}", server.uri()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::TooLarge { limit_bytes: 1024 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_streamed_recording_over_the_size_cap_is_cut_off() {
    // Chunked transfer: no Content-Length, so the cap must hold mid-stream.
    let router = Router::new().route(
        &format!("{REC_PATH}.wav"),
        get(|| async { chunked_body(vec![vec![0u8; 600]; 4], Duration::from_millis(1)) }),
    );
    let base = serve(router).await;
    let fetcher = fetcher_for(&base).with_max_bytes(1024);
    let err = fetcher
        .fetch(&format!("{base}{REC_PATH}"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::TooLarge { .. }), "{err:?}");
    // Exactly at the cap is fine.
    let audio = fetcher_for(&base)
        .with_max_bytes(2400)
        .fetch(&format!("{base}{REC_PATH}"))
        .await
        .unwrap();
    assert_eq!(audio.len(), 2400);
}

#[test]
fn a_base_url_that_is_not_http_is_rejected_at_startup() {
    let cfg = TwilioRestConfig {
        account_sid: "AC1".into(),
        auth_token: SecretString::from("t"),
        api_base_url: "ftp://api.twilio.com".into(),
    };
    let err = TwilioRecordingFetcher::new(cfg, reqwest::Client::builder()).unwrap_err();
    assert!(err.to_string().contains("TWILIO_API_BASE_URL"));
}

#[test]
fn the_default_port_counts_as_the_same_origin() {
    let fetcher = fetcher_for("https://api.twilio.com");
    let url = fetcher
        .resolve("https://api.twilio.com:443/2010-04-01/Accounts/AC1/Recordings/RE1#frag")
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav"
    );
    assert!(fetcher.resolve("https://api.twilio.com:8443/x").is_err());
}

#[tokio::test]
async fn a_calls_recordings_are_listed_with_basic_auth_and_media_urls_on_the_origin() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/2010-04-01/Accounts/AC123/Calls/CA789/Recordings.json",
        ))
        .and(header_is("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"recordings":[{"sid":"RE456","duration":"12","status":"completed"},
                {"sid":"RE999","duration":null,"status":"processing"},
                {"sid":"../x","duration":"1","status":"completed"}],"page":0}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let fetcher = fetcher_for(&server.uri());
    let found = fetcher.recordings_of_call("CA789").await.unwrap();
    assert_eq!(
        found.len(),
        2,
        "a SID that is not one is dropped: {found:?}"
    );
    assert_eq!(found[0].sid, "RE456");
    assert_eq!(found[0].status, "completed");
    assert_eq!(found[0].duration_s, Some(12));
    assert_eq!(found[0].url, format!("{}{REC_PATH}", server.uri()));
    assert_eq!(found[1].duration_s, None);
    // The listed URL is one the fetcher accepts.
    assert!(fetcher.resolve(&found[0].url).is_ok());
}

#[tokio::test]
async fn a_call_sid_that_could_leave_the_path_is_refused_without_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let fetcher = fetcher_for(&server.uri());
    for sid in ["", "../CA1", "CA1?x=1"] {
        assert!(matches!(
            fetcher.recordings_of_call(sid).await,
            Err(ProviderError::Refused(_))
        ));
    }
}
