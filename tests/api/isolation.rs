//! The isolation matrix: every `/api` endpoint × admin, owner, agent,
//! anonymous × an object of the caller's own business and of another one.
//! Each cell pins the status, and no answer to a tenant may carry a string
//! that belongs to the other tenant.

use serde_json::{Value, json};

use crate::crm_support::{Api, Fixture, Tenancy};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Admin,
    Owner,
    Agent,
    Anonymous,
}

const EVERYONE: [Who; 4] = [Who::Admin, Who::Owner, Who::Agent, Who::Anonymous];

/// One endpoint, aimed at the caller's own business's object or another's,
/// and the status each caller must get.
struct Case {
    method: &'static str,
    /// `{customer}`, `{call}`, `{business}` and `{owner}` are filled with
    /// ids of the targeted tenant; `{session}` with a fresh session of the
    /// caller (own) or of the other tenant's owner (other).
    path: &'static str,
    body: Option<Value>,
    /// Statuses for admin, owner, agent, anonymous.
    own: [u16; 4],
    other: [u16; 4],
    /// Admin-only routes that list every tenant by design.
    admin_sees_all: bool,
}

fn case(
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    own: [u16; 4],
    other: [u16; 4],
) -> Case {
    Case {
        method,
        path,
        body,
        own,
        other,
        admin_sees_all: false,
    }
}

fn cases() -> Vec<Case> {
    let patch_customer = json!({"notes": "called back"});
    let pay = json!({"amount_agorot": 1500, "currency": "ILS", "provider": "paypal",
                     "description": "haircut", "customer_id": "{customer}"});
    vec![
        case(
            "GET",
            "/api/auth/me",
            None,
            [200, 200, 200, 401],
            [200, 200, 200, 401],
        ),
        case(
            "GET",
            "/api/crm/business",
            None,
            [200, 200, 200, 401],
            [200, 200, 200, 401],
        ),
        case(
            "PATCH",
            "/api/crm/business",
            Some(json!({"greeting": "שלום, הגעתם"})),
            [200, 200, 403, 401],
            [200, 200, 403, 401],
        ),
        case(
            "GET",
            "/api/crm/customers",
            None,
            [200, 200, 200, 401],
            [200, 200, 200, 401],
        ),
        case(
            "GET",
            "/api/crm/customers/{customer}",
            None,
            [200, 200, 200, 401],
            [404, 404, 404, 401],
        ),
        case(
            "PATCH",
            "/api/crm/customers/{customer}",
            Some(patch_customer),
            [200, 200, 403, 401],
            [404, 404, 403, 401],
        ),
        case(
            "GET",
            "/api/crm/customers/{customer}/calls",
            None,
            [200, 200, 200, 401],
            [404, 404, 404, 401],
        ),
        case(
            "GET",
            "/api/crm/calls",
            None,
            [200, 200, 200, 401],
            [200, 200, 200, 401],
        ),
        case(
            "GET",
            "/api/crm/calls/{call}",
            None,
            [200, 200, 200, 401],
            [404, 404, 404, 401],
        ),
        case(
            "GET",
            "/api/crm/followups",
            None,
            [200, 200, 200, 401],
            [200, 200, 200, 401],
        ),
        // Agents may mark a follow-up done too: the one who called back knows.
        case(
            "POST",
            "/api/crm/calls/{call}/followup",
            Some(json!({"status": "done", "note": "חזרנו אליו"})),
            [200, 200, 200, 401],
            [404, 404, 404, 401],
        ),
        case(
            "POST",
            "/api/crm/payments/create",
            Some(pay),
            [200, 200, 403, 401],
            [404, 404, 403, 401],
        ),
        case(
            "POST",
            "/api/crm/payments/create-intent",
            Some(json!({"amount": 100})),
            [410, 410, 410, 410],
            [410, 410, 410, 410],
        ),
        Case {
            admin_sees_all: true,
            ..case(
                "GET",
                "/api/admin/businesses",
                None,
                [200, 403, 403, 401],
                [200, 403, 403, 401],
            )
        },
        Case {
            admin_sees_all: true,
            ..case(
                "POST",
                "/api/admin/businesses",
                Some(json!({"name": "New place", "phone_number": "{phone}"})),
                [201, 403, 403, 401],
                [201, 403, 403, 401],
            )
        },
        Case {
            admin_sees_all: true,
            ..case(
                "GET",
                "/api/admin/businesses/{business}",
                None,
                [200, 403, 403, 401],
                [200, 403, 403, 401],
            )
        },
        Case {
            admin_sees_all: true,
            ..case(
                "PATCH",
                "/api/admin/businesses/{business}",
                Some(json!({"voice": "he-IL-Wavenet-B"})),
                [200, 403, 403, 401],
                [200, 403, 403, 401],
            )
        },
        case(
            "POST",
            "/api/auth/logout",
            None,
            [204, 204, 204, 401],
            [204, 204, 204, 401],
        ),
        case(
            "GET",
            "/api/auth/sessions",
            None,
            [200, 200, 200, 401],
            [200, 200, 200, 401],
        ),
        case(
            "DELETE",
            "/api/auth/sessions/{session}",
            None,
            [204, 204, 204, 401],
            [404, 404, 404, 401],
        ),
        // Refused before any password is checked, so the matrix neither
        // changes a password nor counts a guess.
        case(
            "POST",
            "/api/auth/password",
            Some(json!({"current_password": "whatever it is", "new_password": "short"})),
            [422, 422, 422, 401],
            [422, 422, 422, 401],
        ),
        Case {
            admin_sees_all: true,
            ..case(
                "GET",
                "/api/admin/users",
                None,
                [200, 403, 403, 401],
                [200, 403, 403, 401],
            )
        },
        Case {
            admin_sees_all: true,
            ..case(
                "PATCH",
                "/api/admin/users/{owner}",
                Some(json!({"active": true})),
                [200, 403, 403, 401],
                [200, 403, 403, 401],
            )
        },
    ]
}

