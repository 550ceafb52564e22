//! Integration tests for every provider client, each against a local fake
//! (wiremock, or a tiny axum server on 127.0.0.1:0) speaking the documented
//! wire format. Nothing here reaches the internet.

mod disabled;
mod google_tts;
mod helpers;
mod messages;
mod openai_chat;
mod openai_stt;
mod outcome;
mod payments;
mod recordings;
mod transcribe;
