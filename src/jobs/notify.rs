//! The owner-notification job (issue 13): one SMS or WhatsApp message per
//! (call, number) once the call's outcome is stored.
//!
//! Queued by the outcome job ([`super::outcome`]) with a `queued` row in
//! `notification`. The row makes it send at most once: a row that already
//! has a `message_sid` or has left `queued` is skipped, so a rerun (a
//! killed worker, a re-queued job) never texts the owner twice. Twilio's
//! outages are retried with the queue's backoff; a refusal marks the row
//! `failed` with Twilio's error and ends the job.

use std::collections::BTreeMap;

use anyhow::anyhow;
use providers::{CallOutcome, OutboundMessage, Sender, Urgency};
use serde::{Deserialize, Serialize};

use super::JobError;
use crate::db::{calls, jobs as queue, notifications};
use crate::state::AppState;

/// The `kind` of notification jobs in the `job` table.
pub const KIND: &str = "notify_owner";

/// Attempts before the job gives up on an outage (the row is then `failed`).
pub const MAX_ATTEMPTS: i32 = 5;

/// Path of Twilio's delivery updates for our messages.
pub const MESSAGE_STATUS_PATH: &str = "/webhook/message_status";

/// What the job needs; stored as JSON in `job.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub call_sid: String,
    pub to: String,
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

/// The dedupe key: one message per call and number.
pub fn dedupe_key(call_sid: &str, to: &str) -> String {
    format!("notify:{call_sid}:{to}")
}

/// Records the `queued` row and queues the job that sends it.
pub async fn enqueue(
    db: &crate::db::Db,
    channel: &str,
    payload: &Payload,
) -> Result<queue::Enqueued, sqlx::Error> {
    notifications::insert_queued(
        db,
        &payload.call_sid,
        payload.business_id,
        channel,
        &payload.to,
    )
    .await?;
    let queued = super::enqueue_json(
        db,
        KIND,
        &dedupe_key(&payload.call_sid, &payload.to),
        payload,
        MAX_ATTEMPTS,
        &crate::domain::Timestamp::now(),
    )
    .await?;
    super::wake();
    Ok(queued)
}

/// Runs one notification job; `attempt` is the job's 1-based attempt number.
pub async fn run(state: &AppState, payload: &str, attempt: i64) -> Result<(), JobError> {
    let payload: Payload = super::read_payload(payload)?;

    let Some(row) = notifications::get(&state.db, &payload.call_sid, &payload.to)
        .await
        .map_err(super::db_retry("reading the notification"))?
    else {
        return Err(JobError::Permanent(anyhow!(
            "no notification row for this call and number"
        )));
    };
    if row.is_settled() {
        tracing::info!(
            status = row.status,
            "notification already sent or settled; not sent again"
        );
        return Ok(());
    }
    let (call_sid, to, channel) = (
        payload.call_sid.as_str(),
        payload.to.as_str(),
        row.channel.as_str(),
    );
    let fail = |error: String| async move {
        tracing::warn!(error, channel, "owner notification failed");
        notifications::mark_failed(&state.db, call_sid, to, &error)
            .await
            .map_err(super::db_retry("marking the notification failed"))
    };

    let Some(call) = calls::get_by_sid(&state.db, &payload.call_sid)
        .await
        .map_err(super::db_retry("reading the call"))?
    else {
        return fail("no call_log row for this call".into()).await;
    };
    let business = match call.business_id.or(payload.business_id) {
        Some(id) => state
            .directory
            .by_id(&state.db, id)
            .await
            .map_err(super::db_retry("reading the business"))?,
        None => None,
    };
    let Some(client) = state.providers.messages.clone() else {
        return fail(
            "notifications disabled (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set)".into(),
        )
        .await;
    };

    let note = Note::of(&call);
    let twilio = &state.config.twilio;
    let message = match row.channel.as_str() {
        "sms" => {
            let from = twilio
                .sms_from
                .clone()
                .or_else(|| business.as_ref().map(|b| b.phone_number.to_string()));
            let Some(from) = from else {
                return fail("no SMS sender: TWILIO_SMS_FROM not set and no business".into()).await;
            };
            OutboundMessage::sms(&payload.to, Sender::from_setting(from), note.body())
        }
        "whatsapp" => {
            let (Some(from), Some(content_sid)) =
                (&twilio.whatsapp_from, &twilio.whatsapp_content_sid)
            else {
                return fail(format!(
                    "WhatsApp not configured: {} not set",
                    twilio.whatsapp_missing().join(", ")
                ))
                .await;
            };
            OutboundMessage::whatsapp_template(
                &payload.to,
                from,
                content_sid.clone(),
                note.variables(),
            )
        }
        other => return fail(format!("unknown channel {other:?}")).await,
    };
    let message = match state
        .config
        .public_base_url
        .as_ref()
        .and_then(|base| base.join(MESSAGE_STATUS_PATH).ok())
    {
        Some(url) => message.with_status_callback(url),
        None => message,
    };

    if row.may_have_left() {
        // An earlier attempt started this send and never stored Twilio's
        // answer (it died, or the answer was lost): ask Twilio first.
        match client.find_sent(&message.to, &note.marker()).await {
            Ok(Some(sent)) => {
                notifications::mark_sent(&state.db, call_sid, to, &sent.sid)
                    .await
                    .map_err(super::db_retry("storing the message SID"))?;
                tracing::info!(
                    channel,
                    message_sid = sent.sid,
                    "owner notification found already sent; not sent again"
                );
                return Ok(());
            }
            Ok(None) => {}
            // Sending without knowing could notify the owner twice.
            Err(e) if attempt < i64::from(MAX_ATTEMPTS) => {
                return Err(JobError::Retry(anyhow!(
                    "cannot tell whether an earlier send reached Twilio ({}): {e}",
                    e.kind()
                )));
            }
            Err(e) => {
                return fail(format!("unknown whether sent ({}): {e}", e.kind())).await;
            }
        }
    }
    notifications::mark_sending(&state.db, call_sid, to)
        .await
        .map_err(super::db_retry("marking the notification sending"))?;
    match client.send(&message).await {
        Ok(sent) => {
            notifications::mark_sent(&state.db, &payload.call_sid, &payload.to, &sent.sid)
                .await
                .map_err(super::db_retry("storing the message SID"))?;
            tracing::info!(
                channel = row.channel,
                message_sid = sent.sid,
                twilio_status = sent.status,
                "owner notified"
            );
            Ok(())
        }
        Err(e) => {
            state.metrics.provider_error(e.kind());
            let retryable = e.is_retryable();
            if retryable && attempt < i64::from(MAX_ATTEMPTS) {
                Err(JobError::Retry(anyhow!(
                    "Twilio Messages failed ({}): {e}",
                    e.kind()
                )))
            } else {
                fail(format!("{} ({}): {e}", row.channel, e.kind())).await
            }
        }
    }
}

