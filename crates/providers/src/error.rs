//! The one error type every provider returns, and the helpers that map HTTP
//! answers onto it. Configuration problems found at startup live in
//! [`ConfigError`] instead, because they are reported once and stop the boot.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Why a call to an outside service failed.
///
/// Messages never carry credentials: bodies of error answers are reduced to
/// the provider's own `message` field, and request headers are never echoed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider is switched off by configuration (degraded mode).
    #[error("provider is disabled")]
    Disabled,
    /// The credentials were rejected (401/403, or an `invalid_client` answer).
    #[error("provider rejected the credentials")]
    Unauthorized,
    /// The resource does not exist (yet): Twilio answers 404 for a recording
    /// that is still being written.
    #[error("resource not found")]
    NotFound,
    /// 429: rate limit or exhausted quota.
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited {
        /// The server's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
    },
    /// A 5xx answer.
    #[error("provider server error (HTTP {status})")]
    Server {
        /// The HTTP status code.
        status: u16,
    },
    /// A configured deadline passed (connect, first token, whole answer).
    #[error("provider timed out")]
    Timeout,
    /// An answer larger than the configured cap.
    #[error("answer larger than {limit_bytes} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        limit_bytes: u64,
    },
    /// The answer could not be understood.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer arrived but its content breaks the contract we asked for
    /// (a structured call outcome that fails its schema or validation). Not
    /// transient by itself: the caller decides whether to ask again or fall
    /// back, since the same model may well answer the same way.
    #[error("invalid model output: {0}")]
    InvalidOutput(String),
    /// We refused to make the request (an off-origin URL, an invalid amount).
    #[error("request refused: {0}")]
    Refused(String),
    /// The provider understood the request and declined it (Tranzila's
    /// non-zero `error_code`).
    #[error("provider declined with code {code}: {message}")]
    Rejected {
        /// The provider's error code.
        code: i64,
        /// The provider's message.
        message: String,
    },
    /// A message text longer than the channel allows, refused before any
    /// request (counted in characters: Hebrew is two bytes a letter).
    #[error("message of {chars} characters exceeds the {limit}-character limit")]
    MessageTooLong {
        /// The text's length in characters.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// Any other transport or HTTP failure.
    #[error("http error: {0}")]
    Http(String),
}

impl ProviderError {
    /// A short, stable label for metrics and structured logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server",
            Self::Timeout => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(_) => "malformed",
            Self::InvalidOutput(_) => "invalid_output",
            Self::Refused(_) => "refused",
            Self::Rejected { .. } => "rejected",
            Self::MessageTooLong { .. } => "message_too_long",
            Self::Http(_) => "http",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::NotFound
        )
    }

    /// Whether another try may succeed: a transient answer, or a request
    /// that failed on its way (a reset connection, a refused one).
    pub fn is_retryable(&self) -> bool {
        self.is_transient() || matches!(self, Self::Http(_))
    }
}

impl From<reqwest::Error> for ProviderError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Self::Timeout;
        }
        if e.is_decode() {
            return Self::Malformed(e.without_url().to_string());
        }
        // Query strings can carry tokens for some APIs; drop the URL.
        Self::Http(e.without_url().to_string())
    }
}

/// A configuration problem found while building a provider at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The service-account key file could not be read or parsed.
    #[error("cannot use Google credentials file {path}: {reason}")]
    CredentialsFile {
        /// The file that was given.
        path: PathBuf,
        /// What was wrong with it (never its contents).
        reason: String,
    },
    /// The service-account key is present but unusable.
    #[error("invalid Google service-account key: {0}")]
    InvalidKey(String),
    /// The HTTP client could not be built (no TLS backend, for one).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// A base URL that does not parse as an absolute http(s) URL.
    #[error("invalid URL for {name}: {reason}")]
    InvalidUrl {
        /// Which setting held it.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },
}

/// Longest provider message kept in an error, so a huge HTML error page does
/// not end up in a log line.
const MAX_MESSAGE_CHARS: usize = 300;

/// Maps a non-success HTTP answer to a typed error.
///
/// `body` is only mined for the provider's own message (OpenAI's
/// `{"error":{"message"}}`, PayPal's `error_description`, Tranzila's
/// `message`); anything else is summarised by its status.
pub(crate) fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    match status.as_u16() {
        401 | 403 => ProviderError::Unauthorized,
        404 => ProviderError::NotFound,
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers),
        },
        s if s >= 500 => ProviderError::Server { status: s },
        s => match body_message(body) {
            Some(msg) => ProviderError::Http(format!("HTTP {s}: {msg}")),
            None => ProviderError::Http(format!("HTTP {s}")),
        },
    }
}

/// `Retry-After` in seconds; the HTTP-date form is rare on these APIs and is
/// treated as absent rather than guessed.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The provider's human message from a JSON error body, if there is one.
pub(crate) fn body_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("error_description"))
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))?
        .as_str()?;
    Some(truncate(msg))
}

pub(crate) fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    #[test]
    fn statuses_map_to_typed_errors() {
        let h = HeaderMap::new();
        assert!(matches!(
            status_error(StatusCode::UNAUTHORIZED, &h, b""),
            ProviderError::Unauthorized
        ));
        assert!(matches!(
            status_error(StatusCode::BAD_GATEWAY, &h, b""),
            ProviderError::Server { status: 502 }
        ));
        assert!(matches!(
            status_error(StatusCode::NOT_FOUND, &h, b""),
            ProviderError::NotFound
        ));
    }

    #[test]
    fn retry_after_seconds_are_read_from_a_429() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        match status_error(StatusCode::TOO_MANY_REQUESTS, &h, b"") {
            ProviderError::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bad_request_keeps_only_the_providers_message() {
        let body = br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#;
        let e = status_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert_eq!(e.to_string(), "http error: HTTP 400: bad model");
        assert_eq!(e.kind(), "http");
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let s = "א".repeat(1000);
        let t = truncate(&s);
        assert!(t.chars().count() == MAX_MESSAGE_CHARS + 1);
    }
}
