//! Twilio's side of a transfer: the `<Dial>` after the stream, the human's leg with its whisper, and the `<Dial action>` that says how it went.
//!
//! Twilio resolves every relative URL against the URL of the request that
//! answered it, on the public host the server believes it has; the
//! simulator signs over that URL and sends to the same path on the server it
//! can reach (see `post_signed`), and fetches a `<Play>` URL the same way.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use url::Url;

use super::twiml::{self, Dial, NextStep};
use super::{CallParams, SimError, SimOptions, fresh_sid, leave_recording, on_server, post_signed};

/// [`TransferReport::after`] when the call ended with `<Hangup/>`.
pub(crate) const AFTER_HANGUP: &str = "hangup";
/// [`TransferReport::after`] when the caller left a message instead.
const AFTER_RECORDING: &str = "recording";
/// How long an answered transfer talks, s: the `DialCallDuration` posted.
const TALKED_S: u32 = 5;

/// What the dialled human does when the server transfers the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HumanAnswer {
    /// Picks up, hears the whisper, talks, hangs up (`completed`).
    #[default]
    Answers,
    /// Lets it ring out (`no-answer`).
    NoAnswer,
    /// Is on another call (`busy`).
    Busy,
}

impl HumanAnswer {
    /// Twilio's `DialCallStatus` for this outcome.
    #[must_use]
    pub fn dial_call_status(self) -> &'static str {
        match self {
            Self::Answers => "completed",
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
        }
    }
}

impl FromStr for HumanAnswer {
    type Err = String;

    /// `answers`, `no-answer` or `busy`, as the CLI's `--human` takes them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "answers" => Ok(Self::Answers),
            "no-answer" => Ok(Self::NoAnswer),
            "busy" => Ok(Self::Busy),
            other => Err(format!("{other:?} is not one of answers, no-answer, busy")),
        }
    }
}

impl fmt::Display for HumanAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Answers => "answers",
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
        })
    }
}

/// How a transfer went, as Twilio saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReport {
    /// The `<Number>` dialled.
    pub dialled: String,
    /// The `<Dial callerId>` the human saw (empty when absent).
    pub caller_id: String,
    /// Whisper audio the human heard before being connected, ms (0 for a
    /// `<Say>` whisper, for none, or when the human did not answer).
    pub whisper_ms: u64,
    /// The whisper's `<Say>` text, when it was spoken rather than played.
    pub whisper_text: Option<String>,
    /// The `DialCallStatus` posted to the `<Dial action>`.
    pub dial_status: String,
    /// What the `<Dial action>` did next: `hangup`, or `recording` (the
    /// caller left a message).
    pub after: String,
}