/// What the owner is told about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Note {
    caller: String,
    summary: String,
    urgency: &'static str,
    callback: Option<String>,
    call_id: i64,
}

impl Note {
    fn of(call: &calls::CallLog) -> Self {
        let outcome: Option<CallOutcome> = call
            .outcome
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let number = call.from_number.as_deref().map(local_number);
        let name = outcome
            .as_ref()
            .and_then(|o| o.caller_name.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let caller = match (name, number) {
            (Some(name), Some(number)) => format!("{name} ({number})"),
            (Some(name), None) => name.to_string(),
            (None, Some(number)) => number,
            (None, None) => "מספר חסוי".to_string(),
        };
        let urgency = match outcome.as_ref().map(|o| o.urgency) {
            Some(Urgency::Low) => "נמוכה",
            Some(Urgency::High) => "גבוהה",
            Some(Urgency::Normal) | None => "רגילה",
        };
        Self {
            caller,
            summary: call.summary.clone().unwrap_or_default().trim().to_string(),
            urgency,
            callback: outcome
                .and_then(|o| o.preferred_time)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            call_id: call.id,
        }
    }

    /// The SMS text, at most [`providers::MAX_BODY_CHARS`] characters: the
    /// summary is what gets shortened.
    fn body(&self) -> String {
        let head = format!("📞 שיחה חדשה מ{}: ", self.caller);
        let mut tail = format!(" דחיפות: {}.", self.urgency);
        if let Some(time) = &self.callback {
            tail.push_str(&format!(" לחזור: {time}."));
        }
        tail.push_str(&format!(" שיחה {}", self.marker()));
        let room =
            providers::MAX_BODY_CHARS.saturating_sub(head.chars().count() + tail.chars().count());
        let summary: String = if self.summary.chars().count() > room {
            let mut cut: String = self.summary.chars().take(room.saturating_sub(1)).collect();
            cut.push('…');
            cut
        } else {
            self.summary.clone()
        };
        let body = format!("{head}{summary}{tail}");
        body.chars().take(providers::MAX_BODY_CHARS).collect()
    }

    /// The WhatsApp template's variables.
    /// What finds this message again in Twilio's list: `#` and the call's
    /// id, in the SMS body and (as `#{{4}}`) in the WhatsApp template.
    fn marker(&self) -> String {
        format!("#{}", self.call_id)
    }

    fn variables(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("1".into(), self.caller.clone()),
            ("2".into(), self.summary.clone()),
            ("3".into(), self.urgency.into()),
            ("4".into(), self.call_id.to_string()),
        ])
    }
}

/// `+972501234567` as Israelis write it (`050-1234567`); other numbers as
/// they are.
fn local_number(e164: &str) -> String {
    match e164.strip_prefix("+972") {
        Some(rest) if rest.len() == 9 && rest.starts_with('5') => {
            format!("0{}-{}", &rest[..2], &rest[2..])
        }
        Some(rest) if !rest.is_empty() => format!("0{rest}"),
        _ => e164.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(summary: &str) -> Note {
        Note {
            caller: "דני (050-1234567)".into(),
            summary: summary.into(),
            urgency: "רגילה",
            callback: Some("מחר בבוקר".into()),
            call_id: 42,
        }
    }

    #[test]
    fn the_body_names_the_caller_summary_urgency_callback_and_call() {
        assert_eq!(
            note("ביקש תור.").body(),
            "📞 שיחה חדשה מדני (050-1234567): ביקש תור. דחיפות: רגילה. לחזור: מחר בבוקר. שיחה #42"
        );
    }

    #[test]
    fn a_long_summary_is_cut_so_the_body_fits_six_hundred_characters() {
        let body = note(&"א".repeat(2000)).body();
        assert_eq!(body.chars().count(), providers::MAX_BODY_CHARS);
        assert!(body.ends_with("שיחה #42"));
    }

    #[test]
    fn israeli_mobiles_are_written_the_local_way() {
        assert_eq!(local_number("+972501234567"), "050-1234567");
        assert_eq!(local_number("+97235550001"), "035550001");
        assert_eq!(local_number("+14155550100"), "+14155550100");
    }
}
