//! Sends one SMS or WhatsApp message through Twilio's Messages API per call; retries and idempotency belong to the durable job that calls it.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::TwilioRestConfig;
use crate::error::{ConfigError, ProviderError, body_message, status_error};
use crate::http::read_capped;

/// Longest `Body` accepted, in characters: the caller composes at most this
/// much, and a longer one would be split into many billed SMS segments.
pub const MAX_BODY_CHARS: usize = 600;
/// Default per-try deadline. A timeout is retryable, so it is kept short
/// enough for the job's backoff to matter within the 30 s delivery goal.
pub const DEFAULT_TRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Twilio's answers are a few kB; anything far larger is not one.
const ANSWER_MAX_BYTES: u64 = 256 * 1024;
/// A list page of 50 messages of at most 1,600 characters each.
const LIST_MAX_BYTES: u64 = 2 * 1024 * 1024;

/// Who the message is sent as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// Sent as `From`: an E.164 number, an alphanumeric sender ID, or a
    /// `whatsapp:+…` sender.
    From(String),
    /// Sent as `MessagingServiceSid` (`MG…`): Twilio then picks the number.
    Service(String),
}

impl Sender {
    /// Classifies one configured sender value: `MG` followed by 32 hex
    /// digits is a Messaging Service, anything else goes as `From`. One
    /// setting can then hold any of the three kinds Israeli accounts use
    /// (many voice numbers here cannot send SMS).
    pub fn from_setting(value: impl Into<String>) -> Self {
        let value = value.into();
        let is_service = value.len() == 34
            && value.starts_with("MG")
            && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if is_service {
            Self::Service(value)
        } else {
            Self::From(value)
        }
    }
}

/// What the message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Free text (SMS, or WhatsApp inside the 24 h window), at most
    /// [`MAX_BODY_CHARS`] characters.
    Body(String),
    /// An approved template: `ContentSid` (`HX…`) and its variables, sent as
    /// the JSON object string Twilio expects in `ContentVariables`. WhatsApp
    /// refuses free text outside the 24 h window, so owner notifications
    /// there go this way.
    Template {
        /// The template's `HX…` SID.
        sid: String,
        /// Placeholder number (`"1"`, `"2"`, …) → value.
        variables: BTreeMap<String, String>,
    },
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// `+972…`, or `whatsapp:+972…` for WhatsApp.
    pub to: String,
    /// The sender.
    pub sender: Sender,
    /// The text or template.
    pub content: Content,
    /// Where Twilio posts delivery updates, if anywhere.
    pub status_callback: Option<Url>,
}

impl OutboundMessage {
    /// An SMS with free text.
    pub fn sms(to: impl Into<String>, sender: Sender, body: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            sender,
            content: Content::Body(body.into()),
            status_callback: None,
        }
    }

    /// A WhatsApp template message. `to` and `from` get the `whatsapp:`
    /// prefix when they lack it, so callers can pass the same E.164 numbers
    /// they use for SMS.
    pub fn whatsapp_template(
        to: &str,
        from: &str,
        content_sid: impl Into<String>,
        variables: BTreeMap<String, String>,
    ) -> Self {
        Self {
            to: whatsapp_address(to),
            sender: Sender::From(whatsapp_address(from)),
            content: Content::Template {
                sid: content_sid.into(),
                variables,
            },
            status_callback: None,
        }
    }

    /// Asks Twilio to post delivery updates to `url`.
    pub fn with_status_callback(mut self, url: Url) -> Self {
        self.status_callback = Some(url);
        self
    }

    /// The form fields Twilio expects, or why the message is refused before
    /// any request.
    fn form(&self) -> Result<Vec<(&'static str, String)>, ProviderError> {
        let mut form = vec![("To", self.to.clone())];
        match &self.sender {
            Sender::From(from) => form.push(("From", from.clone())),
            Sender::Service(sid) => form.push(("MessagingServiceSid", sid.clone())),
        }
        match &self.content {
            Content::Body(body) => {
                // Characters, not bytes: a Hebrew letter is two bytes in UTF-8.
                let chars = body.chars().count();
                if chars > MAX_BODY_CHARS {
                    return Err(ProviderError::MessageTooLong {
                        chars,
                        limit: MAX_BODY_CHARS,
                    });
                }
                form.push(("Body", body.clone()));
            }
            Content::Template { sid, variables } => {
                // serde_json leaves non-ASCII as is, so Hebrew values reach
                // the template unescaped; Body is omitted because Twilio
                // would otherwise treat the message as free text.
                let json = serde_json::to_string(variables)
                    .map_err(|e| ProviderError::Refused(format!("content variables: {e}")))?;
                form.push(("ContentSid", sid.clone()));
                form.push(("ContentVariables", json));
            }
        }
        if let Some(url) = &self.status_callback {
            form.push(("StatusCallback", url.to_string()));
        }
        Ok(form)
    }
}

fn whatsapp_address(number: &str) -> String {
    if number.starts_with("whatsapp:") {
        number.to_owned()
    } else {
        format!("whatsapp:{number}")
    }
}

