//! The Media Streams leg of a simulated call: Twilio's side of the
//! WebSocket, one `select!` loop over the 20 ms frame clock, the server's
//! frames and the next mark to echo.
//!
//! The caller's line never goes quiet: between utterances it carries
//! silence frames, as a real phone line does, so the server's VAD and
//! endpointing see what they would see in production.
//!
//! The simulator judges itself too: each caller frame's send lateness
//! (when it left minus when the 20 ms clock scheduled it) goes into a
//! histogram shared by every call, so a load run can tell a server that
//! fell behind from a generator that did.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use twilio::media::{Inbound, Mark, Media, OutboundMessage, Start, Stop, parse_outbound};
use url::Url;

use super::histogram::Histogram;
use super::playback::Playback;
use super::{SimError, SimOptions, TurnReport, fresh_sid};

/// 20 ms of 8 kHz mu-law: what Twilio sends per media frame.
const FRAME_BYTES: usize = 160;
const FRAME_DURATION: Duration = Duration::from_millis(20);
/// A caller frame that leaves more than one frame period after its slot is
/// late: the generator, not the server, fell behind by a whole frame.
pub(super) const SEND_LATE_AFTER: Duration = FRAME_DURATION;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server's side of the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Frames whose RMS is below this (about −36 dBFS) are not speech: where an
/// utterance's speech ends.
const SPEECH_RMS: f64 = 500.0;
/// Protocol errors kept in the report; a server that gets every frame
/// wrong should not grow it without bound.
const MAX_PROTOCOL_ERRORS: usize = 50;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and how to open the stream.
pub(super) struct Plan<'a> {
    pub(super) ws_url: Url,
    /// The `<Stream url>` as written, which the handshake signature covers.
    pub(super) stream_url: &'a str,
    pub(super) parameters: &'a [(String, String)],
    pub(super) call_sid: &'a str,
    pub(super) account_sid: &'a str,
}

/// What the stream observed.
pub(super) struct Outcome {
    pub(super) greeting_wait_ms: Option<f64>,
    pub(super) greeting_audio_ms: u64,
    pub(super) turns: Vec<TurnReport>,
    pub(super) playback: Playback,
    pub(super) marks_echoed: u64,
    pub(super) clears: u64,
    pub(super) protocol_errors: Vec<String>,
    pub(super) server_closed: bool,
    pub(super) sending: Sending,
    /// From the media's start to the hang-up or the server's close.
    pub(super) talked: Duration,
}

/// How punctually the caller's frames left (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Sending {
    /// Caller media frames sent.
    pub(super) frames: u64,
    /// Of which later than [`SEND_LATE_AFTER`] after their slot.
    pub(super) late_frames: u64,
    /// The latest any frame left after its slot.
    pub(super) max_lateness: Duration,
}

/// The server closed the socket (or it broke): the call goes to failover.
struct Closed;

/// Opens the stream, plays the caller, and returns when the caller has
/// hung up or the server has closed the socket. Each caller frame's send
/// lateness is recorded in `send_lateness`.
pub(super) async fn run(
    opts: &SimOptions,
    plan: Plan<'_>,
    send_lateness: &Histogram,
) -> Result<Outcome, SimError> {
    let ws_error = |source| SimError::WebSocket {
        url: plan.ws_url.to_string(),
        source: Box::new(source),
    };
    let mut request = plan
        .ws_url
        .as_str()
        .into_client_request()
        .map_err(ws_error)?;
    let signature = twilio::signature::compute(&opts.auth_token, plan.stream_url, &[]);
    let signature = HeaderValue::from_str(&signature)
        .map_err(|e| ws_error(tungstenite::Error::HttpFormat(e.into())))?;
    request
        .headers_mut()
        .insert("X-Twilio-Signature", signature);
    let (ws, _) = timeout(CONNECT_TIMEOUT, connect_async(request))
        .await
        .map_err(|_| ws_error(tungstenite::Error::Io(std::io::ErrorKind::TimedOut.into())))?
        .map_err(ws_error)?;

    let stream_sid = fresh_sid("MZ");
    let mut call = Call::new(opts, ws, stream_sid, send_lateness);
    let server_closed = call.play(&plan).await.is_err();
    if !server_closed {
        call.hang_up(&plan).await;
    }
    let talked = call.t0.elapsed();
    Ok(Outcome {
        greeting_wait_ms: call.greeting_wait_ms,
        greeting_audio_ms: call.greeting_audio_ms,
        turns: call.turns,
        playback: call.playback,
        marks_echoed: call.marks_echoed,
        clears: call.clears,
        protocol_errors: call.protocol_errors,
        server_closed,
        sending: call.sending,
        talked,
    })
}

