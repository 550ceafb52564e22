//! The local spool: writes a caller depends on, kept on disk while the database cannot take them.
//!
//! A webhook has about a second for the database (`http::webhooks::DB_BUDGET`)
//! and Twilio never retries a 200, so a write that cannot land in time —
//! the transcription job of a voicemail, the recording, the call's end, its
//! move to the recording, a turn row — is appended here instead, fsync'd
//! before the webhook answers, and replayed when the database answers again
//! (the loop `serve` runs, [`Spool::replay_loop`]) or at the next start.
//!
//! Each instance appends to a segment of its own (`segment-<uuid v7>.jsonl`,
//! one JSON [`Entry`] per line, mode 0600), holding an exclusive lock on it
//! for as long as it lives. A segment nobody holds a lock on was left by an
//! instance that is gone (a crash, `kill -9`, a restart); the next instance
//! to open the spool adopts it and replays it, oldest first, before its own.
//! What landed is removed. A line the database refuses outright (a
//! constraint) is moved to `rejected.jsonl` with an ERROR, never deleted.
//!
//! Two rules keep "in order, exactly once" true. While the spool holds
//! writes that have not landed, new writes join the queue rather than
//! overtake it ([`Spool::land`]), so a call's writes land in the order they
//! were made. And every write is idempotent ([`Write`]), so a replay cut
//! short between landing a write and removing it lands it again harmlessly.
//! The spool is bounded ([`MAX_BYTES`]): a write that does not fit is lost,
//! and the caller logs it at ERROR.

mod group;
mod segments;
mod write;

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use segments::{Files, create_options, inner_io};
pub use write::{Applied, Write, is_permanent};

use crate::db::Db;
use crate::domain::Timestamp;

/// The most the spool holds on disk: at a few hundred bytes a write, a
/// long outage of a busy instance. Past it, writes are lost with an ERROR.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How long one replayed write may take before the database counts as
/// still away (SQLite's busy timeout is 5 s).
const REPLAY_STEP_TIMEOUT: Duration = Duration::from_secs(6);

/// Where lines the database refused outright are kept for an operator.
pub const REJECTED_FILE: &str = "rejected.jsonl";

const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".jsonl";

/// One line of a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the write was spooled.
    pub at: Timestamp,
    pub write: Write,
}

/// Why a write could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full ({max_bytes} bytes)")]
    Full { max_bytes: u64 },
    #[error("cannot write the spool at {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
    #[error("cannot encode the write: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Where a write went when it did not land in the database at once.
#[derive(Debug)]
pub enum Detour {
    /// Earlier writes still wait in the spool; this one queues behind them.
    Behind,
    /// The database did not answer before the deadline.
    Timeout,
    /// The database answered with an error that waiting may cure.
    Unavailable(sqlx::Error),
}

/// What [`Spool::land`] did with a write.
#[derive(Debug)]
pub enum Landing {
    /// The database took it before the deadline.
    Written(Applied),
    /// It is on disk (fsync'd) and lands when the database answers.
    Spooled(Detour),
    /// The database refused it for what it is ([`is_permanent`]); spooling
    /// it would not help.
    Refused(sqlx::Error),
    /// Neither the database nor the spool took it.
    Lost(Detour, SpoolError),
}

/// What one [`Spool::replay`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Writes that landed.
    pub landed: usize,
    /// Lines moved to [`REJECTED_FILE`].
    pub rejected: usize,
    /// Writes still waiting afterwards.
    pub waiting: usize,
    /// Why the replay stopped early (the database is still away).
    pub stopped: Option<String>,
}

/// The spool of one instance: cheap to clone, shared by every handler.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    files: Mutex<Files>,
    /// One replay at a time: the loop and a test (or two loops) never land
    /// the same line concurrently.
    replaying: tokio::sync::Mutex<()>,
    /// Writes on disk that have not landed (own and adopted segments).
    waiting: AtomicUsize,
    appended: Notify,
    /// The queue of writes landed in groups, started by the first one.
    group: std::sync::OnceLock<group::Queue>,
}

