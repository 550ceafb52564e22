//! Waiting for Twilio's `start` frame, which names the call, the stream and
//! the business before any audio flows. The glue checks the tenant with it
//! and only then builds a [`crate::CallSetup`].

use std::time::Duration;

use twilio::media::{Inbound, parse_inbound};

use crate::{FrameSource, Incoming};

/// Frames longer than this are skipped while waiting for `start`; a real
/// `start` is a few hundred bytes plus its custom parameters.
const MAX_START_FRAME_BYTES: usize = 64 * 1024;

/// Why no `start` frame arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Nothing usable within the timeout.
    #[error("no start frame within {0:?}")]
    Timeout(Duration),
    /// The socket closed (or the channel was dropped) first.
    #[error("the socket closed before the stream started")]
    Closed,
    /// Twilio sent `stop` before `start`.
    #[error("the stream stopped before it started")]
    Stopped,
}

/// Reads frames until Twilio's `start` (skipping `connected`), bounded by
/// `timeout`.
///
/// Anything else before `start` (media, marks, unknown or malformed text,
/// binary frames) is skipped with one warning: Twilio never sends it, and
/// the timeout bounds how long a peer can keep us here.
///
/// # Errors
/// [`StartError::Timeout`], [`StartError::Closed`] or [`StartError::Stopped`].
pub async fn await_start(
    inbound: &mut impl FrameSource,
    timeout: Duration,
) -> Result<twilio::media::Start, StartError> {
    let mut skipped = 0_u32;
    let wait = async {
        loop {
            let text = match inbound.recv().await {
                None | Some(Incoming::Close) => return Err(StartError::Closed),
                Some(Incoming::Text(text)) if text.len() <= MAX_START_FRAME_BYTES => text,
                Some(Incoming::Pong) => continue,
                Some(Incoming::Text(_) | Incoming::Binary(_)) => {
                    skipped += 1;
                    continue;
                }
            };
            match parse_inbound(&text) {
                Ok(Inbound::Start { start, .. }) => return Ok(start),
                Ok(Inbound::Connected { .. }) => {}
                Ok(Inbound::Stop { .. }) => return Err(StartError::Stopped),
                Ok(_) | Err(_) => skipped += 1,
            }
        }
    };
    let result = tokio::time::timeout(timeout, wait)
        .await
        .unwrap_or(Err(StartError::Timeout(timeout)));
    if skipped > 0 {
        tracing::warn!(skipped, "frames before the stream start were ignored");
    }
    result
}
