//! Twilio's wire formats, pure: request signatures, TwiML and Media Streams
//! messages.
//!
//! Nothing here does I/O, spawns tasks or knows about HTTP: the service and
//! the call simulator feed bytes in and take bytes out, so every format can
//! be tested against the published vectors without a network.

pub mod media;
pub mod signature;
pub mod twiml;
