//! The Twilio stand-in: one simulated inbound call against a running
//! instance, or many at once for load tests.
//!
//! A call follows Twilio's order: a signed `incoming_call` webhook, the
//! TwiML's `<Connect><Stream>` opened as a signed WebSocket, the caller's
//! audio streamed in real time while the server's audio is played back on a
//! modelled Twilio buffer ([`playback`]), and — when the server closes the
//! socket — the signed `<Connect action>` request, whose answer the caller
//! follows: the recording fallback (the `<Record action>` is posted as if a
//! message was left), a `<Hangup/>` (the agent ended the call), or a
//! `<Dial>` to a human ([`transfer`], answered or not as
//! [`SimOptions::human`] says). The wire formats come from the `twilio`
//! crate.
//!
//! Timing definitions, the numbers the load benchmark relies on:
//! - **End of caller speech**: the moment the frame holding the last voiced
//!   20 ms of an utterance was sent (trailing silence in the file does not
//!   count, because the server's endpointing starts from the same point).
//! - **Caller-felt latency**: arrival of the first reply media frame minus
//!   the end of caller speech.
//! - **Late frame**: a reply frame that arrives after the caller's playback
//!   buffer ran dry for more than 40 ms (an underrun), while the reply was
//!   still coming. The first frame of a reply or greeting is never late: its
//!   wait is the latency above. Frames queued ahead are never late, however
//!   far ahead they were sent.
//! - **Longest silence** of a turn: the longest the caller heard nothing
//!   between the end of their speech and the end of the reply — the wait
//!   for the first reply frame, or a gap inside the reply (a tool's filler,
//!   then the answer). Measured from arrival times on the playback model: a
//!   frame of d ms arriving at t plays over [t, t + d), or after the audio
//!   still queued ahead of it, so a gap is a frame's arrival minus the end
//!   of everything received before it, when positive. The server paces
//!   audio in near real time, so arrival is when the caller would hear it.
//!   A gap longer than [`SimOptions::reply_quiet`] ends the reply before
//!   it is measured: raise that to measure long tool pauses.
//! - **Send lateness** (the generator's own health): when a caller media
//!   frame had been handed to the socket, minus its slot on the 20 ms send
//!   clock. A frame more than 20 ms behind its slot is a late send: past
//!   that, late reply frames may be the generator's doing, not the server's.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use url::Url;

mod histogram;
mod many;
mod playback;
mod stream;
mod transfer;
mod twiml;

use histogram::Histogram;
pub use many::{ManyReport, Percentiles, simulate_many};
pub use transfer::{HumanAnswer, TransferReport};

use twiml::NextStep;

/// How long one HTTP request to the server may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// What to call and how to behave as the caller.
#[derive(Clone)]
pub struct SimOptions {
    /// Where the server listens, e.g. `http://127.0.0.1:8080`.
    pub base_url: Url,
    /// The dialled number (picks the business), E.164.
    pub to: String,
    /// Further numbers the calls of [`simulate_many`] dial in turn with
    /// `to` (call i dials the i-th of them all, round), so a load can spread
    /// over several businesses as real traffic does.
    pub also_to: Vec<String>,
    /// The caller's number, E.164 (or `anonymous`).
    pub from: String,
    /// `CA…`; a fresh `CA` + 32 hex digits when absent.
    pub call_sid: Option<String>,
    /// `AC…`; a fresh `AC` + 32 hex digits when absent.
    pub account_sid: Option<String>,
    /// The Twilio auth token the server validates signatures with.
    pub auth_token: String,
    /// Caller turns, each raw 8 kHz mono mu-law.
    pub utterances: Vec<Vec<u8>>,
    /// The base URL the server believes it has (`PUBLIC_BASE_URL`), which
    /// Twilio signs; `base_url` when absent.
    pub public_base_url: Option<Url>,
    /// How long to wait for the first audio of the greeting or a reply.
    pub wait_reply_timeout: Duration,
    /// Silence after which the greeting or a reply counts as finished.
    pub reply_quiet: Duration,
    /// Longest a greeting or reply may go on before the caller speaks anyway.
    pub max_reply: Duration,
    /// Barge in: start the next utterance this long after the reply's first
    /// audio arrived, while the agent is still talking, instead of waiting
    /// for the reply to finish. `None` (the default) waits politely.
    pub barge_in_after: Option<Duration>,
    /// Keep the heard audio in the report (load tests turn it off: only the
    /// counters are needed, and 1,000 calls' audio adds up).
    pub keep_heard: bool,
    /// Keep talking this long from the stream's start: the utterances come
    /// round again, each followed by waiting for its reply as usual, until
    /// this much time has passed when the next one would begin; then the
    /// caller hangs up. `None` (the default) says each utterance once.
    pub duration: Option<Duration>,
    /// What the human does when the server transfers the call (`<Dial>`).
    pub human: HumanAnswer,
    /// Where the caller is: raw 8 kHz mono mu-law, looped and mixed under
    /// every frame the caller's line carries from the stream's first, the
    /// greeting's time and the pauses included, as a café or a street is
    /// on a real line. Empty (the default): a silent line.
    pub background: Vec<u8>,
}

