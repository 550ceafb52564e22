//! What Twilio does next with the TwiML the service answers: a
//! `<Connect><Stream>` to follow, a `<Record>` for the caller's message, a
//! `<Dial>` to a human, or a `<Hangup>`; and what a `<Number url>` whisper
//! plays. The document is read by `twilio::twiml::read`; anything else in it
//! is ignored.

use twilio::twiml::Element;

/// What Twilio would do next with a TwiML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextStep {
    /// Open a Media Streams WebSocket.
    Stream {
        /// `<Connect action>`, requested when the stream ends (if any).
        action: Option<String>,
        /// `<Stream url>`, exactly as written (after XML unescaping).
        url: String,
        /// `<Parameter name value/>` children of `<Stream>`, in order.
        parameters: Vec<(String, String)>,
    },
    /// Record the caller (streaming is off, or the fallback).
    Record {
        /// `<Record action>`, requested with the recording (if any).
        action: Option<String>,
    },
    /// Transfer the caller to a human.
    Dial(Dial),
    /// End the call.
    Hangup,
}

/// A `<Dial><Number>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dial {
    /// The number dialled, as written.
    pub(crate) number: String,
    /// `<Number url>`: the TwiML the human hears on answering (if any).
    pub(crate) number_url: Option<String>,
    /// `<Dial action>`, requested when the dialled leg ends (if any).
    pub(crate) action: Option<String>,
    /// `<Dial callerId>`: the number the human sees.
    pub(crate) caller_id: Option<String>,
}

/// What a `<Number url>` answers for the human to hear first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Whisper {
    /// The `<Play>` URL, if any.
    pub(crate) play: Option<String>,
    /// The `<Say>` text, if any.
    pub(crate) say: Option<String>,
}

/// Finds the first `<Connect><Stream>`, `<Record>`, `<Dial>` or `<Hangup>`
/// in `xml`.
///
/// A `<Stream>` outside `<Connect>` is a one-way (`<Start>`) stream, which
/// this simulator does not play, so it is not taken.
pub(crate) fn next_step(xml: &str) -> Result<NextStep, String> {
    let root = twilio::twiml::read(xml).map_err(|e| e.to_string())?;
    first_step(&root, None).unwrap_or_else(|| {
        Err("no <Connect><Stream>, <Record>, <Dial> or <Hangup> in the TwiML".to_owned())
    })
}

/// The first `<Play>` and `<Say>` of a whisper document; an empty
/// `<Response/>` (no whisper) has neither.
pub(crate) fn whisper(xml: &str) -> Result<Whisper, String> {
    let root = twilio::twiml::read(xml).map_err(|e| e.to_string())?;
    let text = |name| {
        root.find(name)
            .map(|e| e.text.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    Ok(Whisper {
        play: text("Play"),
        say: text("Say"),
    })
}

/// The first step in document order at or below `element`; `connect` is the
/// `<Connect>` it sits in, if any.
fn first_step(element: &Element, connect: Option<&Element>) -> Option<Result<NextStep, String>> {
    match (element.name.as_str(), connect) {
        ("Record", _) => {
            return Some(Ok(NextStep::Record {
                action: element.attr("action").map(str::to_owned),
            }));
        }
        ("Hangup", _) => return Some(Ok(NextStep::Hangup)),
        ("Dial", _) => {
            let Some(number) = element.find("Number") else {
                return Some(Err("<Dial> has no <Number>".to_owned()));
            };
            return Some(Ok(NextStep::Dial(Dial {
                number: number.text.trim().to_owned(),
                number_url: number.attr("url").map(str::to_owned),
                action: element.attr("action").map(str::to_owned),
                caller_id: element.attr("callerId").map(str::to_owned),
            })));
        }
        ("Stream", Some(connect)) => {
            let Some(url) = element.attr("url") else {
                return Some(Err("<Stream> has no url attribute".to_owned()));
            };
            let parameters = element
                .children
                .iter()
                .filter(|child| child.name == "Parameter")
                .map(|p| {
                    let get = |name| p.attr(name).unwrap_or_default().to_owned();
                    (get("name"), get("value"))
                })
                .collect();
            return Some(Ok(NextStep::Stream {
                action: connect.attr("action").map(str::to_owned),
                url: url.to_owned(),
                parameters,
            }));
        }
        _ => {}
    }
    let connect = if element.name == "Connect" {
        Some(element)
    } else {
        connect
    };
    element
        .children
        .iter()
        .find_map(|child| first_step(child, connect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_stream_yields_its_url_action_and_parameters() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="/webhook/stream_ended"><Stream url="wss://example.com/ws/twilio-media"><Parameter name="business_id" value="7"/><Parameter name="a" value="x&amp;y"/></Stream></Connect></Response>"#;
        assert_eq!(
            next_step(xml).unwrap(),
            NextStep::Stream {
                action: Some("/webhook/stream_ended".into()),
                url: "wss://example.com/ws/twilio-media".into(),
                parameters: vec![
                    ("business_id".into(), "7".into()),
                    ("a".into(), "x&y".into())
                ],
            }
        );
    }

    #[test]
    fn an_empty_stream_element_has_no_parameters() {
        let xml = r#"<Response><Connect><Stream url="wss://h/ws"/></Connect></Response>"#;
        assert_eq!(
            next_step(xml).unwrap(),
            NextStep::Stream {
                action: None,
                url: "wss://h/ws".into(),
                parameters: vec![]
            }
        );
    }

    #[test]
    fn a_record_after_a_say_means_recording_mode() {
        let xml = r#"<Response><Say language="he-IL">שלום</Say><Record action="/webhook/handle_recording"/></Response>"#;
        assert_eq!(
            next_step(xml).unwrap(),
            NextStep::Record {
                action: Some("/webhook/handle_recording".into())
            }
        );
    }

    #[test]
    fn a_dial_yields_the_number_its_whisper_url_action_and_caller_id() {
        let xml = r#"<Response><Dial timeout="20" action="/webhook/transfer_ended" callerId="+97235550000"><Number url="/webhook/transfer_whisper?token=a&amp;b">+972541234567</Number></Dial></Response>"#;
        assert_eq!(
            next_step(xml).unwrap(),
            NextStep::Dial(Dial {
                number: "+972541234567".into(),
                number_url: Some("/webhook/transfer_whisper?token=a&b".into()),
                action: Some("/webhook/transfer_ended".into()),
                caller_id: Some("+97235550000".into()),
            })
        );
    }

    #[test]
    fn a_hangup_ends_the_call() {
        assert_eq!(
            next_step("<Response><Hangup/></Response>").unwrap(),
            NextStep::Hangup
        );
    }

    #[test]
    fn a_whisper_is_a_play_url_or_a_say_text_or_nothing() {
        let play = whisper("<Response><Play>https://h/audio/whisper/t</Play></Response>").unwrap();
        assert_eq!(play.play.as_deref(), Some("https://h/audio/whisper/t"));
        let said = whisper(r#"<Response><Say language="he-IL">לקוח על הקו</Say></Response>"#);
        assert_eq!(said.unwrap().say.as_deref(), Some("לקוח על הקו"));
        assert_eq!(whisper("<Response/>").unwrap(), Whisper::default());
    }

    #[test]
    fn a_document_with_nothing_to_follow_is_an_error() {
        assert!(next_step("<Response><Say>שלום</Say></Response>").is_err());
        assert!(next_step("<Response><Say>").is_err());
    }
}
