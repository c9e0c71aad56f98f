//! Upstream call counts by outcome and a latency histogram, recorded on the call path and read
//! by `/metrics`. Upstream calls are far rarer than deliveries, so shared atomics are fine here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implied.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How an upstream call ended, as metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// A 2xx answer the client could use.
    Ok,
    /// The upstream answered with an error status (or an oversized body).
    HttpError,
    /// No answer: connection refused or broken, or the URL could not be built.
    TransportError,
    /// No answer within the configured timeout.
    Timeout,
    /// No template matched: nothing was sent.
    NoMatch,
    /// Refused unsent: `--upstream-max-calls` calls were already in flight.
    Busy,
}

impl CallOutcome {
    /// Every outcome, in label order.
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Ok,
        CallOutcome::HttpError,
        CallOutcome::TransportError,
        CallOutcome::Timeout,
        CallOutcome::NoMatch,
        CallOutcome::Busy,
    ];

    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::HttpError => "http_error",
            CallOutcome::TransportError => "transport_error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::NoMatch => "no_match",
            CallOutcome::Busy => "busy",
        }
    }
}

/// Counts and latencies of upstream calls.
#[derive(Debug, Default)]
pub struct UpstreamMetrics {
    outcomes: [AtomicU64; CallOutcome::ALL.len()],
    /// Calls that took at most each bucket's bound (not cumulative; summed when read).
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    /// Calls slower than the largest bound.
    over: AtomicU64,
    sum_micros: AtomicU64,
}

/// A reading of the latency histogram, in Prometheus' cumulative form.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// For each bound of [`LATENCY_BUCKETS`], the calls that took at most that long.
    pub cumulative: Vec<u64>,
    /// Every timed call.
    pub count: u64,
    /// Their total duration in seconds.
    pub sum_seconds: f64,
}

impl UpstreamMetrics {
    /// Counts a call that ended with `outcome`; `elapsed` is `None` when nothing was sent.
    pub fn record(&self, outcome: CallOutcome, elapsed: Option<Duration>) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
        let Some(elapsed) = elapsed else { return };
        let seconds = elapsed.as_secs_f64();
        match LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Calls that ended with `outcome`.
    pub fn calls(&self, outcome: CallOutcome) -> u64 {
        self.outcomes[outcome as usize].load(Ordering::Relaxed)
    }

    /// The latency histogram now.
    pub fn latency(&self) -> Latency {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|bucket| {
                running += bucket.load(Ordering::Relaxed);
                running
            })
            .collect();
        Latency {
            cumulative,
            count: running + self.over.load(Ordering::Relaxed),
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_the_slowest_calls_too() {
        let metrics = UpstreamMetrics::default();
        metrics.record(CallOutcome::Ok, Some(Duration::from_millis(3)));
        metrics.record(CallOutcome::HttpError, Some(Duration::from_millis(70)));
        metrics.record(CallOutcome::Timeout, Some(Duration::from_secs(60)));
        metrics.record(CallOutcome::NoMatch, None);
        let latency = metrics.latency();
        assert_eq!(latency.cumulative[0], 1);
        assert_eq!(latency.cumulative[3], 1);
        assert_eq!(latency.cumulative[4], 2);
        assert_eq!(*latency.cumulative.last().unwrap(), 2);
        assert_eq!(latency.count, 3);
        assert!((latency.sum_seconds - 60.073).abs() < 1e-6);
        assert_eq!(metrics.calls(CallOutcome::NoMatch), 1);
        assert_eq!(metrics.calls(CallOutcome::Ok), 1);
    }
}
