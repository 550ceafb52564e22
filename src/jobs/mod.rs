//! Durable background jobs: the worker pool `serve` starts, and [`drain`],
//! which tests (and operators' tools) call to run every ready job now.
//!
//! A job is a row in the `job` table (`crate::db::jobs` holds the SQL). A
//! worker claims one under a short lease that a heartbeat renews while the
//! handler runs, runs its handler, and records the outcome: done, a retry
//! with exponential backoff, or dead with the last error once `max_attempts`
//! is spent or the error cannot get better by waiting. Handlers are
//! idempotent, because a job whose worker died (`kill -9` mid-run) is run
//! again once its lease expires — within [`WorkerOptions::lease`], since a
//! dead worker stops renewing. What each kind of job does lives in its own
//! module ([`transcribe`], [`outcome`], [`notify`]); beside the workers run the [`reconcile`] loop,
//! which queues recordings whose webhook never came, and the [`prune`]
//! schedule, which deletes old sessions and finished jobs.

pub mod notify;
pub mod outcome;
pub mod prune;
pub mod reconcile;
pub mod transcribe;

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::db::jobs::{self as queue, Job};
use crate::state::AppState;

/// Tuning of the worker loop; the defaults suit production.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Concurrent workers per process (`JOB_WORKERS` in `serve`).
    pub workers: usize,
    /// How long a claim holds a job without a heartbeat: how late a job
    /// whose worker died runs again. Short, because the heartbeat keeps a
    /// live worker's claim however long its handler runs.
    pub lease: Duration,
    /// How often a running job renews its lease; a few heartbeats fit in
    /// one lease, so one slow database answer does not lose it.
    pub heartbeat: Duration,
    /// Longest a handler may run before it is cut off and retried.
    pub max_run: Duration,
    /// How often an idle worker looks for work that another instance queued
    /// or whose retry time came (work queued here wakes it at once).
    pub poll_interval: Duration,
    /// Delay before the first retry; doubled for each further attempt.
    pub backoff_base: Duration,
    /// Longest delay between retries.
    pub backoff_max: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            workers: crate::config::DEFAULT_JOB_WORKERS,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            // A transcription: three downloads of 10 s at most, then STT.
            max_run: Duration::from_secs(240),
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
        }
    }
}

/// A job about one call: what its span is told before it runs.
pub(crate) trait CallJob: serde::de::DeserializeOwned {
    fn call_sid(&self) -> &str;
    fn business_id(&self) -> Option<i64>;
}

/// Reads a call job's JSON payload (malformed is permanent: no retry can
/// fix it) and names its call and business on the job's span.
pub(crate) fn read_payload<P: CallJob>(payload: &str) -> Result<P, JobError> {
    let payload: P = serde_json::from_str(payload)
        .map_err(|e| JobError::Permanent(anyhow::anyhow!("malformed payload: {e}")))?;
    let span = tracing::Span::current();
    span.record("call_sid", payload.call_sid());
    if let Some(id) = payload.business_id() {
        span.record("business_id", id);
    }
    Ok(payload)
}

/// Queues a job whose payload is `payload` as JSON, to run at `run_at`,
/// once per `dedupe_key`.
pub(crate) async fn enqueue_json(
    db: &crate::db::Db,
    kind: &str,
    dedupe_key: &str,
    payload: &impl serde::Serialize,
    max_attempts: i32,
    run_at: &crate::domain::Timestamp,
) -> Result<crate::db::jobs::Enqueued, sqlx::Error> {
    let json = serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    crate::db::jobs::enqueue_at(db, kind, Some(dedupe_key), &json, max_attempts, run_at).await
}

/// A database error in a job, saying what was being done: the database may
/// answer next time, so the job is retried.
pub(crate) fn db_retry(what: &'static str) -> impl Fn(sqlx::Error) -> JobError {
    move |e| JobError::Retry(anyhow::anyhow!(e).context(what))
}

/// Why a handler did not finish its job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Waiting may help (a provider timed out, the recording is not ready).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Waiting will not help (a provider is switched off, the payload is
    /// malformed): the job goes dead at once, kept for an operator to
    /// re-queue with `db::jobs::requeue` after fixing the cause.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

