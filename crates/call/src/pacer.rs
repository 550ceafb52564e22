//! Outbound audio, paced: the agent's audio leaves in small chunks close to
//! real time, with a `mark` after each sentence, and everything written to
//! the socket goes through one bounded, ordered [`Outbox`].
//!
//! Why pace at all when Twilio buffers: whatever sits in Twilio's buffer
//! keeps playing until a `clear` arrives, and a burst of a whole reply would
//! also make the mark echoes meaningless. So only a small lead (a few
//! chunks, so Twilio's buffer never starves on jitter) is ever ahead of the
//! caller's ear.
//!
//! Why never await the socket: a slow peer must not stall hearing (barge-in
//! has to work while the socket is backed up). The outbox holds at most the
//! control frames of the moment plus one media frame; while the channel is
//! full the pacer simply does not advance, so memory stays bounded by the
//! reply's own audio, and the session ends the call if the stall lasts.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;
use twilio::media::{Outbound, media_frame};

use crate::Outgoing;

/// Chunks that may be queued at Twilio ahead of what the caller hears.
const LEAD_CHUNKS: u32 = 2;

/// Control frames (marks, clear, ping) that may wait for a full channel;
/// beyond this they are dropped — only a stalled peer gets here, and the
/// session ends such a call soon anyway.
const OUTBOX_CAPACITY: usize = 64;

/// One sentence of audio waiting to be played.
#[derive(Debug)]
struct Segment {
    generation: u32,
    index: u32,
    audio: Bytes,
    pos: usize,
}

/// What the pacer released now.
#[derive(Debug)]
pub(crate) struct Release {
    /// The reply (generation) the frame belongs to.
    pub generation: u32,
    /// A `media` frame, unless the sentence had no audio at all.
    pub media: Option<String>,
    /// The sentence's `mark`, after its last chunk.
    pub mark: Option<String>,
    /// This is the sentence's first chunk.
    pub first_of_segment: bool,
}

/// Near-real-time chunker of the agent's audio.
#[derive(Debug)]
pub(crate) struct Pacer {
    queue: VecDeque<Segment>,
    chunk_bytes: usize,
    lead: Duration,
    /// When Twilio will have played everything sent so far (estimated).
    play_until: Option<Instant>,
    queued_bytes: usize,
}

/// The name of the mark after sentence `index` of reply `generation`.
pub(crate) fn mark_name(generation: u32, index: u32) -> String {
    format!("t{generation}-s{index}")
}

/// Reads a mark name back; `None` for marks this engine did not write.
pub(crate) fn parse_mark(name: &str) -> Option<(u32, u32)> {
    let (generation, index) = name.strip_prefix('t')?.split_once("-s")?;
    Some((generation.parse().ok()?, index.parse().ok()?))
}

/// Play time of `bytes` of 8 kHz mu-law.
pub(crate) fn audio_duration(bytes: usize) -> Duration {
    Duration::from_micros(bytes as u64 * 125)
}

impl Pacer {
    pub(crate) fn new(chunk_bytes: usize) -> Self {
        let chunk_bytes = chunk_bytes.max(8);
        Self {
            queue: VecDeque::new(),
            chunk_bytes,
            lead: audio_duration(chunk_bytes) * LEAD_CHUNKS,
            play_until: None,
            queued_bytes: 0,
        }
    }

    /// Queues one sentence's audio (possibly empty: then only its mark goes).
    pub(crate) fn push(&mut self, generation: u32, index: u32, audio: Bytes) {
        self.queued_bytes += audio.len();
        self.queue.push_back(Segment {
            generation,
            index,
            audio,
            pos: 0,
        });
    }

    /// Drops everything not yet sent (barge-in). What Twilio already holds
    /// is the caller of `clear`'s business.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// Audio bytes waiting to be sent.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Whether any segment (audio or a bare mark) is waiting.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether anything of `generation` is still waiting to be sent.
    pub(crate) fn holds(&self, generation: u32) -> bool {
        self.queue.iter().any(|s| s.generation == generation)
    }

    /// When the next chunk may go, if anything is queued.
    pub(crate) fn next_due(&self, now: Instant) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        let due = self
            .play_until
            .and_then(|p| p.checked_sub(self.lead))
            .unwrap_or(now);
        Some(due.max(now))
    }

    /// Estimated moment Twilio finishes playing what was sent.
    pub(crate) fn play_until(&self) -> Option<Instant> {
        self.play_until
    }

    /// The next chunk, if it is due at `now`.
    pub(crate) fn next(&mut self, now: Instant, stream_sid: &str) -> Option<Release> {
        if self.play_until.is_some_and(|p| p > now + self.lead) {
            return None;
        }
        let segment = self.queue.front_mut()?;
        let first_of_segment = segment.pos == 0;
        let generation = segment.generation;
        let end = (segment.pos + self.chunk_bytes).min(segment.audio.len());
        let chunk = &segment.audio[segment.pos..end];
        // The JSON is the chunk's only allocation: base64 is written
        // straight into it.
        let media = (!chunk.is_empty()).then(|| media_frame(stream_sid, chunk));
        let sent = chunk.len();
        segment.pos = end;
        let mark = (segment.pos >= segment.audio.len()).then(|| {
            let name = mark_name(segment.generation, segment.index);
            Outbound::Mark {
                stream_sid,
                name: &name,
            }
            .to_json()
        });
        if mark.is_some() {
            self.queue.pop_front();
        }
        if sent > 0 {
            self.queued_bytes -= sent;
            let start = self.play_until.map_or(now, |p| p.max(now));
            self.play_until = Some(start + audio_duration(sent));
        }
        Some(Release {
            generation,
            media,
            mark,
            first_of_segment,
        })
    }
}

