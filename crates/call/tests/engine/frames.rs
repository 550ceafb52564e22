//! Whatever the peer sends, the call goes on: bad frames are ignored and
//! logged (rate-limited); DTMF is reported but never logged; the heartbeat keeps the socket
//! alive; the stream's start is awaited with a bound.

use std::time::Duration;

use agentlocator_call::{CallEvent, EndReason, Incoming, StartError, await_start};
use tokio::sync::mpsc;
use tokio::time::Instant;
use twilio::media::{Inbound, Media, Start};

use crate::support::logs::Logs;
use crate::support::{Options, Out, STREAM_SID, echoed, speech_frame, start, turns};
use crate::{CALLER_SAYS, Fakes};

#[tokio::test(start_paused = true)]
async fn malformed_unknown_out_of_order_binary_and_oversized_frames_are_ignored_and_the_call_goes_on()
 {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(1000).await;

    for junk in [
        "not json",
        "{",
        "null",
        r#"{"event":"media"}"#,
        "\u{0}\u{ffff}",
    ] {
        call.send_raw(Incoming::Text(junk.to_owned())).await;
    }
    call.send_raw(Incoming::Text(
        r#"{"event":"recording","streamSid":"MZtest"}"#.to_owned(),
    ))
    .await;
    for _ in 0..100 {
        call.send_raw(Incoming::Binary(vec![1, 2, 3])).await;
    }
    call.send_raw(Incoming::Text(format!(
        r#"{{"event":"media","x":"{}"}}"#,
        "a".repeat(70_000)
    )))
    .await;
    call.send_raw(Incoming::Pong).await;
    // A replayed (lower) sequence number, carrying speech that must not count.
    call.send_raw(Incoming::Text(
        Inbound::Media {
            sequence_number: 2,
            media: Media::inbound(1, 20, &speech_frame(0)),
            stream_sid: STREAM_SID.to_owned(),
        }
        .to_json(),
    ))
    .await;
    call.send(|seq| Inbound::Media {
        sequence_number: seq,
        media: Media::inbound(1, 20, &speech_frame(0)),
        stream_sid: "MZsomeoneelse".to_owned(),
    })
    .await;
    call.send(|seq| Inbound::Media {
        sequence_number: seq,
        media: Media {
            payload: "not base64!".to_owned(),
            ..Media::inbound(1, 20, &[])
        },
        stream_sid: STREAM_SID.to_owned(),
    })
    .await;
    call.send(|seq| Inbound::Start {
        sequence_number: seq,
        start: Start::new("AC1", STREAM_SID, "CAother"),
        stream_sid: STREAM_SID.to_owned(),
    })
    .await;
    call.send(|_| Inbound::connected()).await;

    // And then a normal turn still works.
    call.speak(1200).await;
    assert!(call.silence_until(5000, |log| echoed(log, "t2-s1")).await);
    call.stop().await;
    let (summary, _, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::Stopped);
    let records = turns(&events);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].user_text.as_deref(), Some(CALLER_SAYS));
    let ignored = logs.named("inbound frame ignored");
    let kinds: std::collections::BTreeSet<_> =
        ignored.iter().map(|l| l.fields["kind"].clone()).collect();
    for kind in [
        "malformed",
        "unknown_event",
        "binary",
        "oversized",
        "out_of_order",
        "wrong_stream",
        "bad_payload",
        "repeated_start",
    ] {
        assert!(kinds.contains(kind), "{kind} not logged: {kinds:?}");
    }
    let binary = ignored
        .iter()
        .filter(|l| l.fields["kind"] == "binary")
        .count();
    assert_eq!(binary, 7, "100 binary frames log 7 warnings (1, 2, 4 … 64)");
    assert!(ignored.iter().all(|l| l.level == tracing::Level::WARN));
}

