//! Media Streams tests. The literal lines are PROTOCOLS.md's, so a round
//! trip that reproduces them byte for byte shows the simulator speaks the
//! same shape Twilio does.

use super::*;
use proptest::prelude::*;

const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC…","streamSid":"MZ…","callSid":"CA…","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"business_id":"7"}},"streamSid":"MZ…"}"#;
const MEDIA: &str = r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"<base64 mu-law>"},"streamSid":"MZ…"}"#;
const DTMF: &str = r#"{"event":"dtmf","streamSid":"MZ…","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
const MARK: &str =
    r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ…","mark":{"name":"utt-17"}}"#;
const STOP: &str = r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC…","callSid":"CA…"},"streamSid":"MZ…"}"#;

const OUT_MEDIA: &str =
    r#"{"event":"media","streamSid":"MZ…","media":{"payload":"<base64 raw mu-law 8 kHz>"}}"#;
const OUT_MARK: &str = r#"{"event":"mark","streamSid":"MZ…","mark":{"name":"utt-17"}}"#;
const OUT_CLEAR: &str = r#"{"event":"clear","streamSid":"MZ…"}"#;

fn parsed(text: &str) -> Inbound {
    parse_inbound(text).expect("a valid frame")
}

#[test]
fn the_connected_line_round_trips() {
    assert_eq!(parsed(CONNECTED), Inbound::connected());
    assert_eq!(Inbound::connected().to_json(), CONNECTED);
}

#[test]
fn the_start_line_round_trips_with_its_custom_parameters() {
    let expected = Inbound::Start {
        sequence_number: 1,
        start: Start::new("AC…", "MZ…", "CA…").with_parameter("business_id", "7"),
        stream_sid: "MZ…".to_owned(),
    };
    let frame = parsed(START);
    assert_eq!(frame, expected);
    let Inbound::Start { start, .. } = &frame else {
        unreachable!("checked above")
    };
    assert_eq!(start.media_format.sample_rate, 8000);
    assert_eq!(
        start
            .custom_parameters
            .get("business_id")
            .map(String::as_str),
        Some("7")
    );
    assert_eq!(expected.to_json(), START);
}

#[test]
fn the_media_line_round_trips_with_its_string_counters_as_integers() {
    let expected = Inbound::Media {
        sequence_number: 4,
        media: Media {
            track: "inbound".to_owned(),
            chunk: 2,
            timestamp: 5,
            payload: "<base64 mu-law>".to_owned(),
        },
        stream_sid: "MZ…".to_owned(),
    };
    assert_eq!(parsed(MEDIA), expected);
    assert_eq!(expected.to_json(), MEDIA);
}

#[test]
fn the_dtmf_mark_and_stop_lines_round_trip() {
    let dtmf = Inbound::Dtmf {
        stream_sid: "MZ…".to_owned(),
        sequence_number: 5,
        dtmf: Dtmf {
            track: "inbound_track".to_owned(),
            digit: "1".to_owned(),
        },
    };
    let mark = Inbound::Mark {
        sequence_number: 4,
        stream_sid: "MZ…".to_owned(),
        mark: Mark {
            name: "utt-17".to_owned(),
        },
    };
    let stop = Inbound::Stop {
        sequence_number: 5,
        stop: Stop {
            account_sid: "AC…".to_owned(),
            call_sid: "CA…".to_owned(),
        },
        stream_sid: "MZ…".to_owned(),
    };
    for (line, frame) in [(DTMF, dtmf), (MARK, mark), (STOP, stop)] {
        assert_eq!(parsed(line), frame);
        assert_eq!(frame.to_json(), line);
    }
}

#[test]
fn counters_sent_as_bare_numbers_are_accepted() {
    let bare = r#"{"event":"media","sequenceNumber":4,"media":{"track":"inbound","chunk":2,"timestamp":5,"payload":""},"streamSid":"MZ1"}"#;
    let frame = parsed(bare);
    assert_eq!(frame.sequence_number(), Some(4));
    let Inbound::Media { media, .. } = frame else {
        panic!("a media frame")
    };
    assert_eq!((media.chunk, media.timestamp), (2, 5));
}

#[test]
fn counters_that_are_not_non_negative_integers_are_malformed() {
    for bad in [
        r#""-1""#, "-1", r#""1.5""#, "1.5", r#""""#, r#""x""#, "null",
    ] {
        let text = format!(
            r#"{{"event":"mark","sequenceNumber":{bad},"streamSid":"MZ","mark":{{"name":"m"}}}}"#
        );
        assert!(
            matches!(parse_inbound(&text), Err(MediaError::Malformed(_))),
            "{bad} was accepted"
        );
    }
}