impl SimOptions {
    /// Options with the defaults: a fixed Israeli mobile as the caller,
    /// fresh SIDs, no utterances, 10 s reply timeout, 700 ms quiet.
    #[must_use]
    pub fn new(base_url: Url, to: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            base_url,
            to: to.into(),
            also_to: Vec::new(),
            from: "+972501234567".to_owned(),
            call_sid: None,
            account_sid: None,
            auth_token: auth_token.into(),
            utterances: Vec::new(),
            public_base_url: None,
            wait_reply_timeout: Duration::from_secs(10),
            reply_quiet: Duration::from_millis(700),
            max_reply: Duration::from_secs(60),
            barge_in_after: None,
            keep_heard: true,
            duration: None,
            human: HumanAnswer::default(),
            background: Vec::new(),
        }
    }

    fn public_base(&self) -> &Url {
        self.public_base_url.as_ref().unwrap_or(&self.base_url)
    }
}

impl fmt::Debug for SimOptions {
    // By hand, so the auth token never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOptions")
            .field("base_url", &self.base_url.as_str())
            .field("to", &self.to)
            .field("also_to", &self.also_to)
            .field("from", &self.from)
            .field("call_sid", &self.call_sid)
            .field("auth_token", &"[redacted]")
            .field("utterances", &self.utterances.len())
            .field(
                "public_base_url",
                &self.public_base_url.as_ref().map(Url::as_str),
            )
            .field("wait_reply_timeout", &self.wait_reply_timeout)
            .field("reply_quiet", &self.reply_quiet)
            .field("max_reply", &self.max_reply)
            .field("barge_in_after", &self.barge_in_after)
            .field("keep_heard", &self.keep_heard)
            .field("duration", &self.duration)
            .field("human", &self.human)
            .field("background", &self.background.len())
            .finish_non_exhaustive()
    }
}

/// How the server handled the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMode {
    /// Streamed to the end: the caller hung up, or the agent did (see
    /// [`CallReport::ended_by_agent`]).
    Stream,
    /// `incoming_call` answered with `<Record>` (streaming off): no stream.
    Record,
    /// The server closed the stream; the `<Connect action>` request got the
    /// recording fallback's TwiML.
    RecordFallback,
    /// The server closed the stream to transfer the call: the `<Connect
    /// action>` request got a `<Dial>` (see [`CallReport::transfer`]).
    Transfer,
}

/// One caller turn as the caller felt it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnReport {
    /// 1 for the first utterance.
    pub turn: u32,
    /// End of caller speech → first reply audio, ms; `None` when no reply
    /// came within the timeout.
    pub caller_felt_ms: Option<f64>,
    /// Reply audio received, ms (8 bytes of mu-law per ms).
    pub reply_audio_ms: u64,
    /// The longest the caller heard nothing from the end of their speech to
    /// the end of the reply, ms (see the module docs); `None` when no reply
    /// came.
    pub longest_silence_ms: Option<f64>,
}

