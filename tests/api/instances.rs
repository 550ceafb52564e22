//! Two `serve` processes on one PostgreSQL database, as a scaled-out
//! deployment runs them: any instance answers any webhook and any stream, a
//! rolling restart drops no caller and loses no turn, and each voicemail is
//! transcribed once; each keeps to its share of the server's connections.
//! Runs on PostgreSQL only (`TEST_DATABASE_URL`).

use std::time::Duration;

use callsim::{SimMode, SimOptions, simulate_call};
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::calls::caller_audio;
use crate::helpers::{TestApp, fresh_database_url, test_postgres_url};
use crate::logging::Running;
use crate::process::{Twilio, create_business, eventually};
use crate::webhooks::fakes::Fakes;

const TOKEN: &str = "instances-auth-token";
const PUBLIC: &str = "https://instances.example.test";
const BUSINESS: &str = "+97235550701";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

struct Instance {
    running: Running,
    base: String,
}

fn start(dir: &std::path::Path, env: &[(String, String)]) -> Instance {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut running = Running::start(dir, &env);
    let port = running.wait_for(|l| l["msg"] == "AgentLocator listening")["extra"]["port"]
        .as_u64()
        .unwrap();
    Instance {
        running,
        base: format!("http://127.0.0.1:{port}"),
    }
}

const TWILIO: Twilio = Twilio {
    token: TOKEN,
    public: PUBLIC,
};

fn call<'a>(sid: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", "+972501234567"),
        ("To", BUSINESS),
        ("CallStatus", status),
    ]
}

fn sim(base: &str, sid: &str) -> SimOptions {
    let mut opts = SimOptions::new(base.parse().unwrap(), BUSINESS, TOKEN);
    opts.public_base_url = Some(PUBLIC.parse().unwrap());
    opts.call_sid = Some(sid.to_string());
    opts.utterances = vec![caller_audio(), caller_audio()];
    opts.keep_heard = false;
    opts
}

