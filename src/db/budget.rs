//! A database step cut off at a deadline: what every caller that must not wait on a slow database (webhooks, a live call, a tool) runs its queries through.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Why a database step within a budget gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum DbTrouble {
    #[error("database did not answer within its {0:?} budget")]
    Timeout(Duration),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Runs `step` until `deadline`; `budget` is what the timeout reports.
pub async fn by_deadline<T>(
    deadline: Instant,
    budget: Duration,
    step: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, DbTrouble> {
    match tokio::time::timeout_at(deadline, step).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(DbTrouble::Timeout(budget)),
    }
}

/// Runs `step` for at most `budget`.
pub async fn within<T>(
    budget: Duration,
    step: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, DbTrouble> {
    by_deadline(Instant::now() + budget, budget, step).await
}