/// What one simulated call observed.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    /// The call's `CA…`.
    pub call_sid: String,
    /// How the server handled the call.
    pub mode: SimMode,
    /// The TwiML `incoming_call` answered.
    pub incoming_twiml: String,
    /// How long the stream carried media, from `start` to the hang-up or
    /// the server's close, s (0 without a stream).
    pub stream_s: f64,
    /// Stream open → first greeting audio, ms; `None` without a greeting.
    pub greeting_wait_ms: Option<f64>,
    /// Greeting audio received, ms.
    pub greeting_audio_ms: u64,
    /// One entry per utterance streamed (fewer when the server closed first).
    pub turns: Vec<TurnReport>,
    /// Everything heard, time-aligned from the stream's start, 8 kHz mu-law
    /// (empty when [`SimOptions::keep_heard`] is off).
    #[serde(skip)]
    pub heard: Vec<u8>,
    /// Server media frames received.
    pub frames_received: u64,
    /// Frames late by more than 40 ms (see the module docs).
    pub late_frames: u64,
    /// The longest playback underrun inside a reply, ms.
    pub max_underrun_ms: f64,
    /// Caller media frames sent.
    pub frames_sent: u64,
    /// Of which sent more than 20 ms after their slot (see the module docs).
    pub send_late_frames: u64,
    /// The latest a caller frame left after its slot, ms.
    pub max_send_lateness_ms: f64,
    /// Marks echoed back to the server.
    pub marks_echoed: u64,
    /// `clear` messages received.
    pub clears: u64,
    /// Server frames real Twilio would reject (binary, malformed, wrong
    /// `streamSid`…); the simulator logs them here and goes on.
    pub protocol_errors: Vec<String>,
    /// The server closed the WebSocket before the caller hung up.
    pub server_closed: bool,
    /// The TwiML the `<Connect action>` answered after the server closed.
    pub fallback_twiml: Option<String>,
    /// The longest silence of any turn, ms; `None` without an answered turn.
    pub longest_silence_ms: Option<f64>,
    /// The server ended the call: the `<Connect action>` answered
    /// `<Hangup/>`.
    pub ended_by_agent: bool,
    /// The transfer to a human, when the server dialled one.
    pub transfer: Option<TransferReport>,
}

