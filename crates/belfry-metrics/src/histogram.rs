//! [`AtomicHistogram`]: a histogram with fixed buckets whose `observe` is a handful of atomic
//! operations — no lock, no allocation.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use crate::exemplar::{ExemplarSample, ExemplarSlot};
use prometheus_client::{
    encoding::{EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric},
};

/// A lock-free Prometheus histogram with fixed bucket bounds.
///
/// prometheus-client's own `Histogram` takes a write lock on every observation; this one is made
/// of atomics only: one `AtomicU64` per bucket, and the sum as `f64` bits in an `AtomicU64` updated
/// with a compare-and-swap loop. An observation costs a binary search over the bounds, one
/// `fetch_add` and one (normally uncontended) compare-and-swap. The count is not stored: it is the
/// total of the buckets, so `_count` always equals the `+Inf` bucket. Under concurrent observation a
/// scrape may see a sum that is one observation ahead of or behind the buckets, which Prometheus
/// tolerates.
///
/// Like prometheus-client's metrics it is a cheap handle: clones share the same counters, so it
/// can be registered with [`Metrics::register`](crate::Metrics::register) and kept for recording.
///
/// ```
/// use belfry_metrics::AtomicHistogram;
///
/// let histogram = AtomicHistogram::new([0.1, 1.0]);
/// histogram.observe(0.05);
/// histogram.observe(0.5);
/// histogram.observe(7.0);
/// assert_eq!(histogram.count(), 3);
/// assert_eq!(histogram.sum(), 7.55);
/// // Cumulative, as Prometheus exposes them.
/// assert_eq!(histogram.buckets(), vec![(0.1, 1), (1.0, 2), (f64::INFINITY, 3)]);
/// ```
#[derive(Clone)]
pub struct AtomicHistogram {
    inner: Arc<Counters>,
}

struct Counters {
    /// Sorted, finite, distinct upper bounds; `+Inf` is implied.
    bounds: Arc<[f64]>,
    /// Observations per bucket (not cumulative): one per bound, then the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    /// Sum of the observations, as `f64::to_bits`.
    sum_bits: AtomicU64,
    /// The last exemplar of each bucket, allocated by the first observation that has one.
    exemplars: OnceLock<Box<[ExemplarSlot]>>,
}

impl AtomicHistogram {
    /// A histogram with the given bucket upper bounds (`le`), in any order. Non-finite bounds and
    /// duplicates are dropped; the `+Inf` bucket is always there.
    ///
    /// ```
    /// use belfry_metrics::AtomicHistogram;
    ///
    /// let histogram = AtomicHistogram::new([1.0, 0.5, f64::INFINITY, 0.5]);
    /// assert_eq!(histogram.buckets(), vec![(0.5, 0), (1.0, 0), (f64::INFINITY, 0)]);
    /// ```
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|bound| bound.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        Self::with_sorted_bounds(bounds.into())
    }

    /// A histogram sharing `bounds`, which must already be sorted, finite and distinct.
    pub(crate) fn with_sorted_bounds(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(Counters {
                bounds,
                counts,
                sum_bits: AtomicU64::new(0f64.to_bits()),
                exemplars: OnceLock::new(),
            }),
        }
    }

    /// Records one observation. `NaN` is ignored, since it would poison the sum.
    ///
    /// ```
    /// use belfry_metrics::AtomicHistogram;
    ///
    /// let histogram = AtomicHistogram::new([1.0]);
    /// histogram.observe(1.0); // bounds are inclusive: counted in le="1"
    /// histogram.observe(f64::NAN);
    /// assert_eq!(histogram.buckets(), vec![(1.0, 1), (f64::INFINITY, 1)]);
    /// ```
    #[inline]
    pub fn observe(&self, value: f64) {
        self.observe_in_bucket(value);
    }

    /// Records one observation carrying the trace id of a sampled request as its bucket's
    /// exemplar (the last one wins), written after the bucket line in OpenMetrics scrapes.
    #[inline]
    pub(crate) fn observe_with_exemplar(&self, value: f64, trace_id: &[u8; 16]) {
        if let Some(bucket) = self.observe_in_bucket(value) {
            let slots = self.inner.exemplars.get_or_init(|| {
                (0..self.inner.counts.len())
                    .map(|_| ExemplarSlot::default())
                    .collect()
            });
            slots[bucket].store(trace_id, value);
        }
    }

    /// [`observe`](Self::observe), returning the bucket index (none for `NaN`).
    #[inline]
    fn observe_in_bucket(&self, value: f64) -> Option<usize> {
        if value.is_nan() {
            return None;
        }
        let counters = &*self.inner;
        let bucket = counters.bounds.partition_point(|bound| *bound < value);
        counters.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let mut current = counters.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match counters
                .sum_bits
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        Some(bucket)
    }

    /// The exemplar of each bucket, `+Inf` last; empty if no observation ever carried one.
    pub(crate) fn exemplars(&self) -> Vec<Option<ExemplarSample>> {
        self.inner
            .exemplars
            .get()
            .map(|slots| slots.iter().map(ExemplarSlot::load).collect())
            .unwrap_or_default()
    }

    /// The finite upper bounds, shared with the histogram.
    pub(crate) fn bounds(&self) -> Arc<[f64]> {
        Arc::clone(&self.inner.bounds)
    }

    /// Number of buckets, `+Inf` included.
    pub(crate) fn bucket_count(&self) -> usize {
        self.inner.counts.len()
    }

    /// Records a duration, in seconds.
    ///
    /// ```
    /// use belfry_metrics::AtomicHistogram;
    /// use std::time::Duration;
    ///
    /// let histogram = AtomicHistogram::new([1.0]);
    /// histogram.observe_duration(Duration::from_millis(250));
    /// assert_eq!(histogram.sum(), 0.25);
    /// ```
    #[inline]
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }

    /// Number of observations.
    ///
    /// ```
    /// let histogram = belfry_metrics::AtomicHistogram::new([1.0]);
    /// histogram.observe(2.0);
    /// assert_eq!(histogram.count(), 1);
    /// ```
    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// Sum of the observations.
    ///
    /// ```
    /// let histogram = belfry_metrics::AtomicHistogram::new([1.0]);
    /// histogram.observe(2.0);
    /// histogram.observe(0.5);
    /// assert_eq!(histogram.sum(), 2.5);
    /// ```
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.inner.sum_bits.load(Ordering::Relaxed))
    }

    /// Cumulative bucket counts as `(upper bound, observations ≤ bound)`, ending with `+Inf`.
    ///
    /// ```
    /// let histogram = belfry_metrics::AtomicHistogram::new([1.0, 2.0]);
    /// histogram.observe(1.5);
    /// assert_eq!(histogram.buckets(), vec![(1.0, 0), (2.0, 1), (f64::INFINITY, 1)]);
    /// ```
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.per_bucket()
            .map(|(bound, count)| {
                total += count;
                (bound, total)
            })
            .collect()
    }

    /// Non-cumulative `(upper bound, observations in this bucket)`, ending with `+Inf`.
    pub(crate) fn per_bucket(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = self
            .inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY));
        bounds.zip(
            self.inner
                .counts
                .iter()
                .map(|count| count.load(Ordering::Relaxed)),
        )
    }
}

