//! A Twilio stand-in and fake outside providers, so a whole AgentLocator call
//! runs on one machine with no account anywhere.
//!
//! [`sim`] plays Twilio's part against any running instance: it signs and
//! posts `incoming_call`, follows the TwiML into a Media Streams WebSocket,
//! speaks the caller's audio in real time, plays back what the server sends
//! the way Twilio's buffer does (marks, `clear`), and reports what a caller
//! would have felt. [`fake`] serves OpenAI-compatible STT/LLM and Google TTS
//! shapes with configurable latency, for benchmarks and offline demos.
//!
//! What does not live here: the service itself, and the wire formats, which
//! come from the `twilio` and `voice` crates so that the simulator cannot
//! drift from what the service parses.

pub mod fake;
pub mod sim;

pub use fake::{FakeLatencies, write_google_credentials};
pub use sim::{
    CallReport, HumanAnswer, ManyReport, Percentiles, SimError, SimMode, SimOptions,
    TransferReport, TurnReport, simulate_call, simulate_many,
};
