//! The media stream end to end: this server, the Twilio stand-in and fake
//! providers, over real HTTP and WebSocket connections.

use std::time::Duration;

use agentlocator::db::{business, calls};
use agentlocator::domain::PhoneNumber;
use callsim::fake::Script;
use callsim::{FakeLatencies, SimMode, SimOptions, simulate_call};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::TestApp;

pub const TOKEN: &str = "e2e-auth-token";
pub const PUBLIC: &str = "https://agentlocator.test";

/// Fake providers on a free port, and a credentials file pointing at them.
pub async fn fake_providers(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    fake_providers_with(dir, FakeLatencies::default(), Script::default()).await
}

/// As [`fake_providers`], taking `lat` and following `script`.
async fn fake_providers_with(
    dir: &std::path::Path,
    lat: FakeLatencies,
    script: Script,
) -> (String, std::path::PathBuf) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(callsim::fake::serve_scripted(listener, lat, script));
    let creds = dir.join("google.json");
    callsim::write_google_credentials(&creds, &format!("{base}/token")).unwrap();
    (base, creds)
}

pub async fn app_with_providers() -> (TestApp, tempfile::TempDir) {
    app_with(FakeLatencies::default(), Script::default(), &[]).await
}

/// As [`app_with_providers`], the fakes taking `lat` and following
/// `script`, with `vars` set.
pub async fn app_with(
    lat: FakeLatencies,
    script: Script,
    vars: &[(&str, &str)],
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (fake, creds) = fake_providers_with(dir.path(), lat, script).await;
    let app = TestApp::spawn_with(|v| {
        v.extend(vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())));
        v.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
        v.insert(
            "TWILIO_ACCOUNT_SID".into(),
            "AC00000000000000000000000000000000".into(),
        );
        v.insert("PUBLIC_BASE_URL".into(), PUBLIC.into());
        v.insert("OPENAI_API_KEY".into(), "sk-fake".into());
        v.insert("OPENAI_BASE_URL".into(), format!("{fake}/v1"));
        v.insert(
            "GOOGLE_APPLICATION_CREDENTIALS".into(),
            creds.to_string_lossy().into(),
        );
        v.insert("GOOGLE_TTS_BASE_URL".into(), fake.clone());
    })
    .await;
    (app, dir)
}

pub fn caller_audio() -> Vec<u8> {
    let wav = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/voice/tests/fixtures/shalom.wav"
    ))
    .unwrap();
    voice::wav::to_mulaw_8k_mono(&wav).unwrap()
}

pub fn sim_options(app: &TestApp, to: &str) -> SimOptions {
    let mut opts = SimOptions::new(app.base.parse().unwrap(), to, TOKEN);
    opts.public_base_url = Some(PUBLIC.parse().unwrap());
    opts.utterances = vec![caller_audio()];
    opts
}

