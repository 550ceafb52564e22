//! A fake Twilio on the other side of the channels: it sends caller audio
//! in real time (on the paused clock), plays what the call sends as Twilio
//! would (echoing each mark when the audio before it has played, all of
//! them at once on `clear`), and logs everything it receives.

pub mod fakes;
pub mod logs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentlocator_call::{
    CallEvent, CallLimits, CallProviders, CallSetup, CallSummary, Incoming, Outgoing, run_call,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;
use twilio::media::{Dtmf, Inbound, Mark, Media, OutboundMessage, Stop, parse_outbound};

pub const STREAM_SID: &str = "MZtest";
pub const CALL_SID: &str = "CAtest";
pub const GREETING: &str = "שלום, הגעתם למספרה של דנה.";
pub const FRAME_MS: u64 = 20;

/// 20 ms of a vowel-like sound: 200 Hz and its harmonics up to 1 kHz.
pub fn speech_frame(index: u64) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (index * 160 + i) as f64 / 8000.0;
            let v: f64 = [(1.0, 1.0), (2.0, 0.6), (3.0, 0.4), (4.0, 0.3), (5.0, 0.2)]
                .iter()
                .map(|(k, w)| w * (2.0 * std::f64::consts::PI * 200.0 * k * t).sin())
                .sum();
            voice::mulaw::encode((8000.0 * v / 2.5) as i16)
        })
        .collect()
}

/// 20 ms of digital silence.
pub fn silence_frame() -> Vec<u8> {
    vec![0xFF; 160]
}

/// What the fake Twilio saw, with the (paused) time it saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Media {
        at: Instant,
        bytes: Vec<u8>,
    },
    Mark {
        at: Instant,
        name: String,
    },
    Clear {
        at: Instant,
    },
    Ping {
        at: Instant,
    },
    Close {
        at: Instant,
        code: u16,
        reason: String,
    },
    /// The fake echoed this mark back.
    Echoed {
        at: Instant,
        name: String,
    },
}

/// The Twilio side's sending half: numbers frames in order, shared by the
/// test script and the mark echoes.
struct Wire {
    seq: u64,
    chunk: u64,
    tx: mpsc::Sender<Incoming>,
}

/// How the test call is built.
pub struct Options {
    pub providers: CallProviders,
    pub limits: CallLimits,
    pub turn: voice::TurnConfig,
    pub greeting: String,
    pub outbound_capacity: usize,
    /// Run the fake Twilio reader (false: nobody reads the outbound channel).
    pub read_outbound: bool,
}

impl Options {
    /// Without guesses at pauses: the turn starts only at its end.
    pub fn unspeculative(providers: CallProviders) -> Self {
        let mut opts = Self::new(providers);
        opts.turn.guess_after_ms = 0;
        opts
    }

    /// With guesses at pauses (the default) or, `speculative` false,
    /// without, for a test of what they change.
    pub fn guessing(providers: CallProviders, speculative: bool) -> Self {
        if speculative {
            Self::new(providers)
        } else {
            Self::unspeculative(providers)
        }
    }

    /// With turns' transcriptions hedged after `hedge` (zero: never).
    pub fn hedged_after(mut self, hedge: std::time::Duration) -> Self {
        self.limits.hedge_after = agentlocator_call::HedgeAfter::all(hedge);
        self
    }

    pub fn new(providers: CallProviders) -> Self {
        Self {
            providers,
            limits: CallLimits::default(),
            turn: voice::TurnConfig::default(),
            greeting: GREETING.to_owned(),
            outbound_capacity: 64,
            read_outbound: true,
        }
    }
}

/// A running call with its fake Twilio.
pub struct TestCall {
    wire: Arc<tokio::sync::Mutex<Wire>>,
    log: Arc<Mutex<Vec<Out>>>,
    pub events: mpsc::Receiver<CallEvent>,
    pub shutdown: CancellationToken,
    handle: JoinHandle<CallSummary>,
    /// Held when nobody reads the outbound channel, so it stays open.
    pub unread: Option<mpsc::Receiver<Outgoing>>,
    frames_sent: u64,
}

