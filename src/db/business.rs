//! The `business` table: a tenant, its agent settings and its feature flags.

use std::ops::Deref;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Db, get_bool, is_unique_violation};
use crate::domain::PhoneNumber;
use crate::domain::Timestamp;
use crate::domain::settings::{AdminChange, BusinessName, BusinessSettings, Column, ColumnKind};

/// A business: its id, its settings and when it was created and changed.
/// Derefs to its settings, so `business.greeting` reads as it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = BusinessView)]
pub struct Business {
    pub id: i64,
    #[serde(flatten)]
    pub settings: BusinessSettings,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Deref for Business {
    type Target = BusinessSettings;
    fn deref(&self) -> &BusinessSettings {
        &self.settings
    }
}

/// Every column of a business row, settings as [`BusinessSettings`] lists them.
fn columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| {
        let settings: Vec<&str> = BusinessSettings::COLUMNS.iter().map(|(c, _)| *c).collect();
        format!("id, {}, created_at, updated_at", settings.join(", "))
    })
}

impl Business {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let settings = BusinessSettings::from_columns(
            |name, kind| {
                Ok::<_, sqlx::Error>(match kind {
                    ColumnKind::Text => Column::Text(row.try_get(name)?),
                    ColumnKind::Int => Column::Int(row.try_get(name)?),
                    ColumnKind::Bool => Column::Bool(get_bool(row, name)?),
                })
            },
            |msg| sqlx::Error::Decode(msg.into()),
        )?;
        Ok(Self {
            id: row.try_get("id")?,
            settings,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("phone number {0} already belongs to another business")]
    PhoneTaken(String),
    /// Settings that are each valid but not together; the message names
    /// the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Business>, sqlx::Error> {
    let columns = columns();
    let sql = format!("SELECT {columns} FROM business WHERE id = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Business::from_row(&r))
        .transpose()
}

/// The active business answering calls to `phone` (E.164).
pub async fn find_by_phone(db: &Db, phone: &str) -> Result<Option<Business>, sqlx::Error> {
    let columns = columns();
    let sql = format!("SELECT {columns} FROM business WHERE phone_number = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(phone)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Business::from_row(&r))
        .transpose()
}

/// The businesses changed at or after `since` (all of them for `None`),
/// oldest change first, so a number that moved between two businesses ends
/// with the later owner.
pub async fn changed_since(
    db: &Db,
    since: Option<&Timestamp>,
) -> Result<Vec<Business>, sqlx::Error> {
    let columns = columns();
    let sql = format!(
        "SELECT {columns} FROM business WHERE $1 IS NULL OR updated_at >= $1 ORDER BY updated_at, id"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(since)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(Business::from_row)
        .collect()
}

pub async fn list(db: &Db) -> Result<Vec<Business>, sqlx::Error> {
    let columns = columns();
    let sql = format!("SELECT {columns} FROM business ORDER BY id");
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(Business::from_row)
        .collect()
}

pub async fn create(
    db: &Db,
    name: &BusinessName,
    phone: &PhoneNumber,
) -> Result<Business, WriteError> {
    let now = Timestamp::now();
    let columns = columns();
    let sql = format!(
        "INSERT INTO business (name, phone_number, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) RETURNING {columns}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(name.to_string())
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

/// Applies `change`; returns the updated business, or `None` if it is unknown.
pub async fn update(
    db: &Db,
    id: i64,
    change: &AdminChange,
) -> Result<Option<Business>, WriteError> {
    let sets = change.columns();
    if sets.is_empty() {
        return Ok(get(db, id).await?);
    }
    // Checked here, the one writer of settings, so the owner's and the
    // admin's routes and the CLI all refuse the same thing. Two changes
    // racing can still cross; the endpointing rules survive inverted bounds.
    if change.sets_end_of_turn() {
        let Some(current) = get(db, id).await? else {
            return Ok(None);
        };
        if let Some(problem) = change.end_of_turn_out_of_order(Some(&current)) {
            return Err(WriteError::Invalid(problem));
        }
    }
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (col, _))| format!("{col} = ${}", i + 1))
        .collect();
    let n = sets.len();
    let columns = columns();
    let sql = format!(
        "UPDATE business SET {}, updated_at = ${} WHERE id = ${} RETURNING {columns}",
        assignments.join(", "),
        n + 1,
        n + 2
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (_, v) in sets {
        query = match v {
            Column::Text(t) => query.bind(t),
            Column::Int(i) => query.bind(i),
            Column::Bool(b) => query.bind(b),
        };
    }
    let row = query
        .bind(Timestamp::now())
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                WriteError::PhoneTaken(
                    change
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
