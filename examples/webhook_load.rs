//! Load benchmark of signed `POST /webhook/incoming_call` requests.
//!
//! Starts the real service in-process (SQLite or PostgreSQL, JSON logs on),
//! registers one business, then sends requests Twilio-style: each with a
//! fresh CallSid and a valid X-Twilio-Signature. Two modes:
//!
//! - open loop (`--rate N`): requests leave on a fixed schedule whatever the
//!   server does, and latency counts from the scheduled send time, so a
//!   stall shows up in the percentiles instead of hiding (no coordinated
//!   omission); the report also gives the sender's own lateness (when each
//!   request started being sent, minus its slot) and the latency from that
//!   actual send, so a p99 that is really the sender falling behind on a
//!   shared CPU can be told apart;
//! - closed loop (`--concurrency C`, no rate): C connections back to back,
//!   for the throughput ceiling.
//!
//! ```text
//! cargo run --release --example webhook_load -- --db sqlite --rate 1000 --secs 20 > /dev/null
//! cargo run --release --example webhook_load -- --db postgres --concurrency 32 --secs 10 > /dev/null
//! ```
//! The report goes to stderr (stdout carries the service's JSON logs).
//! PostgreSQL: `BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); a fresh database is
//! created on that server for each run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlocator::config::Config;
use agentlocator::db::business;
use agentlocator::domain::PhoneNumber;
use agentlocator::server::Server;

const TOKEN: &str = "bench-auth-token";
const PUBLIC: &str = "https://voice.example.test";
const PATH: &str = "/webhook/incoming_call";
const BUSINESS_PHONE: &str = "+97235550001";

struct Args {
    db: String,
    rate: Option<u32>,
    concurrency: usize,
    secs: u64,
    warmup_secs: u64,
}

fn args() -> Args {
    let mut a = Args {
        db: "sqlite".into(),
        rate: None,
        concurrency: 16,
        secs: 10,
        warmup_secs: 2,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--db" => a.db = value,
            "--rate" => a.rate = value.parse().ok(),
            "--concurrency" => a.concurrency = value.parse().unwrap_or(16),
            "--secs" => a.secs = value.parse().unwrap_or(10),
            "--warmup" => a.warmup_secs = value.parse().unwrap_or(2),
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

async fn database_url(kind: &str, dir: &tempfile::TempDir) -> String {
    match kind {
        "sqlite" => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").to_string_lossy()
        ),
        "postgres" => {
            use sqlx::Connection as _;
            let admin = std::env::var("BENCH_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("al_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("postgres");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            let mut url = url::Url::parse(&admin).expect("BENCH_DATABASE_URL");
            url.set_path(&name);
            url.to_string()
        }
        other => panic!("--db must be sqlite or postgres, not {other}"),
    }
}

/// One signed request: body and signature, made before the clock starts.
fn request(n: usize) -> (String, String) {
    let sid = format!("CA{n:032x}");
    let from = format!("+9725{:08}", n % 100_000_000);
    let params: Vec<(String, String)> = [
        ("CallSid", sid.as_str()),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", from.as_str()),
        ("To", BUSINESS_PHONE),
        ("CallStatus", "ringing"),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = twilio::signature::compute(TOKEN, &format!("{PUBLIC}{PATH}"), &params);
    let body = serde_urlencoded::to_string(&params).expect("form");
    (body, signature)
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = database_url(&args.db, &dir).await;
    let vars: HashMap<String, String> = HashMap::from([
        ("PORT".into(), "0".into()),
        ("DATABASE_URL".into(), db_url),
        ("TWILIO_AUTH_TOKEN".into(), TOKEN.into()),
        ("PUBLIC_BASE_URL".into(), PUBLIC.into()),
        (
            "LOG_DIR".into(),
            dir.path().join("logs").to_string_lossy().into_owned(),
        ),
        ("LOG_LEVEL".into(), "info".into()),
    ]);
    let (config, _) = Config::from_source(&vars).expect("config");
    let _logs = agentlocator::telemetry::init(&config.log, false).expect("telemetry");
    let server = Server::build(config).await.expect("server");
    let base = format!("http://127.0.0.1:{}{PATH}", server.port());
    // BENCH_NO_BUSINESS=1: every call hears "not in service" (one read, no
    // write): the cost of the stack without the call's writes.
    let with_business = std::env::var("BENCH_NO_BUSINESS").is_err();
    if with_business {
        business::create(
            &server.state().db,
            &agentlocator::domain::settings::BusinessName::parse("Bench Pizza").unwrap(),
            &PhoneNumber::parse(BUSINESS_PHONE).expect("phone"),
        )
        .await
        .expect("business");
    }
    tokio::spawn(server.run_until(std::future::pending()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    let total_secs = args.warmup_secs + args.secs;
    let warmup = Duration::from_secs(args.warmup_secs);
    let mode;
    let (samples, errors, measured, lateness) = match args.rate {
        Some(rate) => {
            mode = format!("open loop at {rate} req/s");
            let (samples, errors, measured, lateness) =
                open_loop(&client, &base, rate, total_secs, warmup).await;
            (samples, errors, measured, Some(lateness))
        }
        None => {
            mode = format!("closed loop, {} connections", args.concurrency);
            let (samples, errors, measured) =
                closed_loop(&client, &base, args.concurrency, total_secs, warmup).await;
            (samples, errors, measured, None)
        }
    };
    report(&args.db, &mode, samples, errors, measured, lateness);
}

type Samples = Vec<Duration>;

/// Per open-loop request: how late it left its slot, and its latency from
/// when it actually left.
type Lateness = Vec<(Duration, Duration)>;

/// What one open-loop request reports: its slot (from the start), its
/// latency from the slot, whether the answer was right, and how late the
/// sender got round to it.
type Sent = (Duration, Duration, bool, Duration);

async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    rate: u32,
    total_secs: u64,
    warmup: Duration,
) -> (Samples, usize, Duration, Lateness) {
    let n = rate as usize * total_secs as usize;
    let requests: Vec<(String, String)> = (0..n).map(request).collect();
    let interval = Duration::from_secs(1) / rate;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (body, signature)) in requests.into_iter().enumerate() {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let client = client.clone();
        let url = url.to_string();
        tasks.spawn(async move {
            // The request leaves now: anything past its slot is the sender's
            // (or the shared CPU's) delay, not the server's.
            let lateness = scheduled.elapsed();
            let ok = send(&client, &url, body, &signature).await;
            (scheduled - start, scheduled.elapsed(), ok, lateness)
        });
    }
    collect(tasks, warmup, Duration::from_secs(total_secs) - warmup).await
}

async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    total_secs: u64,
    warmup: Duration,
) -> (Samples, usize, Duration) {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(total_secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        let counter = counter.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < end {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (body, signature) = request(n);
                let sent = Instant::now();
                let ok = send(&client, &url, body, &signature).await;
                out.push((sent - start, sent.elapsed(), ok));
            }
            out
        });
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        for (at, took, ok) in done.expect("task") {
            if at >= warmup {
                samples.push(took);
                errors += usize::from(!ok);
            }
        }
    }
    (samples, errors, Duration::from_secs(total_secs) - warmup)
}

