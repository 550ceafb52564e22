//! A user's own account (password change, sessions) and the admin's user
//! management: who is signed out when, and what nobody else may touch.

use serde_json::{Value, json};

use crate::crm_support::{Answer, Api, Fixture, PASSWORD, mint_session};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn login(f: &Fixture, email: &str, password: &str) -> Answer {
    f.anonymous()
        .post(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
}

async fn change_password(api: &Api, current: &str, new: &str) -> Answer {
    api.post(
        "/api/auth/password",
        &json!({"current_password": current, "new_password": new}),
    )
    .await
}

/// The ids of the sessions `api`'s user sees, and which one is current.
async fn session_ids(api: &Api) -> (Vec<i64>, i64) {
    let got = api.get("/api/auth/sessions").await;
    assert_eq!(got.status, 200, "{}", got.text);
    let items = got.json.as_array().unwrap();
    let ids = items.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    let current: Vec<i64> = items
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        current.len(),
        1,
        "exactly one current session: {}",
        got.text
    );
    (ids, current[0])
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_signs_out_the_others_and_only_the_new_password_logs_in()
 {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let other = mint_session(&f.app, f.a.owner.id, time::Duration::hours(1)).await;
    let other = Api::new(&f.app, Some(&other));

    let changed = change_password(&owner, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status, 204, "{}", changed.text);

    assert_eq!(owner.get("/api/auth/me").await.status, 200);
    assert_eq!(other.get("/api/auth/me").await.status, 401);
    assert_eq!(login(&f, &f.a.owner.email, PASSWORD).await.status, 401);
    assert_eq!(login(&f, &f.a.owner.email, NEW_PASSWORD).await.status, 200);
    // Another user of the same business keeps their password and session.
    assert_eq!(f.api(&f.a.agent).get("/api/auth/me").await.status, 200);
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_counted_like_a_failed_login() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    for _ in 0..5 {
        let got = change_password(&owner, "a guessed password", NEW_PASSWORD).await;
        assert_eq!(got.status, 403, "{}", got.text);
        assert_eq!(
            got.json["error"]["message"],
            "the current password is wrong"
        );
    }
    // The guesses used up this address's attempts at the account: even the
    // right password now waits, on this route and at login.
    let locked = change_password(&owner, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert!(locked.header("retry-after").is_some());
    assert_eq!(login(&f, &f.a.owner.email, PASSWORD).await.status, 429);
    // Nothing changed, and the session that guessed is still signed in.
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM app_user WHERE id = $1")
        .bind(f.a.owner.id)
        .fetch_one(&f.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, crate::crm_support::password_hash());
    assert_eq!(owner.get("/api/auth/me").await.status, 200);
    assert_eq!(login(&f, &f.b.owner.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_short_or_unchanged_new_password_is_refused_before_anything_is_checked() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let short = change_password(&owner, PASSWORD, "short").await;
    assert_eq!(short.status, 422, "{}", short.text);
    assert!(short.text.contains("new_password"), "{}", short.text);
    let same = change_password(&owner, PASSWORD, PASSWORD).await;
    assert_eq!(same.status, 422, "{}", same.text);
    let missing = owner
        .post("/api/auth/password", &json!({"new_password": NEW_PASSWORD}))
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    let anonymous = change_password(&f.anonymous(), PASSWORD, NEW_PASSWORD).await;
    assert_eq!(anonymous.status, 401);
    // None of those counted as a guess or changed anything.
    assert_eq!(login(&f, &f.a.owner.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_user_sees_only_their_own_live_sessions_with_the_current_one_marked_and_no_token() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let second = mint_session(&f.app, f.a.owner.id, time::Duration::hours(1)).await;
    let expired = mint_session(&f.app, f.a.owner.id, time::Duration::seconds(-1)).await;
    let logged_out = mint_session(&f.app, f.a.owner.id, time::Duration::hours(1)).await;
    let logged_out_api = Api::new(&f.app, Some(&logged_out));
    assert_eq!(
        logged_out_api
            .send("POST", "/api/auth/logout", None)
            .await
            .status,
        204
    );

    let got = owner.get("/api/auth/sessions").await;
    assert_eq!(got.status, 200, "{}", got.text);
    let items = got.json.as_array().unwrap();
    assert_eq!(items.len(), 2, "the minted and the second: {}", got.text);
    for item in items {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "current", "expires_at", "id"]);
    }
    let (_, current) = session_ids(&owner).await;
    let (second_ids, second_current) = session_ids(&Api::new(&f.app, Some(&second))).await;
    assert_ne!(current, second_current);
    assert!(second_ids.contains(&current));
    for secret in [&f.a.owner.token, &second, &expired, &logged_out] {
        assert!(!got.text.contains(secret.as_str()));
    }
    // The other business's owner sees only their own.
    let (b_ids, _) = session_ids(&f.api(&f.b.owner)).await;
    assert_eq!(b_ids.len(), 1);
    assert!(!b_ids.contains(&current));
}

#[tokio::test]
async fn a_user_revokes_their_own_session_but_another_users_session_is_not_found() {
    let f = Fixture::spawn().await;
    let owner = f.api(&f.a.owner);
    let phone = mint_session(&f.app, f.a.owner.id, time::Duration::hours(1)).await;
    let phone = Api::new(&f.app, Some(&phone));
    let (_, phone_id) = session_ids(&phone).await;

    let revoked = owner
        .send("DELETE", &format!("/api/auth/sessions/{phone_id}"), None)
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_eq!(phone.get("/api/auth/me").await.status, 401);
    assert_eq!(owner.get("/api/auth/me").await.status, 200);
    let again = owner
        .send("DELETE", &format!("/api/auth/sessions/{phone_id}"), None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.code(), "not_found");

    let b_owner = f.api(&f.b.owner);
    let (_, b_session) = session_ids(&b_owner).await;
    for someone_else in [&owner, &f.api(&f.admin)] {
        let got = someone_else
            .send("DELETE", &format!("/api/auth/sessions/{b_session}"), None)
            .await;
        assert_eq!(got.status, 404, "{}", got.text);
    }
    assert_eq!(b_owner.get("/api/auth/me").await.status, 200);
}

#[tokio::test]
async fn an_admin_deactivates_a_user_at_once_and_reactivating_does_not_revive_old_sessions() {
    let f = Fixture::spawn().await;
    let admin = f.api(&f.admin);
    let agent = f.api(&f.a.agent);
    let path = format!("/api/admin/users/{}", f.a.agent.id);

    let off = admin.patch(&path, &json!({"active": false})).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.json["active"], false);
    assert_eq!(off.json["id"], f.a.agent.id);
    assert_eq!(agent.get("/api/auth/me").await.status, 401);
    assert_eq!(login(&f, &f.a.agent.email, PASSWORD).await.status, 401);

    let on = admin.patch(&path, &json!({"active": true})).await;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(on.json["active"], true);
    assert_eq!(agent.get("/api/auth/me").await.status, 401);
    assert_eq!(login(&f, &f.a.agent.email, PASSWORD).await.status, 200);
    // The owner of the same business was never touched.
    assert_eq!(f.api(&f.a.owner).get("/api/auth/me").await.status, 200);
}

#[tokio::test]
async fn only_admins_change_users_and_never_themselves_or_anything_but_active() {
    let f = Fixture::spawn().await;
    let admin = f.api(&f.admin);
    let agent_path = format!("/api/admin/users/{}", f.a.agent.id);
    let off = json!({"active": false});
    assert_eq!(f.api(&f.a.owner).patch(&agent_path, &off).await.status, 403);
    assert_eq!(f.anonymous().patch(&agent_path, &off).await.status, 401);
    let unknown = admin.patch("/api/admin/users/999999", &off).await;
    assert_eq!(unknown.status, 404);
    let myself = admin
        .patch(&format!("/api/admin/users/{}", f.admin.id), &off)
        .await;
    assert_eq!(myself.status, 409, "{}", myself.text);
    assert_eq!(myself.code(), "conflict");
    let promote = admin
        .patch(&agent_path, &json!({"active": true, "role": "admin"}))
        .await;
    assert_eq!(promote.status, 400, "{}", promote.text);
    assert_eq!(
        f.api(&f.a.agent).get("/api/auth/me").await.json["user"]["role"],
        "agent"
    );
    assert_eq!(admin.get("/api/auth/me").await.status, 200);
}

#[tokio::test]
async fn admins_list_every_user_without_any_password_hash() {
    let f = Fixture::spawn().await;
    let got = f.api(&f.admin).get("/api/admin/users").await;
    assert_eq!(got.status, 200, "{}", got.text);
    let ids: Vec<i64> = got
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    for id in [
        f.admin.id,
        f.a.owner.id,
        f.a.agent.id,
        f.b.owner.id,
        f.b.agent.id,
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(!got.text.contains("password"), "{}", got.text);
    assert!(!got.text.contains("argon2"), "{}", got.text);
    assert_eq!(f.api(&f.a.owner).get("/api/admin/users").await.status, 403);
    assert_eq!(
        f.anonymous().get("/api/admin/users").await.json["error"]["code"],
        Value::from("unauthorized")
    );
}