/// Follows a `<Dial>` that `document` answered: the human's leg as
/// [`SimOptions::human`] says, then the `<Dial action>` and what it answers.
pub(crate) async fn follow(
    opts: &SimOptions,
    http: &reqwest::Client,
    call: &CallParams<'_>,
    document: &Url,
    dial: &Dial,
) -> Result<TransferReport, SimError> {
    let mut report = TransferReport {
        dialled: dial.number.clone(),
        caller_id: dial.caller_id.clone().unwrap_or_default(),
        whisper_ms: 0,
        whisper_text: None,
        dial_status: opts.human.dial_call_status().to_owned(),
        after: AFTER_HANGUP.to_owned(),
    };
    let child_sid = fresh_sid("CA");
    if opts.human == HumanAnswer::Answers
        && let Some(url) = &dial.number_url
    {
        let whisper_public = resolve(document, url, "<Number url>")?;
        let child = CallParams {
            call_sid: &child_sid,
            account_sid: call.account_sid,
            from: dial.caller_id.as_deref().unwrap_or(call.to),
            to: &dial.number,
        };
        let mut params = child.params("in-progress");
        for (name, value) in &mut params {
            if name == "Direction" {
                "outbound-dial".clone_into(value);
            }
        }
        params.push(("ParentCallSid".to_owned(), call.call_sid.to_owned()));
        let answer = post_signed(opts, http, &whisper_public, &params).await?;
        let whisper = twiml::whisper(&answer).map_err(|reason| SimError::Twiml {
            url: whisper_public.to_string(),
            reason,
        })?;
        report.whisper_text = whisper.say;
        if let Some(play) = whisper.play {
            let play_public = resolve(&whisper_public, &play, "<Play>")?;
            report.whisper_ms = fetch_audio_ms(opts, http, &play_public).await?;
        }
    }

    let Some(action) = &dial.action else {
        // Without an action Twilio goes on after the <Dial>, and the
        // server writes nothing there: the call ends.
        return Ok(report);
    };
    let action_public = resolve(document, action, "<Dial action>")?;
    let mut params = call.params("in-progress");
    params.push(("DialCallStatus".to_owned(), report.dial_status.clone()));
    params.push(("DialCallSid".to_owned(), child_sid));
    if opts.human == HumanAnswer::Answers {
        params.push(("DialCallDuration".to_owned(), TALKED_S.to_string()));
    }
    let answer = post_signed(opts, http, &action_public, &params).await?;
    let twiml_error = |reason| SimError::Twiml {
        url: action_public.to_string(),
        reason,
    };
    match twiml::next_step(&answer).map_err(twiml_error)? {
        NextStep::Hangup => {}
        NextStep::Record { action } if opts.human != HumanAnswer::Answers => {
            leave_recording(opts, http, call, &action_public, action.as_deref()).await?;
            AFTER_RECORDING.clone_into(&mut report.after);
        }
        _ => {
            return Err(twiml_error(format!(
                "after DialCallStatus={} expected <Hangup/>{}, got {answer}",
                report.dial_status,
                if opts.human == HumanAnswer::Answers {
                    ""
                } else {
                    " or <Record>"
                }
            )));
        }
    }
    Ok(report)
}

/// `url` as Twilio reads it in a document fetched from `document`.
fn resolve(document: &Url, url: &str, what: &str) -> Result<Url, SimError> {
    document.join(url).map_err(|e| SimError::Twiml {
        url: document.to_string(),
        reason: format!("{what} {url:?} is not a URL: {e}"),
    })
}

/// Fetches a `<Play>` URL (unsigned, as Twilio's media fetches are) from the
/// server actually reachable and returns how much audio its WAV holds, ms.
async fn fetch_audio_ms(
    opts: &SimOptions,
    http: &reqwest::Client,
    public: &Url,
) -> Result<u64, SimError> {
    let target = on_server(opts, public);
    let url = target.to_string();
    let http_error = |source| SimError::Http {
        url: url.clone(),
        source,
    };
    let response = http.get(target).send().await.map_err(http_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(http_error)?;
    if !status.is_success() {
        return Err(SimError::Status {
            url,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(500).collect(),
        });
    }
    let not_audio = |reason: String| SimError::Twiml {
        url: url.clone(),
        reason,
    };
    let wav = voice::wav::parse(&body).map_err(|e| not_audio(format!("<Play> audio: {e}")))?;
    let bytes_per_s = u64::from(wav.sample_rate)
        * u64::from(wav.channels)
        * u64::from(wav.bits_per_sample).div_ceil(8);
    if wav.data.is_empty() || bytes_per_s == 0 {
        return Err(not_audio("<Play> audio holds no sound".to_owned()));
    }
    Ok(wav.data.len() as u64 * 1000 / bytes_per_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_names_of_the_humans_answers_read_back() {
        for human in [
            HumanAnswer::Answers,
            HumanAnswer::NoAnswer,
            HumanAnswer::Busy,
        ] {
            assert_eq!(human.to_string().parse::<HumanAnswer>(), Ok(human));
        }
        assert!("maybe".parse::<HumanAnswer>().is_err());
    }

    #[test]
    fn a_relative_whisper_url_is_read_against_the_document_that_named_it() {
        let document = Url::parse("https://agent.example.com/webhook/stream_ended").unwrap();
        let url = resolve(&document, "/webhook/transfer_whisper?token=t", "x").unwrap();
        assert_eq!(
            url.as_str(),
            "https://agent.example.com/webhook/transfer_whisper?token=t"
        );
    }
}
