//! `call_status`: status and end time, idempotent, always 204.

use agentlocator::db::calls;

use super::*;

fn status_params(sid: &str, status: &str, duration: Option<&str>) -> Vec<(String, String)> {
    let mut p = call_params(sid);
    p[4].1 = status.into();
    if let Some(d) = duration {
        p.push(("CallDuration".into(), d.into()));
    }
    p
}

#[tokio::test]
async fn a_final_status_records_the_end_once_and_later_callbacks_change_nothing() {
    let app = spawn().await;
    business(&app).await;
    let sid = new_sid();
    twiml(&app, "/webhook/incoming_call", &call_params(&sid)).await;

    let res = post_signed(
        &app,
        "/webhook/call_status",
        &status_params(&sid, "in-progress", None),
    )
    .await;
    assert_eq!(res.status(), 204);
    let call = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.status.as_deref(), Some("in-progress"));
    assert_eq!(call.ended_at, None);

    let res = post_signed(
        &app,
        "/webhook/call_status",
        &status_params(&sid, "completed", Some("42")),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
    let ended = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status.as_deref(), Some("completed"));
    assert_eq!(ended.duration_s, Some(42));
    assert!(ended.ended_at.is_some());

    // Twilio retries, and callbacks may arrive out of order.
    for (status, duration) in [("completed", Some("43")), ("ringing", None)] {
        let res = post_signed(
            &app,
            "/webhook/call_status",
            &status_params(&sid, status, duration),
        )
        .await;
        assert_eq!(res.status(), 204);
    }
    let again = calls::get_by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status.as_deref(), Some("completed"));
    assert_eq!(again.ended_at, ended.ended_at);
    assert_eq!(again.duration_s, Some(42));
}

#[tokio::test]
async fn a_status_for_an_unknown_call_or_an_unknown_status_is_accepted_and_ignored() {
    let app = spawn().await;
    let sid = new_sid();
    for status in ["completed", "exploded"] {
        let res = post_signed(
            &app,
            "/webhook/call_status",
            &status_params(&sid, status, Some("x")),
        )
        .await;
        assert_eq!(res.status(), 204);
    }
    assert!(
        calls::get_by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn with_the_database_down_a_status_callback_still_gets_204_and_an_error_log() {
    let app = spawn().await;
    app.state.db.pool.close().await;
    let sid = new_sid();
    let res = post_signed(
        &app,
        "/webhook/call_status",
        &status_params(&sid, "completed", None),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert!(lines_for(&app, &sid).iter().any(|l| l["level"] == "ERROR"));
}