/// Where the caller is in the conversation.
enum Phase {
    /// Saying turn `turn` (utterance `turn` modulo their number), not yet
    /// past its last voiced frame.
    Speaking { turn: usize },
    /// Waiting for the greeting (`turn` = `None`) or the reply to `turn` to
    /// come and finish.
    Listening {
        turn: Option<usize>,
        /// End of caller speech (or stream start for the greeting).
        since: Instant,
        first_audio: Option<Instant>,
        bytes: u64,
        /// The longest the caller has heard nothing so far (see
        /// [`TurnReport::longest_silence_ms`]).
        longest_silence: Duration,
    },
    /// All utterances said and answered (or, with a duration, the time is
    /// up): hang up.
    Done,
}

struct Call<'o> {
    opts: &'o SimOptions,
    ws: Ws,
    stream_sid: String,
    /// One counter over every frame sent after `connected`, as Twilio does.
    sequence: u64,
    /// Media chunks sent, from 1.
    chunk: u64,
    t0: Instant,
    /// The turn whose utterance is still going out on the line, and how far.
    line: Option<(usize, usize)>,
    /// Per utterance, the byte offset just past its last voiced frame.
    speech_ends: Vec<usize>,
    /// Where the next frame's background starts ([`SimOptions::background`]).
    background_at: usize,
    phase: Phase,
    playback: Playback,
    last_arrival: Option<Instant>,
    payload: Vec<u8>,
    greeting_wait_ms: Option<f64>,
    greeting_audio_ms: u64,
    turns: Vec<TurnReport>,
    marks_echoed: u64,
    clears: u64,
    protocol_errors: Vec<String>,
    send_lateness: &'o Histogram,
    sending: Sending,
}

impl<'o> Call<'o> {
    fn new(opts: &'o SimOptions, ws: Ws, stream_sid: String, send_lateness: &'o Histogram) -> Self {
        let t0 = Instant::now();
        Self {
            opts,
            ws,
            stream_sid,
            sequence: 0,
            chunk: 0,
            t0,
            line: None,
            speech_ends: opts.utterances.iter().map(|u| speech_end(u)).collect(),
            background_at: 0,
            phase: Phase::Listening {
                turn: None,
                since: t0,
                first_audio: None,
                bytes: 0,
                longest_silence: Duration::ZERO,
            },
            playback: Playback::new(t0, opts.keep_heard),
            last_arrival: None,
            payload: Vec::with_capacity(FRAME_BYTES),
            greeting_wait_ms: None,
            greeting_audio_ms: 0,
            turns: Vec::new(),
            marks_echoed: 0,
            clears: 0,
            protocol_errors: Vec::new(),
            send_lateness,
            sending: Sending::default(),
        }
    }

    /// `connected`, `start`, then the conversation until every utterance is
    /// answered. `Err` when the server closed the socket first.
    async fn play(&mut self, plan: &Plan<'_>) -> Result<(), Closed> {
        self.send(Inbound::connected()).await?;
        let mut start = Start::new(plan.account_sid, &self.stream_sid, plan.call_sid);
        for (name, value) in plan.parameters {
            start = start.with_parameter(name, value);
        }
        let frame = Inbound::Start {
            sequence_number: self.next_sequence(),
            start,
            stream_sid: self.stream_sid.clone(),
        };
        self.send(frame).await?;

        // The timeline starts with the media, right after `start`.
        self.t0 = Instant::now();
        self.playback = Playback::new(self.t0, self.opts.keep_heard);
        self.playback.begin_reply();
        self.phase = Phase::Listening {
            turn: None,
            since: self.t0,
            first_audio: None,
            bytes: 0,
            longest_silence: Duration::ZERO,
        };
        let mut clock = interval_at(self.t0, FRAME_DURATION);
        // Catch up after a stall rather than stretch the call: the frame
        // timestamps stay true to the wall clock, as a real line's do.
        clock.set_missed_tick_behavior(MissedTickBehavior::Burst);

        while !matches!(self.phase, Phase::Done) {
            let mark_due = self.playback.next_mark_due();
            tokio::select! {
                incoming = self.ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => self.on_text(&text).await?,
                    Some(Ok(Message::Binary(_))) => {
                        self.protocol_error("binary frame (Twilio error 31950)".to_owned());
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(Closed),
                    // Pings are answered by tungstenite itself.
                    Some(Ok(_)) => {}
                },
                () = sleep_until(mark_due.unwrap_or(self.t0)), if mark_due.is_some() => {
                    let due = self.playback.due_marks(Instant::now());
                    self.echo_marks(due).await?;
                }
                slot = clock.tick() => self.tick(slot).await?,
            }
        }
        Ok(())
    }