/// How far an [`Outbox::flush`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Everything went; `sent` frames.
    Empty { sent: usize },
    /// The channel is full; some frames wait.
    Blocked { sent: usize },
    /// The socket side is gone.
    Closed,
}

/// The ordered queue in front of the outbound channel.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Outgoing>,
}

impl Outbox {
    /// Queues a frame; `false` if it was dropped because the outbox is full.
    pub(crate) fn push(&mut self, frame: Outgoing) -> bool {
        if self.queue.len() >= OUTBOX_CAPACITY {
            return false;
        }
        self.queue.push_back(frame);
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Hands queued frames to the channel without waiting.
    pub(crate) fn flush(&mut self, tx: &mpsc::Sender<Outgoing>) -> Flush {
        let mut sent = 0;
        while let Some(frame) = self.queue.pop_front() {
            match tx.try_send(frame) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(frame)) => {
                    self.queue.push_front(frame);
                    return Flush::Blocked { sent };
                }
                Err(TrySendError::Closed(_)) => return Flush::Closed,
            }
        }
        Flush::Empty { sent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_now(p: &mut Pacer, now: Instant) -> Vec<Release> {
        std::iter::from_fn(|| p.next(now, "MZ1")).collect()
    }

    #[test]
    fn mark_names_round_trip_and_foreign_marks_are_rejected() {
        assert_eq!(parse_mark(&mark_name(7, 3)), Some((7, 3)));
        assert_eq!(parse_mark("utt-17"), None);
        assert_eq!(parse_mark("t1-sx"), None);
        assert_eq!(parse_mark("t-s1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_small_lead_leaves_at_once_then_one_chunk_per_interval() {
        let mut p = Pacer::new(160);
        p.push(1, 0, Bytes::from(vec![0x55; 1600]));
        let now = Instant::now();
        let burst = drain_now(&mut p, now);
        assert_eq!(burst.len(), 1 + LEAD_CHUNKS as usize);
        assert!(burst[0].first_of_segment);
        assert_eq!(p.next_due(now), Some(now + Duration::from_millis(20)));
        let later = now + Duration::from_millis(20);
        assert_eq!(drain_now(&mut p, later).len(), 1);
        assert_eq!(p.queued_bytes(), 1600 - 160 * (2 + LEAD_CHUNKS as usize));
    }

    #[tokio::test(start_paused = true)]
    async fn the_mark_follows_the_last_chunk_of_its_sentence() {
        let mut p = Pacer::new(160);
        p.push(2, 0, Bytes::from(vec![0x55; 200]));
        p.push(2, 1, Bytes::new());
        let out = drain_now(&mut p, Instant::now());
        assert_eq!(out.len(), 3);
        assert!(out[0].mark.is_none());
        assert!(out[1].mark.as_deref().unwrap().contains("t2-s0"));
        assert!(out[2].media.is_none());
        assert!(out[2].mark.as_deref().unwrap().contains("t2-s1"));
        assert!(p.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn clearing_drops_everything_queued() {
        let mut p = Pacer::new(160);
        p.push(1, 0, Bytes::from(vec![0x55; 16_000]));
        assert!(p.holds(1));
        p.clear();
        assert!(!p.holds(1));
        assert_eq!(p.queued_bytes(), 0);
        assert!(p.next(Instant::now(), "MZ1").is_none());
    }

    #[tokio::test]
    async fn a_full_channel_keeps_frames_in_order_for_later() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = Outbox::default();
        outbox.push(Outgoing::Ping);
        outbox.push(Outgoing::Text("a".into()));
        assert_eq!(outbox.flush(&tx), Flush::Blocked { sent: 1 });
        assert_eq!(rx.recv().await, Some(Outgoing::Ping));
        assert_eq!(outbox.flush(&tx), Flush::Empty { sent: 1 });
        assert_eq!(rx.recv().await, Some(Outgoing::Text("a".into())));
        drop(rx);
        outbox.push(Outgoing::Ping);
        assert_eq!(outbox.flush(&tx), Flush::Closed);
    }

    #[test]
    fn the_outbox_is_bounded() {
        let mut outbox = Outbox::default();
        let accepted = (0..1000).filter(|_| outbox.push(Outgoing::Ping)).count();
        assert_eq!(accepted, OUTBOX_CAPACITY);
    }
}
