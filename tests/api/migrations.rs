use agentlocator::db::{Db, get_bool, migrate};
use sqlx::Row;

use crate::helpers::fresh_database_url;

async fn fresh_db() -> (Db, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    (
        Db::connect(&url, crate::helpers::TEST_PG_CONNECTIONS)
            .await
            .unwrap(),
        dir,
        url,
    )
}

#[tokio::test]
async fn migrating_twice_applies_nothing_the_second_time() {
    let (db, _dir, _) = fresh_db().await;
    let first = migrate::run(&db).await.unwrap();
    assert_eq!(first.len(), migrate::MIGRATIONS.len());
    let second = migrate::run(&db).await.unwrap();
    assert!(second.is_empty(), "applied again: {second:?}");
}

#[tokio::test]
async fn an_old_database_is_upgraded_in_place_and_keeps_every_row() {
    let (db, _dir, _) = fresh_db().await;
    // The shape the first deployment left behind: no flags, no transcript,
    // no bookkeeping table.
    for ddl in [
        "CREATE TABLE business (id INTEGER PRIMARY KEY, name TEXT NOT NULL, phone_number TEXT NOT NULL UNIQUE)",
        "CREATE TABLE call_log (id INTEGER PRIMARY KEY, call_sid TEXT NOT NULL UNIQUE, business_id INTEGER, from_number TEXT, to_number TEXT, status TEXT, created_at TEXT)",
        "INSERT INTO business (id, name, phone_number) VALUES (1, 'Pizza Tel Aviv', '+97235550001')",
        "INSERT INTO business (id, name, phone_number) VALUES (2, 'Barber Haifa', '+97245550002')",
        "INSERT INTO call_log (id, call_sid, business_id, from_number, to_number, status, created_at) VALUES (10, 'CAold1', 1, '+972501234567', '+97235550001', 'completed', '2024-01-01T10:00:00.000Z')",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(&db.pool)
            .await
            .unwrap();
    }

    let applied = migrate::run(&db).await.unwrap();
    assert!(applied.contains(&"0003_business_flags"));
    assert!(applied.contains(&"0005_call_log_details"));

    let rows = sqlx::query(
        "SELECT id, name, enable_calls_stream, enable_recording_fallback, \
         enable_payments_paypal, enable_payments_tranzila FROM business ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<String, _>("name"), "Pizza Tel Aviv");
    for row in &rows {
        assert!(get_bool(row, "enable_calls_stream").unwrap());
        assert!(get_bool(row, "enable_recording_fallback").unwrap());
        assert!(!get_bool(row, "enable_payments_paypal").unwrap());
        assert!(!get_bool(row, "enable_payments_tranzila").unwrap());
    }
    let call = sqlx::query("SELECT call_sid, status, transcript, mode FROM call_log WHERE id = 10")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(call.get::<String, _>("call_sid"), "CAold1");
    assert_eq!(call.get::<String, _>("status"), "completed");
    assert_eq!(call.get::<Option<String>, _>("transcript"), None);
    assert_eq!(call.get::<String, _>("mode"), "stream");

    // New tables arrived beside the old ones.
    let turns: i64 = sqlx::query("SELECT COUNT(*) AS n FROM call_turn")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(turns, 0);
    assert!(migrate::run(&db).await.unwrap().is_empty());
}

#[test]
fn no_migration_drops_or_renames_anything() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut checked = 0;
    for backend in ["sqlite", "postgres"] {
        for entry in std::fs::read_dir(root.join(backend)).unwrap() {
            let path = entry.unwrap().path();
            let sql = std::fs::read_to_string(&path).unwrap().to_uppercase();
            for word in sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
                assert!(
                    word != "DROP" && word != "RENAME",
                    "{} contains {word}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * migrate::MIGRATIONS.len());
}

#[tokio::test]
async fn the_migrate_command_prints_each_applied_migration_then_up_to_date() {
    let (_db, _dir, url) = fresh_db().await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_agentlocator"))
            .arg("migrate")
            .env_clear()
            .env("DATABASE_URL", &url)
            .current_dir(_dir.path())
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Applied migration: 0001_core"), "{stdout}");
    assert!(
        stdout.contains("Applied migration: 0009_payments"),
        "{stdout}"
    );
    let again = run();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("up to date"), "{stdout}");
    assert!(!stdout.contains("Applied migration"), "{stdout}");
}
