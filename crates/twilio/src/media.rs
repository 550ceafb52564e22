//! Twilio Media Streams messages (bidirectional `<Connect><Stream>`): the
//! JSON text frames in both directions, parsed and written with the exact
//! wire names. Both directions parse and serialise, because the service
//! reads Twilio's frames and the call simulator writes them. Audio stays
//! base64 here; mu-law and pacing live in the voice crate and the service.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

pub use outbound::{Outbound, OutboundMessage, media_frame, parse_outbound};

mod outbound;

/// Why a Media Streams frame could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Well-formed JSON with an `event` this crate does not know. Twilio may
    /// add events, so callers usually log and skip these rather than end the
    /// stream.
    #[error("unknown Media Streams event {0:?}")]
    UnknownEvent(String),
    /// Not JSON, no string `event`, or a known event with missing or
    /// mistyped fields.
    #[error("malformed Media Streams message: {0}")]
    Malformed(serde_json::Error),
    /// A media payload that is not standard padded base64.
    #[error("media payload is not valid base64: {0}")]
    Payload(base64::DecodeError),
}

/// A frame Twilio sends to our WebSocket.
///
/// Serialising one yields Twilio's own shape, field order included, so the
/// call simulator can play Twilio's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Inbound {
    /// First frame: the socket is open.
    Connected {
        /// `"Call"`.
        #[serde(default)]
        protocol: String,
        /// `"1.0.0"`.
        #[serde(default)]
        version: String,
    },
    /// Stream metadata, once, before any media.
    #[serde(rename_all = "camelCase")]
    Start {
        /// Frame counter of the stream.
        #[serde(with = "wire_u64")]
        sequence_number: u64,
        /// The metadata itself.
        start: Start,
        /// The stream every outbound frame must name.
        stream_sid: String,
    },
    /// Caller audio.
    #[serde(rename_all = "camelCase")]
    Media {
        /// Frame counter of the stream.
        #[serde(with = "wire_u64")]
        sequence_number: u64,
        /// The audio chunk.
        media: Media,
        /// The stream this frame belongs to.
        stream_sid: String,
    },
    /// A key the caller pressed.
    #[serde(rename_all = "camelCase")]
    Dtmf {
        /// The stream this frame belongs to.
        stream_sid: String,
        /// Frame counter of the stream.
        #[serde(with = "wire_u64")]
        sequence_number: u64,
        /// The key.
        dtmf: Dtmf,
    },
    /// Echo of a mark we sent: the audio queued before it has played (or
    /// was cleared).
    #[serde(rename_all = "camelCase")]
    Mark {
        /// Frame counter of the stream.
        #[serde(with = "wire_u64")]
        sequence_number: u64,
        /// The stream this frame belongs to.
        stream_sid: String,
        /// Which mark.
        mark: Mark,
    },
    /// Last frame: the stream is over (call ended or stream stopped).
    #[serde(rename_all = "camelCase")]
    Stop {
        /// Frame counter of the stream.
        #[serde(with = "wire_u64")]
        sequence_number: u64,
        /// Which call stopped.
        stop: Stop,
        /// The stream that ended.
        stream_sid: String,
    },
}

/// The `start` object of a `start` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// `AC…`
    pub account_sid: String,
    /// `MZ…`, same as the frame's `streamSid`.
    pub stream_sid: String,
    /// `CA…`
    pub call_sid: String,
    /// Tracks carried, `["inbound"]` for a bidirectional stream.
    pub tracks: Vec<String>,
    /// Encoding of every payload in the stream.
    pub media_format: MediaFormat,
    /// The `<Parameter name value/>` children of `<Stream>`.
    #[serde(default)]
    pub custom_parameters: HashMap<String, String>,
}

/// Audio encoding of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    /// Samples per second, 8000.
    pub sample_rate: u32,
    /// 1.
    pub channels: u16,
}

/// The `media` object of an inbound `media` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// `inbound` on a bidirectional stream.
    pub track: String,
    /// Chunk counter of this track, from 1.
    #[serde(with = "wire_u64")]
    pub chunk: u64,
    /// Milliseconds since the stream started.
    #[serde(with = "wire_u64")]
    pub timestamp: u64,
    /// Base64 raw mu-law, left encoded: decoding belongs to the caller's
    /// hot path, see [`Media::decode_payload_into`]. Derive the audio length
    /// from it; 160 bytes (20 ms) is typical, not guaranteed.
    pub payload: String,
}

