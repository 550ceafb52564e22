//! Reading the TwiML the service answers, as far as Twilio's next step
//! depends on it: a `<Connect><Stream>` to follow, or a `<Record>` that ends
//! the simulated call. Anything else in the document is ignored.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

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
    let mut reader = Reader::from_str(xml);
    let mut action = None;
    let mut in_connect = false;
    let mut stream: Option<(String, Vec<(String, String)>)> = None;
    let mut in_stream = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        // `<Stream/>` (empty) has no children; `<Stream>` may have parameters.
        let (tag, is_empty) = match &event {
            Event::Start(tag) => (Some(tag), false),
            Event::Empty(tag) => (Some(tag), true),
            _ => (None, false),
        };
        if let Some(tag) = tag {
            match tag.local_name().as_ref() {
                b"Connect" => {
                    in_connect = !is_empty;
                    action = attribute(tag, "action")?;
                }
                b"Stream" if in_connect && stream.is_none() => {
                    let url = attribute(tag, "url")?
                        .ok_or_else(|| "<Stream> has no url attribute".to_owned())?;
                    stream = Some((url, Vec::new()));
                    in_stream = !is_empty;
                }
                b"Parameter" if in_stream => {
                    let name = attribute(tag, "name")?.unwrap_or_default();
                    let value = attribute(tag, "value")?.unwrap_or_default();
                    if let Some((_, params)) = stream.as_mut() {
                        params.push((name, value));
                    }
                }
                b"Record" if stream.is_none() => return Ok(NextStep::Record),
                _ => {}
            }
        }
        match event {
            Event::End(tag) if tag.local_name().as_ref() == b"Stream" => in_stream = false,
            Event::End(tag) if tag.local_name().as_ref() == b"Connect" => {
                if let Some((url, parameters)) = stream.take() {
                    return Ok(NextStep::Stream {
                        action,
                        url,
                        parameters,
                    });
                }
                in_connect = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match stream {
        // An unclosed <Connect> still names the stream Twilio would open.
        Some((url, parameters)) => Ok(NextStep::Stream {
            action,
            url,
            parameters,
        }),
        None => Err("neither <Connect><Stream> nor <Record> in the TwiML".to_owned()),
    }
}

fn attribute(tag: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    let found = tag
        .try_get_attribute(name)
        .map_err(|e| format!("bad attribute on <{}>: {e}", tag_name(tag)))?;
    found
        .map(|attr| {
            attr.unescape_value()
                .map(|v| v.into_owned())
                .map_err(|e| format!("bad {name} on <{}>: {e}", tag_name(tag)))
        })
        .transpose()
}

fn tag_name(tag: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(tag.name().as_ref()).into_owned()
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
