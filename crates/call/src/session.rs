//! The call task: one `select!` loop per call over shutdown, timers (pacer,
//! turn deadline, failover), inbound frames, the current reply task and the
//! heartbeat. It owns all of the call's state, so nothing is shared and no
//! lock is taken; everything it waits on is bounded.
//!
//! The turn logic (what a reply is, barge-in, failures) lives in `turns`,
//! failing over in `failover`; this file is the loop and the plumbing.

use ::time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{self, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use twilio::media::Outbound;

use crate::hearing::Hearing;
use crate::history::History;
use crate::inbound::{Admitted, Gate, Ignored};
use crate::pacer::{Flush, Outbox, Pacer, Release};
use crate::pipeline::PipelineMsg;
use crate::{
    CallEvent, CallProviders, CallSetup, CallSummary, EndReason, FrameSource, Incoming, Outgoing,
};

mod failover;
mod guess;
mod turns;

use failover::Ending;
use turns::{Active, Carry};

/// Reply-task messages in flight: a few sentences, so the task can run a
/// little ahead of the pacer but never far.
const PIPELINE_CHANNEL: usize = 4;

/// Audio the pacer may hold before the reply task is made to wait: 10 s
/// is several sentences ahead of the caller's ear, and bounds memory per
/// call whatever the TTS returns.
const MAX_QUEUED_AUDIO_BYTES: usize = 80_000;

/// Runs one call to the end. Never panics on any input.
///
/// `setup.stream_sid` must be the one from the `start` frame (see
/// [`crate::await_start`]). The call greets, then answers turn after turn
/// until Twilio stops the stream, the socket closes, `shutdown` fires, or
/// the call fails over. Outbound frames are never awaited: a peer that
/// stops reading for `limits.max_outbound_stall` ends the call.
pub async fn run_call(
    setup: CallSetup,
    providers: CallProviders,
    inbound: impl FrameSource,
    outbound: mpsc::Sender<Outgoing>,
    events: mpsc::Sender<CallEvent>,
    shutdown: CancellationToken,
) -> CallSummary {
    let span = tracing::info_span!(
        "call",
        call_sid = %setup.call_sid,
        business_id = setup.business_id
    );
    drive(setup, providers, inbound, outbound, events, shutdown)
        .instrument(span)
        .await
}

async fn drive(
    mut setup: CallSetup,
    providers: CallProviders,
    mut inbound: impl FrameSource,
    outbound: mpsc::Sender<Outgoing>,
    events: mpsc::Sender<CallEvent>,
    shutdown: CancellationToken,
) -> CallSummary {
    setup.limits = setup.limits.sanitized();
    let (pipe_tx, mut pipe_rx) = mpsc::channel(PIPELINE_CHANNEL);
    let every = setup.limits.heartbeat;
    let mut heartbeat_at = Instant::now() + every;
    let longest = Instant::now() + setup.limits.max_call;
    let mut call = Call::new(setup, providers, outbound, events, pipe_tx);
    call.greet();
    call.warm_fillers();
    let mut drain = drain_signal(shutdown);
    // The loop turns about 100 times a second per talking call (an inbound
    // frame and a paced outbound one every 20 ms), and every future in the
    // `select!` is polled on each turn, so each costs a thousand calls a
    // hundred thousand polls a second. Hence one timer for every deadline
    // (pacer, turn, failover, heartbeat, the call's length), moved only
    // when the earliest one changes, and the shutdown heard through a
    // per-call oneshot, whose poll is one atomic load: polling the shared
    // `CancellationToken` takes two locks every time (measured under
    // sustained load: 2.8 % of the server's core). A pinned future that
    // has completed stays ready, as a fresh one for a past instant would.
    let timer = time::sleep_until(longest);
    tokio::pin!(timer);
    let mut timer_at = longest;
    let end = loop {
        if let Some(end) = call.pump() {
            break end;
        }
        let ending = call.ending.is_some();
        let mut wake = call
            .next_wake()
            .map_or(heartbeat_at, |at| at.min(heartbeat_at));
        if !ending {
            wake = wake.min(longest);
        }
        if timer_at != wake {
            timer.as_mut().reset(wake);
            timer_at = wake;
        }
        // Biased: shutdown first, then due timers (pacing must not slip
        // behind a burst of inbound frames), then what the caller sends.
        // Shutdown and the call's length do not cut the caller off: the
        // agent says why and the call moves to the recording fallback.
        tokio::select! {
            biased;
            // Failing over sets `ending`, so the finished receiver is
            // never polled again.
            _ = &mut drain, if !ending => {
                call.fail_over("server draining".to_owned(), Some(failover::DRAIN_LINE_HE));
            }
            () = &mut timer => {
                let now = Instant::now();
                if !ending && now >= longest {
                    let limit = call.setup.limits.max_call.as_secs();
                    call.fail_over(
                        format!("the call passed its {limit} s limit"),
                        Some(failover::LONG_CALL_LINE_HE),
                    );
                }
                if now >= heartbeat_at {
                    call.on_heartbeat();
                    heartbeat_at = now + every;
                }
                call.on_timer();
            }
            frame = inbound.recv() => {
                if let Some(end) = call.on_incoming(frame) {
                    break end;
                }
            }
            Some(msg) = pipe_rx.recv(), if call.wants_pipeline() => call.on_pipeline(msg),
        }
    };
    call.finish(end)
}

/// Resolves once `shutdown` fires (or, with the runtime shutting down,
/// once its helper is gone). The helper waits on the shared token once
/// and ends by itself when the call drops the receiver.
fn drain_signal(shutdown: CancellationToken) -> oneshot::Receiver<()> {
    let (mut tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = tx.send(());
            }
            () = tx.closed() => {}
        }
    });
    rx
}