#[tokio::test(start_paused = true)]
async fn pressed_keys_reach_the_service_but_the_log_only_counts_them() {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(200).await;
    for digit in ["4", "5", "#"] {
        call.dtmf(digit).await;
    }
    // A malformed key frame, as if a card number had been sent as a number.
    call.send_raw(Incoming::Text(
        r#"{"event":"dtmf","streamSid":"MZtest","sequenceNumber":"90","dtmf":{"track":"inbound_track","digit":4580123456789012}}"#
            .to_owned(),
    ))
    .await;
    call.silence(200).await;
    call.stop().await;
    let (_, _, events) = call.finish().await;

    let keys: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Dtmf { digit } => Some(digit.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ["4", "5", "#"]);
    let counted: Vec<String> = logs
        .named("dtmf")
        .into_iter()
        .map(|l| {
            assert_eq!(l.level, tracing::Level::INFO);
            let keys: Vec<&str> = l.fields.keys().map(String::as_str).collect();
            assert_eq!(keys, ["business_id", "call_sid", "keys_pressed"]);
            l.fields["keys_pressed"].clone()
        })
        .collect();
    assert_eq!(counted, ["1", "2", "3"]);
    assert_eq!(logs.named("call_ended")[0].fields["keys_pressed"], "3");
    let malformed = logs.named("inbound frame ignored");
    assert_eq!(malformed.len(), 1, "{malformed:?}");
    for line in logs.all() {
        assert!(!line.fields.contains_key("digit"), "{line:?}");
        for value in line.fields.values() {
            assert!(!value.contains("4580123456789012"), "{line:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_ping_goes_out_at_every_heartbeat_interval() {
    let (logs, _guard) = Logs::install();
    let fakes = Fakes::standard();
    let call = start(Options::new(fakes.providers()));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(46)).await;
    call.stop().await;
    let (_, log, _) = call.finish().await;

    let pings: Vec<_> = log
        .iter()
        .filter_map(|o| match o {
            Out::Ping { at } => Some(*at - t0),
            _ => None,
        })
        .collect();
    let secs = Duration::from_secs;
    assert_eq!(pings, [secs(15), secs(30), secs(45)]);
    assert_eq!(logs.named("ws_heartbeat").len(), 3);
    assert!(
        logs.named("ws_heartbeat")
            .iter()
            .all(|l| l.level == tracing::Level::DEBUG)
    );
}

fn start_frame() -> String {
    Inbound::Start {
        sequence_number: 1,
        start: Start::new("AC1", "MZ1", "CA1").with_parameter("business_id", "7"),
        stream_sid: "MZ1".to_owned(),
    }
    .to_json()
}

#[tokio::test(start_paused = true)]
async fn await_start_skips_connected_and_junk_and_returns_the_start() {
    let (tx, mut rx) = mpsc::channel(8);
    tx.send(Incoming::Text(Inbound::connected().to_json()))
        .await
        .unwrap();
    tx.send(Incoming::Binary(vec![0; 4])).await.unwrap();
    tx.send(Incoming::Text("garbage".to_owned())).await.unwrap();
    tx.send(Incoming::Text(start_frame())).await.unwrap();
    let start = await_start(&mut rx, Duration::from_secs(5)).await.unwrap();
    assert_eq!(start.call_sid, "CA1");
    assert_eq!(start.stream_sid, "MZ1");
    assert_eq!(start.custom_parameters["business_id"], "7");
}

#[tokio::test(start_paused = true)]
async fn await_start_gives_up_after_its_timeout_or_when_the_socket_closes() {
    let (tx, mut rx) = mpsc::channel(8);
    tx.send(Incoming::Text(Inbound::connected().to_json()))
        .await
        .unwrap();
    let t0 = Instant::now();
    let waited = await_start(&mut rx, Duration::from_secs(5)).await;
    assert_eq!(waited, Err(StartError::Timeout(Duration::from_secs(5))));
    assert_eq!(Instant::now() - t0, Duration::from_secs(5));

    tx.send(Incoming::Close).await.unwrap();
    assert_eq!(
        await_start(&mut rx, Duration::from_secs(5)).await,
        Err(StartError::Closed)
    );
    drop(tx);
    assert_eq!(
        await_start(&mut rx, Duration::from_secs(5)).await,
        Err(StartError::Closed)
    );
}

/// One arbitrary thing a hostile or broken peer might send.
#[derive(Debug, Clone)]
enum Junk {
    Text(String),
    Media {
        seq: u64,
        own_stream: bool,
        audio: Vec<u8>,
    },
    Mark {
        seq: u64,
        name: String,
    },
    Dtmf {
        seq: u64,
        digit: String,
    },
    Binary(Vec<u8>),
    Pong,
}

fn junk() -> impl proptest::strategy::Strategy<Value = Junk> {
    use proptest::prelude::*;
    prop_oneof![
        ".{0,200}".prop_map(Junk::Text),
        (
            0..400_u64,
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..400)
        )
            .prop_map(|(seq, own_stream, audio)| Junk::Media {
                seq,
                own_stream,
                audio
            }),
        (0..400_u64, "(t[0-9]{1,3}-s[0-9]{1,2}|.{0,12})")
            .prop_map(|(seq, name)| Junk::Mark { seq, name }),
        (0..400_u64, ".{0,3}").prop_map(|(seq, digit)| Junk::Dtmf { seq, digit }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Junk::Binary),
        Just(Junk::Pong),
    ]
}

fn to_incoming(junk: Junk) -> Incoming {
    use twilio::media::{Dtmf, Mark};
    let sid = |own: bool| if own { STREAM_SID } else { "MZx" }.to_owned();
    match junk {
        Junk::Text(text) => Incoming::Text(text),
        Junk::Binary(bytes) => Incoming::Binary(bytes),
        Junk::Pong => Incoming::Pong,
        Junk::Media {
            seq,
            own_stream,
            audio,
        } => Incoming::Text(
            Inbound::Media {
                sequence_number: seq,
                media: Media::inbound(seq, seq * 20, &audio),
                stream_sid: sid(own_stream),
            }
            .to_json(),
        ),
        Junk::Mark { seq, name } => Incoming::Text(
            Inbound::Mark {
                sequence_number: seq,
                stream_sid: sid(true),
                mark: Mark { name },
            }
            .to_json(),
        ),
        Junk::Dtmf { seq, digit } => Incoming::Text(
            Inbound::Dtmf {
                stream_sid: sid(true),
                sequence_number: seq,
                dtmf: Dtmf {
                    track: "inbound_track".to_owned(),
                    digit,
                },
            }
            .to_json(),
        ),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_frame_sequences_never_panic_the_call(
        frames in proptest::collection::vec(junk(), 0..120),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let fakes = Fakes::standard();
            let call = start(Options::new(fakes.providers()));
            for frame in frames {
                call.send_raw(to_incoming(frame)).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            call.send_raw(Incoming::Close).await;
            let (summary, _, _) = call.finish().await;
            assert_eq!(summary.end, EndReason::PeerClosed);
        });
    }
}
