//! What Twilio does next with the TwiML the service answers: a
//! `<Connect><Stream>` to follow, or a `<Record>` that ends the simulated
//! call. The document is read by `twilio::twiml::read`; anything else in it
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
    Record,
}

/// Finds the first `<Connect><Stream>` or `<Record>` in `xml`.
///
/// A `<Stream>` outside `<Connect>` is a one-way (`<Start>`) stream, which
/// this simulator does not play, so it is not taken.
pub(crate) fn next_step(xml: &str) -> Result<NextStep, String> {
    let root = twilio::twiml::read(xml).map_err(|e| e.to_string())?;
    first_step(&root, None)
        .unwrap_or_else(|| Err("neither <Connect><Stream> nor <Record> in the TwiML".to_owned()))
}

/// The first step in document order at or below `element`; `connect` is the
/// `<Connect>` it sits in, if any.
fn first_step(element: &Element, connect: Option<&Element>) -> Option<Result<NextStep, String>> {
    match (element.name.as_str(), connect) {
        ("Record", _) => return Some(Ok(NextStep::Record)),
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
        assert_eq!(next_step(xml).unwrap(), NextStep::Record);
    }

    #[test]
    fn a_document_with_neither_is_an_error() {
        assert!(next_step("<Response><Hangup/></Response>").is_err());
        assert!(next_step("<Response><Say>").is_err());
    }
}
