//! The additive migration runner: applies what is missing, never drops.
//!
//! Migrations live in `migrations/{sqlite,postgres}/NNNN_name.sql` with the
//! same names on both backends. Each applied name is recorded in
//! `schema_migrations`. A database created by an older deployment (tables
//! but no bookkeeping) is upgraded in place: `CREATE … IF NOT EXISTS` skips
//! what is there and `ALTER TABLE … ADD COLUMN` is skipped for columns that
//! already exist, so every existing row survives.

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Row};

use super::{Backend, Db};
use crate::domain::Timestamp;

/// One migration, with its SQL for each backend.
pub struct Migration {
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! migration {
    ($name:literal) => {
        Migration {
            name: $name,
            sqlite: include_str!(concat!("../../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../../migrations/postgres/", $name, ".sql")),
        }
    };
}

/// Every migration, in order. Append only; never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    migration!("0001_core"),
    migration!("0002_business_settings"),
    migration!("0003_business_flags"),
    migration!("0004_customer"),
    migration!("0005_call_log_details"),
    migration!("0006_call_turn"),
    migration!("0007_users"),
    migration!("0008_jobs"),
    migration!("0009_payments"),
    migration!("0010_login_attempts"),
    migration!("0011_call_stream_claim"),
    migration!("0012_recording_checks"),
    migration!("0014_call_limits"),
    migration!("0015_call_outcome"),
    migration!("0016_notify_settings"),
    migration!("0017_notifications"),
    migration!("0018_follow_up"),
    migration!("0019_hours_transfer"),
    migration!("0020_call_action"),
    migration!("0021_tools"),
    migration!("0022_end_of_turn_bounds"),
    migration!("0024_turn_guesses"),
    migration!("0025_turn_ends"),
];

/// Applies every migration not yet recorded; returns the names applied.
pub async fn run(db: &Db) -> anyhow::Result<Vec<&'static str>> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&db.pool)
    .await
    .context("cannot create schema_migrations")?;

    let applied: Vec<String> = sqlx::query("SELECT name FROM schema_migrations")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;

    let mut done = Vec::new();
    for m in MIGRATIONS {
        if applied.iter().any(|a| a == m.name) {
            continue;
        }
        let sql = match db.backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let mut tx = db.pool.begin().await?;
        for statement in statements(sql) {
            if let Some((table, column)) = added_column(&statement)
                && column_exists(&mut tx, db.backend, &table, &column).await?
            {
                continue;
            }
            sqlx::query(AssertSqlSafe(statement.clone()))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("migration {} failed at: {statement}", m.name))?;
        }
        sqlx::query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)")
            .bind(m.name)
            .bind(Timestamp::now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done.push(m.name);
    }
    Ok(done)
}

/// Splits a migration file into statements, dropping `--` comments.
/// Our migrations keep semicolons out of string literals, so this is enough.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `ALTER TABLE t ADD COLUMN c …` → `(t, c)`.
fn added_column(statement: &str) -> Option<(String, String)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    if upper.len() >= 6 && upper[0] == "ALTER" && upper[1] == "TABLE" && upper[3] == "ADD" {
        let column_at = if upper[4] == "COLUMN" { 5 } else { 4 };
        return Some((words[2].to_string(), words[column_at].to_string()));
    }
    None
}

async fn column_exists(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
    column: &str,
) -> anyhow::Result<bool> {
    let sql = match backend {
        Backend::Sqlite => "SELECT COUNT(*) AS n FROM pragma_table_info($1) WHERE name = $2",
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
        }
    };
    let row = sqlx::query(sql)
        .bind(table)
        .bind(column)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_column_statements_are_recognised() {
        assert_eq!(
            added_column("ALTER TABLE business ADD COLUMN greeting TEXT"),
            Some(("business".into(), "greeting".into()))
        );
        assert_eq!(added_column("CREATE TABLE x (id INTEGER)"), None);
    }

    #[test]
    fn comments_are_not_statements() {
        let parts = statements("-- a note; with a semicolon\nCREATE TABLE a (id INT);\n\n");
        assert_eq!(parts, vec!["CREATE TABLE a (id INT)".to_string()]);
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        for m in MIGRATIONS {
            assert_eq!(
                statements(m.sqlite).len(),
                statements(m.postgres).len(),
                "{} differs in statement count",
                m.name
            );
        }
    }
}
