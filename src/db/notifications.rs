//! The `notification` table: one row per owner notification, keyed by
//! (call, number). The row is what keeps the `notify_owner` job from
//! sending twice (a row with a `message_sid` or past `queued` is never sent
//! again) and where Twilio's delivery updates land, found by `message_sid`.
//! The job lives in `crate::jobs::notify`; only the SQL lives here.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use crate::domain::Timestamp;

/// One row of `notification`: a message to the owner about a call, and
/// how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = NotificationView)]
pub struct Notification {
    pub call_sid: String,
    pub channel: String,
    pub to_number: String,
    /// `queued` until sent; then Twilio's `MessageStatus` values, or
    /// `failed` with `error` when Twilio refused the message.
    pub status: String,
    pub message_sid: Option<String>,
    pub error: Option<String>,
}

impl Notification {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            call_sid: row.try_get("call_sid")?,
            channel: row.try_get("channel")?,
            to_number: row.try_get("to_number")?,
            status: row.try_get("status")?,
            message_sid: row.try_get("message_sid")?,
            error: row.try_get("error")?,
        })
    }

    /// True once the message left (or was refused): it is never sent again.
    pub fn is_settled(&self) -> bool {
        self.message_sid.is_some() || !matches!(self.status.as_str(), "queued" | "sending")
    }

    /// A send was started and its answer never stored: Twilio may have the
    /// message, so it must be looked for before sending again.
    pub fn may_have_left(&self) -> bool {
        self.message_sid.is_none() && self.status == "sending"
    }
}

const COLUMNS: &str = "call_sid, channel, to_number, status, message_sid, error";

/// Records a `queued` notification unless the (call, number) row exists: a
/// repeated outcome job never resets a row that was already sent.
pub async fn insert_queued(
    db: &Db,
    call_sid: &str,
    business_id: Option<i64>,
    channel: &str,
    to_number: &str,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    sqlx::query(
        "INSERT INTO notification (call_sid, business_id, channel, to_number, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $5) ON CONFLICT (call_sid, to_number) DO NOTHING",
    )
    .bind(call_sid)
    .bind(business_id)
    .bind(channel)
    .bind(to_number)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The row of one (call, number).
pub async fn get(
    db: &Db,
    call_sid: &str,
    to_number: &str,
) -> Result<Option<Notification>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notification WHERE call_sid = $1 AND to_number = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(call_sid)
        .bind(to_number)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Notification::from_row(&r))
        .transpose()
}

/// Every notification of a call, by number.
pub async fn for_call(db: &Db, call_sid: &str) -> Result<Vec<Notification>, sqlx::Error> {
    for_calls(db, &[call_sid]).await
}

/// The notifications of several calls (a page of the call list), in one
/// query; each call's in `to_number` order.
pub async fn for_calls(db: &Db, call_sids: &[&str]) -> Result<Vec<Notification>, sqlx::Error> {
    if call_sids.is_empty() {
        return Ok(Vec::new());
    }
    // Only numbered placeholders are written into the text; the SIDs are bound.
    let placeholders: Vec<String> = (1..=call_sids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM notification WHERE call_sid IN ({}) ORDER BY call_sid, to_number",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for sid in call_sids {
        query = query.bind(*sid);
    }
    query
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(Notification::from_row)
        .collect()
}

/// Twilio accepted the message: its SID and `sent`.
pub async fn mark_sent(
    db: &Db,
    call_sid: &str,
    to_number: &str,
    message_sid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notification SET status = 'sent', message_sid = $1, error = NULL, updated_at = $2 \
         WHERE call_sid = $3 AND to_number = $4 AND message_sid IS NULL",
    )
    .bind(message_sid)
    .bind(Timestamp::now())
    .bind(call_sid)
    .bind(to_number)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A send is about to start: from here until [`mark_sent`], a crash leaves
/// the row `sending`, and the retry asks Twilio before sending again.
pub async fn mark_sending(db: &Db, call_sid: &str, to_number: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notification SET status = 'sending', updated_at = $1 \
         WHERE call_sid = $2 AND to_number = $3 AND message_sid IS NULL AND status = 'queued'",
    )
    .bind(Timestamp::now())
    .bind(call_sid)
    .bind(to_number)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Twilio refused the message for good (or no sender is configured).
pub async fn mark_failed(
    db: &Db,
    call_sid: &str,
    to_number: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notification SET status = 'failed', error = $1, updated_at = $2 \
         WHERE call_sid = $3 AND to_number = $4 AND message_sid IS NULL",
    )
    .bind(error)
    .bind(Timestamp::now())
    .bind(call_sid)
    .bind(to_number)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// How far along a status is; callbacks can arrive out of order, and a
/// later stage is never overwritten by an earlier one.
fn stage(status: &str) -> u8 {
    match status {
        "queued" | "accepted" | "scheduled" => 0,
        "sending" => 1,
        "sent" => 2,
        "delivered" | "undelivered" | "failed" => 3,
        "read" => 4,
        _ => 0,
    }
}

/// Applies a delivery update by `MessageSid`; false when no row has that
/// SID (another deployment's message, or a test's).
pub async fn set_status_by_message_sid(
    db: &Db,
    message_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let current: Option<String> =
        sqlx::query("SELECT status FROM notification WHERE message_sid = $1")
            .bind(message_sid)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.try_get("status"))
            .transpose()?;
    let Some(current) = current else {
        return Ok(false);
    };
    if stage(status) < stage(&current) {
        return Ok(true);
    }
    sqlx::query(
        "UPDATE notification SET status = $1, error = COALESCE($2, error), updated_at = $3 \
         WHERE message_sid = $4",
    )
    .bind(status)
    .bind(error_code)
    .bind(Timestamp::now())
    .bind(message_sid)
    .execute(&db.pool)
    .await?;
    Ok(true)
}
