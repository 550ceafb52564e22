//! A live turn's provider requests, tried twice: sent again at once when the first fails in a way a retry may mend, and beside a first that is slow; the first answer wins.
//!
//! The caller is waiting. One stuck request would otherwise hold the turn
//! until its deadline hands the call to the recording fallback (or, for a
//! later sentence's synthesis, leave the caller in silence mid-reply), and
//! one 503 would cost the caller an apology and their sentence said again.
//! A model request counts as answered at its first token, not its headers:
//! a model stuck before its first word is what the caller hears as
//! silence. The second request is counted with the turn's wasted provider
//! calls; the loser is dropped, which closes its connection.
//!
//! Second requests come out of a budget the whole process shares per
//! stage ([`HedgeBudget`]): when a provider is down and every request
//! stalls or fails, a second request wins nothing and would double the
//! load on a provider that is struggling already.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{self, Either};
use futures::stream::{self, BoxStream, StreamExt};
use providers::ProviderError;

/// Second requests one stage may still send: every first request earns
/// it [`EARNED_PER_REQUEST`] of one, up to [`BURST`], and every second
/// request spends one (the retry throttling of gRPC and Finagle).
#[derive(Debug)]
pub struct Bucket {
    tokens: Mutex<f64>,
    /// Second requests it allowed, for `/metrics`: counted as they are
    /// sent, so a turn abandoned before they answer still shows them.
    sent: AtomicU64,
    /// Second requests it refused, for `/metrics`.
    refused: AtomicU64,
}

/// Second requests a fresh process, or a stage that has not needed any for
/// a while, may send at once.
const BURST: f64 = 20.0;

/// A second request for every five first ones, sustained. More than one
/// request in five stalling or failing is an outage, not a tail, and a
/// second request beside each would double the load and win little.
const EARNED_PER_REQUEST: f64 = 0.2;

impl Default for Bucket {
    fn default() -> Self {
        Self::holding(BURST)
    }
}

