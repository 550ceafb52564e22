//! A live turn's transcription, hedged: a second request for the same audio when the first fails in a way a retry may mend, or is slow; the first answer wins.
//!
//! The caller is waiting. One stuck request would otherwise hold the turn
//! until its deadline hands the call to the recording fallback, and one
//! 503 would cost the caller an apology and their sentence said again.
//! A second request costs one transcription; it is counted with the turn's
//! wasted provider calls.

use std::time::Duration;

use bytes::Bytes;
use futures::future::{self, Either};
use providers::{AudioInput, ProviderError, SpeechToText, TranscribeOptions};

/// What the transcription of one utterance came to.
pub(crate) struct Heard {
    pub result: Result<String, ProviderError>,
    /// Requests sent: 1, or 2 when a second was needed.
    pub requests: u32,
}

/// Transcribes `audio`. A first request that fails retryably is sent again
/// at once; one that has not answered after `hedge_after` gets a second
/// beside it, and the first to succeed answers (the hedged request of
/// Dean and Barroso's "The Tail at Scale"). `Duration::ZERO`: one request
/// only.
pub(crate) async fn transcribe(
    stt: &dyn SpeechToText,
    audio: Bytes,
    hedge_after: Duration,
) -> Heard {
    let ask = || {
        stt.transcribe(
            AudioInput::mulaw_8k(audio.clone()),
            TranscribeOptions::default(),
        )
    };
    let first = ask();
    if hedge_after.is_zero() {
        return Heard {
            result: first.await,
            requests: 1,
        };
    }
    let first = match future::select(first, Box::pin(tokio::time::sleep(hedge_after))).await {
        Either::Left((Err(err), _)) if err.is_retryable() => {
            tracing::info!(error_kind = err.kind(), "stt_hedged");
            return Heard {
                result: ask().await,
                requests: 2,
            };
        }
        Either::Left((result, _)) => {
            return Heard {
                result,
                requests: 1,
            };
        }
        Either::Right(((), first)) => first,
    };
    tracing::info!(
        after_ms = u64::try_from(hedge_after.as_millis()).unwrap_or(u64::MAX),
        "stt_hedged"
    );
    // Whichever succeeds first; if one fails, the other's answer.
    let result = match future::select(first, ask()).await {
        Either::Left((Ok(text), _)) | Either::Right((Ok(text), _)) => Ok(text),
        Either::Left((Err(_), other)) | Either::Right((Err(_), other)) => other.await,
    };
    Heard {
        result,
        requests: 2,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tokio::time::{Instant, sleep};

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

    /// What `script` comes to with a hedge after 1,500 ms (`Ok` the text),
    /// how many requests it took, and how long, in ms.
    async fn heard(
        script: Vec<(u64, Result<&'static str, ProviderError>)>,
        hedge_ms: u64,
    ) -> (Result<String, &'static str>, u32, u128) {
        let stt = Scripted(Mutex::new(script.into()));
        let started = Instant::now();
        let heard = transcribe(&stt, Bytes::new(), Duration::from_millis(hedge_ms)).await;
        let took = started.elapsed().as_millis();
        (heard.result.map_err(|e| e.kind()), heard.requests, took)
    }

    fn outage() -> ProviderError {
        ProviderError::Server { status: 503 }
    }

    #[tokio::test(start_paused = true)]
    async fn a_transcription_that_answers_in_time_is_asked_once() {
        let got = heard(vec![(300, Ok(HEARD))], 1500).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 1, 300));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_asked_again_at_once_and_its_answer_taken() {
        let got = heard(vec![(100, Err(outage())), (300, Ok(HEARD))], 1500).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_for_bad_credentials_is_not_asked_again() {
        let got = heard(vec![(100, Err(ProviderError::Unauthorized))], 1500).await;
        assert_eq!(got, (Err("unauthorized"), 1, 100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_transcription_is_answered_by_a_second_request_beside_it() {
        let got = heard(vec![(60_000, Ok("stuck")), (300, Ok(HEARD))], 1500).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 1800));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_request_that_answers_before_its_hedge_wins() {
        let got = heard(vec![(1600, Ok(HEARD)), (1000, Ok("late"))], 1500).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 1600));
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_hedge_fails_the_slow_first_request_still_answers() {
        let got = heard(vec![(2000, Ok(HEARD)), (100, Err(outage()))], 1500).await;
        assert_eq!(got, (Ok(HEARD.to_owned()), 2, 2000));
    }

    #[tokio::test(start_paused = true)]
    async fn when_both_requests_fail_the_turn_hears_the_last_failure() {
        let got = heard(
            vec![(2000, Err(outage())), (1000, Err(ProviderError::Timeout))],
            1500,
        )
        .await;
        assert_eq!(got, (Err("timeout"), 2, 2500));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_hedge_a_failure_is_final() {
        let got = heard(vec![(100, Err(outage()))], 0).await;
        assert_eq!(got, (Err("server"), 1, 100));
    }
}
