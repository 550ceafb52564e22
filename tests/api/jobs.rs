//! The durable job queue on the configured backend: claims, retries, dead
//! jobs, dedupe, restarts — and the transcription handler's outcomes.
//! No server runs here, so no background worker competes with the test.

use std::time::Duration;

use agentlocator::config::Config;
use agentlocator::db::calls::{self, RecordingInfo};
use agentlocator::db::jobs as queue;
use agentlocator::db::{Db, migrate};
use agentlocator::domain::Timestamp;
use agentlocator::jobs::{self, WorkerOptions, transcribe};
use agentlocator::providers::Providers;
use agentlocator::state::AppState;

use crate::helpers::{base_vars, fresh_database_url};
use crate::webhooks::fakes::Fakes;

pub(crate) struct Env {
    pub(crate) state: AppState,
    pub(crate) fakes: Fakes,
    pub(crate) url: String,
    pub(crate) _dir: tempfile::TempDir,
}

/// A migrated database and providers pointed at the fakes; `stt_on` false
/// leaves speech-to-text unconfigured (disabled).
pub(crate) async fn env(transcript: &str, stt_on: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let fakes = Fakes::start(transcript).await;
    let state = state_for(&url, &dir, &fakes, stt_on).await;
    migrate::run(&state.db).await.unwrap();
    Env {
        state,
        fakes,
        url,
        _dir: dir,
    }
}

/// A "process": its own pool and clients over the same database.
pub(crate) async fn state_for(
    url: &str,
    dir: &tempfile::TempDir,
    fakes: &Fakes,
    stt_on: bool,
) -> AppState {
    let mut vars = base_vars(url, dir);
    vars.extend(fakes.vars());
    vars.insert("TWILIO_AUTH_TOKEN".into(), "test-token".into());
    if !stt_on {
        vars.remove("OPENAI_API_KEY");
    }
    let (config, _) = Config::from_source(&vars).unwrap();
    let providers = Providers::from_config(&config).unwrap();
    let db = Db::connect(url, crate::helpers::TEST_PG_CONNECTIONS)
        .await
        .unwrap();
    AppState::new(config, db, providers)
}

/// A recorded call and its queued transcription job; returns the job id.
async fn recorded_call(env: &Env, sid: &str) -> i64 {
    let recording_url = env
        .fakes
        .recording_url("RE0123456789abcdef0123456789abcdef");
    calls::set_recording(
        &env.state.db,
        &RecordingInfo {
            call_sid: sid,
            recording_url: &recording_url,
            recording_sid: None,
            from_number: Some("+972501234567"),
            to_number: Some("+97235550001"),
        },
    )
    .await
    .unwrap();
    let queued = transcribe::enqueue(
        &env.state.db,
        &transcribe::Payload {
            call_sid: sid.to_string(),
            recording_url,
            recording_sid: None,
            business_id: None,
        },
    )
    .await
    .unwrap();
    assert!(queued.created);
    queued.id
}

pub(crate) fn sid() -> String {
    format!("CA{}", uuid::Uuid::new_v4().simple())
}

pub(crate) const SPEECH: &str = "שלום, רציתי לשאול אם אפשר לקבוע תור ליום שלישי";

