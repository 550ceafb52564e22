//! Frames the service sends to Twilio: written borrowed on the audio path,
//! read back owned by the fake Twilio that checks them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{MediaError, classify, decode_into};

const OUTBOUND_EVENTS: &[&str] = &["media", "mark", "clear"];

/// A frame we send to Twilio, borrowing its strings so the audio path
/// allocates only the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound<'a> {
    /// Audio to play: base64 raw mu-law, 8 kHz, no file header, any length.
    Media {
        /// The stream from the `start` frame; a wrong one ends the stream.
        stream_sid: &'a str,
        /// Base64 of the mu-law bytes.
        payload_b64: &'a str,
    },
    /// Ask Twilio to echo `name` once the audio queued before it has played.
    Mark {
        /// The stream from the `start` frame.
        stream_sid: &'a str,
        /// Our label, echoed back in an inbound `mark`.
        name: &'a str,
    },
    /// Drop all queued audio at once (barge-in); pending marks are echoed.
    Clear {
        /// The stream from the `start` frame.
        stream_sid: &'a str,
    },
}

impl Outbound<'_> {
    /// The frame in Twilio's shape.
    #[must_use]
    pub fn to_json(&self) -> String {
        let wire = match *self {
            Self::Media {
                stream_sid,
                payload_b64,
            } => Wire::Media {
                stream_sid,
                media: PayloadWire {
                    payload: payload_b64,
                },
            },
            Self::Mark { stream_sid, name } => Wire::Mark {
                stream_sid,
                mark: NameWire { name },
            },
            Self::Clear { stream_sid } => Wire::Clear { stream_sid },
        };
        serde_json::to_string(&wire).expect("string-keyed structs always serialise")
    }
}

/// An outbound `media` frame carrying `mulaw`, base64-encoded: the same
/// text as [`Outbound::to_json`] gives, written straight into one string of
/// the exact size. It runs for every 20 ms of the agent's audio on every
/// call, where serde's path cost an extra buffer and an escape scan of the
/// whole payload (base64 never needs escaping).
#[must_use]
pub fn media_frame(stream_sid: &str, mulaw: &[u8]) -> String {
    const HEAD: &str = r#"{"event":"media","streamSid":"#;
    const MIDDLE: &str = r#","media":{"payload":""#;
    const TAIL: &str = r#""}}"#;
    let payload_len = mulaw.len().div_ceil(3) * 4;
    let mut out = String::with_capacity(
        HEAD.len() + stream_sid.len() + 2 + MIDDLE.len() + payload_len + TAIL.len(),
    );
    out.push_str(HEAD);
    push_json_str(&mut out, stream_sid);
    out.push_str(MIDDLE);
    STANDARD.encode_string(mulaw, &mut out);
    out.push_str(TAIL);
    out
}

/// Appends `text` as a JSON string, quoted and escaped as serde_json does.
fn push_json_str(out: &mut String, text: &str) {
    // serde_json escapes exactly these; anything else is written as is.
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::to_string(text).expect("a str always serialises"));
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

/// An outbound frame read back from JSON, owning its strings: what a fake
/// Twilio receives from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundMessage {
    /// See [`Outbound::Media`].
    Media {
        /// The stream named.
        stream_sid: String,
        /// Base64 of the mu-law bytes.
        payload_b64: String,
    },
    /// See [`Outbound::Mark`].
    Mark {
        /// The stream named.
        stream_sid: String,
        /// The mark's label.
        name: String,
    },
    /// See [`Outbound::Clear`].
    Clear {
        /// The stream named.
        stream_sid: String,
    },
}

impl OutboundMessage {
    /// Borrows the message as the [`Outbound`] it was written from.
    #[must_use]
    pub fn as_outbound(&self) -> Outbound<'_> {
        match self {
            Self::Media {
                stream_sid,
                payload_b64,
            } => Outbound::Media {
                stream_sid,
                payload_b64,
            },
            Self::Mark { stream_sid, name } => Outbound::Mark { stream_sid, name },
            Self::Clear { stream_sid } => Outbound::Clear { stream_sid },
        }
    }

    /// The stream the frame names.
    #[must_use]
    pub fn stream_sid(&self) -> &str {
        match self {
            Self::Media { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Clear { stream_sid } => stream_sid,
        }
    }

    /// For a `media` frame, decodes the audio into `out` as
    /// [`Media::decode_payload_into`] does; other frames leave `out` empty.
    ///
    /// # Errors
    /// [`MediaError::Payload`] when the payload is not padded standard base64.
    pub fn decode_payload_into(&self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        match self {
            Self::Media { payload_b64, .. } => decode_into(payload_b64, out),
            Self::Mark { .. } | Self::Clear { .. } => {
                out.clear();
                Ok(())
            }
        }
    }
}

/// Parses one text frame the service sent to Twilio, as strictly as Twilio
/// does: a missing `streamSid` or payload is [`MediaError::Malformed`] (the
/// real Twilio would end the stream with error 31951). Never panics.
///
/// # Errors
/// [`MediaError::UnknownEvent`] for an event other than `media`, `mark` or
/// `clear`; [`MediaError::Malformed`] for anything else that does not fit.
pub fn parse_outbound(text: &str) -> Result<OutboundMessage, MediaError> {
    let wire: Wire<String> =
        serde_json::from_str(text).map_err(|err| classify(text, err, OUTBOUND_EVENTS))?;
    Ok(match wire {
        Wire::Media { stream_sid, media } => OutboundMessage::Media {
            stream_sid,
            payload_b64: media.payload,
        },
        Wire::Mark { stream_sid, mark } => OutboundMessage::Mark {
            stream_sid,
            name: mark.name,
        },
        Wire::Clear { stream_sid } => OutboundMessage::Clear { stream_sid },
    })
}

/// The server → Twilio wire shape, generic over the string type so one
/// definition both writes borrowed frames and reads owned ones.
#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Wire<S> {
    #[serde(rename_all = "camelCase")]
    Media {
        stream_sid: S,
        media: PayloadWire<S>,
    },
    #[serde(rename_all = "camelCase")]
    Mark { stream_sid: S, mark: NameWire<S> },
    #[serde(rename_all = "camelCase")]
    Clear { stream_sid: S },
}

#[derive(Serialize, Deserialize)]
struct PayloadWire<S> {
    payload: S,
}

#[derive(Serialize, Deserialize)]
struct NameWire<S> {
    name: S,
}
