//! Integration tests of the call simulator and the fake providers, over real
//! sockets on port 0, built as one test binary.

mod fake_messages;
mod fake_providers;
mod fake_service;
mod simulator;
