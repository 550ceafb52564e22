//! Login, logout and sessions: tokens that work, expire and are revoked;
//! failures that never say which of email or password was wrong; the login
//! rate limits; and the `user create` command that bootstraps users.

use std::io::Write as _;
use std::process::{Command, Stdio};

use agentlocator::auth::Role;
use serde_json::json;

use crate::crm_support::{Api, Fixture, PASSWORD, create_user, mint_session};
use crate::helpers::TestApp;

async fn login(api: &Api, email: &str, password: &str) -> crate::crm_support::Answer {
    api.post(
        "/api/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn login_returns_a_bearer_token_that_identifies_the_user_and_their_business() {
    let f = Fixture::spawn().await;
    let anon = f.anonymous();
    let got = login(&anon, &f.a.owner.email.to_uppercase(), PASSWORD).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["token_type"], "Bearer");
    assert_eq!(got.json["user"]["role"], "owner");
    assert!(got.json["user"].get("password_hash").is_none());
    let token = got.json["token"].as_str().unwrap();
    let me = Api::new(&f.app, Some(token)).get("/api/auth/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["user"]["id"], f.a.owner.id);
    assert_eq!(me.json["business"]["id"], f.a.business.id);
    // Only the token's hash is stored.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_session WHERE token_hash = $1")
        .bind(token)
        .fetch_one(&f.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let f = Fixture::spawn().await;
    let anon = f.anonymous();
    let wrong_password = login(&anon, &f.a.owner.email, "not the password").await;
    let unknown_email = login(&anon, "nobody@example.co.il", PASSWORD).await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(wrong_password.text, unknown_email.text);
    assert_eq!(
        wrong_password.json["error"]["message"],
        "invalid email or password"
    );
}

#[tokio::test]
async fn malformed_login_requests_get_400_in_the_envelope() {
    let app = TestApp::spawn().await;
    let anon = Api::new(&app, None);
    let missing = anon
        .post("/api/auth/login", &json!({"email": "a@b.il"}))
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.code(), "bad_request");
    let garbage = anon
        .post_raw("/api/auth/login", "application/json", b"{nope".to_vec())
        .await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.code(), "bad_request");
}

