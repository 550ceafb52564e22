//! The post-call outcome job (issue 13): summarise a finished call for the owner and mark whether they must follow up.
//!
//! Queued when a streamed call completes and when a voicemail's transcript
//! is saved. It reads the call's turns (or transcript), asks the outcome
//! model, and stores `summary`, `outcome` and `follow_up_status` on the
//! call, then notes the contact on the customer. Every way it ends stores
//! a row: nobody spoke (`none`), the model is off or keeps answering off
//! schema (the caller's first words, `open`), or the model's answer.
//! Idempotent: a rerun writes the same columns again.

use anyhow::anyhow;
use providers::{
    CallOutcome, Conversation, ConversationLine, OutcomeRequest, ProviderError, Speaker,
};
use serde::{Deserialize, Serialize};

use super::{JobError, notify};
use crate::db::{calls, customers, jobs as queue};
use crate::domain::settings::NotifyChannel;
use crate::state::AppState;

/// The `kind` of outcome jobs in the `job` table.
pub const KIND: &str = "call_outcome";

/// Attempts before the job stops waiting on an outage and falls back.
pub const MAX_ATTEMPTS: i32 = 5;

/// Attempts that may end in off-schema output before falling back: a model
/// that answered wrongly three times is unlikely to answer well the fourth.
pub const MAX_INVALID_ATTEMPTS: i64 = 3;

/// Longest fallback summary (characters).
const FALLBACK_CHARS: usize = 200;

/// What the job needs; stored as JSON in `job.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub call_sid: String,
    #[serde(default)]
    pub business_id: Option<i64>,
}

impl super::CallJob for Payload {
    fn call_sid(&self) -> &str {
        &self.call_sid
    }
    fn business_id(&self) -> Option<i64> {
        self.business_id
    }
}

/// The dedupe key: one outcome per call, however often the status callback
/// or the transcription job repeats.
pub fn dedupe_key(call_sid: &str) -> String {
    format!("outcome:{call_sid}")
}

/// How long a completed call's status callback waits for the stream that
/// carried it: Twilio may report `completed` while the last turns are still
/// being stored, and the stream's own end queues the outcome at once.
pub const STREAM_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Queues the outcome of a finished call to run now and wakes a worker; an
/// outcome queued as a [`backstop`] is brought forward.
pub async fn enqueue(
    db: &crate::db::Db,
    payload: &Payload,
) -> Result<queue::Enqueued, sqlx::Error> {
    enqueue_at(db, payload, &crate::domain::Timestamp::now()).await
}

/// Queues the outcome of a completed streamed call [`STREAM_GRACE`] from
/// now, in case its stream never reports its end (its instance died).
pub async fn backstop(
    db: &crate::db::Db,
    payload: &Payload,
) -> Result<queue::Enqueued, sqlx::Error> {
    enqueue_at(db, payload, &queue::ts_after(STREAM_GRACE)).await
}

async fn enqueue_at(
    db: &crate::db::Db,
    payload: &Payload,
    run_at: &crate::domain::Timestamp,
) -> Result<queue::Enqueued, sqlx::Error> {
    let queued = super::enqueue_json(
        db,
        KIND,
        &dedupe_key(&payload.call_sid),
        payload,
        MAX_ATTEMPTS,
        run_at,
    )
    .await?;
    super::wake();
    Ok(queued)
}

/// What the job decided to store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Nobody spoke: nothing to summarise or follow up.
    Silent,
    /// The caller spoke but no model summary is to be had.
    Fallback(String),
    /// The model's answer.
    Model(CallOutcome),
}

