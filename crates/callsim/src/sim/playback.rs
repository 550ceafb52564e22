//! Twilio's playback buffer, modelled on a clock: what the caller hears and
//! when, which decides when a mark is echoed, what a `clear` drops, and
//! whether an outbound frame came too late to play seamlessly.
//!
//! The heard track is time-aligned with the call: sample `i` plays at
//! `t0 + i / 8000 s`. Audio that arrives while the buffer still holds
//! unplayed audio is queued behind it; audio that arrives after the buffer
//! ran dry starts playing at once, after silence covering the gap. No I/O
//! here, and time is passed in, so every rule is tested without sleeping.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

const SAMPLES_PER_SEC: u64 = 8_000;

/// Underruns up to this long are jitter a caller does not notice; longer
/// ones make the frame that ends them late.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(40);

/// The caller's playback buffer and ears.
#[derive(Debug)]
pub(crate) struct Playback {
    t0: Instant,
    /// The heard audio, when kept (load tests keep only the counters).
    heard: Option<Vec<u8>>,
    /// Samples on the timeline so far: played, queued or silence padding.
    queued_to: u64,
    /// Marks not yet echoed, with the sample position they wait for.
    pending_marks: VecDeque<(String, u64)>,
    /// Whether a reply is being received, so underruns count as late.
    in_reply: bool,
    /// Whether the next frame opens the reply (its wait is latency, not an
    /// underrun).
    awaiting_first_frame: bool,
    /// Media frames received.
    pub(crate) frames_received: u64,
    /// Frames that ended an underrun longer than [`LATE_AFTER`] mid-reply.
    pub(crate) late_frames: u64,
    /// The longest such underrun.
    pub(crate) max_underrun: Duration,
}

impl Playback {
    /// A silent buffer whose timeline starts at `t0`.
    pub(crate) fn new(t0: Instant, keep_audio: bool) -> Self {
        Self {
            t0,
            heard: keep_audio.then(Vec::new),
            queued_to: 0,
            pending_marks: VecDeque::new(),
            in_reply: false,
            awaiting_first_frame: false,
            frames_received: 0,
            late_frames: 0,
            max_underrun: Duration::ZERO,
        }
    }

    /// Starts counting underruns: a reply (or the greeting) is expected. Its
    /// first frame is not judged, since the wait for it is the turn latency.
    pub(crate) fn begin_reply(&mut self) {
        self.in_reply = true;
        self.awaiting_first_frame = true;
    }

    /// Stops counting underruns: the caller considers the reply over.
    pub(crate) fn end_reply(&mut self) {
        self.in_reply = false;
    }

