//! Housekeeping on the configured backend: what a prune at a given instant
//! deletes and what it must keep. No server runs here, so no background
//! loop prunes behind the test's back.

use agentlocator::auth::Role;
use agentlocator::db::{Db, migrate, users};
use agentlocator::domain::Timestamp;
use agentlocator::jobs::prune::{Pruned, prune_once};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::helpers::fresh_database_url;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

async fn migrated() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(
        &fresh_database_url(&dir).await,
        crate::helpers::TEST_PG_CONNECTIONS,
    )
    .await
    .unwrap();
    migrate::run(&db).await.unwrap();
    (db, dir)
}

fn ago(d: Duration) -> Timestamp {
    Timestamp::from(NOW - d)
}

/// A session named by its token hash, with the instants it expires and was
/// revoked (if it was).
async fn session(
    db: &Db,
    user_id: i64,
    name: &str,
    expires: Timestamp,
    revoked: Option<Timestamp>,
) {
    sqlx::query(
        "INSERT INTO api_session (token_hash, user_id, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(user_id)
    .bind(ago(Duration::days(30)))
    .bind(expires)
    .bind(revoked)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn job(db: &Db, name: &str, status: &str, updated: Timestamp) {
    sqlx::query(
        "INSERT INTO job (kind, dedupe_key, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES ('test', $1, '{}', $2, 1, 5, $3, $3, $3)",
    )
    .bind(name)
    .bind(status)
    .bind(updated)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn names(db: &Db, sql: &'static str) -> Vec<String> {
    let mut names: Vec<String> = sqlx::query_scalar(sql).fetch_all(&db.pool).await.unwrap();
    names.sort();
    names
}

#[tokio::test]
async fn sessions_expired_or_revoked_over_a_week_ago_are_deleted_and_the_rest_kept() {
    let (db, _dir) = migrated().await;
    let user = users::create(
        &db,
        "prune@example.co.il",
        "not-a-real-hash",
        Role::Admin,
        None,
    )
    .await
    .unwrap();
    let later = Timestamp::from(NOW + Duration::hours(6));
    session(&db, user.id, "expired-8-days", ago(Duration::days(8)), None).await;
    session(&db, user.id, "expired-6-days", ago(Duration::days(6)), None).await;
    session(&db, user.id, "live", later.clone(), None).await;
    let revoked_long_ago = Some(ago(Duration::days(8)));
    session(
        &db,
        user.id,
        "revoked-8-days",
        later.clone(),
        revoked_long_ago,
    )
    .await;
    let revoked_yesterday = Some(ago(Duration::days(1)));
    session(&db, user.id, "revoked-1-day", later, revoked_yesterday).await;

    let pruned = prune_once(&db, NOW).await.unwrap();

    assert_eq!(
        pruned,
        Pruned {
            sessions: 2,
            jobs: 0
        }
    );
    assert_eq!(
        names(&db, "SELECT token_hash FROM api_session").await,
        ["expired-6-days", "live", "revoked-1-day"]
    );
    // A second prune at the same instant has nothing left to do.
    assert_eq!(prune_once(&db, NOW).await.unwrap(), Pruned::default());
}

#[tokio::test]
async fn finished_jobs_over_a_week_old_are_deleted_but_queued_running_and_dead_ones_never() {
    let (db, _dir) = migrated().await;
    let month = Duration::days(30);
    job(&db, "done-8-days", "done", ago(Duration::days(8))).await;
    job(&db, "done-6-days", "done", ago(Duration::days(6))).await;
    job(&db, "dead-for-a-month", "dead", ago(month)).await;
    job(&db, "queued-for-a-month", "queued", ago(month)).await;
    job(&db, "running-for-a-month", "running", ago(month)).await;

    let pruned = prune_once(&db, NOW).await.unwrap();

    assert_eq!(
        pruned,
        Pruned {
            sessions: 0,
            jobs: 1
        }
    );
    assert_eq!(
        names(&db, "SELECT dedupe_key FROM job").await,
        [
            "dead-for-a-month",
            "done-6-days",
            "queued-for-a-month",
            "running-for-a-month"
        ]
    );
}
