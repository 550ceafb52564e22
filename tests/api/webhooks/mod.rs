//! The Twilio webhooks over real HTTP: signatures, TwiML, the flag matrix,
//! database trouble, the recording fallback and status callbacks.

pub mod fakes;
mod fallback;
mod incoming;
mod property;
mod signature;
mod spool;
mod status;

use std::collections::BTreeMap;

use agentlocator::db::business::{self, Business};
use agentlocator::domain::PhoneNumber;
use agentlocator::domain::settings::AdminChange;
use serde_json::Value;

use crate::helpers::TestApp;

pub const TOKEN: &str = "test-primary-auth-token";
pub const SECONDARY: &str = "test-secondary-auth-token";
pub const PUBLIC: &str = "https://voice.example.test";
pub const BUSINESS_PHONE: &str = "+97235550001";
pub const CALLER: &str = "+972501234567";

/// A server configured to verify Twilio signatures.
pub async fn spawn() -> TestApp {
    TestApp::spawn_with(|v| {
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("TWILIO_AUTH_TOKEN_SECONDARY".into(), SECONDARY.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
    })
    .await
}

/// A server verifying signatures whose Twilio REST and speech-to-text
/// clients talk to `fakes`.
pub async fn spawn_with_fakes(fakes: &fakes::Fakes) -> TestApp {
    TestApp::spawn_with(|v| {
        v.extend(fakes.vars());
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
    })
    .await
}

/// A fresh call SID, unique across the test binary (logs are shared).
pub fn new_sid() -> String {
    format!("CA{}", uuid::Uuid::new_v4().simple())
}

pub fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The standard parameters of a voice request for `sid`.
pub fn call_params(sid: &str) -> Vec<(String, String)> {
    owned(&[
        ("CallSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", CALLER),
        ("To", BUSINESS_PHONE),
        ("CallStatus", "ringing"),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "inbound"),
    ])
}

/// The call's parameters once it is answered.
pub fn in_progress(sid: &str) -> Vec<(String, String)> {
    let mut p = call_params(sid);
    p[4].1 = "in-progress".into();
    p
}

/// What Twilio posts to `handle_recording` for `sid`'s recording at `url`.
pub fn recording_params(sid: &str, url: &str) -> Vec<(String, String)> {
    let mut p = in_progress(sid);
    p.push(("RecordingUrl".into(), url.into()));
    p.push(("RecordingDuration".into(), "7".into()));
    p
}

/// Signs as Twilio would for `path_and_query` on the public host.
pub fn sign(token: &str, path_and_query: &str, params: &[(String, String)]) -> String {
    twilio::signature::compute(token, &format!("{PUBLIC}{path_and_query}"), params)
}

