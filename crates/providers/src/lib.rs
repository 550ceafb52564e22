//! Clients for the outside services a phone call depends on, each behind a
//! small object-safe trait so the call pipeline holds `Arc<dyn …>` and never
//! knows whether it talks to the real service, a local fake or a disabled
//! stand-in.
//!
//! What lives here: speech-to-text, streaming chat and structured call
//! outcomes ([`outcome`]) against any OpenAI-compatible server ([`openai`]), Google Text-to-Speech with
//! service-account auth ([`google`]), Twilio recording downloads locked to the
//! Twilio origin and SMS/WhatsApp sends ([`twilio`]), the degraded-mode stand-ins ([`disabled`]),
//! Hebrew transcription with an injected gibberish filter ([`transcribe_he`]),
//! and the PayPal/Tranzila clients the CRM will use ([`payments`]).
//!
//! What does not: reading the environment (the service builds the config
//! structs in [`config`]), the gibberish filter itself (`crates/voice`), and
//! any audio processing beyond the WAV framing providers need.

pub mod config;
pub mod disabled;
pub mod error;
pub mod google;
pub mod openai;
pub mod outcome;
pub mod payments;
pub mod traits;
pub mod twilio;
pub mod types;

mod http;
mod sse;
mod token_cache;
mod transcribe;
mod wav;

pub use config::{
    GoogleCredentials, GoogleTtsConfig, OpenAiConfig, PayPalConfig, ServiceAccountKey,
    TranzilaConfig, TwilioRestConfig,
};
pub use disabled::{
    DISABLED_REPLY_HE, DisabledLanguageModel, DisabledOutcomeModel, DisabledRecordingFetcher,
    DisabledSpeechToText, DisabledTextToSpeech,
};
pub use error::{ConfigError, ProviderError};
pub use google::GoogleTextToSpeech;
pub use openai::{OpenAiChat, OpenAiSpeechToText};
pub use outcome::{CallOutcome, Conversation, ConversationLine, OutcomeRequest, Speaker, Urgency};
pub use payments::{PayPalClient, TranzilaClient};
pub use traits::{LanguageModel, OutcomeModel, RecordingFetcher, SpeechToText, TextToSpeech};
pub use transcribe::transcribe_he;
pub use twilio::TwilioRecordingFetcher;
pub use twilio::messages::{
    Content, MAX_BODY_CHARS, OutboundMessage, Sender, SentMessage, TwilioMessagesClient,
};
pub use types::{
    AudioFormat, AudioInput, CallRecording, ChatDelta, ChatMessage, ChatRole, ToolCall, ToolSpec,
    TranscribeOptions,
};
