//! The signature layer: only requests Twilio signed for exactly this URL
//! and these parameters reach a handler; everything else is a bare 403.

use super::*;
use crate::helpers::TestApp;

#[test]
fn the_published_vectors_hold_for_the_signing_function_the_service_uses() {
    let params = owned(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]);
    for (url, expected) in [
        (
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        (
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
        ),
        (
            "http://mycompany.com:80/myapp.php?foo=1&bar=2",
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        ),
        (
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
    ] {
        assert_eq!(twilio::signature::compute("12345", url, &params), expected);
    }
    assert!(twilio::signature::validate(
        &["12345"],
        "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
}

#[tokio::test]
async fn a_request_signed_with_the_vector_parameters_on_our_public_url_is_accepted() {
    let app = spawn().await;
    let params = owned(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]);
    let path = "/webhook/call_status?foo=1&bar=2";
    let res = post_signed(&app, path, &params).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn a_request_without_a_signature_is_refused_with_an_empty_403_whatever_its_user_agent() {
    let app = spawn().await;
    let sid = new_sid();
    for path in [
        "/webhook/incoming_call",
        "/webhook/stream_ended",
        "/webhook/handle_recording",
        "/webhook/call_status",
    ] {
        let res = app
            .client
            .post(format!("{}{path}", app.base))
            .header("user-agent", "TwilioProxy/1.1")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(call_params(&sid)).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
        assert_eq!(res.text().await.unwrap(), "", "{path}");
    }
    let calls = agentlocator::db::calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap();
    assert!(calls.is_none(), "an unsigned request reached a handler");
}

#[tokio::test]
async fn a_forged_signature_is_refused_and_warned_about_with_the_claimed_call_sid() {
    let app = spawn().await;
    let sid = new_sid();
    let params = call_params(&sid);
    let forged = sign("not-the-token", "/webhook/incoming_call", &params);
    let res = post_form(&app, "/webhook/incoming_call", &params, Some(&forged)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.text().await.unwrap(), "");
    let lines = lines_for(&app, &sid);
    let warn = lines
        .iter()
        .find(|l| l["msg"] == "webhook refused: invalid X-Twilio-Signature")
        .unwrap_or_else(|| panic!("no warning in {lines:#?}"));
    assert_eq!(warn["level"], "WARN");
    assert!(!warn.to_string().contains(TOKEN), "the token reached a log");
}

#[tokio::test]
async fn a_signature_replayed_to_another_webhook_url_is_refused() {
    let app = spawn().await;
    business(&app).await;
    let params = call_params(&new_sid());
    let for_stream_ended = sign(TOKEN, "/webhook/stream_ended", &params);
    let res = post_form(
        &app,
        "/webhook/incoming_call",
        &params,
        Some(&for_stream_ended),
    )
    .await;
    assert_eq!(res.status(), 403);
    // The same signature on its own URL passes.
    let res = post_form(
        &app,
        "/webhook/stream_ended",
        &params,
        Some(&for_stream_ended),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn changed_parameters_or_query_invalidate_the_signature() {
    let app = spawn().await;
    let params = call_params(&new_sid());
    let sig = sign(TOKEN, "/webhook/call_status", &params);

    let mut tampered = params.clone();
    tampered[3].1 = "+97235559999".into();
    let res = post_form(&app, "/webhook/call_status", &tampered, Some(&sig)).await;
    assert_eq!(res.status(), 403, "a changed To");

    let res = post_form(&app, "/webhook/call_status?x=1", &params, Some(&sig)).await;
    assert_eq!(res.status(), 403, "an added query string");

    let signed_with_query = sign(TOKEN, "/webhook/call_status?x=1", &params);
    let res = post_form(
        &app,
        "/webhook/call_status?x=1",
        &params,
        Some(&signed_with_query),
    )
    .await;
    assert_eq!(res.status(), 204, "the query is part of the signed URL");
}

#[tokio::test]
async fn the_secondary_token_is_accepted_during_rotation() {
    let app = spawn().await;
    let params = call_params(&new_sid());
    let sig = sign(SECONDARY, "/webhook/call_status", &params);
    let res = post_form(&app, "/webhook/call_status", &params, Some(&sig)).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn a_signature_over_the_url_with_the_default_port_is_accepted() {
    let app = spawn().await;
    let params = call_params(&new_sid());
    let url = "https://voice.example.test:443/webhook/call_status";
    let sig = twilio::signature::compute(TOKEN, url, &params);
    let res = post_form(&app, "/webhook/call_status", &params, Some(&sig)).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn repeated_parameters_are_signed_as_the_official_libraries_sign_them() {
    let app = spawn().await;
    let mut params = call_params(&new_sid());
    params.push(("StirVerstat".into(), "TN-Validation-Passed-A".into()));
    params.push(("StirVerstat".into(), "TN-Validation-Passed-B".into()));
    let res = post_signed(&app, "/webhook/call_status", &params).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn without_a_public_base_url_every_webhook_is_refused_and_warned_about() {
    let app = TestApp::spawn_with(|v| {
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
    })
    .await;
    let params = call_params(&new_sid());
    let res = post_signed(&app, "/webhook/incoming_call", &params).await;
    assert_eq!(res.status(), 403);
    assert!(app.logs.lines().iter().any(|l| {
        l["level"] == "WARN"
            && l["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("fail closed")
    }));
}

#[tokio::test]
async fn without_an_auth_token_every_webhook_is_refused() {
    let app = TestApp::spawn_with(|v| {
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
    })
    .await;
    let params = call_params(&new_sid());
    // Signed with the empty key: still nothing to compare against.
    let sig = sign("", "/webhook/incoming_call", &params);
    let res = post_form(&app, "/webhook/incoming_call", &params, Some(&sig)).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_not_500() {
    let app = spawn().await;
    let mut params = call_params(&new_sid());
    params.push(("Padding".into(), "x".repeat(70 * 1024)));
    let res = post_signed(&app, "/webhook/incoming_call", &params).await;
    assert_eq!(res.status(), 413);

    // Streamed without a Content-Length: the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b'a'; 1024])).collect();
    let res = app
        .client
        .post(format!("{}/webhook/incoming_call", app.base))
        .header("X-Twilio-Signature", "c2lnbmF0dXJl")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn unknown_webhook_paths_sit_behind_the_signature_too() {
    let app = spawn().await;
    let params = call_params(&new_sid());
    let res = post_form(&app, "/webhook/nope", &params, None).await;
    assert_eq!(res.status(), 403);
    let res = post_signed(&app, "/webhook/nope", &params).await;
    assert_eq!(res.status(), 404);
}
