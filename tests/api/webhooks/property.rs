//! Generated requests at every webhook: whatever the body and headers, the
//! answer is never a 5xx — unsigned ones are refused (403, or 413 when too
//! big), validly signed ones get TwiML or 204.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;

const PATHS: [&str; 5] = [
    "/webhook/incoming_call",
    "/webhook/stream_ended",
    "/webhook/handle_recording",
    "/webhook/call_status",
    "/webhook/incoming_call?attempt=2",
];

const NAMES: [&str; 12] = [
    "CallSid",
    "From",
    "To",
    "CallStatus",
    "RecordingUrl",
    "RecordingSid",
    "RecordingDuration",
    "CallDuration",
    "AccountSid",
    "Digits",
    "",
    "x",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(BUSINESS_PHONE.to_string()),
        Just("anonymous".to_string()),
        Just("completed".to_string()),
        Just("in-progress".to_string()),
        Just("CA0123456789abcdef0123456789abcdef".to_string()),
        Just("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".to_string()),
        "[0-9+]{0,16}",
        any::<String>(),
        ".{0,300}",
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(NAMES.to_vec()).prop_map(String::from),
                any::<String>()
            ],
            value(),
        ),
        0..12,
    )
}

#[derive(Debug, Clone)]
enum Body {
    Form(Vec<(String, String)>),
    Raw(Vec<u8>),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        3 => params().prop_map(Body::Form),
        1 => prop::collection::vec(any::<u8>(), 0..2048).prop_map(Body::Raw),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "content-type",
                "x-twilio-signature",
                "user-agent",
                "x-forwarded-host",
                "x-forwarded-proto",
                "i-twilio-idempotency-token",
                "x-custom",
            ]),
            "[ -~]{0,80}",
        )
            .prop_map(|(k, v)| (k.to_string(), v)),
        0..5,
    )
}

#[test]
fn random_form_bodies_and_headers_at_every_webhook_never_get_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        let app = spawn().await;
        business(&app).await;
        app
    });
    let mut runner = TestRunner::new(Config {
        cases: 160,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::sample::select(PATHS.to_vec()),
        body(),
        headers(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(path, body, headers, signed)| {
            let bytes = match &body {
                Body::Form(p) => serde_urlencoded::to_string(p).unwrap().into_bytes(),
                Body::Raw(b) => b.clone(),
            };
            // The service signs over the form as it decodes it; so does Twilio.
            let decoded: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let status = rt.block_on(async {
                let mut req = app
                    .client
                    .post(format!("{}{path}", app.base))
                    .body(bytes.clone());
                for (k, v) in &headers {
                    if signed && (k == "content-type" || k == "x-twilio-signature") {
                        continue;
                    }
                    req = req.header(k.as_str(), v.as_str());
                }
                if signed {
                    req = req
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-twilio-signature", sign(TOKEN, path, &decoded));
                }
                req.send().await.map(|r| r.status().as_u16())
            });
            let status = status.map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert!(status < 500, "{path} answered {status}");
            if signed {
                prop_assert!(status == 200 || status == 204, "{path} answered {status}");
            } else {
                prop_assert!(status == 403 || status == 413, "{path} answered {status}");
            }
            Ok(())
        })
        .unwrap();
}
