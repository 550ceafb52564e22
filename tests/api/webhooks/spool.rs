//! Nothing a caller depends on is lost when the database stalls or stops:
//! the webhooks still answer at once, the writes wait in the spool, and
//! they land once — after the lock is gone, at the next start, or after a
//! `kill -9` — with the transcription job queued and run exactly once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentlocator::config::Config;
use agentlocator::db::{Db, calls, jobs as queue, migrate};
use agentlocator::domain::Timestamp;
use agentlocator::http::webhooks::THANK_YOU_HE;
use agentlocator::providers::Providers;
use agentlocator::spool::Write;
use agentlocator::state::AppState;
use axum::body::Body;
use http_body_util::BodyExt as _;
use sqlx::Connection as _;
use tower::ServiceExt as _;

use super::fakes::Fakes;
use super::incoming::{assert_goodbye, assert_record_fallback};
use super::*;
use crate::helpers::{base_vars, fresh_database_url};
use crate::logging::Running;

const SPEECH: &str = "שלום, אני רוצה להזמין שולחן לארבעה אנשים מחר בערב";
const RECORDING_SID: &str = "RE0123456789abcdef0123456789abcdef";

/// Another connection holding the database still: SQLite's write lock
/// (`BEGIN EXCLUSIVE`), or on PostgreSQL an exclusive lock on the tables the
/// webhooks write. The service sees a database that does not answer.
enum Stall {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Stall {
    async fn hold(database_url: &str) -> Self {
        if database_url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
            for sql in ["BEGIN", "LOCK TABLE call_log, job IN ACCESS EXCLUSIVE MODE"] {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            Stall::Postgres(conn)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .unwrap();
            Stall::Sqlite(conn)
        }
    }