/// The id of the session a token opened.
async fn session_id(f: &Fixture, token: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM api_session WHERE token_hash = $1")
        .bind(agentlocator::auth::token::hash_token(token))
        .fetch_one(&f.app.state.db.pool)
        .await
        .unwrap()
}

fn fill(text: &str, t: &Tenancy) -> String {
    text.replace("{customer}", &t.customer_id.to_string())
        .replace("{call}", &t.call_id.to_string())
        .replace("{business}", &t.business.id.to_string())
        .replace("{owner}", &t.owner.id.to_string())
        .replace("{phone}", &crate::crm_support::random_phone())
}

fn fill_body(body: &Value, t: &Tenancy) -> Value {
    let customer = t.customer_id;
    let text = fill(&body.to_string(), t);
    // A placeholder that stood for a number must become a number.
    let text = text.replace(&format!("\"{customer}\""), &customer.to_string());
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn every_endpoint_answers_each_role_for_own_and_other_business_and_never_leaks_the_other_tenant()
 {
    let f = Fixture::spawn_with(|v| {
        v.insert("PAYPAL_CLIENT_ID".into(), "test-id".into());
        v.insert("PAYPAL_SECRET".into(), "test-secret".into());
    })
    .await;
    // Payments on for both, so a 403 can only mean "agent" and a 404 "not yours".
    f.set_flags(f.a.business.id, true, false).await;
    f.set_flags(f.b.business.id, true, false).await;
    // Both calls in the owners' inboxes, so a list that leaked would show B's.
    open_follow_ups(&f).await;
    let foreign = f.b.markers();

    let mut failures = Vec::new();
    for case in cases() {
        for (target_is_own, expected) in [(true, case.own), (false, case.other)] {
            let t = if target_is_own { &f.a } else { &f.b };
            for (who, want) in EVERYONE.into_iter().zip(expected) {
                let user_id = match who {
                    Who::Admin => Some(f.admin.id),
                    Who::Owner => Some(f.a.owner.id),
                    Who::Agent => Some(f.a.agent.id),
                    Who::Anonymous => None,
                };
                let fresh_session = |user_id| {
                    crate::crm_support::mint_session(&f.app, user_id, time::Duration::hours(1))
                };
                // Logout revokes: give it a fresh session each time.
                let api = match user_id {
                    Some(id) if case.path == "/api/auth/logout" => {
                        Api::new(&f.app, Some(&fresh_session(id).await))
                    }
                    Some(_) => f.api(match who {
                        Who::Admin => &f.admin,
                        Who::Owner => &f.a.owner,
                        _ => &f.a.agent,
                    }),
                    None => f.anonymous(),
                };
                let mut path = fill(case.path, t);
                if path.contains("{session}") {
                    let holder = match user_id {
                        Some(id) if target_is_own => id,
                        _ => f.b.owner.id,
                    };
                    let token = fresh_session(holder).await;
                    let id = session_id(&f, &token).await;
                    path = path.replace("{session}", &id.to_string());
                }
                // Admins act for business A on tenant routes, like an owner of A.
                if who == Who::Admin && path.starts_with("/api/crm/") {
                    path = format!("{path}?business_id={}", f.a.business.id);
                }
                let body = case.body.as_ref().map(|b| fill_body(b, t));
                let got = api.send(case.method, &path, body.as_ref()).await;
                let cell = format!(
                    "{} {} as {who:?} ({}): want {want}, got {} {}",
                    case.method,
                    path,
                    if target_is_own { "own" } else { "other" },
                    got.status,
                    got.text
                );
                if got.status != want {
                    failures.push(cell.clone());
                }
                if got.status >= 400 && got.code().is_empty() {
                    failures.push(format!("no error envelope: {cell}"));
                }
                let may_see_b = who == Who::Admin && case.admin_sees_all;
                if !may_see_b {
                    for m in &foreign {
                        if got.text.contains(m.as_str()) {
                            failures.push(format!("leaked {m:?}: {cell}"));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing the matrix sent changed the other tenant.
    let b = agentlocator::db::business::get(&f.app.state.db, f.b.business.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.greeting, None);
    let notes: Option<String> = sqlx::query_scalar("SELECT notes FROM customer WHERE id = $1")
        .bind(f.b.customer_id)
        .fetch_one(&f.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(notes, Some(format!("secret note of {}", f.b.business.name)));
    let b_payments: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment WHERE business_id = $1")
        .bind(f.b.business.id)
        .fetch_one(&f.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(b_payments, 0);
    let b_follow_up: String =
        sqlx::query_scalar("SELECT follow_up_status FROM call_log WHERE id = $1")
            .bind(f.b.call_id)
            .fetch_one(&f.app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(b_follow_up, "open", "B's follow-up was never touched");
}

/// Puts both tenants' calls in their follow-up inboxes, as an outcome with
/// `follow_up` would.
async fn open_follow_ups(f: &Fixture) {
    sqlx::query("UPDATE call_log SET follow_up_status = 'open'")
        .execute(&f.app.state.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn lists_show_only_the_callers_own_customers_and_calls() {
    let f = Fixture::spawn().await;
    for person in [&f.a.owner, &f.a.agent] {
        let api = f.api(person);
        let customers = api.get("/api/crm/customers").await;
        assert_eq!(customers.json["total"], 1);
        assert_eq!(customers.json["items"][0]["id"], f.a.customer_id);
        let calls = api.get("/api/crm/calls").await;
        assert_eq!(calls.json["total"], 1);
        assert_eq!(calls.json["items"][0]["call_sid"], f.a.call_sid.as_str());
        // A filter naming the other tenant's customer finds nothing.
        let other = api
            .get(&format!("/api/crm/calls?customer_id={}", f.b.customer_id))
            .await;
        assert_eq!(other.json["total"], 0);
    }
}

#[tokio::test]
async fn the_follow_up_inbox_shows_only_the_callers_own_calls() {
    let f = Fixture::spawn().await;
    open_follow_ups(&f).await;
    for person in [&f.a.owner, &f.a.agent] {
        let inbox = f.api(person).get("/api/crm/followups").await;
        assert_eq!(inbox.status, 200, "{}", inbox.text);
        assert_eq!(inbox.json["total"], 1, "{}", inbox.text);
        assert_eq!(inbox.json["items"][0]["id"], f.a.call_id);
        for m in f.b.markers() {
            assert!(!inbox.text.contains(m.as_str()), "leaked {m:?}");
        }
    }
    // B's own owner still finds B's call there.
    let theirs = f.api(&f.b.owner).get("/api/crm/followups").await;
    assert_eq!(theirs.json["total"], 1);
}

#[tokio::test]
async fn owners_cannot_pick_another_business_with_the_admin_query_parameter() {
    let f = Fixture::spawn().await;
    let got = f
        .api(&f.a.owner)
        .get(&format!(
            "/api/crm/business?business_id={}",
            f.b.business.id
        ))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["id"], f.a.business.id);
}

#[tokio::test]
async fn admins_must_say_which_business_they_act_for_on_crm_routes() {
    let f = Fixture::spawn().await;
    let admin = f.api(&f.admin);
    let missing = admin.get("/api/crm/customers").await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.code(), "bad_request");
    assert!(
        missing.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("business_id")
    );
    assert_eq!(
        admin
            .get("/api/crm/customers?business_id=999999")
            .await
            .status,
        404
    );
    assert_eq!(
        admin.get("/api/crm/customers?business_id=abc").await.status,
        400
    );
    let b = admin
        .get(&format!(
            "/api/crm/customers?business_id={}",
            f.b.business.id
        ))
        .await;
    assert_eq!(b.json["items"][0]["id"], f.b.customer_id);
}