#[tokio::test]
async fn a_job_claimed_by_a_process_that_died_is_finished_after_a_restart() {
    let env = env(SPEECH, true).await;
    let sid = sid();
    let id = recorded_call(&env, &sid).await;

    // The first process claims the job and dies before finishing it.
    let claimed = queue::claim(&env.state.db, Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((claimed.id, claimed.status.as_str()), (id, "running"));
    env.state.db.pool.close().await;
    // Nobody else may take it while the lease holds.
    let restarted = state_for(&env.url, &env._dir, &env.fakes, true).await;
    assert!(
        queue::claim(&restarted.db, Duration::from_secs(300))
            .await
            .unwrap()
            .is_none()
    );

    // The lease runs out (here: moved into the past instead of waiting).
    sqlx::query("UPDATE job SET locked_until = $1 WHERE id = $2")
        .bind("2000-01-01T00:00:00.000Z")
        .bind(id)
        .execute(&restarted.db.pool)
        .await
        .unwrap();
    let report = jobs::drain(&restarted).await.unwrap();
    // The transcription, then the call outcome it queues once it is saved.
    assert_eq!(report.done, 2);

    let job = queue::get(&restarted.db, id).await.unwrap().unwrap();
    assert_eq!(job.status, "done");
    assert_eq!(job.attempts, 2);
    let call = calls::get_by_sid(&restarted.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.transcript.as_deref(), Some(SPEECH));
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_then_goes_dead_keeping_its_last_error() {
    let env = env(SPEECH, true).await;
    env.fakes.set(|b| b.stt_status = 503);
    let id = recorded_call(&env, &sid()).await;

    // Default backoff: the first failure schedules a retry in the future.
    let first = jobs::drain(&env.state).await.unwrap();
    assert_eq!(first.retrying, 1);
    let job = queue::get(&env.state.db, id).await.unwrap().unwrap();
    assert_eq!(job.status, "queued");
    assert!(job.run_at > agentlocator::domain::Timestamp::now().to_string());
    assert!(job.last_error.as_deref().unwrap().contains("server"));

    // With no backoff the remaining attempts run now, and the job dies.
    sqlx::query("UPDATE job SET run_at = $1 WHERE id = $2")
        .bind("2000-01-01T00:00:00.000Z")
        .bind(id)
        .execute(&env.state.db.pool)
        .await
        .unwrap();
    let quick = WorkerOptions {
        backoff_base: Duration::ZERO,
        ..WorkerOptions::default()
    };
    let rest = jobs::drain_with(&env.state, &quick).await.unwrap();
    assert_eq!((rest.retrying, rest.dead), (3, 1));
    let job = queue::get(&env.state.db, id).await.unwrap().unwrap();
    assert_eq!(job.status, "dead");
    assert_eq!(job.attempts, job.max_attempts);
    assert!(job.last_error.is_some());
    assert_eq!(env.fakes.seen().stt_calls, 5);

    // An operator fixes the cause and re-queues it.
    env.fakes.set(|b| b.stt_status = 200);
    assert!(queue::requeue(&env.state.db, id).await.unwrap());
    // The transcription, then the call outcome it queues once it is saved.
    assert_eq!(jobs::drain(&env.state).await.unwrap().done, 2);
}

#[tokio::test]
async fn with_speech_to_text_disabled_the_job_goes_dead_at_once_with_a_clear_error() {
    let env = env(SPEECH, false).await;
    let id = recorded_call(&env, &sid()).await;
    let report = jobs::drain(&env.state).await.unwrap();
    assert_eq!(report.dead, 1);
    let job = queue::get(&env.state.db, id).await.unwrap().unwrap();
    assert_eq!(job.status, "dead");
    assert_eq!(job.attempts, 1);
    assert!(job.last_error.unwrap().contains("OPENAI_API_KEY"));
    assert_eq!(env.fakes.seen().downloads, 0, "nothing downloaded in vain");
}

#[tokio::test]
async fn a_silence_hallucination_stores_no_transcript_but_completes_the_job() {
    let env = env("תודה שצפיתם", true).await;
    let sid = sid();
    let id = recorded_call(&env, &sid).await;
    assert_eq!(jobs::drain(&env.state).await.unwrap().done, 1);
    assert_eq!(
        queue::get(&env.state.db, id).await.unwrap().unwrap().status,
        "done"
    );
    let call = calls::get_by_sid(&env.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.transcript, None);
}

#[tokio::test]
async fn a_recording_with_no_speech_is_not_sent_to_transcription_at_all() {
    let env = env(SPEECH, true).await;
    env.fakes.set(|b| b.silent_recording = true);
    let sid = sid();
    let id = recorded_call(&env, &sid).await;
    assert_eq!(jobs::drain(&env.state).await.unwrap().done, 1);
    assert_eq!(
        queue::get(&env.state.db, id).await.unwrap().unwrap().status,
        "done"
    );
    assert_eq!(env.fakes.seen().downloads, 1);
    assert_eq!(
        env.fakes.seen().stt_calls,
        0,
        "silence never reaches Whisper"
    );
    let call = calls::get_by_sid(&env.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.transcript, None);
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_job() {
    let env = env(SPEECH, true).await;
    for n in 0..20 {
        queue::enqueue(&env.state.db, "test", Some(&format!("k{n}")), "{}", 3)
            .await
            .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let db = env.state.db.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = queue::claim(&db, Duration::from_secs(60)).await.unwrap() {
                mine.push(job.id);
            }
            mine
        });
    }
    let mut all = Vec::new();
    while let Some(ids) = tasks.join_next().await {
        all.extend(ids.unwrap());
    }
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 20);
    assert_eq!(all.len(), 20);
}