#[tokio::test]
async fn a_simulated_caller_is_greeted_answered_and_the_turn_is_stored_and_logged() {
    let (app, _dir) = app_with_providers().await;
    let phone = PhoneNumber::parse("+97235550101").unwrap();
    let biz = business::create(
        &app.state.db,
        &agentlocator::domain::settings::BusinessName::parse("Pizza Shemesh").unwrap(),
        &phone,
    )
    .await
    .unwrap();

    let report = simulate_call(&sim_options(&app, phone.as_str()))
        .await
        .unwrap();
    assert_eq!(report.mode, SimMode::Stream, "{report:?}");
    assert!(report.greeting_audio_ms > 0, "the greeting was heard");
    assert_eq!(report.turns.len(), 1);
    let felt = report.turns[0].caller_felt_ms.expect("a reply came");
    assert!(felt < 2500.0, "caller-felt latency {felt} ms");
    assert!(report.turns[0].reply_audio_ms > 0);
    assert!(report.marks_echoed > 0);

    // The turn row lands beside the call, written by a task of its own.
    app.state.background_settled().await;
    let turns = calls::turns_for_call(&app.state.db, &report.call_sid)
        .await
        .unwrap();
    assert_eq!(turns.len(), 1, "one call_turn row");
    let turn = &turns[0];
    assert_eq!(turn.business_id, biz.id);
    assert_eq!(turn.mode, "stream");
    assert!(turn.t_total_ms.unwrap() > 0);
    assert!(turn.user_text.as_deref().is_some_and(|t| !t.is_empty()));
    // The pause before the end of turn started the reply as a guess.
    assert!(turn.guesses.unwrap() >= 1, "{turn:?}");
    assert!(turn.speculative, "{turn:?}");
    // A quiet line: the VAD's pause ended the turn, heard well over the line's hiss.
    assert_eq!(turn.ended_by.as_deref(), Some("silence"), "{turn:?}");
    assert!(turn.snr_db.is_some_and(|db| db >= 30), "{turn:?}");

    let metrics_line = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l["msg"] == "turn_metrics" && l["call_sid"] == report.call_sid.as_str())
        .expect("turn_metrics logged");
    assert_eq!(metrics_line["business_id"], biz.id);
    for field in [
        "t_audio_ms",
        "t_stt_ms",
        "t_nlp_ms",
        "t_tts_ms",
        "t_total_ms",
    ] {
        assert!(
            metrics_line["extra"][field].is_u64(),
            "{field}: {metrics_line}"
        );
    }

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("agentlocator_turns_total 1"), "{metrics}");
    assert!(metrics.contains("agentlocator_calls_total 1"), "{metrics}");
    assert!(
        metrics.contains("agentlocator_turns_speculative_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("agentlocator_turn_guess_wasted_calls_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"agentlocator_turn_ends_total{by="silence"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("agentlocator_turn_snr_db_count 1"),
        "{metrics}"
    );
}