pub fn start(opts: Options) -> TestCall {
    let (in_tx, in_rx) = mpsc::channel(64);
    let (out_tx, out_rx) = mpsc::channel(opts.outbound_capacity);
    let (ev_tx, ev_rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let setup = CallSetup {
        call_sid: CALL_SID.to_owned(),
        stream_sid: STREAM_SID.to_owned(),
        business_id: 7,
        greeting: opts.greeting,
        system_prompt: "את פקידת קבלה מנומסת.".to_owned(),
        voice: None,
        turn: opts.turn,
        endpoint: voice::EndpointBounds::default(),
        limits: opts.limits,
    };
    let handle = tokio::spawn(run_call(
        setup,
        opts.providers,
        in_rx,
        out_tx,
        ev_tx,
        shutdown.clone(),
    ));
    let wire = Arc::new(tokio::sync::Mutex::new(Wire {
        // `start` was sequence 1, consumed before the call ran.
        seq: 1,
        chunk: 0,
        tx: in_tx,
    }));
    let log = Arc::new(Mutex::new(Vec::new()));
    let unread = if opts.read_outbound {
        tokio::spawn(twilio_player(out_rx, wire.clone(), log.clone()));
        None
    } else {
        Some(out_rx)
    };
    TestCall {
        wire,
        log,
        events: ev_rx,
        shutdown,
        handle,
        unread,
        frames_sent: 0,
    }
}

/// Plays outbound audio as Twilio would and echoes marks when played.
async fn twilio_player(
    mut rx: mpsc::Receiver<Outgoing>,
    wire: Arc<tokio::sync::Mutex<Wire>>,
    log: Arc<Mutex<Vec<Out>>>,
) {
    let mut play_end = Instant::now();
    let mut pending: Vec<(Instant, String)> = Vec::new();
    loop {
        let next_echo = pending.first().map(|(at, _)| *at);
        tokio::select! {
            frame = rx.recv() => {
                let now = Instant::now();
                let Some(frame) = frame else { return };
                let entry = match frame {
                    Outgoing::Ping => Out::Ping { at: now },
                    Outgoing::Close { code, reason } => Out::Close { at: now, code, reason },
                    Outgoing::Text(text) => match parse_outbound(&text).expect("the call sends valid frames") {
                        OutboundMessage::Media { stream_sid, .. } => {
                            assert_eq!(stream_sid, STREAM_SID);
                            let mut bytes = Vec::new();
                            parse_outbound(&text).unwrap().decode_payload_into(&mut bytes).unwrap();
                            play_end = play_end.max(now) + Duration::from_micros(bytes.len() as u64 * 125);
                            Out::Media { at: now, bytes }
                        }
                        OutboundMessage::Mark { name, .. } => {
                            pending.push((play_end.max(now), name.clone()));
                            Out::Mark { at: now, name }
                        }
                        OutboundMessage::Clear { .. } => {
                            play_end = now;
                            for (at, _) in &mut pending {
                                *at = now;
                            }
                            Out::Clear { at: now }
                        }
                    },
                };
                log.lock().unwrap().push(entry);
            }
            () = sleep_until(next_echo.unwrap_or_else(Instant::now)), if next_echo.is_some() => {
                let (_, name) = pending.remove(0);
                let mut w = wire.lock().await;
                w.seq += 1;
                let frame = Inbound::Mark {
                    sequence_number: w.seq,
                    stream_sid: STREAM_SID.to_owned(),
                    mark: Mark { name: name.clone() },
                };
                let _ = w.tx.send(Incoming::Text(frame.to_json())).await;
                log.lock().unwrap().push(Out::Echoed { at: Instant::now(), name });
            }
        }
    }
}

impl TestCall {
    /// Sends one frame built with the next sequence number.
    pub async fn send(&self, make: impl FnOnce(u64) -> Inbound) {
        let mut w = self.wire.lock().await;
        w.seq += 1;
        let frame = make(w.seq);
        let _ = w.tx.send(Incoming::Text(frame.to_json())).await;
    }

    /// Sends something raw, without numbering it.
    pub async fn send_raw(&self, incoming: Incoming) {
        let w = self.wire.lock().await;
        let _ = w.tx.send(incoming).await;
    }

    async fn audio(&mut self, mulaw: Vec<u8>) {
        {
            let mut w = self.wire.lock().await;
            w.seq += 1;
            w.chunk += 1;
            let frame = Inbound::Media {
                sequence_number: w.seq,
                media: Media::inbound(w.chunk, w.chunk * FRAME_MS, &mulaw),
                stream_sid: STREAM_SID.to_owned(),
            };
            let _ = w.tx.send(Incoming::Text(frame.to_json())).await;
        }
        self.frames_sent += 1;
        sleep(Duration::from_millis(FRAME_MS)).await;
    }

    /// The caller speaks for `ms`, in real time.
    pub async fn speak(&mut self, ms: u64) {
        for _ in 0..ms / FRAME_MS {
            let frame = speech_frame(self.frames_sent);
            self.audio(frame).await;
        }
    }

    /// The caller's leg carries speech `attenuation_db` quieter than
    /// [`TestCall::speak`] for `ms` (the agent's own echo, say).
    pub async fn speak_quietly(&mut self, ms: u64, attenuation_db: f64) {
        let gain = 10f64.powf(-attenuation_db / 20.0);
        for _ in 0..ms / FRAME_MS {
            let frame: Vec<u8> = speech_frame(self.frames_sent)
                .into_iter()
                .map(|b| voice::mulaw::encode((f64::from(voice::mulaw::decode(b)) * gain) as i16))
                .collect();
            self.audio(frame).await;
        }
    }

    /// The caller's leg carries `pcm` (8 kHz), in real time, as Twilio
    /// sends it: mu-law in 20 ms frames.
    pub async fn play(&mut self, pcm: &[i16]) {
        for chunk in pcm.chunks(160) {
            let mut frame = Vec::with_capacity(160);
            voice::mulaw::encode_into(chunk, &mut frame);
            self.audio(frame).await;
        }
    }

    /// The caller is silent for `ms`, in real time.
    pub async fn silence(&mut self, ms: u64) {
        for _ in 0..ms / FRAME_MS {
            self.audio(silence_frame()).await;
        }
    }

    /// Silence until `done` holds for what Twilio received (at most `max_ms`).
    pub async fn silence_until(&mut self, max_ms: u64, done: impl Fn(&[Out]) -> bool) -> bool {
        for _ in 0..max_ms / FRAME_MS {
            if done(&self.log()) {
                return true;
            }
            self.audio(silence_frame()).await;
        }
        done(&self.log())
    }

    pub async fn dtmf(&self, digit: &str) {
        self.send(|seq| Inbound::Dtmf {
            stream_sid: STREAM_SID.to_owned(),
            sequence_number: seq,
            dtmf: Dtmf {
                track: "inbound_track".to_owned(),
                digit: digit.to_owned(),
            },
        })
        .await;
    }

    pub async fn stop(&self) {
        self.send(|seq| Inbound::Stop {
            sequence_number: seq,
            stop: Stop {
                account_sid: "ACtest".to_owned(),
                call_sid: CALL_SID.to_owned(),
            },
            stream_sid: STREAM_SID.to_owned(),
        })
        .await;
    }

    /// Everything Twilio received so far.
    pub fn log(&self) -> Vec<Out> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the call to end (bounded) and returns its summary, the
    /// final log and every event it sent.
    pub async fn finish(mut self) -> (CallSummary, Vec<Out>, Vec<CallEvent>) {
        let summary = tokio::time::timeout(Duration::from_secs(60), &mut self.handle)
            .await
            .expect("the call ends")
            .expect("the call task does not panic");
        // Let the fake Twilio log what was sent last.
        sleep(Duration::from_millis(1)).await;
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        (summary, self.log(), events)
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Media frames whose audio is filled with `byte`.
pub fn media_of(log: &[Out], byte: u8) -> Vec<Instant> {
    log.iter()
        .filter_map(|o| match o {
            Out::Media { at, bytes } if bytes.first() == Some(&byte) => Some(*at),
            _ => None,
        })
        .collect()
}

/// When the first frame of the agent's `text` went out to Twilio, from
/// whichever of its syntheses (a guess thrown away is never played).
/// Fails the test if none was sent.
pub fn first_frame_of(log: &[Out], tts: &fakes::FakeTts, text: &str) -> Instant {
    let bytes: Vec<u8> = (tts.said.lock().unwrap().iter())
        .filter(|(said, _)| said == text)
        .map(|&(_, byte)| byte)
        .collect();
    bytes
        .into_iter()
        .filter_map(|byte| media_of(log, byte).first().copied())
        .min()
        .expect("the text was played")
}

/// How many times the agent cleared Twilio's buffer: cut itself off.
pub fn clears(log: &[Out]) -> usize {
    log.iter()
        .filter(|o| matches!(o, Out::Clear { .. }))
        .count()
}

pub fn marks(log: &[Out]) -> Vec<String> {
    log.iter()
        .filter_map(|o| match o {
            Out::Mark { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

pub fn echoed(log: &[Out], name: &str) -> bool {
    log.iter()
        .any(|o| matches!(o, Out::Echoed { name: n, .. } if n == name))
}

pub fn turns(events: &[CallEvent]) -> Vec<agentlocator_call::TurnRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Turn(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// What the caller said in one request to the model, in order.
pub fn users_in(messages: &[providers::ChatMessage]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.role == providers::ChatRole::User)
        .map(|m| m.content.clone())
        .collect()
}
