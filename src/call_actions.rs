//! The end-of-stream actions the call engine armed (transfer to a human or
//! hang up), kept in memory on this instance and written to the call row so
//! that any instance answers `stream_ended` and the whisper alike.
//!
//! Memory comes first: the instance whose stream armed the action answers
//! `stream_ended` even when the database write failed. Another instance
//! reads the row. Arming twice keeps the first action, so a retried tool
//! call cannot change what Twilio already dialled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::db::{self, Db};
use crate::domain::Timestamp;
pub use crate::domain::{ArmedAction, CallAction};

/// How long an armed action is remembered: far longer than any call
/// lingers between the agent's last words and `stream_ended`.
pub const KEEP: Duration = Duration::from_secs(60 * 60);

/// How long the whisper's token opens its audio: the human's phone rings
/// for 20 s at most, and the token is a credential on an unsigned URL.
pub const WHISPER_VALID: time::Duration = time::Duration::minutes(15);

/// The most actions remembered at once; the oldest go first beyond it.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    armed: ArmedAction,
    at: Instant,
}

/// The armed actions. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct CallActions {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl CallActions {
    /// Arms `action` for `call_sid`, or returns the action armed first. In
    /// memory at once; the error says only that the row could not take it
    /// (this instance still answers with it).
    pub async fn arm(
        &self,
        db: &Db,
        call_sid: &str,
        action: CallAction,
    ) -> Result<ArmedAction, sqlx::Error> {
        let armed = self.remember(new_armed(call_sid, action));
        match db::call_actions::arm(db, &armed).await? {
            Some(stored) => {
                // Another instance armed this call first: its action is the
                // one every instance must answer with.
                if stored != armed {
                    self.replace(stored.clone());
                }
                Ok(stored)
            }
            None => {
                tracing::warn!(
                    call_sid,
                    "call action armed for a call with no call_log row; only this instance knows it"
                );
                Ok(armed)
            }
        }
    }

    /// The action armed for `call_sid`: from memory, else from the row
    /// within `deadline`. Database trouble reads as nothing armed.
    pub async fn get(
        &self,
        db: &Db,
        call_sid: &str,
        deadline: tokio::time::Instant,
    ) -> Option<ArmedAction> {
        let remembered = self
            .lock()
            .get(call_sid)
            .filter(|e| e.at.elapsed() < KEEP)
            .map(|e| e.armed.clone());
        if let Some(armed) = remembered {
            return Some(armed);
        }
        read_row(deadline, db::call_actions::by_sid(db, call_sid)).await
    }

    /// The transfer whose whisper token is `token`, while it is valid.
    pub async fn by_whisper_token(
        &self,
        db: &Db,
        token: &str,
        deadline: tokio::time::Instant,
    ) -> Option<ArmedAction> {
        if !is_token(token) {
            return None;
        }
        let armed = match self.remembered(|a| a.whisper_token.as_deref() == Some(token)) {
            Some(armed) => armed,
            None => read_row(deadline, db::call_actions::by_token(db, token)).await?,
        };
        armed
            .whisper_at(&Timestamp::now())
            .is_some()
            .then_some(armed)
    }

    /// How many actions are remembered (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps `armed` unless the call already has an action; returns the one
    /// kept.
    fn remember(&self, armed: ArmedAction) -> ArmedAction {
        let now = Instant::now();
        let mut map = self.lock();
        if let Some(e) = map
            .get(&armed.call_sid)
            .filter(|e| now.duration_since(e.at) < KEEP)
        {
            return e.armed.clone();
        }
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| now.duration_since(e.at) < KEEP);
        }
        if map.len() >= MAX_ENTRIES
            && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            armed.call_sid.clone(),
            Entry {
                armed: armed.clone(),
                at: now,
            },
        );
        armed
    }

    fn replace(&self, armed: ArmedAction) {
        let mut map = self.lock();
        map.insert(
            armed.call_sid.clone(),
            Entry {
                armed,
                at: Instant::now(),
            },
        );
    }

    /// A scan, not an index: only the rare whisper request looks up by
    /// token, and the map is bounded.
    fn remembered(&self, which: impl Fn(&ArmedAction) -> bool) -> Option<ArmedAction> {
        let map = self.lock();
        map.values()
            .find(|e| e.at.elapsed() < KEEP && which(&e.armed))
            .map(|e| e.armed.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fresh action; a transfer gets its whisper token (192 random bits,
/// URL-safe) and its expiry.
fn new_armed(call_sid: &str, action: CallAction) -> ArmedAction {
    let (whisper_token, whisper_expires_at) = match action {
        CallAction::Transfer { .. } => {
            let bytes: [u8; 24] = rand::random();
            (
                Some(URL_SAFE_NO_PAD.encode(bytes)),
                Some(Timestamp::now().shifted(WHISPER_VALID)),
            )
        }
        CallAction::Hangup => (None, None),
    };
    ArmedAction {
        call_sid: call_sid.to_string(),
        action,
        whisper_token,
        whisper_expires_at,
    }
}

/// Whether `token` has the shape of one we issue, so anything else is
/// refused without a query.
fn is_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn read_row(
    deadline: tokio::time::Instant,
    read: impl Future<Output = Result<Option<ArmedAction>, sqlx::Error>>,
) -> Option<ArmedAction> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    match db::budget::by_deadline(deadline, left, read).await {
        Ok(armed) => armed,
        Err(e) => {
            tracing::error!(error = %e, "could not read the call's armed action; none applies");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhoneNumber;

    fn transfer() -> CallAction {
        CallAction::Transfer {
            to: PhoneNumber::parse("050-1234567").unwrap(),
            reason: "הזמנה".into(),
            whisper_he: "שיחה מדני.".into(),
        }
    }

    #[test]
    fn a_second_action_for_the_same_call_keeps_the_first() {
        let actions = CallActions::default();
        let first = actions.remember(new_armed("CA1", transfer()));
        let second = actions.remember(new_armed("CA1", CallAction::Hangup));
        assert_eq!(first, second);
        assert_eq!(actions.len(), 1);
    }

    #[test]
    fn a_transfer_gets_a_long_url_safe_token_and_a_hangup_none() {
        let armed = new_armed("CA1", transfer());
        let token = armed.whisper_token.as_deref().unwrap();
        assert!(is_token(token), "{token}");
        assert_ne!(
            new_armed("CA1", transfer()).whisper_token,
            armed.whisper_token
        );
        assert!(armed.whisper_at(&Timestamp::now()).is_some());
        assert_eq!(new_armed("CA1", CallAction::Hangup).whisper_token, None);
    }

    #[test]
    fn a_whisper_past_its_expiry_is_not_heard() {
        let armed = new_armed("CA1", transfer());
        let later = Timestamp::now().shifted(WHISPER_VALID + time::Duration::seconds(1));
        assert_eq!(armed.whisper_at(&later), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let actions = CallActions::default();
        for i in 0..MAX_ENTRIES + 5 {
            actions.remember(new_armed(&format!("CA{i}"), CallAction::Hangup));
        }
        assert_eq!(actions.len(), MAX_ENTRIES);
    }
}