#[test]
fn fields_twilio_adds_later_are_ignored() {
    let extended = r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ","mark":{"name":"m","extra":1},"newField":[1,2]}"#;
    assert_eq!(parsed(extended).stream_sid(), Some("MZ"));
}

#[test]
fn a_start_without_custom_parameters_has_an_empty_map() {
    let bare = START.replace(r#","customParameters":{"business_id":"7"}"#, "");
    let Inbound::Start { start, .. } = parsed(&bare) else {
        panic!("a start frame")
    };
    assert!(start.custom_parameters.is_empty());
}

#[test]
fn an_unknown_event_is_reported_by_name() {
    let text = r#"{"event":"transcription","streamSid":"MZ"}"#;
    match parse_inbound(text) {
        Err(MediaError::UnknownEvent(name)) => assert_eq!(name, "transcription"),
        other => panic!("expected UnknownEvent, got {other:?}"),
    }
}

#[test]
fn a_known_event_with_missing_fields_is_malformed_not_unknown() {
    let text = r#"{"event":"media","streamSid":"MZ"}"#;
    assert!(matches!(parse_inbound(text), Err(MediaError::Malformed(_))));
}

#[test]
fn text_that_is_not_a_frame_is_malformed() {
    for text in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"event":7}"#,
        r#"{"event":null}"#,
        "{\"event\":\"media\"",
    ] {
        assert!(
            matches!(parse_inbound(text), Err(MediaError::Malformed(_))),
            "{text:?} was not malformed"
        );
    }
}

#[test]
fn stream_sid_and_sequence_number_are_read_from_any_frame() {
    assert_eq!(parsed(CONNECTED).stream_sid(), None);
    assert_eq!(parsed(CONNECTED).sequence_number(), None);
    for line in [START, MEDIA, DTMF, MARK, STOP] {
        assert_eq!(parsed(line).stream_sid(), Some("MZ…"));
    }
    assert_eq!(parsed(DTMF).sequence_number(), Some(5));
}

#[test]
fn decoding_a_payload_reuses_the_buffer_and_replaces_its_contents() {
    let audio: Vec<u8> = (0..=255).cycle().take(160).collect();
    let media = Media::inbound(1, 0, &audio);
    let mut buffer = Vec::with_capacity(4096);
    buffer.extend_from_slice(b"left over from the previous frame");
    let capacity = buffer.capacity();
    media
        .decode_payload_into(&mut buffer)
        .expect("valid base64");
    assert_eq!(buffer, audio);
    assert_eq!(buffer.capacity(), capacity);
}

#[test]
fn an_invalid_payload_is_an_error_and_leaves_the_buffer_empty() {
    let media = Media {
        payload: "<base64 mu-law>".to_owned(),
        ..Media::inbound(1, 0, &[])
    };
    let mut buffer = b"stale".to_vec();
    assert!(matches!(
        media.decode_payload_into(&mut buffer),
        Err(MediaError::Payload(_))
    ));
    assert!(buffer.is_empty());
}

#[test]
fn outbound_frames_match_the_protocol_lines() {
    let media = Outbound::Media {
        stream_sid: "MZ…",
        payload_b64: "<base64 raw mu-law 8 kHz>",
    };
    let mark = Outbound::Mark {
        stream_sid: "MZ…",
        name: "utt-17",
    };
    let clear = Outbound::Clear {
        stream_sid: "MZ…"
    };
    assert_eq!(media.to_json(), OUT_MEDIA);
    assert_eq!(mark.to_json(), OUT_MARK);
    assert_eq!(clear.to_json(), OUT_CLEAR);
    for (line, frame) in [(OUT_MEDIA, media), (OUT_MARK, mark), (OUT_CLEAR, clear)] {
        let read_back = parse_outbound(line).expect("a valid outbound frame");
        assert_eq!(read_back.as_outbound(), frame);
        assert_eq!(read_back.stream_sid(), "MZ…");
    }
}

#[test]
fn a_media_frame_carries_the_audio_base64_encoded() {
    let audio = [0xFF_u8, 0x7F, 0x00, 0x80];
    let frame = media_frame("MZ1", &audio);
    assert_eq!(
        frame,
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38AgA=="}}"#
    );
    let mut decoded = Vec::new();
    parse_outbound(&frame)
        .expect("a valid outbound frame")
        .decode_payload_into(&mut decoded)
        .expect("valid base64");
    assert_eq!(decoded, audio);
}