    /// Sends `stop` and closes the socket, as Twilio does when the caller
    /// hangs up. Errors are moot by now: the call is over either way.
    async fn hang_up(&mut self, plan: &Plan<'_>) {
        let stop = Inbound::Stop {
            sequence_number: self.next_sequence(),
            stop: Stop {
                account_sid: plan.account_sid.to_owned(),
                call_sid: plan.call_sid.to_owned(),
            },
            stream_sid: self.stream_sid.clone(),
        };
        if self.send(stop).await.is_err() {
            return;
        }
        let _ = self.ws.close(None).await;
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        let _ = timeout(CLOSE_TIMEOUT, drain).await;
    }

    /// One 20 ms frame of the caller's line, due at `slot`, then the turn
    /// bookkeeping.
    async fn tick(&mut self, slot: Instant) -> Result<(), Closed> {
        let mut frame = [voice::mulaw::SILENCE; FRAME_BYTES];
        let mut speech_ended = None;
        if let Some((turn, offset)) = self.line {
            let said = turn % self.opts.utterances.len();
            let utterance = &self.opts.utterances[said];
            let end = (offset + FRAME_BYTES).min(utterance.len());
            frame[..end - offset].copy_from_slice(&utterance[offset..end]);
            let speech_end = self.speech_ends[said];
            if offset < speech_end && speech_end <= end || utterance.is_empty() {
                speech_ended = Some(turn);
            }
            self.line = (end < utterance.len()).then_some((turn, end));
        }
        mix_under(&mut frame, &self.opts.background, &mut self.background_at);
        self.chunk += 1;
        let media = Inbound::Media {
            sequence_number: self.next_sequence(),
            media: Media::inbound(self.chunk, (self.chunk - 1) * 20, &frame),
            stream_sid: self.stream_sid.clone(),
        };
        self.send(media).await?;
        let now = Instant::now();
        self.record_send(now.saturating_duration_since(slot));

        let speaking = match self.phase {
            Phase::Speaking { turn } => Some(turn),
            _ => None,
        };
        if let Some(turn) = speech_ended.filter(|&t| Some(t) == speaking) {
            self.phase = Phase::Listening {
                turn: Some(turn),
                since: now,
                first_audio: None,
                bytes: 0,
                longest_silence: Duration::ZERO,
            };
            self.playback.begin_reply();
        }
        if self.listening_is_over(now) {
            self.finish_listening(now);
        }
        Ok(())
    }

    /// Counts one caller frame that left `lateness` after its slot.
    fn record_send(&mut self, lateness: Duration) {
        self.send_lateness.record(lateness);
        self.sending.frames += 1;
        self.sending.late_frames += u64::from(lateness > SEND_LATE_AFTER);
        self.sending.max_lateness = self.sending.max_lateness.max(lateness);
    }

    /// The turn to say after `said` turns, now; `None` to hang up.
    fn next_turn(&self, said: usize, now: Instant) -> Option<usize> {
        next_turn(
            said,
            self.opts.utterances.len(),
            now.saturating_duration_since(self.t0),
            self.opts.duration,
        )
    }

    /// Whether the greeting or reply being waited for is over: quiet for
    /// `reply_quiet` after it started (counting audio still queued to play),
    /// never started within `wait_reply_timeout`, longer than `max_reply`,
    /// or cut into by a barging-in caller.
    fn listening_is_over(&self, now: Instant) -> bool {
        let Phase::Listening {
            turn,
            since,
            first_audio,
            ..
        } = &self.phase
        else {
            return false;
        };
        match first_audio {
            None => now >= *since + self.opts.wait_reply_timeout,
            Some(first) if turn.is_some() && self.barges_in_after(*first, now) => true,
            Some(_) => {
                let last_sound = self
                    .last_arrival
                    .map_or(*since, |t| t.max(self.playback.playing_until()));
                now >= last_sound + self.opts.reply_quiet || now >= *since + self.opts.max_reply
            }
        }
    }

    /// Whether the caller cuts in on a reply that started at `first`: only
    /// when asked to, and only with something left to say.
    fn barges_in_after(&self, first: Instant, now: Instant) -> bool {
        let more_to_say = self.next_turn(self.turns.len() + 1, now).is_some();
        self.opts
            .barge_in_after
            .is_some_and(|after| more_to_say && now >= first + after)
    }

