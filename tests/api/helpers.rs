//! `TestApp`: a real server on port 0 with a fresh database of its own.
//!
//! The backend is chosen by `TEST_DATABASE_URL`: unset → a fresh SQLite file
//! per test; `postgres://…` → a fresh PostgreSQL database per test, created
//! on that server and named after a random id.

use std::collections::HashMap;

use agentlocator::config::Config;
use agentlocator::server::Server;
use agentlocator::state::AppState;
use agentlocator::telemetry::{MemorySink, install_test_capture};
use serde_json::Value;

#[allow(dead_code)] // each test uses the parts it needs
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub logs: MemorySink,
    pub database_url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// `TEST_DATABASE_URL` when it names a PostgreSQL server: the tests then
/// run there, and the PostgreSQL-only ones run at all.
pub fn test_postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// A fresh, empty database URL for one test on the configured backend.
pub async fn fresh_database_url(dir: &tempfile::TempDir) -> String {
    match test_postgres_url() {
        Some(url) => {
            use sqlx::Connection as _;
            let name = format!("al_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&url)
                .await
                .expect("TEST_DATABASE_URL must reach a PostgreSQL server");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create test database");
            let mut parsed = url::Url::parse(&url).unwrap();
            parsed.set_path(&name);
            parsed.to_string()
        }
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("test.db").to_string_lossy()
        ),
    }
}

/// Each test instance's PostgreSQL pool: `.ci/run` runs several tests at
/// once against one server of 100 connections, and a test whose pools
/// filled it would fail another's `CREATE DATABASE`.
pub const TEST_PG_CONNECTIONS: u32 = 6;

/// Configuration every test starts from: no secrets unless a test adds them.
pub fn base_vars(database_url: &str, dir: &tempfile::TempDir) -> HashMap<String, String> {
    let mut vars = HashMap::from([
        ("PORT".to_string(), "0".to_string()),
        ("DATABASE_URL".to_string(), database_url.to_string()),
        (
            "LOG_DIR".to_string(),
            dir.path().join("logs").to_string_lossy().into_owned(),
        ),
        // Each test's own: on PostgreSQL the default would be ./data/spool,
        // shared by every test.
        (
            "SPOOL_DIR".to_string(),
            dir.path().join("spool").to_string_lossy().into_owned(),
        ),
    ]);
    if database_url.starts_with("postgres") {
        vars.insert(
            "DATABASE_MAX_CONNECTIONS".to_string(),
            TEST_PG_CONNECTIONS.to_string(),
        );
    }
    vars
}

impl TestApp {
    /// A server with no secrets configured at all.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose configuration the caller may adjust first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        let logs = install_test_capture();
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database_url(&dir).await;
        let mut vars = base_vars(&database_url, &dir);
        adjust(&mut vars);
        let (config, _) = Config::from_source(&vars).expect("test config");
        let server = Server::build(config).await.expect("server builds");
        let port = server.port();
        let state = server.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            state,
            logs,
            database_url,
            _shutdown: tx,
            _dir: dir,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}
