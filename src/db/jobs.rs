//! The `job` table: durable background work as rows.
//!
//! A row is `queued` until a worker claims it (`running`, with a lease in
//! `locked_until`, which the worker renews while it runs), then `done`, back
//! to `queued` with a later `run_at` for a retry, or `dead` with its
//! `last_error` once attempts run out. A running row whose lease has expired
//! is claimable again: that is how the job of a killed process finishes,
//! within one short lease, on another worker or after a restart. The worker loop lives in
//! `crate::jobs`; only the SQL lives here.
//!
//! Timestamps are the fixed-width text of [`Timestamp`], so comparing them as
//! text orders them.

use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Backend, Db};
use crate::domain::Timestamp;

/// One row of `job`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: String,
    pub locked_until: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, kind, dedupe_key, payload, status, attempts, max_attempts, run_at, \
    locked_until, last_error, created_at, updated_at";

impl Job {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            dedupe_key: row.try_get("dedupe_key")?,
            payload: row.try_get("payload")?,
            status: row.try_get("status")?,
            attempts: get_int(row, "attempts")?,
            max_attempts: get_int(row, "max_attempts")?,
            run_at: row.try_get("run_at")?,
            locked_until: row.try_get("locked_until")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Reads an INTEGER column: PostgreSQL's is 32-bit, SQLite's 64-bit.
fn get_int(row: &AnyRow, column: &str) -> Result<i64, sqlx::Error> {
    match row.try_get::<i64, _>(column) {
        Ok(v) => Ok(v),
        Err(_) => Ok(i64::from(row.try_get::<i32, _>(column)?)),
    }
}

/// The instant `d` from now, in the table's timestamp format.
pub fn ts_after(d: Duration) -> Timestamp {
    let d = time::Duration::try_from(d).unwrap_or(time::Duration::DAY);
    Timestamp::from(time::OffsetDateTime::now_utc() + d)
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    /// False when a job with the same dedupe key already existed (a retried
    /// webhook): nothing new was queued.
    pub created: bool,
}

/// Queues a job to run now. With a `dedupe_key`, a second enqueue of the same
/// key returns the existing job instead of queuing the work twice.
pub async fn enqueue(
    db: &Db,
    kind: &str,
    dedupe_key: Option<&str>,
    payload: &str,
    max_attempts: i32,
) -> Result<Enqueued, sqlx::Error> {
    enqueue_at(
        db,
        kind,
        dedupe_key,
        payload,
        max_attempts,
        &Timestamp::now(),
    )
    .await
}

/// Queues a job to run at `run_at`, once per `dedupe_key`. When the key is
/// already queued for later and has never run, it is brought forward to
/// `run_at`: a backstop queued "in case" gives way to the real trigger. A
/// job in retry backoff keeps its wait.
pub async fn enqueue_at(
    db: &Db,
    kind: &str,
    dedupe_key: Option<&str>,
    payload: &str,
    max_attempts: i32,
    run_at: &Timestamp,
) -> Result<Enqueued, sqlx::Error> {
    let now = Timestamp::now();
    let inserted = sqlx::query(
        "INSERT INTO job (kind, dedupe_key, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(kind)
    .bind(dedupe_key)
    .bind(payload)
    .bind(max_attempts)
    .bind(run_at)
    .bind(&now)
    .fetch_optional(&db.pool)
    .await?;
    if let Some(row) = inserted {
        return Ok(Enqueued {
            id: row.try_get("id")?,
            created: true,
        });
    }
    sqlx::query(
        "UPDATE job SET run_at = $2, updated_at = $3 \
         WHERE dedupe_key = $1 AND status = 'queued' AND attempts = 0 AND run_at > $2",
    )
    .bind(dedupe_key)
    .bind(run_at)
    .bind(&now)
    .execute(&db.pool)
    .await?;
    let row = sqlx::query("SELECT id FROM job WHERE dedupe_key = $1")
        .bind(dedupe_key)
        .fetch_one(&db.pool)
        .await?;
    Ok(Enqueued {
        id: row.try_get("id")?,
        created: false,
    })
}

/// Claims the oldest ready job (queued and due, or running with an expired
/// lease), marks it running under a lease of `lease`, and counts the attempt.
///
/// PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any number of workers on any
/// number of instances never claim the same row. SQLite: one statement is one
/// write transaction under the database's single writer lock, which gives the
/// same guarantee.
pub async fn claim(db: &Db, lease: Duration) -> Result<Option<Job>, sqlx::Error> {
    claim_at(db, &Timestamp::now(), lease).await
}

/// [`claim`] as if it were `now`: tests pass explicit instants instead of
/// waiting for a lease to run out.
pub async fn claim_at(
    db: &Db,
    now: &Timestamp,
    lease: Duration,
) -> Result<Option<Job>, sqlx::Error> {
    let locked_until = ts_plus(now, lease);
    let ready =
        "(status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1)";
    let pick = match db.backend {
        Backend::Postgres => format!(
            "SELECT id FROM job WHERE {ready} ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ),
        Backend::Sqlite => format!("SELECT id FROM job WHERE {ready} ORDER BY run_at, id LIMIT 1"),
    };
    let sql = format!(
        "UPDATE job SET status = 'running', attempts = attempts + 1, locked_until = $2, updated_at = $1 \
         WHERE id = ({pick}) RETURNING {COLUMNS}"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(&locked_until)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Job::from_row(&r))
        .transpose()
}

/// Extends a running job's lease to `lease` from `now` (the worker's
/// heartbeat). `attempts` fences it like [`complete`]: false when the job is
/// no longer this claim's (its lease expired and another worker took it).
pub async fn renew_at(
    db: &Db,
    id: i64,
    attempts: i64,
    now: &Timestamp,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE job SET locked_until = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'running' AND attempts = $4",
    )
    .bind(ts_plus(now, lease))
    .bind(now)
    .bind(id)
    .bind(attempts)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// `now` + `d`, in the table's timestamp format.
fn ts_plus(now: &Timestamp, d: Duration) -> Timestamp {
    now.shifted(time::Duration::try_from(d).unwrap_or(time::Duration::DAY))
}

/// Marks a claimed job done. `attempts` is the claim's fencing token: if the
/// lease expired and another worker claimed the job since, this worker's
/// late result changes nothing. Returns whether the row was updated.
pub async fn complete(db: &Db, id: i64, attempts: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE job SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'running' AND attempts = $3",
    )
    .bind(Timestamp::now())
    .bind(id)
    .bind(attempts)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a failed attempt: back to `queued` at `retry_at`, or `dead` when
/// `retry_at` is `None`. The error is kept either way.
pub async fn fail(
    db: &Db,
    id: i64,
    attempts: i64,
    error: &str,
    retry_at: Option<&Timestamp>,
) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    let error = truncate(error);
    let done = match retry_at {
        Some(at) => {
            sqlx::query(
                "UPDATE job SET status = 'queued', run_at = $1, locked_until = NULL, last_error = $2, updated_at = $3 \
                 WHERE id = $4 AND status = 'running' AND attempts = $5",
            )
            .bind(at)
            .bind(&error)
            .bind(&now)
            .bind(id)
            .bind(attempts)
            .execute(&db.pool)
            .await?
        }
        None => {
            sqlx::query(
                "UPDATE job SET status = 'dead', locked_until = NULL, last_error = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'running' AND attempts = $4",
            )
            .bind(&error)
            .bind(&now)
            .bind(id)
            .bind(attempts)
            .execute(&db.pool)
            .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// Puts a job (typically `dead`) back in the queue with a fresh attempt
/// budget: what an operator does once the cause is fixed.
pub async fn requeue(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    let done = sqlx::query(
        "UPDATE job SET status = 'queued', attempts = 0, run_at = $1, locked_until = NULL, updated_at = $1 \
         WHERE id = $2 AND status <> 'running'",
    )
    .bind(&now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Job>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM job WHERE id = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Job::from_row(&r))
        .transpose()
}

pub async fn get_by_dedupe_key(db: &Db, key: &str) -> Result<Option<Job>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM job WHERE dedupe_key = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Job::from_row(&r))
        .transpose()
}

/// How many jobs are running under a lease that has not expired, or are due
/// and not yet claimed: work some worker is doing, or is about to. On
/// PostgreSQL a claim skips the rows other claims have locked, so a job in
/// another worker's claim that has not committed yet is invisible to it;
/// this plain read still sees that job, as queued.
pub async fn busy_count(db: &Db) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM job \
         WHERE (status = 'running' AND locked_until > $1) OR (status = 'queued' AND run_at <= $1)",
    )
    .bind(Timestamp::now())
    .fetch_one(&db.pool)
    .await?;
    get_int(&row, "n")
}

/// Deletes the `done` jobs last updated at or before `before`; returns how
/// many. Queued, running and dead jobs are kept whatever their age: a dead
/// one waits for an operator to re-queue it.
pub async fn prune_done(db: &Db, before: &Timestamp) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM job WHERE status = 'done' AND updated_at <= $1")
            .bind(before)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

/// Every status a row of `job` can have.
pub const STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

/// How many jobs are in each of [`STATUSES`], zero for a status no row has,
/// so a gauge per status reads zero rather than missing.
pub async fn count_by_status(db: &Db) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM job GROUP BY status")
        .fetch_all(&db.pool)
        .await?;
    Ok(STATUSES
        .into_iter()
        .map(|status| {
            let n = rows
                .iter()
                .find(|r| r.try_get::<String, _>("status").ok().as_deref() == Some(status))
                .and_then(|r| get_int(r, "n").ok())
                .unwrap_or(0);
            (status, n)
        })
        .collect())
}

/// Keeps error texts in the table short: provider messages can be long.
fn truncate(s: &str) -> String {
    const MAX_CHARS: usize = 1000;
    match s.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The most recent jobs, newest first, optionally only those in `status`.
pub async fn list(db: &Db, status: Option<&str>, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM job WHERE (CAST($1 AS TEXT) IS NULL OR status = CAST($1 AS TEXT)) ORDER BY id DESC LIMIT $2"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(status)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(Job::from_row)
        .collect()
}
