//! The collector's histograms: fixed buckets counted with atomics (no lock per observation),
//! exposed to Prometheus as histograms, and read back for the summary line's quantiles
//! (prometheus-client's own histogram keeps its counts to itself).

use std::fmt::Error;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// A histogram over fixed upper bounds, plus one bucket above the last.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last is above every bound.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Counts `v` in the first bucket whose bound is at least `v`.
    pub(crate) fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Relaxed);
        }
        // Observations come once per message or request: a compare-and-swap loop is cheap.
        let _ = self.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + v).to_bits())
        });
    }

    /// Observations per bucket so far (not cumulative), the last above every bound.
    pub(crate) fn counts(&self) -> Vec<u64> {
        self.counts.iter().map(|c| c.load(Relaxed)).collect()
    }

    /// The `q` quantile (0..=1) of the observations counted in `counts` (as [`Self::counts`]
    /// gives them, or a difference of two), interpolated linearly within its bucket as
    /// Prometheus' `histogram_quantile` does; the last bound if it falls above every bound;
    /// `None` without observations.
    pub(crate) fn quantile(&self, counts: &[u64], q: f64) -> Option<f64> {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, n) in counts.iter().enumerate() {
            let Some(upper) = self.bounds.get(i) else {
                return self.bounds.last().copied();
            };
            if (below + n) as f64 >= rank && *n > 0 {
                let lower = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                let into = (rank - below as f64) / *n as f64;
                return Some(lower + (upper - lower) * into);
            }
            below += n;
        }
        self.bounds.last().copied()
    }
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), Error> {
        let counts = self.counts();
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            // prometheus-client writes the bound `f64::MAX` as `+Inf`.
            .chain(std::iter::once(f64::MAX))
            .zip(counts.iter().copied())
            .collect();
        let sum = f64::from_bits(self.sum.load(Relaxed));
        encoder.encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: [f64; 4] = [0.1, 0.2, 0.5, 1.0];

    #[test]
    fn each_value_counts_in_the_first_bucket_that_holds_it() {
        let h = Histogram::new(&BOUNDS);
        for v in [0.05, 0.1, 0.15, 0.7, 3.0] {
            h.observe(v);
        }
        assert_eq!(h.counts(), [2, 1, 0, 1, 1]);
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket_like_prometheus() {
        let h = Histogram::new(&BOUNDS);
        assert_eq!(h.quantile(&h.counts(), 0.5), None, "nothing observed");
        for _ in 0..50 {
            h.observe(0.05);
        }
        for _ in 0..50 {
            h.observe(0.15);
        }
        let counts = h.counts();
        assert_eq!(h.quantile(&counts, 0.5), Some(0.1));
        let p99 = h.quantile(&counts, 0.99).expect("observed");
        assert!((p99 - 0.198).abs() < 1e-9, "{p99}");
        h.observe(9.0);
        assert_eq!(h.quantile(&h.counts(), 1.0), Some(1.0), "above every bound");
    }

    #[test]
    fn it_encodes_as_a_prometheus_histogram() {
        let h = Histogram::new(&BOUNDS);
        h.observe(0.15);
        h.observe(2.0);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("lag_seconds", "A lag.", h);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            "# TYPE lag_seconds histogram",
            "lag_seconds_sum 2.15",
            "lag_seconds_count 2",
            "lag_seconds_bucket{le=\"0.1\"} 0",
            "lag_seconds_bucket{le=\"0.2\"} 1",
            "lag_seconds_bucket{le=\"1.0\"} 1",
            "lag_seconds_bucket{le=\"+Inf\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