    async fn release(self) {
        match self {
            Stall::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Stall::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// The spool's segments, each checked to be readable by its owner only.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .collect();
    found.sort();
    for path in &found {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    found
}

fn lines_of(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

/// How many jobs exist for the call.
async fn jobs_for(db: &Db, sid: &str) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM job WHERE dedupe_key = $1")
        .bind(format!("transcribe:{sid}"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    row.0
}

#[tokio::test]
async fn a_recording_posted_while_the_database_is_locked_is_answered_and_its_job_lands_once_after_the_lock()
 {
    let fakes = Fakes::start(SPEECH).await;
    let app = spawn_with_fakes(&fakes).await;
    business(&app).await;
    let sid = new_sid();
    // The call row lands (beside the answer) before the lock is taken.
    answered(&app, &sid).await;
    let url = fakes.recording_url(RECORDING_SID);

    let stall = Stall::hold(&app.database_url).await;
    let started = Instant::now();
    let (status, root) = twiml(
        &app,
        "/webhook/handle_recording",
        &recording_params(&sid, &url),
    )
    .await;
    let answered_in = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(assert_goodbye(&root), THANK_YOU_HE);
    assert!(
        answered_in < Duration::from_secs(3),
        "answered in {answered_in:?}"
    );
    assert_eq!(
        app.state.spool.waiting(),
        2,
        "the recording and its job wait"
    );
    let on_disk = segments(app.state.spool.dir());
    assert_eq!(on_disk.len(), 1);
    assert_eq!(lines_of(&on_disk[0]), 2, "fsync'd before the answer");

    stall.release().await;
    let report = app.state.spool.replay(&app.state.db).await;
    assert_eq!(report.stopped, None);
    assert_eq!(app.state.spool.waiting(), 0);
    assert!(
        segments(app.state.spool.dir()).is_empty(),
        "what landed is removed"
    );

    assert_eq!(jobs_for(&app.state.db, &sid).await, 1);
    agentlocator::jobs::drain(&app.state).await.unwrap();
    let job = queue::get_by_dedupe_key(&app.state.db, &format!("transcribe:{sid}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1));
    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.recording_url.as_deref(), Some(url.as_str()));
    assert_eq!(call.transcript.as_deref(), Some(SPEECH));
    assert_eq!(fakes.seen().stt_calls, 1);

    // A replay cut short after landing lands the job again: still one job,
    // and it does not run again.
    let payload: agentlocator::jobs::transcribe::Payload =
        serde_json::from_str(&job.payload).unwrap();
    Write::Transcription(payload)
        .apply(&app.state.db)
        .await
        .unwrap();
    assert_eq!(agentlocator::jobs::drain(&app.state).await.unwrap().done, 0);
    assert_eq!(jobs_for(&app.state.db, &sid).await, 1);
    assert_eq!(fakes.seen().stt_calls, 1);
}

/// A "process" on the database and spool of `vars`: its own pool.
async fn process(vars: &std::collections::HashMap<String, String>) -> AppState {
    let (config, _) = Config::from_source(vars).unwrap();
    let providers = Providers::from_config(&config).unwrap();
    let db = Db::connect(&config.database_url, crate::helpers::TEST_PG_CONNECTIONS)
        .await
        .unwrap();
    AppState::new(config, db, providers)
}

/// Posts a signed webhook straight into the app.
async fn post(app: &axum::Router, path: &str, params: &[(String, String)]) -> (u16, String) {
    let request = http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sign(TOKEN, path, params))
        .body(Body::from(serde_urlencoded::to_string(params).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn writes_made_while_the_database_is_stopped_land_once_and_in_order_at_the_next_start() {
    let fakes = Fakes::start(SPEECH).await;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let mut vars = base_vars(&url, &dir);
    vars.extend(fakes.vars());
    vars.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
    vars.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());

    let first = process(&vars).await;
    migrate::run(&first.db).await.unwrap();
    register_business(&first.db).await;
    let app = agentlocator::app::create_app(first.clone());
    let sid = new_sid();
    assert_eq!(
        post(&app, "/webhook/incoming_call", &call_params(&sid))
            .await
            .0,
        200
    );
    // Its row has landed (beside the answer) …
    first.background_settled().await;

    // … then the database stops; the call goes on.
    first.db.pool.close().await;
    let (status, body) = post(&app, "/webhook/stream_ended", &in_progress(&sid)).await;
    assert_eq!(status, 200);
    assert_record_fallback(&parse(&body));
    let recording_url = fakes.recording_url(RECORDING_SID);
    let (status, body) = post(
        &app,
        "/webhook/handle_recording",
        &recording_params(&sid, &recording_url),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(assert_goodbye(&parse(&body)), THANK_YOU_HE);
    let mut completed = call_params(&sid);
    completed[4].1 = "completed".into();
    completed.push(("CallDuration".into(), "42".into()));
    let reported_before = Timestamp::now();
    assert_eq!(post(&app, "/webhook/call_status", &completed).await.0, 204);
    let reported_after = Timestamp::now();
    first.background_settled().await;
    assert_eq!(
        first.spool.waiting(),
        4,
        "mode, recording, job and end all wait"
    );

    // The process ends (its lock on its segment goes with it) …
    drop(app);
    drop(first);
    // … and the next one, on the same data folder and a database that
    // answers again, lands what it left, in order.
    let second = process(&vars).await;
    assert_eq!(second.spool.waiting(), 4, "adopted at start");
    let report = second.spool.replay(&second.db).await;
    assert_eq!((report.landed, report.waiting), (4, 0));
    assert!(segments(second.spool.dir()).is_empty());

    let call = calls::get_by_sid(&second.db, &sid).await.unwrap().unwrap();
    assert_eq!(call.mode, "record");
    assert_eq!(call.recording_url.as_deref(), Some(recording_url.as_str()));
    assert_eq!(call.status.as_deref(), Some("completed"));
    assert_eq!(call.duration_s, Some(42));
    let ended = Timestamp::parse(call.ended_at.as_deref().unwrap()).unwrap();
    assert!(
        reported_before <= ended && ended <= reported_after,
        "the end is when Twilio reported it, not when it landed: {ended:?}"
    );
    assert_eq!(jobs_for(&second.db, &sid).await, 1);
    // The transcription, then the call outcome it queues once it is saved.
    assert_eq!(agentlocator::jobs::drain(&second).await.unwrap().done, 2);
    assert_eq!(fakes.seen().stt_calls, 1);

    // A third start finds nothing left to land.
    drop(second);
    let third = process(&vars).await;
    assert_eq!(third.spool.waiting(), 0);
    assert_eq!(third.spool.replay(&third.db).await.landed, 0);
    assert_eq!(jobs_for(&third.db, &sid).await, 1);
}

/// Registers the business every test calls, without a `TestApp`.
async fn register_business(db: &Db) {
    agentlocator::db::business::create(
        db,
        &agentlocator::domain::settings::BusinessName::parse("Pizza Tel Aviv").unwrap(),
        &agentlocator::domain::PhoneNumber::parse(BUSINESS_PHONE).unwrap(),
    )
    .await
    .unwrap();
}

// Multi-threaded: `Running::wait_for` blocks its thread, and the fakes the
// restarted binary transcribes through are served by this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_keeps_what_it_spooled_and_the_next_start_lands_it_once() {
    let fakes = Fakes::start(SPEECH).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = fakes.vars().into_iter().collect();
    env.push(("TWILIO_AUTH_TOKEN".into(), TOKEN.into()));
    env.push(("PUBLIC_BASE_URL".into(), PUBLIC.into()));
    let database_url = match crate::helpers::test_postgres_url() {
        Some(_) => {
            let url = fresh_database_url(&dir).await;
            env.push(("DATABASE_URL".into(), url.clone()));
            url
        }
        // The binary's default: data/agentlocator.db in its folder.
        None => format!(
            "sqlite://{}",
            dir.path().join("data/agentlocator.db").display()
        ),
    };
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (&**k, &**v)).collect();
    let spool_dir = dir.path().join("data/spool");

    let mut server = Running::start(dir.path(), &env_refs);
    let port = server.wait_for(|l| l["msg"] == "AgentLocator listening")["extra"]["port"]
        .as_u64()
        .unwrap();
    let stall = Stall::hold(&database_url).await;
    let sid = new_sid();
    let recording_url = fakes.recording_url(RECORDING_SID);
    let params = recording_params(&sid, &recording_url);
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhook/handle_recording"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "X-Twilio-Signature",
            sign(TOKEN, "/webhook/handle_recording", &params),
        )
        .body(serde_urlencoded::to_string(&params).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        assert_goodbye(&parse(&res.text().await.unwrap())),
        THANK_YOU_HE
    );
    server.kill();

    let left = segments(&spool_dir);
    assert_eq!(left.len(), 1, "the spool survived kill -9");
    assert_eq!(lines_of(&left[0]), 2);

    stall.release().await;
    let mut restarted = Running::start(dir.path(), &env_refs);
    let replayed = restarted.wait_for(|l| l["msg"] == "spool replayed");
    assert_eq!(replayed["extra"]["landed"], 2);
    restarted.wait_for(|l| l["msg"] == "recording_transcribed" && l["call_sid"] == sid.as_str());
    assert!(restarted.stop().success());
    assert!(segments(&spool_dir).is_empty());

    let db = Db::connect(&database_url, crate::helpers::TEST_PG_CONNECTIONS)
        .await
        .unwrap();
    assert_eq!(jobs_for(&db, &sid).await, 1);
    let job = queue::get_by_dedupe_key(&db, &format!("transcribe:{sid}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1));
    let call = calls::get_by_sid(&db, &sid).await.unwrap().unwrap();
    assert_eq!(call.transcript.as_deref(), Some(SPEECH));
    assert_eq!(fakes.seen().stt_calls, 1);
}
