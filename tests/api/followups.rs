//! The owner's follow-up inbox (issue 13 point 4): the open calls with their
//! summaries, marking one done with a note, who and when, and another
//! tenant's calls staying out of reach.

use agentlocator::db::calls::{self, CallMode, NewCall};
use agentlocator::domain::Timestamp;
use serde_json::{Value, json};

use crate::crm_support::{Fixture, Tenancy};

/// Records a call to `t`'s business from its customer `minutes_ago`, with
/// an outcome whose follow-up is `status`; returns the call's id.
async fn call_with_outcome(
    f: &Fixture,
    t: &Tenancy,
    minutes_ago: i64,
    summary: &str,
    urgency: &str,
    status: &str,
) -> i64 {
    let db = &f.app.state.db;
    let sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let at =
        Timestamp::from(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago));
    calls::record_incoming(
        db,
        &NewCall {
            call_sid: &sid,
            business_id: t.business.id,
            customer_id: None,
            from_number: &t.customer_phone,
            to_number: t.business.phone_number.as_str(),
            status: "completed",
            mode: CallMode::Stream,
        },
        &at,
    )
    .await
    .unwrap();
    let outcome = json!({
        "summary": summary, "caller_name": "דני", "intent": "הזמנה",
        "urgency": urgency, "callback_requested": true,
        "preferred_time": "מחר בבוקר", "follow_up": status == "open",
    });
    calls::set_outcome(db, &sid, Some(summary), Some(&outcome.to_string()), status)
        .await
        .unwrap();
    calls::get_by_sid(db, &sid).await.unwrap().unwrap().id
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_open_inbox_lists_only_the_tenants_open_follow_ups_newest_first() {
    let f = Fixture::spawn().await;
    let older = call_with_outcome(
        &f,
        &f.a,
        30,
        "דני ביקש לחזור אליו לגבי הזמנה.",
        "normal",
        "open",
    )
    .await;
    let newer = call_with_outcome(&f, &f.a, 5, "לקוחה מבקשת לבטל תור דחוף.", "high", "open").await;
    call_with_outcome(&f, &f.a, 10, "שיחה ללא צורך בחזרה.", "low", "none").await;
    call_with_outcome(&f, &f.b, 1, "לקוח של העסק השני.", "high", "open").await;

    let got = f.api(&f.a.owner).get("/api/crm/followups").await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(ids(&got.json), vec![newer, older]);
    assert_eq!(got.json["total"], 2);
    let first = &got.json["items"][0];
    assert_eq!(first["summary"], "לקוחה מבקשת לבטל תור דחוף.");
    assert_eq!(first["urgency"], "high");
    assert_eq!(first["intent"], "הזמנה");
    assert_eq!(first["callback_requested"], true);
    assert_eq!(first["preferred_time"], "מחר בבוקר");
    assert_eq!(first["follow_up_status"], "open");
    assert_eq!(first["customer"]["id"], f.a.customer_id);
    assert_eq!(first["customer"]["phone"], f.a.customer_phone.as_str());
    assert!(first["note"].is_null() && first["by"].is_null());
    for marker in f.b.markers() {
        assert!(!got.text.contains(&marker), "B's {marker} leaked");
    }
}