#[tokio::test]
async fn two_instances_share_calls_a_rolling_restart_drops_no_caller_and_voicemails_run_once() {
    if test_postgres_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let (fake, creds) = crate::calls::fake_providers(dir.path()).await;
    let twilio = Fakes::start("שלום, אני רוצה לקבוע תור").await;
    let business_id = create_business(dir.path(), &url, "מרפאת השן", BUSINESS);
    let pool = crate::helpers::TEST_PG_CONNECTIONS.to_string();
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", url.as_str()),
        // Two instances and the test's own pool share the server.
        ("DATABASE_MAX_CONNECTIONS", &pool),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_API_BASE_URL", twilio.base.as_str()),
        ("PUBLIC_BASE_URL", PUBLIC),
        ("OPENAI_API_KEY", "sk-fake"),
        ("OPENAI_BASE_URL", &format!("{fake}/v1")),
        ("GOOGLE_APPLICATION_CREDENTIALS", &creds.to_string_lossy()),
        ("GOOGLE_TTS_BASE_URL", fake.as_str()),
        ("SHUTDOWN_GRACE_SECS", "30"),
        ("SHUTDOWN_TAIL_SECS", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut a = start(dir.path(), &env);
    let b = start(dir.path(), &env);
    let db = agentlocator::db::Db::connect(&url, crate::helpers::TEST_PG_CONNECTIONS)
        .await
        .unwrap();

    // A call's webhook on A, its stream on B, its stream_ended on A.
    let crossed = "CAcrossed0000000000000000000000001";
    let (status, twiml) = TWILIO
        .post(&a.base, "/webhook/incoming_call", &call(crossed, "ringing"))
        .await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Stream"), "{twiml}");
    let mut ws = TWILIO.open_stream(&b.base, crossed, &business_id).await;
    let greeted = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(&msg, Message::Text(t) if t.contains("\"media\"")) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(greeted, "B serves the stream of a call A answered");
    ws.close(None).await.unwrap();
    let (status, twiml) = TWILIO
        .post(
            &a.base,
            "/webhook/stream_ended",
            &call(crossed, "in-progress"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Response"), "{twiml}");

    // Calls on both; A is restarted (SIGTERM) while they talk; B takes new ones.
    let sids: Vec<String> = (0..6).map(|i| format!("CAroll{i:028}")).collect();
    let mut running = Vec::new();
    for (i, sid) in sids.iter().enumerate().take(4) {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let opts = sim(base, sid);
        running.push(tokio::spawn(async move { simulate_call(&opts).await }));
    }
    // A's calls are live (their rows claimed a stream) before A is stopped.
    let live_on_a = |db: agentlocator::db::Db, sids: Vec<String>| async move {
        let mut claimed = 0;
        for sid in &sids {
            let row = agentlocator::db::calls::get_by_sid(&db, sid).await.unwrap();
            claimed += usize::from(row.is_some());
        }
        claimed == sids.len()
    };
    let first_four = sids[..4].to_vec();
    eventually("the first calls are recorded", || {
        live_on_a(db.clone(), first_four.clone())
    })
    .await;
    a.running.terminate();
    for sid in &sids[4..] {
        let opts = sim(&b.base, sid);
        running.push(tokio::spawn(async move { simulate_call(&opts).await }));
    }
    for handle in running {
        let report = handle.await.unwrap().unwrap();
        assert_eq!(
            report.mode,
            SimMode::Stream,
            "{} was not dropped",
            report.call_sid
        );
        assert_eq!(report.turns.len(), 2, "{}", report.call_sid);
        assert!(
            report.turns.iter().all(|t| t.reply_audio_ms > 0),
            "{} got every reply",
            report.call_sid
        );
    }
    let stopped = a.running.stop();
    assert!(stopped.success(), "A drained and exited cleanly");
    for sid in &sids {
        let turns = agentlocator::db::calls::turns_for_call(&db, sid)
            .await
            .unwrap();
        assert_eq!(turns.len(), 2, "no turn of {sid} was lost");
    }

    // Voicemails answered by B (A is gone), each posted twice as Twilio
    // retries; every one is downloaded and transcribed exactly once.
    let mail: Vec<String> = (0..3).map(|i| format!("CAmail{i:028}")).collect();
    for (i, sid) in mail.iter().enumerate() {
        TWILIO
            .post(&b.base, "/webhook/incoming_call", &call(sid, "ringing"))
            .await;
        let recording = twilio.recording_url(&format!("RE{i:032}"));
        let mut params = call(sid, "in-progress");
        params.push(("RecordingUrl", &recording));
        params.push(("RecordingDuration", "7"));
        for _ in 0..2 {
            let (status, _) = TWILIO
                .post(&b.base, "/webhook/handle_recording", &params)
                .await;
            assert_eq!(status, 200);
        }
    }
    let all_done = |db: agentlocator::db::Db, mail: Vec<String>| async move {
        for sid in &mail {
            let job = agentlocator::db::jobs::get_by_dedupe_key(&db, &format!("transcribe:{sid}"))
                .await
                .unwrap();
            if job.is_none_or(|j| j.status != "done") {
                return false;
            }
        }
        true
    };
    eventually("every voicemail is transcribed", || {
        all_done(db.clone(), mail.clone())
    })
    .await;
    assert_eq!(
        twilio.seen().downloads,
        mail.len(),
        "each recording fetched once"
    );
    drop(b);
}

#[tokio::test]
async fn an_instance_opens_no_more_postgres_connections_than_database_max_connections_in_a_burst() {
    use sqlx::Connection as _;
    let Some(pg) = test_postgres_url() else {
        return;
    };
    let app = TestApp::spawn_with(|v| {
        v.insert("DATABASE_MAX_CONNECTIONS".into(), "3".into());
    })
    .await;
    // Each readiness probe runs a query: at once, they want a connection
    // each. Eight times the pool is burst enough; a hundred queued past the
    // probe's own 800 ms while the suite loaded the server, and said "fail".
    let probes = (0..24).map(|_| app.get_json("/readyz"));
    for (status, body) in futures::future::join_all(probes).await {
        assert_eq!((status, &body["db"]), (200, &"ok".into()), "{body}");
    }

    // The pool keeps what it opened, so the burst's peak is still there.
    let name = url::Url::parse(&app.database_url).unwrap().path()[1..].to_owned();
    let mut admin = sqlx::PgConnection::connect(&pg).await.unwrap();
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!((1..=3).contains(&open), "{open} connections open");

    // And the instance says so, for whoever sizes the pools.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let gauge = |series: &str| -> i64 {
        let line = metrics.lines().find(|l| l.starts_with(series));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {metrics}"))
    };
    assert_eq!(gauge("agentlocator_db_connections_max "), 3);
    let held = gauge("agentlocator_db_connections{state=\"idle\"}")
        + gauge("agentlocator_db_connections{state=\"in_use\"}");
    assert_eq!(held, open, "{metrics}");
}
