//! TwiML tests read the XML back with [`read`] and compare elements and
//! attributes, so they test what Twilio's parser would see rather than how
//! the bytes happen to be laid out.

use super::*;
use proptest::prelude::*;
use quick_xml::Reader;

trait SortedAttrs {
    fn sorted_attrs(&self) -> Vec<(&str, &str)>;
}

impl SortedAttrs for Element {
    fn sorted_attrs(&self) -> Vec<(&str, &str)> {
        self.attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Reads a TwiML document into its declaration and root element, failing
/// the test on anything a strict XML parser would reject.
fn parse(xml: &str) -> (String, Element) {
    let root = read(xml).expect("well-formed TwiML");
    let declaration = match Reader::from_str(xml).read_event().expect("well-formed XML") {
        Event::Decl(decl) => {
            let version = decl.version().expect("version");
            let encoding = decl.encoding().expect("encoding").expect("encoding");
            format!(
                "{}/{}",
                String::from_utf8_lossy(&version),
                String::from_utf8_lossy(&encoding)
            )
        }
        _ => String::new(),
    };
    (declaration, root)
}

fn verbs(response: &Response) -> Vec<Element> {
    let (_, root) = parse(&response.to_xml());
    assert_eq!(root.name, "Response");
    root.children
}

const HEBREW_THANKS: &str = "תודה. מעבד את הודעתך וחוזר מיד.";

#[test]
fn every_document_starts_with_the_utf8_declaration() {
    let xml = Response::new().hangup().to_xml();
    assert!(xml.starts_with(XML_DECLARATION));
    assert_eq!(parse(&xml).0, "1.0/UTF-8");
}

#[test]
fn an_empty_response_is_a_lone_response_element() {
    let (_, root) = parse(&Response::new().to_xml());
    assert_eq!(
        root,
        Element {
            name: "Response".into(),
            ..Element::default()
        }
    );
}

#[test]
fn the_incoming_call_shape_connects_a_stream_with_the_business_id() {
    // MISSION.md §3.1.
    let response = Response::new().connect_stream(ConnectStream {
        action: Some("/webhook/stream_ended".into()),
        url: "wss://PUBLIC_HOST/ws/twilio-media".into(),
        parameters: vec![("business_id".into(), "BUSINESS_ID".into())],
    });
    let verbs = verbs(&response);
    assert_eq!(verbs.len(), 1);
    let connect = &verbs[0];
    assert_eq!(connect.name, "Connect");
    assert_eq!(
        connect.sorted_attrs(),
        [("action", "/webhook/stream_ended")]
    );
    assert_eq!(connect.children.len(), 1);
    let stream = &connect.children[0];
    assert_eq!(stream.name, "Stream");
    assert_eq!(
        stream.sorted_attrs(),
        [("url", "wss://PUBLIC_HOST/ws/twilio-media")]
    );
    assert_eq!(stream.children.len(), 1);
    let parameter = &stream.children[0];
    assert_eq!(parameter.name, "Parameter");
    assert_eq!(
        parameter.sorted_attrs(),
        [("name", "business_id"), ("value", "BUSINESS_ID")]
    );
    assert!(parameter.children.is_empty() && parameter.text.is_empty());
}

#[test]
fn the_stream_ended_shape_records_then_says_thanks_in_hebrew() {
    // MISSION.md §3.2, verb for verb. Per PROTOCOLS.md the <Say> after a
    // <Record action> is never reached; the shape is kept as specified.
    let response = Response::new()
        .record(Record {
            play_beep: Some(false),
            timeout: Some(4),
            max_length: Some(30),
            transcribe: Some(false),
            ..Record::new("/webhook/handle_recording")
        })
        .say(HEBREW_THANKS, "he-IL", None);
    let verbs = verbs(&response);
    assert_eq!(verbs.len(), 2);
    let record = &verbs[0];
    assert_eq!(record.name, "Record");
    assert_eq!(
        record.sorted_attrs(),
        [
            ("action", "/webhook/handle_recording"),
            ("maxLength", "30"),
            ("playBeep", "false"),
            ("timeout", "4"),
            ("transcribe", "false"),
        ]
    );
    let say = &verbs[1];
    assert_eq!(say.name, "Say");
    assert_eq!(say.sorted_attrs(), [("language", "he-IL")]);
    assert_eq!(say.text, HEBREW_THANKS);
}

#[test]
fn a_record_spells_every_attribute_as_twilio_does() {
    let response = Response::new().record(Record {
        method: Some(Method::Get),
        timeout: Some(5),
        max_length: Some(120),
        play_beep: Some(true),
        transcribe: Some(true),
        finish_on_key: Some("#".into()),
        trim: Some(Trim::DoNotTrim),
        recording_status_callback: Some("/webhook/recording_status".into()),
        ..Record::new("/webhook/handle_recording")
    });
    let verbs = verbs(&response);
    assert_eq!(
        verbs[0].sorted_attrs(),
        [
            ("action", "/webhook/handle_recording"),
            ("finishOnKey", "#"),
            ("maxLength", "120"),
            ("method", "GET"),
            ("playBeep", "true"),
            ("recordingStatusCallback", "/webhook/recording_status"),
            ("timeout", "5"),
            ("transcribe", "true"),
            ("trim", "do-not-trim"),
        ]
    );
}

#[test]
fn a_record_with_only_an_action_leaves_the_rest_to_twilio() {
    let verbs = verbs(&Response::new().record(Record::new("/next")));
    assert_eq!(verbs[0].sorted_attrs(), [("action", "/next")]);
}

#[test]
fn say_play_pause_and_hangup_come_out_in_order() {
    let response = Response::new()
        .say("שלום", "he-IL", Some("Google.he-IL-Standard-A"))
        .pause(2)
        .play("https://example.com/a.mp3?x=1&y=2")
        .hangup();
    let verbs = verbs(&response);
    let names: Vec<_> = verbs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["Say", "Pause", "Play", "Hangup"]);
    assert_eq!(
        verbs[0].sorted_attrs(),
        [("language", "he-IL"), ("voice", "Google.he-IL-Standard-A")]
    );
    assert_eq!(verbs[0].text, "שלום");
    assert_eq!(verbs[1].sorted_attrs(), [("length", "2")]);
    assert_eq!(verbs[2].text, "https://example.com/a.mp3?x=1&y=2");
    assert!(verbs[2].attrs.is_empty());
    assert_eq!(
        verbs[3],
        Element {
            name: "Hangup".into(),
            ..Element::default()
        }
    );
}

#[test]
fn markup_in_say_text_is_escaped_and_round_trips() {
    let hostile = r#"</Say><Hangup/><Say a="b">'x' & "y" < z > שלום"#;
    let response = Response::new().say(hostile, "he-IL", None);
    let verbs = verbs(&response);
    assert_eq!(verbs.len(), 1, "the text must not open elements");
    assert!(verbs[0].children.is_empty());
    assert_eq!(verbs[0].text, hostile);
}

#[test]
fn markup_in_parameter_values_is_escaped_and_round_trips() {
    let hostile = "\"/><Parameter name=\"evil\" value=\"1\"/> & 'מספרה של רותי' <>";
    let response = Response::new().connect_stream(ConnectStream {
        action: None,
        url: "wss://h/ws?ignored=\"&".into(),
        parameters: vec![
            ("business_id".into(), "7".into()),
            ("greeting".into(), hostile.into()),
        ],
    });
    let verbs = verbs(&response);
    let connect = &verbs[0];
    assert!(connect.attrs.is_empty());
    let stream = &connect.children[0];
    assert_eq!(stream.attr("url"), Some("wss://h/ws?ignored=\"&"));
    assert_eq!(stream.children.len(), 2);
    assert_eq!(stream.children[1].attr("name"), Some("greeting"));
    assert_eq!(stream.children[1].attr("value"), Some(hostile));
}

#[test]
fn line_breaks_in_attribute_values_survive_as_character_references() {
    let value = "line one\nline two\ttabbed\r";
    let response = Response::new().connect_stream(ConnectStream {
        action: None,
        url: "wss://h/ws".into(),
        parameters: vec![("note".into(), value.into())],
    });
    let xml = response.to_xml();
    assert!(
        !xml.contains('\n'),
        "a literal newline would become a space"
    );
    let verbs = verbs(&response);
    assert_eq!(verbs[0].children[0].children[0].attr("value"), Some(value));
}

#[test]
fn a_stream_without_parameters_is_an_empty_element() {
    let response = Response::new().connect_stream(ConnectStream {
        action: Some("/after".into()),
        url: "wss://h/ws".into(),
        parameters: Vec::new(),
    });
    let verbs = verbs(&response);
    let stream = &verbs[0].children[0];
    assert_eq!(stream.sorted_attrs(), [("url", "wss://h/ws")]);
    assert!(stream.children.is_empty());
}

#[test]
fn characters_xml_cannot_carry_are_dropped_instead_of_breaking_the_document() {
    let text = "a\u{0}b\u{1b}c\u{FFFF}d\u{7}";
    let response = Response::new().say(text, "he-IL", Some("v\u{0}"));
    let verbs = verbs(&response);
    assert_eq!(verbs[0].text, "abcd");
    assert_eq!(verbs[0].attr("voice"), Some("v"));
}

/// What survives of arbitrary text: everything XML 1.0 can carry, with line
/// ends normalised the way any XML parser reads text content.
fn expected_text(text: &str) -> String {
    xml_chars(text).replace("\r\n", "\n").replace('\r', "\n")
}

proptest! {
    #[test]
    fn any_say_text_round_trips(text in any::<String>()) {
        let verbs = verbs(&Response::new().say(&text, "he-IL", None));
        prop_assert_eq!(verbs.len(), 1);
        prop_assert_eq!(&verbs[0].text, &expected_text(&text));
    }

    #[test]
    fn any_parameter_value_round_trips(value in any::<String>()) {
        let response = Response::new().connect_stream(ConnectStream {
            action: None,
            url: "wss://h/ws".into(),
            parameters: vec![("p".into(), value.clone())],
        });
        let verbs = verbs(&response);
        let parameter = &verbs[0].children[0].children[0];
        let expected = xml_chars(&value);
        prop_assert_eq!(parameter.attr("value"), Some(expected.as_ref()));
    }
}

#[test]
fn a_dial_rings_one_number_with_a_whisper_url_and_escapes_it() {
    let response = Response::new().dial(Dial {
        action: Some("/webhook/transfer_ended".into()),
        timeout: Some(20),
        caller_id: Some("+97235550001".into()),
        number: Number {
            number: "+972501234567".into(),
            url: Some("/webhook/transfer_whisper?token=a&b".into()),
        },
    });
    let verbs = verbs(&response);
    assert_eq!(verbs.len(), 1);
    let dial = &verbs[0];
    assert_eq!(dial.name, "Dial");
    assert_eq!(
        dial.sorted_attrs(),
        [
            ("action", "/webhook/transfer_ended"),
            ("callerId", "+97235550001"),
            ("timeout", "20"),
        ]
    );
    assert_eq!(dial.children.len(), 1);
    let number = &dial.children[0];
    assert_eq!(number.name, "Number");
    assert_eq!(number.text, "+972501234567");
    assert_eq!(
        number.sorted_attrs(),
        [("url", "/webhook/transfer_whisper?token=a&b")]
    );
}

#[test]
fn a_dial_without_options_is_a_bare_number() {
    let response = Response::new().dial(Dial {
        action: None,
        timeout: None,
        caller_id: None,
        number: Number {
            number: "+972501234567".into(),
            url: None,
        },
    });
    let dial = &verbs(&response)[0];
    assert!(dial.attrs.is_empty());
    assert!(dial.children[0].attrs.is_empty());
}