/// Runs one outcome job; `attempt` is the job's 1-based attempt number.
pub async fn run(state: &AppState, payload: &str, attempt: i64) -> Result<(), JobError> {
    let payload: Payload = super::read_payload(payload)?;

    let Some(call) = calls::get_by_sid(&state.db, &payload.call_sid)
        .await
        .map_err(super::db_retry("reading the call"))?
    else {
        return Err(JobError::Permanent(anyhow!(
            "no call_log row for this call; no outcome stored"
        )));
    };
    let turns = calls::turns_for_call(&state.db, &payload.call_sid)
        .await
        .map_err(super::db_retry("reading the call's turns"))?;

    let decision = match conversation_of(&turns, call.transcript.as_deref()) {
        None => Decision::Silent,
        Some((conversation, first_words)) => {
            // The intents the summary may use are the business's own
            // categories; a business that is gone leaves only "other".
            let categories = match call.business_id {
                Some(id) => state
                    .directory
                    .by_id(&state.db, id)
                    .await
                    .map_err(super::db_retry("reading the business"))?
                    .map(|b| b.categories.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            decide(state, conversation, categories, first_words, attempt).await?
        }
    };

    let (summary, outcome_json, follow_up, fallback) = match &decision {
        Decision::Silent => (None, None, false, false),
        Decision::Fallback(words) => (Some(words.clone()), None, true, true),
        Decision::Model(outcome) => (
            Some(outcome.summary.clone()),
            Some(serde_json::to_string(outcome).map_err(|e| JobError::Permanent(anyhow!(e)))?),
            outcome.follow_up,
            false,
        ),
    };
    let follow_up_status = if follow_up { "open" } else { "none" };
    calls::set_outcome(
        &state.db,
        &payload.call_sid,
        summary.as_deref(),
        outcome_json.as_deref(),
        follow_up_status,
    )
    .await
    .map_err(super::db_retry("storing the outcome"))?;

    if let Some(customer_id) = call.customer_id {
        let caller_name = match &decision {
            Decision::Model(outcome) => outcome.caller_name.as_deref(),
            _ => None,
        };
        customers::record_contact(&state.db, customer_id, caller_name)
            .await
            .map_err(super::db_retry("noting the customer's contact"))?;
    }
    tracing::info!(
        follow_up_status,
        fallback,
        silent = decision == Decision::Silent,
        "call outcome stored"
    );
    if decision != Decision::Silent {
        queue_notifications(state, &payload.call_sid, call.business_id).await?;
    }
    Ok(())
}

/// Queues one owner notification per number the business set, unless its
/// channel is `none`. Dedupe keys and the (call, number) row keep a rerun
/// of this job from notifying twice.
async fn queue_notifications(
    state: &AppState,
    call_sid: &str,
    business_id: Option<i64>,
) -> Result<(), JobError> {
    let Some(id) = business_id else {
        return Ok(());
    };
    let Some(business) = state
        .directory
        .by_id(&state.db, id)
        .await
        .map_err(super::db_retry("reading the business"))?
    else {
        return Ok(());
    };
    if business.notify_channel == NotifyChannel::None || business.notify_to.is_empty() {
        return Ok(());
    }
    let channel = business.notify_channel.as_str();
    for to in business.notify_to.iter() {
        let payload = notify::Payload {
            call_sid: call_sid.to_string(),
            to: to.to_string(),
            business_id: Some(id),
        };
        notify::enqueue(&state.db, channel, &payload)
            .await
            .map_err(super::db_retry("queuing the owner notification"))?;
    }
    tracing::info!(
        channel,
        numbers = business.notify_to.len(),
        "owner notification queued"
    );
    Ok(())
}

/// Asks the model, or settles for the caller's first words when it is off,
/// refuses for good, or is out of attempts.
async fn decide(
    state: &AppState,
    conversation: Conversation,
    categories: Vec<String>,
    first_words: String,
    attempt: i64,
) -> Result<Decision, JobError> {
    let model = &state.providers.outcome;
    if !model.is_enabled() {
        return Ok(Decision::Fallback(first_words));
    }
    let request = OutcomeRequest {
        categories,
        conversation,
    };
    match model.call_outcome(request).await {
        Ok(outcome) => Ok(Decision::Model(outcome)),
        Err(e) => {
            state.metrics.provider_error(e.kind());
            let last = match &e {
                ProviderError::InvalidOutput(_) => attempt >= MAX_INVALID_ATTEMPTS,
                e if is_retryable(e) => attempt >= i64::from(MAX_ATTEMPTS),
                // Bad credentials or a refusal: waiting will not help, and
                // the caller's words must still reach the owner.
                _ => true,
            };
            if last {
                tracing::warn!(
                    error = %e,
                    kind = e.kind(),
                    "outcome model gave no usable answer; storing the caller's first words"
                );
                Ok(Decision::Fallback(first_words))
            } else {
                Err(JobError::Retry(anyhow!(
                    "outcome model failed ({}): {e}",
                    e.kind()
                )))
            }
        }
    }
}

/// Outages and off-schema answers may pass by waiting.
fn is_retryable(e: &ProviderError) -> bool {
    e.is_transient() || matches!(e, ProviderError::Http(_) | ProviderError::InvalidOutput(_))
}

/// The call as the model sees it, and the caller's first words for the
/// fallback; `None` when the caller said nothing (no LLM call then).
fn conversation_of(
    turns: &[calls::CallTurn],
    transcript: Option<&str>,
) -> Option<(Conversation, String)> {
    let spoken = |t: &Option<String>| {
        t.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let first_caller = turns.iter().find_map(|t| spoken(&t.user_text));
    if let Some(first) = first_caller {
        let lines = turns
            .iter()
            .flat_map(|t| {
                let caller = spoken(&t.user_text).map(|text| ConversationLine {
                    speaker: Speaker::Caller,
                    text,
                });
                let agent = spoken(&t.agent_text).map(|text| ConversationLine {
                    speaker: Speaker::Agent,
                    text,
                });
                caller.into_iter().chain(agent)
            })
            .collect();
        return Some((Conversation::Turns(lines), fallback_summary(&first)));
    }
    let transcript = spoken(&transcript.map(str::to_string))?;
    let first = fallback_summary(&transcript);
    Some((Conversation::Voicemail(transcript), first))
}

/// The caller's first sentence, at most [`FALLBACK_CHARS`] characters: what
/// the owner reads when no model summarised the call.
fn fallback_summary(text: &str) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|(_, c)| matches!(c, '.' | '?' | '!'))
        .map_or(text.len(), |(i, c)| i + c.len_utf8());
    text[..end].chars().take(FALLBACK_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_is_the_first_sentence_cut_to_two_hundred_characters() {
        assert_eq!(
            fallback_summary(" שלום, זה דני. אני צריך תור למחר? "),
            "שלום, זה דני."
        );
        let long = "א".repeat(500);
        assert_eq!(fallback_summary(&long).chars().count(), FALLBACK_CHARS);
    }

    #[test]
    fn a_call_where_the_caller_said_nothing_has_no_conversation() {
        assert_eq!(conversation_of(&[], None), None);
        assert_eq!(conversation_of(&[], Some("   ")), None);
        let (conversation, first) = conversation_of(&[], Some("שלום, תחזרו אליי.")).unwrap();
        assert_eq!(
            conversation,
            Conversation::Voicemail("שלום, תחזרו אליי.".into())
        );
        assert_eq!(first, "שלום, תחזרו אליי.");
    }

    #[test]
    fn off_schema_answers_and_outages_are_retried_and_refusals_are_not() {
        assert!(is_retryable(&ProviderError::InvalidOutput("x".into())));
        assert!(is_retryable(&ProviderError::Timeout));
        assert!(!is_retryable(&ProviderError::Unauthorized));
    }
}
