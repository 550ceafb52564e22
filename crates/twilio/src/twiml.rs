//! A small TwiML builder: the verbs AgentLocator answers calls with, written
//! through quick-xml so that caller-, model- and business-supplied text is
//! always escaped. Which TwiML a webhook returns is the service's decision,
//! not this module's. [`read`] turns a document back into elements.

mod reader;

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
pub use reader::{Element, ReadError, read};

/// The XML declaration every TwiML document starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A TwiML `<Response>`: the verbs Twilio runs in order.
///
/// Built by chaining: `Response::new().say(..).hangup().to_xml()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    verbs: Vec<Verb>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verb {
    Say {
        text: String,
        language: String,
        voice: Option<String>,
    },
    Play {
        url: String,
    },
    Pause {
        length_s: u32,
    },
    Hangup,
    Record(Record),
    ConnectStream(ConnectStream),
    Dial(Dial),
}

/// HTTP method Twilio uses for a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`, Twilio's default.
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Whether Twilio trims silence from the start and end of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// `trim-silence`, Twilio's default.
    TrimSilence,
    /// `do-not-trim`
    DoNotTrim,
}

impl Trim {
    fn as_str(self) -> &'static str {
        match self {
            Self::TrimSilence => "trim-silence",
            Self::DoNotTrim => "do-not-trim",
        }
    }
}

/// The `<Record>` verb. Attributes left `None` are omitted, so Twilio's
/// defaults apply.
///
/// `action` is required on purpose: without it Twilio posts the recording
/// to the current URL, whose TwiML records again — a loop. Anything the
/// caller should hear after recording belongs in the action's response,
/// because verbs after `<Record action>` are never reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// URL Twilio requests when the recording ends (`action`).
    pub action: String,
    /// Method for `action` (`method`).
    pub method: Option<Method>,
    /// Seconds of silence that end the recording (`timeout`).
    pub timeout: Option<u32>,
    /// Longest recording in seconds (`maxLength`).
    pub max_length: Option<u32>,
    /// Whether a beep plays before recording (`playBeep`).
    pub play_beep: Option<bool>,
    /// Twilio's own transcription (`transcribe`); English only, so useless
    /// for Hebrew callers.
    pub transcribe: Option<bool>,
    /// Keys that end the recording, e.g. `#` (`finishOnKey`).
    pub finish_on_key: Option<String>,
    /// Silence trimming (`trim`).
    pub trim: Option<Trim>,
    /// URL told when the recording file is ready (`recordingStatusCallback`).
    pub recording_status_callback: Option<String>,
}

impl Record {
    /// A `<Record>` posting to `action`, every other attribute left to
    /// Twilio's default.
    #[must_use]
    pub fn new(action: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            method: None,
            timeout: None,
            max_length: None,
            play_beep: None,
            transcribe: None,
            finish_on_key: None,
            trim: None,
            recording_status_callback: None,
        }
    }
}

/// `<Connect><Stream>`: a bidirectional Media Stream to our WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectStream {
    /// URL Twilio requests once the stream ends (`<Connect action>`);
    /// without it the call moves on to the next verb.
    pub action: Option<String>,
    /// The `wss://` URL of the stream. Twilio accepts no query string here:
    /// pass data through `parameters`.
    pub url: String,
    /// `<Parameter name value/>` children, delivered to the WebSocket in
    /// `start.customParameters`.
    pub parameters: Vec<(String, String)>,
}

/// `<Dial><Number>`: connects the caller to one phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// URL Twilio requests when the dialled call ends (`action`), with
    /// `DialCallStatus`; without it the call moves on to the next verb.
    pub action: Option<String>,
    /// Seconds the number may ring before `no-answer` (`timeout`).
    pub timeout: Option<u32>,
    /// The number the dialled party sees (`callerId`).
    pub caller_id: Option<String>,
    /// The number dialled.
    pub number: Number,
}

/// `<Number url>`: the number a `<Dial>` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// E.164.
    pub number: String,
    /// TwiML Twilio runs on the answered leg before connecting the two
    /// (`url`): a whisper only the dialled party hears.
    pub url: Option<String>,
}