impl fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicHistogram")
            .field("buckets", &self.buckets())
            .field("sum", &self.sum())
            .finish()
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        // Read the buckets first and derive the count from them, so `_count` equals `+Inf`.
        let buckets: Vec<(f64, u64)> = self.per_bucket().collect();
        let count = buckets.iter().map(|(_, count)| count).sum();
        encoder.encode_histogram::<NoLabelSet>(self.sum(), count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::{encoding::text::encode, registry::Registry};

    #[test]
    fn buckets_sum_and_count_after_observations() {
        let histogram = AtomicHistogram::new(crate::HTTP_DURATION_BUCKETS);
        for value in [0.001, 0.005, 0.007, 0.3, 0.3, 11.0] {
            histogram.observe(value);
        }
        assert_eq!(histogram.count(), 6);
        assert!((histogram.sum() - 11.613).abs() < 1e-9);
        let buckets = histogram.buckets();
        assert_eq!(buckets.len(), 15);
        assert_eq!(buckets[0], (0.005, 2)); // 0.001 and 0.005 (inclusive bound)
        assert_eq!(buckets[1], (0.01, 3));
        assert_eq!(buckets[6], (0.25, 3));
        assert_eq!(buckets[7], (0.5, 5));
        assert_eq!(buckets[13], (10.0, 5));
        assert_eq!(buckets[14], (f64::INFINITY, 6));
    }

    #[test]
    fn encodes_as_an_openmetrics_histogram() {
        let histogram = AtomicHistogram::new([0.5, 1.0]);
        histogram.observe(0.25);
        histogram.observe(2.0);
        let mut registry = Registry::default();
        registry.register("latency_seconds", "Latency", histogram);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert_eq!(
            text,
            "# HELP latency_seconds Latency.\n\
             # TYPE latency_seconds histogram\n\
             latency_seconds_sum 2.25\n\
             latency_seconds_count 2\n\
             latency_seconds_bucket{le=\"0.5\"} 1\n\
             latency_seconds_bucket{le=\"1.0\"} 1\n\
             latency_seconds_bucket{le=\"+Inf\"} 2\n\
             # EOF\n"
        );
    }

    #[test]
    fn exemplars_land_in_the_observed_bucket_and_the_last_wins() {
        let histogram = AtomicHistogram::new([0.5, 1.0]);
        histogram.observe(0.2);
        assert!(histogram.exemplars().is_empty());
        histogram.observe_with_exemplar(0.75, &[1; 16]);
        histogram.observe_with_exemplar(0.8, &[2; 16]);
        histogram.observe_with_exemplar(f64::NAN, &[3; 16]);
        histogram.observe(0.9);
        let exemplars = histogram.exemplars();
        assert_eq!(exemplars.len(), 3);
        assert_eq!(exemplars[0], None);
        let second = exemplars[1].unwrap();
        assert_eq!((second.trace_id, second.value), ([2; 16], 0.8));
        assert_eq!(exemplars[2], None);
        assert_eq!(histogram.count(), 4);
    }

    #[test]
    fn concurrent_observations_are_all_counted() {
        let histogram = AtomicHistogram::new([1.0, 2.0]);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..10_000 {
                        histogram.observe(f64::from(i % 3));
                    }
                });
            }
        });
        assert_eq!(histogram.count(), 40_000);
        // Small integers add exactly in f64, whatever the interleaving.
        let expected: f64 = 4.0 * (0..10_000).map(|i| f64::from(i % 3)).sum::<f64>();
        assert_eq!(histogram.sum(), expected);
    }
}
