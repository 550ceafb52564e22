//! Downloads Twilio call recordings. The URL arrives in an (authenticated,
//! but still outside) webhook, so it is treated as untrusted: only the
//! configured Twilio API origin is ever contacted, with our credentials.
//! Redirects are not followed — the origin check would be worth nothing if
//! the origin could send the request on to any host — and a redirect is
//! refused like an off-origin URL.
//!
//! Sending SMS and WhatsApp messages, with the same credentials, is in
//! [`messages`].

pub mod messages;

use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use secrecy::ExposeSecret;
use url::Url;

use crate::config::TwilioRestConfig;
use crate::error::{ConfigError, ProviderError};
use crate::http::{check_status, read_capped};
use crate::traits::RecordingFetcher;
use crate::types::CallRecording;

/// Default per-try deadline.
pub const DEFAULT_TRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on a recording's size (a few minutes of 8 kHz WAV is ~1 MB/min).
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Retries after the first try: the file may not exist yet when the
/// `<Record action>` request arrives.
const RETRIES: usize = 2;
/// Cap on a call's recordings list: a page of 50 entries is a few kB.
const LIST_MAX_BYTES: u64 = 1024 * 1024;

/// Fetches recordings from the configured Twilio API origin only.
#[derive(Debug, Clone)]
pub struct TwilioRecordingFetcher {
    http: reqwest::Client,
    origin: Url,
    account_sid: String,
    auth_token: secrecy::SecretString,
    try_timeout: Duration,
    max_bytes: u64,
    first_backoff: Duration,
}

/// The REST API origin from `cfg` (an http(s) URL with a host) and a
/// client on `http` that follows no redirects, whatever `http` says: a
/// redirect would carry our Basic credentials to another host.
pub(crate) fn rest_client(
    cfg: &TwilioRestConfig,
    http: reqwest::ClientBuilder,
) -> Result<(Url, reqwest::Client), ConfigError> {
    let origin = Url::parse(&cfg.api_base_url).map_err(|e| ConfigError::InvalidUrl {
        name: "TWILIO_API_BASE_URL",
        reason: e.to_string(),
    })?;
    if !matches!(origin.scheme(), "http" | "https") || origin.host_str().is_none() {
        return Err(ConfigError::InvalidUrl {
            name: "TWILIO_API_BASE_URL",
            reason: "must be an http(s) URL with a host".into(),
        });
    }
    let http = http
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
    Ok((origin, http))
}

impl TwilioRecordingFetcher {
    /// Builds the fetcher on a client from `http` (the service's timeouts
    /// and user agent) that follows no redirects, whatever `http` says;
    /// fails if `api_base_url` is not an http(s) URL.
    pub fn new(cfg: TwilioRestConfig, http: reqwest::ClientBuilder) -> Result<Self, ConfigError> {
        let (origin, http) = rest_client(&cfg, http)?;
        Ok(Self {
            http,
            origin,
            account_sid: cfg.account_sid,
            auth_token: cfg.auth_token,
            try_timeout: DEFAULT_TRY_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            first_backoff: Duration::from_millis(500),
        })
    }

    /// Overrides the per-try deadline (10 s by default).
    pub fn with_try_timeout(mut self, timeout: Duration) -> Self {
        self.try_timeout = timeout;
        self
    }

    /// Overrides the size cap (20 MiB by default).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Overrides the first retry delay (500 ms by default, doubling).
    pub fn with_first_backoff(mut self, delay: Duration) -> Self {
        self.first_backoff = delay;
        self
    }

