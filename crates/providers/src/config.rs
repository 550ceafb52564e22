//! Typed settings for each provider. The service fills them from the
//! environment once at startup; nothing in this crate reads `std::env`.
//! Secrets are `SecretString`, so `Debug` prints `[REDACTED]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::error::ConfigError;

/// Default OpenAI API root; any OpenAI-compatible server works by changing it.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Default Google Text-to-Speech API root.
pub const DEFAULT_GOOGLE_TTS_BASE_URL: &str = "https://texttospeech.googleapis.com";
/// Google's OAuth token endpoint, used when a key file names none.
pub const DEFAULT_GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Default Hebrew voice.
pub const DEFAULT_GOOGLE_VOICE: &str = "he-IL-Wavenet-A";
/// Default Twilio REST API origin.
pub const DEFAULT_TWILIO_API_BASE_URL: &str = "https://api.twilio.com";
/// PayPal sandbox API root.
pub const PAYPAL_SANDBOX_BASE_URL: &str = "https://api-m.sandbox.paypal.com";
/// PayPal live API root.
pub const PAYPAL_LIVE_BASE_URL: &str = "https://api-m.paypal.com";
/// Tranzila REST API root (tests use a test terminal, not another host).
pub const DEFAULT_TRANZILA_BASE_URL: &str = "https://api.tranzila.com";

/// Settings for the OpenAI-compatible chat and transcription clients.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Bearer key. Local servers often ignore it; it is sent anyway.
    pub api_key: SecretString,
    /// API root including the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Chat model name (configuration, never a constant: models are retired).
    pub chat_model: String,
    /// Transcription model name.
    pub stt_model: String,
    /// Longest wait from sending a chat request to its first content delta.
    pub ttft_timeout: Duration,
    /// Longest a whole streamed chat answer may take.
    pub total_timeout: Duration,
    /// Longest a transcription request may take.
    pub stt_timeout: Duration,
}

impl OpenAiConfig {
    /// Settings with the public API root and timeouts suited to a live call
    /// (first token within 4 s, whole answer within 20 s, STT within 15 s).
    pub fn new(
        api_key: SecretString,
        chat_model: impl Into<String>,
        stt_model: impl Into<String>,
    ) -> Self {
        Self {
            api_key,
            base_url: DEFAULT_OPENAI_BASE_URL.to_owned(),
            chat_model: chat_model.into(),
            stt_model: stt_model.into(),
            ttft_timeout: Duration::from_secs(4),
            total_timeout: Duration::from_secs(20),
            stt_timeout: Duration::from_secs(15),
        }
    }
}

/// A Google service-account key, as found in the JSON file named by
/// `GOOGLE_APPLICATION_CREDENTIALS`.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// The JWT issuer.
    pub client_email: String,
    /// PKCS#8 PEM private key.
    pub private_key: SecretString,
    /// Token endpoint and JWT audience; tests point it at a fake.
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    /// Sent as the JWT `kid` when present so Google can pick the key quickly.
    #[serde(default)]
    pub private_key_id: Option<String>,
}

fn default_token_uri() -> String {
    DEFAULT_GOOGLE_TOKEN_URI.to_owned()
}

impl ServiceAccountKey {
    /// Reads and checks a key file. The error names the file and what was
    /// wrong, never its contents.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let fail = |reason: String| ConfigError::CredentialsFile {
            path: path.to_owned(),
            reason,
        };
        let raw = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        Self::from_json(&raw).map_err(|e| fail(e.to_string()))
    }

    /// Parses and checks key JSON (the private key must be a usable RSA key).
    pub fn from_json(raw: &[u8]) -> Result<Self, ConfigError> {
        // serde_json's error names the line/column only, not the content.
        let key: Self = serde_json::from_slice(raw)
            .map_err(|e| ConfigError::InvalidKey(format!("not a service-account JSON: {e}")))?;
        crate::google::auth::parse_signing_key(&key.private_key)?;
        Ok(key)
    }
}

/// Where the service-account key comes from.
#[derive(Debug, Clone)]
pub enum GoogleCredentials {
    /// A key already read and checked.
    Key(ServiceAccountKey),
    /// A key file, read and checked only when the client is built: the
    /// service's configuration names the file, and commands that never build
    /// a TTS client (migrations, admin tools) then never parse the key.
    KeyFile(PathBuf),
}