impl Bucket {
    fn holding(tokens: f64) -> Self {
        Self {
            tokens: Mutex::new(tokens),
            sent: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn earn(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + EARNED_PER_REQUEST).min(BURST);
    }

    /// Takes one second request from the bucket; false (and counted) when
    /// it is empty.
    fn spend(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let left = *tokens >= 1.0;
        if left {
            *tokens -= 1.0;
        }
        let count = if left { &self.sent } else { &self.refused };
        count.fetch_add(1, Ordering::Relaxed);
        left
    }
}

/// The second requests every call of a process may send, per stage (see
/// [`Bucket`]). Clones share the buckets: the service keeps one for all
/// its calls.
#[derive(Debug, Clone, Default)]
pub struct HedgeBudget {
    pub(crate) stt: Arc<Bucket>,
    pub(crate) llm: Arc<Bucket>,
    pub(crate) tts: Arc<Bucket>,
}

impl HedgeBudget {
    /// Second requests sent since the process started, by stage (`stt`,
    /// `llm`, `tts`): a rising rate is a provider going bad before its
    /// errors reach callers.
    pub fn sent(&self) -> [(&'static str, u64); 3] {
        self.count(|bucket| &bucket.sent)
    }

    /// Second requests refused since the process started, by stage: a
    /// provider in an outage shows here while its calls fail.
    pub fn refused(&self) -> [(&'static str, u64); 3] {
        self.count(|bucket| &bucket.refused)
    }

    fn count(&self, of: impl Fn(&Bucket) -> &AtomicU64) -> [(&'static str, u64); 3] {
        [("stt", &self.stt), ("llm", &self.llm), ("tts", &self.tts)]
            .map(|(stage, bucket)| (stage, of(bucket).load(Ordering::Relaxed)))
    }
}

/// When a request is sent a second time.
#[derive(Debug, Clone)]
pub(crate) enum Again {
    /// Never: one request only.
    Never,
    /// At once after a failure a retry may mend, and beside a first still
    /// unanswered after this long (the hedged request of Dean and
    /// Barroso's "The Tail at Scale"), while the bucket has one to spend.
    OnFailureOrAfter(Duration, Arc<Bucket>),
}

impl Again {
    /// Hedged after `after` out of `bucket`, unless zero (one request).
    pub(crate) fn hedged_after(after: Duration, bucket: &Arc<Bucket>) -> Self {
        if after.is_zero() {
            Self::Never
        } else {
            Self::OnFailureOrAfter(after, Arc::clone(bucket))
        }
    }
}

/// What a request came to, and how many were sent: 1, or 2.
pub(crate) struct Answer<T> {
    pub result: Result<T, ProviderError>,
    pub requests: u32,
}

/// Sends `ask()`, and a second `ask()` when `again` says so and its
/// bucket has one; returns the first success, else the last failure.
/// `stage` names the provider in the `provider_asked_again` log line (and
/// `provider_not_asked_again`, when the bucket is empty).
pub(crate) async fn ask_twice<T, F, Fut>(stage: &'static str, ask: F, again: Again) -> Answer<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let first = Box::pin(ask());
    let (after, bucket) = match again {
        Again::Never => {
            return Answer {
                result: first.await,
                requests: 1,
            };
        }
        Again::OnFailureOrAfter(after, bucket) => (after, bucket),
    };
    bucket.earn();
    let spent = |why: &str| {
        let spent = bucket.spend();
        if !spent {
            tracing::info!(stage, why, "provider_not_asked_again");
        }
        spent
    };
    let wait = Box::pin(tokio::time::sleep(after));
    let first = match future::select(first, wait).await {
        Either::Left((Err(err), _)) if err.is_retryable() && spent(err.kind()) => {
            tracing::info!(stage, error_kind = err.kind(), "provider_asked_again");
            return Answer {
                result: ask().await,
                requests: 2,
            };
        }
        Either::Left((result, _)) => {
            return Answer {
                result,
                requests: 1,
            };
        }
        Either::Right(((), first)) if spent("slow") => first,
        Either::Right(((), first)) => {
            return Answer {
                result: first.await,
                requests: 1,
            };
        }
    };
    tracing::info!(
        stage,
        after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        "provider_asked_again"
    );
    // Whichever succeeds first; if one fails, the other's answer.
    let result = match future::select(first, Box::pin(ask())).await {
        Either::Left((Ok(answer), _)) | Either::Right((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(_), other)) => other.await,
        Either::Right((Err(_), other)) => other.await,
    };
    Answer {
        result,
        requests: 2,
    }
}

/// The stream `opening` gives, once its first item has come: a stream
/// that fails before its first item is a failed request, so a retry can
/// mend it, and one slow to its first item is a slow request, so a hedge
/// can overtake it.
pub(crate) async fn until_first<T: Send + 'static>(
    opening: impl Future<Output = Result<BoxStream<'static, Result<T, ProviderError>>, ProviderError>>,
) -> Result<BoxStream<'static, Result<T, ProviderError>>, ProviderError> {
    let mut items = opening.await?;
    match items.next().await {
        Some(Err(err)) => Err(err),
        Some(Ok(first)) => Ok(stream::once(future::ready(Ok(first))).chain(items).boxed()),
        None => Ok(stream::empty().boxed()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tokio::time::{Instant, sleep};

    use bytes::Bytes;
    use providers::{AudioInput, SpeechToText, TranscribeOptions};

    use super::*;

    /// Answers each request with the next scripted result after its delay.
    struct Scripted(Mutex<VecDeque<(u64, Result<&'static str, ProviderError>)>>);

    #[async_trait]
    impl SpeechToText for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }

        fn is_enabled(&self) -> bool {
            true
        }

        async fn transcribe(
            &self,
            _audio: AudioInput,
            _opts: TranscribeOptions,
        ) -> Result<String, ProviderError> {
            let (ms, result) = self
                .0
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted answer");
            sleep(Duration::from_millis(ms)).await;
            result.map(str::to_owned)
        }
    }

    const HEARD: &str = "אני רוצה לקבוע תור";
    /// Hedged after `ms`, out of a full bucket of its own.
    fn hedged(ms: u64) -> Again {
        Again::hedged_after(Duration::from_millis(ms), &Arc::default())
    }

    /// What `script` comes to when asked `again` (`Ok` the text), how many
    /// requests it took, and how long, in ms.
    async fn heard(
        script: Vec<(u64, Result<&'static str, ProviderError>)>,
        again: Again,
    ) -> (Result<String, &'static str>, u32, u128) {
        let stt = Scripted(Mutex::new(script.into()));
        let started = Instant::now();
        let ask = || {
            stt.transcribe(
                AudioInput::mulaw_8k(Bytes::new()),
                TranscribeOptions::default(),
            )
        };
        let heard = ask_twice("stt", ask, again).await;
        let took = started.elapsed().as_millis();
        (heard.result.map_err(|e| e.kind()), heard.requests, took)
    }

    fn outage() -> ProviderError {
        ProviderError::Server { status: 503 }
    }

    #[tokio::test(start_paused = true)]
    async fn a_transcription_that_answers_in_time_is_asked_once() {
        let got = heard(vec![(300, Ok(HEARD))], hedged(1500)).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 1, 300));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_asked_again_at_once_and_its_answer_taken() {
        let got = heard(vec![(100, Err(outage())), (300, Ok(HEARD))], hedged(1500)).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_for_bad_credentials_is_not_asked_again() {
        let got = heard(vec![(100, Err(ProviderError::Unauthorized))], hedged(1500)).await;
        assert_eq!(got, (Err("unauthorized"), 1, 100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_transcription_is_answered_by_a_second_request_beside_it() {
        let got = heard(vec![(60_000, Ok("stuck")), (300, Ok(HEARD))], hedged(1500)).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 1800));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_request_that_answers_before_its_hedge_wins() {
        let got = heard(vec![(1600, Ok(HEARD)), (1000, Ok("late"))], hedged(1500)).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 1600));
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_hedge_fails_the_slow_first_request_still_answers() {
        let got = heard(vec![(2000, Ok(HEARD)), (100, Err(outage()))], hedged(1500)).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 2000));
    }

    #[tokio::test(start_paused = true)]
    async fn when_both_requests_fail_the_turn_hears_the_last_failure() {
        let got = heard(
            vec![(2000, Err(outage())), (1000, Err(ProviderError::Timeout))],
            hedged(1500),
        )
        .await;
        assert_eq!(got, (Err("timeout"), 2, 2500));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_hedge_a_failure_is_final() {
        let got = heard(
            vec![(100, Err(outage()))],
            Again::hedged_after(Duration::ZERO, &Arc::default()),
        )
        .await;
        assert_eq!(got, (Err("server"), 1, 100));
    }

    /// What a streamed model scripted with (delay before the first word,
    /// the first word or a failure) says when asked `again` through
    /// [`until_first`], how many requests it took, and how long until the
    /// first word, in ms.
    async fn first_words(
        script: Vec<(u64, Result<&'static str, ProviderError>)>,
        again: Again,
    ) -> (Result<Vec<&'static str>, &'static str>, u32, u128) {
        let script = Mutex::new(VecDeque::from(script));
        let started = Instant::now();
        let ask = || {
            let (ms, first) = script
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted answer");
            until_first(async move {
                let first = stream::once(async move {
                    sleep(Duration::from_millis(ms)).await;
                    first
                });
                Ok(first.chain(stream::iter([Ok("לך")])).boxed())
            })
        };
        let answer = ask_twice("llm", ask, again).await;
        let took = started.elapsed().as_millis();
        let words = match answer.result {
            Ok(words) => Ok(words.map(Result::unwrap).collect().await),
            Err(err) => Err(err.kind()),
        };
        (words, answer.requests, took)
    }

    #[tokio::test(start_paused = true)]
    async fn a_model_stuck_before_its_first_word_is_overtaken_by_a_second_request() {
        let got = first_words(vec![(60_000, Ok("תודה")), (300, Ok("שלום"))], hedged(2000)).await;
        assert_eq!(got, (Ok(vec!["שלום", "לך"]), 2, 2300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_model_that_times_out_before_its_first_word_is_asked_again_at_once() {
        // The headers came at once; the stream's first item is the client's
        // first-token timeout, which a second request may well beat.
        let got = first_words(
            vec![(4000, Err(ProviderError::Timeout)), (300, Ok("שלום"))],
            hedged(5000),
        )
        .await;
        assert_eq!(got, (Ok(vec!["שלום", "לך"]), 2, 4300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_model_answering_in_time_keeps_every_word_of_its_one_request() {
        let got = first_words(vec![(300, Ok("שלום"))], hedged(2000)).await;
        assert_eq!(got, (Ok(vec!["שלום", "לך"]), 1, 300));
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_budget_is_spent_a_stuck_request_waits_alone_until_first_requests_earn_another()
     {
        // A provider in an outage: every request stalls for 10 s.
        let budget = HedgeBudget {
            stt: Arc::new(Bucket::holding(1.0)),
            ..HedgeBudget::default()
        };
        let bucket = &budget.stt;
        let again = Again::hedged_after(Duration::from_millis(1500), bucket);
        let stuck = || vec![(10_000, Ok(HEARD)), (10_000, Ok(HEARD))];
        let got = heard(stuck(), again.clone()).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 10_000));
        // That one spent the bucket's last; the next three earn it 0.8 of
        // another and go alone, slow or failing.
        for _ in 0..2 {
            let got = heard(stuck(), again.clone()).await;
            assert_eq!(got, (Ok(HEARD.to_owned()), 1, 10_000));
        }
        let got = heard(vec![(100, Err(outage()))], again.clone()).await;
        assert_eq!(got, (Err("server"), 1, 100));
        let got = heard(stuck(), again).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 10_000));
        assert_eq!(budget.sent(), [("stt", 2), ("llm", 0), ("tts", 0)]);
        assert_eq!(budget.refused(), [("stt", 3), ("llm", 0), ("tts", 0)]);
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_burst() {
        let bucket = Bucket::default();
        for _ in 0..1000 {
            bucket.earn();
        }
        let spent = (0..100).filter(|_| bucket.spend()).count();
        assert_eq!(spent, 20);
    }
}
