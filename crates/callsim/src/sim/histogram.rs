//! A fixed-bucket latency histogram shared by many calls: constant memory
//! whatever the number of samples, and lock-free so 1,000 calls recording
//! 50 frames a second each do not queue on a mutex.
//!
//! Buckets are 0.1 ms wide up to 20 ms (where the send clock's own period
//! lies, so "on time" and "one frame late" stay apart), then 1 ms wide up
//! to 10 s; anything beyond falls in one overflow bucket. The maximum and
//! the mean are kept exactly beside the buckets. A percentile is reported as
//! the upper edge of the bucket it falls in, clamped to the exact maximum:
//! never below the true value, and above it by at most the bucket's width.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::many::Percentiles;

/// Width of the fine buckets, µs.
const FINE_US: u64 = 100;
/// Where the fine buckets end and the coarse ones begin, µs.
const FINE_UNTIL_US: u64 = 20_000;
/// Width of the coarse buckets, µs.
const COARSE_US: u64 = 1_000;
/// Where the coarse buckets end, µs: later values share the overflow bucket.
const COARSE_UNTIL_US: u64 = 10_000_000;

const FINE_BUCKETS: usize = (FINE_UNTIL_US / FINE_US) as usize;
const COARSE_BUCKETS: usize = ((COARSE_UNTIL_US - FINE_UNTIL_US) / COARSE_US) as usize;
/// The fine and coarse buckets and one overflow bucket (about 80 KB).
const BUCKETS: usize = FINE_BUCKETS + COARSE_BUCKETS + 1;

/// Counts of durations by bucket; see the module docs for the resolution.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    /// Adds one sample.
    pub fn record(&self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        // Relaxed: the counts are only read once every recorder has finished
        // (the tasks have been joined), which orders them already.
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// p50/p95/p99/max/mean of the samples, in milliseconds.
    #[must_use]
    pub fn percentiles_ms(&self) -> Percentiles {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return Percentiles::default();
        }
        let max_us = self.max_us.load(Ordering::Relaxed);
        let ms = |us: u64| us as f64 / 1000.0;
        let rank = |p: f64| {
            // Nearest rank, as `Percentiles::of`: the smallest bucket with
            // at least p of the sample at or below it.
            let rank = ((p * n as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Some(ms(upper_edge_us(i).min(max_us)));
                }
            }
            Some(ms(max_us))
        };
        Percentiles {
            count: usize::try_from(n).unwrap_or(usize::MAX),
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: Some(ms(max_us)),
            mean: Some(self.sum_us.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < FINE_UNTIL_US {
        (us / FINE_US) as usize
    } else if us < COARSE_UNTIL_US {
        FINE_BUCKETS + ((us - FINE_UNTIL_US) / COARSE_US) as usize
    } else {
        BUCKETS - 1
    }
}

/// The exclusive upper edge of bucket `i`, µs (`u64::MAX` for the overflow
/// bucket, which the exact maximum then bounds).
fn upper_edge_us(i: usize) -> u64 {
    if i < FINE_BUCKETS {
        (i as u64 + 1) * FINE_US
    } else if i < BUCKETS - 1 {
        FINE_UNTIL_US + ((i - FINE_BUCKETS) as u64 + 1) * COARSE_US
    } else {
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        let h = Histogram::new();
        assert_eq!(h.percentiles_ms(), Percentiles::default());
    }

    #[test]
    fn percentiles_use_the_nearest_rank_to_within_a_fine_bucket() {
        let h = Histogram::new();
        // 0.05, 0.15, … 9.95 ms: one sample in the middle of each of the
        // first 100 fine buckets.
        for i in 0..100 {
            h.record(us(i * 100 + 50));
        }
        let p = h.percentiles_ms();
        assert_eq!(p.count, 100);
        // The 50th sample (4.95 ms) is reported as its bucket's top, 5.0.
        assert_eq!(p.p50, Some(5.0));
        assert_eq!(p.p95, Some(9.5));
        assert_eq!(p.p99, Some(9.9));
        assert_eq!(p.max, Some(9.95));
        assert!((p.mean.unwrap() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_percentile_is_never_reported_above_the_exact_maximum() {
        let h = Histogram::new();
        h.record(us(1_230));
        let p = h.percentiles_ms();
        assert_eq!((p.p50, p.p99, p.max), (Some(1.23), Some(1.23), Some(1.23)));
    }

    #[test]
    fn values_past_twenty_ms_are_counted_to_the_millisecond() {
        let h = Histogram::new();
        for _ in 0..98 {
            h.record(us(1_000));
        }
        h.record(us(250_400));
        h.record(us(900_000));
        let p = h.percentiles_ms();
        assert_eq!(p.p50, Some(1.1));
        assert_eq!(p.p99, Some(251.0));
        assert_eq!(p.max, Some(900.0));
    }

    #[test]
    fn values_past_ten_seconds_share_the_overflow_bucket_bounded_by_the_maximum() {
        let h = Histogram::new();
        h.record(Duration::from_secs(12));
        h.record(Duration::from_secs(30));
        let p = h.percentiles_ms();
        assert_eq!(p.p50, Some(30_000.0));
        assert_eq!(p.max, Some(30_000.0));
    }

    #[test]
    fn bucket_edges_line_up_with_the_fine_and_coarse_widths() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(99), 0);
        assert_eq!(bucket_of(100), 1);
        assert_eq!(bucket_of(19_999), FINE_BUCKETS - 1);
        assert_eq!(bucket_of(20_000), FINE_BUCKETS);
        assert_eq!(upper_edge_us(FINE_BUCKETS), 21_000);
        assert_eq!(bucket_of(9_999_999), BUCKETS - 2);
        assert_eq!(upper_edge_us(BUCKETS - 2), COARSE_UNTIL_US);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }
}
