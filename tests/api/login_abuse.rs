//! Login under attack: bursts that must not run more password checks than
//! the limits allow, limits shared through the database by every instance,
//! attackers who cannot lock the owner out from elsewhere, and which
//! address a request is counted against (`TRUSTED_PROXIES`).

use std::net::IpAddr;

use agentlocator::auth::password::CONCURRENT_CHECKS;
use agentlocator::auth::rate_limit::{self, LoginLimiter, Policy, Reserve};
use serde_json::json;

use crate::crm_support::{Answer, Fixture, PASSWORD, answer};
use crate::helpers::TestApp;

/// A client whose connections come from `local` (any 127.0.0.0/8 address
/// reaches the test server), so it is another address to the limiter.
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_with(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> Answer {
    let mut req = client
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    answer(req.send().await.expect("request")).await
}

fn retry_after(got: &Answer) -> u64 {
    got.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", got.text))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The addresses the limiter has counted attempts against.
async fn counted_addresses(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT DISTINCT address FROM login_attempt ORDER BY address")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

/// Moves every counted attempt to `at_ms`: the clock the limiter reads is
/// the wall clock, so tests move the rows instead of waiting.
async fn set_attempt_times(app: &TestApp, at_ms: i64) {
    sqlx::query("UPDATE login_attempt SET attempted_at_ms = $1")
        .bind(at_ms)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn three_hundred_concurrent_bad_logins_run_at_most_the_verifiers_at_once_and_few_checks_in_all()
 {
    let f = Fixture::spawn().await;
    let email = f.a.owner.email.clone();
    let guesses: Vec<String> = (0..300).map(|i| format!("guess {i}")).collect();
    let answers = futures::future::join_all(
        guesses
            .iter()
            .map(|guess| login_with(&f.app, &f.app.client, None, &email, guess)),
    )
    .await;

    let metrics = &f.app.state.metrics;
    let checked = metrics.password_checks_total.get();
    assert!(
        metrics.password_checks_peak() <= CONCURRENT_CHECKS as i64,
        "{} checks ran at once",
        metrics.password_checks_peak()
    );
    // Every check left a failure behind, and the pair holds only so many.
    assert!(
        (1..=Policy::default().per_pair as u64).contains(&checked),
        "{checked} passwords checked"
    );
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    let failed = answers.iter().filter(|a| a.status == 401).count();
    assert_eq!(
        refused.len() + failed,
        300,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(failed as u64, checked);
    assert!(refused.len() >= 295, "{} refused", refused.len());
    for got in refused {
        assert_eq!(got.code(), "too_many_requests");
        assert!(retry_after(got) >= 1);
    }

    // A guess that found every verifier busy did not count; whatever is
    // left of the pair's budget runs out, and then the attacking address is
    // refused even the right password …
    let left = Policy::default().per_pair as u64 - checked;
    for _ in 0..left {
        let got = login_with(&f.app, &f.app.client, None, &email, "guess").await;
        assert_eq!(got.status, 401, "{}", got.text);
    }
    let there = login_with(&f.app, &f.app.client, None, &email, PASSWORD).await;
    assert_eq!(there.status, 429, "{}", there.text);
    // … while the owner, elsewhere, logs in.
    let elsewhere = login_with(&f.app, &client_from("127.0.0.2"), None, &email, PASSWORD).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
}

#[tokio::test]
async fn the_right_password_from_another_address_logs_in_while_the_guessing_address_is_refused() {
    let f = Fixture::spawn().await;
    let attacker = client_from("127.0.0.3");
    let email = &f.a.owner.email;
    for _ in 0..5 {
        let got = login_with(&f.app, &attacker, None, email, "guess").await;
        assert_eq!(got.status, 401, "{}", got.text);
    }
    let refused = login_with(&f.app, &attacker, None, email, PASSWORD).await;
    assert_eq!(refused.status, 429);
    let owner = client_from("127.0.0.4");
    let got = login_with(&f.app, &owner, None, email, PASSWORD).await;
    assert_eq!(got.status, 200, "{}", got.text);
    // The owner's success does not give the attacker a fresh budget.
    assert_eq!(
        login_with(&f.app, &attacker, None, email, PASSWORD)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn failures_counted_by_one_instance_hold_at_another_sharing_the_database() {
    let f = Fixture::spawn().await;
    let url = f.app.database_url.clone();
    let other = TestApp::spawn_with(|vars| {
        vars.insert("DATABASE_URL".into(), url);
    })
    .await;
    for _ in 0..5 {
        let got = login_with(&f.app, &f.app.client, None, &f.a.owner.email, "guess").await;
        assert_eq!(got.status, 401);
    }
    let got = login_with(&other, &other.client, None, &f.a.owner.email, PASSWORD).await;
    assert_eq!(got.status, 429, "{}", got.text);
    assert!(retry_after(&got) >= 1);
}

#[tokio::test]
async fn an_account_guessed_at_from_many_addresses_is_slowed_ever_more_but_never_locked() {
    let f = Fixture::spawn_with(|vars| {
        vars.insert("TRUSTED_PROXIES".into(), "127.0.0.1".into());
    })
    .await;
    let app = &f.app;
    let email = &f.a.owner.email;
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let mut addresses = (1..).map(|i| format!("203.0.113.{i}"));
    let mut guess_from_a_new_address = async || {
        let from = addresses.next().unwrap();
        login_with(app, &app.client, Some(&from), email, &wrong).await
    };
    for _ in 0..10 {
        assert_eq!(guess_from_a_new_address().await.status, 401);
    }
    // Past ten failures, each next attempt waits twice as long after the
    // latest one, whichever address it comes from.
    let mut waits = Vec::new();
    for _ in 0..3 {
        set_attempt_times(app, rate_limit::now_ms()).await;
        let slowed = guess_from_a_new_address().await;
        assert_eq!(slowed.status, 429, "{}", slowed.text);
        waits.push(retry_after(&slowed));
        // Once that wait has passed, one more guess is let through.
        set_attempt_times(app, rate_limit::now_ms() - 60_000).await;
        assert_eq!(guess_from_a_new_address().await.status, 401);
    }
    assert_eq!(waits, [1, 2, 4]);
    let warned = app.logs.lines().into_iter().any(|l| {
        l["level"] == "WARN"
            && l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("login slowed"))
            && l["extra"]["user_id"] == f.a.owner.id
            && l["extra"]["failures"] == 12
    });
    assert!(warned, "no WARN naming the user");
    assert!(
        app.logs
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|l| !l.contains(&wrong)),
        "a password reached the log"
    );

    // Never a lock: once the failures leave the window, the owner is in.
    let window_ms = Policy::default().window.as_millis() as i64;
    set_attempt_times(app, rate_limit::now_ms() - window_ms - 1).await;
    let owner = login_with(app, &app.client, Some("198.51.100.1"), email, PASSWORD).await;
    assert_eq!(owner.status, 200, "{}", owner.text);
}

#[tokio::test]
async fn x_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() {
    let f = Fixture::spawn_with(|vars| {
        vars.insert("TRUSTED_PROXIES".into(), "10.0.0.0/8".into());
    })
    .await;
    let email = &f.a.owner.email;
    for i in 1..=5 {
        let forged = format!("198.51.100.{i}");
        let got = login_with(&f.app, &f.app.client, Some(&forged), email, "guess").await;
        assert_eq!(got.status, 401);
    }
    let got = login_with(
        &f.app,
        &f.app.client,
        Some("198.51.100.99"),
        email,
        PASSWORD,
    )
    .await;
    assert_eq!(got.status, 429, "{}", got.text);
    assert_eq!(counted_addresses(&f.app).await, ["127.0.0.1"]);
}

#[tokio::test]
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client_by_its_right_most_untrusted_entry() {
    let f = Fixture::spawn_with(|vars| {
        vars.insert("TRUSTED_PROXIES".into(), "127.0.0.0/8, 10.0.0.0/8".into());
    })
    .await;
    let email = &f.a.owner.email;
    for i in 1..=5 {
        // The client forges the left-most entry; our proxy 10.0.0.1 saw
        // 203.0.113.7 and the one in front of the server saw 10.0.0.1.
        let chain = format!("192.0.2.{i}, 203.0.113.7, 10.0.0.1");
        let got = login_with(&f.app, &f.app.client, Some(&chain), email, "guess").await;
        assert_eq!(got.status, 401);
    }
    assert_eq!(counted_addresses(&f.app).await, ["203.0.113.7"]);
    let same = login_with(&f.app, &f.app.client, Some("203.0.113.7"), email, PASSWORD).await;
    assert_eq!(same.status, 429, "{}", same.text);
    let other = login_with(&f.app, &f.app.client, Some("198.51.100.9"), email, PASSWORD).await;
    assert_eq!(other.status, 200, "{}", other.text);
}

#[tokio::test]
async fn concurrent_reservations_for_one_pair_grant_exactly_its_limit_and_record_nothing_else() {
    let app = TestApp::spawn().await;
    let limiter = LoginLimiter::default();
    let db = &app.state.db;
    let ip = Some("192.0.2.1".parse().unwrap());
    let now = rate_limit::now_ms();
    let outcomes = futures::future::join_all(
        (0..50).map(|_| limiter.reserve(db, "owner@example.co.il", ip, now)),
    )
    .await;
    let granted = outcomes
        .into_iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Reserve::Granted(_)))
        .count();
    let limit = Policy::default().per_pair as usize;
    assert_eq!(granted, limit);
    let next = limiter
        .reserve(db, " OWNER@example.co.il", ip, now)
        .await
        .unwrap();
    assert!(matches!(next, Reserve::Refused(_)), "{next:?}");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempt")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows as usize, limit);
}