impl Response {
    /// An empty `<Response/>`: Twilio hangs up once it has nothing to run.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `<Say language voice>text</Say>`; `voice` is omitted when `None`.
    #[must_use]
    pub fn say(mut self, text: &str, language: &str, voice: Option<&str>) -> Self {
        self.verbs.push(Verb::Say {
            text: text.to_owned(),
            language: language.to_owned(),
            voice: voice.map(str::to_owned),
        });
        self
    }

    /// `<Play>url</Play>`.
    #[must_use]
    pub fn play(mut self, url: &str) -> Self {
        self.verbs.push(Verb::Play {
            url: url.to_owned(),
        });
        self
    }

    /// `<Pause length="secs"/>`.
    #[must_use]
    pub fn pause(mut self, secs: u32) -> Self {
        self.verbs.push(Verb::Pause { length_s: secs });
        self
    }

    /// `<Hangup/>`.
    #[must_use]
    pub fn hangup(mut self) -> Self {
        self.verbs.push(Verb::Hangup);
        self
    }

    /// `<Record .../>`.
    #[must_use]
    pub fn record(mut self, record: Record) -> Self {
        self.verbs.push(Verb::Record(record));
        self
    }

    /// `<Connect action><Stream url><Parameter name value/>…</Stream></Connect>`.
    #[must_use]
    pub fn connect_stream(mut self, connect: ConnectStream) -> Self {
        self.verbs.push(Verb::ConnectStream(connect));
        self
    }

    /// `<Dial action timeout callerId><Number url>number</Number></Dial>`.
    #[must_use]
    pub fn dial(mut self, dial: Dial) -> Self {
        self.verbs.push(Verb::Dial(dial));
        self
    }

    /// The document, starting with [`XML_DECLARATION`], without indentation.
    #[must_use]
    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new(Vec::with_capacity(256));
        self.write(&mut writer)
            .expect("writing XML into a Vec cannot fail");
        // Every input was a &str and quick-xml only adds ASCII, so the bytes
        // are UTF-8; the lossy path exists only to avoid a panic.
        String::from_utf8(writer.into_inner())
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        if self.verbs.is_empty() {
            return w.write_event(Event::Empty(BytesStart::new("Response")));
        }
        w.write_event(Event::Start(BytesStart::new("Response")))?;
        for verb in &self.verbs {
            write_verb(w, verb)?;
        }
        w.write_event(Event::End(BytesEnd::new("Response")))
    }
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> std::io::Result<()> {
    match verb {
        Verb::Say {
            text,
            language,
            voice,
        } => {
            let mut attrs = vec![("language", Cow::from(language.as_str()))];
            if let Some(voice) = voice {
                attrs.push(("voice", Cow::from(voice.as_str())));
            }
            text_element(w, "Say", &attrs, text)
        }
        Verb::Play { url } => text_element(w, "Play", &[], url),
        Verb::Pause { length_s } => {
            empty_element(w, "Pause", &[("length", length_s.to_string().into())])
        }
        Verb::Hangup => empty_element(w, "Hangup", &[]),
        Verb::Record(record) => empty_element(w, "Record", &record_attributes(record)),
        Verb::ConnectStream(connect) => write_connect_stream(w, connect),
        Verb::Dial(dial) => write_dial(w, dial),
    }
}

fn write_dial(w: &mut Writer<Vec<u8>>, dial: &Dial) -> std::io::Result<()> {
    let mut attrs = Vec::new();
    if let Some(timeout) = dial.timeout {
        attrs.push(("timeout", Cow::from(timeout.to_string())));
    }
    if let Some(action) = &dial.action {
        attrs.push(("action", Cow::from(action.as_str())));
    }
    if let Some(caller_id) = &dial.caller_id {
        attrs.push(("callerId", Cow::from(caller_id.as_str())));
    }
    w.write_event(Event::Start(start_tag("Dial", &attrs)))?;
    let mut number_attrs = Vec::new();
    if let Some(url) = &dial.number.url {
        number_attrs.push(("url", Cow::from(url.as_str())));
    }
    text_element(w, "Number", &number_attrs, &dial.number.number)?;
    w.write_event(Event::End(BytesEnd::new("Dial")))
}

