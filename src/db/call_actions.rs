//! The armed end-of-stream action of a call and how its transfer went: the
//! `call_action`/`transfer_*`/`whisper_*` columns of `call_log`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use crate::domain::{ArmedAction, CallAction, PhoneNumber, Timestamp, TransferStatus};

const COLUMNS: &str = "call_sid, call_action, transfer_to, transfer_reason, transfer_whisper, \
    whisper_token, whisper_expires_at";

/// Stores `armed` unless the call already has an action (the first one
/// armed stays), then returns what the row holds; `None` when the call has
/// no row.
pub async fn arm(db: &Db, armed: &ArmedAction) -> Result<Option<ArmedAction>, sqlx::Error> {
    let (to, reason, whisper) = match &armed.action {
        CallAction::Transfer {
            to,
            reason,
            whisper_he,
        } => (
            Some(to.as_str()),
            Some(reason.as_str()),
            Some(whisper_he.as_str()),
        ),
        CallAction::Hangup => (None, None, None),
    };
    sqlx::query(
        "UPDATE call_log SET call_action = $1, transfer_to = $2, transfer_reason = $3, \
         transfer_whisper = $4, whisper_token = $5, whisper_expires_at = $6, updated_at = $7 \
         WHERE call_sid = $8 AND call_action IS NULL",
    )
    .bind(armed.action.kind())
    .bind(to)
    .bind(reason)
    .bind(whisper)
    .bind(armed.whisper_token.as_deref())
    .bind(armed.whisper_expires_at.as_ref().map(Timestamp::as_str))
    .bind(Timestamp::now())
    .bind(&armed.call_sid)
    .execute(&db.pool)
    .await?;
    by_sid(db, &armed.call_sid).await
}

/// The action armed for `call_sid`, if any.
pub async fn by_sid(db: &Db, call_sid: &str) -> Result<Option<ArmedAction>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM call_log WHERE call_sid = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(call_sid)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?.flatten())
}

/// The action whose whisper token is `token`, expired or not.
pub async fn by_token(db: &Db, token: &str) -> Result<Option<ArmedAction>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM call_log WHERE whisper_token = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?.flatten())
}

/// `None` for a row with no action, or one whose stored action no longer
/// parses (a hand edit): that call falls back as if nothing were armed.
fn from_row(row: &AnyRow) -> Result<Option<ArmedAction>, sqlx::Error> {
    let action = match row.try_get::<Option<String>, _>("call_action")?.as_deref() {
        Some("hangup") => CallAction::Hangup,
        Some("transfer") => {
            let to: Option<String> = row.try_get("transfer_to")?;
            let Some(to) = to.and_then(|t| PhoneNumber::parse(&t).ok()) else {
                return Ok(None);
            };
            CallAction::Transfer {
                to,
                reason: row
                    .try_get::<Option<String>, _>("transfer_reason")?
                    .unwrap_or_default(),
                whisper_he: row
                    .try_get::<Option<String>, _>("transfer_whisper")?
                    .unwrap_or_default(),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(ArmedAction {
        call_sid: row.try_get("call_sid")?,
        action,
        whisper_token: row.try_get("whisper_token")?,
        whisper_expires_at: row
            .try_get::<Option<String>, _>("whisper_expires_at")?
            .and_then(|t| Timestamp::parse(&t).ok()),
    }))
}

/// Records how the call's transfer stands; `false` when the call has no
/// armed transfer.
pub async fn set_transfer_status(
    db: &Db,
    call_sid: &str,
    status: TransferStatus,
) -> Result<bool, sqlx::Error> {
    // `dialing` and the Dial's outcome are written beside two different
    // answers and may land in either order: the outcome is never undone.
    let done = sqlx::query(
        "UPDATE call_log SET transfer_status = CASE \
             WHEN $1 = 'dialing' AND transfer_status IS NOT NULL THEN transfer_status \
             ELSE $1 END, updated_at = $2 \
         WHERE call_sid = $3 AND call_action = 'transfer'",
    )
    .bind(status.as_str())
    .bind(Timestamp::now())
    .bind(call_sid)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A call's transfer as the CRM shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub to: String,
    pub reason: Option<String>,
    /// `dialing`, `transferred` or `transfer_failed`; `None` while armed
    /// but not yet dialled.
    pub status: Option<String>,
}

/// The transfer of `call_sid`, if one was armed.
pub async fn transfer_of(db: &Db, call_sid: &str) -> Result<Option<Transfer>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT transfer_to, transfer_reason, transfer_status FROM call_log \
         WHERE call_sid = $1 AND call_action = 'transfer'",
    )
    .bind(call_sid)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(Transfer {
            to: r
                .try_get::<Option<String>, _>("transfer_to")?
                .unwrap_or_default(),
            reason: r.try_get("transfer_reason")?,
            status: r.try_get("transfer_status")?,
        })
    })
    .transpose()
}
