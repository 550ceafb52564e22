//! Many simulated calls at once, for load tests: distinct CallSids,
//! staggered starts, one summary of what the callers felt.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{CallReport, SimError, SimOptions, fresh_sid, http_client, run_call};

/// The summary of [`simulate_many`].
#[derive(Debug, Serialize)]
pub struct ManyReport {
    /// Calls started.
    pub calls: usize,
    /// Calls that ran to the end (streamed, recorded, or failed over).
    pub completed: usize,
    /// Calls the server closed the stream on (failover).
    pub server_closed: usize,
    /// `CallSid: error` for each call that failed.
    pub failures: Vec<String>,
    /// Turns over all calls.
    pub turns: usize,
    /// Turns that got no reply within the timeout.
    pub turns_without_reply: usize,
    /// Caller-felt latency over every answered turn, ms.
    pub caller_felt_ms: Percentiles,
    /// Server media frames received over all calls.
    pub frames_received: u64,
    /// Of which late by more than 40 ms (see [`crate::sim`]).
    pub late_frames: u64,
    /// `late_frames / frames_received` (0 without frames).
    pub late_fraction: f64,
    /// The longest playback underrun inside a reply over all calls, ms.
    pub max_underrun_ms: f64,
    /// Each call's report, or its CallSid and error, in start order.
    #[serde(skip)]
    pub results: Vec<Result<CallReport, (String, SimError)>>,
}

/// Order statistics of a sample (nearest-rank percentiles).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
}

impl Percentiles {
    /// The statistics of `values` (NaNs are dropped).
    #[must_use]
    pub fn of(mut values: Vec<f64>) -> Self {
        values.retain(|v| !v.is_nan());
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let rank = |p: f64| {
            // Nearest rank: the smallest value with at least p of the sample
            // at or below it.
            let rank = (p * n as f64).ceil() as usize;
            values.get(rank.max(1) - 1).copied()
        };
        Self {
            count: n,
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: values.last().copied(),
            mean: (n > 0).then(|| values.iter().sum::<f64>() / n as f64),
        }
    }
}

/// Runs `calls` simulated calls concurrently, the i-th starting `i × stagger`
/// after the first, each with a fresh CallSid (`opts.call_sid` is ignored).
pub async fn simulate_many(opts: &SimOptions, calls: usize, stagger: Duration) -> ManyReport {
    let http = match http_client() {
        Ok(http) => http,
        Err(err) => {
            let error = err.to_string();
            return summarise(
                (0..calls)
                    .map(|_| Err((String::new(), SimError::Options(error.clone()))))
                    .collect(),
            );
        }
    };
    let opts = Arc::new(opts.clone());
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let opts = Arc::clone(&opts);
            let http = http.clone();
            let delay = stagger.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            let call_sid = fresh_sid("CA");
            let task = tokio::spawn({
                let call_sid = call_sid.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    run_call(&opts, &http, call_sid).await
                }
            });
            (call_sid, task)
        })
        .collect();
    let mut results = Vec::with_capacity(calls);
    for (call_sid, task) in tasks {
        results.push(match task.await {
            Ok(result) => result.map_err(|err| (call_sid, err)),
            Err(join) => Err((
                call_sid,
                SimError::Options(format!("call task failed: {join}")),
            )),
        });
    }
    summarise(results)
}

/// A call's report, or its CallSid and why it failed.
type CallResult = Result<CallReport, (String, SimError)>;

fn summarise(results: Vec<CallResult>) -> ManyReport {
    let mut felt = Vec::new();
    let mut report = ManyReport {
        calls: results.len(),
        completed: 0,
        server_closed: 0,
        failures: Vec::new(),
        turns: 0,
        turns_without_reply: 0,
        caller_felt_ms: Percentiles::default(),
        frames_received: 0,
        late_frames: 0,
        late_fraction: 0.0,
        max_underrun_ms: 0.0,
        results: Vec::new(),
    };
    for result in &results {
        match result {
            Ok(call) => {
                report.completed += 1;
                report.server_closed += usize::from(call.server_closed);
                report.turns += call.turns.len();
                for turn in &call.turns {
                    match turn.caller_felt_ms {
                        Some(ms) => felt.push(ms),
                        None => report.turns_without_reply += 1,
                    }
                }
                report.frames_received += call.frames_received;
                report.late_frames += call.late_frames;
                report.max_underrun_ms = report.max_underrun_ms.max(call.max_underrun_ms);
            }
            Err((call_sid, err)) => report.failures.push(format!("{call_sid}: {}", chain(err))),
        }
    }
    report.caller_felt_ms = Percentiles::of(felt);
    if report.frames_received > 0 {
        report.late_fraction = report.late_frames as f64 / report.frames_received as f64;
    }
    report.results = results;
    report
}

/// An error and its causes, `: `-separated, for a one-line failure entry.
fn chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!(p.count, 100);
        assert_eq!(p.p50, Some(50.0));
        assert_eq!(p.p95, Some(95.0));
        assert_eq!(p.p99, Some(99.0));
        assert_eq!(p.max, Some(100.0));
        assert_eq!(p.mean, Some(50.5));
    }

    #[test]
    fn percentiles_of_nothing_are_absent() {
        let p = Percentiles::of(Vec::new());
        assert_eq!(p.count, 0);
        assert_eq!(p.p99, None);
        assert_eq!(p.mean, None);
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        let p = Percentiles::of(vec![42.0]);
        assert_eq!((p.p50, p.p99), (Some(42.0), Some(42.0)));
    }
}
