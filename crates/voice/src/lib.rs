//! Pure audio and speech-text building blocks for the real-time call path:
//! no async runtime, no I/O, no HTTP — just functions and small state
//! machines that the call task drives one frame or one token at a time.
//!
//! The inbound path of a call is
//! base64 → [`mulaw::decode_into`] → [`vad::Vad::push`] →
//! [`turn::TurnDetector::push`] → (STT) → [`gibberish::clean_transcript`];
//! the outbound path is LLM tokens → [`sentences::SentenceSplitter`] → TTS,
//! whose `MULAW` WAV output is unwrapped by [`wav::parse`].
//!
//! Everything here is deterministic: time is counted in samples, never read
//! from a clock, so every state machine can be tested frame by frame.

#![warn(missing_docs)]

pub mod endpoint;
pub mod gibberish;
pub mod mulaw;
pub mod resample;
pub mod sentences;
pub mod turn;
pub mod vad;
pub mod wav;

pub use endpoint::{EndpointBounds, Wait, end_of_turn_wait, same_words};
pub use gibberish::{Rejection, TranscriptContext, check_transcript, clean_transcript};
pub use sentences::{SentenceSplitter, SplitterConfig};
pub use turn::{CrowdReading, EndedBy, TurnConfig, TurnDetector, TurnEvent};
pub use vad::{Vad, VadConfig};
pub use wav::{WavError, WavFormat, WavInfo};

/// The only sample rate Twilio Media Streams use, in Hz.
pub const TWILIO_SAMPLE_RATE: u32 = 8_000;

/// Samples in one 20 ms Twilio frame at [`TWILIO_SAMPLE_RATE`]. Frames are
/// *typically* this long; code must derive lengths from the payload.
pub const TWILIO_FRAME_SAMPLES: usize = 160;
