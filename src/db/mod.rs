//! The database: one pool over SQLite or PostgreSQL, the migration runner, and
//! the queries grouped by table (one query text serves both backends).

pub mod budget;
pub mod business;
pub mod call_actions;
pub mod calls;
pub mod crm;
pub mod customers;
pub mod jobs;
pub mod login_attempts;
pub mod migrate;
pub mod notifications;
pub mod payments;
pub mod users;

use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyPoolOptions, AnyRow, AnyTypeInfo};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyPool, Database, Encode, Row, Type};

use crate::domain::Timestamp;

/// Which engine sits behind the pool; a few statements (job claiming) differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A cheap-to-clone handle on the pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects without waiting for the database to be reachable: a service
    /// whose database is down must still start and report `db: fail`. On
    /// PostgreSQL the pool holds at most `pg_connections`.
    pub async fn connect(url: &str, pg_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite {
            prepare_sqlite_file(url)?;
        }
        let options = AnyPoolOptions::new()
            // SQLite has one writer: a small pool queues writers fairly in the pool
            // instead of in SQLite's busy handler, whose sleeps grow to 100 ms
            // (measured: 1,000 concurrent calls, 8 connections → 91 calls lost
            // their stream to slow writes, 2 → 31; see BENCHMARKS.md).
            .max_connections(if backend == Backend::Sqlite {
                2
            } else {
                pg_connections
            })
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy
                        // timeout turns writer contention into a short wait.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options
            .connect_lazy(url)
            .with_context(|| "DATABASE_URL is not a usable database URL".to_string())?;
        Ok(Self { pool, backend })
    }

    /// A quick liveness probe, bounded so a dead database answers "fail" fast.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(_)))
    }
}

/// Creates the SQLite file's folder (0700) and, when the URL lets SQLite
/// create the file (`mode=rwc`), the empty file itself with mode 0600: it
/// holds callers' numbers and transcripts, and SQLite would create it
/// readable by everyone (0644). Its `-wal` and `-shm` files copy the
/// database file's mode. On unix only; an existing folder or file keeps its
/// mode.
fn prepare_sqlite_file(url: &str) -> anyhow::Result<()> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder
            .create(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    // Without `mode=rwc` a missing file is an error SQLite reports; creating
    // it here would hide a mistyped path behind an empty database.
    if !query.split('&').any(|pair| pair == "mode=rwc") {
        return Ok(());
    }
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("cannot create the database file {}", path.display()))
        }
    }
}

/// Reads a boolean column whichever way the backend stored it (SQLite keeps
/// 0/1 integers; PostgreSQL a real boolean).
pub fn get_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}

/// Whether a write failed on a UNIQUE constraint. The Any driver does not
/// always carry the backend's error kind, so the message is checked too.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().to_ascii_lowercase().contains("unique")
        }
        _ => false,
    }
}

// A timestamp is stored as its text (the column type is TEXT on both
// backends), so it binds exactly as that text would.
impl Type<Any> for Timestamp {
    fn type_info() -> AnyTypeInfo {
        <str as Type<Any>>::type_info()
    }
}

impl Encode<'_, Any> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <&str as Encode<'_, Any>>::encode(self.as_str(), buf)
    }
}