#[tokio::test]
async fn missing_malformed_expired_and_revoked_tokens_are_all_401() {
    let f = Fixture::spawn().await;
    let me = "/api/auth/me";
    assert_eq!(f.anonymous().get(me).await.status, 401);
    assert_eq!(
        Api::new(&f.app, Some("not-a-token")).get(me).await.status,
        401
    );
    let res = f
        .app
        .client
        .get(format!("{}{me}", f.app.base))
        .header("authorization", format!("Basic {}", f.a.owner.token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let expired = mint_session(&f.app, f.a.owner.id, time::Duration::seconds(-1)).await;
    let got = Api::new(&f.app, Some(&expired)).get(me).await;
    assert_eq!(got.status, 401);
    assert_eq!(got.code(), "unauthorized");

    let owner = f.api(&f.a.owner);
    assert_eq!(owner.get(me).await.status, 200);
    assert_eq!(
        owner.send("POST", "/api/auth/logout", None).await.status,
        204
    );
    assert_eq!(owner.get(me).await.status, 401);
    assert_eq!(
        owner.send("POST", "/api/auth/logout", None).await.status,
        401
    );
    // Other sessions of the same user are untouched.
    let other = mint_session(&f.app, f.a.owner.id, time::Duration::hours(1)).await;
    assert_eq!(Api::new(&f.app, Some(&other)).get(me).await.status, 200);
}

#[tokio::test]
async fn deactivated_users_and_businesses_can_neither_log_in_nor_act() {
    let f = Fixture::spawn().await;
    let anon = f.anonymous();
    sqlx::query("UPDATE app_user SET active = $1 WHERE id = $2")
        .bind(false)
        .bind(f.a.agent.id)
        .execute(&f.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(f.api(&f.a.agent).get("/api/crm/business").await.status, 401);
    let got = login(&anon, &f.a.agent.email, PASSWORD).await;
    assert_eq!(got.status, 401);
    assert_eq!(got.json["error"]["message"], "invalid email or password");

    let off = f
        .api(&f.admin)
        .patch(
            &format!("/api/admin/businesses/{}", f.a.business.id),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.json["active"], false);
    assert_eq!(f.api(&f.a.owner).get("/api/crm/business").await.status, 401);
    assert_eq!(login(&anon, &f.a.owner.email, PASSWORD).await.status, 401);
    // The other business is unaffected.
    assert_eq!(f.api(&f.b.owner).get("/api/crm/business").await.status, 200);
}

#[tokio::test]
async fn five_failures_from_one_address_lock_the_account_there_even_for_the_right_password_with_retry_after()
 {
    let f = Fixture::spawn().await;
    let anon = f.anonymous();
    for _ in 0..5 {
        assert_eq!(login(&anon, &f.a.owner.email, "guess").await.status, 401);
    }
    let locked = login(&anon, &f.a.owner.email, PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert_eq!(locked.code(), "too_many_requests");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    // Another account from the same address still logs in.
    assert_eq!(login(&anon, &f.b.owner.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn twenty_failures_from_one_address_lock_every_account_from_it() {
    let f = Fixture::spawn().await;
    let anon = f.anonymous();
    for i in 0..20 {
        let got = login(&anon, &format!("nobody{i}@example.co.il"), "guess").await;
        assert_eq!(got.status, 401);
    }
    let got = login(&anon, &f.b.owner.email, PASSWORD).await;
    assert_eq!(got.status, 429, "{}", got.text);
    assert!(got.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_successful_login_resets_the_accounts_failure_count() {
    let f = Fixture::spawn().await;
    let anon = f.anonymous();
    for _ in 0..4 {
        login(&anon, &f.a.owner.email, "guess").await;
    }
    assert_eq!(login(&anon, &f.a.owner.email, PASSWORD).await.status, 200);
    for _ in 0..4 {
        login(&anon, &f.a.owner.email, "guess").await;
    }
    assert_eq!(login(&anon, &f.a.owner.email, PASSWORD).await.status, 200);
}

fn user_create(database_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .arg("user")
        .arg("create")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("AGENTLOCATOR_PASSWORD")
        .env("LOG_DIR", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_the_user_can_log_in() {
    let f = Fixture::spawn().await;
    let url = f.app.database_url.clone();
    let business = f.a.business.id.to_string();
    let out = tokio::task::spawn_blocking(move || {
        user_create(
            &url,
            &[
                "--email",
                "New.Owner@Example.co.il",
                "--role",
                "owner",
                "--business",
                &business,
            ],
            "a long enough password\n",
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed["id"].as_i64().is_some(), "{printed}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("a long enough password"));

    let got = login(
        &f.anonymous(),
        "new.owner@example.co.il",
        "a long enough password",
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["user"]["business_id"], f.a.business.id);
}

#[tokio::test]
async fn user_create_refuses_a_password_argument_roles_without_their_business_and_short_passwords()
{
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let outs = tokio::task::spawn_blocking(move || {
        [
            user_create(
                &url,
                &[
                    "--email",
                    "a@x.il",
                    "--role",
                    "admin",
                    "--password",
                    "secret-secret",
                ],
                "",
            ),
            user_create(
                &url,
                &["--email", "a@x.il", "--role", "owner"],
                "long password here\n",
            ),
            user_create(
                &url,
                &["--email", "a@x.il", "--role", "admin", "--business", "1"],
                "long password here\n",
            ),
            user_create(&url, &["--email", "a@x.il", "--role", "admin"], "short\n"),
            user_create(
                &url,
                &["--email", "a@x.il", "--role", "root"],
                "long password here\n",
            ),
        ]
    })
    .await
    .unwrap();
    for out in &outs {
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_user")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    // The role is admin-only on admin routes: an owner created directly is not one.
    let owner_business = agentlocator::db::business::create(
        &app.state.db,
        &agentlocator::domain::settings::BusinessName::parse("Solo").unwrap(),
        &agentlocator::domain::PhoneNumber::parse("+97235550999").unwrap(),
    )
    .await
    .unwrap();
    let owner = create_user(&app, Role::Owner, Some(owner_business.id)).await;
    let got = Api::new(&app, Some(&owner.token))
        .get("/api/admin/businesses")
        .await;
    assert_eq!(got.status, 403);
}