/// The `dtmf` object of a `dtmf` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtmf {
    /// `inbound_track`.
    pub track: String,
    /// `0`–`9`, `*` or `#`.
    pub digit: String,
}

/// The `mark` object of a `mark` frame, in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The name we gave the mark.
    pub name: String,
}

/// The `stop` object of a `stop` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    /// `AC…`
    pub account_sid: String,
    /// `CA…`
    pub call_sid: String,
}

/// Parses one text frame from Twilio.
///
/// Never panics. A well-formed frame with an event this crate does not know
/// is [`MediaError::UnknownEvent`], so callers can skip it.
///
/// # Errors
/// [`MediaError::UnknownEvent`] for a well-formed frame with another event;
/// [`MediaError::Malformed`] for anything else that does not fit.
pub fn parse_inbound(text: &str) -> Result<Inbound, MediaError> {
    serde_json::from_str(text).map_err(|err| classify(text, err, INBOUND_EVENTS))
}

/// A `media` frame as [`parse_media_frame`] reads it: every field of
/// [`Inbound::Media`], with the strings borrowed from the text (owned only
/// where the JSON escapes them, which Twilio's never do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame<'a> {
    /// Frame counter of the stream.
    pub sequence_number: u64,
    /// The stream this frame belongs to.
    pub stream_sid: Cow<'a, str>,
    /// `inbound` on a bidirectional stream.
    pub track: Cow<'a, str>,
    /// Chunk counter of this track, from 1.
    pub chunk: u64,
    /// Milliseconds since the stream started.
    pub timestamp: u64,
    /// Base64 raw mu-law, as in [`Media::payload`].
    pub payload: Cow<'a, str>,
}

/// Reads a `media` frame without copying its strings: the fast path for the
/// 50 frames a second of every call, which [`parse_inbound`] would buffer
/// whole (the `event` tag may come last) and copy field by field.
///
/// `Some` exactly when [`parse_inbound`] would return [`Inbound::Media`],
/// with the same values; `None` for everything else — another event, or
/// anything malformed — which the caller then hands to [`parse_inbound`] for
/// the full answer. Never panics.
#[must_use]
pub fn parse_media_frame(text: &str) -> Option<MediaFrame<'_>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Flat<'a> {
        #[serde(borrow)]
        event: Cow<'a, str>,
        #[serde(default, deserialize_with = "wire_u64::some")]
        sequence_number: Option<u64>,
        #[serde(borrow)]
        media: Option<Body<'a>>,
        #[serde(borrow, default, deserialize_with = "some_borrowed")]
        stream_sid: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        track: Cow<'a, str>,
        #[serde(with = "wire_u64")]
        chunk: u64,
        #[serde(with = "wire_u64")]
        timestamp: u64,
        #[serde(borrow)]
        payload: Cow<'a, str>,
    }
    // Only an object: serde would also read a JSON array into the struct
    // by position, a form the tagged enum reads differently.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let flat: Flat<'_> = serde_json::from_str(text).ok()?;
    if flat.event != "media" {
        return None;
    }
    let body = flat.media?;
    Some(MediaFrame {
        sequence_number: flat.sequence_number?,
        stream_sid: flat.stream_sid?,
        track: body.track,
        chunk: body.chunk,
        timestamp: body.timestamp,
        payload: body.payload,
    })
}

/// A string borrowed from the text where it can be. serde's own `Cow`
/// support borrows only a bare `Cow` field, not one inside an `Option`.
fn some_borrowed<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(value))
        }
        fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(value.to_owned()))
        }
    }
    deserializer.deserialize_str(Text).map(Some)
}

impl MediaFrame<'_> {
    /// Decodes the payload into `out` as [`Media::decode_payload_into`] does.
    ///
    /// # Errors
    /// [`MediaError::Payload`] when the payload is not padded standard
    /// base64; `out` is then left empty.
    pub fn decode_payload_into(&self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        decode_into(&self.payload, out)
    }
}

impl MediaFrame<'static> {
    /// The frame of an [`Inbound::Media`] parsed the long way, owning its strings.
    #[must_use]
    pub fn owned(sequence_number: u64, media: Media, stream_sid: String) -> Self {
        Self {
            sequence_number,
            stream_sid: Cow::Owned(stream_sid),
            track: Cow::Owned(media.track),
            chunk: media.chunk,
            timestamp: media.timestamp,
            payload: Cow::Owned(media.payload),
        }
    }
}

