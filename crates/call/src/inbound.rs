//! The gate every inbound frame passes before the call acts on it: size
//! limit, parse, stream id, sequence order. Anything that fails is dropped
//! with a warning — never a panic, never the end of the call — because a
//! caller on the line matters more than one bad frame.
//!
//! Warnings are rate-limited per kind (the 1st, 2nd, 4th, 8th… occurrence
//! is logged, with the running count), so a peer sending garbage at 50
//! frames a second cannot flood the log.

use twilio::media::{Inbound, MediaError, MediaFrame, parse_inbound, parse_media_frame};

use crate::Incoming;

/// What the call should do with a frame; borrows the frame's text.
#[derive(Debug)]
pub(crate) enum Admitted<'a> {
    Media(MediaFrame<'a>),
    /// Echo of one of our marks.
    Mark(String),
    Dtmf(String),
    Stop,
    /// The socket closed.
    Closed,
    /// Dropped or nothing to do.
    Nothing,
}

/// Kinds of ignored frames, each rate-limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ignored {
    Oversized,
    Binary,
    Malformed,
    UnknownEvent,
    BadPayload,
    WrongStream,
    OutOfOrder,
    RepeatedStart,
}

const KINDS: usize = 8;

impl Ignored {
    fn as_str(self) -> &'static str {
        match self {
            Self::Oversized => "oversized",
            Self::Binary => "binary",
            Self::Malformed => "malformed",
            Self::UnknownEvent => "unknown_event",
            Self::BadPayload => "bad_payload",
            Self::WrongStream => "wrong_stream",
            Self::OutOfOrder => "out_of_order",
            Self::RepeatedStart => "repeated_start",
        }
    }
}

/// Validates inbound frames for one stream.
#[derive(Debug)]
pub(crate) struct Gate {
    stream_sid: String,
    max_frame_bytes: usize,
    /// Highest `sequenceNumber` seen; Twilio numbers every frame of a
    /// stream in order, so a lower or equal one is a replay or a bug.
    last_seq: u64,
    ignored: [u64; KINDS],
}

impl Gate {
    pub(crate) fn new(stream_sid: &str, max_frame_bytes: usize) -> Self {
        Self {
            stream_sid: stream_sid.to_owned(),
            max_frame_bytes,
            last_seq: 0,
            ignored: [0; KINDS],
        }
    }

    /// Counts an ignored frame and logs it if this occurrence is due.
    pub(crate) fn ignore(&mut self, kind: Ignored, detail: &dyn std::fmt::Display) {
        let count = &mut self.ignored[kind as usize];
        *count += 1;
        if count.is_power_of_two() {
            tracing::warn!(
                kind = kind.as_str(),
                ignored_total = *count,
                detail = %detail,
                "inbound frame ignored"
            );
        }
    }

    /// Frames of `kind` ignored so far.
    #[cfg(test)]
    pub(crate) fn ignored(&self, kind: Ignored) -> u64 {
        self.ignored[kind as usize]
    }

    pub(crate) fn admit<'a>(&mut self, frame: Option<&'a Incoming>) -> Admitted<'a> {
        let text = match frame {
            None | Some(Incoming::Close) => return Admitted::Closed,
            Some(Incoming::Pong) => return Admitted::Nothing,
            Some(Incoming::Binary(bytes)) => {
                self.ignore(Ignored::Binary, &format_args!("{} bytes", bytes.len()));
                return Admitted::Nothing;
            }
            Some(Incoming::Text(text)) => text,
        };
        if text.len() > self.max_frame_bytes {
            self.ignore(Ignored::Oversized, &format_args!("{} bytes", text.len()));
            return Admitted::Nothing;
        }
        // Media frames, nearly every frame of a call, are read borrowed;
        // everything else (or a media frame the fast path will not take)
        // the long way, which also says what was wrong.
        let frame = match parse_media_frame(text) {
            Some(media) => Parsed::Media(media),
            None => match parse_inbound(text) {
                Ok(frame) => Parsed::Other(frame),
                Err(err @ MediaError::UnknownEvent(_)) => {
                    self.ignore(Ignored::UnknownEvent, &err);
                    return Admitted::Nothing;
                }
                // serde quotes the offending value, which in a dtmf frame is
                // what the caller keyed in: say only that one was malformed.
                Err(_) if mentions_dtmf(text) => {
                    self.ignore(
                        Ignored::Malformed,
                        &"a dtmf frame (not shown: keyed-in digits)",
                    );
                    return Admitted::Nothing;
                }
                Err(err) => {
                    self.ignore(Ignored::Malformed, &err);
                    return Admitted::Nothing;
                }
            },
        };
        if let Some(sid) = frame.stream_sid()
            && sid != self.stream_sid
        {
            self.ignore(Ignored::WrongStream, &sid);
            return Admitted::Nothing;
        }
        // `stop` is honoured even out of order: ignoring it would keep a
        // finished call open until the socket closes.
        if let Some(seq) = frame.sequence_number()
            && !matches!(frame, Parsed::Other(Inbound::Stop { .. }))
        {
            let last = self.last_seq;
            if seq <= last {
                self.ignore(
                    Ignored::OutOfOrder,
                    &format_args!("sequence {seq} after {last}"),
                );
                return Admitted::Nothing;
            }
            self.last_seq = seq;
        }
        match frame {
            Parsed::Media(media) => Admitted::Media(media),
            Parsed::Other(Inbound::Connected { .. }) => Admitted::Nothing,
            Parsed::Other(Inbound::Start { .. }) => {
                self.ignore(Ignored::RepeatedStart, &"start after the stream started");
                Admitted::Nothing
            }
            // The fast path takes every media frame (the twilio crate's
            // tests hold it to that); this arm only keeps the match whole.
            Parsed::Other(Inbound::Media {
                sequence_number,
                media,
                stream_sid,
            }) => Admitted::Media(MediaFrame::owned(sequence_number, media, stream_sid)),
            Parsed::Other(Inbound::Mark { mark, .. }) => Admitted::Mark(mark.name),
            Parsed::Other(Inbound::Dtmf { dtmf, .. }) => Admitted::Dtmf(dtmf.digit),
            Parsed::Other(Inbound::Stop { .. }) => Admitted::Stop,
        }
    }
}