#[tokio::test]
async fn drain_waits_for_a_due_job_that_another_workers_claim_holds_locked() {
    let env = env(SPEECH, true).await;
    if env.state.db.backend != agentlocator::db::Backend::Postgres {
        // SQLite has one writer and no row locks: a claim in flight holds
        // the whole database, and drain's own claim waits on it.
        return;
    }
    let job = queue::enqueue(&env.state.db, "test", Some("held"), "{}", 3)
        .await
        .unwrap();
    // Another worker's claim, between its SELECT … FOR UPDATE and its
    // commit: drain's claim skips the row, and nothing is running yet.
    let mut claim = env.state.db.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM job WHERE id = $1 FOR UPDATE")
        .bind(job.id)
        .execute(&mut *claim)
        .await
        .unwrap();
    let quick = WorkerOptions {
        max_run: Duration::from_millis(50),
        lease: Duration::from_millis(50),
        ..WorkerOptions::default()
    };
    let drained = jobs::drain_with(&env.state, &quick).await;
    assert!(
        drained.is_err(),
        "drain returned while a due job was being claimed: {drained:?}"
    );
    claim.rollback().await.unwrap();
    assert_eq!(jobs::drain(&env.state).await.unwrap().dead, 1);
}

#[tokio::test]
async fn a_dedupe_key_queues_the_work_once_and_unknown_kinds_go_dead() {
    let env = env(SPEECH, true).await;
    let first = queue::enqueue(&env.state.db, "mystery", Some("same"), "{}", 3)
        .await
        .unwrap();
    let second = queue::enqueue(&env.state.db, "mystery", Some("same"), "{}", 3)
        .await
        .unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
    assert_eq!(jobs::drain(&env.state).await.unwrap().dead, 1);
    let job = queue::get(&env.state.db, first.id).await.unwrap().unwrap();
    assert!(job.last_error.unwrap().contains("unknown job kind"));
}