/// Why a simulated call could not complete. Causes are chained as
/// `source()`, not repeated in the message: print with `{:#}` (anyhow) or
/// walk the chain.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The request never got an answer.
    #[error("request to {url} failed")]
    Http {
        /// The URL requested.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a non-2xx status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The TwiML gives Twilio nothing this simulator can follow.
    #[error("TwiML from {url}: {reason}")]
    Twiml {
        /// The URL that answered it.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The WebSocket could not be opened (handshake refused, unreachable…).
    #[error("WebSocket {url} failed")]
    WebSocket {
        /// The URL connected to.
        url: String,
        /// The cause.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The options cannot make a call.
    #[error("invalid options: {0}")]
    Options(String),
}

/// Makes one call as Twilio would and reports what the caller heard.
///
/// # Errors
/// [`SimError`] when the webhook or the WebSocket handshake fails, or the
/// TwiML has neither a stream nor a recording. A server that closes the
/// stream mid-call is not an error: the report says so
/// ([`SimMode::RecordFallback`]).
pub async fn simulate_call(opts: &SimOptions) -> Result<CallReport, SimError> {
    let http = http_client()?;
    let call_sid = opts.call_sid.clone().unwrap_or_else(|| fresh_sid("CA"));
    run_call(opts, &opts.to, &http, call_sid, &Histogram::new()).await
}

pub(crate) fn http_client() -> Result<reqwest::Client, SimError> {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|source| SimError::Http {
            url: String::new(),
            source,
        })
}

/// A Twilio-style SID: the two-letter prefix and 32 hex digits.
pub(crate) fn fresh_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// One call; each caller frame's send lateness also goes to
/// `send_lateness`, which many calls share.
pub(crate) async fn run_call(
    opts: &SimOptions,
    to: &str,
    http: &reqwest::Client,
    call_sid: String,
    send_lateness: &Histogram,
) -> Result<CallReport, SimError> {
    let account_sid = opts.account_sid.clone().unwrap_or_else(|| fresh_sid("AC"));
    let call = CallParams {
        call_sid: &call_sid,
        account_sid: &account_sid,
        from: &opts.from,
        to,
    };

    let incoming_public = join(opts.public_base(), "webhook/incoming_call");
    let incoming_twiml = post_signed(opts, http, &incoming_public, &call.params("ringing")).await?;
    let twiml_error = |reason| SimError::Twiml {
        url: incoming_public.to_string(),
        reason,
    };
    let (action, stream_url, parameters) =
        match twiml::next_step(&incoming_twiml).map_err(twiml_error)? {
            NextStep::Record { .. } => {
                return Ok(CallReport::without_stream(
                    call_sid,
                    SimMode::Record,
                    incoming_twiml,
                ));
            }
            NextStep::Stream {
                action,
                url,
                parameters,
            } => (action, url, parameters),
            NextStep::Dial(_) | NextStep::Hangup => {
                return Err(twiml_error(
                    "the call ends before any stream: neither <Connect><Stream> nor <Record>"
                        .to_owned(),
                ));
            }
        };

    let ws_url = websocket_url(&opts.base_url, &stream_url).map_err(twiml_error)?;
    let plan = stream::Plan {
        ws_url,
        stream_url: &stream_url,
        parameters: &parameters,
        call_sid: &call_sid,
        account_sid: &account_sid,
    };
    let outcome = stream::run(opts, plan, send_lateness).await?;

    let mut report = CallReport {
        call_sid: call_sid.clone(),
        mode: SimMode::Stream,
        incoming_twiml,
        stream_s: outcome.talked.as_secs_f64(),
        greeting_wait_ms: outcome.greeting_wait_ms,
        greeting_audio_ms: outcome.greeting_audio_ms,
        turns: outcome.turns,
        frames_received: outcome.playback.frames_received,
        late_frames: outcome.playback.late_frames,
        max_underrun_ms: outcome.playback.max_underrun.as_secs_f64() * 1000.0,
        frames_sent: outcome.sending.frames,
        send_late_frames: outcome.sending.late_frames,
        max_send_lateness_ms: outcome.sending.max_lateness.as_secs_f64() * 1000.0,
        marks_echoed: outcome.marks_echoed,
        clears: outcome.clears,
        protocol_errors: outcome.protocol_errors,
        server_closed: outcome.server_closed,
        fallback_twiml: None,
        longest_silence_ms: None,
        ended_by_agent: false,
        transfer: None,
        heard: outcome.playback.into_heard(),
    };
    report.longest_silence_ms = report
        .turns
        .iter()
        .filter_map(|t| t.longest_silence_ms)
        .reduce(f64::max);
    if report.server_closed {
        // What Twilio does when the server ends a <Connect><Stream>: request
        // the Connect action, whose answer is the call's next TwiML.
        if let Some(action) = action {
            let action_public = incoming_public.join(&action).map_err(|e| SimError::Twiml {
                url: incoming_public.to_string(),
                reason: format!("<Connect action={action:?}> is not a URL: {e}"),
            })?;
            let answer =
                post_signed(opts, http, &action_public, &call.params("in-progress")).await?;
            let step = twiml::next_step(&answer).map_err(|reason| SimError::Twiml {
                url: action_public.to_string(),
                reason,
            })?;
            report.fallback_twiml = Some(answer);
            match step {
                NextStep::Record { action } => {
                    report.mode = SimMode::RecordFallback;
                    leave_recording(opts, http, &call, &action_public, action.as_deref()).await?;
                }
                NextStep::Hangup => {
                    report.ended_by_agent = true;
                    post_final_status(opts, http, &call, report.stream_s).await;
                }
                NextStep::Dial(dial) => {
                    report.mode = SimMode::Transfer;
                    let transfer =
                        transfer::follow(opts, http, &call, &action_public, &dial).await?;
                    if transfer.after == transfer::AFTER_HANGUP {
                        post_final_status(opts, http, &call, report.stream_s).await;
                    }
                    report.transfer = Some(transfer);
                }
                NextStep::Stream { .. } => {
                    return Err(SimError::Twiml {
                        url: action_public.to_string(),
                        reason: "a second <Connect><Stream> after the stream ended".to_owned(),
                    });
                }
            }
        }
    } else {
        post_final_status(opts, http, &call, report.stream_s).await;
    }
    Ok(report)
}

/// The call is over: Twilio posts the final status to the number's status
/// callback, which is what queues the call's outcome and the owner's
/// message. Twilio ignores the answer, and so does the caller: an instance
/// (or a test double) without the route still had its call.
async fn post_final_status(
    opts: &SimOptions,
    http: &reqwest::Client,
    call: &CallParams<'_>,
    stream_s: f64,
) {
    let status_public = join(opts.public_base(), "webhook/call_status");
    let mut params = call.params("completed");
    params.push(("CallDuration".to_owned(), format!("{:.0}", stream_s.ceil())));
    if let Err(err) = post_signed(opts, http, &status_public, &params).await {
        tracing::debug!(error = %err, "final call status not taken");
    }
}

/// The caller leaves a message after `<Record>`: Twilio posts the
/// `<Record action>` (resolved against `document`, the URL that answered
/// the TwiML) with the recording's details. The recording itself is never
/// fetched by the simulator, so its URL only has Twilio's shape.
async fn leave_recording(
    opts: &SimOptions,
    http: &reqwest::Client,
    call: &CallParams<'_>,
    document: &Url,
    action: Option<&str>,
) -> Result<(), SimError> {
    let Some(action) = action else {
        // Without an action Twilio would request the same document again;
        // the server always names one, so there is nothing to learn here.
        return Ok(());
    };
    let action_public = document.join(action).map_err(|e| SimError::Twiml {
        url: document.to_string(),
        reason: format!("<Record action={action:?}> is not a URL: {e}"),
    })?;
    let recording_sid = fresh_sid("RE");
    // The message is as long as the caller's first utterance, as if they
    // said it again to the recorder.
    let said_s = opts.utterances.first().map_or(0, |u| u.len() / 8_000);
    let mut params = call.params("in-progress");
    params.extend([
        (
            "RecordingUrl".to_owned(),
            format!(
                "https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
                call.account_sid
            ),
        ),
        ("RecordingSid".to_owned(), recording_sid),
        ("RecordingDuration".to_owned(), said_s.max(1).to_string()),
        ("RecordingStatus".to_owned(), "completed".to_owned()),
    ]);
    // The answer only thanks the caller and hangs up; that it came is
    // what matters.
    post_signed(opts, http, &action_public, &params).await?;
    Ok(())
}

impl CallReport {
    fn without_stream(call_sid: String, mode: SimMode, incoming_twiml: String) -> Self {
        Self {
            call_sid,
            mode,
            incoming_twiml,
            stream_s: 0.0,
            greeting_wait_ms: None,
            greeting_audio_ms: 0,
            turns: Vec::new(),
            heard: Vec::new(),
            frames_received: 0,
            late_frames: 0,
            max_underrun_ms: 0.0,
            frames_sent: 0,
            send_late_frames: 0,
            max_send_lateness_ms: 0.0,
            marks_echoed: 0,
            clears: 0,
            protocol_errors: Vec::new(),
            server_closed: false,
            fallback_twiml: None,
            longest_silence_ms: None,
            ended_by_agent: false,
            transfer: None,
        }
    }
}

/// The standard parameters of every Twilio voice request.
struct CallParams<'a> {
    call_sid: &'a str,
    account_sid: &'a str,
    from: &'a str,
    to: &'a str,
}