fn record_attributes(record: &Record) -> Vec<(&'static str, Cow<'_, str>)> {
    let mut attrs = vec![("action", Cow::from(record.action.as_str()))];
    let mut optional = |name: &'static str, value: Option<Cow<'static, str>>| {
        if let Some(value) = value {
            attrs.push((name, value));
        }
    };
    optional("method", record.method.map(|m| m.as_str().into()));
    optional("timeout", record.timeout.map(|s| s.to_string().into()));
    optional("maxLength", record.max_length.map(|s| s.to_string().into()));
    optional("playBeep", record.play_beep.map(|b| bool_str(b).into()));
    optional("transcribe", record.transcribe.map(|b| bool_str(b).into()));
    optional("trim", record.trim.map(|t| t.as_str().into()));
    if let Some(keys) = &record.finish_on_key {
        attrs.push(("finishOnKey", keys.as_str().into()));
    }
    if let Some(url) = &record.recording_status_callback {
        attrs.push(("recordingStatusCallback", url.as_str().into()));
    }
    attrs
}

fn write_connect_stream(w: &mut Writer<Vec<u8>>, connect: &ConnectStream) -> std::io::Result<()> {
    let mut attrs = Vec::new();
    if let Some(action) = &connect.action {
        attrs.push(("action", Cow::from(action.as_str())));
    }
    w.write_event(Event::Start(start_tag("Connect", &attrs)))?;
    let stream_attrs = [("url", Cow::from(connect.url.as_str()))];
    if connect.parameters.is_empty() {
        empty_element(w, "Stream", &stream_attrs)?;
    } else {
        w.write_event(Event::Start(start_tag("Stream", &stream_attrs)))?;
        for (name, value) in &connect.parameters {
            let attrs = [
                ("name", name.as_str().into()),
                ("value", value.as_str().into()),
            ];
            empty_element(w, "Parameter", &attrs)?;
        }
        w.write_event(Event::End(BytesEnd::new("Stream")))?;
    }
    w.write_event(Event::End(BytesEnd::new("Connect")))
}

fn bool_str(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn text_element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    attrs: &[(&str, Cow<'_, str>)],
    text: &str,
) -> std::io::Result<()> {
    w.write_event(Event::Start(start_tag(name, attrs)))?;
    w.write_event(Event::Text(BytesText::new(&xml_chars(text))))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn empty_element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    attrs: &[(&str, Cow<'_, str>)],
) -> std::io::Result<()> {
    w.write_event(Event::Empty(start_tag(name, attrs)))
}

fn start_tag<'a>(name: &'a str, attrs: &[(&str, Cow<'_, str>)]) -> BytesStart<'a> {
    let mut tag = BytesStart::new(name);
    for (key, value) in attrs {
        let escaped = escape_attribute(value);
        tag.push_attribute((key.as_bytes(), escaped.as_bytes()));
    }
    tag
}

/// Escapes an attribute value fully.
///
/// Beyond quick-xml's escaping, tabs and line breaks become character
/// references: a conforming parser (Twilio's) turns literal ones into
/// spaces, which would silently change a `<Parameter>` value.
fn escape_attribute(value: &str) -> String {
    let escaped = quick_xml::escape::escape(xml_chars(value));
    let mut out = String::with_capacity(escaped.len());
    for ch in escaped.chars() {
        match ch {
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            other => out.push(other),
        }
    }
    out
}

/// Drops the characters XML 1.0 cannot carry at all, escaped or not.
///
/// Model output or a business name with a stray control character would
/// otherwise make the whole document invalid, and Twilio would fail the
/// call instead of skipping one character.
fn xml_chars(text: &str) -> Cow<'_, str> {
    let allowed = |ch: char| {
        matches!(ch, '\t' | '\n' | '\r') || (ch >= ' ' && ch != '\u{FFFE}' && ch != '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&ch| allowed(ch)).collect())
    }
}

#[cfg(test)]
mod tests;
