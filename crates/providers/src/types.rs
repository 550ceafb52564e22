//! Plain values passed through the provider traits: audio in, chat messages,
//! transcription options. No behaviour beyond small constructors.

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
}

/// One message of a chat conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: ChatRole,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
        }
    }

    /// A user (caller) message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
        }
    }

    /// An assistant (agent) message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
        }
    }
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
