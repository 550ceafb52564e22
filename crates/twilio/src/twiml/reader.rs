//! Reading TwiML back into elements, for whatever acts on the service's answers as Twilio would.
//!
//! The call simulator, the deploy check and the tests all need to see what
//! Twilio's parser sees; one strict reader means they cannot disagree about
//! a document. It refuses what Twilio would refuse as a parse failure
//! (ill-formed XML, unclosed elements, a root other than `<Response>`).

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

/// One element of a TwiML document: a verb or noun with its attributes,
/// text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// Unescaped values. Sorted by name: attribute order means nothing in
    /// XML, so nothing should depend on it.
    pub attrs: BTreeMap<String, String>,
    /// The text directly inside, references resolved and line ends
    /// normalised as any XML parser reads them.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// The first element named `name` in document order: this one or any
    /// below it.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|child| child.find(name))
    }
}

/// Why a document is not TwiML Twilio would run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not TwiML: {0}")]
pub struct ReadError(String);

/// Reads a TwiML document (declaration optional) into its `<Response>`.
pub fn read(xml: &str) -> Result<Element, ReadError> {
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ReadError(format!("ill-formed XML: {e}")))?;
        match event {
            Event::Start(tag) => open.push(element(&tag)?),
            Event::Empty(tag) => close(&mut open, &mut root, element(&tag)?)?,
            Event::End(_) => {
                // quick-xml already refuses an end tag that matches no start.
                let done = open
                    .pop()
                    .ok_or_else(|| ReadError("an end tag with no start".into()))?;
                close(&mut open, &mut root, done)?;
            }
            Event::Text(text) => add_text(&mut open, &text.xml10_content().map_err(ill_formed)?)?,
            Event::CData(data) => add_text(&mut open, &data.xml10_content().map_err(ill_formed)?)?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(ill_formed)? {
                    Some(ch) => ch.to_string(),
                    None => {
                        let name = reference.decode().map_err(ill_formed)?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| ReadError(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                add_text(&mut open, &resolved)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(ReadError(format!("<{}> is never closed", unclosed.name)));
    }
    let root = root.ok_or_else(|| ReadError("no root element".into()))?;
    if root.name != "Response" {
        return Err(ReadError(format!(
            "the root is <{}>, not <Response>",
            root.name
        )));
    }
    Ok(root)
}

fn ill_formed(e: impl std::fmt::Display) -> ReadError {
    ReadError(format!("ill-formed XML: {e}"))
}

fn element(tag: &BytesStart<'_>) -> Result<Element, ReadError> {
    let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
    let mut attrs = BTreeMap::new();
    // The attribute iterator checks for duplicates, so none is lost here.
    for attr in tag.attributes() {
        let attr = attr.map_err(|e| ReadError(format!("bad attribute on <{name}>: {e}")))?;
        let value = attr
            .unescape_value()
            .map_err(|e| ReadError(format!("bad attribute on <{name}>: {e}")))?;
        attrs.insert(
            String::from_utf8_lossy(attr.key.as_ref()).into_owned(),
            value.into_owned(),
        );
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

/// Hangs a finished element under its parent, or makes it the root.
fn close(open: &mut [Element], root: &mut Option<Element>, done: Element) -> Result<(), ReadError> {
    match open.last_mut() {
        Some(parent) => parent.children.push(done),
        None if root.is_none() => *root = Some(done),
        None => return Err(ReadError(format!("a second root element <{}>", done.name))),
    }
    Ok(())
}

fn add_text(open: &mut [Element], text: &str) -> Result<(), ReadError> {
    match open.last_mut() {
        Some(element) => element.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(ReadError(format!("text outside the root: {text:?}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_reads_as_verbs_with_attributes_text_and_children() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="he-IL">a &amp; b&#10;c</Say><Connect action="/after"><Stream url="wss://h/ws?a=1&amp;b=2"><Parameter name="business_id" value="7"/></Stream></Connect></Response>"#;
        let root = read(xml).unwrap();
        let names: Vec<_> = root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Say", "Connect"]);
        assert_eq!(root.children[0].attr("language"), Some("he-IL"));
        assert_eq!(root.children[0].text, "a & b\nc");
        let stream = root.find("Stream").unwrap();
        assert_eq!(stream.attr("url"), Some("wss://h/ws?a=1&b=2"));
        assert_eq!(stream.children[0].attr("value"), Some("7"));
        assert_eq!(root.find("Connect").unwrap().attr("action"), Some("/after"));
        assert!(root.find("Record").is_none());
    }

    #[test]
    fn what_twilio_could_not_parse_is_refused() {
        for xml in [
            "",
            "<Response><Say>",
            "<Response></Say>",
            "<Response><Say a='1' a='2'/></Response>",
            "<Response/><Response/>",
            "<Response/>stray",
            "<Response>&bogus;</Response>",
            "<Document/>",
        ] {
            assert!(read(xml).is_err(), "{xml}");
        }
    }
}