const INBOUND_EVENTS: &[&str] = &["connected", "start", "media", "dtmf", "mark", "stop"];

/// Tells an unknown event from a malformed frame. Runs only on the error
/// path, so well-formed frames are parsed once.
pub(crate) fn classify(text: &str, err: serde_json::Error, known: &[&str]) -> MediaError {
    #[derive(Deserialize)]
    struct EventOnly {
        event: String,
    }
    match serde_json::from_str::<EventOnly>(text) {
        Ok(EventOnly { event }) if !known.contains(&event.as_str()) => {
            MediaError::UnknownEvent(event)
        }
        _ => MediaError::Malformed(err),
    }
}

impl Inbound {
    /// The `connected` frame Twilio sends first.
    #[must_use]
    pub fn connected() -> Self {
        Self::Connected {
            protocol: "Call".to_owned(),
            version: "1.0.0".to_owned(),
        }
    }

    /// The frame as Twilio would send it.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("string-keyed structs always serialise")
    }

    /// The stream this frame belongs to; `connected` names none.
    #[must_use]
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Connected { .. } => None,
            Self::Start { stream_sid, .. }
            | Self::Media { stream_sid, .. }
            | Self::Dtmf { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Stop { stream_sid, .. } => Some(stream_sid),
        }
    }

    /// The frame counter; `connected` has none.
    #[must_use]
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            Self::Connected { .. } => None,
            Self::Start {
                sequence_number, ..
            }
            | Self::Media {
                sequence_number, ..
            }
            | Self::Dtmf {
                sequence_number, ..
            }
            | Self::Mark {
                sequence_number, ..
            }
            | Self::Stop {
                sequence_number, ..
            } => Some(*sequence_number),
        }
    }
}

impl Start {
    /// Metadata of an inbound-only, 8 kHz mono mu-law stream — what a
    /// bidirectional `<Connect><Stream>` always carries — with no custom
    /// parameters yet.
    #[must_use]
    pub fn new(account_sid: &str, stream_sid: &str, call_sid: &str) -> Self {
        Self {
            account_sid: account_sid.to_owned(),
            stream_sid: stream_sid.to_owned(),
            call_sid: call_sid.to_owned(),
            tracks: vec!["inbound".to_owned()],
            media_format: MediaFormat::default(),
            custom_parameters: HashMap::new(),
        }
    }

    /// Adds a custom parameter, as a `<Parameter>` in the TwiML would.
    #[must_use]
    pub fn with_parameter(mut self, name: &str, value: &str) -> Self {
        self.custom_parameters
            .insert(name.to_owned(), value.to_owned());
        self
    }
}

impl Default for MediaFormat {
    /// 8 kHz mono mu-law, the only format Media Streams uses.
    fn default() -> Self {
        Self {
            encoding: "audio/x-mulaw".to_owned(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

impl Media {
    /// An inbound chunk carrying `mulaw`, base64-encoded as on the wire.
    #[must_use]
    pub fn inbound(chunk: u64, timestamp_ms: u64, mulaw: &[u8]) -> Self {
        Self {
            track: "inbound".to_owned(),
            chunk,
            timestamp: timestamp_ms,
            payload: STANDARD.encode(mulaw),
        }
    }

    /// Decodes the payload into `out`, replacing its contents but keeping
    /// its allocation, so a per-call buffer serves every frame.
    ///
    /// # Errors
    /// [`MediaError::Payload`] when the payload is not padded standard
    /// base64; `out` is then left empty.
    pub fn decode_payload_into(&self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        decode_into(&self.payload, out)
    }
}

pub(crate) fn decode_into(payload_b64: &str, out: &mut Vec<u8>) -> Result<(), MediaError> {
    out.clear();
    let result = STANDARD.decode_vec(payload_b64, out);
    if result.is_err() {
        out.clear();
    }
    result.map_err(MediaError::Payload)
}

/// Counters Twilio sends as JSON strings (`"sequenceNumber":"4"`). Written
/// back as strings to match Twilio; numbers are accepted too, in case a
/// sender (or a future Twilio) writes them bare.
mod wire_u64 {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(StringOrNumber)
    }

    /// [`deserialize`] for an optional field: present means a counter
    /// (`null` is as malformed as in a required one).
    pub fn some<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        deserialize(deserializer).map(Some)
    }

    struct StringOrNumber;

    impl Visitor<'_> for StringOrNumber {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer, as a string or a number")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
            u64::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
            value
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(value), &self))
        }
    }
}

#[cfg(test)]
mod tests;