async fn send(client: &reqwest::Client, url: &str, body: String, signature: &str) -> bool {
    let res = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await;
    match res {
        Ok(r) => {
            let ok = r.status() == 200;
            let text = r.text().await.unwrap_or_default();
            ok && (text.contains("<Stream") || text.contains("<Hangup"))
        }
        Err(_) => false,
    }
}

async fn collect(
    mut tasks: tokio::task::JoinSet<Sent>,
    warmup: Duration,
    measured: Duration,
) -> (Samples, usize, Duration, Lateness) {
    let mut samples = Vec::new();
    let mut lateness = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (at, took, ok, late) = done.expect("task");
        if at >= warmup {
            samples.push(took);
            lateness.push((late, took.saturating_sub(late)));
            errors += usize::from(!ok);
        }
    }
    (samples, errors, measured, lateness)
}

/// The nearest-rank `p` quantile of sorted `samples`, ms (0 for none).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(
    db: &str,
    mode: &str,
    mut samples: Samples,
    errors: usize,
    measured: Duration,
    lateness: Option<Lateness>,
) {
    samples.sort_unstable();
    let pct = |p: f64| percentile_ms(&samples, p);
    eprintln!(
        "webhook_load: {db}, {mode}, {:.0} s measured",
        measured.as_secs_f64()
    );
    eprintln!(
        "  requests {}  errors {}  throughput {:.0} req/s",
        samples.len(),
        errors,
        samples.len() as f64 / measured.as_secs_f64()
    );
    eprintln!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    if let Some(lateness) = lateness {
        // The latency above counts from each slot, so it holds the sender's
        // own delay too (tokio's timer alone rounds every sleep up to the
        // next millisecond): with both figures a p99 can be split into the
        // server's part and the sender's.
        let (mut late, mut from_send): (Samples, Samples) = lateness.into_iter().unzip();
        late.sort_unstable();
        from_send.sort_unstable();
        let late = |p: f64| percentile_ms(&late, p);
        let sent = |p: f64| percentile_ms(&from_send, p);
        eprintln!(
            "  sender lateness ms: p50 {:.2}  p99 {:.2}  max {:.2}",
            late(0.50),
            late(0.99),
            late(1.0)
        );
        eprintln!(
            "  latency from the actual send ms: p50 {:.2}  p99 {:.2}  max {:.2}",
            sent(0.50),
            sent(0.99),
            sent(1.0)
        );
    }
}
