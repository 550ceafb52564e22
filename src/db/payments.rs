//! The `payment` table: payment requests a business made through PayPal or
//! Tranzila. Rows are written for the caller's tenant only.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use crate::domain::Timestamp;
use crate::domain::tenant::Tenant;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payment {
    pub id: i64,
    pub business_id: i64,
    pub customer_id: Option<i64>,
    pub provider: String,
    pub amount_agorot: i64,
    pub currency: String,
    pub description: Option<String>,
    pub status: String,
    pub provider_ref: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, business_id, customer_id, provider, amount_agorot, currency, \
    description, status, provider_ref, created_at";

impl Payment {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            business_id: row.try_get("business_id")?,
            customer_id: row.try_get("customer_id")?,
            provider: row.try_get("provider")?,
            amount_agorot: row.try_get("amount_agorot")?,
            currency: row.try_get("currency")?,
            description: row.try_get("description")?,
            status: row.try_get("status")?,
            provider_ref: row.try_get("provider_ref")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A validated payment request, before it is stored.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub customer_id: Option<i64>,
    pub provider: &'a str,
    pub amount_agorot: i64,
    pub currency: &'a str,
    pub description: Option<&'a str>,
    pub status: &'a str,
}

/// Stores a payment request for the tenant's business.
pub async fn insert(db: &Db, tenant: &Tenant, p: &NewPayment<'_>) -> Result<Payment, sqlx::Error> {
    let sql = format!(
        "INSERT INTO payment (business_id, customer_id, provider, amount_agorot, currency, \
         description, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.business_id())
        .bind(p.customer_id)
        .bind(p.provider)
        .bind(p.amount_agorot)
        .bind(p.currency)
        .bind(p.description)
        .bind(p.status)
        .bind(Timestamp::now())
        .fetch_one(&db.pool)
        .await?;
    Payment::from_row(&row)
}
