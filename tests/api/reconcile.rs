//! The recording reconciler: a voicemail whose `handle_recording` never
//! came is found through Twilio's REST API (a local fake) and queued once.

use agentlocator::db::business;
use agentlocator::db::calls::{self, CallMode, NewCall};
use agentlocator::db::jobs as queue;
use agentlocator::domain::{PhoneNumber, Timestamp};
use agentlocator::jobs::{self, reconcile, transcribe};
use agentlocator::state::AppState;
use tracing::Instrument as _;

use crate::helpers::{base_vars, fresh_database_url};
use crate::jobs::{Env, SPEECH, env, sid};

const RECORDING_SID: &str = "RE0123456789abcdef0123456789abcdef";

/// A call that moved to the recording, as `stream_ended` leaves it.
async fn call_in_record_mode(state: &AppState, sid: &str) {
    let b = business::create(
        &state.db,
        &agentlocator::domain::settings::BusinessName::parse("Pizza Tel Aviv").unwrap(),
        &PhoneNumber::parse("+97235550001").unwrap(),
    )
    .await
    .unwrap();
    calls::upsert(
        &state.db,
        &NewCall {
            call_sid: sid,
            business_id: b.id,
            customer_id: None,
            from_number: "+972501234567",
            to_number: "+97235550001",
            status: "in-progress",
            mode: CallMode::Record,
        },
    )
    .await
    .unwrap();
}

fn minutes(n: i64) -> time::Duration {
    time::Duration::minutes(n)
}

async fn round(env: &Env, at: &Timestamp) -> reconcile::Report {
    reconcile::run_once(&env.state, at).await.unwrap()
}

#[tokio::test]
async fn a_voicemail_whose_webhook_never_came_is_found_on_twilio_and_queued_once() {
    let env = env(SPEECH, true).await;
    env.fakes.set(|b| {
        b.call_recordings = vec![(RECORDING_SID.into(), "completed".into())];
    });
    let sid = sid();
    call_in_record_mode(&env.state, &sid).await;
    let now = Timestamp::now();

    let early = round(&env, &now.shifted(minutes(1))).await;
    assert_eq!(early.checked, 0, "the webhook may still come");
    let due = round(&env, &now.shifted(minutes(4))).await;
    assert_eq!((due.checked, due.queued, due.failed), (1, 1, 0));
    let later = round(&env, &now.shifted(minutes(8))).await;
    assert_eq!(later.checked, 0, "found once, never looked up again");
    assert_eq!(env.fakes.seen().recording_lists, 1);

    let call = calls::get_by_sid(&env.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    let url = env.fakes.recording_url(RECORDING_SID);
    assert_eq!(call.recording_url.as_deref(), Some(url.as_str()));

    // The webhook (or a spool replay of it) arrives after all: same job.
    let late = transcribe::enqueue(
        &env.state.db,
        &transcribe::Payload {
            call_sid: sid.clone(),
            recording_url: url,
            recording_sid: None,
            business_id: None,
        },
    )
    .await
    .unwrap();
    assert!(!late.created);

    // The transcription, then the call outcome it queues once it is saved.
    assert_eq!(jobs::drain(&env.state).await.unwrap().done, 2);
    let job = queue::get_by_dedupe_key(&env.state.db, &transcribe::dedupe_key(&sid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1));
    let call = calls::get_by_sid(&env.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.transcript.as_deref(), Some(SPEECH));
    assert_eq!(env.fakes.seen().stt_calls, 1);
}

#[tokio::test]
async fn a_call_that_ended_without_a_message_is_looked_up_once_and_then_left_alone() {
    let env = env(SPEECH, true).await;
    let sid = sid();
    call_in_record_mode(&env.state, &sid).await;
    calls::set_status(&env.state.db, &sid, "completed", Some(9))
        .await
        .unwrap();
    let now = Timestamp::now();

    let due = round(&env, &now.shifted(minutes(4))).await;
    assert_eq!((due.checked, due.queued), (1, 0));
    let later = round(&env, &now.shifted(minutes(20))).await;
    assert_eq!(later.checked, 0);
    assert_eq!(env.fakes.seen().recording_lists, 1);
    assert!(
        queue::get_by_dedupe_key(&env.state.db, &transcribe::dedupe_key(&sid))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failed_lookup_is_tried_again_in_a_later_round_a_bounded_number_of_times() {
    let env = env(SPEECH, true).await;
    // A Twilio that is away: nothing listens where the API base points.
    let state = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let away = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let mut vars = base_vars(&env.url, &env._dir);
        vars.insert("TWILIO_ACCOUNT_SID".into(), "AC1".into());
        vars.insert("TWILIO_AUTH_TOKEN".into(), "t".into());
        vars.insert("TWILIO_API_BASE_URL".into(), away);
        state_from(&vars).await
    };
    let sid = sid();
    call_in_record_mode(&state, &sid).await;
    let now = Timestamp::now();
    let mut failed = 0;
    for n in 1..=6 {
        let r = reconcile::run_once(&state, &now.shifted(minutes(4 * n)))
            .await
            .unwrap();
        failed += r.failed;
    }
    assert_eq!(failed, reconcile::MAX_CHECKS as usize);
}

async fn state_from(vars: &std::collections::HashMap<String, String>) -> AppState {
    let (config, _) = agentlocator::config::Config::from_source(vars).unwrap();
    let providers = agentlocator::providers::Providers::from_config(&config).unwrap();
    let db =
        agentlocator::db::Db::connect(&config.database_url, crate::helpers::TEST_PG_CONNECTIONS)
            .await
            .unwrap();
    AppState::new(config, db, providers)
}

#[tokio::test]
async fn without_twilio_credentials_the_reconciler_is_off_with_one_warning() {
    let logs = agentlocator::telemetry::install_test_capture();
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let state = state_from(&base_vars(&url, &dir)).await;
    let marker = sid();
    let stopped = tokio_util::sync::CancellationToken::new();
    // Returns at once rather than looping: awaited, not raced with a timer.
    reconcile::run_loop(state, stopped)
        .instrument(tracing::info_span!("test", call_sid = %marker))
        .await;
    let warned = logs
        .lines()
        .into_iter()
        .filter(|l| l["call_sid"] == marker.as_str())
        .filter(|l| l["level"] == "WARN")
        .filter(|l| {
            l["msg"]
                .as_str()
                .unwrap()
                .starts_with("recording reconciler off")
        })
        .count();
    assert_eq!(warned, 1);
}