    /// The sample position playing at `now`.
    fn position(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.t0);
        // u128 → u64: a call would have to last half a million years to overflow.
        (elapsed.as_micros() * u128::from(SAMPLES_PER_SEC) / 1_000_000) as u64
    }

    fn instant_of(&self, position: u64) -> Instant {
        self.t0 + Duration::from_micros(position * 1_000_000 / SAMPLES_PER_SEC)
    }

    /// When everything queued so far will have played.
    pub(crate) fn playing_until(&self) -> Instant {
        self.instant_of(self.queued_to)
    }

    /// Queues one media payload arriving at `now`.
    pub(crate) fn on_media(&mut self, now: Instant, mulaw: &[u8]) {
        self.frames_received += 1;
        let position = self.position(now);
        if position > self.queued_to {
            let gap = position - self.queued_to;
            let gap_time = Duration::from_micros(gap * 1_000_000 / SAMPLES_PER_SEC);
            if self.in_reply && !self.awaiting_first_frame {
                self.max_underrun = self.max_underrun.max(gap_time);
                if gap_time > LATE_AFTER {
                    self.late_frames += 1;
                }
            }
            if let Some(heard) = self.heard.as_mut() {
                heard.resize(heard.len() + gap as usize, voice::mulaw::SILENCE);
            }
            self.queued_to = position;
        }
        if self.in_reply {
            self.awaiting_first_frame = false;
        }
        if let Some(heard) = self.heard.as_mut() {
            heard.extend_from_slice(mulaw);
        }
        self.queued_to += mulaw.len() as u64;
    }

    /// Takes a mark: returns it at once when everything before it has
    /// played, otherwise holds it until [`Self::due_marks`] releases it.
    pub(crate) fn on_mark(&mut self, now: Instant, name: String) -> Option<String> {
        if self.queued_to <= self.position(now) && self.pending_marks.is_empty() {
            Some(name)
        } else {
            self.pending_marks.push_back((name, self.queued_to));
            None
        }
    }

    /// Drops the audio not yet played at `now` and releases every pending
    /// mark, as Twilio does on `clear`.
    pub(crate) fn on_clear(&mut self, now: Instant) -> Vec<String> {
        let position = self.position(now);
        if self.queued_to > position {
            self.queued_to = position;
            if let Some(heard) = self.heard.as_mut() {
                // The heard vector is the timeline, sample for sample.
                heard.truncate(position as usize);
            }
        }
        self.pending_marks.drain(..).map(|(name, _)| name).collect()
    }

    /// Marks whose audio has played by `now`, in the order they were sent.
    pub(crate) fn due_marks(&mut self, now: Instant) -> Vec<String> {
        let position = self.position(now);
        let mut due = Vec::new();
        while let Some((_, at)) = self.pending_marks.front() {
            if *at > position {
                break;
            }
            if let Some((name, _)) = self.pending_marks.pop_front() {
                due.push(name);
            }
        }
        due
    }

    /// When the next pending mark falls due.
    pub(crate) fn next_mark_due(&self) -> Option<Instant> {
        self.pending_marks
            .front()
            .map(|(_, at)| self.instant_of(*at))
    }

    /// The heard audio (empty when not kept).
    pub(crate) fn into_heard(self) -> Vec<u8> {
        self.heard.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 8; // samples per millisecond

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn audio_arriving_after_a_gap_is_preceded_by_silence_on_the_heard_track() {
        let t0 = Instant::now();
        let mut p = Playback::new(t0, true);
        p.on_media(at(t0, 100), &[1; 160]);
        let heard = p.into_heard();
        assert_eq!(heard.len() as u64, 100 * MS + 160);
        assert!(heard[..800].iter().all(|&b| b == 0xFF));
        assert!(heard[800..].iter().all(|&b| b == 1));
    }

    #[test]
    fn audio_sent_ahead_of_time_is_queued_behind_what_still_plays() {
        let t0 = Instant::now();
        let mut p = Playback::new(t0, true);
        p.on_media(t0, &[1; 800]);
        p.on_media(at(t0, 10), &[2; 800]);
        assert_eq!(p.playing_until(), at(t0, 200));
        assert_eq!(p.into_heard().len(), 1600);
    }

    #[test]
    fn a_mark_is_echoed_only_once_the_audio_before_it_has_played() {
        let t0 = Instant::now();
        let mut p = Playback::new(t0, false);
        p.on_media(t0, &[1; 400]); // 50 ms
        assert_eq!(p.on_mark(at(t0, 1), "m1".into()), None);
        assert_eq!(p.next_mark_due(), Some(at(t0, 50)));
        assert!(p.due_marks(at(t0, 49)).is_empty());
        assert_eq!(p.due_marks(at(t0, 50)), vec!["m1".to_owned()]);
        assert_eq!(p.on_mark(at(t0, 60), "m2".into()), Some("m2".into()));
    }

    #[test]
    fn clear_drops_unplayed_audio_and_releases_pending_marks() {
        let t0 = Instant::now();
        let mut p = Playback::new(t0, true);
        p.on_media(t0, &[1; 1600]); // 200 ms
        assert_eq!(p.on_mark(t0, "a".into()), None);
        assert_eq!(p.on_clear(at(t0, 50)), vec!["a".to_owned()]);
        assert_eq!(p.playing_until(), at(t0, 50));
        assert_eq!(p.next_mark_due(), None);
        assert_eq!(p.into_heard().len() as u64, 50 * MS);
    }

    #[test]
    fn only_underruns_longer_than_forty_ms_inside_a_reply_make_a_frame_late() {
        let t0 = Instant::now();
        let mut p = Playback::new(t0, false);
        p.begin_reply();
        // The first frame waits 500 ms: latency, not lateness.
        p.on_media(at(t0, 500), &[1; 160]); // plays until 520
        p.on_media(at(t0, 550), &[1; 160]); // 30 ms dry: jitter
        p.on_media(at(t0, 620), &[1; 160]); // 50 ms dry: late
        p.on_media(at(t0, 625), &[1; 160]); // queued: fine
        assert_eq!(p.late_frames, 1);
        assert_eq!(p.frames_received, 4);
        assert_eq!(p.max_underrun, Duration::from_millis(50));
        p.end_reply();
        p.on_media(at(t0, 2_000), &[1; 160]);
        assert_eq!(p.late_frames, 1, "audio outside a reply is not judged");
    }
}
