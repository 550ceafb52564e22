//! The `call_log` and `call_turn` tables: one row per call, one per turn.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Backend, Db, get_bool};
use crate::domain::Timestamp;

/// How the caller is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallMode {
    /// Real-time conversation over Media Streams.
    Stream,
    /// The fallback: the caller leaves a message, transcribed afterwards.
    Record,
}

impl CallMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CallMode::Stream => "stream",
            CallMode::Record => "record",
        }
    }
}

/// One call, as stored and as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = CallView)]
pub struct CallLog {
    pub id: i64,
    pub call_sid: String,
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub status: Option<String>,
    /// `stream` (live conversation) or `record` (voicemail fallback).
    pub mode: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_s: Option<i64>,
    pub recording_url: Option<String>,
    pub recording_sid: Option<String>,
    /// The recording's transcript (record mode).
    pub transcript: Option<String>,
    pub failover_reason: Option<String>,
    /// A short summary for the owner, written by the post-call outcome job.
    pub summary: Option<String>,
    /// The model's structured outcome (intent, urgency, callback…); null
    /// when nobody spoke or the job fell back to the caller's first words.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<serde_json::Value>,
    /// `open` when the owner has something to do, `done` once someone
    /// dealt with it, else `none`.
    pub follow_up_status: String,
    /// The note left when the follow-up was last marked done or open.
    pub follow_up_note: Option<String>,
    /// The user who last marked the follow-up.
    pub follow_up_by: Option<i64>,
    /// When the follow-up was last marked (RFC 3339).
    pub follow_up_at: Option<String>,
}

pub const CALL_COLUMNS: &str = "id, call_sid, business_id, customer_id, from_number, to_number, \
    status, mode, started_at, ended_at, duration_s, recording_url, recording_sid, transcript, \
    failover_reason, summary, outcome, follow_up_status, follow_up_note, follow_up_by, follow_up_at";

impl CallLog {
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            call_sid: row.try_get("call_sid")?,
            business_id: row.try_get("business_id")?,
            customer_id: row.try_get("customer_id")?,
            from_number: row.try_get("from_number")?,
            to_number: row.try_get("to_number")?,
            status: row.try_get("status")?,
            mode: row.try_get("mode")?,
            started_at: row.try_get("started_at")?,
            ended_at: row.try_get("ended_at")?,
            duration_s: row.try_get("duration_s")?,
            recording_url: row.try_get("recording_url")?,
            recording_sid: row.try_get("recording_sid")?,
            transcript: row.try_get("transcript")?,
            failover_reason: row.try_get("failover_reason")?,
            summary: row.try_get("summary")?,
            // Only the outcome job writes this column, from a serialised
            // `CallOutcome`; text that is not JSON would be a hand edit.
            outcome: row
                .try_get::<Option<String>, _>("outcome")?
                .and_then(|text| serde_json::from_str(&text).ok()),
            follow_up_status: row.try_get("follow_up_status")?,
            follow_up_note: row.try_get("follow_up_note")?,
            follow_up_by: row.try_get("follow_up_by")?,
            follow_up_at: row.try_get("follow_up_at")?,
        })
    }
}

/// A new call as `incoming_call` sees it.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub call_sid: &'a str,
    pub business_id: i64,
    pub customer_id: Option<i64>,
    pub from_number: &'a str,
    pub to_number: &'a str,
    pub status: &'a str,
    pub mode: CallMode,
}

/// Records a call; Twilio may retry the webhook, so a second insert of the
/// same `call_sid` updates instead of failing.
pub async fn upsert(db: &Db, call: &NewCall<'_>) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    sqlx::query(
        "INSERT INTO call_log (call_sid, business_id, customer_id, from_number, to_number, status, mode, started_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) \
         ON CONFLICT (call_sid) DO UPDATE SET status = excluded.status, mode = excluded.mode, updated_at = excluded.updated_at",
    )
    .bind(call.call_sid)
    .bind(call.business_id)
    .bind(call.customer_id)
    .bind(call.from_number)
    .bind(call.to_number)
    .bind(call.status)
    .bind(call.mode.as_str())
    .bind(&now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn get_by_sid(db: &Db, call_sid: &str) -> Result<Option<CallLog>, sqlx::Error> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM call_log WHERE call_sid = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(call_sid)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| CallLog::from_row(&r))
        .transpose()
}