#[tokio::test]
async fn a_late_result_from_a_worker_that_lost_its_lease_changes_nothing() {
    let env = env(SPEECH, true).await;
    let job = queue::enqueue(&env.state.db, "test", None, "{}", 3)
        .await
        .unwrap();
    let slow = queue::claim(&env.state.db, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let fast = queue::claim(&env.state.db, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((slow.id, fast.id), (job.id, job.id));
    assert!(
        !queue::fail(&env.state.db, job.id, slow.attempts, "late", None)
            .await
            .unwrap()
    );
    assert!(
        queue::complete(&env.state.db, job.id, fast.attempts)
            .await
            .unwrap()
    );
    let row = queue::get(&env.state.db, job.id).await.unwrap().unwrap();
    assert_eq!(row.status, "done");
}

/// `d` as the signed duration timestamps shift by.
fn secs(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap()
}

#[tokio::test]
async fn a_job_whose_worker_died_is_claimed_again_once_its_short_lease_runs_out() {
    let env = env(SPEECH, true).await;
    let id = recorded_call(&env, &sid()).await;
    let lease = WorkerOptions::default().lease;
    assert!(lease <= Duration::from_secs(30), "{lease:?}");

    // A worker claims the job and is killed: no heartbeat renews its lease.
    let t0 = Timestamp::now();
    let first = queue::claim_at(&env.state.db, &t0, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, first.attempts), (id, 1));
    let just_before = t0.shifted(secs(lease) - time::Duration::seconds(1));
    assert!(
        queue::claim_at(&env.state.db, &just_before, lease)
            .await
            .unwrap()
            .is_none(),
        "nobody else may take it while the lease holds"
    );
    let again = queue::claim_at(&env.state.db, &t0.shifted(secs(lease)), lease)
        .await
        .unwrap()
        .expect("claimed again once the short lease ran out");
    assert_eq!((again.id, again.attempts), (id, 2));
    // The dead worker's late result, were it to come, changes nothing.
    assert!(
        !queue::complete(&env.state.db, id, first.attempts)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_heartbeat_extends_the_lease_and_a_stale_claim_cannot_renew_it() {
    let env = env(SPEECH, true).await;
    let id = recorded_call(&env, &sid()).await;
    let lease = Duration::from_secs(30);
    let t0 = Timestamp::now();
    let first = queue::claim_at(&env.state.db, &t0, lease)
        .await
        .unwrap()
        .unwrap();

    let beat = t0.shifted(time::Duration::seconds(20));
    assert!(
        queue::renew_at(&env.state.db, id, first.attempts, &beat, lease)
            .await
            .unwrap()
    );
    let past_the_first_lease = t0.shifted(time::Duration::seconds(31));
    assert!(
        queue::claim_at(&env.state.db, &past_the_first_lease, lease)
            .await
            .unwrap()
            .is_none(),
        "the heartbeat kept the job"
    );
    let past_the_renewed_lease = t0.shifted(time::Duration::seconds(50));
    let taken = queue::claim_at(&env.state.db, &past_the_renewed_lease, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.attempts, 2);
    let late_beat = t0.shifted(time::Duration::seconds(51));
    assert!(
        !queue::renew_at(&env.state.db, id, first.attempts, &late_beat, lease)
            .await
            .unwrap(),
        "a worker that lost its lease cannot take it back"
    );
}

#[tokio::test]
async fn a_job_that_runs_longer_than_its_lease_keeps_it_by_heartbeat_and_runs_once() {
    let env = env(SPEECH, true).await;
    env.fakes.set(|b| b.stt_delay_ms = 2500);
    let sid = sid();
    let id = recorded_call(&env, &sid).await;
    let options = WorkerOptions {
        lease: Duration::from_secs(1),
        heartbeat: Duration::from_millis(200),
        ..WorkerOptions::default()
    };
    let state = env.state.clone();
    let worker = tokio::spawn(async move { jobs::drain_with(&state, &options).await });

    // Well past the first lease, mid-transcription: another worker finds
    // the job still held.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(
        queue::claim(&env.state.db, Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );

    let report = worker.await.unwrap().unwrap();
    // The transcription, then the call outcome it queues once it is saved.
    assert_eq!(report.done, 2);
    let job = queue::get(&env.state.db, id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1));
    assert_eq!(env.fakes.seen().stt_calls, 1);
}

#[tokio::test]
async fn a_server_started_with_job_workers_set_runs_that_many_jobs_at_once() {
    let app = crate::helpers::TestApp::spawn_with(|v| {
        v.insert("JOB_WORKERS".into(), "5".into());
    })
    .await;
    // Answered only once the server runs, which starts its workers first.
    assert_eq!(app.get("/healthz").await.status(), 200);
    let started = app
        .logs
        .lines()
        .into_iter()
        .filter(|l| l["msg"] == "job workers started")
        .map(|l| l["extra"]["workers"].as_u64())
        .collect::<Vec<_>>();
    assert!(started.contains(&Some(5)), "{started:?}");
}