impl CallParams<'_> {
    fn params(&self, call_status: &str) -> Vec<(String, String)> {
        [
            ("CallSid", self.call_sid),
            ("AccountSid", self.account_sid),
            ("From", self.from),
            ("To", self.to),
            ("CallStatus", call_status),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

/// `base` + `path`, keeping any path prefix of `base` (a proxy may mount the
/// service under one).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}/{path}"));
    url.set_query(None);
    url
}

/// Signs `params` over the public `signed_url` as Twilio would, and posts
/// them to the same path and query on the server actually reachable.
async fn post_signed(
    opts: &SimOptions,
    http: &reqwest::Client,
    signed_url: &Url,
    params: &[(String, String)],
) -> Result<String, SimError> {
    let signature = twilio::signature::compute(&opts.auth_token, signed_url.as_str(), params);
    let target = on_server(opts, signed_url);
    let url = target.to_string();
    let http_error = |source| SimError::Http {
        url: url.clone(),
        source,
    };
    let response = http
        .post(target)
        .header("X-Twilio-Signature", signature)
        .form(params)
        .send()
        .await
        .map_err(http_error)?;
    let status = response.status();
    let body = response.text().await.map_err(http_error)?;
    if !status.is_success() {
        return Err(SimError::Status {
            url,
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        });
    }
    Ok(body)
}

/// The same path and query as `public` on the server actually reachable:
/// the URLs the server writes name its public host, which a local run
/// cannot reach.
fn on_server(opts: &SimOptions, public: &Url) -> Url {
    let mut target = opts.base_url.clone();
    target.set_path(public.path());
    target.set_query(public.query());
    target
}

/// The WebSocket URL to dial: the Stream URL's path and query on the
/// server's own host and port (the Stream URL names the public host, which a
/// local run cannot reach), with `ws`/`wss` following `http`/`https`.
fn websocket_url(base: &Url, stream_url: &str) -> Result<Url, String> {
    let stream = Url::parse(stream_url).map_err(|e| format!("<Stream url> is not a URL: {e}"))?;
    let scheme = match base.scheme() {
        "https" => "wss",
        "http" => "ws",
        other => return Err(format!("base URL scheme {other:?} is not http or https")),
    };
    let mut url = base.clone();
    url.set_scheme(scheme)
        .map_err(|()| format!("cannot turn {base} into a {scheme} URL"))?;
    url.set_path(stream.path());
    url.set_query(stream.query());
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_goes_to_the_servers_host_on_the_stream_urls_path() {
        let base = Url::parse("http://127.0.0.1:8080").unwrap();
        let ws = websocket_url(&base, "wss://agent.example.com/ws/twilio-media").unwrap();
        assert_eq!(ws.as_str(), "ws://127.0.0.1:8080/ws/twilio-media");
        let base = Url::parse("https://staging.example.com").unwrap();
        let ws = websocket_url(&base, "wss://agent.example.com/ws/twilio-media").unwrap();
        assert_eq!(ws.as_str(), "wss://staging.example.com/ws/twilio-media");
    }

    #[test]
    fn webhook_urls_keep_the_public_base_path_prefix() {
        let base = Url::parse("https://example.com/agent/").unwrap();
        assert_eq!(
            join(&base, "webhook/incoming_call").as_str(),
            "https://example.com/agent/webhook/incoming_call"
        );
        let base = Url::parse("https://example.com").unwrap();
        assert_eq!(
            join(&base, "webhook/incoming_call").as_str(),
            "https://example.com/webhook/incoming_call"
        );
    }

    #[test]
    fn fresh_sids_have_the_prefix_and_32_hex_digits() {
        let sid = fresh_sid("CA");
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("CA"));
        assert!(sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_options_debug_output_hides_the_auth_token() {
        let opts = SimOptions::new(Url::parse("http://h").unwrap(), "+972", "s3cret-token");
        assert!(!format!("{opts:?}").contains("s3cret-token"));
    }
}
