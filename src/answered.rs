//! The calls this instance answered in `incoming_call`, kept in memory for
//! the minutes in which their media stream and callbacks arrive.
//!
//! `incoming_call` answers before its call row is written (the write runs
//! behind the answer). What follows on this instance — the media stream,
//! the status callbacks — learns here which business the call belongs to
//! and waits for that one write instead of polling the database for it.
//! Requests that reach another instance ask the database, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long an answered call is remembered: a stream starts seconds after
/// the answer, and one older than this is refused anyway.
pub const KEEP: Duration = Duration::from_secs(5 * 60);

/// How often, at most, forgotten calls are swept out (on an insert).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Where the call row of an answered call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// The write is on its way.
    Pending,
    /// The row is in the database.
    Written,
    /// The database could not take it in time: it waits in the spool, and
    /// later writes of the call land behind it.
    Spooled,
    /// Neither the database nor the spool took it.
    Lost,
}

impl RowState {
    /// Whether the call's later writes may go to the database now.
    pub fn settled(self) -> bool {
        self != RowState::Pending
    }
}

/// One answered call.
#[derive(Debug, Clone)]
pub struct Answer {
    pub business_id: i64,
    row: watch::Receiver<RowState>,
}

impl Answer {
    /// The row's state once it is no longer pending, or still pending when
    /// `deadline` comes first.
    pub async fn row_settled(&mut self, deadline: tokio::time::Instant) -> RowState {
        let wait = self.row.wait_for(|s| s.settled());
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(state)) => *state,
            // The writer is gone without a word (a panic): nothing to wait for.
            Ok(Err(_)) => RowState::Lost,
            Err(_) => RowState::Pending,
        }
    }
}

/// Tells the calls waiting on a row how its write went.
pub struct RowWrite(watch::Sender<RowState>);

impl RowWrite {
    pub fn settle(self, state: RowState) {
        self.0.send_replace(state);
    }
}

struct Entry {
    answer: Answer,
    at: Instant,
    /// Whether a media stream of this instance has taken the call.
    streaming: bool,
}

#[derive(Default)]
struct Inner {
    calls: HashMap<String, Entry>,
    swept: Option<Instant>,
}

/// The answered calls. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct AnsweredCalls {
    inner: Arc<Mutex<Inner>>,
}

impl AnsweredCalls {
    /// Remembers that `call_sid` was answered for `business_id`; the
    /// returned handle settles its row. A retried webhook replaces the
    /// entry, and the latest write is the one waited for.
    pub fn answer(&self, call_sid: &str, business_id: i64) -> RowWrite {
        let (tx, row) = watch::channel(RowState::Pending);
        let now = Instant::now();
        let mut inner = self.lock();
        if inner
            .swept
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            inner.calls.retain(|_, e| now.duration_since(e.at) < KEEP);
            inner.swept = Some(now);
        }
        inner.calls.insert(
            call_sid.to_string(),
            Entry {
                answer: Answer { business_id, row },
                at: now,
                streaming: false,
            },
        );
        RowWrite(tx)
    }

    /// The answer given for `call_sid`, if this instance gave it lately.
    pub fn get(&self, call_sid: &str) -> Option<Answer> {
        let inner = self.lock();
        inner
            .calls
            .get(call_sid)
            .filter(|e| e.at.elapsed() < KEEP)
            .map(|e| e.answer.clone())
    }

    /// Marks the call as streamed here; `false` when a stream already has it
    /// (or the call is not one this instance answered).
    pub fn start_stream(&self, call_sid: &str) -> bool {
        let mut inner = self.lock();
        match inner.calls.get_mut(call_sid) {
            Some(e) if !e.streaming => {
                e.streaming = true;
                true
            }
            _ => false,
        }
    }

    /// How many calls are remembered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_waits_for_the_row_of_its_call_and_sees_how_it_went() {
        let calls = AnsweredCalls::default();
        let write = calls.answer("CA1", 7);
        let mut answer = calls.get("CA1").expect("remembered");
        assert_eq!(answer.business_id, 7);
        let waiter = tokio::spawn(async move {
            answer
                .row_settled(tokio::time::Instant::now() + Duration::from_secs(5))
                .await
        });
        write.settle(RowState::Spooled);
        assert_eq!(waiter.await.unwrap(), RowState::Spooled);
    }

    #[tokio::test]
    async fn a_row_still_pending_at_the_deadline_says_so() {
        let calls = AnsweredCalls::default();
        let _write = calls.answer("CA1", 7);
        let mut answer = calls.get("CA1").unwrap();
        let now = tokio::time::Instant::now();
        assert_eq!(answer.row_settled(now).await, RowState::Pending);
    }

    #[tokio::test]
    async fn a_writer_that_vanished_leaves_nothing_to_wait_for() {
        let calls = AnsweredCalls::default();
        drop(calls.answer("CA1", 7));
        let mut answer = calls.get("CA1").unwrap();
        let later = tokio::time::Instant::now() + Duration::from_secs(5);
        assert_eq!(answer.row_settled(later).await, RowState::Lost);
    }

    #[test]
    fn only_the_first_stream_of_a_call_takes_it() {
        let calls = AnsweredCalls::default();
        let _write = calls.answer("CA1", 7);
        assert!(calls.start_stream("CA1"));
        assert!(!calls.start_stream("CA1"));
        assert!(!calls.start_stream("CA2"), "a call answered elsewhere");
    }

    #[test]
    fn calls_not_answered_here_are_unknown() {
        let calls = AnsweredCalls::default();
        let _write = calls.answer("CA1", 7);
        assert!(calls.get("CA2").is_none());
        assert_eq!(calls.len(), 1);
    }
}
