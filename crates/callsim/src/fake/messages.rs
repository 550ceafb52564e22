//! Fake Twilio Messages API: accepts the owner's SMS/WhatsApp, prints it, keeps the last ones for `GET /fake/messages`, and posts signed delivery updates.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Messages kept for `GET /fake/messages`; older ones are dropped so a long
/// load test does not grow the fake without end.
pub const KEPT_MESSAGES: usize = 1000;

/// Pause before each delivery update, so the service has stored the
/// message SID from our answer before an update names it (real Twilio takes
/// about a second too).
const CALLBACK_STEP: Duration = Duration::from_millis(250);

/// One accepted message, as `GET /fake/messages` lists it.
#[derive(Debug, Clone, Serialize)]
struct Recorded {
    sid: String,
    account_sid: String,
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    body: String,
    content_sid: Option<String>,
    content_variables: Option<String>,
    status_callback: Option<String>,
    /// When the fake accepted it, unix ms.
    accepted_at_ms: u64,
}

struct Messages {
    recorded: Mutex<VecDeque<Recorded>>,
    http: reqwest::Client,
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and
/// `GET /fake/messages`, with their own state so they merge into any router.
pub(super) fn router() -> Router {
    let state = Arc::new(Messages {
        recorded: Mutex::new(VecDeque::new()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
    });
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages.json",
            post(create).get(list_to),
        )
        .route("/fake/messages", get(list))
        .with_state(state)
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

/// The password of HTTP Basic credentials whose user is `account_sid`.
fn basic_password(headers: &HeaderMap, account_sid: &str) -> Option<String> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == account_sid && !password.is_empty()).then(|| password.to_owned())
}

/// SMS segments Twilio would bill: GSM-7 text (taken here as printable
/// ASCII) fits 160 characters in one, else 153 each; anything else, Hebrew
/// included, is UCS-2 with 70, else 67 each.
fn segments(body: &str) -> usize {
    let chars = body.chars().count();
    let gsm = body
        .chars()
        .all(|c| (c.is_ascii() && !c.is_ascii_control()) || c == '\n');
    let (single, each) = if gsm { (160, 153) } else { (70, 67) };
    if chars <= single {
        1
    } else {
        chars.div_ceil(each)
    }
}

/// `SM` and 32 hex digits, as Twilio's message SIDs.
fn message_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

fn unix_ms(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn create(
    State(messages): State<Arc<Messages>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(auth_token) = basic_password(&headers, &account_sid) else {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let Some(to) = field("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let content_sid = field("ContentSid");
    let text = field("Body");
    if text.is_none() && content_sid.is_none() {
        return twilio_error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    let from = field("From");
    let messaging_service_sid = field("MessagingServiceSid");
    if from.is_none() && messaging_service_sid.is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    }

    let now = SystemTime::now();
    let date = OffsetDateTime::from(now)
        .format(&Rfc2822)
        .unwrap_or_default();
    let sid = message_sid();
    let text = text.unwrap_or_default();
    let recorded = Recorded {
        sid: sid.clone(),
        account_sid: account_sid.clone(),
        to: to.clone(),
        from: from.clone(),
        messaging_service_sid: messaging_service_sid.clone(),
        body: text.clone(),
        content_sid: content_sid.clone(),
        content_variables: field("ContentVariables"),
        status_callback: field("StatusCallback"),
        accepted_at_ms: unix_ms(now),
    };
    // One line per message, newlines folded, so whoever runs
    // `fake-providers` reads the owner's message as the owner would.
    let shown = if text.is_empty() {
        format!(
            "template {} {}",
            content_sid.as_deref().unwrap_or_default(),
            recorded.content_variables.as_deref().unwrap_or_default()
        )
    } else {
        text.replace('\n', " ⏎ ")
    };
    println!("message to {to} : {shown}");
    if let Some(callback) = recorded.status_callback.clone() {
        tokio::spawn(report_delivery(
            messages.http.clone(),
            callback,
            auth_token,
            recorded.clone(),
        ));
    }
    {
        let mut kept = messages
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if kept.len() == KEPT_MESSAGES {
            kept.pop_front();
        }
        kept.push_back(recorded);
    }

    // Twilio answers a Messaging Service send "accepted": the service picks
    // the sender later, so `from` is still unknown.
    let status = if from.is_some() { "queued" } else { "accepted" };
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json");
    let resource = json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": date,
        "date_sent": null,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": messaging_service_sid,
        "num_media": "0",
        "num_segments": segments(&text).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": to,
        "uri": uri,
    });
    (StatusCode::CREATED, axum::Json(resource)).into_response()
}

/// Posts `sent`, then `delivered`, to the message's `StatusCallback`, signed
/// with the auth token it was sent with, as Twilio does. A callback that
/// fails is logged: the message itself was accepted either way.
async fn report_delivery(
    http: reqwest::Client,
    callback: String,
    auth_token: String,
    message: Recorded,
) {
    for status in ["sent", "delivered"] {
        tokio::time::sleep(CALLBACK_STEP).await;
        let mut params = vec![
            ("AccountSid".to_owned(), message.account_sid.clone()),
            ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
            ("MessageSid".to_owned(), message.sid.clone()),
            ("MessageStatus".to_owned(), status.to_owned()),
            ("SmsSid".to_owned(), message.sid.clone()),
            ("SmsStatus".to_owned(), status.to_owned()),
            ("To".to_owned(), message.to.clone()),
        ];
        if let Some(from) = &message.from {
            params.push(("From".to_owned(), from.clone()));
        }
        if let Some(service) = &message.messaging_service_sid {
            params.push(("MessagingServiceSid".to_owned(), service.clone()));
        }
        let signature = twilio::signature::compute(&auth_token, &callback, &params);
        let sent = http
            .post(&callback)
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => tracing::warn!(
                callback,
                status = answer.status().as_u16(),
                message_status = status,
                "status callback refused"
            ),
            Err(err) => tracing::warn!(
                callback,
                error = %err,
                message_status = status,
                "status callback failed"
            ),
        }
    }
}

/// `GET /fake/messages`: the kept messages, oldest first.
/// `GET …/Messages.json?To=…`: Twilio's list of messages, newest first,
/// which the service reads when a send's answer was lost.
async fn list_to(
    State(messages): State<Arc<Messages>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if basic_password(&headers, &account_sid).is_none() {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let to = query.get("To").map(String::as_str);
    let listed: Vec<Value> = messages
        .recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .rev()
        .filter(|m| to.is_none_or(|to| m.to == to))
        .map(|m| json!({"sid": m.sid, "status": "delivered", "to": m.to, "body": m.body}))
        .collect();
    axum::Json(json!({ "messages": listed, "next_page_uri": null })).into_response()
}

async fn list(State(messages): State<Arc<Messages>>) -> axum::Json<Value> {
    let kept: Vec<Recorded> = messages
        .recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    axum::Json(json!({ "messages": kept }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hebrew_body_is_billed_in_seventy_character_segments() {
        assert_eq!(segments(&"א".repeat(70)), 1);
        assert_eq!(segments(&"א".repeat(71)), 2);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
    }

    #[test]
    fn message_sids_look_like_twilios() {
        let sid = message_sid();
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("SM"));
        assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