/// All state of one call.
pub(crate) struct Call {
    setup: CallSetup,
    providers: CallProviders,
    outbound: mpsc::Sender<Outgoing>,
    events: mpsc::Sender<CallEvent>,
    pipe_tx: mpsc::Sender<PipelineMsg>,
    gate: Gate,
    hearing: Hearing,
    history: History,
    pacer: Pacer,
    outbox: Outbox,
    /// The reply (or fixed line) in progress; at most one at a time.
    active: Option<Active>,
    /// Generation of the last reply started; marks and task messages of
    /// any other generation are stale.
    generation: u32,
    /// An utterance whose reply was cut before its transcript arrived: it
    /// is heard again together with the caller's next utterance.
    carry: Option<Carry>,
    speech_started_at: Option<OffsetDateTime>,
    consecutive_failures: u32,
    turns: u32,
    /// Keys the caller pressed. Only the count is ever logged: callers key
    /// in card and ID numbers.
    keys_pressed: u32,
    /// Since when the outbound channel has refused frames.
    stalled_since: Option<Instant>,
    ending: Option<Ending>,
    /// A tool ended the call: close once the agent stops talking.
    pending_end: Option<crate::CallEnd>,
    /// A reply started on a pause, held until the turn is confirmed.
    guess: Option<guess::Guess>,
    /// The utterance a little further into the guess's pause, heard to
    /// check the guess by.
    check: Option<guess::Guess>,
    /// Guesses made, and provider requests they wasted, since the last turn.
    turn_guesses: u32,
    turn_wasted: u32,
    /// The end-of-turn wait chosen from the current guess's transcript.
    turn_wait: Option<u32>,
    /// The agent level the hearing was last told (see `pump`).
    echo_level: Option<f32>,
}

impl Call {
    fn new(
        setup: CallSetup,
        providers: CallProviders,
        outbound: mpsc::Sender<Outgoing>,
        events: mpsc::Sender<CallEvent>,
        pipe_tx: mpsc::Sender<PipelineMsg>,
    ) -> Self {
        Self {
            gate: Gate::new(&setup.stream_sid, setup.limits.max_frame_bytes),
            hearing: Hearing::new(setup.turn.clone()),
            history: History::new(&setup.system_prompt, setup.limits.max_history_messages),
            pacer: Pacer::new(setup.limits.chunk_bytes()),
            outbox: Outbox::default(),
            active: None,
            generation: 0,
            carry: None,
            speech_started_at: None,
            consecutive_failures: 0,
            turns: 0,
            keys_pressed: 0,
            stalled_since: None,
            ending: None,
            pending_end: None,
            guess: None,
            check: None,
            turn_guesses: 0,
            turn_wasted: 0,
            turn_wait: None,
            echo_level: None,
            setup,
            providers,
            outbound,
            events,
            pipe_tx,
        }
    }

    fn on_incoming(&mut self, frame: Option<Incoming>) -> Option<EndReason> {
        match self.gate.admit(frame.as_ref()) {
            Admitted::Closed => return Some(EndReason::PeerClosed),
            Admitted::Stop => return Some(EndReason::Stopped),
            Admitted::Nothing => {}
            Admitted::Media(media) => {
                // While failing over the caller is no longer listened to.
                if self.ending.is_none() {
                    match self.hearing.push(&media) {
                        Ok(Some(event)) => self.on_turn_event(event),
                        Ok(None) => {}
                        Err(err) => self.gate.ignore(Ignored::BadPayload, &err),
                    }
                }
            }
            Admitted::Mark(name) => self.on_mark(&name),
            Admitted::Dtmf(digit) => {
                self.keys_pressed = self.keys_pressed.saturating_add(1);
                // The digit goes to the service, never to the log.
                tracing::info!(
                    call_sid = %self.setup.call_sid,
                    business_id = self.setup.business_id,
                    keys_pressed = self.keys_pressed,
                    "dtmf"
                );
                self.emit(CallEvent::Dtmf { digit });
            }
        }
        None
    }