/// Twilio's acceptance of a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SentMessage {
    /// `SM…` (or `MM…`); delivery updates name it as `MessageSid`.
    pub sid: String,
    /// Usually `queued` or `accepted`; delivery comes later by callback.
    pub status: String,
}

/// Client for `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
#[derive(Debug, Clone)]
pub struct TwilioMessagesClient {
    http: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: SecretString,
    try_timeout: Duration,
}

impl TwilioMessagesClient {
    /// Builds the client on `http` (the service's timeouts and user agent),
    /// following no redirects: a redirect would carry our Basic credentials
    /// and the message to another host. Fails if `api_base_url` is not an
    /// http(s) URL or the account SID could not be a path segment.
    pub fn new(cfg: TwilioRestConfig, http: reqwest::ClientBuilder) -> Result<Self, ConfigError> {
        let (origin, http) = super::rest_client(&cfg, http)?;
        // The SID becomes a path segment: only a SID's characters may.
        if cfg.account_sid.is_empty() || !cfg.account_sid.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ConfigError::InvalidUrl {
                name: "TWILIO_ACCOUNT_SID",
                reason: "must be an account SID (letters and digits)".into(),
            });
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            origin.as_str().trim_end_matches('/'),
            cfg.account_sid
        );
        Ok(Self {
            http,
            url,
            account_sid: cfg.account_sid,
            auth_token: cfg.auth_token,
            try_timeout: DEFAULT_TRY_TIMEOUT,
        })
    }

    /// Overrides the per-try deadline (10 s by default).
    pub fn with_try_timeout(mut self, timeout: Duration) -> Self {
        self.try_timeout = timeout;
        self
    }

    /// Sends `msg` once.
    ///
    /// No retry here: the caller is a durable job that retries with backoff
    /// when [`ProviderError::is_transient`] says so (429, 5xx, timeouts) and
    /// records the send so a restart does not repeat it. Other 4xx answers
    /// are [`ProviderError::Rejected`] with Twilio's `code` and `message`
    /// (401/403 are [`ProviderError::Unauthorized`]); all are permanent.
    pub async fn send(&self, msg: &OutboundMessage) -> Result<SentMessage, ProviderError> {
        let form = msg.form()?;
        let request = self.http.post(&self.url).form(&form);
        let body = self.exchange(request, ANSWER_MAX_BYTES).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Malformed(format!("message answer: {e}")))
    }

    /// The newest message to `to` whose body carries `marker` (not followed
    /// by a further digit, so `#4` does not match `#42`), among the last 50
    /// Twilio lists for that number.
    ///
    /// How a send whose answer was lost (the process died after Twilio
    /// accepted it) is found again, so the retry does not send it twice:
    /// Twilio takes no idempotency key for messages.
    pub async fn find_sent(
        &self,
        to: &str,
        marker: &str,
    ) -> Result<Option<SentMessage>, ProviderError> {
        let request = self
            .http
            .get(&self.url)
            .query(&[("To", to), ("PageSize", "50")]);
        let body = self.exchange(request, LIST_MAX_BYTES).await?;
        let page: MessagePage = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Malformed(format!("message list: {e}")))?;
        Ok(page
            .messages
            .into_iter()
            .find(|m| carries(&m.body, marker))
            .map(|m| SentMessage {
                sid: m.sid,
                status: m.status,
            }))
    }
}

impl TwilioMessagesClient {
    /// Sends one request with the account's Basic credentials within the
    /// per-try deadline; a 2xx answer's body (at most `cap` bytes), else
    /// Twilio's refusal mapped by [`answer_error`].
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        cap: u64,
    ) -> Result<bytes::Bytes, ProviderError> {
        let call = async {
            let resp = request
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                .send()
                .await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            // A body that fails to arrive must not hide the status.
            let body = read_capped(resp, cap).await;
            if status.is_success() {
                return body;
            }
            Err(answer_error(status, &headers, &body.unwrap_or_default()))
        };
        tokio::time::timeout(self.try_timeout, call)
            .await
            .map_err(|_| ProviderError::Timeout)?
    }
}

/// A page of Twilio's message list (newest first); only what
/// [`TwilioMessagesClient::find_sent`] reads.
#[derive(Debug, serde::Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Debug, serde::Deserialize)]
struct ListedMessage {
    sid: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: String,
}

/// Whether `body` contains `marker` with no digit right after it.
fn carries(body: &str, marker: &str) -> bool {
    body.match_indices(marker).any(|(at, _)| {
        !body[at + marker.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Maps a refused send. Unlike the shared mapping, every 4xx but 401, 403
/// and 429 becomes `Rejected`, 404 included: here it means a wrong account,
/// not a file still being written, so it must not be retried.
fn answer_error(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    match status.as_u16() {
        401 | 403 | 429 => status_error(status, headers, body),
        s if s >= 500 => status_error(status, headers, body),
        s => {
            // Twilio's error body: {"code":21211,"message":"…","status":400}.
            let code = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
            ProviderError::Rejected {
                // 0 when Twilio sent no code (a proxy's page, an empty body).
                code: code.unwrap_or(0),
                message: body_message(body).unwrap_or_else(|| format!("HTTP {s}")),
            }
        }
    }
}