impl Spool {
    /// The spool in `dir` (created on the first write), adopting what
    /// instances that are gone left there.
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        Self::with_max_bytes(dir, MAX_BYTES)
    }

    /// [`Spool::open`] with another bound (tests fill it quickly).
    pub fn with_max_bytes(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        let spool = Self {
            inner: Arc::new(Inner {
                dir: dir.into(),
                max_bytes,
                files: Mutex::new(Files::default()),
                replaying: tokio::sync::Mutex::new(()),
                waiting: AtomicUsize::new(0),
                appended: Notify::new(),
                group: std::sync::OnceLock::new(),
            }),
        };
        let adopted = spool.inner.adopt_orphans();
        if adopted > 0 {
            tracing::info!(
                waiting = adopted,
                spool_dir = %spool.inner.dir.display(),
                "the spool holds writes from an earlier run; they land before new ones"
            );
        }
        spool
    }

    /// The folder of the spool.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes on disk that have not landed yet.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// Lands `write` in the database before `deadline`, or — when earlier
    /// writes still wait, the database does not answer in time, or it
    /// answers with an error waiting may cure — appends it to the spool
    /// (fsync'd) to land later. Logs nothing: the caller knows what the
    /// write was for and logs the [`Landing`] once.
    pub async fn land(&self, db: &Db, deadline: Instant, write: Write) -> Landing {
        let detour = if self.waiting() > 0 {
            Detour::Behind
        } else {
            match tokio::time::timeout_at(deadline, write.apply(db)).await {
                Ok(Ok(applied)) => return Landing::Written(applied),
                Ok(Err(e)) if is_permanent(&e) => return Landing::Refused(e),
                Ok(Err(e)) => Detour::Unavailable(e),
                Err(_) => Detour::Timeout,
            }
        };
        match self.append(write).await {
            Ok(()) => Landing::Spooled(detour),
            Err(e) => Landing::Lost(detour, e),
        }
    }

    /// Appends one write, fsync'd before this returns.
    pub async fn append(&self, write: Write) -> Result<(), SpoolError> {
        let mut line = serde_json::to_vec(&Entry {
            at: Timestamp::now(),
            write,
        })?;
        line.push(b'\n');
        let inner = self.inner.clone();
        let appended = match tokio::task::spawn_blocking(move || inner.append_line(&line)).await {
            Ok(appended) => appended,
            Err(e) => Err(inner_io(&self.inner, io::Error::other(e))),
        };
        if appended.is_ok() {
            self.inner.appended.notify_one();
        }
        appended
    }

    /// Lands every write that waits, oldest first, until one does not land
    /// (the database is still away): that one and the rest wait for the next
    /// replay. Lines that landed are removed, segment by segment.
    pub async fn replay(&self, db: &Db) -> ReplayReport {
        let _one_at_a_time = self.inner.replaying.lock().await;
        let mut report = ReplayReport::default();
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.adopt_orphans()).await;
        loop {
            let inner = self.inner.clone();
            let batch = match tokio::task::spawn_blocking(move || inner.next_batch()).await {
                Ok(Ok(Some(batch))) => batch,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    report.stopped = Some(format!("cannot read the spool: {e}"));
                    break;
                }
                Err(e) => {
                    report.stopped = Some(format!("spool reader failed: {e}"));
                    break;
                }
            };
            for (end, line) in batch.lines {
                match serde_json::from_slice::<Entry>(&line) {
                    Err(e) => {
                        tracing::error!(
                            error = %e,
                            segment = %batch.path.display(),
                            "a spool line is not a write; kept in {REJECTED_FILE}"
                        );
                        self.reject(&line).await;
                        report.rejected += 1;
                    }
                    Ok(entry) => {
                        let step = entry.write.apply(db);
                        match tokio::time::timeout(REPLAY_STEP_TIMEOUT, step).await {
                            Ok(Ok(_)) => report.landed += 1,
                            Ok(Err(e)) if is_permanent(&e) => {
                                tracing::error!(
                                    error = %e,
                                    call_sid = entry.write.call_sid(),
                                    write = entry.write.what(),
                                    spooled_at = %entry.at.as_str(),
                                    "the database refused a spooled write; kept in {REJECTED_FILE}"
                                );
                                self.reject(&line).await;
                                report.rejected += 1;
                            }
                            Ok(Err(e)) => {
                                report.stopped = Some(e.to_string());
                                break;
                            }
                            Err(_) => {
                                report.stopped = Some(format!(
                                    "a write took longer than {REPLAY_STEP_TIMEOUT:?}"
                                ));
                                break;
                            }
                        }
                    }
                }
                self.inner.mark_landed(&batch.path, end);
            }
            if report.stopped.is_some() {
                break;
            }
            let inner = self.inner.clone();
            let path = batch.path.clone();
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || inner.remove_if_landed(&path)).await
            {
                // Everything in it landed; removing it again later is fine.
                tracing::warn!(error = %e, segment = %batch.path.display(), "cannot remove a replayed spool segment");
                break;
            }
        }
        if report.landed > 0 {
            // Transcription jobs may have landed: a worker picks them up now.
            crate::jobs::wake();
        }
        report.waiting = self.waiting();
        report
    }

    /// Replays whenever writes wait, until `shutdown`: at once (what an
    /// earlier run left), after each append, and every few seconds while the
    /// database stays away. Start it once the schema is migrated.
    pub async fn replay_loop(&self, db: Db, shutdown: CancellationToken) {
        const FIRST_RETRY: Duration = Duration::from_millis(250);
        const LAST_RETRY: Duration = Duration::from_secs(5);
        // Segments of instances that die beside this one are found by this.
        const IDLE_SCAN: Duration = Duration::from_secs(60);
        let mut retry = FIRST_RETRY;
        let mut outage_logged = false;
        loop {
            let report = tokio::select! {
                () = shutdown.cancelled() => return,
                report = self.replay(&db) => report,
            };
            if report.landed > 0 || report.rejected > 0 {
                tracing::info!(
                    landed = report.landed,
                    rejected = report.rejected,
                    waiting = report.waiting,
                    "spool replayed"
                );
            }
            let wait = match &report.stopped {
                Some(why) => {
                    if !outage_logged {
                        tracing::warn!(
                            waiting = report.waiting,
                            error = %why,
                            "spooled writes wait for the database; retrying"
                        );
                        outage_logged = true;
                    }
                    let wait = retry;
                    retry = (retry * 2).min(LAST_RETRY);
                    Some(wait)
                }
                None => {
                    outage_logged = false;
                    retry = FIRST_RETRY;
                    None
                }
            };
            match wait {
                // While the database is away, appends do not wake the loop:
                // it retries on its own schedule instead of once per write.
                Some(wait) => tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                },
                None => tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.inner.appended.notified() => {}
                    () = tokio::time::sleep(IDLE_SCAN) => {}
                },
            }
        }
    }

    async fn reject(&self, line: &[u8]) {
        let path = self.inner.dir.join(REJECTED_FILE);
        let mut line = line.to_vec();
        line.push(b'\n');
        let written = tokio::task::spawn_blocking(move || {
            let mut file = create_options().append(true).open(&path)?;
            file.write_all(&line)?;
            file.sync_data()
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot keep a rejected spool line; it is lost");
        }
    }
}