    fn on_heartbeat(&mut self) {
        tracing::debug!(call_sid = %self.setup.call_sid, "ws_heartbeat");
        // A ping that does not fit a backed-up outbox is simply skipped.
        let _ = self.outbox.push(Outgoing::Ping);
    }

    /// Whether the reply task may hand over more: not while the pacer
    /// already holds plenty (backpressure on a slow or stalled peer).
    fn wants_pipeline(&self) -> bool {
        self.pacer.queued_bytes() < MAX_QUEUED_AUDIO_BYTES
    }

    /// Sends what is due: queued control frames, then paced audio. Returns
    /// how the call ends, if it must.
    fn pump(&mut self) -> Option<EndReason> {
        let now = Instant::now();
        loop {
            match self.outbox.flush(&self.outbound) {
                Flush::Closed => return Some(EndReason::PeerClosed),
                Flush::Blocked { sent } => {
                    if sent > 0 || self.stalled_since.is_none() {
                        self.stalled_since = Some(now);
                    }
                    break;
                }
                Flush::Empty { .. } => self.stalled_since = None,
            }
            if self.holds_the_reply() {
                break;
            }
            let Some(release) = self.pacer.next(now, &self.setup.stream_sid) else {
                break;
            };
            self.on_release(&release, now);
            let Release { media, mark, .. } = release;
            for frame in [media, mark].into_iter().flatten() {
                // The outbox was just emptied, so these always fit.
                let _ = self.outbox.push(Outgoing::Text(frame));
            }
        }
        // While the agent's audio plays, only a caller louder than its echo
        // may interrupt it.
        let level = self
            .active
            .as_ref()
            .filter(|a| self.is_playing(a, now))
            .and_then(|a| a.level_dbfs);
        if level != self.echo_level {
            self.echo_level = level;
            self.hearing.set_agent_level(level);
        }
        self.check_end(now)
    }

    fn check_end(&mut self, now: Instant) -> Option<EndReason> {
        if let Some(since) = self.stalled_since
            && now.saturating_duration_since(since) >= self.setup.limits.max_outbound_stall
        {
            self.fail_over("outbound stalled".to_owned(), None);
        }
        if let Some(end) = self.pending_end
            && self.ending.is_none()
            && self.active.is_none()
        {
            return Some(match end {
                crate::CallEnd::Transfer => EndReason::Transferred,
                crate::CallEnd::Hangup => EndReason::HungUp,
            });
        }
        let ending = self.ending.as_ref()?;
        (self.active.is_none() || now >= ending.deadline).then(|| EndReason::Failover {
            reason: ending.reason.clone(),
        })
    }

    /// The earliest moment something is due without any frame arriving.
    fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let limits = &self.setup.limits;
        let candidates = [
            if self.holds_the_reply() {
                // The caller's next frame decides; it comes every 20 ms.
                None
            } else if self.outbox.is_empty() {
                self.pacer.next_due(now)
            } else {
                // Retry a full channel at the pacing rate.
                Some(now + limits.chunk_duration())
            },
            self.active.as_ref().and_then(Active::deadline),
            self.active.as_ref().and_then(Active::spare_due),
            self.ending.as_ref().map(|e| e.deadline),
            self.stalled_since.map(|s| s + limits.max_outbound_stall),
        ];
        candidates.into_iter().flatten().min()
    }

    fn emit(&self, event: CallEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("call event dropped: the observer is behind or gone");
        }
    }

    fn send_clear(&mut self) {
        let clear = Outbound::Clear {
            stream_sid: &self.setup.stream_sid,
        }
        .to_json();
        if !self.outbox.push(Outgoing::Text(clear)) {
            tracing::warn!("outbox full: clear dropped");
        }
    }

    fn close(&mut self, code: u16, reason: &str) {
        let _ = self.outbox.push(Outgoing::Close {
            code,
            reason: reason.to_owned(),
        });
        let _ = self.outbox.flush(&self.outbound);
    }

    fn finish(mut self, end: EndReason) -> CallSummary {
        self.abandon_active();
        match &end {
            EndReason::Failover { .. } => self.close(1000, "failover to recording"),
            EndReason::Transferred => self.close(1000, "transfer"),
            EndReason::HungUp => self.close(1000, "goodbye"),
            EndReason::Stopped | EndReason::PeerClosed => {}
        }
        tracing::info!(
            call_sid = %self.setup.call_sid,
            business_id = self.setup.business_id,
            turns = self.turns,
            keys_pressed = self.keys_pressed,
            end = ?end,
            "call_ended"
        );
        CallSummary {
            end,
            turns: self.turns,
        }
    }
}
