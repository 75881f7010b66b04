//! [`Sampler`]: the sampling decision for traces that start here, and [`RatioSampler`], the
//! default, deterministic by trace id.

use crate::TraceId;

/// Decides whether a trace that starts in this service is sampled.
///
/// It is asked only when there is no incoming decision: for a new root trace, or for a continued
/// `sentry-trace` without a sampled flag (Sentry's "deferred" decision). An incoming `traceparent`
/// or a `sentry-trace` with a flag is honoured as it is, so that a trace has one decision
/// shared by every service and every consumer (Sentry transactions, exporters).
///
/// Closures `Fn(TraceId) -> bool` are samplers too:
///
/// ```
/// use belfry_trace_context::{Sampler, TraceId};
///
/// let never = |_: TraceId| false;
/// assert!(!never.should_sample(TraceId::random()));
/// ```
pub trait Sampler: Clone + Send + Sync + 'static {
    /// Whether the trace with this id is sampled.
    fn should_sample(&self, trace_id: TraceId) -> bool;
}

impl<F> Sampler for F
where
    F: Fn(TraceId) -> bool + Clone + Send + Sync + 'static,
{
    fn should_sample(&self, trace_id: TraceId) -> bool {
        self(trace_id)
    }
}

/// Samples a fixed ratio of new traces, deterministically by trace id: a trace is sampled when
/// the low 8 bytes of its id, read as a big-endian integer, are below `ratio × 2⁶⁴`.
///
/// This is the rule of OpenTelemetry's `TraceIdRatioBased` sampler, so every service that uses
/// it with the same ratio — belfry or an OpenTelemetry SDK — makes the same decision for the
/// same trace, and a lower ratio samples a subset of what a higher one does.
///
/// ```
/// use belfry_trace_context::{RatioSampler, Sampler, TraceId};
///
/// let low = TraceId::from_hex("ffffffffffffffff0000000000000001").unwrap();
/// let high = TraceId::from_hex("0000000000000001ffffffffffffffff").unwrap();
/// let half = RatioSampler::new(0.5);
/// assert!(half.should_sample(low));
/// assert!(!half.should_sample(high));
///
/// assert!(RatioSampler::new(1.0).should_sample(high));
/// assert!(!RatioSampler::new(0.0).should_sample(low));
/// assert_eq!(RatioSampler::new(7.0).ratio(), 1.0, "clamped to 0..=1");
/// assert_eq!(RatioSampler::default().ratio(), 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioSampler {
    ratio: f64,
    /// `ratio × 2⁶⁴`: 2⁶⁴ itself samples everything.
    threshold: u128,
}

impl RatioSampler {
    /// Samples everything.
    pub const ALWAYS: Self = Self {
        ratio: 1.0,
        threshold: 1 << 64,
    };

    /// Samples nothing.
    pub const NEVER: Self = Self {
        ratio: 0.0,
        threshold: 0,
    };

    /// The share of new traces belfry samples unless told otherwise (`SENTRY_TRACES_SAMPLE_RATE`):
    /// one in ten. Sentry's transactions and the sampled flag sent downstream follow the one
    /// decision.
    ///
    /// ```
    /// assert_eq!(belfry_trace_context::RatioSampler::DEFAULT_RATIO, 0.1);
    /// ```
    pub const DEFAULT_RATIO: f64 = 0.1;

    /// Samples `ratio` of new traces; `ratio` is clamped to `0.0..=1.0` (NaN counts as 0).
    pub fn new(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        Self {
            ratio,
            // Exact for 0 and 1; the float-to-int cast saturates.
            threshold: (ratio * 18_446_744_073_709_551_616.0) as u128,
        }
    }

    /// The ratio of new traces sampled.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }
}

impl Default for RatioSampler {
    /// [`RatioSampler::ALWAYS`].
    fn default() -> Self {
        Self::ALWAYS
    }
}

impl Sampler for RatioSampler {
    #[inline]
    fn should_sample(&self, trace_id: TraceId) -> bool {
        let bytes = trace_id.to_bytes();
        let low = u64::from_be_bytes([
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
        ]);
        u128::from(low) < self.threshold
    }
}

/// `true` with probability `ratio` (at most 0: never; at least 1: always), drawn from this
/// thread's generator — the one the trace and span ids come from (wyrand, seeded once per thread
/// from the operating system's randomness; no lock, no allocation). For the decisions that are
/// not about a trace: which error events to keep at `SENTRY_SAMPLE_RATE`, which access-log lines
/// to write. A trace's own decision is its [`Sampler`]'s, from the trace id.
///
/// ```
/// use belfry_trace_context::random_chance;
///
/// assert!((0..1000).all(|_| random_chance(1.0)));
/// assert!((0..1000).all(|_| !random_chance(0.0)));
/// let hits = (0..100_000).filter(|_| random_chance(0.25)).count();
/// assert!((23_000..27_000).contains(&hits), "{hits} of 100,000 at 0.25");
/// ```
#[inline]
pub fn random_chance(ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    // The top 53 bits as a fraction in [0, 1).
    ((crate::ids::next_u64() >> 11) as f64 / (1u64 << 53) as f64) < ratio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_respected_and_nested() {
        let ids: Vec<_> = (0..20_000).map(|_| TraceId::random()).collect();
        let count = |ratio: f64| {
            ids.iter()
                .filter(|id| RatioSampler::new(ratio).should_sample(**id))
                .count()
        };
        let tenth = count(0.1);
        assert!((1_600..2_400).contains(&tenth), "{tenth}");
        assert_eq!(count(1.0), ids.len());
        assert_eq!(count(0.0), 0);
        assert_eq!(count(f64::NAN), 0);
        // Consistency: whatever 10% samples, 50% samples too.
        for id in &ids {
            if RatioSampler::new(0.1).should_sample(*id) {
                assert!(RatioSampler::new(0.5).should_sample(*id));
            }
        }
    }

    #[test]
    fn boundary_matches_opentelemetry() {
        // OpenTelemetry's bound for 0.5 is 2^63: low half 0x7fff… is in, 0x8000… is out.
        let id = |low: u64| TraceId::from_bytes(((1u128 << 64) | u128::from(low)).to_be_bytes());
        assert!(RatioSampler::new(0.5).should_sample(id(0x7fff_ffff_ffff_ffff)));
        assert!(!RatioSampler::new(0.5).should_sample(id(0x8000_0000_0000_0000)));
        assert!(RatioSampler::ALWAYS.should_sample(id(u64::MAX)));
        assert!(!RatioSampler::NEVER.should_sample(id(0)));
    }
}