/// Switches a call to the recording fallback, keeping why.
pub async fn set_mode(
    db: &Db,
    call_sid: &str,
    mode: CallMode,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_log SET mode = $1, failover_reason = COALESCE($2, failover_reason), updated_at = $3 WHERE call_sid = $4",
    )
    .bind(mode.as_str())
    .bind(reason)
    .bind(Timestamp::now())
    .bind(call_sid)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Stores the post-call transcript (idempotent: the same text twice is fine).
pub async fn set_transcript(
    db: &Db,
    call_sid: &str,
    transcript: &str,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE call_log SET transcript = $1, updated_at = $2 WHERE call_sid = $3")
            .bind(transcript)
            .bind(Timestamp::now())
            .bind(call_sid)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Stores what the outcome job concluded (idempotent: a rerun writes the
/// same). A follow-up someone already marked done stays done: a rerun of
/// the job must not reopen the owner's inbox. Returns whether the call row
/// exists.
pub async fn set_outcome(
    db: &Db,
    call_sid: &str,
    summary: Option<&str>,
    outcome_json: Option<&str>,
    follow_up_status: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_log SET summary = $1, outcome = $2, \
         follow_up_status = CASE WHEN follow_up_status = 'done' THEN follow_up_status ELSE $3 END, \
         updated_at = $4 WHERE call_sid = $5",
    )
    .bind(summary)
    .bind(outcome_json)
    .bind(follow_up_status)
    .bind(Timestamp::now())
    .bind(call_sid)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// One speech → response round of a streamed call, with its timings: a row
/// of `call_turn`, as the API serves it (and as the spool keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = TurnView)]
pub struct CallTurn {
    pub call_sid: String,
    pub business_id: i64,
    pub turn_id: i64,
    pub started_at: String,
    pub mode: String,
    pub t_audio_ms: Option<i64>,
    pub t_stt_ms: Option<i64>,
    pub t_nlp_ms: Option<i64>,
    pub t_tts_ms: Option<i64>,
    pub t_total_ms: Option<i64>,
    pub endpointing_ms: Option<i64>,
    pub barge_in: bool,
    pub user_text: Option<String>,
    pub agent_text: Option<String>,
    pub error_code: Option<String>,
    /// The tools the agent ran in this turn, in order. Spooled turns from
    /// before tools existed have none.
    #[serde(default)]
    pub tools: Vec<ToolRun>,
    /// Guesses at this turn's end made while the caller paused (`None`
    /// before guesses existed).
    #[serde(default)]
    pub guesses: Option<i64>,
    /// Provider requests of guesses the caller talked past.
    #[serde(default)]
    pub wasted_calls: Option<i64>,
    /// The reply was a confirmed guess, ready before the turn ended.
    #[serde(default)]
    pub speculative: bool,
    /// What ended the caller's turn: `silence`, `room` (the line back at
    /// a crowd's level), `quiet_hold` (the caller not clear of the crowd
    /// for the hold), `max_length` or `stream_end` (`None` before it was
    /// recorded).
    #[serde(default)]
    pub ended_by: Option<String>,
    /// The caller's speech level over the line's background, in dB.
    #[serde(default)]
    pub snr_db: Option<i64>,
}

/// One tool the agent ran during a turn, as stored with the turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolRun {
    pub name: String,
    /// The model's arguments, JSON text.
    pub arguments: String,
    /// What the tool answered the model, JSON text.
    pub result: String,
    pub duration_ms: i64,
}

pub const TURN_COLUMNS: &str = "call_sid, business_id, turn_id, started_at, mode, t_audio_ms, \
    t_stt_ms, t_nlp_ms, t_tts_ms, t_total_ms, endpointing_ms, barge_in, user_text, agent_text, \
    error_code, tools, guesses, wasted_calls, speculative, ended_by, snr_db";

impl CallTurn {
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            call_sid: row.try_get("call_sid")?,
            business_id: row.try_get("business_id")?,
            turn_id: row.try_get("turn_id")?,
            started_at: row.try_get("started_at")?,
            mode: row.try_get("mode")?,
            t_audio_ms: row.try_get("t_audio_ms")?,
            t_stt_ms: row.try_get("t_stt_ms")?,
            t_nlp_ms: row.try_get("t_nlp_ms")?,
            t_tts_ms: row.try_get("t_tts_ms")?,
            t_total_ms: row.try_get("t_total_ms")?,
            endpointing_ms: row.try_get("endpointing_ms")?,
            barge_in: get_bool(row, "barge_in")?,
            user_text: row.try_get("user_text")?,
            agent_text: row.try_get("agent_text")?,
            error_code: row.try_get("error_code")?,
            // Only `insert_turn` writes this column, from a serialised list.
            tools: row
                .try_get::<Option<String>, _>("tools")?
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
            guesses: row.try_get("guesses")?,
            wasted_calls: row.try_get("wasted_calls")?,
            speculative: get_bool(row, "speculative")?,
            ended_by: row.try_get("ended_by")?,
            snr_db: row.try_get("snr_db")?,
        })
    }
}

