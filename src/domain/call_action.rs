//! What the agent asked to happen to a live call when its stream ends: a
//! transfer to a human, or hanging up.

use super::PhoneNumber;

/// The action the call engine arms before it closes the media stream on
/// purpose; `stream_ended` answers with its TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// `<Dial>` `to`; the human hears `whisper_he` before being connected.
    Transfer {
        to: PhoneNumber,
        /// Why the caller wants a human (for the owner, in the CRM).
        reason: String,
        /// The one Hebrew sentence the human hears, built by the engine.
        whisper_he: String,
    },
    /// `<Hangup/>` after the agent's last words.
    Hangup,
}

impl CallAction {
    /// The stored name (`call_log.call_action`).
    pub fn kind(&self) -> &'static str {
        match self {
            CallAction::Transfer { .. } => "transfer",
            CallAction::Hangup => "hangup",
        }
    }
}

/// How a transfer went, as stored (`call_log.transfer_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    /// `<Dial>` was answered to Twilio; the human's phone rings.
    Dialing,
    /// The human answered and the two talked.
    Transferred,
    /// Nobody answered (no-answer, busy, failed, canceled).
    TransferFailed,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Dialing => "dialing",
            TransferStatus::Transferred => "transferred",
            TransferStatus::TransferFailed => "transfer_failed",
        }
    }
}

/// An action armed for one call. A transfer carries the whisper's token:
/// the credential of the unsigned whisper audio URL, valid until
/// `whisper_expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmedAction {
    pub call_sid: String,
    pub action: CallAction,
    pub whisper_token: Option<String>,
    pub whisper_expires_at: Option<super::Timestamp>,
}

impl ArmedAction {
    /// The sentence the human hears, while its token is valid at `now`.
    pub fn whisper_at(&self, now: &super::Timestamp) -> Option<&str> {
        match (&self.action, &self.whisper_expires_at) {
            (CallAction::Transfer { whisper_he, .. }, Some(expires)) if expires > now => {
                Some(whisper_he)
            }
            _ => None,
        }
    }
}
