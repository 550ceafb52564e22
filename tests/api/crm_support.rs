//! Typed helpers for the CRM, auth, admin and payments tests: two businesses
//! with a customer, a call and its turns each, a user of every role, and a
//! client that speaks the API's JSON.

use std::sync::OnceLock;

use agentlocator::auth::{Role, password, token};
use agentlocator::db::business::{self, Business};
use agentlocator::db::calls::{self, CallMode, CallTurn, NewCall};
use agentlocator::db::{customers, users};
use agentlocator::domain::PhoneNumber;
use agentlocator::domain::Timestamp;
use agentlocator::domain::settings::AdminChange;
use serde_json::Value;

use crate::helpers::TestApp;

/// The password every fixture user has.
pub const PASSWORD: &str = "correct horse battery staple";

/// Argon2 is slow on purpose (more so unoptimised): hash once per test binary.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash(PASSWORD).unwrap())
}

/// An answer: status, raw body, and the body as JSON (`Null` if not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub text: String,
    pub json: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The envelope's machine-readable code.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A request builder that may carry a bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(app: &TestApp, token: Option<&str>) -> Self {
        Self {
            base: app.base.clone(),
            client: app.client.clone(),
            token: token.map(str::to_string),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send("PATCH", path, Some(body)).await
    }

    /// A raw body with the given content type (for malformed input).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.expect("request")).await
    }
}

pub async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        text,
        json,
        headers,
    }
}

/// A user and a session token minted for it directly (login has its own
/// tests; minting keeps Argon2 out of every other test).
#[derive(Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub token: String,
}

/// One business and what it owns.
#[derive(Debug, Clone)]
pub struct Tenancy {
    pub business: Business,
    pub owner: Person,
    pub agent: Person,
    pub customer_id: i64,
    pub customer_phone: String,
    pub call_id: i64,
    pub call_sid: String,
}

impl Tenancy {
    /// Strings that belong to this tenant and no other, to look for in
    /// answers given to someone else.
    pub fn markers(&self) -> Vec<String> {
        vec![
            self.business.name.to_string(),
            self.business.phone_number.to_string(),
            self.customer_phone.clone(),
            self.call_sid.clone(),
            format!("secret note of {}", self.business.name),
        ]
    }
}

pub struct Fixture {
    pub app: TestApp,
    pub admin: Person,
    pub a: Tenancy,
    pub b: Tenancy,
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

pub async fn create_user(app: &TestApp, role: Role, business_id: Option<i64>) -> Person {
    let email = format!("{}-{}@example.co.il", role, unique());
    let user = users::create(&app.state.db, &email, password_hash(), role, business_id)
        .await
        .unwrap();
    let token = mint_session(app, user.id, time::Duration::hours(1)).await;
    Person {
        id: user.id,
        email,
        token,
    }
}

/// A call's detail (`GET /api/crm/calls/{id}`) as its business's owner
/// reads it.
pub async fn call_detail_as_owner(app: &TestApp, sid: &str) -> serde_json::Value {
    let call = agentlocator::db::calls::get_by_sid(&app.state.db, sid)
        .await
        .unwrap()
        .unwrap();
    let owner = create_user(app, Role::Owner, call.business_id).await;
    let got = Api::new(app, Some(&owner.token))
        .get(&format!("/api/crm/calls/{}", call.id))
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json
}

/// A session for `user_id` that expires `ttl` from now (negative: already expired).
pub async fn mint_session(app: &TestApp, user_id: i64, ttl: time::Duration) -> String {
    let issued = token::issue();
    let expires_at = Timestamp::from(time::OffsetDateTime::now_utc() + ttl).to_string();
    users::create_session(&app.state.db, user_id, &issued.hash, &expires_at)
        .await
        .unwrap();
    issued.token
}

/// A random Israeli landline no other test uses.
pub fn random_phone() -> String {
    let n: u32 = rand::random::<u32>() % 10_000_000;
    format!("+9723{n:07}")
}

pub async fn create_tenancy(app: &TestApp, label: &str) -> Tenancy {
    let db = &app.state.db;
    let name = format!("{label}-{}", unique());
    let business = business::create(
        db,
        &agentlocator::domain::settings::BusinessName::parse(&name).unwrap(),
        &PhoneNumber::parse(&random_phone()).unwrap(),
    )
    .await
    .unwrap();
    let customer_phone = format!("+97250{:07}", rand::random::<u32>() % 10_000_000);
    let customer_id = customers::upsert_by_phone(db, business.id, &customer_phone)
        .await
        .unwrap();
    sqlx::query("UPDATE customer SET name = $1, notes = $2 WHERE id = $3")
        .bind(format!("Customer of {name}"))
        .bind(format!("secret note of {name}"))
        .bind(customer_id)
        .execute(&db.pool)
        .await
        .unwrap();
    let call_sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    calls::upsert(
        db,
        &NewCall {
            call_sid: &call_sid,
            business_id: business.id,
            customer_id: Some(customer_id),
            from_number: &customer_phone,
            to_number: business.phone_number.as_str(),
            status: "completed",
            mode: CallMode::Stream,
        },
    )
    .await
    .unwrap();
    for turn_id in 1..=2 {
        calls::insert_turn(
            db,
            &CallTurn {
                call_sid: call_sid.clone(),
                business_id: business.id,
                turn_id,
                started_at: Timestamp::now().to_string(),
                mode: "stream".into(),
                t_audio_ms: Some(900),
                t_stt_ms: Some(300),
                t_nlp_ms: Some(400),
                t_tts_ms: Some(200),
                t_total_ms: Some(950),
                endpointing_ms: Some(600),
                barge_in: false,
                user_text: Some(format!("שלום {turn_id}")),
                agent_text: Some(format!("היי, איך אפשר לעזור? {turn_id}")),
                error_code: None,
                tools: Vec::new(),
                guesses: None,
                wasted_calls: None,
                speculative: false,
                ended_by: Some("room".into()),
                snr_db: Some(21),
            },
        )
        .await
        .unwrap();
    }
    let call_id = calls::get_by_sid(db, &call_sid).await.unwrap().unwrap().id;
    let owner = create_user(app, Role::Owner, Some(business.id)).await;
    let agent = create_user(app, Role::Agent, Some(business.id)).await;
    Tenancy {
        business,
        owner,
        agent,
        customer_id,
        customer_phone,
        call_id,
        call_sid,
    }
}

impl Fixture {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(
        adjust: impl FnOnce(&mut std::collections::HashMap<String, String>),
    ) -> Self {
        let app = TestApp::spawn_with(adjust).await;
        let admin = create_user(&app, Role::Admin, None).await;
        let a = create_tenancy(&app, "Pizza").await;
        let b = create_tenancy(&app, "Barber").await;
        Self { app, admin, a, b }
    }

    pub fn api(&self, person: &Person) -> Api {
        Api::new(&self.app, Some(&person.token))
    }

    pub fn anonymous(&self) -> Api {
        Api::new(&self.app, None)
    }

    pub async fn set_flags(&self, business_id: i64, paypal: bool, tranzila: bool) {
        business::update(
            &self.app.state.db,
            business_id,
            &AdminChange {
                enable_payments_paypal: Some(paypal),
                enable_payments_tranzila: Some(tranzila),
                ..AdminChange::default()
            },
        )
        .await
        .unwrap();
    }
}