/// POSTs a form with the given signature header (none when `None`).
pub async fn post_form(
    app: &TestApp,
    path_and_query: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> reqwest::Response {
    let body = serde_urlencoded::to_string(params).unwrap();
    let mut req = app
        .client
        .post(format!("{}{path_and_query}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(sig) = signature {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().await.expect("request")
}

/// POSTs a form signed with the primary token.
pub async fn post_signed(
    app: &TestApp,
    path_and_query: &str,
    params: &[(String, String)],
) -> reqwest::Response {
    let sig = sign(TOKEN, path_and_query, params);
    post_form(app, path_and_query, params, Some(&sig)).await
}

/// POSTs signed and returns the status and the parsed TwiML.
pub async fn twiml(app: &TestApp, path: &str, params: &[(String, String)]) -> (u16, Element) {
    let res = post_signed(app, path, params).await;
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.text().await.unwrap();
    assert!(
        content_type.starts_with("text/xml"),
        "{content_type}: {body}"
    );
    (status, parse(&body))
}

/// Answers a call and waits until its row is in the database: a loaded
/// machine can miss the webhook's budget and send the row to the spool, and
/// a test that then writes to the row directly would write to nothing.
pub async fn answered(app: &TestApp, sid: &str) {
    twiml(app, "/webhook/incoming_call", &call_params(sid)).await;
    settled(app).await;
}

/// Waits for what the webhooks so far left behind, and lands what a slow
/// database sent to the spool: after it, a row a webhook wrote can be read.
pub async fn settled(app: &TestApp) {
    app.state.background_settled().await;
    land_the_spool(app).await;
}

/// Lands whatever a slow database sent to the spool.
async fn land_the_spool(app: &TestApp) {
    let replay = app.state.spool.replay(&app.state.db).await;
    assert!(replay.stopped.is_none(), "{replay:?}");
}

/// Runs every job, retries included, with no backoff: a retry a server
/// worker scheduled for later, or a backstop queued for later, is brought
/// forward, three rounds and then round after round until none is left
/// queued (a chain such as transcription → outcome → a notification
/// failing twice takes as many rounds as the server's own workers ran of
/// it). Writes a slow database sent to the spool (a loaded machine can
/// miss a webhook's budget) are landed first, so their jobs run too.
pub async fn drain_all(app: &TestApp) {
    land_the_spool(app).await;
    let quick = agentlocator::jobs::WorkerOptions {
        backoff_base: std::time::Duration::ZERO,
        ..agentlocator::jobs::WorkerOptions::default()
    };
    for round in 0..MAX_DRAIN_ROUNDS {
        sqlx::query("UPDATE job SET run_at = $1 WHERE status = 'queued'")
            .bind("2000-01-01T00:00:00.000Z")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        // Also waits for the jobs a server worker holds.
        agentlocator::jobs::drain_with(&app.state, &quick)
            .await
            .unwrap();
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job WHERE status = 'queued'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        if queued == 0 && round + 1 >= MIN_DRAIN_ROUNDS {
            break;
        }
    }
}

/// Rounds always run, whatever is queued between them: a job queued just
/// after a round (by a task finishing beside it) still runs.
const MIN_DRAIN_ROUNDS: usize = 3;

/// More rounds than any job's attempts: a job that keeps coming back
/// cannot keep a test waiting for ever.
const MAX_DRAIN_ROUNDS: usize = 10;

/// Registers the business every test calls, and has the server's
/// directory learn it now. Created straight in the database, it would be
/// looked up there on the first call, and on a loaded machine that lookup
/// can miss the webhook's budget: the call is then served, by design,
/// without a business, and nothing the test expects of the business
/// (its row, its notifications) follows.
pub async fn business(app: &TestApp) -> Business {
    let created = business::create(
        &app.state.db,
        &agentlocator::domain::settings::BusinessName::parse("Pizza Tel Aviv").unwrap(),
        &PhoneNumber::parse(BUSINESS_PHONE).unwrap(),
    )
    .await
    .unwrap();
    let known = app
        .state
        .directory
        .by_phone(&app.state.db, BUSINESS_PHONE)
        .await
        .unwrap();
    assert_eq!(known.map(|b| b.id), Some(created.id));
    created
}

/// Sets the two call-handling flags of a business.
pub async fn set_flags(app: &TestApp, id: i64, stream: bool, fallback: bool) {
    let patch = AdminChange {
        enable_calls_stream: Some(stream),
        enable_recording_fallback: Some(fallback),
        ..AdminChange::default()
    };
    change_business(app, id, &patch).await;
}

/// Changes a business's settings as the admin API does (through the
/// directory, so this instance sees the change at once).
pub async fn change_business(app: &TestApp, id: i64, change: &AdminChange) {
    app.state
        .directory
        .update(&app.state.db, id, change)
        .await
        .unwrap()
        .unwrap();
}

/// The log lines of one call.
pub fn lines_for(app: &TestApp, sid: &str) -> Vec<Value> {
    app.logs
        .lines()
        .into_iter()
        .filter(|l| l["call_sid"] == sid || l["extra"]["claimed_call_sid"] == sid)
        .collect()
}

/// A TwiML element, as `twilio::twiml::read` gives it.
pub use twilio::twiml::Element;

/// Checks on an element, worded for the tests.
pub trait ElementExt {
    /// The names of its children, in order.
    fn names(&self) -> Vec<&str>;
    /// Asserts the exact attribute set.
    fn assert_attrs(&self, expected: &[(&str, &str)]);
}

impl ElementExt for Element {
    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }

    fn assert_attrs(&self, expected: &[(&str, &str)]) {
        let expected: BTreeMap<String, String> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(self.attrs, expected, "attributes of <{}>", self.name);
    }
}

/// Parses a TwiML document (with its declaration) into its root element.
pub fn parse(xml: &str) -> Element {
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "no XML declaration: {xml}"
    );
    let root = twilio::twiml::read(xml).expect("well-formed TwiML");
    assert_eq!(root.name, "Response");
    root
}