/// Stores a turn; a retried write of the same turn is a no-op.
pub async fn insert_turn(db: &Db, t: &CallTurn) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO call_turn ({TURN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         ON CONFLICT (call_sid, turn_id) DO NOTHING"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&t.call_sid)
        .bind(t.business_id)
        .bind(t.turn_id)
        .bind(&t.started_at)
        .bind(&t.mode)
        .bind(t.t_audio_ms)
        .bind(t.t_stt_ms)
        .bind(t.t_nlp_ms)
        .bind(t.t_tts_ms)
        .bind(t.t_total_ms)
        .bind(t.endpointing_ms)
        .bind(t.barge_in)
        .bind(&t.user_text)
        .bind(&t.agent_text)
        .bind(&t.error_code)
        // NULL for a turn without tools, like every turn before them.
        .bind(
            (!t.tools.is_empty())
                .then(|| serde_json::to_string(&t.tools).ok())
                .flatten(),
        )
        .bind(t.guesses)
        .bind(t.wasted_calls)
        .bind(t.speculative)
        .bind(&t.ended_by)
        .bind(t.snr_db)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn turns_for_call(db: &Db, call_sid: &str) -> Result<Vec<CallTurn>, sqlx::Error> {
    let sql = format!("SELECT {TURN_COLUMNS} FROM call_turn WHERE call_sid = $1 ORDER BY turn_id");
    sqlx::query(AssertSqlSafe(sql))
        .bind(call_sid)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(CallTurn::from_row)
        .collect()
}

/// What a caller asked the agent to pass on (`take_message`), stored on the
/// call while it goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TakenMessage {
    pub message: String,
    /// The name the caller gave, if any.
    pub name: Option<String>,
    /// Where to call back (E.164), when it is not the number they called from.
    pub callback_number: Option<String>,
    /// When the caller prefers to be called back, in their words.
    pub preferred_time: Option<String>,
    /// When the agent took it (RFC 3339).
    pub taken_at: String,
}

/// Stores the message taken during the call; a later one replaces it (the
/// caller corrected themselves). False when the call has no row.
pub async fn set_message(
    db: &Db,
    call_sid: &str,
    message: &TakenMessage,
) -> Result<bool, sqlx::Error> {
    let json = serde_json::to_string(message).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let done =
        sqlx::query("UPDATE call_log SET message_json = $1, updated_at = $2 WHERE call_sid = $3")
            .bind(json)
            .bind(Timestamp::now())
            .bind(call_sid)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The message taken during the call, if one was.
pub async fn message_of(db: &Db, call_sid: &str) -> Result<Option<TakenMessage>, sqlx::Error> {
    let row = sqlx::query("SELECT message_json FROM call_log WHERE call_sid = $1")
        .bind(call_sid)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(row
        .try_get::<Option<String>, _>("message_json")?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// Twilio's final call statuses: the call is over once one arrives.
pub const TERMINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// Whether `status` (a Twilio `CallStatus`) means the call has ended.
pub fn is_terminal_status(status: &str) -> bool {
    TERMINAL_STATUSES.contains(&status)
}

/// Why a media stream may not have its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// `incoming_call` never recorded it (or not yet).
    Unknown,
    /// The call belongs to another business than the stream claims.
    OtherBusiness,
    /// The call has ended.
    Ended,
    /// A stream already has it.
    AlreadyStreaming,
    /// It started too long ago for a stream to be starting now.
    TooOld,
    /// The business already streams as many calls as it may.
    AtCapacity,
}

/// How many streams a business may have live, and since when a stream
/// still counts as live (a stream older than the longest call has ended,
/// whatever its row says).
#[derive(Debug, Clone)]
pub struct StreamCap {
    pub max_live: u32,
    pub live_since: Timestamp,
}

/// Claims `call_sid` for the one media stream it may have: only a call of
/// `business_id` recorded since `not_before`, not ended, not already
/// streaming, and while the business has fewer than `cap.max_live` live
/// streams. The claim is one conditional update, so of two concurrent
/// streams for one call exactly one wins (the capacity count is a soft
/// limit: two calls claimed at the same instant may both pass it).
pub async fn claim_stream(
    db: &Db,
    call_sid: &str,
    business_id: i64,
    not_before: &Timestamp,
    cap: &StreamCap,
) -> Result<Result<(), StreamRefusal>, sqlx::Error> {
    let now = Timestamp::now();
    let claimed = sqlx::query(
        "UPDATE call_log SET stream_claimed_at = $1, updated_at = $1 \
         WHERE call_sid = $2 AND business_id = $3 AND stream_claimed_at IS NULL \
         AND ended_at IS NULL AND started_at >= $4 \
         AND (SELECT COUNT(*) FROM call_log live WHERE live.business_id = $3 \
              AND live.stream_claimed_at >= $5 AND live.stream_closed_at IS NULL \
              AND live.ended_at IS NULL) < $6",
    )
    .bind(&now)
    .bind(call_sid)
    .bind(business_id)
    .bind(not_before)
    .bind(&cap.live_since)
    .bind(i64::from(cap.max_live))
    .execute(&db.pool)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    // Refused: read the row once more only to say why.
    let row = sqlx::query(
        "SELECT business_id, ended_at, stream_claimed_at, started_at FROM call_log WHERE call_sid = $1",
    )
    .bind(call_sid)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(Err(StreamRefusal::Unknown));
    };
    let owner: Option<i64> = row.try_get("business_id")?;
    let ended: Option<String> = row.try_get("ended_at")?;
    let streaming: Option<String> = row.try_get("stream_claimed_at")?;
    let started: Option<String> = row.try_get("started_at")?;
    Ok(Err(if owner != Some(business_id) {
        StreamRefusal::OtherBusiness
    } else if ended.is_some() {
        StreamRefusal::Ended
    } else if streaming.is_some() {
        StreamRefusal::AlreadyStreaming
    } else if started.is_none_or(|s| s.as_str() < not_before.as_str()) {
        StreamRefusal::TooOld
    } else {
        StreamRefusal::AtCapacity
    }))
}

/// Marks the call's stream closed, so it no longer counts as live.
pub async fn close_stream(db: &Db, call_sid: &str) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    sqlx::query("UPDATE call_log SET stream_closed_at = $1, updated_at = $1 WHERE call_sid = $2")
        .bind(&now)
        .bind(call_sid)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records a status callback. A final status sets `ended_at` (and the
/// duration) once; repeated callbacks keep the first end time, and a late
/// non-final status never reopens an ended call. Returns whether a call row
/// was touched.
pub async fn set_status(
    db: &Db,
    call_sid: &str,
    status: &str,
    duration_s: Option<i64>,
) -> Result<bool, sqlx::Error> {
    set_status_at(db, call_sid, status, duration_s, &Timestamp::now()).await
}

/// [`set_status`] as reported at `at`: a status replayed from the spool
/// keeps the end time Twilio reported it at, not the time it landed.
pub async fn set_status_at(
    db: &Db,
    call_sid: &str,
    status: &str,
    duration_s: Option<i64>,
    at: &Timestamp,
) -> Result<bool, sqlx::Error> {
    let now = at;
    let done = if is_terminal_status(status) {
        sqlx::query(
            "UPDATE call_log SET status = $1, ended_at = COALESCE(ended_at, $2), \
             duration_s = COALESCE(duration_s, $3), updated_at = $2 WHERE call_sid = $4",
        )
        .bind(status)
        .bind(now)
        .bind(duration_s)
        .bind(call_sid)
        .execute(&db.pool)
        .await?
    } else {
        sqlx::query(
            "UPDATE call_log SET status = $1, updated_at = $2 WHERE call_sid = $3 AND ended_at IS NULL",
        )
        .bind(status)
        .bind(now)
        .bind(call_sid)
        .execute(&db.pool)
        .await?
    };
    Ok(done.rows_affected() > 0)
}

/// What `handle_recording` learns about a call's recording.
#[derive(Debug, Clone)]
pub struct RecordingInfo<'a> {
    pub call_sid: &'a str,
    pub recording_url: &'a str,
    pub recording_sid: Option<&'a str>,
    pub from_number: Option<&'a str>,
    pub to_number: Option<&'a str>,
}

/// Stores a call's recording and marks the call as recorded. Creates the
/// call row when `incoming_call` could not (its database write failed), so
/// the transcript always has a row to land in.
pub async fn set_recording(db: &Db, rec: &RecordingInfo<'_>) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    sqlx::query(
        "INSERT INTO call_log (call_sid, from_number, to_number, mode, recording_url, recording_sid, started_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'record', $4, $5, $6, $6, $6) \
         ON CONFLICT (call_sid) DO UPDATE SET recording_url = excluded.recording_url, \
         recording_sid = excluded.recording_sid, mode = 'record', updated_at = excluded.updated_at",
    )
    .bind(rec.call_sid)
    .bind(rec.from_number)
    .bind(rec.to_number)
    .bind(rec.recording_url)
    .bind(rec.recording_sid)
    .bind(&now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a new incoming call: the caller's customer row (created on the
/// first call, `phone` = `call.from_number`) and the call row, written
/// together — one statement and one commit on PostgreSQL, one transaction
/// on SQLite — because this sits on the path of every answered call.
/// `call.customer_id` is ignored; `at` is when the call was answered. Returns
/// the customer id. A retried webhook updates the call's status and mode,
/// as [`upsert`] does.
pub async fn record_incoming(
    db: &Db,
    call: &NewCall<'_>,
    at: &Timestamp,
) -> Result<i64, sqlx::Error> {
    match db.backend {
        Backend::Postgres => {
            let mut conn = db.pool.acquire().await?;
            record_incoming_on(&mut conn, db.backend, call, at).await
        }
        Backend::Sqlite => {
            // A transaction that writes first takes the write lock once for
            // both rows.
            let mut tx = db.pool.begin().await?;
            let customer_id = record_incoming_on(&mut tx, db.backend, call, at).await?;
            tx.commit().await?;
            Ok(customer_id)
        }
    }
}

/// [`record_incoming`] for several calls in one transaction: one commit
/// for the calls answered while the last group was being written.
pub async fn record_incoming_all(
    db: &Db,
    calls: &[(NewCall<'_>, &Timestamp)],
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    for (call, at) in calls {
        record_incoming_on(&mut tx, db.backend, call, at).await?;
    }
    tx.commit().await
}

async fn record_incoming_on(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    call: &NewCall<'_>,
    at: &Timestamp,
) -> Result<i64, sqlx::Error> {
    let now = at;
    match backend {
        Backend::Postgres => {
            let row = sqlx::query(
                "WITH c AS (\
                   INSERT INTO customer (business_id, phone, created_at, updated_at) VALUES ($2, $3, $7, $7) \
                   ON CONFLICT (business_id, phone) DO UPDATE SET updated_at = excluded.updated_at RETURNING id) \
                 INSERT INTO call_log (call_sid, business_id, customer_id, from_number, to_number, status, mode, started_at, created_at, updated_at) \
                 SELECT $1, $2, c.id, $3, $4, $5, $6, $7, $7, $7 FROM c \
                 ON CONFLICT (call_sid) DO UPDATE SET status = excluded.status, mode = excluded.mode, updated_at = excluded.updated_at \
                 WHERE call_log.ended_at IS NULL \
                 RETURNING customer_id",
            )
            .bind(call.call_sid)
            .bind(call.business_id)
            .bind(call.from_number)
            .bind(call.to_number)
            .bind(call.status)
            .bind(call.mode.as_str())
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            match row {
                Some(row) => row.try_get("customer_id"),
                // A replay for an ended call changed nothing; its customer stays.
                None => {
                    sqlx::query_scalar("SELECT customer_id FROM call_log WHERE call_sid = $1")
                        .bind(call.call_sid)
                        .fetch_one(&mut *conn)
                        .await
                }
            }
        }
        Backend::Sqlite => {
            // SQLite has no data-modifying CTEs: two statements, inside the
            // caller's transaction.
            let customer_id: i64 = sqlx::query(
                "INSERT INTO customer (business_id, phone, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (business_id, phone) DO UPDATE SET updated_at = excluded.updated_at \
                 RETURNING id",
            )
            .bind(call.business_id)
            .bind(call.from_number)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?
            .try_get("id")?;
            sqlx::query(
                "INSERT INTO call_log (call_sid, business_id, customer_id, from_number, to_number, status, mode, started_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) \
                 ON CONFLICT (call_sid) DO UPDATE SET status = excluded.status, mode = excluded.mode, updated_at = excluded.updated_at \
                 WHERE call_log.ended_at IS NULL",
            )
            .bind(call.call_sid)
            .bind(call.business_id)
            .bind(customer_id)
            .bind(call.from_number)
            .bind(call.to_number)
            .bind(call.status)
            .bind(call.mode.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(customer_id)
        }
    }
}

/// A call that moved to the recording but has no recording yet, as the
/// reconciler claims it (`crate::jobs::reconcile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrecordedCall {
    pub call_sid: String,
    pub business_id: Option<i64>,
    /// Whether the call is over (a final status arrived): no recording can
    /// still be on its way.
    pub ended: bool,
}

/// Claims up to `limit` calls in `mode = record` without a recording and
/// quiet since `quiet_since` (no write since then), checked fewer than
/// `max_checks` times and not since `quiet_since`. Each claim is one
/// conditional update that counts the check, so two instances never look
/// up the same call in the same round.
pub async fn claim_unrecorded(
    db: &Db,
    now: &Timestamp,
    quiet_since: &Timestamp,
    max_checks: i64,
    limit: i64,
) -> Result<Vec<UnrecordedCall>, sqlx::Error> {
    let due = "mode = 'record' AND recording_url IS NULL AND updated_at <= $1 \
               AND recording_checks < $2 \
               AND (recording_checked_at IS NULL OR recording_checked_at <= $1)";
    let candidates = sqlx::query(AssertSqlSafe(format!(
        "SELECT call_sid, business_id, ended_at FROM call_log WHERE {due} ORDER BY updated_at LIMIT $3"
    )))
    .bind(quiet_since)
    .bind(max_checks)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut claimed = Vec::new();
    for row in candidates {
        let call_sid: String = row.try_get("call_sid")?;
        let won = sqlx::query(AssertSqlSafe(format!(
            "UPDATE call_log SET recording_checked_at = $3, recording_checks = recording_checks + 1 \
             WHERE call_sid = $4 AND {due}"
        )))
        .bind(quiet_since)
        .bind(max_checks)
        .bind(now)
        .bind(&call_sid)
        .execute(&db.pool)
        .await?;
        if won.rows_affected() == 1 {
            claimed.push(UnrecordedCall {
                call_sid,
                business_id: row.try_get("business_id")?,
                ended: row.try_get::<Option<String>, _>("ended_at")?.is_some(),
            });
        }
    }
    Ok(claimed)
}

/// Stops looking for a call's recording: Twilio has none and none can come.
pub async fn stop_recording_checks(
    db: &Db,
    call_sid: &str,
    max_checks: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_log SET recording_checks = $1 WHERE call_sid = $2")
        .bind(max_checks)
        .bind(call_sid)
        .execute(&db.pool)
        .await?;
    Ok(())
}