/// One call to a business whose providers stall as `lat` says, hedged as
/// `vars` say, ending answered live: the app, the call, its one turn
/// (answered, with a wasted request) and `/metrics` after it.
async fn one_answered_call_through_stalls(
    lat: FakeLatencies,
    vars: &[(&str, &str)],
) -> (TestApp, tempfile::TempDir, String, calls::CallTurn, String) {
    let (app, dir) = app_with(lat, Script::default(), vars).await;
    let phone = PhoneNumber::parse("+97235550102").unwrap();
    let name = agentlocator::domain::settings::BusinessName::parse("מספרת רותי").unwrap();
    business::create(&app.state.db, &name, &phone)
        .await
        .unwrap();

    let report = simulate_call(&sim_options(&app, phone.as_str()))
        .await
        .unwrap();
    assert_eq!(report.mode, SimMode::Stream, "{report:?}");
    assert_eq!(report.turns.len(), 1, "{report:?}");
    assert!(report.turns[0].caller_felt_ms.is_some(), "no reply came");

    app.state.background_settled().await;
    let mut turns = calls::turns_for_call(&app.state.db, &report.call_sid)
        .await
        .unwrap();
    assert_eq!(turns.len(), 1);
    let turn = turns.remove(0);
    assert_eq!(turn.error_code, None, "{turn:?}");
    assert!(turn.agent_text.is_some(), "{turn:?}");
    assert!(turn.wasted_calls.unwrap() >= 1, "{turn:?}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    (app, dir, report.call_sid, turn, metrics)
}

/// `agentlocator_provider_asked_again_total` for `stage` in `metrics`.
fn asked_again_at(metrics: &str, stage: &str) -> u64 {
    let series = format!(r#"agentlocator_provider_asked_again_total{{stage="{stage}"}} "#);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

#[tokio::test]
async fn a_caller_whose_transcriptions_stall_is_answered_by_a_second_request_not_sent_to_the_recording()
 {
    // The first of every two transcription requests hangs for a minute
    // (so the call's first does); the hedge after 300 ms sends the same
    // audio again, and that one answers.
    let lat = FakeLatencies {
        stt_stall_every: 2,
        stall_ms: 60_000,
        ..FakeLatencies::default()
    };
    let (app, _dir, call_sid, turn, metrics) =
        one_answered_call_through_stalls(lat, &[("STT_HEDGE_AFTER_MS", "300")]).await;
    assert!(turn.user_text.is_some(), "{turn:?}");
    let asked_again = app.logs.lines().into_iter().any(|l| {
        l["msg"] == "provider_asked_again"
            && l["call_sid"] == call_sid.as_str()
            && l["extra"]["stage"] == "stt"
    });
    assert!(asked_again);
    // Operators see the stalls as a rate; the stages that never stalled
    // read 0 rather than missing.
    assert!(asked_again_at(&metrics, "stt") >= 1, "{metrics}");
    assert_eq!(asked_again_at(&metrics, "llm"), 0, "{metrics}");
    assert_eq!(asked_again_at(&metrics, "tts"), 0, "{metrics}");
    // One stall is a tail: the budget for second requests was not spent.
    assert!(
        metrics.contains(r#"agentlocator_provider_not_asked_again_total{stage="stt"} 0"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_caller_whose_model_and_voice_stall_hears_the_greeting_and_a_reply_not_the_recording() {
    // The call's first model request hangs before its first token for a
    // minute, and so does its first synthesis (the greeting's): each is
    // overtaken by a second request after 300 ms.
    let lat = FakeLatencies {
        llm_stall_every: 1_000,
        tts_stall_every: 1_000,
        stall_ms: 60_000,
        ..FakeLatencies::default()
    };
    let hedges = [("LLM_HEDGE_AFTER_MS", "300"), ("TTS_HEDGE_AFTER_MS", "300")];
    let (_app, _dir, _, _, metrics) = one_answered_call_through_stalls(lat, &hedges).await;
    assert_eq!(asked_again_at(&metrics, "stt"), 0, "{metrics}");
    assert!(asked_again_at(&metrics, "llm") >= 1, "{metrics}");
    assert!(asked_again_at(&metrics, "tts") >= 1, "{metrics}");
}

#[tokio::test]
async fn a_caller_on_a_street_from_the_first_frame_is_answered_and_the_turn_reads_the_street() {
    let (app, _dir) = app_with_providers().await;
    let phone = PhoneNumber::parse("+97235550102").unwrap();
    business::create(
        &app.state.db,
        &agentlocator::domain::settings::BusinessName::parse("Pizza Shemesh").unwrap(),
        &phone,
    )
    .await
    .unwrap();
    // Street noise 20 dB under the caller, on the line from the stream's
    // first frame: under the greeting, the caller and the wait for the reply.
    let caller: Vec<i16> = caller_audio()
        .into_iter()
        .map(voice::mulaw::decode)
        .collect();
    let street = crate::noise::NoiseFamily::Street.generate(8_000 * 10, 3, &[]);
    let street = crate::noise::scale_to_snr(&street, crate::noise::active_rms(&caller), 20.0);
    let mut opts = sim_options(&app, phone.as_str());
    opts.background = street
        .into_iter()
        .map(|x| voice::mulaw::encode(crate::noise::to_i16(x)))
        .collect();

    let report = simulate_call(&opts).await.unwrap();
    assert_eq!(report.mode, SimMode::Stream, "{report:?}");
    assert_eq!(report.turns.len(), 1);
    assert!(report.turns[0].caller_felt_ms.is_some(), "a reply came");
    app.state.background_settled().await;
    let turns = calls::turns_for_call(&app.state.db, &report.call_sid)
        .await
        .unwrap();
    assert_eq!(
        turns.len(),
        1,
        "the street made no turn of its own: {turns:?}"
    );
    let turn = &turns[0];
    assert!(turn.user_text.as_deref().is_some_and(|t| !t.is_empty()));
    // The street's pauses are the VAD's own, and the record reads the
    // caller well over it, far under a silent line's.
    assert_eq!(turn.ended_by.as_deref(), Some("silence"), "{turn:?}");
    assert!(
        turn.snr_db.is_some_and(|db| (20..=40).contains(&db)),
        "{turn:?}"
    );
}

/// Opens the media socket as Twilio would and sends `connected` + `start`.
async fn open_stream(
    app: &TestApp,
    signature_token: &str,
    call_sid: &str,
    business_id: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let url = format!("{}/ws/twilio-media", app.base.replace("http", "ws"));
    let mut req = url.into_client_request().unwrap();
    let signed = twilio::signature::compute(
        signature_token,
        "wss://agentlocator.test/ws/twilio-media",
        &[],
    );
    req.headers_mut()
        .insert("x-twilio-signature", signed.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let start = twilio::media::Inbound::Start {
        sequence_number: 1,
        start: twilio::media::Start::new("AC1", "MZ1", call_sid)
            .with_parameter("business_id", business_id),
        stream_sid: "MZ1".into(),
    };
    ws.send(Message::Text(
        twilio::media::Inbound::connected().to_json().into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(start.to_json().into()))
        .await
        .unwrap();
    Ok(ws)
}

#[tokio::test]
async fn a_media_stream_with_a_bad_handshake_signature_is_refused() {
    let (app, _dir) = app_with_providers().await;
    let err = open_stream(&app, "not-the-token", "CA1", "1")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn a_forged_business_id_on_the_stream_never_switches_tenants() {
    let (app, _dir) = app_with_providers().await;
    let db = &app.state.db;
    let ours = business::create(
        db,
        &agentlocator::domain::settings::BusinessName::parse("Ours").unwrap(),
        &PhoneNumber::parse("+97235550201").unwrap(),
    )
    .await
    .unwrap();
    let other = business::create(
        db,
        &agentlocator::domain::settings::BusinessName::parse("Other").unwrap(),
        &PhoneNumber::parse("+97235550202").unwrap(),
    )
    .await
    .unwrap();
    let call_sid = "CAforged000000000000000000000000001";
    calls::upsert(
        db,
        &calls::NewCall {
            call_sid,
            business_id: ours.id,
            customer_id: None,
            from_number: "+972501234567",
            to_number: "+97235550201",
            status: "in-progress",
            mode: calls::CallMode::Stream,
        },
    )
    .await
    .unwrap();

    let ws = open_stream(&app, TOKEN, call_sid, &other.id.to_string())
        .await
        .unwrap();
    // The server closes at once (1008) and sends no audio of the other tenant.
    assert_eq!(refused(ws).await, Some(1008));
    assert!(
        app.logs.lines().iter().any(
            |l| l["msg"] == "forged business_id on a media stream" && l["call_sid"] == call_sid
        )
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The close code of a stream the server should refuse; panics if it sends
/// any audio first or keeps the socket open.
pub async fn refused(mut ws: Socket) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(Message::Text(t)) => assert!(!t.contains("\"media\""), "audio sent: {t}"),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server closes the stream")
}

/// A business and a live call of it, as `incoming_call` records them.
async fn live_call(app: &TestApp, phone: &str, call_sid: &str) -> i64 {
    let db = &app.state.db;
    let biz = business::create(
        db,
        &agentlocator::domain::settings::BusinessName::parse("מספרה").unwrap(),
        &PhoneNumber::parse(phone).unwrap(),
    )
    .await
    .unwrap();
    another_call(app, biz.id, call_sid, phone).await;
    biz.id
}

async fn calls_started(app: &TestApp) -> String {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with("agentlocator_calls_total "))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_second_stream_for_a_live_call_is_refused_before_any_provider_is_called() {
    let (app, _dir) = app_with_providers().await;
    let call_sid = "CAsecond00000000000000000000000001";
    let biz = live_call(&app, "+97235550301", call_sid).await;
    let mut first = open_stream(&app, TOKEN, call_sid, &biz.to_string())
        .await
        .unwrap();
    // The first stream is served: the greeting's audio arrives.
    assert!(greeted(&mut first).await, "the first stream is served");
    let second = open_stream(&app, TOKEN, call_sid, &biz.to_string())
        .await
        .unwrap();
    assert_eq!(refused(second).await, Some(1008));
    assert_eq!(calls_started(&app).await, "agentlocator_calls_total 1");
}

#[tokio::test]
async fn an_ended_call_gets_no_stream_and_a_replayed_incoming_call_does_not_revive_it() {
    let (app, _dir) = app_with_providers().await;
    let db = &app.state.db;
    let call_sid = "CAended000000000000000000000000001";
    let biz = live_call(&app, "+97235550302", call_sid).await;
    calls::set_status(db, call_sid, "completed", Some(30))
        .await
        .unwrap();
    // A replay of the signed incoming_call for the same CallSid.
    another_call(&app, biz, call_sid, "+97235550302").await;
    let row = calls::get_by_sid(db, call_sid).await.unwrap().unwrap();
    assert_eq!(row.status.as_deref(), Some("completed"));
    assert!(row.ended_at.is_some());

    let ws = open_stream(&app, TOKEN, call_sid, &biz.to_string())
        .await
        .unwrap();
    assert_eq!(refused(ws).await, Some(1008));
    assert_eq!(calls_started(&app).await, "agentlocator_calls_total 0");
    assert!(
        app.logs
            .lines()
            .iter()
            .any(|l| l["call_sid"] == call_sid && l["extra"]["reason"] == "the call has ended")
    );
}

/// Records another live call of `business_id`, as `incoming_call` does.
async fn another_call(app: &TestApp, business_id: i64, call_sid: &str, to: &str) {
    calls::record_incoming(
        &app.state.db,
        &calls::NewCall {
            call_sid,
            business_id,
            customer_id: None,
            from_number: "+972501234568",
            to_number: to,
            status: "ringing",
            mode: calls::CallMode::Stream,
        },
        &agentlocator::domain::Timestamp::now(),
    )
    .await
    .unwrap();
}

/// Waits for the first audio of a served stream.
pub async fn greeted(ws: &mut Socket) -> bool {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(&msg, Message::Text(t) if t.contains("\"media\"")) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

#[tokio::test]
async fn beyond_its_call_limit_a_business_sends_new_callers_to_the_recording() {
    let (app, _dir) = app_with_providers().await;
    let phone = "+97235550303";
    let first_sid = "CAlimit000000000000000000000000001";
    let biz = live_call(&app, phone, first_sid).await;
    let one = agentlocator::domain::settings::AdminChange {
        max_concurrent_calls: agentlocator::domain::settings::MaxConcurrentCalls::new(1),
        ..Default::default()
    };
    crate::webhooks::change_business(&app, biz, &one).await;
    let mut first = open_stream(&app, TOKEN, first_sid, &biz.to_string())
        .await
        .unwrap();
    assert!(greeted(&mut first).await, "the first caller gets the agent");

    let second_sid = "CAlimit000000000000000000000000002";
    another_call(&app, biz, second_sid, phone).await;
    let second = open_stream(&app, TOKEN, second_sid, &biz.to_string())
        .await
        .unwrap();
    assert_eq!(refused(second).await, Some(1008), "the second one records");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("agentlocator_calls_over_capacity_total 1"),
        "{metrics}"
    );

    // When the first call ends its place is free again.
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    app.state.background_settled().await;
    let third_sid = "CAlimit000000000000000000000000003";
    another_call(&app, biz, third_sid, phone).await;
    let mut third = open_stream(&app, TOKEN, third_sid, &biz.to_string())
        .await
        .unwrap();
    assert!(
        greeted(&mut third).await,
        "a freed place takes the next caller"
    );
}

/// Twilio's `stop` for `call_sid` on stream MZ1.
fn stop_frame(call_sid: &str, sequence_number: u64) -> String {
    twilio::media::Inbound::Stop {
        sequence_number,
        stop: twilio::media::Stop {
            account_sid: "AC1".into(),
            call_sid: call_sid.into(),
        },
        stream_sid: "MZ1".into(),
    }
    .to_json()
}

/// Waits for the server to close the socket, which it does once the call
/// has ended and logged.
async fn closed_by_the_server(ws: &mut Socket) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await
    .expect("the stream ends after stop");
}

/// The log lines of one call.
fn lines_of(app: &TestApp, call_sid: &str) -> Vec<serde_json::Value> {
    app.logs
        .lines()
        .into_iter()
        .filter(|l| l["call_sid"] == call_sid)
        .collect()
}

#[tokio::test]
async fn keys_a_caller_presses_are_counted_in_the_log_but_never_written_there() {
    let (app, _dir) = app_with_providers().await;
    let call_sid = "CAkeys0000000000000000000000000001";
    let biz = live_call(&app, "+97235550303", call_sid).await;
    let mut ws = open_stream(&app, TOKEN, call_sid, &biz.to_string())
        .await
        .unwrap();
    let key = |seq: u64, digit: &str| {
        twilio::media::Inbound::Dtmf {
            stream_sid: "MZ1".into(),
            sequence_number: seq,
            dtmf: twilio::media::Dtmf {
                track: "inbound_track".into(),
                digit: digit.into(),
            },
        }
        .to_json()
    };
    // An ID number keyed in, then a frame carrying a card number where a
    // digit belongs (malformed: the digit must be a string).
    let mut frames: Vec<String> = "039337423"
        .chars()
        .zip(2..)
        .map(|(d, seq)| key(seq, &d.to_string()))
        .collect();
    frames.push(
        r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"20","dtmf":{"track":"inbound_track","digit":4580123456789012}}"#
            .into(),
    );
    frames.push(stop_frame(call_sid, 21));
    for frame in frames {
        ws.send(Message::Text(frame.into())).await.unwrap();
    }
    closed_by_the_server(&mut ws).await;

    let lines = lines_of(&app, call_sid);
    let counts: Vec<_> = lines
        .iter()
        .filter(|l| l["msg"] == "dtmf")
        .map(|l| l["extra"]["keys_pressed"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, (1..=9).collect::<Vec<u64>>());
    for line in &lines {
        assert!(line["extra"].get("digit").is_none(), "{line}");
        assert!(!line.to_string().contains("4580123456789012"), "{line}");
    }
    assert!(
        lines.iter().any(|l| l["msg"] == "inbound frame ignored"),
        "the malformed frame is still reported"
    );
}

#[tokio::test]
async fn a_ping_on_the_media_socket_is_answered_a_binary_frame_ignored_and_the_call_goes_on() {
    let (app, _dir) = app_with_providers().await;
    let call_sid = "CAping0000000000000000000000000001";
    let biz = live_call(&app, "+97235550303", call_sid).await;
    let mut ws = open_stream(&app, TOKEN, call_sid, &biz.to_string())
        .await
        .unwrap();
    assert!(greeted(&mut ws).await);

    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(vec![0xff; 160].into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Pong(payload) = msg {
                return payload.to_vec();
            }
        }
        Vec::new()
    })
    .await
    .expect("a pong comes back while the agent talks");
    assert_eq!(pong, b"are you there");

    // The call is still listening: a stop ends it as Twilio's stop does.
    ws.send(Message::Text(stop_frame(call_sid, 3).into()))
        .await
        .unwrap();
    closed_by_the_server(&mut ws).await;
    app.state.background_settled().await;

    let lines = lines_of(&app, call_sid);
    let ignored = lines
        .iter()
        .find(|l| l["msg"] == "inbound frame ignored")
        .expect("the binary frame is reported");
    assert_eq!(ignored["extra"]["kind"], "binary");
    let ended = lines
        .iter()
        .find(|l| l["msg"] == "media stream ended")
        .expect("the stream's end is logged");
    assert_eq!(ended["extra"]["end"], "Stopped");
}