impl GoogleCredentials {
    /// The key itself, reading the file when there is one.
    pub fn load(self) -> Result<ServiceAccountKey, ConfigError> {
        match self {
            Self::Key(key) => Ok(key),
            Self::KeyFile(path) => ServiceAccountKey::from_file(path),
        }
    }
}

impl From<ServiceAccountKey> for GoogleCredentials {
    fn from(key: ServiceAccountKey) -> Self {
        Self::Key(key)
    }
}

impl From<PathBuf> for GoogleCredentials {
    fn from(path: PathBuf) -> Self {
        Self::KeyFile(path)
    }
}

/// Settings for Google Text-to-Speech.
#[derive(Debug, Clone)]
pub struct GoogleTtsConfig {
    /// Service-account key used to mint access tokens.
    pub credentials: GoogleCredentials,
    /// API root, e.g. `https://texttospeech.googleapis.com`.
    pub base_url: String,
    /// Voice name used when the caller passes none.
    pub voice: String,
    /// BCP-47 language, `he-IL` (`iw-IL` is accepted and normalised).
    pub language_code: String,
}

impl GoogleTtsConfig {
    /// Settings with the public API root and the default Hebrew voice.
    pub fn new(credentials: impl Into<GoogleCredentials>) -> Self {
        Self {
            credentials: credentials.into(),
            base_url: DEFAULT_GOOGLE_TTS_BASE_URL.to_owned(),
            voice: DEFAULT_GOOGLE_VOICE.to_owned(),
            language_code: "he-IL".to_owned(),
        }
    }
}

/// Settings for Twilio's REST API (recording downloads).
#[derive(Debug, Clone)]
pub struct TwilioRestConfig {
    /// `AC…`; the Basic-auth user name.
    pub account_sid: String,
    /// The Basic-auth password.
    pub auth_token: SecretString,
    /// The only origin recordings are fetched from.
    pub api_base_url: String,
}

impl TwilioRestConfig {
    /// Settings against the public Twilio API.
    pub fn new(account_sid: impl Into<String>, auth_token: SecretString) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token,
            api_base_url: DEFAULT_TWILIO_API_BASE_URL.to_owned(),
        }
    }
}

/// Settings for PayPal REST (Orders v2).
#[derive(Debug, Clone)]
pub struct PayPalConfig {
    /// OAuth client id (not secret, but kept out of logs anyway).
    pub client_id: String,
    /// OAuth client secret.
    pub secret: SecretString,
    /// [`PAYPAL_SANDBOX_BASE_URL`] or [`PAYPAL_LIVE_BASE_URL`].
    pub base_url: String,
}

/// Settings for Tranzila's REST API.
#[derive(Debug, Clone)]
pub struct TranzilaConfig {
    /// Terminal name issued by Tranzila.
    pub terminal: String,
    /// Public application key (`X-tranzila-api-app-key`).
    pub app_key: String,
    /// Private key used to sign each request.
    pub secret: SecretString,
    /// API root, [`DEFAULT_TRANZILA_BASE_URL`] in production.
    pub base_url: String,
}

/// Joins an API root and a path without doubling or dropping the slash,
/// because env-provided roots come both with and without a trailing one.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_exactly_one_slash() {
        assert_eq!(join_url("http://a/v1/", "/x"), "http://a/v1/x");
        assert_eq!(join_url("http://a/v1", "x"), "http://a/v1/x");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cfg = OpenAiConfig::new(SecretString::from("sk-very-secret"), "m", "s");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-very-secret"));
    }

    #[test]
    fn an_unreadable_key_file_is_named_in_the_error() {
        let err = ServiceAccountKey::from_file("/nonexistent/key.json").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key.json"), "{err}");
    }

    #[test]
    fn a_key_file_is_only_read_when_the_key_is_loaded() {
        let cfg = GoogleTtsConfig::new(PathBuf::from("/nonexistent/key.json"));
        let err = cfg.credentials.load().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key.json"), "{err}");
    }
}
