//! The `login_attempt` table: the rows the login limiter counts. The rules —
//! limits, windows, backoff — live in `crate::auth::rate_limit`; this module
//! only stores, counts and deletes rows, with one query text for both
//! backends.

use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use super::{Backend, Db};

/// What the limiter needs to know about the attempts in its window, other
/// than the one being decided: one query's worth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    /// This account from this address.
    pub pair: i64,
    pub pair_oldest_ms: Option<i64>,
    /// This address, whatever the account.
    pub address: i64,
    pub address_oldest_ms: Option<i64>,
    /// This account, whatever the address.
    pub account: i64,
    pub account_latest_ms: Option<i64>,
}

/// Records an attempt unless `refuse`, shown the other attempts in the
/// window (newer than `since_ms`), says no; then nothing is written. The
/// insert and the count are one transaction that every attempt touching the
/// same account or address runs one at a time — SQLite has one writer, and
/// on PostgreSQL two advisory locks (account, then address: always in that
/// order, so two attempts never wait on each other) — so concurrent
/// attempts never overshoot a limit, nor see each other's refused rows.
pub async fn insert_unless<R>(
    db: &Db,
    account_key: &str,
    address: &str,
    at_ms: i64,
    since_ms: i64,
    refuse: impl FnOnce(&AttemptCounts) -> Option<R>,
) -> Result<Result<i64, R>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    if db.backend == Backend::Postgres {
        // `void` is no type the Any driver reads, hence the casts.
        sqlx::query(
            "SELECT CAST(pg_advisory_xact_lock($1) AS TEXT) AS account_lock, \
                    CAST(pg_advisory_xact_lock($2) AS TEXT) AS address_lock",
        )
        .bind(lock_key("account", account_key))
        .bind(lock_key("address", address))
        .fetch_one(&mut *tx)
        .await?;
    }
    // The write comes first: a SQLite transaction that read before writing
    // could not take the write lock once another writer had committed.
    let id: i64 = sqlx::query(
        "INSERT INTO login_attempt (account_key, address, attempted_at_ms) \
         VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(account_key)
    .bind(address)
    .bind(at_ms)
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    let others = counts(&mut tx, account_key, address, since_ms, id).await?;
    if let Some(refusal) = refuse(&others) {
        tx.rollback().await?;
        return Ok(Err(refusal));
    }
    tx.commit().await?;
    Ok(Ok(id))
}

/// A PostgreSQL advisory lock id for one account or address.
fn lock_key(kind: &str, value: &str) -> i64 {
    let digest = Sha256::digest(format!("login_attempt:{kind}:{value}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Counts the attempts newer than `since_ms` for the account, the address and
/// the pair, leaving out the row `except_id` (the attempt being decided).
/// Both halves of the `OR` have their own index.
async fn counts(
    tx: &mut Transaction<'static, Any>,
    account_key: &str,
    address: &str,
    since_ms: i64,
    except_id: i64,
) -> Result<AttemptCounts, sqlx::Error> {
    let row = sqlx::query(
        "SELECT \
           COUNT(CASE WHEN account_key = $1 AND address = $2 THEN 1 END) AS pair, \
           MIN(CASE WHEN account_key = $1 AND address = $2 THEN attempted_at_ms END) AS pair_oldest_ms, \
           COUNT(CASE WHEN address = $2 THEN 1 END) AS address, \
           MIN(CASE WHEN address = $2 THEN attempted_at_ms END) AS address_oldest_ms, \
           COUNT(CASE WHEN account_key = $1 THEN 1 END) AS account, \
           MAX(CASE WHEN account_key = $1 THEN attempted_at_ms END) AS account_latest_ms \
         FROM login_attempt \
         WHERE (account_key = $1 OR address = $2) AND attempted_at_ms > $3 AND id <> $4",
    )
    .bind(account_key)
    .bind(address)
    .bind(since_ms)
    .bind(except_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(AttemptCounts {
        pair: row.try_get("pair")?,
        pair_oldest_ms: row.try_get("pair_oldest_ms")?,
        address: row.try_get("address")?,
        address_oldest_ms: row.try_get("address_oldest_ms")?,
        account: row.try_get("account")?,
        account_latest_ms: row.try_get("account_latest_ms")?,
    })
}

/// Removes one attempt (it never reached the password check).
pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempt WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets the account's attempts from one address (a successful login there).
pub async fn clear_pair(db: &Db, account_key: &str, address: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempt WHERE account_key = $1 AND address = $2")
        .bind(account_key)
        .bind(address)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Deletes the attempts at or before `before_ms`; returns how many.
pub async fn prune(db: &Db, before_ms: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM login_attempt WHERE attempted_at_ms <= $1")
            .bind(before_ms)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}