/// What happened to one claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retrying,
    Dead,
    /// The outcome could not be written (database trouble, or the lease was
    /// lost to another worker); the lease decides what happens next.
    Unrecorded,
}

/// Counts of what a [`drain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub done: usize,
    pub retrying: usize,
    pub dead: usize,
    pub unrecorded: usize,
}

/// Wakes an idle worker of this process: called after enqueuing.
pub fn wake() {
    waker().notify_one();
}

fn waker() -> &'static Notify {
    // One per process: a spurious wake-up costs one empty claim, and the
    // state every route shares has no room for it.
    static WAKER: OnceLock<Notify> = OnceLock::new();
    WAKER.get_or_init(Notify::new)
}

/// Starts the worker pool; the workers stop once `shutdown` is cancelled and
/// their current job is finished.
pub fn spawn_workers(
    state: AppState,
    options: WorkerOptions,
    shutdown: CancellationToken,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for worker in 0..options.workers.max(1) {
        let state = state.clone();
        let options = options.clone();
        let shutdown = shutdown.clone();
        set.spawn(async move { worker_loop(worker, state, options, shutdown).await });
    }
    tracing::info!(workers = options.workers.max(1), "job workers started");
    set.spawn(reconcile::run_loop(state, shutdown));
    set
}

async fn worker_loop(
    worker: usize,
    state: AppState,
    options: WorkerOptions,
    shutdown: CancellationToken,
) {
    let mut idle_delay = options.poll_interval;
    while !shutdown.is_cancelled() {
        match queue::claim(&state.db, options.lease).await {
            Ok(Some(job)) => {
                idle_delay = options.poll_interval;
                run_claimed(&state, job, &options).await;
                continue;
            }
            Ok(None) => idle_delay = options.poll_interval,
            Err(e) => {
                // Backs off while the database is down so an outage does not
                // become a flood of identical log lines.
                tracing::warn!(worker, error = %e, "job worker cannot reach the database");
                idle_delay = (idle_delay * 2).min(Duration::from_secs(30));
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = waker().notified() => {}
            () = tokio::time::sleep(idle_delay) => {}
        }
    }
    tracing::debug!(worker, "job worker stopped");
}

/// Runs every job that is ready now, until none is ready and none is running
/// under a live lease (so work a background worker holds, or is claiming,
/// is waited for). Jobs waiting for a later retry are left alone.
pub async fn drain(state: &AppState) -> anyhow::Result<DrainReport> {
    drain_with(state, &WorkerOptions::default()).await
}

/// [`drain`] with explicit options (tests shorten the backoff).
pub async fn drain_with(state: &AppState, options: &WorkerOptions) -> anyhow::Result<DrainReport> {
    let mut report = DrainReport::default();
    // A job another worker holds may run its whole `max_run`, and a dead
    // worker's lease lasts one `lease` more.
    let wait_at_most = options.max_run + options.lease;
    let give_up = tokio::time::Instant::now() + wait_at_most;
    loop {
        if let Some(job) = queue::claim(&state.db, options.lease).await? {
            match run_claimed(state, job, options).await {
                Outcome::Done => report.done += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::Dead => report.dead += 1,
                Outcome::Unrecorded => report.unrecorded += 1,
            }
            continue;
        }
        if queue::busy_count(&state.db).await? == 0 {
            return Ok(report);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < give_up,
            "jobs still running after {wait_at_most:?}"
        );
        // Another worker holds a job: poll until it lets go.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs one claimed job and records what happened to it.
pub async fn run_claimed(state: &AppState, job: Job, options: &WorkerOptions) -> Outcome {
    let span = tracing::info_span!(
        "job",
        job_id = job.id,
        kind = %job.kind,
        attempt = job.attempts,
        call_sid = tracing::field::Empty,
        business_id = tracing::field::Empty,
    );
    run_claimed_inner(state, job, options)
        .instrument(span)
        .await
}

async fn run_claimed_inner(state: &AppState, job: Job, options: &WorkerOptions) -> Outcome {
    let result = if job.attempts > job.max_attempts {
        // The last allowed attempt died with its process (lease expired).
        Err(JobError::Permanent(anyhow::anyhow!(
            "attempt {} of {} was interrupted and no attempts are left",
            job.attempts - 1,
            job.max_attempts
        )))
    } else {
        let limit = options.max_run;
        let run = tokio::time::timeout(limit, dispatch(state, &job));
        tokio::select! {
            // A result that is ready wins over a heartbeat due at once.
            biased;
            result = run => result.unwrap_or_else(|_| {
                Err(JobError::Retry(anyhow::anyhow!("handler ran longer than {limit:?}")))
            }),
            () = keep_lease(state, &job, options) => {
                // Another worker holds the job now: stop, so it never runs
                // twice at once. Its fenced outcome is that worker's to write.
                tracing::warn!("job lease lost to another worker; this run stopped");
                return Outcome::Unrecorded;
            }
        }
    };
    let recorded = match &result {
        Ok(()) => queue::complete(&state.db, job.id, job.attempts)
            .await
            .map(|ok| (ok, Outcome::Done)),
        Err(JobError::Retry(e)) if job.attempts < job.max_attempts => {
            let delay = backoff(options, job.attempts);
            tracing::warn!(
                error = format!("{e:#}"),
                retry_in_ms = delay.as_millis() as u64,
                "job failed; will retry"
            );
            let at = queue::ts_after(delay);
            queue::fail(
                &state.db,
                job.id,
                job.attempts,
                &format!("{e:#}"),
                Some(&at),
            )
            .await
            .map(|ok| (ok, Outcome::Retrying))
        }
        Err(JobError::Retry(e) | JobError::Permanent(e)) => {
            tracing::error!(
                error = format!("{e:#}"),
                attempts = job.attempts,
                "job dead; re-queue it once the cause is fixed"
            );
            queue::fail(&state.db, job.id, job.attempts, &format!("{e:#}"), None)
                .await
                .map(|ok| (ok, Outcome::Dead))
        }
    };
    match recorded {
        Ok((true, outcome)) => {
            if outcome == Outcome::Done {
                tracing::info!("job done");
            }
            outcome
        }
        Ok((false, _)) => {
            tracing::warn!("job outcome not recorded: its lease was taken over by another worker");
            Outcome::Unrecorded
        }
        Err(e) => {
            tracing::error!(error = %e, "job outcome not recorded: database error; the lease will expire and the job run again");
            Outcome::Unrecorded
        }
    }
}

/// Renews the job's lease every heartbeat; returns only once the lease is
/// lost. A renewal the database does not answer is tried again at the next
/// heartbeat: the lease has room for a few.
async fn keep_lease(state: &AppState, job: &Job, options: &WorkerOptions) {
    loop {
        tokio::time::sleep(options.heartbeat).await;
        let now = crate::domain::Timestamp::now();
        match queue::renew_at(&state.db, job.id, job.attempts, &now, options.lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, "job lease not renewed; trying again"),
        }
    }
}

async fn dispatch(state: &AppState, job: &Job) -> Result<(), JobError> {
    match job.kind.as_str() {
        transcribe::KIND => transcribe::run(state, &job.payload).await,
        outcome::KIND => outcome::run(state, &job.payload, job.attempts).await,
        notify::KIND => notify::run(state, &job.payload, job.attempts).await,
        other => Err(JobError::Permanent(anyhow::anyhow!(
            "unknown job kind {other:?}"
        ))),
    }
}

/// Delay before the retry that follows attempt number `attempt` (1-based).
pub fn backoff(options: &WorkerOptions, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    options
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(options.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let options = WorkerOptions {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..WorkerOptions::default()
        };
        let delays: Vec<u64> = (1..=5).map(|a| backoff(&options, a).as_secs()).collect();
        assert_eq!(delays, vec![10, 20, 40, 60, 60]);
        assert_eq!(backoff(&options, i64::MAX).as_secs(), 60);
    }
}
