//! Plain values passed through the provider traits: audio in, chat messages,
//! tool calls and tool specs, transcription options. No behaviour beyond small constructors.

use bytes::Bytes;
use serde::Serialize;

/// How the bytes of an [`AudioInput`] are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// A complete WAV file (header included).
    Wav,
    /// An MP3 file.
    Mp3,
    /// Headerless G.711 mu-law, 8 kHz mono: what Twilio Media Streams carry.
    MulawRaw8k,
}

impl AudioFormat {
    /// File extension sent with the upload; transcription APIs sniff it.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Wav | Self::MulawRaw8k => "wav",
            Self::Mp3 => "mp3",
        }
    }

    /// MIME type of the uploaded file.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Wav | Self::MulawRaw8k => "audio/wav",
            Self::Mp3 => "audio/mpeg",
        }
    }
}

/// Audio to transcribe.
#[derive(Debug, Clone)]
pub struct AudioInput {
    /// The encoded audio.
    pub bytes: Bytes,
    /// How `bytes` is encoded.
    pub format: AudioFormat,
}

impl AudioInput {
    /// A WAV file, e.g. a downloaded Twilio recording.
    pub fn wav(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            format: AudioFormat::Wav,
        }
    }

    /// An MP3 file.
    pub fn mp3(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            format: AudioFormat::Mp3,
        }
    }

    /// Raw mu-law 8 kHz mono, as buffered from a media stream.
    pub fn mulaw_8k(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            format: AudioFormat::MulawRaw8k,
        }
    }
}

/// Options for one transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeOptions {
    /// ISO-639-1 language hint; `he` by default.
    pub language: String,
    /// Optional prompt (names, vocabulary) to bias recognition.
    pub prompt: Option<String>,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: "he".to_owned(),
            prompt: None,
        }
    }
}

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions from the business/system prompt.
    System,
    /// The caller.
    User,
    /// The agent.
    Assistant,
    /// What a tool the agent called answered.
    Tool,
}

/// One message of a chat conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who said it.
    pub role: ChatRole,
    /// What was said; for a tool result, what the tool answered.
    pub content: String,
    /// The tools an assistant message called; empty for every other message.
    pub tool_calls: Vec<ToolCall>,
    /// For a [`ChatRole::Tool`] message, the [`ToolCall::id`] it answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn plain(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(ChatRole::System, content)
    }

    /// A user (caller) message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(ChatRole::User, content)
    }

    /// An assistant (agent) message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::plain(ChatRole::Assistant, content)
    }

    /// An assistant turn that said `text` (possibly nothing) and called
    /// `calls`: the model must see its own calls before their results.
    pub fn assistant_tool_calls(text: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::plain(ChatRole::Assistant, text)
        }
    }

    /// What the tool call `id` answered (usually JSON text).
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(id.into()),
            ..Self::plain(ChatRole::Tool, content)
        }
    }
}

impl Serialize for ChatMessage {
    /// OpenAI's shape: `tool_calls` and `tool_call_id` only when present,
    /// and `content: null` for an assistant turn that only called tools
    /// (some servers reject an empty string there).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", &self.role)?;
        if self.content.is_empty() && !self.tool_calls.is_empty() {
            map.serialize_entry("content", &())?;
        } else {
            map.serialize_entry("content", &self.content)?;
        }
        if !self.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &self.tool_calls)?;
        }
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        map.end()
    }
}

/// One function call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The model's id for the call (`call_…`); the result must quote it.
    pub id: String,
    /// Which tool.
    pub name: String,
    /// The arguments as the model wrote them: JSON text, checked to parse.
    pub arguments: String,
}

impl Serialize for ToolCall {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        })
        .serialize(serializer)
    }
}

/// A tool the model may call: a function name, what it is for, and a JSON
/// Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The function name the model calls it by.
    pub name: String,
    /// When to call it, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

impl Serialize for ToolSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        })
        .serialize(serializer)
    }
}

/// One item of a streamed answer that may call tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatDelta {
    /// Text to say, as soon as it arrives.
    Text(String),
    /// A complete tool call, its arguments whole and valid JSON.
    ToolCall(ToolCall),
}

/// One recording of a call, from Twilio's list of a call's recordings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    /// `RE…`.
    pub sid: String,
    /// `completed`, `processing`, `absent`, `failed`, …
    pub status: String,
    /// Seconds, once Twilio knows them.
    pub duration_s: Option<u32>,
    /// The media URL without an extension, exactly as a `RecordingUrl`
    /// webhook parameter would carry it.
    pub url: String,
}
