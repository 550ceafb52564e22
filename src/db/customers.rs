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