    /// The URL that would be fetched for `recording_url`, or why not.
    ///
    /// Scheme, host and port must equal the configured origin's; user info
    /// is refused too, since it would replace our credentials.
    pub fn resolve(&self, recording_url: &str) -> Result<Url, ProviderError> {
        let mut url = Url::parse(recording_url)
            .map_err(|_| ProviderError::Refused("recording URL does not parse".into()))?;
        let same_origin = url.scheme() == self.origin.scheme()
            && url.host_str() == self.origin.host_str()
            && url.port_or_known_default() == self.origin.port_or_known_default();
        if !same_origin || !url.username().is_empty() || url.password().is_some() {
            return Err(ProviderError::Refused(
                "recording URL is not on the Twilio API origin".into(),
            ));
        }
        url.set_fragment(None);
        let has_extension = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .is_some_and(|last| last.contains('.'));
        if !has_extension {
            let path = format!("{}.wav", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        Ok(url)
    }

    async fn try_once(&self, url: &Url) -> Result<Bytes, ProviderError> {
        let call = async {
            let resp = self
                .http
                .get(url.clone())
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                .send()
                .await?;
            if resp.status().is_redirection() {
                return Err(redirect_refused(&resp));
            }
            let resp = check_status(resp).await?;
            read_capped(resp, self.max_bytes).await
        };
        tokio::time::timeout(self.try_timeout, call)
            .await
            .map_err(|_| ProviderError::Timeout)?
    }
}

impl TwilioRecordingFetcher {
    /// `{base}/2010-04-01/Accounts/{AccountSid}{rest}`.
    fn account_url(&self, rest: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}{rest}",
            self.origin.as_str().trim_end_matches('/'),
            self.account_sid
        )
    }
}

/// Twilio's answer to a call's Recordings list (the fields used).
#[derive(serde::Deserialize)]
struct RecordingList {
    #[serde(default)]
    recordings: Vec<RecordingEntry>,
}

#[derive(serde::Deserialize)]
struct RecordingEntry {
    sid: String,
    #[serde(default)]
    status: Option<String>,
    /// A string of digits, or null while the recording is in progress.
    #[serde(default)]
    duration: Option<String>,
}

#[async_trait]
impl RecordingFetcher for TwilioRecordingFetcher {
    fn name(&self) -> &'static str {
        "twilio-recordings"
    }

    fn is_enabled(&self) -> bool {
        true
    }

    async fn fetch(&self, recording_url: &str) -> Result<Bytes, ProviderError> {
        let url = match self.resolve(recording_url) {
            Ok(u) => u,
            Err(e) => {
                // Logged here because it is a security signal the caller
                // would otherwise fold into a generic failure.
                tracing::warn!(
                    recording_url = %truncate_for_log(recording_url),
                    allowed_origin = %self.origin.origin().ascii_serialization(),
                    "refused to fetch a recording outside the Twilio API origin"
                );
                return Err(e);
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_times(RETRIES)
            .with_jitter();
        (|| self.try_once(&url))
            .retry(backoff)
            .when(|e| {
                matches!(
                    e,
                    ProviderError::NotFound | ProviderError::Server { .. } | ProviderError::Timeout
                )
            })
            .notify(|e, delay| {
                tracing::debug!(
                    error_kind = e.kind(),
                    retry_in_ms = delay.as_millis() as u64,
                    "recording not ready; retrying"
                );
            })
            .await
    }

    async fn recordings_of_call(
        &self,
        call_sid: &str,
    ) -> Result<Vec<CallRecording>, ProviderError> {
        // The SID becomes a path segment: only a SID's characters may.
        if call_sid.is_empty() || !call_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ProviderError::Refused("not a call SID".into()));
        }
        let url = self.account_url(&format!("/Calls/{call_sid}/Recordings.json"));
        let call = async {
            let resp = self
                .http
                .get(&url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                .send()
                .await?;
            let resp = check_status(resp).await?;
            read_capped(resp, LIST_MAX_BYTES).await
        };
        let body = tokio::time::timeout(self.try_timeout, call)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let list: RecordingList = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Malformed(format!("recordings list: {e}")))?;
        Ok(list
            .recordings
            .into_iter()
            // The SID becomes a path segment of the media URL too.
            .filter(|r| !r.sid.is_empty() && r.sid.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|r| CallRecording {
                url: self.account_url(&format!("/Recordings/{}", r.sid)),
                duration_s: r.duration.and_then(|d| d.trim().parse().ok()),
                status: r.status.unwrap_or_default(),
                sid: r.sid,
            })
            .collect())
    }
}

/// The refusal of a redirect, naming where it pointed by origin only: the
/// rest of a redirect URL may be a signed, secret link.
fn redirect_refused(resp: &reqwest::Response) -> ProviderError {
    let target = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| resp.url().join(l).ok())
        .map_or_else(
            || "an unreadable location".to_owned(),
            |u| u.origin().ascii_serialization(),
        );
    ProviderError::Refused(format!(
        "recording download answered {} redirecting to {}; redirects are not followed",
        resp.status().as_u16(),
        truncate_for_log(&target)
    ))
}

/// Keeps a hostile URL from flooding the log line.
fn truncate_for_log(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