/// A frame that parsed: media borrowed from the text, anything else owned.
enum Parsed<'a> {
    Media(MediaFrame<'a>),
    Other(Inbound),
}

impl Parsed<'_> {
    fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Media(media) => Some(&media.stream_sid),
            Self::Other(frame) => frame.stream_sid(),
        }
    }

    fn sequence_number(&self) -> Option<u64> {
        match self {
            Self::Media(media) => Some(media.sequence_number),
            Self::Other(frame) => frame.sequence_number(),
        }
    }
}

/// Whether a frame that failed to parse may carry keyed-in digits. Errs on
/// the side of hiding: any frame naming the `dtmf` event or object counts.
fn mentions_dtmf(text: &str) -> bool {
    text.contains("\"dtmf\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilio::media::{Mark, Media, Start};

    fn media(seq: u64, sid: &str) -> Incoming {
        Incoming::Text(
            Inbound::Media {
                sequence_number: seq,
                media: Media::inbound(seq, seq * 20, &[0xFF; 160]),
                stream_sid: sid.into(),
            }
            .to_json(),
        )
    }

    #[test]
    fn frames_of_another_stream_or_out_of_order_are_dropped_and_counted() {
        let mut gate = Gate::new("MZ1", 1024);
        assert!(matches!(
            gate.admit(Some(&media(2, "MZ1"))),
            Admitted::Media(_)
        ));
        assert!(matches!(
            gate.admit(Some(&media(2, "MZ1"))),
            Admitted::Nothing
        ));
        assert!(matches!(
            gate.admit(Some(&media(3, "MZ2"))),
            Admitted::Nothing
        ));
        assert!(matches!(
            gate.admit(Some(&media(3, "MZ1"))),
            Admitted::Media(_)
        ));
        assert_eq!(gate.ignored(Ignored::OutOfOrder), 1);
        assert_eq!(gate.ignored(Ignored::WrongStream), 1);
    }

    #[test]
    fn a_second_start_and_garbage_are_ignored() {
        let mut gate = Gate::new("MZ1", 100_000);
        let start = Inbound::Start {
            sequence_number: 5,
            start: Start::new("AC1", "MZ1", "CA1"),
            stream_sid: "MZ1".into(),
        };
        assert!(matches!(
            gate.admit(Some(&Incoming::Text(start.to_json()))),
            Admitted::Nothing
        ));
        for junk in [
            "",
            "{",
            "null",
            r#"{"event":"media"}"#,
            r#"{"event":"nope"}"#,
        ] {
            assert!(matches!(
                gate.admit(Some(&Incoming::Text(junk.into()))),
                Admitted::Nothing
            ));
        }
        assert_eq!(gate.ignored(Ignored::RepeatedStart), 1);
        assert_eq!(gate.ignored(Ignored::UnknownEvent), 1);
        assert_eq!(gate.ignored(Ignored::Malformed), 4);
    }

    #[test]
    fn marks_and_stop_pass_and_a_close_ends_the_call() {
        let mut gate = Gate::new("MZ1", 1024);
        let mark = Inbound::Mark {
            sequence_number: 9,
            stream_sid: "MZ1".into(),
            mark: Mark {
                name: "t1-s0".into(),
            },
        };
        assert!(matches!(
            gate.admit(Some(&Incoming::Text(mark.to_json()))),
            Admitted::Mark(name) if name == "t1-s0"
        ));
        assert!(matches!(
            gate.admit(Some(&Incoming::Close)),
            Admitted::Closed
        ));
        assert!(matches!(gate.admit(None), Admitted::Closed));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let mut gate = Gate::new("MZ1", 256);
            let _ = gate.admit(Some(&Incoming::Text(text)));
        }

        #[test]
        fn arbitrary_json_shaped_frames_never_panic(
            event in proptest::sample::select(vec!["media", "mark", "dtmf", "stop", "start", "x"]),
            seq in proptest::prelude::any::<i64>(),
            payload in "[A-Za-z0-9+/=]{0,40}",
        ) {
            let text = format!(
                r#"{{"event":"{event}","sequenceNumber":"{seq}","streamSid":"MZ1","media":{{"track":"inbound","chunk":"1","timestamp":"1","payload":"{payload}"}}}}"#
            );
            let mut gate = Gate::new("MZ1", 4096);
            let _ = gate.admit(Some(&Incoming::Text(text)));
        }
    }
}