#[test]
fn quotes_in_outbound_strings_stay_inside_the_json() {
    let mark = Outbound::Mark {
        stream_sid: "MZ\"}",
        name: "a\"b\\c\n",
    };
    let read_back = parse_outbound(&mark.to_json()).expect("valid JSON");
    assert_eq!(read_back.as_outbound(), mark);
}

#[test]
fn an_outbound_frame_without_a_stream_sid_is_malformed() {
    let text = r#"{"event":"clear"}"#;
    assert!(matches!(
        parse_outbound(text),
        Err(MediaError::Malformed(_))
    ));
    let inbound_only = r#"{"event":"stop","streamSid":"MZ"}"#;
    assert!(matches!(
        parse_outbound(inbound_only),
        Err(MediaError::UnknownEvent(name)) if name == "stop"
    ));
}

#[test]
fn a_media_frame_is_read_borrowing_its_strings() {
    let frame = parse_media_frame(MEDIA).expect("a media frame");
    assert_eq!(
        frame,
        MediaFrame {
            sequence_number: 4,
            stream_sid: "MZ…".into(),
            track: "inbound".into(),
            chunk: 2,
            timestamp: 5,
            payload: "<base64 mu-law>".into(),
        }
    );
    assert!(matches!(frame.payload, Cow::Borrowed(_)));
    assert!(matches!(frame.stream_sid, Cow::Borrowed(_)));
    for other in [CONNECTED, START, DTMF, MARK, STOP, "", "{", "[]"] {
        assert_eq!(parse_media_frame(other), None, "{other}");
    }
}

#[test]
fn decoding_a_borrowed_frame_into_a_reused_buffer_does_not_allocate() {
    let audio: Vec<u8> = (0..=255).cycle().take(160).collect();
    let text = Inbound::Media {
        sequence_number: 9,
        media: Media::inbound(1, 0, &audio),
        stream_sid: "MZ1".to_owned(),
    }
    .to_json();
    let mut buffer = Vec::new();
    let mut capacity = None;
    for _ in 0..3 {
        let frame = parse_media_frame(&text).expect("a media frame");
        assert!(matches!(frame.payload, Cow::Borrowed(_)));
        frame
            .decode_payload_into(&mut buffer)
            .expect("valid base64");
        assert_eq!(buffer, audio);
        // The first frame sizes the buffer; later ones reuse it.
        assert_eq!(
            *capacity.get_or_insert(buffer.capacity()),
            buffer.capacity()
        );
    }
}

/// What [`parse_inbound`] makes of `text`, as a [`MediaFrame`] if it is one.
fn media_the_long_way(text: &str) -> Option<MediaFrame<'static>> {
    match parse_inbound(text) {
        Ok(Inbound::Media {
            sequence_number,
            media,
            stream_sid,
        }) => Some(MediaFrame::owned(sequence_number, media, stream_sid)),
        _ => None,
    }
}