#[tokio::test]
async fn an_agent_marks_a_follow_up_done_with_a_hebrew_note_and_it_moves_to_done() {
    let f = Fixture::spawn().await;
    let id = call_with_outcome(&f, &f.a, 3, "דני ביקש לחזור אליו.", "normal", "open").await;
    let agent = f.api(&f.a.agent);
    let got = agent
        .post(
            &format!("/api/crm/calls/{id}/followup"),
            &json!({"status": "done", "note": "חזרתי אליו, קבענו ליום ראשון"}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["follow_up_status"], "done");
    assert_eq!(got.json["follow_up_note"], "חזרתי אליו, קבענו ליום ראשון");
    assert_eq!(got.json["follow_up_by"], f.a.agent.id);
    assert!(got.json["follow_up_at"].is_string());

    let open = agent.get("/api/crm/followups").await;
    assert!(!ids(&open.json).contains(&id));
    let done = agent.get("/api/crm/followups?status=done").await;
    assert_eq!(ids(&done.json), vec![id]);
    let item = &done.json["items"][0];
    assert_eq!(item["note"], "חזרתי אליו, קבענו ליום ראשון");
    assert_eq!(item["by"], f.a.agent.id);
    assert!(item["at"].is_string());

    // The owner may open it again; a call that needed nothing may be opened too.
    let reopened = f
        .api(&f.a.owner)
        .post(
            &format!("/api/crm/calls/{id}/followup"),
            &json!({"status": "open"}),
        )
        .await;
    assert_eq!(reopened.json["follow_up_status"], "open");
    assert_eq!(reopened.json["follow_up_by"], f.a.owner.id);
    let none = call_with_outcome(&f, &f.a, 2, "שיחה רגילה.", "low", "none").await;
    let opened = agent
        .post(
            &format!("/api/crm/calls/{none}/followup"),
            &json!({"status": "open"}),
        )
        .await;
    assert_eq!(opened.json["follow_up_status"], "open");
}

#[tokio::test]
async fn another_tenants_call_is_404_and_stays_unchanged() {
    let f = Fixture::spawn().await;
    let theirs = call_with_outcome(&f, &f.b, 3, "לקוח של המספרה.", "high", "open").await;
    for person in [&f.a.owner, &f.a.agent] {
        let got = f
            .api(person)
            .post(
                &format!("/api/crm/calls/{theirs}/followup"),
                &json!({"status": "done", "note": "לא שלי"}),
            )
            .await;
        assert_eq!(got.status, 404, "{}", got.text);
    }
    let still = f.api(&f.b.owner).get("/api/crm/followups").await;
    assert_eq!(ids(&still.json), vec![theirs]);
    assert!(still.json["items"][0]["note"].is_null());
}

#[tokio::test]
async fn a_bad_status_or_an_overlong_note_is_refused() {
    let f = Fixture::spawn().await;
    let id = call_with_outcome(&f, &f.a, 3, "דני ביקש לחזור אליו.", "normal", "open").await;
    let owner = f.api(&f.a.owner);
    let path = format!("/api/crm/calls/{id}/followup");
    let bad = owner.post(&path, &json!({"status": "later"})).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let long = owner
        .post(&path, &json!({"status": "done", "note": "א".repeat(1001)}))
        .await;
    assert_eq!(long.status, 422, "{}", long.text);
    let listed = owner.get("/api/crm/followups?status=later").await;
    assert_eq!(listed.status, 400, "{}", listed.text);
    let unchanged = owner.get("/api/crm/followups").await;
    assert_eq!(ids(&unchanged.json), vec![id]);
}

#[tokio::test]
async fn the_inbox_pages_like_the_call_list() {
    let f = Fixture::spawn().await;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(
            call_with_outcome(
                &f,
                &f.a,
                50 - n,
                &format!("פנייה מספר {n}"),
                "normal",
                "open",
            )
            .await,
        );
    }
    made.reverse(); // newest first
    let owner = f.api(&f.a.owner);
    let first = owner.get("/api/crm/followups?limit=2").await;
    assert_eq!(ids(&first.json), made[..2]);
    assert_eq!(first.json["total"], 5);
    let last = owner.get("/api/crm/followups?limit=2&offset=4").await;
    assert_eq!(ids(&last.json), made[4..]);
    assert_eq!(last.json["offset"], 4);
    let refused = owner.get("/api/crm/followups?limit=0").await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn the_openapi_document_describes_the_inbox_and_the_follow_up_body() {
    let f = Fixture::spawn().await;
    let (_, spec) = f.app.get_json("/api/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["FollowUpStatus"]["enum"],
        json!(["open", "done"]),
        "{}",
        schemas["FollowUpStatus"]
    );
    assert_eq!(
        schemas["FollowUpUpdate"]["properties"]["note"]["maxLength"],
        1000
    );
    assert!(schemas["FollowUpItem"]["properties"]["urgency"].is_object());
    // A call in the list: the call's fields and its notifications.
    let item = schemas["CallListItem"].to_string();
    assert!(
        item.contains("notifications") && item.contains("CallView"),
        "{item}"
    );
    let list = &spec["paths"]["/api/crm/followups"]["get"];
    assert!(
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "status")
    );
}

#[tokio::test]
async fn a_rerun_of_the_outcome_job_does_not_reopen_a_follow_up_marked_done() {
    let f = Fixture::spawn().await;
    let id = call_with_outcome(&f, &f.a, 1, "רונית שאלה על מחירים.", "normal", "open").await;
    let done = f
        .api(&f.a.agent)
        .post(
            &format!("/api/crm/calls/{id}/followup"),
            &json!({"status": "done", "note": "נשלחה הצעת מחיר"}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let sid = done.json["call_sid"].as_str().unwrap().to_string();

    // The job runs again (a lease expired, a retry): it stores the same
    // outcome, which asks for a follow-up.
    calls::set_outcome(
        &f.app.state.db,
        &sid,
        Some("רונית שאלה על מחירים."),
        None,
        "open",
    )
    .await
    .unwrap();
    let call = calls::get_by_sid(&f.app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.follow_up_status, "done");
    assert_eq!(call.follow_up_note.as_deref(), Some("נשלחה הצעת מחיר"));
}

#[tokio::test]
async fn the_call_detail_and_the_call_list_show_the_owners_notifications_and_how_far_each_got() {
    let f = Fixture::spawn().await;
    let id = call_with_outcome(&f, &f.a, 1, "משה ביקש הצעת מחיר.", "high", "open").await;
    let detail = f.api(&f.a.owner).get(&format!("/api/crm/calls/{id}")).await;
    let sid = detail.json["call"]["call_sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(detail.json["notifications"], json!([]));

    let db = &f.app.state.db;
    agentlocator::db::notifications::insert_queued(
        db,
        &sid,
        Some(f.a.business.id),
        "sms",
        "+972501111111",
    )
    .await
    .unwrap();
    let detail = f.api(&f.a.agent).get(&format!("/api/crm/calls/{id}")).await;
    let sent = &detail.json["notifications"];
    assert_eq!(sent.as_array().unwrap().len(), 1, "{sent}");
    assert_eq!(sent[0]["channel"], "sms");
    assert_eq!(sent[0]["to_number"], "+972501111111");
    assert_eq!(sent[0]["status"], "queued");

    // The call list shows each call's notifications too, and only its own.
    let other = call_with_outcome(&f, &f.a, 2, "דנה שאלה על מחירים.", "low", "none").await;
    let list = f.api(&f.a.owner).get("/api/crm/calls").await;
    let items = list.json["items"].as_array().unwrap();
    let item = |id: i64| items.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(item(id)["summary"], "משה ביקש הצעת מחיר.");
    assert_eq!(item(id)["notifications"][0]["to_number"], "+972501111111");
    assert_eq!(item(id)["notifications"][0]["status"], "queued");
    assert_eq!(item(other)["notifications"], json!([]));
}
