//! Many simulated calls at once, for load tests: distinct CallSids,
//! staggered starts, one summary of what the callers felt and of how well
//! the generator itself kept time (send lateness, its CPU and wall time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::histogram::Histogram;
use super::{CallReport, SimError, SimMode, SimOptions, fresh_sid, http_client, run_call};

/// Linux's `USER_HZ`: the unit of `/proc/*/stat` CPU times, 100 on every
/// architecture the service runs on.
const USER_HZ: f64 = 100.0;

/// The summary of [`simulate_many`].
#[derive(Debug, Serialize)]
pub struct ManyReport {
    /// Calls started.
    pub calls: usize,
    /// Calls that ran to the end (streamed, recorded, or failed over).
    pub completed: usize,
    /// Calls the server closed the stream on (failover).
    pub server_closed: usize,
    /// Calls that got the agent: streamed to the end, never sent to
    /// recording nor transferred (the agent hanging up counts: it was the
    /// agent's call to end).
    pub streamed: usize,
    /// Calls that ended up recording a message instead: answered with
    /// `<Record>`, or closed by the server and sent to the fallback.
    pub to_recording: usize,
    /// `CallSid: error` for each call that failed.
    pub failures: Vec<String>,
    /// Turns over all calls.
    pub turns: usize,
    /// Seconds of streamed media over all calls (the call-seconds that
    /// server CPU is divided by).
    pub stream_seconds: f64,
    /// Turns that got no reply within the timeout.
    pub turns_without_reply: usize,
    /// Caller-felt latency over every answered turn, ms.
    pub caller_felt_ms: Percentiles,
    /// Each call's longest silence (see [`crate::sim`]), ms, over the calls
    /// with an answered turn: the median and p95 say how long callers sat
    /// in silence at worst.
    pub longest_silence_ms: Percentiles,
    /// Calls the server transferred to a human (`<Dial>`).
    pub transferred: usize,
    /// Server media frames received over all calls.
    pub frames_received: u64,
    /// Of which late by more than 40 ms (see [`crate::sim`]).
    pub late_frames: u64,
    /// `late_frames / frames_received` (0 without frames).
    pub late_fraction: f64,
    /// The longest playback underrun inside a reply over all calls, ms.
    pub max_underrun_ms: f64,
    /// Caller media frames the generator sent over all calls.
    pub frames_sent: u64,
    /// How late each caller frame left after its 20 ms slot, ms, over all
    /// calls (to within 0.1 ms up to 20 ms, 1 ms up to 10 s).
    pub send_lateness_ms: Percentiles,
    /// Caller frames sent more than 20 ms after their slot.
    pub send_late_frames: u64,
    /// `send_late_frames / frames_sent` (0 without frames).
    pub send_late_fraction: f64,
    /// CPU the generator's process used during the run, user + system, s
    /// (`None` where `/proc/self/stat` cannot be read).
    pub generator_cpu_s: Option<f64>,
    /// From the first call's start to the last call's end, s.
    pub wall_s: f64,
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
    let send_lateness = Arc::new(Histogram::new());
    let http = match http_client() {
        Ok(http) => http,
        Err(err) => {
            let error = err.to_string();
            return summarise(
                (0..calls)
                    .map(|_| Err((String::new(), SimError::Options(error.clone()))))
                    .collect(),
                &send_lateness,
            );
        }
    };
    let cpu_before = process_cpu_s();
    let started = Instant::now();
    let opts = Arc::new(opts.clone());
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let opts = Arc::clone(&opts);
            let http = http.clone();
            let send_lateness = Arc::clone(&send_lateness);
            let delay = stagger.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            let call_sid = fresh_sid("CA");
            let task = tokio::spawn({
                let call_sid = call_sid.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let numbers = 1 + opts.also_to.len();
                    let to = match i % numbers {
                        0 => &opts.to,
                        k => &opts.also_to[k - 1],
                    };
                    run_call(&opts, to, &http, call_sid, &send_lateness).await
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
    let mut report = summarise(results, &send_lateness);
    report.wall_s = started.elapsed().as_secs_f64();
    report.generator_cpu_s = cpu_before
        .zip(process_cpu_s())
        .map(|(before, after)| after - before);
    report
}

/// User + system CPU this process has used so far, s.
fn process_cpu_s() -> Option<f64> {
    cpu_s_of_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User + system CPU from the text of a `/proc/PID/stat`, s: fields 14 and
/// 15 in `USER_HZ` ticks. Fields are counted after the command name, which
/// is parenthesised and may itself hold spaces or parentheses.
fn cpu_s_of_stat(stat: &str) -> Option<f64> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    // After the name come field 3 (state) onwards: utime is field 14.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// A call's report, or its CallSid and why it failed.
type CallResult = Result<CallReport, (String, SimError)>;

fn summarise(results: Vec<CallResult>, send_lateness: &Histogram) -> ManyReport {
    let mut felt = Vec::new();
    let mut silences = Vec::new();
    let mut report = ManyReport {
        calls: results.len(),
        completed: 0,
        server_closed: 0,
        streamed: 0,
        to_recording: 0,
        failures: Vec::new(),
        turns: 0,
        stream_seconds: 0.0,
        turns_without_reply: 0,
        caller_felt_ms: Percentiles::default(),
        longest_silence_ms: Percentiles::default(),
        transferred: 0,
        frames_received: 0,
        late_frames: 0,
        late_fraction: 0.0,
        max_underrun_ms: 0.0,
        frames_sent: 0,
        send_lateness_ms: send_lateness.percentiles_ms(),
        send_late_frames: 0,
        send_late_fraction: 0.0,
        generator_cpu_s: None,
        wall_s: 0.0,
        results: Vec::new(),
    };
    for result in &results {
        match result {
            Ok(call) => {
                report.completed += 1;
                report.server_closed += usize::from(call.server_closed);
                report.streamed += usize::from(
                    call.mode == SimMode::Stream && (!call.server_closed || call.ended_by_agent),
                );
                report.transferred += usize::from(call.mode == SimMode::Transfer);
                silences.extend(call.longest_silence_ms);
                report.to_recording += usize::from(matches!(
                    call.mode,
                    SimMode::Record | SimMode::RecordFallback
                ));
                report.turns += call.turns.len();
                report.stream_seconds += call.stream_s;
                for turn in &call.turns {
                    match turn.caller_felt_ms {
                        Some(ms) => felt.push(ms),
                        None => report.turns_without_reply += 1,
                    }
                }
                report.frames_received += call.frames_received;
                report.late_frames += call.late_frames;
                report.max_underrun_ms = report.max_underrun_ms.max(call.max_underrun_ms);
                report.frames_sent += call.frames_sent;
                report.send_late_frames += call.send_late_frames;
            }
            Err((call_sid, err)) => report.failures.push(format!("{call_sid}: {}", chain(err))),
        }
    }
    report.caller_felt_ms = Percentiles::of(felt);
    report.longest_silence_ms = Percentiles::of(silences);
    if report.frames_received > 0 {
        report.late_fraction = report.late_frames as f64 / report.frames_received as f64;
    }
    if report.frames_sent > 0 {
        report.send_late_fraction = report.send_late_frames as f64 / report.frames_sent as f64;
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
    fn cpu_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime …
        let stat = "4242 (agent (x) y) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0";
        assert_eq!(cpu_s_of_stat(stat), Some(3.25));
    }

    #[test]
    fn an_unreadable_stat_line_gives_no_cpu_time() {
        assert_eq!(cpu_s_of_stat("4242 (cut short) S 1 2"), None);
        assert_eq!(cpu_s_of_stat("no parenthesis at all"), None);
    }

    #[test]
    fn calls_closed_by_the_server_count_as_sent_to_recording_not_streamed() {
        let call = |mode, server_closed| {
            let mut r = CallReport::without_stream("CA1".into(), mode, String::new());
            r.server_closed = server_closed;
            r.frames_sent = 100;
            r.send_late_frames = u64::from(server_closed);
            r.stream_s = 1.5;
            Ok(r)
        };
        let report = summarise(
            vec![
                call(SimMode::Stream, false),
                call(SimMode::Stream, false),
                call(SimMode::RecordFallback, true),
                call(SimMode::Record, false),
                Err(("CA9".into(), SimError::Options("boom".into()))),
            ],
            &Histogram::new(),
        );
        assert_eq!((report.streamed, report.to_recording), (2, 2));
        assert_eq!((report.server_closed, report.completed), (1, 4));
        assert_eq!(report.failures.len(), 1);
        assert_eq!((report.frames_sent, report.send_late_frames), (400, 1));
        assert!((report.stream_seconds - 6.0).abs() < 1e-12);
        assert!((report.send_late_fraction - 0.0025).abs() < 1e-12);
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        let p = Percentiles::of(vec![42.0]);
        assert_eq!((p.p50, p.p99), (Some(42.0), Some(42.0)));
    }
}
