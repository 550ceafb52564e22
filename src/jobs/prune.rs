//! Housekeeping: rows nobody will ask about again are deleted on a schedule
//! — sessions that expired or were revoked, and finished jobs — once they
//! are older than [`RETENTION`]. The queries live beside their tables
//! (`db::users::prune_sessions`, `db::jobs::prune_done`); this module owns
//! the age and the loop.
//!
//! A week, not at once: a revoked token answers 401 like any other, so the
//! row is not needed for that, but a week of sessions and finished jobs is
//! what someone looking into a problem "since Monday" wants to find. Every
//! instance runs the loop; the deletes are idempotent, so two instances
//! pruning together only delete each row once.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::db::{Db, jobs, users};
use crate::domain::Timestamp;

/// How old an expired or revoked session, or a finished job, gets before it
/// is deleted.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How often the loop prunes: rows a little past the retention do no harm.
pub const EVERY: Duration = Duration::from_secs(60 * 60);

/// What one [`prune_once`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub jobs: u64,
}

/// Deletes what is older than [`RETENTION`] at `now`.
pub async fn prune_once(db: &Db, now: OffsetDateTime) -> Result<Pruned, sqlx::Error> {
    let retention = time::Duration::try_from(RETENTION).unwrap_or(time::Duration::WEEK);
    let before = Timestamp::from(now - retention);
    Ok(Pruned {
        sessions: users::prune_sessions(db, &before).await?,
        jobs: jobs::prune_done(db, &before).await?,
    })
}

/// Prunes at once and then every [`EVERY`] until `shutdown` is cancelled.
pub async fn run(db: Db, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        match prune_once(&db, OffsetDateTime::now_utc()).await {
            Ok(pruned) if pruned == Pruned::default() => {}
            Ok(pruned) => tracing::info!(
                sessions = pruned.sessions,
                jobs = pruned.jobs,
                "pruned old sessions and finished jobs"
            ),
            // The next round catches up; nothing waits on this one.
            Err(e) => tracing::warn!(error = %e, "cannot prune old sessions and jobs"),
        }
    }
    tracing::debug!("pruning stopped");
}