/// A JSON value for a field of a media frame: mostly right, sometimes
/// missing, mistyped, escaped or null.
fn arb_field(good: &'static str) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        24 => Just(Some(good.to_owned())),
        1 => Just(None),
        1 => Just(Some("null".to_owned())),
        1 => Just(Some("7".to_owned())),
        1 => Just(Some("-7".to_owned())),
        1 => Just(Some(r#""x\"y\u0041""#.to_owned())),
        1 => Just(Some("{}".to_owned())),
        1 => Just(Some("[1]".to_owned())),
    ]
}

/// An object with these fields, in a shuffled order, some repeated.
fn arb_object(
    fields: Vec<(&'static str, BoxedStrategy<Option<String>>)>,
) -> impl Strategy<Value = String> {
    let n = fields.len();
    let (names, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    (
        values,
        Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        0..4 * n,
    )
        .prop_map(move |(values, order, repeat)| {
            let mut parts: Vec<String> = order
                .iter()
                .filter_map(|&i| values[i].as_ref().map(|v| format!(r#""{}":{v}"#, names[i])))
                .collect();
            // Sometimes a key twice, sometimes one Twilio may add later.
            if repeat < n {
                if let Some(dup) = parts.get(repeat).cloned() {
                    parts.push(dup);
                }
            } else if repeat == n {
                parts.push(r#""added":{"later":[1,2]}"#.to_owned());
            }
            format!("{{{}}}", parts.join(","))
        })
}

fn arb_media_text() -> impl Strategy<Value = String> {
    let body = arb_object(vec![
        ("track", arb_field(r#""inbound""#).boxed()),
        ("chunk", arb_field(r#""3""#).boxed()),
        ("timestamp", arb_field("60").boxed()),
        ("payload", arb_field(r#""/38AgA==""#).boxed()),
    ]);
    body.prop_flat_map(|body| {
        let body: &'static str = Box::leak(body.into_boxed_str());
        arb_object(vec![
            (
                "event",
                prop_oneof![
                    12 => Just(Some(r#""media""#.to_owned())),
                    1 => Just(Some(r#""mark""#.to_owned())),
                    1 => Just(Some(r#""m\u0065dia""#.to_owned())),
                    1 => Just(None),
                ]
                .boxed(),
            ),
            ("sequenceNumber", arb_field(r#""4""#).boxed()),
            ("media", arb_field(body).boxed()),
            ("streamSid", arb_field(r#""MZ1""#).boxed()),
        ])
    })
}

fn arb_inbound() -> impl Strategy<Value = Inbound> {
    let sid = "[A-Za-z0-9…\"\\\\]{0,12}";
    prop_oneof![
        (
            any::<u64>(),
            sid,
            any::<u64>(),
            any::<u64>(),
            any::<Vec<u8>>()
        )
            .prop_map(|(sequence_number, stream_sid, chunk, timestamp, audio)| {
                Inbound::Media {
                    sequence_number,
                    media: Media::inbound(chunk, timestamp, &audio),
                    stream_sid,
                }
            }),
        (any::<u64>(), sid, sid, any::<String>(), any::<String>()).prop_map(
            |(sequence_number, stream_sid, call_sid, name, value)| Inbound::Start {
                sequence_number,
                start: Start::new("AC1", &stream_sid, &call_sid).with_parameter(&name, &value),
                stream_sid,
            }
        ),
        (any::<u64>(), sid, any::<String>()).prop_map(|(sequence_number, stream_sid, name)| {
            Inbound::Mark {
                sequence_number,
                stream_sid,
                mark: Mark { name },
            }
        }),
    ]
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_inbound(&text);
        let _ = parse_outbound(&text);
    }

    #[test]
    fn parsing_json_like_text_never_panics(
        text in r#"[{}\[\]":,0-9a-zA-Z\- ]{0,200}"#,
        event in prop::sample::select(vec!["connected", "start", "media", "dtmf", "mark", "stop", "clear", "x"]),
    ) {
        let _ = parse_inbound(&text);
        let framed = format!(r#"{{"event":"{event}",{text}"#);
        let _ = parse_inbound(&framed);
        let _ = parse_outbound(&framed);
    }

    #[test]
    fn the_borrowed_media_parse_agrees_with_the_full_one(text in arb_media_text()) {
        prop_assert_eq!(parse_media_frame(&text), media_the_long_way(&text), "{}", text);
    }

    #[test]
    fn the_borrowed_media_parse_agrees_on_any_frame(frame in arb_inbound()) {
        let text = frame.to_json();
        prop_assert_eq!(parse_media_frame(&text), media_the_long_way(&text));
    }

    #[test]
    fn the_borrowed_media_parse_never_panics(text in any::<String>()) {
        let _ = parse_media_frame(&text);
    }

    #[test]
    fn any_inbound_frame_round_trips_through_json(frame in arb_inbound()) {
        prop_assert_eq!(parse_inbound(&frame.to_json()).expect("own output parses"), frame);
    }

    #[test]
    fn a_media_frame_is_the_text_serde_writes(
        stream_sid in any::<String>(),
        audio in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let frame = media_frame(&stream_sid, &audio);
        let payload_b64 = STANDARD.encode(&audio);
        let serde = Outbound::Media { stream_sid: &stream_sid, payload_b64: &payload_b64 }.to_json();
        // Sized exactly, unless the stream id needed escaping.
        if !stream_sid.contains(['"', '\\']) && !stream_sid.contains(|c: char| c < ' ') {
            prop_assert_eq!(frame.capacity(), frame.len());
        }
        prop_assert_eq!(frame, serde);
    }

    #[test]
    fn any_audio_round_trips_through_a_media_frame(
        stream_sid in "[A-Za-z0-9]{1,34}",
        audio in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let frame = parse_outbound(&media_frame(&stream_sid, &audio)).expect("own output parses");
        let mut decoded = Vec::new();
        frame.decode_payload_into(&mut decoded).expect("valid base64");
        prop_assert_eq!(frame.stream_sid(), stream_sid.as_str());
        prop_assert_eq!(decoded, audio);
    }
}
