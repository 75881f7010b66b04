//! Telemetry belfry chose not to send, counted: Sentry events and transactions dropped
//! ([`Metrics::register_sentry_dropped`]) and log lines suppressed by the callsite limiter
//! ([`Metrics::register_log_lines_suppressed`]).
//!
//! As with [`LOG_LINES_DROPPED`](crate::LOG_LINES_DROPPED), this crate knows nothing of Sentry or
//! the log layer: the facade passes closures reading its counters, called on each scrape.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, MetricType},
};

use crate::Metrics;

/// `belfry_sentry_events_dropped_total{reason}`: Sentry error events not delivered (the encoder
/// adds `_total`).
pub const SENTRY_EVENTS_DROPPED: &str = "belfry_sentry_events_dropped";

/// `belfry_sentry_transactions_dropped_total{reason}`: Sentry performance transactions not
/// delivered.
pub const SENTRY_TRANSACTIONS_DROPPED: &str = "belfry_sentry_transactions_dropped";

/// The label of [`SENTRY_EVENTS_DROPPED`] and [`SENTRY_TRANSACTIONS_DROPPED`]: `budget`,
/// `queue_full`, `rate_limited`, `send_failed` or `sample_rate`.
pub const SENTRY_DROP_REASON_LABEL: &str = "reason";

/// `belfry_log_lines_suppressed_total{level}`: log lines left out because their callsite logged
/// more than its limit per second (each second's are summarised by one line).
pub const LOG_LINES_SUPPRESSED: &str = "belfry_log_lines_suppressed";

/// `belfry_otel_spans_dropped_total{reason}`: OpenTelemetry spans not delivered to the OTLP
/// collector (`queue_full`, `export_failed`).
pub const OTEL_SPANS_DROPPED: &str = "belfry_otel_spans_dropped";

/// `belfry_otel_metric_exports_failed_total{reason}`: OTLP metric exports the collector did not
/// take (`unreachable`: no answer in time; `rejected`: an error status). Nothing is lost with
/// them: the values are cumulative, and the next export carries them.
pub const OTEL_METRIC_EXPORTS_FAILED: &str = "belfry_otel_metric_exports_failed";

/// The label of [`OTEL_SPANS_DROPPED`] and [`OTEL_METRIC_EXPORTS_FAILED`].
pub const OTEL_REASON_LABEL: &str = "reason";

impl Metrics {
    /// Exports [`OTEL_METRIC_EXPORTS_FAILED`]; `counts` is called on each scrape and returns
    /// `(reason, exports since start)`.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// metrics.register_otel_metric_exports_failed(|| [("unreachable", 2), ("rejected", 0)]);
    /// assert!(metrics
    ///     .render()
    ///     .contains("belfry_otel_metric_exports_failed_total{reason=\"unreachable\"} 2\n"));
    /// ```
    pub fn register_otel_metric_exports_failed<F, C>(&self, counts: F)
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: IntoIterator<Item = (&'static str, u64)>,
    {
        self.register_collector(LabelledCounters {
            name: OTEL_METRIC_EXPORTS_FAILED,
            help: "OTLP metric exports the collector did not take, by reason",
            label: OTEL_REASON_LABEL,
            counts,
        });
    }

    /// Exports [`OTEL_SPANS_DROPPED`]; `counts` is called on each scrape and returns
    /// `(reason, spans since start)`.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// metrics.register_otel_spans_dropped(|| [("queue_full", 7), ("export_failed", 0)]);
    /// assert!(metrics.render().contains("belfry_otel_spans_dropped_total{reason=\"queue_full\"} 7\n"));
    /// ```
    pub fn register_otel_spans_dropped<F, C>(&self, counts: F)
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: IntoIterator<Item = (&'static str, u64)>,
    {
        self.register_collector(LabelledCounters {
            name: OTEL_SPANS_DROPPED,
            help: "OpenTelemetry spans not delivered to the collector, by reason",
            label: OTEL_REASON_LABEL,
            counts,
        });
    }

    /// Exports [`SENTRY_EVENTS_DROPPED`] and [`SENTRY_TRANSACTIONS_DROPPED`]; each closure is
    /// called on each scrape and returns `(reason, count since start)`.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// metrics.register_sentry_dropped(|| [("budget", 1990), ("queue_full", 0)], || [("queue_full", 3)]);
    /// let text = metrics.render();
    /// assert!(text.contains("# TYPE belfry_sentry_events_dropped counter\n"));
    /// assert!(text.contains("belfry_sentry_events_dropped_total{reason=\"budget\"} 1990\n"));
    /// assert!(text.contains("belfry_sentry_transactions_dropped_total{reason=\"queue_full\"} 3\n"));
    /// ```
    pub fn register_sentry_dropped<E, T, CE, CT>(&self, events: E, transactions: T)
    where
        E: Fn() -> CE + Send + Sync + 'static,
        T: Fn() -> CT + Send + Sync + 'static,
        CE: IntoIterator<Item = (&'static str, u64)>,
        CT: IntoIterator<Item = (&'static str, u64)>,
    {
        self.register_collector(LabelledCounters {
            name: SENTRY_EVENTS_DROPPED,
            help: "Sentry error events not delivered, by reason",
            label: SENTRY_DROP_REASON_LABEL,
            counts: events,
        });
        self.register_collector(LabelledCounters {
            name: SENTRY_TRANSACTIONS_DROPPED,
            help: "Sentry performance transactions not delivered, by reason",
            label: SENTRY_DROP_REASON_LABEL,
            counts: transactions,
        });
    }

    /// Exports [`LOG_LINES_SUPPRESSED`], one counter per level; `counts` is called on each scrape
    /// and returns `(level, lines suppressed since start)`.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// metrics.register_log_lines_suppressed(|| [("info", 9871)]);
    /// assert!(metrics.render().contains("belfry_log_lines_suppressed_total{level=\"info\"} 9871\n"));
    /// ```
    pub fn register_log_lines_suppressed<F, C>(&self, counts: F)
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: IntoIterator<Item = (&'static str, u64)>,
    {
        self.register_collector(LabelledCounters {
            name: LOG_LINES_SUPPRESSED,
            help: "Log lines suppressed because their callsite logged more than its limit per second",
            label: crate::LOG_LEVEL_LABEL,
            counts,
        });
    }
}

/// Counters of one family, one per label value, read from a closure at scrape time.
struct LabelledCounters<F> {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    counts: F,
}

impl<F> fmt::Debug for LabelledCounters<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelledCounters")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F, C> Collector for LabelledCounters<F>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: IntoIterator<Item = (&'static str, u64)>,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut family = encoder.encode_descriptor(self.name, self.help, None, MetricType::Counter)?;
        for (value, count) in (self.counts)() {
            ConstCounter::new(count).encode(family.encode_family(&[(self.label, value)])?)?;
        }
        Ok(())
    }
}