    fn finish_listening(&mut self, now: Instant) {
        let Phase::Listening {
            turn,
            since,
            first_audio,
            bytes,
            longest_silence,
        } = self.phase
        else {
            return;
        };
        self.playback.end_reply();
        let waited_ms = first_audio.map(|t| (t - since).as_secs_f64() * 1000.0);
        let audio_ms = bytes / 8;
        let next = match turn {
            None => {
                self.greeting_wait_ms = waited_ms;
                self.greeting_audio_ms = audio_ms;
                0
            }
            Some(turn) => {
                self.turns.push(TurnReport {
                    turn: u32::try_from(turn + 1).unwrap_or(u32::MAX),
                    caller_felt_ms: waited_ms,
                    reply_audio_ms: audio_ms,
                    longest_silence_ms: first_audio.map(|_| longest_silence.as_secs_f64() * 1000.0),
                });
                turn + 1
            }
        };
        match self.next_turn(next, now) {
            Some(turn) => {
                self.line = Some((turn, 0));
                self.phase = Phase::Speaking { turn };
            }
            None => self.phase = Phase::Done,
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Closed> {
        let now = Instant::now();
        let message = match parse_outbound(text) {
            Ok(message) => message,
            Err(err) => {
                self.protocol_error(format!("{err} (Twilio error 31951)"));
                return Ok(());
            }
        };
        if message.stream_sid() != self.stream_sid {
            self.protocol_error(format!(
                "frame for streamSid {:?}, not this stream's (Twilio error 31951)",
                message.stream_sid()
            ));
            return Ok(());
        }
        match message {
            OutboundMessage::Media { .. } => {
                let mut payload = std::mem::take(&mut self.payload);
                match message.decode_payload_into(&mut payload) {
                    Ok(()) => self.on_media(now, &payload),
                    Err(err) => self.protocol_error(format!("{err} (Twilio error 31951)")),
                }
                self.payload = payload;
            }
            OutboundMessage::Mark { name, .. } => {
                if let Some(name) = self.playback.on_mark(now, name) {
                    self.echo_marks(vec![name]).await?;
                }
            }
            OutboundMessage::Clear { .. } => {
                self.clears += 1;
                let released = self.playback.on_clear(now);
                self.echo_marks(released).await?;
            }
        }
        Ok(())
    }

    fn on_media(&mut self, now: Instant, mulaw: &[u8]) {
        // Measured before the frame is queued: how long the line had been
        // quiet when it came. Audio still queued to play is not silence.
        let dry_since = self.playback.playing_until();
        self.playback.on_media(now, mulaw);
        self.last_arrival = Some(now);
        if let Phase::Listening {
            since,
            first_audio,
            bytes,
            longest_silence,
            ..
        } = &mut self.phase
        {
            let quiet_from = match first_audio {
                None => *since,
                Some(_) => dry_since,
            };
            *longest_silence = (*longest_silence).max(now.saturating_duration_since(quiet_from));
            first_audio.get_or_insert(now);
            *bytes += mulaw.len() as u64;
        }
    }

    async fn echo_marks(&mut self, names: Vec<String>) -> Result<(), Closed> {
        for name in names {
            let echo = Inbound::Mark {
                sequence_number: self.next_sequence(),
                stream_sid: self.stream_sid.clone(),
                mark: Mark { name },
            };
            self.send(echo).await?;
            self.marks_echoed += 1;
        }
        Ok(())
    }

    fn protocol_error(&mut self, error: String) {
        tracing::debug!(%error, "server frame Twilio would reject");
        if self.protocol_errors.len() < MAX_PROTOCOL_ERRORS {
            self.protocol_errors.push(error);
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    async fn send(&mut self, frame: Inbound) -> Result<(), Closed> {
        self.ws
            .send(Message::text(frame.to_json()))
            .await
            .map_err(|_| Closed)
    }
}

/// Adds `background` (mu-law, looped from `at`, which moves on) to the
/// mu-law `frame`, sample by sample in linear PCM, clipping at full scale.
/// Where the caller speaks is still judged on the utterance alone (see
/// [`speech_end`]): the background is the line, not the caller.
fn mix_under(frame: &mut [u8], background: &[u8], at: &mut usize) {
    if background.is_empty() {
        return;
    }
    for byte in frame.iter_mut() {
        let sum = i32::from(voice::mulaw::decode(*byte))
            + i32::from(voice::mulaw::decode(background[*at]));
        // Clamped to i16 first, so the cast cannot wrap.
        *byte = voice::mulaw::encode(sum.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16);
        *at = (*at + 1) % background.len();
    }
}

/// The turn to say after `said` turns (its utterance is the turn modulo
/// `utterances`), or `None` to hang up. Without a `duration` each utterance
/// is said once; with one, the utterances come round again until the call
/// has `talked` for that long, and the reply to the last turn begun is
/// still waited for.
fn next_turn(
    said: usize,
    utterances: usize,
    talked: Duration,
    duration: Option<Duration>,
) -> Option<usize> {
    let more = match duration {
        _ if utterances == 0 => false,
        None => said < utterances,
        Some(duration) => talked < duration,
    };
    more.then_some(said)
}

/// The byte offset just past the last 20 ms frame of `mulaw` loud enough to
/// be speech; the whole length when nothing is.
fn speech_end(mulaw: &[u8]) -> usize {
    mulaw
        .chunks(FRAME_BYTES)
        .enumerate()
        .rev()
        .find(|(_, frame)| rms(frame) >= SPEECH_RMS)
        .map_or(mulaw.len(), |(i, frame)| i * FRAME_BYTES + frame.len())
}

fn rms(mulaw: &[u8]) -> f64 {
    if mulaw.is_empty() {
        return 0.0;
    }
    let sum: f64 = mulaw
        .iter()
        .map(|&b| f64::from(voice::mulaw::decode(b)).powi(2))
        .sum();
    (sum / mulaw.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_is_mixed_under_the_callers_silence_and_speech_and_loops() {
        let loud = voice::mulaw::encode(8000);
        let hum = voice::mulaw::encode(1000);
        let background = [hum, voice::mulaw::SILENCE, hum];
        let mut at = 0;
        // Silence carries the background as it is; speech, the sum.
        let mut quiet = [voice::mulaw::SILENCE; 4];
        mix_under(&mut quiet, &background, &mut at);
        let decoded = quiet.map(voice::mulaw::decode);
        let hum_pcm = voice::mulaw::decode(hum);
        assert_eq!(decoded, [hum_pcm, 0, hum_pcm, hum_pcm], "looped after 3");
        assert_eq!(at, 1);
        let mut speech = [loud; 2];
        mix_under(&mut speech, &background, &mut at);
        let loud_pcm = i32::from(voice::mulaw::decode(loud));
        let sum = i32::from(voice::mulaw::decode(speech[1]));
        assert!((sum - (loud_pcm + i32::from(hum_pcm))).abs() < 300, "{sum}");
        assert_eq!(voice::mulaw::decode(speech[0]), voice::mulaw::decode(loud));
        // No background leaves the frame alone.
        let mut frame = [loud; 2];
        mix_under(&mut frame, &[], &mut at);
        assert_eq!(frame, [loud; 2]);
    }

    #[test]
    fn speech_ends_after_the_last_loud_frame_not_after_trailing_silence() {
        let loud = voice::mulaw::encode(8_000);
        let mut utterance = vec![loud; 400];
        utterance.extend(vec![voice::mulaw::SILENCE; 800]);
        assert_eq!(speech_end(&utterance), 480);
    }

    #[test]
    fn a_silent_utterance_ends_where_the_file_ends() {
        assert_eq!(speech_end(&[voice::mulaw::SILENCE; 500]), 500);
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn without_a_duration_each_utterance_is_said_once() {
        assert_eq!(next_turn(0, 2, SEC, None), Some(0));
        assert_eq!(next_turn(1, 2, SEC, None), Some(1));
        assert_eq!(next_turn(2, 2, SEC, None), None);
    }

    #[test]
    fn with_a_duration_the_utterances_come_round_again_until_time_is_up() {
        let sixty = Some(60 * SEC);
        assert_eq!(next_turn(2, 2, 10 * SEC, sixty), Some(2));
        assert_eq!(next_turn(7, 2, 59 * SEC, sixty), Some(7));
        assert_eq!(next_turn(8, 2, 60 * SEC, sixty), None);
    }

    #[test]
    fn a_duration_shorter_than_the_greeting_still_hangs_up_before_speaking() {
        assert_eq!(next_turn(0, 3, 5 * SEC, Some(2 * SEC)), None);
    }

    #[test]
    fn a_caller_with_nothing_to_say_hangs_up_whatever_the_duration() {
        assert_eq!(next_turn(0, 0, Duration::ZERO, None), None);
        assert_eq!(next_turn(0, 0, Duration::ZERO, Some(60 * SEC)), None);
    }
}
