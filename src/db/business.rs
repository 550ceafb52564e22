//! The `business` table: a tenant, its agent settings and its feature flags.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Db, get_bool, is_unique_violation};
use crate::domain::PhoneNumber;
use crate::telemetry::now_rfc3339;

/// Default end-of-turn silence when a business has not chosen one.
pub const DEFAULT_END_OF_TURN_MS: i64 = 600;

/// A business and its agent settings and feature flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = BusinessView)]
pub struct Business {
    pub id: i64,
    pub name: String,
    /// E.164; calls to this number reach this business.
    pub phone_number: String,
    pub locale: String,
    pub greeting: Option<String>,
    pub system_prompt: Option<String>,
    /// Text-to-speech voice; `null` uses the service default.
    pub voice: Option<String>,
    /// Silence that ends the caller's turn, in milliseconds.
    pub end_of_turn_ms: i64,
    pub active: bool,
    pub enable_calls_stream: bool,
    pub enable_recording_fallback: bool,
    pub enable_payments_paypal: bool,
    pub enable_payments_tranzila: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

const COLUMNS: &str = "id, name, phone_number, locale, greeting, system_prompt, voice, \
    end_of_turn_ms, active, enable_calls_stream, enable_recording_fallback, \
    enable_payments_paypal, enable_payments_tranzila, created_at, updated_at";

impl Business {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            phone_number: row.try_get("phone_number")?,
            locale: row.try_get("locale")?,
            greeting: row.try_get("greeting")?,
            system_prompt: row.try_get("system_prompt")?,
            voice: row.try_get("voice")?,
            end_of_turn_ms: row.try_get("end_of_turn_ms")?,
            active: get_bool(row, "active")?,
            enable_calls_stream: get_bool(row, "enable_calls_stream")?,
            enable_recording_fallback: get_bool(row, "enable_recording_fallback")?,
            enable_payments_paypal: get_bool(row, "enable_payments_paypal")?,
            enable_payments_tranzila: get_bool(row, "enable_payments_tranzila")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// What may change on a business; `None` leaves a field as it is.
/// `Some(None)` on a nullable text field clears it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BusinessPatch {
    pub name: Option<String>,
    pub phone_number: Option<PhoneNumber>,
    pub greeting: Option<Option<String>>,
    pub system_prompt: Option<Option<String>>,
    pub voice: Option<Option<String>>,
    pub end_of_turn_ms: Option<i64>,
    pub active: Option<bool>,
    pub enable_calls_stream: Option<bool>,
    pub enable_recording_fallback: Option<bool>,
    pub enable_payments_paypal: Option<bool>,
    pub enable_payments_tranzila: Option<bool>,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("phone number {0} already belongs to another business")]
    PhoneTaken(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Business>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM business WHERE id = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Business::from_row(&r))
        .transpose()
}

/// The active business answering calls to `phone` (E.164).
pub async fn find_by_phone(db: &Db, phone: &str) -> Result<Option<Business>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM business WHERE phone_number = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(phone)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Business::from_row(&r))
        .transpose()
}

pub async fn list(db: &Db) -> Result<Vec<Business>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM business ORDER BY id");
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(Business::from_row)
        .collect()
}

pub async fn create(db: &Db, name: &str, phone: &PhoneNumber) -> Result<Business, WriteError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(WriteError::Invalid("name must not be empty".into()));
    }
    let now = now_rfc3339();
    let sql = format!(
        "INSERT INTO business (name, phone_number, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(name)
        .bind(phone.as_str())
        .bind(&now)
        .fetch_one(&db.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                WriteError::PhoneTaken(phone.to_string())
            } else {
                WriteError::Db(e)
            }
        })?;
    Ok(Business::from_row(&row)?)
}

/// Applies `patch`; returns the updated business, or `None` if it is unknown.
pub async fn update(
    db: &Db,
    id: i64,
    patch: &BusinessPatch,
) -> Result<Option<Business>, WriteError> {
    if let Some(name) = &patch.name
        && name.trim().is_empty()
    {
        return Err(WriteError::Invalid("name must not be empty".into()));
    }
    if let Some(ms) = patch.end_of_turn_ms
        && !(200..=3000).contains(&ms)
    {
        return Err(WriteError::Invalid(
            "end_of_turn_ms must be between 200 and 3000".into(),
        ));
    }
    // Column names below are fixed strings; only values are bound.
    enum V {
        Text(Option<String>),
        Int(i64),
        Bool(bool),
    }
    let mut sets: Vec<(&str, V)> = Vec::new();
    if let Some(v) = &patch.name {
        sets.push(("name", V::Text(Some(v.trim().to_string()))));
    }
    if let Some(v) = &patch.phone_number {
        sets.push(("phone_number", V::Text(Some(v.to_string()))));
    }
    for (col, v) in [
        ("greeting", &patch.greeting),
        ("system_prompt", &patch.system_prompt),
        ("voice", &patch.voice),
    ] {
        if let Some(v) = v {
            let cleaned = v
                .as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            sets.push((col, V::Text(cleaned)));
        }
    }
    if let Some(v) = patch.end_of_turn_ms {
        sets.push(("end_of_turn_ms", V::Int(v)));
    }
    for (col, v) in [
        ("active", patch.active),
        ("enable_calls_stream", patch.enable_calls_stream),
        ("enable_recording_fallback", patch.enable_recording_fallback),
        ("enable_payments_paypal", patch.enable_payments_paypal),
        ("enable_payments_tranzila", patch.enable_payments_tranzila),
    ] {
        if let Some(v) = v {
            sets.push((col, V::Bool(v)));
        }
    }
    if sets.is_empty() {
        return Ok(get(db, id).await?);
    }
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (col, _))| format!("{col} = ${}", i + 1))
        .collect();
    let n = sets.len();
    let sql = format!(
        "UPDATE business SET {}, updated_at = ${} WHERE id = ${} RETURNING {COLUMNS}",
        assignments.join(", "),
        n + 1,
        n + 2
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (_, v) in sets {
        query = match v {
            V::Text(t) => query.bind(t),
            V::Int(i) => query.bind(i),
            V::Bool(b) => query.bind(b),
        };
    }
    let row = query
        .bind(now_rfc3339())
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                WriteError::PhoneTaken(
                    patch
                        .phone_number
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                )
            } else {
                WriteError::Db(e)
            }
        })?;
    Ok(row.map(|r| Business::from_row(&r)).transpose()?)
}
