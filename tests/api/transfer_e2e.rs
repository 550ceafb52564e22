//! A transfer end to end over real sockets: the caller asks for a person,
//! the fake model calls `transfer_to_human`, the agent says so and closes
//! the stream, `stream_ended` dials the business's transfer number with a
//! whispered summary, and the simulated human answers — or does not, and
//! the caller leaves a message.

use agentlocator::db::{business, calls};
use agentlocator::domain::PhoneNumber;
use agentlocator::domain::settings::{AdminChange, BusinessName};
use callsim::fake::Script;
use callsim::{FakeLatencies, HumanAnswer, SimMode, simulate_call};

use crate::calls::{app_with, sim_options};
use crate::helpers::TestApp;

const TRANSFER_TO: &str = "+972501112233";

/// A business that transfers to [`TRANSFER_TO`], always open.
async fn transferring_business(app: &TestApp, phone: &str) -> i64 {
    let phone = PhoneNumber::parse(phone).unwrap();
    let b = business::create(
        &app.state.db,
        &BusinessName::parse("מספרת דנה").unwrap(),
        &phone,
    )
    .await
    .unwrap();
    let change = AdminChange {
        transfer_number: Some(Some(PhoneNumber::parse(TRANSFER_TO).unwrap())),
        ..Default::default()
    };
    crate::webhooks::change_business(app, b.id, &change).await;
    b.id
}

/// A business's agent whose caller, at their first words, asks for a person.
async fn app_asked_for_a_person() -> (TestApp, tempfile::TempDir) {
    let script = Script {
        caller: vec!["שלום, אפשר לדבר עם מישהו לגבי ההזמנה שלי?".to_owned()],
        ..Default::default()
    };
    app_with(FakeLatencies::default(), script, &[]).await
}

/// The caller speaks once, and `human` answers the transfer or not.
fn asking(app: &TestApp, to: &str, human: HumanAnswer) -> callsim::SimOptions {
    let mut opts = sim_options(app, to);
    opts.human = human;
    opts
}

#[tokio::test]
async fn a_caller_who_asks_for_a_person_is_dialled_through_with_a_whisper_and_the_call_is_transferred()
 {
    let (app, _dir) = app_asked_for_a_person().await;
    transferring_business(&app, "+97235550301").await;

    let report = simulate_call(&asking(&app, "+97235550301", HumanAnswer::Answers))
        .await
        .unwrap();
    assert_eq!(report.mode, SimMode::Transfer, "{report:?}");
    let transfer = report.transfer.as_ref().expect("the call was transferred");
    assert_eq!(transfer.dialled, TRANSFER_TO);
    assert_eq!(transfer.caller_id, "+97235550301");
    assert!(transfer.whisper_ms > 0, "the human heard the whisper");
    assert_eq!(transfer.dial_status, "completed");
    assert_eq!(transfer.after, "hangup");

    app.state.background_settled().await;
    let call = calls::get_by_sid(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .unwrap();
    let transfer = agentlocator::db::call_actions::transfer_of(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .expect("the transfer is on the call");
    assert_eq!(transfer.status.as_deref(), Some("transferred"), "{call:?}");
    let turns = calls::turns_for_call(&app.state.db, &report.call_sid)
        .await
        .unwrap();
    let ran: Vec<&str> = turns
        .iter()
        .flat_map(|t| t.tools.iter().map(|r| r.name.as_str()))
        .collect();
    assert!(ran.contains(&"transfer_to_human"), "{ran:?}");
}

#[tokio::test]
async fn when_nobody_answers_the_transfer_the_caller_leaves_a_message() {
    let (app, _dir) = app_asked_for_a_person().await;
    transferring_business(&app, "+97235550302").await;

    let report = simulate_call(&asking(&app, "+97235550302", HumanAnswer::NoAnswer))
        .await
        .unwrap();
    let transfer = report.transfer.as_ref().expect("a transfer was tried");
    assert_eq!(transfer.dial_status, "no-answer");
    assert_eq!(transfer.after, "recording");

    app.state.background_settled().await;
    let call = calls::get_by_sid(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.mode, "record", "the caller was moved to the recording");
    let transfer = agentlocator::db::call_actions::transfer_of(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.status.as_deref(), Some("transfer_failed"));
}
