//! The agent's actions during a call: what the engine needs from the service to offer tools to the model and run them.
//!
//! The service implements [`CallTools`] per call (the business's tools, its
//! database, its hours); the engine offers [`CallTools::specs`] with every
//! reply, runs what the model calls, feeds the result back, and ends the
//! stream on purpose when a tool says the call is to end.

use std::time::Duration;

use async_trait::async_trait;
use providers::ToolSpec;

/// How a tool ends the call, once the agent has said its last sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// Hand the caller to a person (`<Dial>` after the stream).
    Transfer,
    /// Hang up (`<Hangup/>` after the stream).
    Hangup,
}

/// What one tool run answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The result for the model: JSON text, Hebrew where it is to be said.
    pub content: String,
    /// Set when the tool armed the end of the call.
    pub ends_call: Option<CallEnd>,
}

impl ToolOutput {
    /// A result that leaves the call going.
    pub fn answer(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ends_call: None,
        }
    }
}

/// The tools of one call. Implementations never panic: a failure is a
/// result the model can talk about (`{"error": "…"}`).
#[async_trait]
pub trait CallTools: Send + Sync {
    /// The tools offered to the model in this call (none: plain chat).
    fn specs(&self) -> Vec<ToolSpec>;
    /// Runs `name` with the model's `arguments` (JSON text, already checked
    /// to parse). The engine runs it in a task of its own, so a caller who
    /// interrupts cancels the speech, not an action that already began.
    async fn run(&self, name: &str, arguments: &str) -> ToolOutput;
}

/// One tool run, as stored with its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRecord {
    /// The tool's name.
    pub name: String,
    /// The model's arguments, JSON text.
    pub arguments: String,
    /// What the tool answered (its `content`).
    pub result: String,
    /// How long it ran.
    pub duration_ms: u64,
}

/// A tool that has not answered by then gets a filler line said over it.
pub const FILLER_AFTER: Duration = Duration::from_millis(700);
