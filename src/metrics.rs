//! Service metrics: the registry and its series, rendered in Prometheus text
//! format (served by `crate::http::metrics`).
//!
//! One registry per running service (held in the state, so tests don't
//! share counters). Hot paths only bump atomics; the job table is read when
//! Prometheus scrapes, not on every change.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency buckets in milliseconds, dense around the 2.5 s turn target.
const MS_BUCKETS: [f64; 16] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0,
    5000.0, 10000.0,
];
/// Signal-to-noise buckets in dB for the caller's turns: a café at 10 dB,
/// a street at 20, a quiet line at 40 or more.
const SNR_BUCKETS: [f64; 9] = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0];
/// How many recent turns the quantile gauges look at.
const RECENT_TURNS: usize = 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartLabel {
    pub part: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatusLabel {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByLabel {
    pub by: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuantileLabel {
    pub quantile: String,
}

/// Every series the service exports.
pub struct Metrics {
    registry: Registry,
    pub turn_ms: Family<PartLabel, Histogram>,
    pub turns_total: Counter,
    /// Guesses at a turn's end made while the caller paused, the provider
    /// requests of those the caller talked past, and the turns whose reply
    /// was a confirmed guess.
    pub turn_guesses_total: Counter,
    pub turn_guess_wasted_calls_total: Counter,
    pub turns_speculative_total: Counter,
    /// Caller turns by what ended them, and the signal-to-noise ratio
    /// they were heard at: how often noise, not a pause, ends turns.
    pub turn_ends_total: Family<ByLabel, Counter>,
    pub turn_snr_db: Histogram,
    pub calls_in_progress: Gauge,
    pub calls_total: Counter,
    /// Streams refused because their business was at its call limit.
    pub calls_over_capacity: Counter,
    /// Streams started on this instance's own answer because the database
    /// did not confirm their claim in time.
    pub calls_unconfirmed: Counter,
    pub failovers_total: Family<KindLabel, Counter>,
    pub http_requests_total: Family<RouteStatusLabel, Counter>,
    pub http_latency_ms: Family<RouteLabel, Histogram>,
    pub provider_errors_total: Family<KindLabel, Counter>,
    /// Second requests sent to a provider beside or after the first (a
    /// stalled transcription, a model or TTS outage), by stage: a rising
    /// rate is a provider going bad before its errors reach callers.
    provider_asked_again_total: Family<StageLabel, Counter>,
    /// Second requests refused because the stage's budget was spent: a
    /// provider in an outage, not a tail (see `call::HedgeBudget`).
    provider_not_asked_again_total: Family<StageLabel, Counter>,
    /// Argon2 verifications started by login.
    pub password_checks_total: Counter,
    pub password_checks_in_flight: Gauge,
    /// The most that ever ran at once: proof the verifier bound holds.
    password_checks_peak: Gauge,
    /// Logins answered 429, by the limit that refused them.
    pub login_refusals_total: Family<KindLabel, Counter>,
    jobs: Family<StatusLabel, Gauge>,
    /// The database pool's connections, open and idle or lent out, and
    /// the most it may open (`DATABASE_MAX_CONNECTIONS` on PostgreSQL).
    db_connections: Family<StateLabel, Gauge>,
    db_connections_max: Gauge,
    turn_total_quantiles: Family<QuantileLabel, Gauge<f64, AtomicU64>>,
    recent_totals: Mutex<VecDeque<u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn ms_histogram() -> Histogram {
    Histogram::new(MS_BUCKETS)
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agentlocator");
        let turn_ms =
            Family::<PartLabel, Histogram>::new_with_constructor(ms_histogram as fn() -> Histogram);
        let http_latency_ms = Family::<RouteLabel, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let m = Self {
            registry: Registry::default(),
            turn_ms,
            turns_total: Counter::default(),
            turn_guesses_total: Counter::default(),
            turn_guess_wasted_calls_total: Counter::default(),
            turns_speculative_total: Counter::default(),
            turn_ends_total: Family::default(),
            turn_snr_db: Histogram::new(SNR_BUCKETS),
            calls_in_progress: Gauge::default(),
            calls_total: Counter::default(),
            calls_over_capacity: Counter::default(),
            calls_unconfirmed: Counter::default(),
            failovers_total: Family::default(),
            http_requests_total: Family::default(),
            http_latency_ms,
            provider_errors_total: Family::default(),
            provider_asked_again_total: Family::default(),
            provider_not_asked_again_total: Family::default(),
            password_checks_total: Counter::default(),
            password_checks_in_flight: Gauge::default(),
            password_checks_peak: Gauge::default(),
            login_refusals_total: Family::default(),
            jobs: Family::default(),
            db_connections: Family::default(),
            db_connections_max: Gauge::default(),
            turn_total_quantiles: Family::default(),
            recent_totals: Mutex::new(VecDeque::with_capacity(RECENT_TURNS)),
        };
        registry.register(
            "turn_ms",
            "Per-turn timings in ms by part (audio, stt, nlp, tts, total)",
            m.turn_ms.clone(),
        );
        registry.register(
            "turns",
            "Turns completed on the real-time stream",
            m.turns_total.clone(),
        );
        registry.register(
            "turn_guesses",
            "Guesses at the end of a turn started while the caller paused",
            m.turn_guesses_total.clone(),
        );
        registry.register(
            "turn_guess_wasted_calls",
            "Provider requests (STT, LLM, TTS) of guesses the caller talked past",
            m.turn_guess_wasted_calls_total.clone(),
        );
        registry.register(
            "turns_speculative",
            "Turns whose reply was a confirmed guess, prepared before the turn ended",
            m.turns_speculative_total.clone(),
        );
        registry.register(
            "turn_ends",
            "Caller turns by what ended them: silence, room (the line back at a crowd's level), quiet_hold (the caller not clear of the crowd for the hold), max_length, stream_end",
            m.turn_ends_total.clone(),
        );
        registry.register(
            "turn_snr_db",
            "The caller's speech level over the line's background, per turn, in dB",
            m.turn_snr_db.clone(),
        );
        registry.register(
            "turn_total_ms_recent",
            "t_total_ms over the most recent turns: quantile 0.5/0.95/0.99 and avg",
            m.turn_total_quantiles.clone(),
        );
        registry.register(
            "calls_in_progress",
            "Media streams open now",
            m.calls_in_progress.clone(),
        );
        registry.register("calls", "Media streams started", m.calls_total.clone());
        registry.register(
            "calls_over_capacity",
            "Streams refused at the business's call limit (the caller records a message)",
            m.calls_over_capacity.clone(),
        );
        registry.register(
            "calls_unconfirmed",
            "Streams started on this instance's answer alone: the database did not confirm the claim in time, so the call limit did not count them",
            m.calls_unconfirmed.clone(),
        );
        registry.register(
            "failovers",
            "Calls handed to the recording fallback, by why",
            m.failovers_total.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http_requests_total.clone(),
        );
        registry.register(
            "http_latency_ms",
            "HTTP latency in ms by route",
            m.http_latency_ms.clone(),
        );
        registry.register(
            "provider_errors",
            "Provider failures by kind",
            m.provider_errors_total.clone(),
        );
        registry.register(
            "provider_asked_again",
            "Provider requests sent a second time, by stage (stt, llm, tts)",
            m.provider_asked_again_total.clone(),
        );
        registry.register(
            "provider_not_asked_again",
            "Second provider requests refused because the stage's budget was spent, by stage",
            m.provider_not_asked_again_total.clone(),
        );
        // Every stage is exported from the start, so a dashboard's rate
        // reads 0, not "no data", until a provider first stalls.
        for family in [
            &m.provider_asked_again_total,
            &m.provider_not_asked_again_total,
        ] {
            for stage in ["stt", "llm", "tts"] {
                family
                    .get_or_create(&StageLabel {
                        stage: stage.into(),
                    })
                    .inc_by(0);
            }
        }
        registry.register(
            "password_checks",
            "Argon2 password verifications started by login",
            m.password_checks_total.clone(),
        );
        registry.register(
            "password_checks_in_flight",
            "Argon2 password verifications running now",
            m.password_checks_in_flight.clone(),
        );
        registry.register(
            "password_checks_in_flight_peak",
            "The most Argon2 password verifications that ran at once since start",
            m.password_checks_peak.clone(),
        );
        registry.register(
            "login_refusals",
            "Logins answered 429, by kind (pair, address, account, busy)",
            m.login_refusals_total.clone(),
        );
        registry.register("jobs", "Background jobs by status", m.jobs.clone());
        registry.register(
            "db_connections",
            "Database connections this instance holds open, by state (idle, in_use)",
            m.db_connections.clone(),
        );
        registry.register(
            "db_connections_max",
            "The most database connections this instance may open",
            m.db_connections_max.clone(),
        );
        // Series exist from the start so dashboards and alerts see zeros, not gaps.
        for part in ["audio", "stt", "nlp", "tts", "total"] {
            let _ = m.turn_ms.get_or_create(&PartLabel { part: part.into() });
        }
        for by in voice::EndedBy::ALL {
            let _ = m.turn_ends_total.get_or_create(&ByLabel {
                by: by.as_str().into(),
            });
        }
        Self { registry, ..m }
    }

    /// Records one finished turn's guesses.
    pub fn observe_guesses(&self, guesses: u32, wasted_calls: u32, speculative: bool) {
        self.turn_guesses_total.inc_by(u64::from(guesses));
        self.turn_guess_wasted_calls_total
            .inc_by(u64::from(wasted_calls));
        if speculative {
            self.turns_speculative_total.inc();
        }
    }

    /// Records what ended one caller turn, and its signal-to-noise ratio
    /// if known.
    pub fn observe_turn_end(&self, ended_by: voice::EndedBy, snr_db: Option<i16>) {
        self.turn_ends_total
            .get_or_create(&ByLabel {
                by: ended_by.as_str().into(),
            })
            .inc();
        if let Some(db) = snr_db {
            self.turn_snr_db.observe(f64::from(db));
        }
    }

    /// Records one finished turn's timings.
    pub fn observe_turn(&self, parts: &[(&str, u64)], total_ms: u64) {
        self.turns_total.inc();
        for (part, ms) in parts {
            self.turn_ms
                .get_or_create(&PartLabel {
                    part: (*part).into(),
                })
                .observe(*ms as f64);
        }
        self.turn_ms
            .get_or_create(&PartLabel {
                part: "total".into(),
            })
            .observe(total_ms as f64);
        let mut recent = self.recent_totals.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_TURNS {
            recent.pop_front();
        }
        recent.push_back(total_ms);
    }

    pub fn provider_error(&self, kind: &str) {
        self.provider_errors_total
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    /// Brings the second requests sent to `stage` up to `total`, the
    /// count the calls' shared budget keeps (read at each scrape).
    pub fn provider_asked_again(&self, stage: &str, total: u64) {
        catch_up(&self.provider_asked_again_total, stage, total);
    }

    /// Brings the refused second requests of `stage` up to `total`, the
    /// count the calls' shared budget keeps (read at each scrape).
    pub fn provider_not_asked_again(&self, stage: &str, total: u64) {
        catch_up(&self.provider_not_asked_again_total, stage, total);
    }

    pub fn failover(&self, kind: &str) {
        self.failovers_total
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    /// Counts one password verification as running until the guard drops.
    pub fn password_check(&self) -> RunningCheck<'_> {
        self.password_checks_total.inc();
        let running = self.password_checks_in_flight.inc() + 1;
        self.password_checks_peak
            .inner()
            .fetch_max(running, Ordering::Relaxed);
        RunningCheck(self)
    }

    /// The most password verifications that ran at once so far.
    pub fn password_checks_peak(&self) -> i64 {
        self.password_checks_peak.get()
    }

    pub fn login_refused(&self, kind: &str) {
        self.login_refusals_total
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    /// Sets how many jobs are in `status`; read from the table at scrape time.
    /// The pool as it is now: `open` connections, `idle` of them waiting.
    pub fn set_db_pool(&self, open: u32, idle: u32, max: u32) {
        let gauge = |state| self.db_connections.get_or_create(&StateLabel { state });
        gauge("idle").set(i64::from(idle));
        gauge("in_use").set(i64::from(open.saturating_sub(idle)));
        self.db_connections_max.set(i64::from(max));
    }

    pub fn set_jobs(&self, status: &str, count: i64) {
        self.jobs
            .get_or_create(&StatusLabel {
                status: status.into(),
            })
            .set(count);
    }

    fn refresh_quantiles(&self) {
        let mut values: Vec<u64> = {
            let recent = self.recent_totals.lock().unwrap_or_else(|e| e.into_inner());
            recent.iter().copied().collect()
        };
        if values.is_empty() {
            return;
        }
        values.sort_unstable();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize] as f64;
        let avg = values.iter().sum::<u64>() as f64 / values.len() as f64;
        for (label, v) in [
            ("0.5", at(0.5)),
            ("0.95", at(0.95)),
            ("0.99", at(0.99)),
            ("avg", avg),
        ] {
            self.turn_total_quantiles
                .get_or_create(&QuantileLabel {
                    quantile: label.into(),
                })
                .set(v);
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.refresh_quantiles();
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Raises `stage`'s counter in `family` to `total`, a count kept elsewhere;
/// never lowers it.
fn catch_up(family: &Family<StageLabel, Counter>, stage: &str, total: u64) {
    let counter = family.get_or_create(&StageLabel {
        stage: stage.into(),
    });
    counter.inc_by(total.saturating_sub(counter.get()));
}

/// One running password verification; see [`Metrics::password_check`].
pub struct RunningCheck<'a>(&'a Metrics);

impl Drop for RunningCheck<'_> {
    fn drop(&mut self) {
        self.0.password_checks_in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_timings_appear_as_histograms_and_recent_quantiles() {
        let m = Metrics::new();
        for total in [1000, 1200, 3000] {
            m.observe_turn(&[("stt", 300), ("nlp", 400), ("tts", 150)], total);
        }
        let text = m.render();
        assert!(
            text.contains("agentlocator_turn_ms_count{part=\"total\"} 3"),
            "{text}"
        );
        assert!(text.contains("agentlocator_turn_ms_count{part=\"stt\"} 3"));
        assert!(text.contains("agentlocator_turn_total_ms_recent{quantile=\"0.5\"} 1200"));
        assert!(text.contains("agentlocator_turns_total 3"));
    }

    #[test]
    fn refused_second_requests_follow_the_budgets_count_and_never_go_back() {
        let m = Metrics::new();
        let series = |m: &Metrics| {
            m.render()
                .lines()
                .filter(|l| l.starts_with("agentlocator_provider_not_asked_again_total{"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(series(&m).len(), 3, "every stage from 0");
        m.provider_not_asked_again("llm", 7);
        m.provider_not_asked_again("llm", 5);
        let llm = series(&m)
            .into_iter()
            .find(|l| l.contains(r#"stage="llm""#))
            .unwrap();
        assert!(llm.ends_with(" 7"), "{llm}");
    }

    #[test]
    fn password_checks_count_while_they_run_and_keep_their_peak() {
        let m = Metrics::new();
        let first = m.password_check();
        let second = m.password_check();
        assert_eq!(m.password_checks_in_flight.get(), 2);
        drop((first, second));
        let _third = m.password_check();
        assert_eq!(m.password_checks_in_flight.get(), 1);
        assert_eq!(m.password_checks_peak(), 2);
        let text = m.render();
        assert!(
            text.contains("agentlocator_password_checks_total 3"),
            "{text}"
        );
        assert!(text.contains("agentlocator_password_checks_in_flight_peak 2"));
    }
}
