//! The `customer` table: callers of one business, keyed by their number.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use crate::domain::Timestamp;

/// A caller of the business, as stored and as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = CustomerView)]
pub struct Customer {
    pub id: i64,
    pub business_id: i64,
    pub phone: String,
    pub name: Option<String>,
    pub notes: Option<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

pub const COLUMNS: &str = "id, business_id, phone, name, notes, status, created_at, updated_at";

impl Customer {
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            business_id: row.try_get("business_id")?,
            phone: row.try_get("phone")?,
            name: row.try_get("name")?,
            notes: row.try_get("notes")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Notes that the customer was just in contact, and takes the name the
/// caller gave unless the owner (or an earlier call) already set one.
pub async fn record_contact(
    db: &Db,
    customer_id: i64,
    caller_name: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    sqlx::query(
        "UPDATE customer SET name = COALESCE(name, $1), last_contact_at = $2, updated_at = $2 \
         WHERE id = $3",
    )
    .bind(caller_name)
    .bind(&now)
    .bind(customer_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The customer calling `business_id` from `phone`, created on first call.
/// `phone` may be `anonymous` (a withheld number): all such calls share one
/// customer row per business.
pub async fn upsert_by_phone(db: &Db, business_id: i64, phone: &str) -> Result<i64, sqlx::Error> {
    let now = Timestamp::now();
    let row = sqlx::query(
        "INSERT INTO customer (business_id, phone, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (business_id, phone) DO UPDATE SET updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(business_id)
    .bind(phone)
    .bind(&now)
    .fetch_one(&db.pool)
    .await?;
    row.try_get("id")
}

/// A known caller of a business, as the agent greets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturningCaller {
    pub customer_id: i64,
    pub name: Option<String>,
    /// Summaries of their last calls, newest first.
    pub recent_summaries: Vec<String>,
}

/// How many earlier calls the agent is told about.
pub const RECENT_CALLS: i64 = 3;

/// The customer of `business_id` calling from `phone`, with the summaries of
/// their last [`RECENT_CALLS`] calls other than `call_sid`; `None` for a
/// number never seen. The caller checks `phone` is a real number: withheld
/// callers share one row and are never anyone in particular.
pub async fn returning_caller(
    db: &Db,
    business_id: i64,
    phone: &str,
    call_sid: &str,
) -> Result<Option<ReturningCaller>, sqlx::Error> {
    let Some(row) =
        sqlx::query("SELECT id, name FROM customer WHERE business_id = $1 AND phone = $2")
            .bind(business_id)
            .bind(phone)
            .fetch_optional(&db.pool)
            .await?
    else {
        return Ok(None);
    };
    let customer_id: i64 = row.try_get("id")?;
    let name: Option<String> = row.try_get("name")?;
    let recent_summaries = sqlx::query(
        "SELECT summary FROM call_log WHERE business_id = $1 AND customer_id = $2 \
         AND call_sid <> $3 AND summary IS NOT NULL AND summary <> '' \
         ORDER BY started_at DESC, id DESC LIMIT $4",
    )
    .bind(business_id)
    .bind(customer_id)
    .bind(call_sid)
    .bind(RECENT_CALLS)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("summary"))
    .collect::<Result<_, _>>()?;
    Ok(Some(ReturningCaller {
        customer_id,
        name: name.filter(|n| !n.trim().is_empty()),
        recent_summaries,
    }))
}

/// What the caller left through the agent: their name unless one is set,
/// and how they want to be called back.
pub async fn note_message(
    db: &Db,
    customer_id: i64,
    name: Option<&str>,
    callback_number: Option<&str>,
    preferred_time: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    sqlx::query(
        "UPDATE customer SET name = COALESCE(name, $1), \
         callback_number = COALESCE($2, callback_number), \
         preferred_time = COALESCE($3, preferred_time), updated_at = $4 WHERE id = $5",
    )
    .bind(name)
    .bind(callback_number)
    .bind(preferred_time)
    .bind(&now)
    .bind(customer_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
